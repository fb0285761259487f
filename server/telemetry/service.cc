#include "server/telemetry/service.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/page_fit.h"
#include "server/runtime/proto_time.h"
#include "server/runtime/replay_answer.h"
#include "server/telemetry/convert.h"
#include "spdlog/spdlog.h"

namespace plantmesh::telemetry {
namespace {

// Of the send limit, what GetLatestValues keeps for its next_page_token and framing.
constexpr size_t kLatestReplyReserve = 1024;

using runtime::Answer;

}  // namespace

// One IngestSamples stream: the batches that arrived while the previous ones were
// committed are committed together, in one transaction (the runtime reads ahead for it:
// read_ahead), on the executor (OnMessages blocks on PostgreSQL there, never on a gRPC
// thread); each batch's answer is queued for Next, so answers leave in batch order, each
// after its commit. A client that waits for each answer still gets one transaction per
// batch, committed at once: nothing waits for more batches to come.
class TelemetryServiceImpl::Ingest final : public IngestSamplesStream {
 public:
  // How many bytes of a group's batches the runtime holds at most (beyond the first): its
  // memory stays small (the count is ingest-pending-acks, at most 32).
  static constexpr size_t kGroupBytes = 1 << 20;

  Ingest(TelemetryServiceImpl* service, runtime::CallContext& call)
      : service_(service), call_(call) {}

  ~Ingest() override {
    if (batches_ > 0) {
      spdlog::info(
          "telemetry ingest: writer {} ({}) {} batches in {} transactions, {} accepted, {} "
          "duplicate, {} rejected",
          writer_id_, call_identity_, batches_, transactions_, accepted_, duplicates_, rejected_);
    }
  }

  // A group's answers are queued at once; the next group is taken once they are all
  // queued for writing (streams.h), so a client that reads none holds the stream back.
  ReadAhead read_ahead() const override {
    return {static_cast<size_t>(service_->config_.ingest_pending_acks), kGroupBytes};
  }

  absl::Status OnMessage(v1::IngestSamplesRequest& request) override {
    std::vector<v1::IngestSamplesRequest> one;
    one.push_back(std::move(request));
    return OnMessages(one);
  }

  // Each run of consecutive batches of one writer is one transaction. A batch that breaks
  // the frame rules ends the stream once the batches before it are committed.
  absl::Status OnMessages(std::vector<v1::IngestSamplesRequest>& requests) override {
    std::vector<Batch> group;
    for (v1::IngestSamplesRequest& request : requests) {
      absl::Status framed = CheckBatchFrame(request.writer_id(), request.batch_sequence(),
                                            static_cast<size_t>(request.samples_size()));
      if (!framed.ok()) {
        PM_RETURN_IF_ERROR(Commit(group));
        return framed;
      }
      if (!group.empty() && group.back().writer_id != request.writer_id()) {
        PM_RETURN_IF_ERROR(Commit(group));
        group.clear();
      }
      if (batches_ == 0 && group.empty()) {
        writer_id_ = request.writer_id();
        call_identity_ = call_.identity;
        v1::IngestSamplesRequest detail;  // audited: who wrote, from which batch (no samples)
        detail.set_writer_id(request.writer_id());
        detail.set_batch_sequence(request.batch_sequence());
        call_.SetAuditDetail(detail);
        audit_ = call_.AuditOfChange(detail);
      }
      Batch& batch = group.emplace_back();
      batch.writer_id = request.writer_id();
      batch.batch_sequence = request.batch_sequence();
      batch.caller = call_.identity;
      batch.samples.reserve(static_cast<size_t>(request.samples_size()));
      for (const v1::Sample& sample : request.samples()) {
        batch.samples.push_back(SampleFromProto(sample));
      }
    }
    return Commit(group);
  }

  void OnReadsDone() override { reads_done_ = true; }

  void Start(runtime::StreamControl control) override { control_ = std::move(control); }

  // Draining: the batches being committed are answered, then the stream ends at once
  // (UNAVAILABLE SERVER_DRAINING), so that the writer re-sends what is unanswered to
  // another server now instead of writing to this one until the drain window closes
  // (outside testing: 2,247 batches in 5 s after SIGTERM).
  void OnDrain() override {
    draining_ = true;
    control_.Wake();
  }

