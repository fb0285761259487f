#include "server/telemetry/testing/fake_store.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/text_rules.h"
#include "server/telemetry/convert.h"

namespace plantmesh::telemetry::testing {
namespace {

absl::Time Micro(absl::Time t) { return absl::FromUnixMicros(absl::ToUnixMicros(t)); }

}  // namespace

void FakeTelemetryStore::FailWith(absl::Status status) {
  absl::MutexLock lock(&mu_);
  failure_ = std::move(status);
}

absl::StatusOr<Replayable<Machine>> FakeTelemetryStore::RegisterMachine(
    const Machine& machine, const ChangeContext& context, const ResponseEncoder<Machine>& encode) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  Replayable<Machine> result;
  PM_ASSIGN_OR_RETURN(auto seen, request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  if (machines_.count(machine.id) != 0) {
    return runtime::ResourceExists("machine", machine.id);
  }
  Machine created = machine;
  created.seq = next_seq_++;
  created.version = 1;
  created.create_time = created.update_time = Micro(context.now);
  machines_[created.id] = created;
  request_log_.Record(context.request, encode ? encode(created) : std::string(),
                      absl::StrCat("machines/", created.id));
  if (context.audit != nullptr) context.audit->MarkWritten();
  result.value = std::move(created);
  return result;
}

absl::StatusOr<IngestWriterRecord> FakeTelemetryStore::ResumeIngestWriter(
    const std::string& writer_id, const std::string& caller, uint64_t fence) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  IngestWriterRecord out;
  out.writer_id = writer_id;
  auto found = writers_.find(writer_id);
  if (found == writers_.end() && fence == 0) return out;
  WriterRecord judged = found == writers_.end() ? WriterRecord{} : found->second;
  PM_RETURN_IF_ERROR(JudgeOwner(judged, writer_id, caller, WriterUse::kResume));
  WriterRecord& writer = writers_[writer_id];
  if (fence > 0) writer.owner = judged.owner;
  writer.fenced_through = std::max(writer.fenced_through, fence);
  out.last_batch_sequence = writer.last_sequence;
  if (writer.last_sequence > 0) out.last_commit_time = writer_commit_times_[writer_id];
  out.owner = writer.owner.value_or("");
  out.fenced_through = writer.fenced_through;
  return out;
}

absl::StatusOr<Machine> FakeTelemetryStore::GetMachine(const std::string& id) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  auto it = machines_.find(id);
  if (it == machines_.end()) {
    return MachineNotFound(id);
  }
  return it->second;
}

absl::StatusOr<MachinePage> FakeTelemetryStore::ListMachines(const MachineQuery& query) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  std::vector<Machine> all;
  for (const auto& [id, m] : machines_) {
    if (!query.line.empty() && m.line != query.line) continue;
    if (!query.zone.empty() && m.zone != query.zone) continue;
    if (query.after && std::make_pair(m.create_time, m.seq) <=
                           std::make_pair(query.after->sort_time, query.after->id)) {
      continue;
    }
    all.push_back(m);
  }
  std::sort(all.begin(), all.end(), [](const Machine& a, const Machine& b) {
    return std::make_pair(a.create_time, a.seq) < std::make_pair(b.create_time, b.seq);
  });
  MachinePage page;
  for (Machine& m : all) {
    if (page.machines.size() == static_cast<size_t>(query.page_size)) {
      page.more = true;
      break;
    }
    page.machines.push_back(std::move(m));
  }
  return page;
}

