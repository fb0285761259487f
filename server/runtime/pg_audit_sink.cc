#include "server/runtime/pg_audit_sink.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/text_rules.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

constexpr char kCreateAuditLog[] = R"sql(
CREATE TABLE audit.audit_log (
  id bigserial PRIMARY KEY,
  time timestamptz NOT NULL,
  identity text NOT NULL,
  roles text[] NOT NULL,
  method text NOT NULL,
  trace_id text NOT NULL,
  status_code int NOT NULL,
  status_message text NOT NULL,
  request jsonb
);
-- Append-only and written in time order: BRIN keeps time-range queries cheap for a
-- fraction of a btree's cost on every insert.
CREATE INDEX audit_log_time ON audit.audit_log USING brin (time);
CREATE INDEX audit_log_identity ON audit.audit_log (identity, id);
)sql";

// The queue holds at most this many records and this many bytes of their text, so
// that its memory stays bounded however large the requests are.
constexpr size_t kQueueCapacity = 100000;
constexpr size_t kQueueByteCapacity = 64 * 1024 * 1024;
// Kept per record.
constexpr size_t kRequestJsonLimit = 8 * 1024;
constexpr size_t kStatusMessageLimit = 1024;
constexpr size_t kAuditBatchSize = 500;
constexpr auto kWriteInterval = std::chrono::milliseconds(100);
constexpr auto kRetryInterval = std::chrono::milliseconds(500);
constexpr auto kCloseFlushLimit = absl::Seconds(5);

// The UTF-8 sequence that starts at `at` if it is well formed, else 0.
size_t ValidSequenceAt(std::string_view s, size_t at) {
  const auto lead = static_cast<unsigned char>(s[at]);
  const size_t length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  if (at + length > s.size()) return 0;
  return IsValidUtf8(s.substr(at, length)) ? length : 0;
}

// PostgreSQL text holds neither NUL bytes nor invalid UTF-8: drop the NULs and put
// U+FFFD for each invalid byte rather than lose the record (or, in a change's
// transaction, the change).
std::string Text(std::string_view s) {
  const bool clean = s.find('\0') == std::string_view::npos && IsValidUtf8(s);
  if (clean) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t at = 0; at < s.size();) {
    if (s[at] == '\0') {
      ++at;
      continue;
    }
    const size_t length = ValidSequenceAt(s, at);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++at;
      continue;
    }
    out.append(s.substr(at, length));
    at += length;
  }
  return out;
}

std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += "\"";
    out += absl::StrReplaceAll(Text(items[i]), {{"\\", "\\\\"}, {"\"", "\\\""}});
    out += "\"";
  }
  return out + "}";
}

// Strings and keys of `value` without U+0000, which jsonb refuses.
nlohmann::json WithoutNul(const nlohmann::json& value) {
  const std::string nul(1, '\0');
  if (value.is_string()) return absl::StrReplaceAll(value.get<std::string>(), {{nul, ""}});
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(WithoutNul(item));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.items()) {
      out[absl::StrReplaceAll(key, {{nul, ""}})] = WithoutNul(item);
    }
    return out;
  }
  return value;
}

