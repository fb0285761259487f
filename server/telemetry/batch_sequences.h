// Exactly-once ingest: telling a re-sent batch from a new one (IngestSamples). A writer
// numbers its batches with growing sequences; the store keeps its last committed
// sequence and, for every batch committed within the record window ([telemetry]
// batch-record-hours), a fingerprint of its samples. A batch is then new, a re-sent
// duplicate (same sequence, same samples: answered, nothing stored again), or refused,
// which ends the stream after the batches before it: the same sequence with other
// samples (ALREADY_EXISTS), or a sequence not above the last that was never committed
// (FAILED_PRECONDITION) — an adapter that restarted its count, two adapters sharing a
// writer_id. Either would otherwise be answered "duplicate" and its samples lost. The
// rule is Kafka's idempotent producer's (a sequence per producer; out of order is an
// error), with the fingerprint of the request log's create-or-compare.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/telemetry/domain.h"

namespace plantmesh::telemetry {

// SHA-256 (64 hex digits) over every field of every sample, in order: equal exactly
// when the samples are (a number by its bits).
std::string BatchFingerprint(const std::vector<Sample>& samples);

// What the store knows of one writer: its last committed sequence (0: none) and the
// fingerprints of its batches committed within the record window, of the sequences
// asked about.
struct WriterRecord {
  // The caller whose writer it is (the first to send under its id); none: not yet known.
  std::optional<std::string> owner;
  uint64_t last_sequence = 0;
  // ResumeIngestWriter's fence: a new batch numbered at or below it is refused.
  uint64_t fenced_through = 0;
  std::map<uint64_t, std::string> fingerprints;
  // The rejected samples of those batches (EncodeRejections), for the answer to a re-send.
  std::map<uint64_t, std::string> rejections;
};

// A batch's rejected samples as its record keeps them ("index:reason" pairs, by commas;
// "" for none), and back. A re-sent batch is answered with them: its rejected samples
// stay rejected, not duplicates of stored ones (outside testing: after a crash between a
// commit and its answer, the writer counted a batch's NaN sample as stored). The message
// of a recorded rejection names the sample and its reason only; the first answer had the
// detail. An unreadable record reads as none.
std::string EncodeRejections(const std::vector<Rejection>& rejected);
std::vector<Rejection> DecodeRejections(const std::string& recorded);

// Judges the next batch of the writer: false for a new batch (then recorded: it becomes
// the last and its fingerprint is kept, for the batches after it in the same
// transaction), true for a duplicate, or the refusal: ALREADY_EXISTS (ErrorInfo
// BATCH_SEQUENCE_REUSED) for other samples under a committed sequence, FAILED_PRECONDITION
// (BATCH_SEQUENCE_OUT_OF_ORDER) for a sequence not above the last with no record, or
// (BATCH_SEQUENCE_FENCED) above the last but not above the fence (a batch of the writer's
// earlier process, which ResumeIngestWriter told its successor was not committed). Each
// names the writer, the sequence and the last one (ErrorInfo metadata writer_id,
// batch_sequence, last_batch_sequence; fenced_through for a fenced one).
// A writer_id belongs to the caller that first sent under it: another caller's batch is
// PERMISSION_DENIED (ErrorInfo WRITER_ID_TAKEN, metadata writer_id), nothing of it stored.
// Outside testing: one integrator, sending under another's writer_id a sequence of
// 9e18, had that adapter's next batches refused, and learnt by re-sending them which of
// its batches the adapter had sent ("duplicate"). Adopts `caller` when the record has no
// owner yet (a new writer, or one recorded before owners were). The message says what
// was refused: the stream's batches (kIngest) or the resume (kResume; outside testing, a
// resume was told of "this batch and the ones after it on the stream").
enum class WriterUse { kIngest, kResume };
absl::Status JudgeOwner(WriterRecord& record, const std::string& writer_id,
                        const std::string& caller, WriterUse use = WriterUse::kIngest);

absl::StatusOr<bool> JudgeSequence(WriterRecord& record, const std::string& writer_id,
                                   uint64_t batch_sequence, const std::string& fingerprint);

}  // namespace plantmesh::telemetry