absl::StatusOr<Replayable<Machine>> FakeTelemetryStore::UpdateMachine(
    const std::string& id, const ChangeContext& context, const MachineMutator& mutator,
    const ResponseEncoder<Machine>& encode) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  Replayable<Machine> result;
  PM_ASSIGN_OR_RETURN(auto seen, request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  auto it = machines_.find(id);
  if (it == machines_.end()) {
    return MachineNotFound(id);
  }
  PM_ASSIGN_OR_RETURN(Machine after, mutator(it->second));
  if (after.version != it->second.version) {  // else nothing to change
    after.update_time = Micro(after.update_time);
    auto tracker = trackers_.find(id);
    if (tracker != trackers_.end()) {
      RecordWithdrawals(&tracker->second, WithdrawnInputs(it->second, after, after.update_time));
    }
    // Left-out items keep their type (0011_retired_data_items.sql); named again, they are
    // registered ones.
    for (const DataItem& item : it->second.data_items) retired_[{id, item.id}] = item.type;
    for (const DataItem& item : after.data_items) retired_.erase({id, item.id});
    it->second = after;
  }
  request_log_.Record(context.request, encode ? encode(after) : std::string(),
                      absl::StrCat("machines/", id));
  if (context.audit != nullptr) context.audit->MarkWritten();
  result.value = std::move(after);
  return result;
}

absl::StatusOr<std::vector<BatchOutcome>> FakeTelemetryStore::IngestBatches(
    std::vector<Batch>& batches, const BatchJudge& judge, const BatchEventEncoder& encode,
    const IngestAudit& audit) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  PM_RETURN_IF_ERROR(CheckOneWriter(batches));
  std::vector<BatchOutcome> outcomes;
  bool stored_new = false;
  for (Batch& batch : batches) {
    outcomes.push_back(IngestLocked(batch, judge, audit));
    if (!outcomes.back().refusal.ok()) break;
    stored_new = stored_new || !outcomes.back().duplicate;
  }
  if (stored_new && audit.audit != nullptr) audit.audit->MarkWritten();
  for (runtime::OutboxEvent& event : GroupEvents(batches, outcomes, encode)) {
    events_.push_back(std::move(event));
  }
  return outcomes;
}

BatchOutcome FakeTelemetryStore::IngestLocked(Batch& batch, const BatchJudge& judge,
                                              const IngestAudit& audit) {
  BatchOutcome outcome;
  WriterRecord& writer = writers_[batch.writer_id];
  if (absl::Status owner = JudgeOwner(writer, batch.writer_id, batch.caller); !owner.ok()) {
    outcome.refusal = owner;
    return outcome;
  }
  absl::StatusOr<bool> duplicate =
      JudgeSequence(writer, batch.writer_id, batch.batch_sequence, BatchFingerprint(batch.samples));
  if (!duplicate.ok()) {
    outcome.refusal = duplicate.status();
    return outcome;
  }
  if (*duplicate) {
    outcome.duplicate = true;
    outcome.verdict.rejected = DecodeRejections(writer.rejections[batch.batch_sequence]);
    return outcome;
  }
  Catalog catalog;
  for (const Sample& s : batch.samples) {
    if (!runtime::IsCode(s.machine_id)) continue;
    auto m = machines_.find(s.machine_id);
    if (m == machines_.end()) continue;
    for (const DataItem& item : m->second.data_items) {
      catalog[m->first][item.id] = {item.category, item.type};
    }
  }
  outcome.verdict = judge(batch.samples, catalog);
  writer.rejections[batch.batch_sequence] = EncodeRejections(outcome.verdict.rejected);
  writer_commit_times_[batch.writer_id] = absl::Now();
  const int64_t batch_id = next_batch_++;
  for (int i : outcome.verdict.accepted) {
    samples_.push_back({batch.samples[static_cast<size_t>(i)], SampleKey(batch_id, i)});
  }
  for (int i : NewestPerDataItem(batch.samples, outcome.verdict.accepted)) {
    const Sample& s = batch.samples[static_cast<size_t>(i)];
    StoredSample stored{s, SampleKey(batch_id, i)};
    auto [it, inserted] = latest_.try_emplace({s.machine_id, s.data_item_id}, stored);
    if (!inserted && std::make_pair(*it->second.sample.time, it->second.key) <
                         std::make_pair(*s.time, stored.key)) {
      it->second = stored;
    }
  }
  outcome.batch_id = batch_id;
  outcome.late_state_count = AdvanceStates(batch, outcome.verdict.accepted, audit);
  return outcome;
}

