#include "server/telemetry/states.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/errors.h"
#include "server/runtime/text_rules.h"

namespace plantmesh::telemetry {

std::optional<StateInput> StateInputOf(Category category, int type) {
  if (category == Category::kCondition) return StateInput::kCondition;
  switch (type) {
    case kTypeExecution:
      return StateInput::kExecution;
    case kTypeAvailability:
      return StateInput::kAvailability;
    case kTypeEmergencyStop:
      return StateInput::kEmergencyStop;
    default:
      return std::nullopt;
  }
}

ObservedValue ObservedValueOf(const Sample& sample) {
  switch (sample.kind) {
    case ValueKind::kNumber:
      return sample.number;
    case ValueKind::kText:
      return sample.text;
    case ValueKind::kCondition:
      return ConditionValue{static_cast<ConditionLevel>(sample.condition_level),
                            sample.native_code};
    default:
      return UnavailableValue{};
  }
}

StateItems StateItemsOf(const Catalog& catalog) {
  StateItems out;
  for (const auto& [machine, items] : catalog) {
    for (const auto& [id, item] : items) {
      if (std::optional<StateInput> input = StateInputOf(item.category, item.type)) {
        out[machine][id] = *input;
      }
    }
  }
  return out;
}

std::map<std::string, MachineBatch> MachineBatches(const std::vector<Sample>& samples,
                                                   const std::vector<int>& accepted,
                                                   const StateItems& items,
                                                   const std::set<std::string>& pending,
                                                   absl::Time now, absl::Time release_before) {
  std::map<std::string, MachineBatch> out;
  std::map<std::string, absl::Time> newest;
  for (int i : accepted) {
    const Sample& s = samples[static_cast<size_t>(i)];
    if (!s.time) continue;
    absl::Time& n = newest.try_emplace(s.machine_id, absl::InfinitePast()).first->second;
    n = std::max(n, std::min(*s.time, now));
    auto machine = items.find(s.machine_id);
    if (machine == items.end()) continue;
    auto item = machine->second.find(s.data_item_id);
    if (item == machine->second.end()) continue;
    out[s.machine_id].observations.push_back(
        StateObservation{*s.time, item->second, s.data_item_id, ObservedValueOf(s)});
  }
  for (const std::string& m : pending) {
    if (newest.count(m) != 0) out.try_emplace(m);
  }
  for (auto& [machine, batch] : out) {
    std::stable_sort(
        batch.observations.begin(), batch.observations.end(),
        [](const StateObservation& a, const StateObservation& b) { return a.time < b.time; });
    // Clamped after the sort, which keeps their order (re-test: clamped before it,
    // future samples took the batch's order, and [FEED_HOLD at +100 s, ACTIVE at +50 s]
    // left the machine running for good).
    for (StateObservation& o : batch.observations) {
      if (o.time > now) o.ahead_time = std::exchange(o.time, now);
    }
    batch.newest = newest[machine];
    batch.release_before = release_before;
  }
  return out;
}

bool TrackerPending(const TrackerState& state) {
  if (!state.held.empty()) return true;
  if (state.last_time == absl::InfinitePast()) return false;
  return !state.withdrawals.empty() || MachineStateTracker(state).Derive() != state.settled_state;
}

std::vector<InputWithdrawal> WithdrawnInputs(const Machine& before, const Machine& after,
                                             absl::Time at) {
  auto inputs = [](const Machine& machine) {
    std::set<std::pair<StateInput, std::string>> fed;
    for (const DataItem& item : machine.data_items) {
      std::optional<StateInput> input = StateInputOf(item.category, item.type);
      if (!input) continue;
      // One value per machine for all but CONDITION: which item fed it does not matter.
      fed.emplace(*input, *input == StateInput::kCondition ? item.id : std::string());
    }
    return fed;
  };
  const std::set<std::pair<StateInput, std::string>> kept = inputs(after);
  std::vector<InputWithdrawal> withdrawn;
  for (const auto& [input, item] : inputs(before)) {
    if (kept.count({input, item}) == 0) withdrawn.push_back({at, input, item});
  }
  return withdrawn;
}

void RecordWithdrawals(TrackerState* state, const std::vector<InputWithdrawal>& withdrawals) {
  // Observations waiting for the reorder window count as values (re-test: a new
  // machine's first samples all waiting, the withdrawal was not recorded, and a removed
  // item's FAULT held the machine DOWN for good).
  if (state->last_time == absl::InfinitePast() && state->held.empty()) return;
  for (const InputWithdrawal& w : withdrawals) {
    const bool recorded = std::any_of(
        state->withdrawals.begin(), state->withdrawals.end(), [&](const InputWithdrawal& r) {
          return r.input == w.input && r.data_item_id == w.data_item_id;
        });
    if (!recorded) state->withdrawals.push_back(w);
  }
}

namespace {

// Places, in time order, the observations of `waiting` (oldest first) and the recorded
// `withdrawals` stamped at or before `horizon` into `tracker`, a withdrawal before an
// observation of its time; counts the late observations in `*changes`. Returns what
// waits: the observations and withdrawals stamped later. A withdrawal among observations
// stamped before it waits for them, so each counts at its own time (re-test: applied
// first, at the update's time, the waiting samples stamped before it were late, and a
// fault of a new machine's first batch was never withdrawn).
std::pair<std::vector<StateObservation>, std::vector<InputWithdrawal>> PlaceInTimeOrder(
    MachineStateTracker& tracker, const std::vector<StateObservation>& waiting,
    std::vector<InputWithdrawal> withdrawals, absl::Time horizon, StateChanges* changes) {
  std::stable_sort(
      withdrawals.begin(), withdrawals.end(),
      [](const InputWithdrawal& a, const InputWithdrawal& b) { return a.time < b.time; });
  size_t next = 0;
  auto withdraw_through = [&](absl::Time t) {
    for (; next < withdrawals.size() && withdrawals[next].time <= t; ++next) {
      tracker.Withdraw(withdrawals[next], changes);
    }
  };
  std::vector<StateObservation> held;
  for (const StateObservation& o : waiting) {
    if (o.time > horizon) {
      held.push_back(o);
      continue;
    }
    withdraw_through(o.time);
    if (tracker.Observe(o, changes) != ObservationOutcome::kApplied) ++changes->late_observations;
  }
  withdraw_through(horizon);
  withdrawals.erase(withdrawals.begin(), withdrawals.begin() + static_cast<std::ptrdiff_t>(next));
  return {std::move(held), std::move(withdrawals)};
}

}  // namespace

std::optional<MachineBatch> SettleBatch(const TrackerState& state, absl::Time before,
                                        absl::Time release_before) {
  // The newest held observation or recorded withdrawal that is due, and with it every
  // older one.
  absl::Time placed = absl::InfinitePast();
  for (const StateObservation& o : state.held) {
    if (o.time <= release_before) placed = std::max(placed, o.time);
  }
  for (const InputWithdrawal& w : state.withdrawals) {
    if (w.time <= release_before) placed = std::max(placed, w.time);
  }
  const bool changed = state.last_time != absl::InfinitePast() &&
                       MachineStateTracker(state).Derive() != state.settled_state;
  if (placed == absl::InfinitePast() && !changed) return std::nullopt;
  // A change at the last observation placed settles one microsecond past it (moving past
  // a placed one that changed nothing costs nothing).
  const absl::Time last = std::max(state.last_time, placed);
  if (last >= before && placed == absl::InfinitePast()) return std::nullopt;
  MachineBatch batch;
  batch.newest = last < before ? last + absl::Microseconds(1) : placed;
  return batch;
}

std::optional<MachineBatch> SettleDue(const TrackerState& state, absl::Time before,
                                      absl::Time release_before) {
  if (before == absl::InfinitePast()) return std::nullopt;
  return SettleBatch(state, before, release_before);
}

TrackerState AdvanceTracker(const TrackerState& state, const MachineBatch& batch,
                            StateChanges* changes) {
  TrackerState start = state;
  std::vector<InputWithdrawal> withdrawals = std::move(start.withdrawals);
  start.withdrawals.clear();
  start.held.clear();
  MachineStateTracker tracker(std::move(start));
  std::vector<StateObservation> waiting;
  waiting.reserve(state.held.size() + batch.observations.size());
  // Both oldest first; std::merge takes the held one first at equal times (it came first).
  std::merge(state.held.begin(), state.held.end(), batch.observations.begin(),
             batch.observations.end(), std::back_inserter(waiting),
             [](const StateObservation& a, const StateObservation& b) { return a.time < b.time; });
  absl::Time horizon = std::min(batch.newest, batch.release_before);
  if (waiting.size() > kMaxHeldObservations) {
    horizon = std::max(horizon, waiting[waiting.size() - kMaxHeldObservations - 1].time);
  }
  auto [held, left] = PlaceInTimeOrder(tracker, waiting, std::move(withdrawals), horizon, changes);
  tracker.AdvanceTo(horizon, changes);
  TrackerState after = tracker.state();
  after.held = std::move(held);
  after.withdrawals = std::move(left);
  return after;
}

std::vector<Downtime> DowntimesAfter(const std::string& machine_id,
                                     const std::vector<DowntimeEvent>& events) {
  std::vector<Downtime> out;
  for (const DowntimeEvent& e : events) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const Downtime& d) { return d.start == e.start; });
    if (it == out.end()) {
      Downtime d;
      d.machine_id = machine_id;
      d.start = e.start;
      out.push_back(std::move(d));
      it = out.end() - 1;
    }
    it->state = e.state;
    if (e.change == DowntimeChange::kEnded) it->end = e.end;
  }
  return out;
}