// The request as jsonb; text that is not JSON is kept as a JSON string, so one odd
// record cannot fail the batch (or the change) it is in.
std::string JsonOrEmpty(const std::string& s) {
  if (s.empty()) return s;
  // Checked without building the document (once per audited change: bench B5).
  if (!nlohmann::json::accept(s)) {
    return nlohmann::json(Text(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  // Printed JSON is valid UTF-8 already; only an escaped NUL is left to jsonb to refuse.
  if (s.find("\\u0000") == std::string::npos) return s;
  return WithoutNul(nlohmann::json::parse(s, nullptr, /*allow_exceptions=*/false))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Requests larger than kRequestJsonLimit are stored as
// {"truncated":true,"bytes":<original size>,"prefix":"<start of the JSON text>"},
// itself at most kRequestJsonLimit bytes and still valid JSON for the jsonb column.
std::string LimitRequestJson(std::string json) {
  if (json.size() <= kRequestJsonLimit) return json;
  size_t keep = kRequestJsonLimit - 64;
  for (;;) {
    // Cut on a UTF-8 character boundary (never before a continuation byte).
    while (keep > 0 && (static_cast<unsigned char>(json[keep]) & 0xC0) == 0x80) --keep;
    nlohmann::json wrapped = {
        {"truncated", true}, {"bytes", json.size()}, {"prefix", Text(json.substr(0, keep))}};
    std::string out = wrapped.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    // Escaping can grow the prefix (quotes, control bytes): shrink until it fits.
    if (out.size() <= kRequestJsonLimit || keep == 0) return out;
    keep /= 2;
  }
}

std::string LimitStatusMessage(std::string message) {
  if (message.size() <= kStatusMessageLimit) return message;
  size_t keep = kStatusMessageLimit;
  while (keep > 0 && (static_cast<unsigned char>(message[keep]) & 0xC0) == 0x80) --keep;
  std::string original_size = std::to_string(message.size());
  message.resize(keep);
  return absl::StrCat(message, "…(", original_size, " bytes)");
}

// The text a queued record holds (strings only; the fixed part is small).
size_t TextBytes(const AuditRecord& r) {
  size_t bytes = r.identity.size() + r.method.size() + r.trace_id.size() + r.status_message.size() +
                 r.request_json.size();
  for (const std::string& role : r.roles) bytes += role.size();
  return bytes;
}

absl::Status Insert(PgPool* pool, const std::vector<AuditRecord>& records) {
  if (records.empty()) return absl::OkStatus();
  std::string sql =
      "INSERT INTO audit.audit_log (time, identity, roles, method, trace_id, status_code,"
      " status_message, request) VALUES ";
  std::vector<std::string> params;
  params.reserve(records.size() * kAuditRowParams);
  for (size_t i = 0; i < records.size(); ++i) {
    int p = static_cast<int>(i) * kAuditRowParams;
    absl::StrAppend(&sql, i == 0 ? "" : ",", "($", p + 1, "::timestamptz,$", p + 2, ",$", p + 3,
                    "::text[],$", p + 4, ",$", p + 5, ",$", p + 6, "::int,$", p + 7, ",NULLIF($",
                    p + 8, ",'')::jsonb)");
    for (std::string& value : StorableAuditRow(records[i])) params.push_back(std::move(value));
  }
  return pool->Run([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    tx.commit();
    return absl::OkStatus();
  });
}

void LogLost(const AuditRecord& r, const absl::Status& why) {
  spdlog::error("audit record not stored ({}): identity={} method={} status={} trace_id={}",
                why.ToString(), r.identity, r.method, r.status_code, r.trace_id);
}

class PgAuditSink : public AuditSink {
 public:
  explicit PgAuditSink(PgPool* pool) : pool_(pool), writer_([this] { WriterLoop(); }) {}

  ~PgAuditSink() override {
    Flush(kCloseFlushLimit);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    writer_.join();
    for (const AuditRecord& r : queue_) LogLost(r, absl::UnavailableError("shut down"));
  }

  void Record(AuditRecord record) override {
    record.request_json = LimitRequestJson(std::move(record.request_json));
    record.status_message = LimitStatusMessage(std::move(record.status_message));
    const size_t bytes = TextBytes(record);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty() ||
          (queue_.size() < kQueueCapacity && queued_bytes_ + bytes <= kQueueByteCapacity)) {
        queued_bytes_ += bytes;
        queue_.push_back(std::move(record));
        ++enqueued_;
        if (queue_.size() >= kAuditBatchSize) wake_.notify_all();
        return;
      }
    }
    // The queue is full: the database has been behind for 100k records (or 64 MiB). Auditing every
    // change is the point of this log, so the caller waits for its own record to be
    // written rather than have it dropped; the backpressure also slows the flood.
    absl::Status status = Insert(pool_, {record});
    if (!status.ok()) LogLost(record, status);
  }

  void Flush(absl::Duration timeout) override {
    auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t target = enqueued_;
    flush_requested_ = true;
    wake_.notify_all();
    written_.wait_until(lock, deadline, [&] { return done_ >= target || stopping_; });
  }

 private:
  void WriterLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait_for(lock, kWriteInterval, [&] {
        return stopping_ || flush_requested_ || queue_.size() >= kAuditBatchSize;
      });
      if (stopping_) return;
      flush_requested_ = false;
      while (!queue_.empty() && !stopping_) {
        size_t n = std::min(queue_.size(), kAuditBatchSize);
        std::vector<AuditRecord> batch(std::make_move_iterator(queue_.begin()),
                                       std::make_move_iterator(queue_.begin() + n));
        queue_.erase(queue_.begin(), queue_.begin() + n);
        size_t batch_bytes = 0;
        for (const AuditRecord& r : batch) batch_bytes += TextBytes(r);
        queued_bytes_ -= batch_bytes;
        lock.unlock();
        absl::Status status = Write(batch);
        lock.lock();
        if (!status.ok()) {
          // The database is unreachable: keep the batch, in order, and try again.
          queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                        std::make_move_iterator(batch.end()));
          queued_bytes_ += batch_bytes;
          wake_.wait_for(lock, kRetryInterval, [&] { return stopping_; });
          continue;
        }
        done_ += n;
        written_.notify_all();
      }
    }
  }

  // OK once the batch is stored or found unstorable (logged); an error only when
  // PostgreSQL could not be reached, so the batch is worth retrying.
  absl::Status Write(const std::vector<AuditRecord>& batch) {
    absl::Status status = Insert(pool_, batch);
    if (status.ok() || absl::IsUnavailable(status) || absl::IsResourceExhausted(status)) {
      return status;
    }
    // Something in the batch was refused: store the records one by one so that a
    // single bad one costs only itself.
    for (const AuditRecord& r : batch) {
      absl::Status one = Insert(pool_, {r});
      if (absl::IsUnavailable(one) || absl::IsResourceExhausted(one)) return one;
      if (!one.ok()) LogLost(r, one);
    }
    return absl::OkStatus();
  }

  PgPool* pool_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable written_;
  std::deque<AuditRecord> queue_;
  size_t queued_bytes_ = 0;  // TextBytes of the records in queue_
  uint64_t enqueued_ = 0;    // records ever queued
  uint64_t done_ = 0;        // records ever written (or given up as unstorable)
  bool flush_requested_ = false;
  bool stopping_ = false;
  std::thread writer_;  // last: starts after the members it uses
};

}  // namespace