absl::StatusOr<std::vector<std::string>> FakeTelemetryStore::UnknownMachines(
    const std::vector<std::string>& machine_ids) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  std::vector<std::string> out;
  for (const std::string& id : machine_ids) {
    if (machines_.count(id) == 0) out.push_back(id);
  }
  return out;
}

absl::StatusOr<TelemetryStore::UnknownIds> FakeTelemetryStore::UnknownMachinesAndDataItems(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids,
    bool retired_are_known) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  UnknownIds out;
  for (const std::string& id : machine_ids) {
    if (machines_.count(id) == 0) out.machines.push_back(id);
  }
  for (const std::string& item_id : data_item_ids) {
    bool found = false;
    for (const std::string& machine_id : machine_ids) {
      auto machine = machines_.find(machine_id);
      if (machine == machines_.end()) continue;
      for (const DataItem& item : machine->second.data_items) found = found || item.id == item_id;
      found = found || (retired_are_known && retired_.count({machine_id, item_id}) > 0);
    }
    if (!found) out.data_items.push_back(item_id);
  }
  return out;
}

absl::StatusOr<TelemetryStore::ItemsNow> FakeTelemetryStore::DataItemsNow(
    const std::vector<std::string>& machine_ids) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  ItemsNow out;
  for (const std::string& id : machine_ids) {
    auto machine = machines_.find(id);
    if (machine == machines_.end()) {
      out.unknown_machines.push_back(id);
      continue;
    }
    for (const DataItem& item : machine->second.data_items) out.items.emplace(id, item.id);
  }
  return out;
}

absl::StatusOr<std::vector<StoredSample>> FakeTelemetryStore::LatestValues(
    const std::vector<std::string>& machine_ids, const std::vector<std::string>& data_item_ids) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  std::vector<StoredSample> out;
  for (const auto& [key, stored] : latest_) {
    if (std::find(machine_ids.begin(), machine_ids.end(), key.first) == machine_ids.end()) {
      continue;
    }
    if (!data_item_ids.empty() &&
        std::find(data_item_ids.begin(), data_item_ids.end(), key.second) == data_item_ids.end()) {
      continue;
    }
    // Only data items registered now (a removed one is not answered).
    const std::vector<DataItem>& items = machines_.at(key.first).data_items;
    if (std::none_of(items.begin(), items.end(),
                     [&](const DataItem& item) { return item.id == key.second; })) {
      continue;
    }
    out.push_back(stored);
  }
  return out;
}

absl::StatusOr<SamplePage> FakeTelemetryStore::QuerySamples(const SampleQuery& query) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  std::vector<StoredSample> matched;
  for (const StoredSample& s : samples_) {
    if (s.sample.machine_id != query.machine_id) continue;
    if (*s.sample.time < query.start_time || *s.sample.time >= query.end_time) continue;
    if (!query.data_item_ids.empty() &&
        !std::binary_search(query.data_item_ids.begin(), query.data_item_ids.end(),
                            s.sample.data_item_id)) {
      continue;
    }
    if (query.after && std::make_pair(*s.sample.time, s.key) <=
                           std::make_pair(query.after->sort_time, query.after->id)) {
      continue;
    }
    matched.push_back(s);
  }
  std::sort(matched.begin(), matched.end(), [](const StoredSample& a, const StoredSample& b) {
    return std::make_pair(*a.sample.time, a.key) < std::make_pair(*b.sample.time, b.key);
  });
  SamplePage page;
  for (StoredSample& s : matched) {
    if (page.samples.size() == static_cast<size_t>(query.page_size)) {
      page.more = true;
      break;
    }
    page.samples.push_back(std::move(s));
  }
  return page;
}

std::vector<StoredSample> FakeTelemetryStore::AllSamples() {
  absl::MutexLock lock(&mu_);
  return samples_;
}

std::vector<runtime::OutboxEvent> FakeTelemetryStore::Events() {
  absl::MutexLock lock(&mu_);
  return events_;
}

// ---- Machine states ----

