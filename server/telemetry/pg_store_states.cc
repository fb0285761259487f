// The telemetry store's machine states (states.h): trackers moved in the ingest
// transaction, their settling, intervals, downtimes and their retention.
// Part of PgTelemetryStore (pg_store.h); what the parts share: pg_store_internal.h.

#include <libpq-fe.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/telemetry/convert.h"
#include "server/telemetry/libpq_exec.h"
#include "server/telemetry/libpq_pool.h"
#include "server/telemetry/pg_store.h"
#include "server/telemetry/pg_store_internal.h"
#include "server/telemetry/tracker_state_codec.h"

namespace plantmesh::telemetry {
namespace pg_store_internal {
namespace {

// ==== Machine states (states.h): SQL of the trackers, intervals and downtimes ====

// The reads, on the libpqxx pool.
struct StateSql {
  runtime::PgStatements registry{"telemetry"};
  const runtime::PgStatement machine_exists =
      registry.Add("state_machine_exists", "SELECT 1 FROM telemetry.machines WHERE id = $1");
  // Retention (DropExpiredStates): what ended before $1.
  const runtime::PgStatement intervals_expire = registry.Add(
      "state_intervals_expire", "DELETE FROM telemetry.state_intervals WHERE end_time < " PM_TS(1));
  const runtime::PgStatement downtimes_expire = registry.Add(
      "state_downtimes_expire",
      "DELETE FROM telemetry.downtimes WHERE end_time IS NOT NULL AND end_time < " PM_TS(1));
  // Closed intervals overlapping [$2, $3) after start $4, oldest first, at most $5 (NULL:
  // all). The first candidate is the last interval starting at or before $2 (intervals
  // of a machine never overlap), so the scan starts there, not at the machine's first;
  // a later page's scan starts after $4: `start_time > coalesce(…)` is an index bound,
  // where `($4 IS NULL OR start_time > …)` was a filter the generic plan applied to every
  // row from the range's start (outside testing: page n read n pages, a year's
  // GetUtilization of a machine with 1.4 M intervals took 27.5 s).
  const runtime::PgStatement intervals = registry.Add(
      "state_intervals",
      "SELECT state, " PM_US("start_time") ", " PM_US("end_time") " "
      "FROM telemetry.state_intervals WHERE machine_id = $1 "
      "AND start_time >= coalesce((SELECT max(start_time) FROM telemetry.state_intervals "
      "WHERE machine_id = $1 AND start_time <= " PM_TS(2) "), '-infinity') "
      "AND start_time < " PM_TS(3) " AND end_time > " PM_TS(2) " "
      "AND start_time > coalesce(" PM_TS(4) ", '-infinity') "
      "ORDER BY start_time LIMIT $5");
  const runtime::PgStatement tracker = registry.Add(
      "state_tracker", "SELECT state FROM telemetry.machine_trackers WHERE machine_id = $1");
  // UpdateMachine's withdrawals (RecordWithdrawnInputs).
  const runtime::PgStatement tracker_lock =
      registry.Add("state_tracker_lock",
                   "SELECT state FROM telemetry.machine_trackers WHERE machine_id = $1 "
                   "AND state IS NOT NULL FOR UPDATE");
  const runtime::PgStatement tracker_record =
      registry.Add("state_tracker_record",
                   "UPDATE telemetry.machine_trackers SET state = $2, pending = true, "
                   "update_time = now() WHERE machine_id = $1");
  const runtime::PgStatement part_count_items = registry.Add(
      "state_part_count_items",
      "SELECT id FROM telemetry.data_items WHERE machine_id = $1 AND type = $2 UNION "
      "SELECT id FROM telemetry.retired_data_items WHERE machine_id = $1 AND type = $2 "
      "ORDER BY id");
  // Samples of the PART_COUNT items in [$3, $4) after (time, sample_key) ($5, $6) if $5
  // is set, at most $7 (a page: the index on (machine_id, time) is entered at the later
  // of $3 and $5), and per item the newest count before $3 (a number: Unavailable and text
  // do not make a baseline).
  const runtime::PgStatement part_counts = registry.Add(
      "state_part_counts",
      "SELECT data_item_id, " PM_US("time") ", kind, number, text, sample_key "
      "FROM telemetry.samples WHERE machine_id = $1 AND data_item_id = ANY($2::text[]) "
      "AND time >= coalesce(" PM_TS(5) ", " PM_TS(3) ") AND time < " PM_TS(4) " "
      "AND ($5::int8 IS NULL OR (time, sample_key) > (" PM_TS(5) ", $6::int8)) "
      "ORDER BY time, sample_key LIMIT $7");
  // One item's numbers and texts before $3, newest first, before (time, sample_key) ($4,
  // $5) if $4 is set, at most $6: where its baseline is looked for (IsPartCount decides,
  // text included, as in the range).
  const runtime::PgStatement part_count_baseline = registry.Add(
      "state_part_count_baseline",
      "SELECT data_item_id, " PM_US("time") ", kind, number, text, sample_key "
      "FROM telemetry.samples WHERE machine_id = $1 AND data_item_id = $2 "
      "AND time < " PM_TS(3) " AND time <= coalesce(" PM_TS(4) ", " PM_TS(3) ") "
      "AND kind IN (1, 2) AND ($4::int8 IS NULL OR (time, sample_key) < (" PM_TS(4) ", $5::int8)) "
      "ORDER BY time DESC, sample_key DESC LIMIT $6");
  const runtime::PgStatement downtimes = registry.Add(
      "state_downtimes",
      "SELECT " PM_DOWNTIME_COLUMNS " FROM telemetry.downtimes "
      "WHERE ($1::text = '' OR machine_id = $1) "
      "AND ($2::int8 IS NULL OR start_time >= " PM_TS(2) ") "
      "AND ($3::int8 IS NULL OR start_time < " PM_TS(3) ") "
      "AND (NOT $4::bool OR reason_code = '') "
      "AND ($5::int8 IS NULL OR (start_time, id) < (" PM_TS(5) ", $6::int8)) "
      "ORDER BY start_time DESC, id DESC LIMIT $7");
  const runtime::PgStatement downtime_lock =
      registry.Add("state_downtime_lock", "SELECT " PM_DOWNTIME_COLUMNS
                                          " FROM telemetry.downtimes WHERE id = $1 FOR UPDATE");
  const runtime::PgStatement downtime_reason = registry.Add(
      "state_downtime_reason",
      "UPDATE telemetry.downtimes SET reason_code = $2, comment = $3, reason_set_by = $4, "
      "reason_set_time = " PM_TS(5) " WHERE id = $1");
  const runtime::PgStatement outbox = registry.Add(
      "state_outbox", "INSERT INTO telemetry.outbox (event_id, payload) VALUES ($1::uuid, $2)");
};

const StateSql& StateStatements() {
  static const auto* sql = new StateSql();
  return *sql;
}

// The ingest side, on the libpq connections (prepared by these names).
constexpr char kStateLock[] = "telemetry.state_lock";
constexpr char kStateSave[] = "telemetry.state_save";
constexpr char kStateIntervalsInsert[] = "telemetry.state_intervals_insert";
constexpr char kStateDowntimesUpsert[] = "telemetry.state_downtimes_upsert";
constexpr char kStatePendingMachines[] = "telemetry.state_pending_machines";
constexpr char kStateLockFree[] = "telemetry.state_lock_free";

Downtime DowntimeAt(const pqxx::row& r) {
  Downtime d;
  d.id = r["id"].as<int64_t>();
  d.machine_id = r["machine_id"].as<std::string>();
  d.state = static_cast<MachineState>(r["state"].as<int>());
  d.start = absl::FromUnixMicros(r["start_time_us"].as<int64_t>());
  if (!r["end_time_us"].is_null()) d.end = absl::FromUnixMicros(r["end_time_us"].as<int64_t>());
  d.reason_code = r["reason_code"].as<std::string>();
  d.comment = r["comment"].as<std::string>();
  d.reason_set_by = r["reason_set_by"].as<std::string>();
  if (!r["reason_set_time_us"].is_null()) {
    d.reason_set_time = absl::FromUnixMicros(r["reason_set_time_us"].as<int64_t>());
  }
  return d;
}

// The same from a libpq result (PM_DOWNTIME_COLUMNS' order).
Downtime DowntimeAt(PGresult* result, int row) {
  auto text = [&](int col) { return std::string(PQgetvalue(result, row, col)); };
  auto time = [&](int col) -> std::optional<absl::Time> {
    if (PQgetisnull(result, row, col)) return std::nullopt;
    return absl::FromUnixMicros(std::stoll(text(col)));
  };
  Downtime d;
  d.id = std::stoll(text(0));
  d.machine_id = text(1);
  d.state = static_cast<MachineState>(std::stoi(text(2)));
  d.start = *time(3);
  d.end = time(4);
  d.reason_code = text(5);
  d.comment = text(6);
  d.reason_set_by = text(7);
  d.reason_set_time = time(8);
  return d;
}

// A tracker row's state as stored (tracker_state_codec.h); INTERNAL when it cannot be read.
absl::StatusOr<TrackerState> DecodeStoredTracker(absl::string_view machine_id,
                                                 absl::string_view text) {
  absl::StatusOr<TrackerState> state = DecodeTrackerState(text);
  if (!state.ok()) {
    return absl::InternalError(absl::StrCat("the stored tracker of machine ", machine_id,
                                            " cannot be read: ", state.status().message()));
  }
  return state;
}

// The times of SettleBatch: a change pending since before `before` settles, observations
// held at or before `release_before` are placed.
struct SettleTimes {
  absl::Time before = absl::InfinitePast();
  absl::Time release_before = absl::InfiniteFuture();
};

// Moves the trackers of `moved`'s machines, in the caller's transaction: lock and read
// them (one statement), advance, write the trackers, closed intervals and downtimes (one
// statement each, skipped when empty) and one outbox event per downtime change. With
// `settle`, `moved` names candidates: each one no other transaction holds is locked and
// moved by SettleBatch, or left as it is. Without it, a tracker left with something due
// by `then_settle` is then settled (SettleDue, IngestAudit). Counts the trackers moved,
// and their late observations in `*late` (when not null).
absl::StatusOr<int> AdvanceMachines(PGconn* conn, std::map<std::string, MachineBatch> moved,
                                    std::set<std::string>* pending,
                                    std::optional<SettleTimes> settle, SettleTimes then_settle = {},
                                    int* late = nullptr) {
  if (moved.empty()) return 0;
  std::vector<std::string> machines;
  for (const auto& entry : moved) machines.push_back(entry.first);
  std::string machine_array = ArrayLiteral(machines);
  PM_ASSIGN_OR_RETURN(
      std::unique_ptr<LibpqResult> locked,
      ExecPrepared(conn, settle ? kStateLockFree : kStateLock, {machine_array.c_str()}));
  std::map<std::string, TrackerState> trackers;
  for (int row = 0; row < PQntuples(locked->get()); ++row) {
    TrackerState& state = trackers[PQgetvalue(locked->get(), row, 0)];
    if (PQgetisnull(locked->get(), row, 1)) continue;
    PM_ASSIGN_OR_RETURN(state, DecodeStoredTracker(PQgetvalue(locked->get(), row, 0),
                                                   PQgetvalue(locked->get(), row, 1)));
  }
  if (settle) {
    machines.clear();
    for (auto& [machine, batch] : moved) {
      auto tracker = trackers.find(machine);
      if (tracker == trackers.end()) continue;  // held by a batch
      std::optional<MachineBatch> due =
          SettleBatch(tracker->second, settle->before, settle->release_before);
      if (!due) continue;
      batch = *std::move(due);
      machines.push_back(machine);
    }
    if (machines.empty()) return 0;
    machine_array = ArrayLiteral(machines);
  }
  std::vector<std::optional<std::string>> saved, saved_pending;
  std::vector<std::optional<std::string>> i_machine, i_state, i_start, i_end;
  std::vector<std::optional<std::string>> d_machine, d_state, d_start, d_end;
  std::vector<std::pair<std::string, DowntimeEvent>> events;
  for (const std::string& machine : machines) {
    StateChanges changes;
    TrackerState after = AdvanceTracker(trackers[machine], moved.at(machine), &changes);
    if (std::optional<MachineBatch> due =
            SettleDue(after, then_settle.before, then_settle.release_before)) {
      after = AdvanceTracker(after, *due, &changes);
    }
    if (late != nullptr) *late += changes.late_observations;
    saved.push_back(EncodeTrackerState(after));
    // The next batch of the same transaction sees the tracker as this one left it.
    if (TrackerPending(after)) {
      pending->insert(machine);
      saved_pending.push_back("t");
    } else {
      pending->erase(machine);
      saved_pending.push_back("f");
    }
    for (const StateInterval& i : changes.closed_intervals) {
      i_machine.push_back(machine);
      i_state.push_back(absl::StrCat(static_cast<int>(i.state)));
      i_start.push_back(Micros(i.start));
      i_end.push_back(Micros(i.end));
    }
    for (const Downtime& d : DowntimesAfter(machine, changes.downtime_events)) {
      d_machine.push_back(machine);
      d_state.push_back(absl::StrCat(static_cast<int>(d.state)));
      d_start.push_back(Micros(d.start));
      d_end.push_back(d.end ? std::optional<std::string>(Micros(*d.end)) : std::nullopt);
    }
    for (const DowntimeEvent& e : changes.downtime_events) events.emplace_back(machine, e);
  }
  const std::string save_args[] = {machine_array, ArrayLiteral(saved), ArrayLiteral(saved_pending)};
  PM_RETURN_IF_ERROR(
      ExecPrepared(conn, kStateSave,
                   {save_args[0].c_str(), save_args[1].c_str(), save_args[2].c_str()})
          .status());
  if (!i_machine.empty()) {
    const std::string args[] = {ArrayLiteral(i_machine), ArrayLiteral(i_state),
                                ArrayLiteral(i_start), ArrayLiteral(i_end)};
    PM_RETURN_IF_ERROR(
        ExecPrepared(conn, kStateIntervalsInsert,
                     {args[0].c_str(), args[1].c_str(), args[2].c_str(), args[3].c_str()})
            .status());
  }
  if (d_machine.empty()) return static_cast<int>(machines.size());
  const std::string args[] = {ArrayLiteral(d_machine), ArrayLiteral(d_state), ArrayLiteral(d_start),
                              ArrayLiteral(d_end)};
  PM_ASSIGN_OR_RETURN(
      std::unique_ptr<LibpqResult> upserted,
      ExecPrepared(conn, kStateDowntimesUpsert,
                   {args[0].c_str(), args[1].c_str(), args[2].c_str(), args[3].c_str()}));
  std::map<std::pair<std::string, absl::Time>, Downtime> stored;
  for (int row = 0; row < PQntuples(upserted->get()); ++row) {
    Downtime d = DowntimeAt(upserted->get(), row);
    stored[{d.machine_id, d.start}] = d;
  }
  // One event per change, showing the downtime as that change left it.
  for (const auto& [machine, e] : events) {
    auto it = stored.find({machine, e.start});
    if (it == stored.end()) return absl::InternalError("a changed downtime was not stored");
    Downtime at_event = it->second;
    at_event.state = e.state;
    if (e.change != DowntimeChange::kEnded) at_event.end.reset();
    const runtime::OutboxEvent event =
        DowntimeOutboxEvent(at_event, static_cast<int>(e.change), e.change_time);
    const std::vector<int> lengths = {0, static_cast<int>(event.payload.size())};
    PM_RETURN_IF_ERROR(ExecPrepared(conn, kIngestOutbox,
                                    {event.event_id.c_str(), event.payload.data()}, lengths, {0, 1})
                           .status());
  }
  return static_cast<int>(machines.size());
}

}  // namespace

std::vector<std::pair<std::string, std::string>> StateIngestStatements() {
  return {
      // Locks the trackers of the batch's machines in id order (no deadlock between
      // batches), creating the missing ones; their state NULL: a new tracker.
      {kStateLock,
       "INSERT INTO telemetry.machine_trackers AS t (machine_id) "
       "SELECT m FROM unnest($1::text[]) AS m ORDER BY m "
       "ON CONFLICT (machine_id) DO UPDATE SET machine_id = excluded.machine_id "
       "RETURNING t.machine_id, t.state"},
      // Candidates for SettlePendingStates (a few per round: a machine is pending from
      // a state change until time moves past it).
      {kStatePendingMachines,
       "SELECT machine_id FROM telemetry.machine_trackers WHERE pending ORDER BY machine_id "
       "LIMIT 1000"},
      // kStateLock for SettlePendingStates: only the trackers no batch holds (that batch
      // moves its tracker anyway), so a round never waits for ingest nor deadlocks with
      // a group that locks its machines batch after batch.
      {kStateLockFree,
       "SELECT t.machine_id, t.state FROM telemetry.machine_trackers t "
       "WHERE t.machine_id = ANY($1::text[]) AND t.pending ORDER BY t.machine_id "
       "FOR UPDATE SKIP LOCKED"},
      {kStateSave,
       "UPDATE telemetry.machine_trackers AS t SET state = u.s, pending = u.p, "
       "update_time = now() FROM unnest($1::text[], $2::text[], $3::bool[]) AS u(m, s, p) "
       "WHERE t.machine_id = u.m"},
      // An interval is settled once; a second write of the same start cannot happen (the
      // tracker is locked and moves forward only) and would be left as it is.
      {kStateIntervalsInsert,
       "INSERT INTO telemetry.state_intervals (machine_id, state, start_time, end_time) "
       "SELECT u.m, u.s, timestamptz 'epoch' + u.a * interval '1 microsecond', "
       "timestamptz 'epoch' + u.b * interval '1 microsecond' "
       "FROM unnest($1::text[], $2::int2[], $3::int8[], $4::int8[]) AS u(m, s, a, b) "
       "ON CONFLICT (machine_id, start_time) DO NOTHING"},
      // Each downtime the batch changed, in its state after the batch; returns the ids
      // and reasons the events carry.
      {kStateDowntimesUpsert,
       "INSERT INTO telemetry.downtimes AS d (machine_id, state, start_time, end_time) "
       "SELECT u.m, u.s, timestamptz 'epoch' + u.a * interval '1 microsecond', "
       "timestamptz 'epoch' + u.b * interval '1 microsecond' "
       "FROM unnest($1::text[], $2::int2[], $3::int8[], $4::int8[]) AS u(m, s, a, b) "
       "ON CONFLICT (machine_id, start_time) DO UPDATE SET state = excluded.state, "
       "end_time = excluded.end_time RETURNING " PM_DOWNTIME_COLUMNS},
  };
}

// Moves the trackers of the machines the batch touches (MachineBatches), in the batch's
// transaction. A batch without state samples of machines with nothing pending costs
// nothing here. Returns its late state samples.
absl::StatusOr<int> AdvanceStates(PGconn* conn, const Batch& batch,
                                  const std::vector<int>& accepted, const StateItems& items,
                                  std::set<std::string>* pending, const IngestAudit& audit) {
  int late = 0;
  PM_RETURN_IF_ERROR(
      AdvanceMachines(
          conn,
          MachineBatches(batch.samples, accepted, items, *pending, audit.now, audit.release_before),
          pending, std::nullopt, {audit.settle_before, audit.release_before}, &late)
          .status());
  return late;
}

// Locks, in id order and at once, the trackers a group's batches will move one batch
// after another: locked batch by batch, two writers' groups naming the same machines in
// another order would deadlock, and PostgreSQL would abort one of them. A superset, in
// one pass over the samples (AdvanceStates works out each batch's exact set after): a
// machine moves in a batch with a state sample of it, or with any sample of it once a
// change may be pending (before the group, or after a state sample in an earlier batch).
absl::Status LockGroupTrackers(PGconn* conn, const std::vector<Batch>& batches,
                               const std::vector<size_t>& fresh,
                               const std::vector<BatchOutcome>& outcomes, const StateItems& items,
                               std::set<std::string> pending) {
  if (items.empty() && pending.empty()) return absl::OkStatus();
  std::set<std::string> machines;
  int batches_moving = 0;
  for (size_t b : fresh) {
    bool moving = false;
    for (int i : outcomes[b].verdict.accepted) {
      const Sample& s = batches[b].samples[static_cast<size_t>(i)];
      auto machine = items.find(s.machine_id);
      if (machine != items.end() && machine->second.count(s.data_item_id) != 0) {
        pending.insert(s.machine_id);
      }
      if (pending.count(s.machine_id) == 0) continue;
      machines.insert(s.machine_id);
      moving = true;
    }
    batches_moving += moving ? 1 : 0;
  }
  // One batch locks its own trackers in id order.
  if (batches_moving < 2) return absl::OkStatus();
  const std::string machine_array =
      ArrayLiteral(std::vector<std::string>(machines.begin(), machines.end()));
  return ExecPrepared(conn, kStateLock, {machine_array.c_str()}).status();
}

// ==== end of machine states ====

// Records the state inputs an update withdrew in the machine's tracker, in the update's
// transaction; the tracker's next move applies them (states.h): a batch of the machine (it
// is pending now) or the next StateSettleJob round. The machine's row is locked before its
// tracker, and ingest locks trackers only, so the two never deadlock.
absl::Status RecordWithdrawnInputs(pqxx::work& tx, const std::string& machine_id,
                                   const std::vector<InputWithdrawal>& withdrawn) {
  if (withdrawn.empty()) return absl::OkStatus();
  pqxx::result rows = tx.exec_prepared(StateStatements().tracker_lock, machine_id);
  if (rows.empty()) return absl::OkStatus();  // no state sample yet: nothing to withdraw
  PM_ASSIGN_OR_RETURN(TrackerState state,
                      DecodeStoredTracker(machine_id, rows[0][0].as<std::string>()));
  RecordWithdrawals(&state, withdrawn);
  tx.exec_prepared(StateStatements().tracker_record, machine_id, EncodeTrackerState(state));
  return absl::OkStatus();
}

void PrepareStateStatements(pqxx::connection& conn) { StateStatements().registry.Prepare(conn); }

}  // namespace pg_store_internal

using pg_store_internal::AdvanceMachines;
using pg_store_internal::ArrayLiteral;
using pg_store_internal::Claim;
using pg_store_internal::CustomPlans;
using pg_store_internal::DecodeStoredTracker;
using pg_store_internal::DowntimeAt;
using pg_store_internal::kIngestOutbox;
using pg_store_internal::kStatePendingMachines;
using pg_store_internal::MarkAudited;
using pg_store_internal::Micros;
using pg_store_internal::OrNull;
using pg_store_internal::PartitionsLock;
using pg_store_internal::RequestLog;
using pg_store_internal::SettleTimes;
using pg_store_internal::StateStatements;
using pg_store_internal::TextAt;
using pg_store_internal::WriteAudit;

absl::StatusOr<PgTelemetryStore::ExpiredStates> PgTelemetryStore::DropExpiredStates(
    absl::Time now, absl::Duration retention) {
  ExpiredStates deleted;
  const std::string before = Micros(now - retention);
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    // One replica at a time, as the partitions' drop.
    tx.exec_prepared(PartitionsLock());
    deleted.intervals = static_cast<int64_t>(
        tx.exec_prepared(StateStatements().intervals_expire, before).affected_rows());
    deleted.downtimes = static_cast<int64_t>(
        tx.exec_prepared(StateStatements().downtimes_expire, before).affected_rows());
    tx.commit();
    return absl::OkStatus();
  }));
  return deleted;
}