// ---- ListStateIntervals, GetUtilization ----

namespace {

runtime::FilterFingerprint StateFingerprint(const std::string& machine_id, absl::Time start,
                                            absl::Time end) {
  runtime::FilterFingerprint fingerprint;
  fingerprint.AddText(machine_id).AddTime(start).AddTime(end);
  return fingerprint;
}

void CheckRange(std::optional<absl::Time> start_time, std::optional<absl::Time> end_time,
                runtime::Violations& violations) {
  if (!start_time) violations.Add("start_time", "required");
  if (!end_time) violations.Add("end_time", "required");
  if (start_time && end_time && *end_time <= *start_time) {
    violations.Add("end_time", "must be after start_time");
  }
}

}  // namespace

absl::StatusOr<StateIntervalQuery> MakeStateIntervalQuery(const std::string& machine_id,
                                                          std::optional<absl::Time> start_time,
                                                          std::optional<absl::Time> end_time,
                                                          int32_t page_size,
                                                          const std::string& page_token) {
  runtime::Violations violations;
  StateIntervalQuery query;
  query.machine_id = machine_id;
  if (machine_id.empty()) violations.Add("machine_id", "required");
  CheckRange(start_time, end_time, violations);
  query.start_time = start_time.value_or(absl::UnixEpoch());
  query.end_time = end_time.value_or(absl::UnixEpoch());
  const bool filter_sound = violations.empty();
  query.page_size =
      runtime::PageSizeOr(violations, page_size, kDefaultStatePageSize, kMaxStatePageSize);
  if (!page_token.empty()) {
    query.after = runtime::DecodePageToken(
        page_token,
        filter_sound ? StateFingerprint(machine_id, query.start_time, query.end_time).Hex() : "",
        "ListStateIntervals", violations);
  }
  PM_RETURN_IF_ERROR(violations.ToStatus());
  return query;
}

