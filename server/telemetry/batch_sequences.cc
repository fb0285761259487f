#include "server/telemetry/batch_sequences.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "plantmesh/common/sha256.h"
#include "server/runtime/errors.h"

namespace plantmesh::telemetry {
namespace {

void AddNumber(common::Sha256& hash, uint64_t value) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  hash.Update(absl::string_view(bytes, sizeof bytes));
}

// Length first, so that ("ab", "c") and ("a", "bc") differ.
void AddText(common::Sha256& hash, const std::string& text) {
  AddNumber(hash, text.size());
  hash.Update(text);
}

}  // namespace

std::string BatchFingerprint(const std::vector<Sample>& samples) {
  common::Sha256 hash;
  AddNumber(hash, samples.size());
  for (const Sample& s : samples) {
    AddText(hash, s.machine_id);
    AddText(hash, s.data_item_id);
    AddNumber(hash, s.time ? 1 : 0);
    if (s.time) AddNumber(hash, static_cast<uint64_t>(absl::ToUnixMicros(*s.time)));
    AddNumber(hash, s.time_malformed ? 1 : 0);
    AddNumber(hash, static_cast<uint64_t>(s.kind));
    uint64_t bits = 0;
    static_assert(sizeof bits == sizeof s.number);
    std::memcpy(&bits, &s.number, sizeof bits);
    AddNumber(hash, bits);
    AddText(hash, s.text);
    AddNumber(hash, static_cast<uint64_t>(s.condition_level));
    AddText(hash, s.native_code);
    AddText(hash, s.message);
    AddNumber(hash, s.source_sequence);
  }
  return hash.HexDigest();
}

std::string EncodeRejections(const std::vector<Rejection>& rejected) {
  std::string out;
  for (const Rejection& r : rejected) {
    absl::StrAppend(&out, out.empty() ? "" : ",", r.index, ":", static_cast<int>(r.reason));
  }
  return out;
}

std::vector<Rejection> DecodeRejections(const std::string& recorded) {
  std::vector<Rejection> out;
  for (absl::string_view pair : absl::StrSplit(recorded, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> parts = absl::StrSplit(pair, ':');
    int index = 0, reason = 0;
    if (!absl::SimpleAtoi(parts.first, &index) || !absl::SimpleAtoi(parts.second, &reason) ||
        index < 0 || reason < 0 || reason >= kRejectReasonCount) {
      return {};
    }
    Rejection r;
    r.index = index;
    r.reason = static_cast<RejectReason>(reason);
    r.message = absl::StrCat("samples[", index, "]: ", RejectReasonName(r.reason),
                             " (rejected when this batch was first received; the batch is "
                             "recorded as it was then)");
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status JudgeOwner(WriterRecord& record, const std::string& writer_id,
                        const std::string& caller, WriterUse use) {
  if (!record.owner) record.owner = caller;
  if (*record.owner == caller) return absl::OkStatus();
  return runtime::WithErrorInfo(
      absl::PermissionDeniedError(absl::StrCat(
          "writer_id ", runtime::QuoteForMessage(writer_id),
          " is another caller's: a writer's batches come from the caller that first sent "
          "under its id or fenced it (ResumeIngestWriter), and only that caller resumes it; ",
          use == WriterUse::kResume
              ? "resume a writer_id of your own (nothing was changed)"
              : "take a writer_id of your own; this batch and the ones after it on the stream "
                "were not stored")),
      "WRITER_ID_TAKEN", {{"writer_id", writer_id}});
}

absl::StatusOr<bool> JudgeSequence(WriterRecord& record, const std::string& writer_id,
                                   uint64_t batch_sequence, const std::string& fingerprint) {
  const std::map<std::string, std::string> metadata = {
      {"writer_id", writer_id},
      {"batch_sequence", absl::StrCat(batch_sequence)},
      {"last_batch_sequence", absl::StrCat(record.last_sequence)}};
  auto recorded = record.fingerprints.find(batch_sequence);
  if (recorded != record.fingerprints.end()) {
    if (recorded->second == fingerprint) return true;
    return runtime::WithErrorInfo(
        absl::AlreadyExistsError(absl::StrCat(
            "batch_sequence ", batch_sequence, " of writer ", runtime::QuoteForMessage(writer_id),
            " was committed with other samples: a re-sent batch carries the same samples, new "
            "samples need a new sequence above ",
            record.last_sequence,
            "; this batch and the ones after it on the stream were not stored")),
        "BATCH_SEQUENCE_REUSED", metadata);
  }
  if (batch_sequence <= record.last_sequence) {
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "batch_sequence ", batch_sequence, " of writer ", runtime::QuoteForMessage(writer_id),
            " is not above its last committed sequence ", record.last_sequence,
            " and no batch of that sequence is on record (batches are kept [telemetry] "
            "batch-record-hours): it is not a re-sent batch. Either another process is "
            "writing under this writer_id (an old instance still running: stop it, or give "
            "each its own writer_id), or a writer restarted its count: it goes on above ",
            record.last_sequence,
            " (or takes a new writer_id); this batch and the ones after it on the stream were "
            "not stored")),
        "BATCH_SEQUENCE_OUT_OF_ORDER", metadata);
  }
  if (batch_sequence <= record.fenced_through) {
    std::map<std::string, std::string> fenced = metadata;
    fenced["fenced_through"] = absl::StrCat(record.fenced_through);
    return runtime::WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            "batch_sequence ", batch_sequence, " of writer ", runtime::QuoteForMessage(writer_id),
            " is at or below ", record.fenced_through,
            ", fenced by ResumeIngestWriter: a batch of the writer's earlier process, which its "
            "successor was told is not committed and sends again itself; this batch and the "
            "ones after it on the stream were not stored")),
        "BATCH_SEQUENCE_FENCED", fenced);
  }
  record.last_sequence = batch_sequence;
  record.fingerprints[batch_sequence] = fingerprint;
  return false;
}

}  // namespace plantmesh::telemetry
