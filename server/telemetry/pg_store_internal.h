// Shared by the telemetry store's PostgreSQL files, and by nothing else: pg_store.cc
// (machines, ingest, samples, partitions), pg_store_states.cc (machine states and
// downtimes) and pg_store_rollups.cc (rollups, aggregates and the rollup job). Each file
// holds the SQL of its part; this header holds what they share.
#pragma once

#include <array>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/runtime/pg_request_log.h"
#include "server/runtime/pg_statements.h"
#include "server/telemetry/pg_store.h"
#include "server/telemetry/states.h"

// A timestamptz column read as microseconds since the epoch (exact: extract() is numeric).
#define PM_US(col) "(extract(epoch from " col ") * 1000000)::int8 AS " col "_us"
// Parameter $n (microseconds since the epoch, or NULL) as a timestamptz.
#define PM_TS(n) "(timestamptz 'epoch' + $" #n "::int8 * interval '1 microsecond')"

#define PM_MACHINE_COLUMNS                                                                    \
  "id, seq, display_name, line, zone, ideal_cycle_time_us, " PM_US("create_time") ", " PM_US( \
      "update_time") ", version"

// A sample's columns of table alias `t`, as stored.
#define PM_SAMPLE_COLUMNS_OF(t)                                                                   \
  t ".machine_id, " t ".data_item_id, " t ".time, " t ".sample_key, " t ".kind, " t ".number, " t \
    ".text, " t ".condition_level, " t ".native_code, " t ".message, " t ".source_sequence"
#define PM_SAMPLE_COLUMNS \
  "machine_id, data_item_id, " PM_US("time") ", sample_key, kind, number, text, "          \
                                             "condition_level, native_code, message, "     \
                                             "source_sequence"

#define PM_DOWNTIME_COLUMNS \
  "id, machine_id, state, " PM_US("start_time") ", " PM_US("end_time") ", reason_code, "     \
                                                 "comment, reason_set_by, " PM_US(           \
                                                     "reason_set_time")

namespace plantmesh::telemetry::pg_store_internal {

// ---- pg_store.cc ----
// The ingest connections' statement that adds an outbox event ($1 its id, $2 its bytes).
extern const char kIngestOutbox[];
const runtime::PgRequestLog& RequestLog();
// Sets plan_cache_mode to force_custom_plan for the transaction (the statements whose
// best plan depends on their parameters).
const runtime::PgStatement& CustomPlans();
// The lock that one replica at a time holds to create or drop partitions.
const runtime::PgStatement& PartitionsLock();
std::string Micros(absl::Time t);
// A PostgreSQL array literal of texts, each element quoted; nullopt elements are NULL.
std::string ArrayLiteral(const std::vector<std::optional<std::string>>& values);
std::string ArrayLiteral(const std::vector<std::string>& values);
// The elements of a PostgreSQL int8[] in its text form ("{5,6,7}"); none for NULL or
// anything else.
std::vector<int64_t> Int64ArrayOf(absl::string_view text);
std::string TextAt(const pqxx::field& f);
const char* OrNull(const std::optional<std::string>& value);
void WriteAudit(pqxx::transaction_base& tx, const ChangeContext& context);
void MarkAudited(const ChangeContext& context);
absl::StatusOr<std::optional<runtime::PgRequestLog::Entry>> Claim(pqxx::transaction_base& tx,
                                                                  const ChangeContext& context);

// ---- pg_store_states.cc ----
// The state trackers' statements of the ingest transaction (LibpqPool), and the reads'
// statements (the libpqxx pool).
std::vector<std::pair<std::string, std::string>> StateIngestStatements();
void PrepareStateStatements(pqxx::connection& conn);
// Locks the trackers of the machines a group of batches moves (in one order: no
// deadlock), and moves them by one batch's state samples.
absl::Status LockGroupTrackers(PGconn* conn, const std::vector<Batch>& batches,
                               const std::vector<size_t>& fresh,
                               const std::vector<BatchOutcome>& outcomes, const StateItems& items,
                               std::set<std::string> pending);
// `audit`: its clock and times. Returns the batch's late state samples
// (BatchOutcome::late_state_count).
absl::StatusOr<int> AdvanceStates(PGconn* conn, const Batch& batch,
                                  const std::vector<int>& accepted, const StateItems& items,
                                  std::set<std::string>* pending, const IngestAudit& audit);
// Records the state inputs an update of the machine withdrew in its tracker, in the
// update's transaction.
absl::Status RecordWithdrawnInputs(pqxx::work& tx, const std::string& machine_id,
                                   const std::vector<InputWithdrawal>& withdrawn);

// ---- pg_store_rollups.cc ----
// The ingest transaction's statement that records a group's batches as not rolled up
// yet, and its parameters: for each fresh batch that stored samples (at least one, each
// with a time: the judge saw to it) its number, how many and the range of their times
// (microseconds since the epoch), as four int8[] literals; nullopt when none stored any.
extern const char kIngestRollupPending[];
std::vector<std::pair<std::string, std::string>> RollupIngestStatements();
std::optional<std::array<std::string, 4>> RollupPendingParameters(
    const std::vector<Batch>& batches, const std::vector<size_t>& fresh,
    const std::vector<BatchOutcome>& outcomes);
// The minute rollups' partition of `day` (created with the samples' partition of that day).
std::string RollupPartitionDdl(absl::Time day);
// With the day's samples partition: its minute cells (their partition) and hour cells.
void DropRollupsOfDay(pqxx::transaction_base& tx, absl::Time day);
void PrepareAggregateStatements(pqxx::connection& conn);
// The oldest pending sample's time (`t0`, epoch µs; NULL when nothing is pending): where
// the rollups and latest_values are complete in a snapshot.
const runtime::PgStatement& RollupPendingFrom();

}  // namespace plantmesh::telemetry::pg_store_internal