std::vector<StateInterval> OpenTimeline(const std::optional<TrackerState>& tracker,
                                        absl::Time now) {
  if (!tracker) return {};
  // Withdrawals not applied yet count from their time, as they will once applied.
  TrackerState start = *tracker;
  start.withdrawals.clear();
  start.held.clear();
  MachineStateTracker moved(std::move(start));
  StateChanges changes;
  PlaceInTimeOrder(moved, tracker->held, tracker->withdrawals, absl::InfiniteFuture(), &changes);
  std::vector<StateInterval> open = std::move(changes.closed_intervals);
  for (const StateInterval& i : moved.Unsettled()) open.push_back(i);
  // Samples may be stamped up to max-future-skew ahead of the server's clock: the state
  // served as current is the one at now, not one a machine clock ahead of ours reported.
  while (open.size() > 1 && open.back().start > now) open.pop_back();
  if (!open.empty()) open.back().end = std::max(now, open.back().start);
  return open;
}

StateIntervalPage TimelinePage(const StateIntervalQuery& query, const TimelineFacts& facts,
                               absl::Time now) {
  StateIntervalPage page;
  const size_t limit = static_cast<size_t>(query.page_size);
  auto take = [&](const StateInterval& i, bool current) {
    if (i.start >= query.end_time || i.end <= query.start_time) return;
    if (query.after && i.start <= query.after->sort_time) return;
    if (page.intervals.size() == limit) {
      page.more = true;
      return;
    }
    ListedInterval listed;
    listed.interval = {i.state, std::max(i.start, query.start_time),
                       std::min(i.end, query.end_time)};
    listed.start = i.start;
    listed.current = current;
    page.intervals.push_back(listed);
  };
  for (const StateInterval& i : facts.closed) take(i, false);
  if (page.more) return page;
  const std::vector<StateInterval> open = OpenTimeline(facts.tracker, now);
  for (size_t k = 0; k < open.size(); ++k) take(open[k], k + 1 == open.size());
  return page;
}