int FakeTelemetryStore::AdvanceStates(const Batch& batch, const std::vector<int>& accepted,
                                      const IngestAudit& audit) {
  StateItems items;
  std::set<std::string> pending;
  for (int i : accepted) {
    const std::string& id = batch.samples[static_cast<size_t>(i)].machine_id;
    if (items.count(id) != 0) continue;
    std::map<std::string, StateInput>& of = items[id];
    for (const DataItem& item : machines_[id].data_items) {
      if (std::optional<StateInput> input = StateInputOf(item.category, item.type)) {
        of[item.id] = *input;
      }
    }
    auto tracker = trackers_.find(id);
    if (tracker != trackers_.end() && TrackerPending(tracker->second)) pending.insert(id);
  }
  int late = 0;
  for (const auto& [machine, moved] :
       MachineBatches(batch.samples, accepted, items, pending, audit.now, audit.release_before)) {
    late += MoveTracker(machine, moved);
    if (std::optional<MachineBatch> settle =
            SettleDue(trackers_[machine], audit.settle_before, audit.release_before)) {
      MoveTracker(machine, *settle);
    }
  }
  return late;
}

absl::StatusOr<int> FakeTelemetryStore::SettlePendingStates(absl::Time before,
                                                            absl::Time release_before) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  int settled = 0;
  for (auto& [machine, state] : trackers_) {
    if (std::optional<MachineBatch> moved = SettleBatch(state, before, release_before)) {
      MoveTracker(machine, *moved);
      ++settled;
    }
  }
  return settled;
}

int FakeTelemetryStore::MoveTracker(const std::string& machine, const MachineBatch& moved) {
  StateChanges changes;
  trackers_[machine] = AdvanceTracker(trackers_[machine], moved, &changes);
  for (const StateInterval& i : changes.closed_intervals) intervals_[machine].push_back(i);
  std::vector<Downtime> after = DowntimesAfter(machine, changes.downtime_events);
  for (Downtime& d : after) {
    auto it = std::find_if(downtimes_.begin(), downtimes_.end(), [&](const Downtime& s) {
      return s.machine_id == machine && s.start == d.start;
    });
    if (it == downtimes_.end()) {
      d.id = static_cast<int64_t>(downtimes_.size()) + 1;
      downtimes_.push_back(d);
    } else {
      it->state = d.state;
      it->end = d.end;
      d = *it;
    }
  }
  for (const DowntimeEvent& e : changes.downtime_events) {
    for (const Downtime& d : after) {
      if (d.start != e.start) continue;
      Downtime at_event = downtimes_[static_cast<size_t>(d.id - 1)];
      at_event.state = e.state;
      if (e.change != DowntimeChange::kEnded) at_event.end.reset();
      events_.push_back(DowntimeOutboxEvent(at_event, static_cast<int>(e.change), e.change_time));
    }
  }
  return changes.late_observations;
}

absl::StatusOr<TimelineFacts> FakeTelemetryStore::StateTimeline(
    const std::string& machine_id, absl::Time start, absl::Time end,
    std::optional<absl::Time> after_start, int limit) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  if (machines_.count(machine_id) == 0) {
    return MachineNotFound(machine_id);
  }
  TimelineFacts facts;
  for (const StateInterval& i : intervals_[machine_id]) {
    if (i.start >= end || i.end <= start) continue;
    if (after_start && i.start <= *after_start) continue;
    if (limit > 0 && facts.closed.size() == static_cast<size_t>(limit)) break;
    facts.closed.push_back(i);
  }
  auto tracker = trackers_.find(machine_id);
  if (tracker != trackers_.end()) facts.tracker = tracker->second;
  return facts;
}