absl::StatusOr<int> PgTelemetryStore::SettlePendingStates(absl::Time before,
                                                          absl::Time release_before) {
  PM_ASSIGN_OR_RETURN(LibpqPool::Lease lease, ingest_->Acquire());
  PGconn* conn = lease.conn();
  auto body = [&]() -> absl::StatusOr<int> {
    PM_RETURN_IF_ERROR(LibpqExec(conn, "BEGIN"));
    PM_ASSIGN_OR_RETURN(std::unique_ptr<LibpqResult> candidates,
                        ExecPrepared(conn, kStatePendingMachines, {}));
    std::map<std::string, MachineBatch> moved;
    for (int row = 0; row < PQntuples(candidates->get()); ++row) {
      moved.try_emplace(PQgetvalue(candidates->get(), row, 0));
    }
    std::set<std::string> pending;
    PM_ASSIGN_OR_RETURN(int settled, AdvanceMachines(conn, std::move(moved), &pending,
                                                     SettleTimes{before, release_before}));
    PM_RETURN_IF_ERROR(LibpqExec(conn, "COMMIT"));
    return settled;
  };
  absl::StatusOr<int> settled = body();
  if (!settled.ok() && PQstatus(conn) == CONNECTION_OK &&
      PQtransactionStatus(conn) != PQTRANS_IDLE) {
    PQclear(PQexec(conn, "ROLLBACK"));
  }
  if (!settled.ok()) return lease.Explain(settled.status());
  return settled;
}