std::string NextStateIntervalPageToken(const StateIntervalQuery& query,
                                       const ListedInterval& last) {
  return runtime::EncodePageToken(
      runtime::PageCursor{last.start, 0},
      StateFingerprint(query.machine_id, query.start_time, query.end_time).Hex(),
      "ListStateIntervals");
}

absl::Status CheckUtilizationRange(const std::string& machine_id,
                                   std::optional<absl::Time> start_time,
                                   std::optional<absl::Time> end_time) {
  runtime::Violations violations;
  if (machine_id.empty()) violations.Add("machine_id", "required");
  CheckRange(start_time, end_time, violations);
  if (start_time && end_time && *end_time - *start_time > kMaxUtilizationRange) {
    violations.Add("end_time", "at most 366 days after start_time");
  }
  return violations.ToStatus();
}

absl::StatusOr<std::map<MachineState, absl::Duration>> UtilizationOf(const TimelinePageReader& read,
                                                                     absl::Time start,
                                                                     absl::Time end, absl::Time now,
                                                                     int page_size) {
  PM_ASSIGN_OR_RETURN(UtilizationSum sum, UtilizationSum::ForRange(start, end));
  // Time after now is UNAVAILABLE, also what a machine clock ahead of ours reported.
  auto add = [&](StateInterval i) {
    if (i.start >= now) return absl::OkStatus();
    i.end = std::min(i.end, now);
    return sum.Add(i);
  };
  std::optional<absl::Time> after;
  for (;;) {
    PM_ASSIGN_OR_RETURN(TimelineFacts page, read(after, page_size));
    for (const StateInterval& i : page.closed) PM_RETURN_IF_ERROR(add(i));
    if (page.closed.size() < static_cast<size_t>(page_size)) {
      for (const StateInterval& i : OpenTimeline(page.tracker, now)) PM_RETURN_IF_ERROR(add(i));
      return sum.Total();
    }
    after = page.closed.back().start;
  }
}

absl::StatusOr<PartCountSum> PartCountSum::ForRange(absl::Time start, absl::Time end) {
  PM_ASSIGN_OR_RETURN(PartCounter counter, PartCounter::ForRange(start, end));
  return PartCountSum(counter);
}

void PartCountSum::Add(const std::string& item, const PartCountObservation& observation) {
  by_item_.try_emplace(item, empty_).first->second.Add(observation);
}

int64_t PartCountSum::parts() const { return Sum().first; }

std::pair<int64_t, bool> PartCountSum::Sum() const {
  int64_t total = 0;
  bool passed = false;  // the sum passed int64's maximum (reaching it is a count)
  for (const auto& [item, counter] : by_item_) {
    passed = passed || counter.saturated() ||
             total > std::numeric_limits<int64_t>::max() - counter.parts();
    total = passed ? std::numeric_limits<int64_t>::max() : total + counter.parts();
  }
  return {total, passed};
}

absl::StatusOr<int64_t> PartCountSum::PartCount() const {
  // Exactly 2^63-1 parts is a count (outside testing, BH L1: it was refused as past it).
  const auto [total, passed] = Sum();
  if (!passed) return total;
  return runtime::WithErrorInfo(
      absl::OutOfRangeError(absl::StrCat("the parts counted in this range pass ",
                                         std::numeric_limits<int64_t>::max(),
                                         ", the most part_count holds: ask for a shorter range")),
      "PART_COUNT_OVERFLOW", {});
}