absl::Status FakeTelemetryStore::PartCountObservations(const std::string& machine_id,
                                                       absl::Time start, absl::Time end,
                                                       const PartCountVisitor& visit) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  auto machine = machines_.find(machine_id);
  if (machine == machines_.end()) {
    return MachineNotFound(machine_id);
  }
  std::map<std::string, std::vector<StoredSample>> by_item;
  for (const DataItem& item : machine->second.data_items) {
    if (item.type == kTypePartCount) by_item[item.id];
  }
  for (const auto& [key, type] : retired_) {
    if (key.first == machine_id && type == kTypePartCount) by_item[key.second];
  }
  for (const StoredSample& s : samples_) {
    if (s.sample.machine_id != machine_id || *s.sample.time >= end) continue;
    auto it = by_item.find(s.sample.data_item_id);
    if (it != by_item.end()) it->second.push_back(s);
  }
  for (auto& [item, stored] : by_item) {
    std::sort(stored.begin(), stored.end(), [](const StoredSample& a, const StoredSample& b) {
      return std::make_pair(*a.sample.time, a.key) < std::make_pair(*b.sample.time, b.key);
    });
    std::optional<PartCountObservation> baseline;
    std::vector<PartCountObservation> in_range;
    for (const StoredSample& s : stored) {
      std::optional<PartCountObservation> o = PartCountObservationOf(s.sample);
      if (!o) continue;
      if (o->time >= start) {
        in_range.push_back(*o);
      } else if (IsPartCount(*o)) {
        baseline = o;
      }
    }
    if (baseline) visit(item, *baseline);
    for (const PartCountObservation& o : in_range) visit(item, o);
  }
  return absl::OkStatus();
}

absl::StatusOr<DowntimePage> FakeTelemetryStore::ListDowntimes(const DowntimeQuery& query) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  std::vector<Downtime> matched;
  for (const Downtime& d : downtimes_) {
    if (Matches(query, d)) matched.push_back(d);
  }
  std::sort(matched.begin(), matched.end(), ListsBefore);
  DowntimePage page;
  for (Downtime& d : matched) {
    if (page.downtimes.size() == static_cast<size_t>(query.page_size)) {
      page.more = true;
      break;
    }
    page.downtimes.push_back(std::move(d));
  }
  return page;
}

absl::StatusOr<Replayable<Downtime>> FakeTelemetryStore::SetDowntimeReason(
    int64_t id, const DowntimeReason& reason, const ChangeContext& context,
    const ResponseEncoder<Downtime>& encode) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  Replayable<Downtime> result;
  PM_ASSIGN_OR_RETURN(auto seen, request_log_.Claim(context.request));
  if (seen) {
    result.recorded_response = seen->response;
    return result;
  }
  if (id <= 0 || id > static_cast<int64_t>(downtimes_.size())) {
    return DowntimeNotFound(id);
  }
  Downtime& stored = downtimes_[static_cast<size_t>(id - 1)];
  stored = WithReason(stored, reason, context.request.identity, context.now);
  events_.push_back(DowntimeOutboxEvent(stored, kDowntimeReasonSet, *stored.reason_set_time));
  request_log_.Record(context.request, encode ? encode(stored) : std::string(),
                      absl::StrCat("downtimes/", id));
  if (context.audit != nullptr) context.audit->MarkWritten();
  result.value = stored;
  return result;
}

absl::StatusOr<PlannedParts> FakeTelemetryStore::AggregateParts(const std::string& machine_id,
                                                                const std::string& data_item_id,
                                                                const AggregatePlanner& planner) {
  absl::MutexLock lock(&mu_);
  PM_RETURN_IF_ERROR(failure_);
  // No rollups: every level is complete, and every span is computed from the samples.
  PlannedParts planned;
  PM_ASSIGN_OR_RETURN(planned.plan, planner(StoredRollupLevels(absl::InfiniteFuture())));
  for (const PlanSpan& span : planned.plan.spans) {
    std::map<absl::Time, Aggregate> buckets;
    for (const StoredSample& stored : samples_) {
      const Sample& s = stored.sample;
      if (s.machine_id != machine_id || s.data_item_id != data_item_id ||
          s.kind != ValueKind::kNumber || *s.time < span.start || *s.time >= span.end) {
        continue;
      }
      buckets[BucketStart(*s.time, planned.plan.bucket)].Add(*s.time, s.number);
    }
    for (const auto& [start, aggregate] : buckets) planned.parts.push_back({start, aggregate});
  }
  return planned;
}

}  // namespace plantmesh::telemetry::testing