// ==== Machine states (states.h) ====

absl::StatusOr<TimelineFacts> PgTelemetryStore::StateTimeline(const std::string& machine_id,
                                                              absl::Time start, absl::Time end,
                                                              std::optional<absl::Time> after_start,
                                                              int limit) {
  TimelineFacts facts;
  const std::optional<std::string> after =
      after_start ? std::optional<std::string>(Micros(*after_start)) : std::nullopt;
  const std::optional<std::string> rows =
      limit > 0 ? std::optional<std::string>(absl::StrCat(limit)) : std::nullopt;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    // One snapshot: a batch settling an interval between the two reads would otherwise
    // show it twice or not at all.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    facts = {};
    if (tx.exec_prepared(StateStatements().machine_exists, machine_id).empty()) {
      return MachineNotFound(machine_id);
    }
    for (const pqxx::row& r :
         tx.exec_prepared(StateStatements().intervals, machine_id, Micros(start), Micros(end),
                          OrNull(after), OrNull(rows))) {
      facts.closed.push_back({static_cast<MachineState>(r["state"].as<int>()),
                              absl::FromUnixMicros(r["start_time_us"].as<int64_t>()),
                              absl::FromUnixMicros(r["end_time_us"].as<int64_t>())});
    }
    pqxx::result tracker = tx.exec_prepared(StateStatements().tracker, machine_id);
    if (!tracker.empty() && !tracker[0][0].is_null()) {
      PM_ASSIGN_OR_RETURN(facts.tracker,
                          DecodeStoredTracker(machine_id, tracker[0][0].as<std::string>()));
    }
    tx.commit();
    return absl::OkStatus();
  }));
  return facts;
}