  runtime::Pull Next(v1::IngestSamplesResponse* message, absl::Status* end) override {
    if (!answers_.empty()) {
      *message = std::move(answers_.front());
      answers_.pop_front();
      return runtime::Pull::kMessage;
    }
    if (reads_done_) {
      *end = absl::OkStatus();
      return runtime::Pull::kEnd;
    }
    if (draining_) {
      *end = runtime::ServerDraining(
          "the server is stopping: every batch answered is stored; send the others (same "
          "writer_id and batch_sequence) again, to another server");
      return runtime::Pull::kEnd;
    }
    return runtime::Pull::kPending;
  }

 private:
  // Stores the batches (all of one writer) in one transaction and queues their answers.
  absl::Status Commit(std::vector<Batch>& batches) {
    if (batches.empty()) return absl::OkStatus();
    ++transactions_;
    const absl::Time now = service_->deps_.now();
    const IngestLimits limits = service_->config_.limits();
    PM_ASSIGN_OR_RETURN(
        std::vector<BatchOutcome> outcomes,
        service_->store_->IngestBatches(
            batches,
            [&](std::vector<Sample>& samples, const Catalog& catalog) {
              return JudgeBatch(samples, catalog, now, limits);
            },
            &BatchEvent,
            IngestAudit{audit_, now, now - absl::Seconds(service_->config_.state_settle_seconds),
                        now - absl::Seconds(service_->config_.state_reorder_seconds)}));
    bool stored = false;
    absl::Status refusal;  // of the last outcome: the batches before it are answered
    for (size_t b = 0; b < outcomes.size(); ++b) {
      const Batch& batch = batches[b];
      const BatchOutcome& outcome = outcomes[b];
      if (!outcome.refusal.ok()) {
        refusal = outcome.refusal;
        break;
      }
      Count(batch, outcome);
      stored = stored || (!outcome.duplicate && !outcome.verdict.accepted.empty());
      v1::IngestSamplesResponse answer;
      ToProto(batch, outcome, runtime::MaxSendBytes(service_->deps_.config), &answer);
      answers_.push_back(std::move(answer));
    }
    // Committed: only now may Redis see them (the cache never holds what PostgreSQL
    // could still roll back). A failure there is the cache's to log; the batches stand.
    if (stored && service_->latest_cache_ != nullptr) {
      service_->latest_cache_->WriteThrough(batches, outcomes);
    }
    if (stored && service_->deps_.relay != nullptr) service_->deps_.relay->Notify();
    return refusal;
  }

  void Count(const Batch& batch, const BatchOutcome& outcome) {
    IngestFigures& figures = service_->figures_;
    ++batches_;
    figures.batches.fetch_add(1);
    if (outcome.duplicate) {
      duplicates_ += static_cast<int64_t>(batch.samples.size());
      figures.duplicate_batches.fetch_add(1);
      return;
    }
    accepted_ += static_cast<int64_t>(outcome.verdict.accepted.size());
    rejected_ += static_cast<int64_t>(outcome.verdict.rejected.size());
    figures.accepted.fetch_add(static_cast<int64_t>(outcome.verdict.accepted.size()));
    for (const Rejection& r : outcome.verdict.rejected) {
      figures.rejected_by_reason[static_cast<size_t>(r.reason)].fetch_add(1);
    }
  }