std::optional<PartCountObservation> PartCountObservationOf(const Sample& sample) {
  if (!sample.time) return std::nullopt;
  PartCountObservation o;
  o.time = *sample.time;
  switch (sample.kind) {
    case ValueKind::kNumber:
      o.value = sample.number;
      return o;
    case ValueKind::kUnavailable:
      o.available = false;
      return o;
    case ValueKind::kText: {
      const absl::string_view text = MatchedText(sample.text);
      if (absl::EqualsIgnoreCase(text, "UNAVAILABLE")) {
        o.available = false;
        return o;
      }
      if (ParsePartCountText(text, &o.value) != PartCountText::kCount) return std::nullopt;
      return o;
    }
    default:
      return std::nullopt;
  }
}

// ---- ListDowntimes, SetDowntimeReason ----

namespace {

runtime::FilterFingerprint DowntimeFingerprint(const DowntimeQuery& query) {
  runtime::FilterFingerprint fingerprint;
  fingerprint.AddText(query.machine_id)
      .AddTime(query.start_time)
      .AddTime(query.end_time)
      .AddRaw(query.without_reason ? "1" : "0");
  return fingerprint;
}

}  // namespace

absl::StatusOr<DowntimeQuery> MakeDowntimeQuery(const std::string& machine_id,
                                                std::optional<absl::Time> start_time,
                                                std::optional<absl::Time> end_time,
                                                bool without_reason, int32_t page_size,
                                                const std::string& page_token) {
  runtime::Violations violations;
  DowntimeQuery query;
  query.machine_id = machine_id;
  query.start_time = start_time;
  query.end_time = end_time;
  query.without_reason = without_reason;
  if (start_time && end_time && *end_time <= *start_time) {
    violations.Add("end_time", "must be after start_time");
  }
  const bool filter_sound = violations.empty();
  query.page_size =
      runtime::PageSizeOr(violations, page_size, kDefaultDowntimePageSize, kMaxDowntimePageSize);
  if (!page_token.empty()) {
    query.after =
        runtime::DecodePageToken(page_token, filter_sound ? DowntimeFingerprint(query).Hex() : "",
                                 "ListDowntimes", violations);
  }
  PM_RETURN_IF_ERROR(violations.ToStatus());
  return query;
}

std::string NextDowntimePageToken(const DowntimeQuery& query, const Downtime& last) {
  return runtime::EncodePageToken(runtime::PageCursor{last.start, last.id},
                                  DowntimeFingerprint(query).Hex(), "ListDowntimes");
}

bool ListsBefore(const Downtime& a, const Downtime& b) {
  return std::make_pair(a.start, a.id) > std::make_pair(b.start, b.id);
}

bool Matches(const DowntimeQuery& query, const Downtime& d) {
  if (!query.machine_id.empty() && d.machine_id != query.machine_id) return false;
  if (query.start_time && d.start < *query.start_time) return false;
  if (query.end_time && d.start >= *query.end_time) return false;
  if (query.without_reason && !d.reason_code.empty()) return false;
  if (query.after &&
      std::make_pair(d.start, d.id) >= std::make_pair(query.after->sort_time, query.after->id)) {
    return false;
  }
  return true;
}

std::optional<int64_t> ParseDowntimeId(const std::string& id, runtime::Violations& violations) {
  if (id.empty()) {
    violations.Add("id", "required");
    return std::nullopt;
  }
  const std::optional<int64_t> value = runtime::ParseDecimalId(id);
  if (!value) {
    violations.Add("id",
                   absl::StrCat("not a downtime id (Downtime.id, ", runtime::kDecimalIdRule, ")"));
  }
  return value;
}

void CheckDowntimeReason(const DowntimeReason& reason, runtime::Violations& violations) {
  if (reason.reason_code.empty()) violations.Add("reason_code", "required");
}

Downtime WithReason(const Downtime& current, const DowntimeReason& reason, const std::string& who,
                    absl::Time now) {
  Downtime after = current;
  after.reason_code = reason.reason_code;
  after.comment = reason.comment;
  after.reason_set_by = who;
  after.reason_set_time = absl::FromUnixMicros(absl::ToUnixMicros(now));
  return after;
}

}  // namespace plantmesh::telemetry
