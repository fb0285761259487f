#include "server/runtime/request_log_pruner.h"

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {

RequestLogPruner::RequestLogPruner(PgPool* pool, std::vector<std::string> schemas,
                                   RequestLogPrunerOptions options)
    : pool_(pool), schemas_(std::move(schemas)), options_(options) {
  for (const std::string& schema : schemas_) {
    failures_.emplace_back(
        absl::StrCat("request log: expiring entries of ", schema, ".request_log"));
  }
}

RequestLogPruner::~RequestLogPruner() { Stop(); }

void RequestLogPruner::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void RequestLogPruner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> RequestLogPruner::RunOnce() {
  int64_t total = 0;
  absl::Status first_error;
  for (size_t i = 0; i < schemas_.size(); ++i) {
    const std::string& schema = schemas_[i];
    absl::StatusOr<int64_t> deleted = Prune(schema);
    failures_[i].Record(deleted.status(), options_.period);
    if (!deleted.ok()) {
      if (first_error.ok()) first_error = deleted.status();
      continue;
    }
    if (*deleted > 0) {
      spdlog::info("request log: deleted {} entries older than {} from {}.request_log", *deleted,
                   absl::FormatDuration(options_.retention), schema);
    }
    total += *deleted;
  }
  if (!first_error.ok()) return first_error;
  return total;
}

absl::StatusOr<int64_t> RequestLogPruner::Prune(const std::string& schema) {
  int64_t total = 0;
  const std::string retention_seconds = absl::StrCat(absl::ToInt64Seconds(options_.retention));
  const std::string batch_rows = absl::StrCat(options_.batch_rows);
  while (true) {
    int64_t deleted = 0;
    bool locked = true;
    PM_RETURN_IF_ERROR(pool_->Run([&](pqxx::connection& conn) -> absl::Status {
      pqxx::work tx(conn);
      const std::string table = absl::StrCat(tx.quote_name(schema), ".request_log");
      locked = tx.exec_params1("SELECT pg_try_advisory_xact_lock(hashtext($1))",
                               absl::StrCat(schema, ".request_log expiry"))[0]
                   .as<bool>();
      if (!locked) return absl::OkStatus();
      // Oldest first through request_log_create_time_idx; the key picks the rows.
      const pqxx::result rows = tx.exec_params(
          absl::StrCat("DELETE FROM ", table,
                       " WHERE (identity, method, request_id) IN (SELECT identity, method, "
                       "request_id FROM ",
                       table,
                       " WHERE create_time < now() - make_interval(secs => $1::float8) "
                       "ORDER BY create_time LIMIT $2::int8)"),
          retention_seconds, batch_rows);
      deleted = static_cast<int64_t>(rows.affected_rows());
      tx.commit();
      return absl::OkStatus();
    }));
    total += deleted;
    if (!locked || deleted < options_.batch_rows) return total;
    absl::MutexLock lock(&mu_);
    if (stop_) return total;
  }
}

void RequestLogPruner::Loop() {
  while (true) {
    (void)RunOnce();
    absl::MutexLock lock(&mu_);
    auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopped), options_.period)) return;
  }
}

}  // namespace plantmesh::runtime