std::array<std::string, kAuditRowParams> StorableAuditRow(const AuditRecord& r) {
  return {absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", r.time, absl::UTCTimeZone()),
          Text(r.identity),
          ArrayLiteral(r.roles),
          Text(r.method),
          Text(r.trace_id),
          std::to_string(r.status_code),
          Text(LimitStatusMessage(r.status_message)),
          JsonOrEmpty(LimitRequestJson(r.request_json))};
}

std::string AuditRowSql(int first, std::string_view from) {
  auto p = [first](int i) { return absl::StrCat("$", first + i); };
  return absl::StrCat(
      "INSERT INTO audit.audit_log (time, identity, roles, method, trace_id, status_code, "
      "status_message, request) SELECT ",
      p(0), "::timestamptz, ", p(1), "::text, ", p(2), "::text[], ", p(3), "::text, ", p(4),
      "::text, ", p(5), "::int, ", p(6), "::text, NULLIF(", p(7), "::text, '')::jsonb",
      from.empty() ? "" : " FROM ", absl::string_view(from.data(), from.size()));
}

void WriteAuditInTransaction(pqxx::transaction_base& tx, const AuditRecord& record) {
  static const std::string* sql = new std::string(AuditRowSql(1));
  const std::array<std::string, kAuditRowParams> row = StorableAuditRow(record);
  tx.exec_params0(*sql, pqxx::prepare::make_dynamic_params(row));
}

// This database's PlantMesh installation: an id made once and kept by pg_dump and
// pg_restore, by which a Redis knows whose events and caches it holds (redis_owner.h).
// In the audit schema because every server migrates it, whatever services it hosts.
constexpr char kCreateInstallation[] = R"sql(
CREATE TABLE audit.installation (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  create_time timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit.installation DEFAULT VALUES;
)sql";

const std::vector<Migration>& AuditMigrations() {
  static const std::vector<Migration> migrations = {
      {1, "0001_create_audit_log.sql", kCreateAuditLog},
      {2, "0002_installation.sql", kCreateInstallation},
  };
  return migrations;
}

std::unique_ptr<AuditSink> MakePgAuditSink(PgPool* pool) {
  return std::make_unique<PgAuditSink>(pool);
}

}  // namespace plantmesh::runtime