absl::Status PgTelemetryStore::PartCountObservations(const std::string& machine_id,
                                                     absl::Time start, absl::Time end,
                                                     const PartCountVisitor& visit) {
  // Pages of this many rows: a year of a counter sampled every second is 31.6 million.
  constexpr int kPageRows = 10000;
  bool visited = false;
  auto visit_once = [&](const std::string& item, const PartCountObservation& o) {
    visited = true;
    visit(item, o);
  };
  return Run([&](pqxx::connection& conn) -> absl::Status {
    // The pool re-runs a body whose connection broke; what was streamed cannot be taken
    // back, so the caller retries the whole read (UNAVAILABLE is retried by the SDK).
    if (visited) return absl::UnavailableError("reading part counts was interrupted; retry");
    // One snapshot for the baselines and every page.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(conn);
    if (tx.exec_prepared(StateStatements().machine_exists, machine_id).empty()) {
      return MachineNotFound(machine_id);
    }
    std::vector<std::string> items;
    for (const pqxx::row& r :
         tx.exec_prepared(StateStatements().part_count_items, machine_id, kTypePartCount)) {
      items.push_back(r[0].as<std::string>());
    }
    if (items.empty()) return absl::OkStatus();
    // Plans per call: only the range's partitions are planned.
    tx.exec_prepared(CustomPlans());
    auto observation = [](const pqxx::row& r) {
      Sample s;
      s.time = absl::FromUnixMicros(r["time_us"].as<int64_t>());
      s.kind = static_cast<ValueKind>(r["kind"].as<int>());
      if (!r["number"].is_null()) s.number = r["number"].as<double>();
      s.text = TextAt(r["text"]);
      return PartCountObservationOf(s);
    };
    // Each item's baseline: its newest count before the range, looked for a few rows at a
    // time (the newest row is a count but for text that is none, or a negative number).
    constexpr int kBaselineRows = 100;
    for (const std::string& item : items) {
      std::optional<std::string> before_time, before_key;
      for (bool found = false; !found;) {
        const pqxx::result rows =
            tx.exec_prepared(StateStatements().part_count_baseline, machine_id, item, Micros(start),
                             OrNull(before_time), OrNull(before_key), kBaselineRows);
        for (const pqxx::row& r : rows) {
          std::optional<PartCountObservation> o = observation(r);
          if (o && IsPartCount(*o)) {
            visit_once(item, *o);
            found = true;
            break;
          }
        }
        if (rows.size() < static_cast<size_t>(kBaselineRows)) break;
        before_time = rows.back()["time_us"].as<std::string>();
        before_key = rows.back()["sample_key"].as<std::string>();
      }
    }
    const std::string item_array = ArrayLiteral(items);
    std::optional<std::string> after_time, after_key;
    for (;;) {
      const pqxx::result page =
          tx.exec_prepared(StateStatements().part_counts, machine_id, item_array, Micros(start),
                           Micros(end), OrNull(after_time), OrNull(after_key), kPageRows);
      for (const pqxx::row& r : page) {
        if (std::optional<PartCountObservation> o = observation(r)) {
          visit_once(r["data_item_id"].as<std::string>(), *o);
        }
      }
      if (page.size() < static_cast<size_t>(kPageRows)) break;
      after_time = page.back()["time_us"].as<std::string>();
      after_key = page.back()["sample_key"].as<std::string>();
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<DowntimePage> PgTelemetryStore::ListDowntimes(const DowntimeQuery& query) {
  DowntimePage page;
  auto micros = [](const std::optional<absl::Time>& t) {
    return t ? std::optional<std::string>(Micros(*t)) : std::nullopt;
  };
  const std::optional<std::string> start = micros(query.start_time);
  const std::optional<std::string> end = micros(query.end_time);
  std::optional<std::string> after_time;
  std::optional<std::string> after_id;
  if (query.after) {
    after_time = Micros(query.after->sort_time);
    after_id = absl::StrCat(query.after->id);
  }
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::read_transaction tx(conn);
    page = {};
    for (const pqxx::row& r : tx.exec_prepared(
             StateStatements().downtimes, query.machine_id, OrNull(start), OrNull(end),
             query.without_reason, OrNull(after_time), OrNull(after_id), query.page_size + 1)) {
      page.downtimes.push_back(DowntimeAt(r));
    }
    if (page.downtimes.size() > static_cast<size_t>(query.page_size)) {
      page.downtimes.pop_back();
      page.more = true;
    }
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<Replayable<Downtime>> PgTelemetryStore::SetDowntimeReason(
    int64_t id, const DowntimeReason& reason, const ChangeContext& context,
    const ResponseEncoder<Downtime>& encode) {
  Replayable<Downtime> result;
  PM_RETURN_IF_ERROR(Run([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work tx(conn);
    result = {};
    PM_ASSIGN_OR_RETURN(std::optional<runtime::PgRequestLog::Entry> seen, Claim(tx, context));
    if (seen) {
      result.recorded_response = seen->response.value_or("");
      return absl::OkStatus();
    }
    pqxx::result rows = tx.exec_prepared(StateStatements().downtime_lock, id);
    if (rows.empty()) return DowntimeNotFound(id);
    const Downtime after =
        WithReason(DowntimeAt(rows[0]), reason, context.request.identity, context.now);
    tx.exec_prepared(StateStatements().downtime_reason, id, after.reason_code, after.comment,
                     after.reason_set_by, Micros(*after.reason_set_time));
    const runtime::OutboxEvent event =
        DowntimeOutboxEvent(after, kDowntimeReasonSet, *after.reason_set_time);
    tx.exec_prepared(StateStatements().outbox, event.event_id, pqxx::binarystring(event.payload));
    if (!context.request.request_id.empty()) {
      RequestLog().Record(tx, context.request, encode ? encode(after) : std::string(),
                          absl::StrCat("downtimes/", id));
    }
    WriteAudit(tx, context);
    tx.commit();
    MarkAudited(context);
    result.value = after;
    return absl::OkStatus();
  }));
  return result;
}

}  // namespace plantmesh::telemetry