  TelemetryServiceImpl* service_;
  runtime::CallContext& call_;
  std::deque<v1::IngestSamplesResponse> answers_;
  runtime::ChangeAudit* audit_ = nullptr;  // the stream's row (IngestAudit); null: none
  bool reads_done_ = false;
  runtime::StreamControl control_{nullptr};
  std::atomic<bool> draining_{false};
  std::string writer_id_;
  std::string call_identity_;
  int64_t batches_ = 0;
  int64_t transactions_ = 0;
  int64_t accepted_ = 0;
  int64_t duplicates_ = 0;
  int64_t rejected_ = 0;
};

TelemetryServiceImpl::TelemetryServiceImpl(const runtime::ServiceDeps& deps,
                                           const TelemetryConfig& config, TelemetryStore* store,
                                           LatestCache* latest_cache)
    : v1::TelemetryServiceBase(deps.call_policy, deps.executor),
      deps_(deps),
      config_(config),
      store_(store),
      latest_cache_(latest_cache) {}

ChangeContext TelemetryServiceImpl::Context(runtime::CallContext& call,
                                            const google::protobuf::Message& request) const {
  return ChangeContext{runtime::IdempotencyKeyOf(call, request), deps_.now(),
                       call.AuditOfChange(request)};
}

absl::Status TelemetryServiceImpl::RequireMachines(const std::vector<std::string>& machine_ids) {
  PM_ASSIGN_OR_RETURN(std::vector<std::string> unknown, store_->UnknownMachines(machine_ids));
  if (!unknown.empty()) return MachineNotFound(unknown.front());
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::RequireMachinesAndDataItems(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids,
    ItemsNamed named) {
  if (data_item_ids.empty()) return RequireMachines(machine_ids);
  PM_ASSIGN_OR_RETURN(TelemetryStore::UnknownIds unknown,
                      store_->UnknownMachinesAndDataItems(
                          machine_ids, data_item_ids, named == ItemsNamed::kRegisteredOrRetired));
  if (!unknown.machines.empty()) return MachineNotFound(unknown.machines.front());
  if (!unknown.data_items.empty()) return DataItemNotFound(unknown.data_items.front(), machine_ids);
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleRegisterMachine(runtime::CallContext& call,
                                                         const v1::RegisterMachineRequest& request,
                                                         v1::RegisterMachineResponse* response) {
  std::vector<bool> type_known;
  Machine machine = MachineFromProto(request.machine(), &type_known);
  runtime::Violations violations;
  CheckMachine(machine, "machine.", type_known, violations);
  PM_RETURN_IF_ERROR(violations.ToStatus());
  auto fill = [](const Machine& m, v1::RegisterMachineResponse* out) {
    ToProto(m, out->mutable_machine());
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<Machine> answer,
      store_->RegisterMachine(machine, Context(call, request), [fill](const Machine& m) {
        v1::RegisterMachineResponse encoded;
        fill(m, &encoded);
        return encoded.SerializeAsString();
      }));
  // A hash left under this id (e.g. by a database restored from a backup) must not
  // answer for the new machine.
  if (answer.value && latest_cache_ != nullptr) latest_cache_->Invalidate(machine.id);
  return Answer(answer, response, [&](const Machine& m) { fill(m, response); });
}

absl::Status TelemetryServiceImpl::HandleGetMachine(runtime::CallContext& call,
                                                    const v1::GetMachineRequest& request,
                                                    v1::GetMachineResponse* response) {
  PM_ASSIGN_OR_RETURN(Machine machine, store_->GetMachine(request.id()));
  ToProto(machine, response->mutable_machine());
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleResumeIngestWriter(
    runtime::CallContext& call, const v1::ResumeIngestWriterRequest& request,
    v1::ResumeIngestWriterResponse* response) {
  if (request.fence_batch_sequence() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return runtime::InvalidField("fence_batch_sequence",
                                 "must be 0-9223372036854775807 (batch sequences' range)");
  }
  PM_ASSIGN_OR_RETURN(IngestWriterRecord writer,
                      store_->ResumeIngestWriter(request.writer_id(), call.identity,
                                                 request.fence_batch_sequence()));
  ToProto(writer, response->mutable_writer());
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleListMachines(runtime::CallContext& call,
                                                      const v1::ListMachinesRequest& request,
                                                      v1::ListMachinesResponse* response) {
  PM_ASSIGN_OR_RETURN(
      MachineQuery query,
      MakeMachineQuery(request.line(), request.zone(), request.page_size(), request.page_token()));
  PM_ASSIGN_OR_RETURN(MachinePage page, store_->ListMachines(query));
  for (const Machine& m : page.machines) ToProto(m, response->add_machines());
  runtime::EndPage(response, response->mutable_machines(), page.machines.size(), page.more,
                   deps_.config,
                   [&](size_t i) { return NextMachinePageToken(query, page.machines[i]); });
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleUpdateMachine(runtime::CallContext& call,
                                                       const v1::UpdateMachineRequest& request,
                                                       v1::UpdateMachineResponse* response) {
  // Every wrong field in one answer: the id, the mask, the masked fields, the etag.
  runtime::Violations violations;
  if (request.machine().id().empty()) violations.Add("machine.id", "required");
  const std::vector<std::string> paths(request.update_mask().paths().begin(),
                                       request.update_mask().paths().end());
  PM_RETURN_IF_ERROR(violations.Take(CheckUpdateMask(paths)));
  std::vector<bool> type_known;
  Machine patch = MachineFromProto(request.machine(), &type_known);
  // Only what the mask names is checked (and applied).
  Machine checked = patch;
  if (std::find(paths.begin(), paths.end(), "data_items") == paths.end()) {
    checked.data_items.clear();
  }
  if (std::find(paths.begin(), paths.end(), "ideal_cycle_time") == paths.end()) {
    checked.ideal_cycle_time.reset();
  }
  CheckMachine(checked, "machine.", type_known, violations);
  kMachineEtag.CheckForm(violations, "etag", request.etag(), /*required=*/false);
  PM_RETURN_IF_ERROR(violations.ToStatus());
  // One time for the change: the machine's update_time and its event's (as defect's).
  const ChangeContext context = Context(call, request);
  const absl::Time now = context.now;
  const std::string etag = request.etag();
  PM_ASSIGN_OR_RETURN(Replayable<Machine> answer, store_->UpdateMachine(
                                                      patch.id, context,
                                                      [&](const Machine& current) {
                                                        return ApplyMachineUpdate(current, patch,
                                                                                  paths, etag, now);
                                                      },
                                                      [](const Machine& m) {
                                                        v1::UpdateMachineResponse encoded;
                                                        ToProto(m, encoded.mutable_machine());
                                                        return encoded.SerializeAsString();
                                                      }));
  // After the commit: removed data items must not linger in the cache.
  if (answer.value && latest_cache_ != nullptr &&
      std::find(paths.begin(), paths.end(), "data_items") != paths.end()) {
    latest_cache_->Invalidate(patch.id);
  }
  return Answer(answer, response,
                [&](const Machine& m) { ToProto(m, response->mutable_machine()); });
}

absl::StatusOr<std::unique_ptr<TelemetryServiceImpl::IngestSamplesStream>>
TelemetryServiceImpl::HandleIngestSamples(runtime::CallContext& call) {
  return std::make_unique<Ingest>(this, call);
}

absl::StatusOr<std::vector<StoredSample>> TelemetryServiceImpl::ReadLatest(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids) {
  if (latest_cache_ != nullptr) return latest_cache_->Read(machine_ids, data_item_ids);
  return store_->LatestValues(machine_ids, data_item_ids);
}

absl::Status TelemetryServiceImpl::HandleGetLatestValues(runtime::CallContext& call,
                                                         const v1::GetLatestValuesRequest& request,
                                                         v1::GetLatestValuesResponse* response) {
  PM_ASSIGN_OR_RETURN(
      LatestQuery query,
      MakeLatestQuery({request.machine_ids().begin(), request.machine_ids().end()},
                      {request.data_item_ids().begin(), request.data_item_ids().end()},
                      request.page_size(), request.page_token()));
  // One read of the items the machines have now. It names the first unknown machine or
  // data item in the request's order (the query's are sorted), and what is answered goes
  // through it: a write-through or fill of the Redis cache that read before an
  // UpdateMachine can land after the update deleted the hash (outside testing: a removed
  // item was answered for latest-cache-seconds, while a read naming it was NOT_FOUND).
  const std::vector<std::string> machine_ids(request.machine_ids().begin(),
                                             request.machine_ids().end());
  PM_ASSIGN_OR_RETURN(const TelemetryStore::ItemsNow now, store_->DataItemsNow(machine_ids));
  if (!now.unknown_machines.empty()) return MachineNotFound(now.unknown_machines.front());
  std::set<std::string> item_ids;
  for (const auto& [machine, item] : now.items) item_ids.insert(item);
  for (const std::string& item : request.data_item_ids()) {
    if (item_ids.count(item) == 0) return DataItemNotFound(item, machine_ids);
  }
  // The values must fit one message of the server's send limit, with room for the
  // token; a page ends early rather than fail (AIP-158 allows a short page).
  const size_t limit = static_cast<size_t>(
      deps_.config != nullptr ? std::max(0, deps_.config->max_send_message_bytes) : 4 << 20);
  const size_t budget = limit > kLatestReplyReserve ? limit - kLatestReplyReserve : 0;
  size_t bytes = 0;
  const int page_size = query.page_size;
  auto first = query.machine_ids.begin();
  if (query.after) {
    first =
        std::lower_bound(query.machine_ids.begin(), query.machine_ids.end(), query.after->first);
  }
  // Machines are read a few at a time (one Redis round trip, at most one PostgreSQL
  // read each), so a small page reads little beyond what it shows, and a refusal stops
  // reading at the first chunk past the limit.
  const ptrdiff_t chunk = page_size == 0 ? 64 : 8;
  bool more = false;
  for (auto from = first; from != query.machine_ids.end() && !more;) {
    const auto to = query.machine_ids.end() - from > chunk ? from + chunk : query.machine_ids.end();
    PM_ASSIGN_OR_RETURN(std::vector<StoredSample> values,
                        ReadLatest({from, to}, query.data_item_ids));
    from = to;
    for (StoredSample& value : values) {
      const Sample& s = value.sample;
      if (query.after && std::tie(s.machine_id, s.data_item_id) <=
                             std::tie(query.after->first, query.after->second)) {
        continue;
      }
      if (now.items.count({s.machine_id, s.data_item_id}) == 0) continue;
      if (page_size > 0 && response->values_size() >= page_size) {
        more = true;
        break;
      }
      v1::Sample proto;
      ToProto(s, &proto);
      const size_t size = proto.ByteSizeLong();
      const size_t framed = 1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) + size;
      if (bytes + framed > budget) {
        if (page_size == 0) {
          return runtime::InvalidField(
              "page_size",
              absl::StrCat("0 asks for every value in one answer, and these values take more "
                           "than the ",
                           limit,
                           " bytes the server sends in one message (max-send-message-bytes): "
                           "set page_size (1 to ",
                           kMaxLatestPageSize, ") and follow next_page_token"));
        }
        if (response->values_size() > 0) {
          more = true;
          break;
        }
      }
      bytes += framed;
      *response->add_values() = std::move(proto);
    }
  }
  if (more) {
    const v1::Sample& last = response->values(response->values_size() - 1);
    Sample key;
    key.machine_id = last.machine_id();
    key.data_item_id = last.data_item_id();
    response->set_next_page_token(NextLatestPageToken(query, key));
  }
  return absl::OkStatus();
}

absl::Status TelemetryServiceImpl::HandleQuerySamples(runtime::CallContext& call,
                                                      const v1::QuerySamplesRequest& request,
                                                      v1::QuerySamplesResponse* response) {
  PM_ASSIGN_OR_RETURN(
      SampleQuery query,
      MakeSampleQuery(request.machine_id(),
                      {request.data_item_ids().begin(), request.data_item_ids().end()},
                      runtime::TimeFromProto(request.has_start_time(), request.start_time()),
                      runtime::TimeFromProto(request.has_end_time(), request.end_time()),
                      request.page_size(), request.page_token()));
  PM_RETURN_IF_ERROR(RequireMachinesAndDataItems(
      {query.machine_id}, {request.data_item_ids().begin(), request.data_item_ids().end()},
      ItemsNamed::kRegisteredOrRetired));
  PM_ASSIGN_OR_RETURN(SamplePage page, store_->QuerySamples(query));
  for (const StoredSample& s : page.samples) ToProto(s.sample, response->add_samples());
  runtime::EndPage(response, response->mutable_samples(), page.samples.size(), page.more,
                   deps_.config,
                   [&](size_t i) { return NextSamplePageToken(query, page.samples[i]); });
  return absl::OkStatus();
}

}  // namespace plantmesh::telemetry
