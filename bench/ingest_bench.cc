// plantmesh-ingest: telemetry ingest throughput (bench B1, B2, B3, B11; see bench/README.md).
//
// One run: registers the bench machines (idempotent), empties telemetry.samples, then
// for `--duration` seconds adds samples to `--writers` SDK TelemetryBatchWriters (batches
// of `--batch` samples) and closes them; the rate is the samples acknowledged over the
// time from the first Add to the last Close and the server's rollup job having rolled up
// every acknowledged batch (its work is part of ingest). With --copy-ceiling it then empties the
// table again and writes the same rows with one raw binary COPY (libpq PQputCopyData)
// into the same table: the ceiling the service's ingest is compared to. CPU-seconds of
// each process (the server, this load generator, every PostgreSQL process) are read
// from /proc around each phase. Prints one JSON object.
//
// With --tails N (B11) it first opens N live tails (StreamSamples, over the same
// credentials) and waits until every tail's current values are complete, then runs the
// same ingest; each sample a tail reads is matched to its batch, and its latency is the
// receipt time minus the time the writer read the batch's acknowledgement (which the
// server sends after the commit): "commit to screen". Every sample must reach every
// tail that shows its machine: one missed, a tail ended early, or a sample on a tail
// that does not show its machine fails the run (the JSON is printed all the same).
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <libpq-fe.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/tail_ledger.h"
#include "cli/command_suggestions.h"
#include "cli/number_check.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/mutex_settings.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/sdk/telemetry_batch_writer.h"
#include "plantmesh/telemetry/v1/telemetry_service.grpc.pb.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"

namespace plantmesh::bench {
namespace {

namespace v1 = ::plantmesh::telemetry::v1;

struct Flags {
  sdk::ClientOptions client;
  std::string postgres_url;
  int server_pid = 0;
  int postmaster_pid = 0;
  int batch = 500;
  int writers = 2;
  int in_flight = 0;              // 0: the SDK's default window
  int64_t samples_in_flight = 0;  // 0: the SDK's default window
  int machines = 200;             // the plant of ARCHITECTURE.md: 200 machines x 20 data items
  int items = 20;
  double duration_s = 10;
  bool copy_ceiling = false;
  std::string label;
  // B11: live tails while the ingest runs.
  int tails = 0;
  int tail_machines = 4;
  int tails_per_connection = 1;
};

// ---- CPU time from /proc ----

double TicksToSeconds(uint64_t ticks) {
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// utime + stime (all threads) and the parent of process `pid`; false when it is gone.
bool ReadStat(int pid, uint64_t* ticks, int* ppid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(in, line)) return false;
  // The command name is in parentheses and may hold spaces: fields count from after it.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  if (fields.size() < 13) return false;  // fields[0] is stat field 3 (state)
  *ppid = std::stoi(fields[1]);
  *ticks = std::stoull(fields[11]) + std::stoull(fields[12]);  // utime, stime
  return true;
}

// -1 for a process that is not there (ended, or never given).
double CpuOf(int pid) {
  uint64_t ticks = 0;
  int ppid = 0;
  return pid > 0 && ReadStat(pid, &ticks, &ppid) ? TicksToSeconds(ticks) : -1;
}

// The postmaster and every process it started (backends, walwriter, checkpointer...).
// A backend that exits during a phase takes its CPU time with it: the server's and
// this program's connections stay open for the whole phase.
double PostgresCpu(int postmaster) {
  if (postmaster <= 0) return -1;
  double total = CpuOf(postmaster);
  if (total < 0) return -1;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return total;
  while (dirent* entry = readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    uint64_t ticks = 0;
    int ppid = 0;
    if (ReadStat(pid, &ticks, &ppid) && ppid == postmaster) total += TicksToSeconds(ticks);
  }
  closedir(proc);
  return total;
}

struct Cpu {
  double server = 0, loadgen = 0, postgres = 0;
};
Cpu CpuNow(const Flags& f) {
  return Cpu{CpuOf(f.server_pid), CpuOf(getpid()), PostgresCpu(f.postmaster_pid)};
}
// A process not there at either end (not given, or ended during the run: a server
// killed and restarted has another pid) has no figure: null (outside testing: a server
// restarted mid-run was reported with -0.08 s).
nlohmann::json CpuSpent(const Cpu& a, const Cpu& b) {
  auto spent = [](double start, double end) -> nlohmann::json {
    if (start < 0 || end < 0 || end < start) return nullptr;
    return end - start;
  };
  return {{"server", spent(a.server, b.server)},
          {"loadgen", spent(a.loadgen, b.loadgen)},
          {"postgres", spent(a.postgres, b.postgres)}};
}

// ---- the samples: n = 0, 1, 2, ... ----

std::string MachineId(int m) { return absl::StrCat("BENCH-M", 1000 + m); }
std::string ItemId(int i) { return absl::StrCat("i", 10 + i); }

struct Rows {
  absl::Time base;  // sample n's time is base + n microseconds
  int machines, items;
  int machine_of(int64_t n) const { return static_cast<int>(n % machines); }
  int item_of(int64_t n) const { return static_cast<int>((n / machines) % items); }
};

int64_t NowNanos() { return absl::ToUnixNanos(absl::Now()); }

// ---- acknowledgement times: the writer's stream, timed ----

using IngestStream = sdk::ReadWriteStream<v1::IngestSamplesRequest, v1::IngestSamplesResponse>;

// The batch writer's IngestSamples stream, noting each batch as it is written and the
// moment its answer is read, on the writer's reading thread (the server answers after
// the commit). Costs a vector of the batch's sample numbers per batch.
class TimedIngestStream final : public IngestStream {
 public:
  TimedIngestStream(std::unique_ptr<IngestStream> inner, AckLog* log)
      : inner_(std::move(inner)), log_(log) {}

  bool Write(const v1::IngestSamplesRequest& batch) override {
    std::vector<int64_t> samples;
    samples.reserve(static_cast<size_t>(batch.samples_size()));
    for (const v1::Sample& sample : batch.samples()) {
      samples.push_back(static_cast<int64_t>(sample.source_sequence()) - 1);  // n
    }
    // Before the write: the answer may come before Write returns.
    log_->Written(batch.batch_sequence(), std::move(samples), NowNanos());
    return inner_->Write(batch);
  }
  bool WritesDone() override { return inner_->WritesDone(); }
  bool Next(v1::IngestSamplesResponse* out) override {
    if (!inner_->Next(out)) return false;
    log_->Acknowledged(out->batch_sequence(), NowNanos());
    return true;
  }
  absl::Status Finish() override { return inner_->Finish(); }
  void Cancel() override { inner_->Cancel(); }

 private:
  std::unique_ptr<IngestStream> inner_;
  AckLog* log_;
};

class TimedConnection final : public sdk::TelemetryConnection {
 public:
  TimedConnection(std::shared_ptr<sdk::TelemetryConnection> inner, AckLog* log)
      : inner_(std::move(inner)), log_(log) {}
  std::unique_ptr<IngestStream> IngestSamples(const sdk::CallOptions& call_options) override {
    return std::make_unique<TimedIngestStream>(inner_->IngestSamples(call_options), log_);
  }

 private:
  std::shared_ptr<sdk::TelemetryConnection> inner_;
  AckLog* log_;
};

// A batch writer as TelemetryBatchWriter::Create(ClientOptions) makes it (its own
// channel, no gRPC retry policy), over a timed connection. Every run uses it, so B1 and
// B11 measure the same writer.
absl::StatusOr<std::unique_ptr<sdk::TelemetryBatchWriter>> TimedWriter(
    const sdk::ClientOptions& client, sdk::TelemetryBatchWriterOptions options, AckLog* log) {
  sdk::ClientOptions own = client;
  own.retry.max_attempts = 1;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(own);
  if (!channel.ok()) return channel.status();
  auto connection =
      std::make_shared<TimedConnection>(sdk::MakeTelemetryConnection(*channel, own), log);
  return sdk::TelemetryBatchWriter::Create(sdk::TelemetryClient(std::move(connection)),
                                           std::move(options));
}

// ---- live tails (B11) ----

// When a tail message's event entered the Redis stream (ns): its cursor is
// "<generation>.<ms>-<seq>", the entry id Redis gave the relay's XADD from its own
// clock (same host). -1 when the cursor has no such form.
int64_t PublishedAt(const std::string& cursor) {
  const size_t dot = cursor.rfind('.');
  const size_t dash = cursor.rfind('-');
  int64_t ms = 0;
  if (dot == std::string::npos || dash == std::string::npos || dash <= dot + 1 ||
      !absl::SimpleAtoi(absl::string_view(cursor).substr(dot + 1, dash - dot - 1), &ms)) {
    return -1;
  }
  return ms * 1000000;
}

// One StreamSamples tail (a callback reactor: the client holds no thread per tail).
// After its current values it keeps, per message, the run numbers of the samples and
// the receipt time; a sample whose time is not its run number's (an earlier run's
// event still on its way) counts as foreign.
class TailReader final : public grpc::ClientReadReactor<v1::StreamSamplesResponse> {
 public:
  TailReader(std::vector<std::string> machine_ids, int64_t base_micros)
      : base_micros_(base_micros) {
    for (std::string& id : machine_ids) request_.add_machine_ids(std::move(id));
  }

  void Start(v1::TelemetryService::Stub* stub) {
    stub->async()->StreamSamples(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const int64_t at = NowNanos();
    if (response_.current_values()) {
      if (response_.current_values_complete()) {
        absl::MutexLock lock(&mu_);
        complete_ = true;
      }
    } else {
      absl::MutexLock lock(&mu_);
      for (const v1::Sample& sample : response_.samples()) {
        const int64_t n = static_cast<int64_t>(sample.source_sequence()) - 1;
        const int64_t micros = sample.time().seconds() * 1000000 + sample.time().nanos() / 1000;
        if (n < 0 || micros != base_micros_ + n) {
          ++receipts_.foreign;
          continue;
        }
        receipts_.Add(n);
      }
      receipts_.EndMessage(at, PublishedAt(response_.cursor()));
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
    status_ = status;
  }

  void Cancel() { context_.TryCancel(); }
  bool AwaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  // The current values are complete (true), or the tail ended before (false, `*end`).
  bool Ready(grpc::Status* end) {
    absl::MutexLock lock(&mu_);
    if (done_) *end = status_;
    return complete_;
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  size_t received() {
    absl::MutexLock lock(&mu_);
    return receipts_.samples.size();
  }
  TailReceipts TakeReceipts() {
    absl::MutexLock lock(&mu_);
    return std::move(receipts_);
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  const int64_t base_micros_;
  grpc::ClientContext context_;
  v1::StreamSamplesRequest request_;  // no cursor: current values first
  v1::StreamSamplesResponse response_;
  absl::Mutex mu_;
  TailReceipts receipts_ ABSL_GUARDED_BY(mu_);
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// The screens. What a plant's screens look like: an operator tends a cell of a few
// machines (--tail-machines, 4), and each machine's panel shows its whole cell (every
// data item), so a screen per machine puts every machine on 4 screens; 200 tails for
// the 200 machines of ARCHITECTURE.md's plant cover all of them. Each tail is its own
// connection by default (--tails-per-connection 1): screens are separate devices.
// Cancels every tail when it goes.
class Tails {
 public:
  ~Tails() {
    for (auto& reader : readers_) reader->Cancel();
    for (auto& reader : readers_) {
      // A reactor gRPC still holds must outlive its call: never freed before OnDone.
      if (!reader->AwaitDone(absl::Seconds(30))) reader.release();
    }
  }

  absl::Status Open(const Flags& f, int64_t base_micros) {
    const int connections =
        std::max(1, (f.tails + f.tails_per_connection - 1) / f.tails_per_connection);
    for (int c = 0; c < connections; ++c) {
      sdk::ClientOptions options = f.client;
      options.private_connection_pool = true;
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(options);
      if (!channel.ok()) return channel.status();
      stubs_.push_back(v1::TelemetryService::NewStub(*channel));
    }
    for (int t = 0; t < f.tails; ++t) {
      machines_.push_back(TailMachines(t, f.machines, f.tail_machines));
      std::vector<std::string> ids;
      for (int m : machines_.back()) ids.push_back(MachineId(m));
      readers_.push_back(std::make_unique<TailReader>(std::move(ids), base_micros));
      readers_.back()->Start(stubs_[static_cast<size_t>(t % connections)].get());
    }
    // Every screen complete before the measured phase.
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (true) {
      size_t ready = 0;
      for (auto& reader : readers_) {
        grpc::Status end;
        if (reader->Ready(&end)) {
          ++ready;
        } else if (reader->done()) {
          return absl::UnavailableError(absl::StrCat(
              "a tail ended before its current values were complete: ", end.error_message()));
        }
      }
      if (ready == readers_.size()) return absl::OkStatus();
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "only ", ready, " of ", readers_.size(), " tails had their current values in 120 s"));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }

  // Waits until every tail read as many samples as it should show (`ack_at`: every
  // acknowledged sample), or one ended, or 30 s passed; then ends them all. Returns the
  // time waited.
  absl::Duration Settle(const std::vector<int64_t>& ack_at, const Rows& rows) {
    const std::vector<int64_t> per_machine = ExpectedPerMachine(
        ack_at, rows.machines, [&rows](int64_t n) { return rows.machine_of(n); });
    std::vector<int64_t> expected;
    for (const std::vector<int>& shown : machines_) {
      int64_t sum = 0;
      for (int m : shown) sum += per_machine[static_cast<size_t>(m)];
      expected.push_back(sum);
    }
    const absl::Time from = absl::Now();
    const absl::Time deadline = from + absl::Seconds(30);
    while (absl::Now() < deadline) {
      bool all = true;
      for (size_t t = 0; t < readers_.size() && all; ++t) {
        all = readers_[t]->done() || static_cast<int64_t>(readers_[t]->received()) >= expected[t];
      }
      if (all) break;
      absl::SleepFor(absl::Milliseconds(10));
    }
    const absl::Duration waited = absl::Now() - from;
    for (auto& reader : readers_) reader->Cancel();
    for (auto& reader : readers_) {
      reader->AwaitDone(absl::Seconds(30));
      receipts_.push_back(reader->TakeReceipts());
      const grpc::Status status = reader->status();
      if (status.error_code() != grpc::StatusCode::CANCELLED && ended_early_++ == 0) {
        first_end_ = absl::StrCat(status.error_code(), " ", status.error_message());
      }
    }
    return waited;
  }

  // After Settle: every receipt against its batch's acknowledgement (`ack_at`, which
  // also says what each tail should have shown) and, when `commit_at` is not empty,
  // against its batch's commit. `start`: the ingest's start (ns), for the receipt rate.
  // `*failed`: a tail missed a sample, read one it should not show, or ended early.
  nlohmann::json Account(const std::vector<int64_t>& ack_at, const std::vector<int64_t>& commit_at,
                         const Rows& rows, int64_t start, bool* failed) const {
    auto machine_of = [&rows](int64_t n) { return rows.machine_of(n); };
    const TailFigures acked = AccountTails(ack_at, machines_, receipts_, machine_of);
    auto ms = [](int64_t nanos) { return static_cast<double>(nanos) / 1e6; };
    auto percentiles = [&ms](const LatencyHistogram& h) {
      return nlohmann::json{{"p50", ms(h.ValueAtPercentile(50))},
                            {"p95", ms(h.ValueAtPercentile(95))},
                            {"p99", ms(h.ValueAtPercentile(99))},
                            {"max", ms(h.max())},
                            {"mean", h.mean() / 1e6}};
    };
    const double window_s =
        acked.last_receipt > start ? static_cast<double>(acked.last_receipt - start) / 1e9 : 0;
    *failed = acked.missed != 0 || ended_early_ != 0 || acked.unexpected != 0;
    // Change messages read (the server sends a tail the batches waiting for it in one).
    size_t messages = 0;
    for (const TailReceipts& tail : receipts_) messages += tail.messages.size();
    nlohmann::json out = {
        {"tails", readers_.size()},
        {"machines_per_tail", machines_.empty() ? 0 : machines_.front().size()},
        {"connections", stubs_.size()},
        {"expected", acked.expected},
        {"receipts", acked.receipts},
        {"receipts_per_second", window_s > 0 ? static_cast<double>(acked.receipts) / window_s : 0},
        {"messages", messages},
        {"missed", acked.missed},
        {"duplicates", acked.duplicates},
        {"unexpected", acked.unexpected},
        {"foreign", acked.foreign},
        {"ended_early", ended_early_},
        {"ack_to_screen_ms", percentiles(acked.latency)},
        // Receipts read before the writer read their batch's acknowledgement (counted
        // 0 above), and how much later the acknowledgement came.
        {"before_ack", acked.early},
        {"ack_after_receipt_ms", percentiles(acked.early_by)},
    };
    if (!commit_at.empty()) {
      const TailFigures committed = AccountTails(commit_at, machines_, receipts_, machine_of);
      out["commit_to_screen_ms"] = percentiles(committed.latency);
      // The same in two: commit -> the event in Redis (the outbox relay), Redis -> screen
      // (event hub, filter, write, this client). Millisecond entry ids: each within 1 ms.
      out["commit_to_published_ms"] = percentiles(committed.to_published);
      out["published_to_screen_ms"] = percentiles(committed.from_published);
      // Receipts stamped before their commit timestamp: only clock granularity (the
      // commit timestamp is taken before the commit's WAL flush, so never later).
      out["before_commit"] = committed.early;
    }
    if (!first_end_.empty()) out["first_early_end"] = first_end_;
    return out;
  }

 private:
  std::vector<std::unique_ptr<v1::TelemetryService::Stub>> stubs_;
  std::vector<std::vector<int>> machines_;
  std::vector<std::unique_ptr<TailReader>> readers_;
  // Settle's.
  std::vector<TailReceipts> receipts_;
  int ended_early_ = 0;
  std::string first_end_;
};

// ---- PostgreSQL ----

struct PgDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Pg = std::unique_ptr<PGconn, PgDeleter>;

absl::Status Exec(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(r);
  const std::string error = PQresultErrorMessage(r);
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(absl::StrCat(sql, ": ", error));
  }
  return absl::OkStatus();
}

int64_t Count(PGconn* conn, const char* table = "telemetry.samples") {
  PGresult* r = PQexec(conn, absl::StrCat("SELECT count(*) FROM ", table).c_str());
  int64_t n = PQresultStatus(r) == PGRES_TUPLES_OK ? std::stoll(PQgetvalue(r, 0, 0)) : -1;
  PQclear(r);
  return n;
}

// The commit time (Unix ns) of every stored sample n (source_sequence n + 1), from
// PostgreSQL's commit timestamp of the transaction that wrote its row (needs
// track_commit_timestamp = on, which bench/run sets); -1 for the n not stored.
absl::StatusOr<std::vector<int64_t>> CommitTimes(PGconn* conn) {
  PGresult* r = PQexec(conn,
                       "SELECT source_sequence - 1, (extract(epoch FROM "
                       "pg_xact_commit_timestamp(xmin)) * 1000000)::int8 FROM telemetry.samples");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    const std::string error = PQresultErrorMessage(r);
    PQclear(r);
    return absl::FailedPreconditionError(absl::StrCat("commit timestamps: ", error));
  }
  std::vector<int64_t> commit_at;
  for (int row = 0; row < PQntuples(r); ++row) {
    if (PQgetisnull(r, row, 0) || PQgetisnull(r, row, 1)) continue;
    const int64_t n = std::stoll(PQgetvalue(r, row, 0));
    if (n < 0) continue;
    if (static_cast<size_t>(n) >= commit_at.size())
      commit_at.resize(static_cast<size_t>(n) + 1, -1);
    commit_at[static_cast<size_t>(n)] = std::stoll(PQgetvalue(r, row, 1)) * 1000;
  }
  PQclear(r);
  return commit_at;
}

// Binary COPY encoding (PostgreSQL's documented format, network byte order).
void Put16(std::string& b, uint16_t v) {
  b.push_back(static_cast<char>(v >> 8));
  b.push_back(static_cast<char>(v));
}
void Put32(std::string& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>(v >> s));
}
void Put64(std::string& b, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) b.push_back(static_cast<char>(v >> s));
}
void PutText(std::string& b, const std::string& s) {
  Put32(b, static_cast<uint32_t>(s.size()));
  b += s;
}

// The same rows the writers sent, one binary COPY into the same table.
absl::Status CopyRows(PGconn* conn, const Rows& rows, int64_t count,
                      const std::vector<std::string>& machine_ids,
                      const std::vector<std::string>& item_ids) {
  PGresult* r = PQexec(conn,
                       "COPY telemetry.samples (machine_id, data_item_id, time, sample_key, kind, "
                       "number, source_sequence) FROM STDIN WITH (FORMAT binary)");
  const bool started = PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  if (!started) return absl::InternalError(absl::StrCat("COPY: ", PQerrorMessage(conn)));
  // PostgreSQL's epoch is 2000-01-01.
  const int64_t pg_epoch_us = 946684800LL * 1000000;
  const int64_t base_us = absl::ToUnixMicros(rows.base) - pg_epoch_us;
  std::string buffer("PGCOPY\n\xff\r\n\0", 11);
  Put32(buffer, 0);
  Put32(buffer, 0);
  for (int64_t n = 0; n < count; ++n) {
    Put16(buffer, 7);
    PutText(buffer, machine_ids[static_cast<size_t>(rows.machine_of(n))]);
    PutText(buffer, item_ids[static_cast<size_t>(rows.item_of(n))]);
    Put32(buffer, 8);
    Put64(buffer, static_cast<uint64_t>(base_us + n));
    Put32(buffer, 8);
    Put64(buffer, static_cast<uint64_t>(n));  // sample_key: unique, as the service's
    Put32(buffer, 2);
    Put16(buffer, 1);  // kind: number
    Put32(buffer, 8);
    const double value = static_cast<double>(n);
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    Put64(buffer, bits);
    Put32(buffer, 8);
    Put64(buffer, static_cast<uint64_t>(n + 1));
    if (buffer.size() >= 256 * 1024 || n + 1 == count) {
      if (n + 1 == count) Put16(buffer, 0xFFFF);  // trailer
      if (PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) != 1) {
        return absl::InternalError(absl::StrCat("PQputCopyData: ", PQerrorMessage(conn)));
      }
      buffer.clear();
    }
  }
  if (PQputCopyEnd(conn, nullptr) != 1) {
    return absl::InternalError(absl::StrCat("PQputCopyEnd: ", PQerrorMessage(conn)));
  }
  absl::Status status;
  while (PGresult* end = PQgetResult(conn)) {
    if (PQresultStatus(end) != PGRES_COMMAND_OK) {
      status = absl::InternalError(absl::StrCat("COPY: ", PQresultErrorMessage(end)));
    }
    PQclear(end);
  }
  return status;
}

// ---- the run ----

absl::Status RegisterMachines(const Flags& f) {
  absl::StatusOr<sdk::TelemetryClient> client = sdk::TelemetryClient::Connect(f.client);
  if (!client.ok()) return client.status();
  for (int m = 0; m < f.machines; ++m) {
    v1::RegisterMachineRequest request;
    request.set_request_id(absl::StrCat("bench-register-", MachineId(m), "-", f.items));
    request.mutable_machine()->set_id(MachineId(m));
    for (int i = 0; i < f.items; ++i) {
      v1::DataItem* item = request.mutable_machine()->add_data_items();
      item->set_id(ItemId(i));
      item->set_category(v1::DATA_ITEM_CATEGORY_SAMPLE);
      item->set_type(v1::DATA_ITEM_TYPE_OTHER);
    }
    absl::StatusOr<v1::RegisterMachineResponse> r = client->RegisterMachine(request);
    if (!r.ok() && r.status().code() != absl::StatusCode::kAlreadyExists) return r.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<nlohmann::json> Run(const Flags& f) {
  Pg pg(PQconnectdb(f.postgres_url.c_str()));
  if (PQstatus(pg.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL: ", PQerrorMessage(pg.get())));
  }
  // Outside testing: pointed at a plant's database, it emptied every machine's samples.
  // It empties only a database whose machines are all its own.
  {
    PGresult* r =
        PQexec(pg.get(), "SELECT id FROM telemetry.machines WHERE id NOT LIKE 'BENCH-M%' LIMIT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      const std::string error = PQresultErrorMessage(r);
      PQclear(r);
      return absl::FailedPreconditionError(
          absl::StrCat("--postgres-url: not a PlantMesh telemetry database: ", error));
    }
    const std::string machine = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    if (!machine.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--postgres-url: the database holds machine '", machine,
          "', which is not the benchmark's (BENCH-M*): plantmesh-ingest empties "
          "telemetry.samples and the rollups of the database it is given, so it takes only a "
          "database of its own (bench/run makes one)"));
    }
  }
  if (absl::Status s = RegisterMachines(f); !s.ok()) return s;
  // Rollups too: every run's rollup job starts from empty cells.
  if (absl::Status s = Exec(pg.get(),
                            "TRUNCATE telemetry.samples, telemetry.rollup_pending, "
                            "telemetry.rollup_minutes, telemetry.rollup_hours");
      !s.ok()) {
    return s;
  }

  std::vector<std::string> machine_ids, item_ids;
  for (int m = 0; m < f.machines; ++m) machine_ids.push_back(MachineId(m));
  for (int i = 0; i < f.items; ++i) item_ids.push_back(ItemId(i));
  Rows rows{absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Hours(2))), f.machines,
            f.items};

  // One acknowledgement log per writer (batch sequences are per writer); they outlive
  // the writers, whose threads write to them.
  std::vector<std::unique_ptr<AckLog>> ack_logs;
  std::vector<std::unique_ptr<sdk::TelemetryBatchWriter>> writers;
  for (int w = 0; w < f.writers; ++w) {
    sdk::TelemetryBatchWriterOptions options;
    options.writer_id = absl::StrCat("bench-", f.label, "-", w);
    options.max_batch_samples = f.batch;
    if (f.in_flight > 0) options.max_batches_in_flight = f.in_flight;
    if (f.samples_in_flight > 0) options.max_samples_in_flight = f.samples_in_flight;
    // A buffer of a few windows: Add keeps pace with the acknowledgements, so Close
    // waits for little and the rate is the steady state's.
    const int64_t window = std::max<int64_t>(
        f.batch, std::min<int64_t>(int64_t{f.batch} * options.max_batches_in_flight,
                                   options.max_samples_in_flight));
    options.max_buffered_samples = 4 * window;
    options.block_timeout = absl::Minutes(1);
    ack_logs.push_back(std::make_unique<AckLog>());
    absl::StatusOr<std::unique_ptr<sdk::TelemetryBatchWriter>> writer =
        TimedWriter(f.client, std::move(options), ack_logs.back().get());
    if (!writer.ok()) return writer.status();
    writers.push_back(*std::move(writer));
  }

  // B11: the screens, complete before the measured phase.
  Tails tails;
  if (f.tails > 0) {
    if (absl::Status s = tails.Open(f, absl::ToUnixMicros(rows.base)); !s.ok()) return s;
  }

  // Writer w adds samples n = w, w + writers, ... (each writer a share of the machines).
  const Cpu cpu_start = CpuNow(f);
  const absl::Time start = absl::Now();
  const absl::Time stop = start + absl::Seconds(f.duration_s);
  std::vector<int64_t> added(static_cast<size_t>(f.writers), 0);
  std::vector<absl::Status> errors(static_cast<size_t>(f.writers));
  std::vector<std::thread> producers;
  for (int w = 0; w < f.writers; ++w) {
    producers.emplace_back([&, w] {
      const int64_t micros0 = absl::ToUnixMicros(rows.base);
      v1::Sample sample;
      int64_t n = w;
      for (int64_t i = 0;; ++i, n += f.writers) {
        if ((i & 255) == 0 && absl::Now() >= stop) break;
        sample.set_machine_id(machine_ids[static_cast<size_t>(rows.machine_of(n))]);
        sample.set_data_item_id(item_ids[static_cast<size_t>(rows.item_of(n))]);
        const int64_t micros = micros0 + n;
        sample.mutable_time()->set_seconds(micros / 1000000);
        sample.mutable_time()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
        sample.set_number(static_cast<double>(n));
        sample.set_source_sequence(static_cast<uint64_t>(n + 1));
        absl::Status s = writers[static_cast<size_t>(w)]->Add(sample);
        if (!s.ok()) {
          errors[static_cast<size_t>(w)] = s;
          break;
        }
        ++added[static_cast<size_t>(w)];
      }
      absl::Status closed = writers[static_cast<size_t>(w)]->Close(absl::Now() + absl::Minutes(2));
      if (errors[static_cast<size_t>(w)].ok()) errors[static_cast<size_t>(w)] = closed;
    });
  }
  for (std::thread& t : producers) t.join();
  const absl::Duration acknowledged_after = absl::Now() - start;
  // The work ingest leaves to the server's rollup job is part of the ingest: the phase
  // ends when every acknowledged batch is also rolled up (polled every 10 ms).
  int64_t pending_at_close = Count(pg.get(), "telemetry.rollup_pending");
  for (int64_t pending = pending_at_close; pending != 0;
       pending = Count(pg.get(), "telemetry.rollup_pending")) {
    if (pending < 0 || absl::Now() - start > acknowledged_after + absl::Minutes(2)) {
      return absl::DeadlineExceededError(
          absl::StrCat("the rollup job did not catch up: ", pending, " batches pending"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration elapsed = absl::Now() - start;
  const Cpu cpu_end = CpuNow(f);
  int64_t accepted = 0, duplicate = 0, acknowledged = 0, total_added = 0;
  for (size_t w = 0; w < writers.size(); ++w) {
    if (!errors[w].ok()) return errors[w];
    const sdk::TelemetryBatchWriterStats s = writers[w]->Stats();
    accepted += s.samples_accepted;
    // A batch committed whose answer was lost (the server killed, a connection closed) is
    // re-sent and answered as duplicate: stored once, acknowledged once.
    duplicate += s.samples_duplicate;
    acknowledged += s.samples_acknowledged();
    total_added += added[w];
  }
  const int64_t stored = Count(pg.get());
  const double rate = static_cast<double>(acknowledged) / absl::ToDoubleSeconds(elapsed);
  nlohmann::json tail_figures;
  bool tails_failed = false;
  if (f.tails > 0) {
    std::vector<int64_t> ack_at;
    for (const auto& log : ack_logs) log->Fill(&ack_at);
    const absl::Duration settle = tails.Settle(ack_at, rows);
    absl::StatusOr<std::vector<int64_t>> commit_at = CommitTimes(pg.get());
    tail_figures = tails.Account(ack_at, commit_at.ok() ? *commit_at : std::vector<int64_t>(), rows,
                                 absl::ToUnixNanos(start), &tails_failed);
    tail_figures["settle_s"] = absl::ToDoubleSeconds(settle);
    if (!commit_at.ok()) tail_figures["commit_times"] = commit_at.status().ToString();
  }
  nlohmann::json out = {
      {"label", f.label},
      {"endpoint", f.client.endpoint},
      {"tls", !f.client.insecure},
      {"batch", f.batch},
      {"writers", f.writers},
      {"in_flight", f.in_flight},
      {"samples_in_flight", f.samples_in_flight},
      {"samples", acknowledged},
      {"accepted", accepted},
      {"duplicate", duplicate},
      {"stored", stored},
      {"elapsed_s", absl::ToDoubleSeconds(elapsed)},
      {"acknowledged_after_s", absl::ToDoubleSeconds(acknowledged_after)},
      {"rollup_pending_at_close", pending_at_close},
      {"samples_per_second", rate},
      {"cpu_s", CpuSpent(cpu_start, cpu_end)},
  };
  // Per batch, from its write to its answer read (commit and the way back included).
  LatencyHistogram round_trips;
  for (const auto& log : ack_logs) round_trips.Merge(log->round_trips());
  out["batch_round_trip_ms"] = {{"p50", round_trips.ValueAtPercentile(50) / 1e6},
                                {"p99", round_trips.ValueAtPercentile(99) / 1e6},
                                {"max", round_trips.max() / 1e6}};
  if (f.tails > 0) out["tails"] = tail_figures;
  if (stored != total_added || accepted + duplicate != total_added) {
    return absl::InternalError(absl::StrCat("added ", total_added, ", accepted ", accepted,
                                            ", duplicate ", duplicate, ", stored ", stored,
                                            ": not every sample stored exactly once"));
  }
  // Printed with its figures; main fails the run on it.
  if (tails_failed) {
    out["failure"] =
        "a live tail missed samples, read samples of machines it does not show, or ended early";
  }

  if (f.copy_ceiling) {
    // The same rows (n = 0 .. samples-1), one binary COPY, into the emptied table.
    if (absl::Status s = Exec(pg.get(), "TRUNCATE telemetry.samples"); !s.ok()) return s;
    const Cpu copy_start = CpuNow(f);
    const absl::Time t0 = absl::Now();
    if (absl::Status s = CopyRows(pg.get(), rows, total_added, machine_ids, item_ids); !s.ok()) {
      return s;
    }
    const absl::Duration copy_elapsed = absl::Now() - t0;
    const Cpu copy_end = CpuNow(f);
    const double copy_rate = static_cast<double>(total_added) / absl::ToDoubleSeconds(copy_elapsed);
    out["copy"] = {{"rows", total_added},
                   {"stored", Count(pg.get())},
                   {"elapsed_s", absl::ToDoubleSeconds(copy_elapsed)},
                   {"rows_per_second", copy_rate},
                   {"cpu_s", CpuSpent(copy_start, copy_end)}};
    out["ratio_to_copy"] = rate / copy_rate;
  }
  return out;
}

}  // namespace
}  // namespace plantmesh::bench

int main(int argc, char** argv) {
  plantmesh::common::UseReleaseMutexSettings();
  plantmesh::bench::Flags f;
  CLI::App app{"plantmesh-ingest: telemetry ingest throughput through the SDK batch writer"};
  app.add_option("--endpoint", f.client.endpoint, "host:port of plantmesh-server")->required();
  app.add_option("--ca", f.client.ca_file, "CA certificate (PEM)");
  app.add_option("--cert", f.client.cert_file, "client certificate (PEM)");
  app.add_option("--key", f.client.key_file, "client private key (PEM)");
  app.add_flag("--insecure", f.client.insecure, "plaintext (server started with --insecure)");
  app.add_option("--postgres-url", f.postgres_url,
                 "the server's database, EMPTIED of samples and rollups first: one of the "
                 "benchmark's own (refused when it holds other machines than BENCH-M*)")
      ->required();
  app.add_option("--server-pid", f.server_pid, "plantmesh-server's pid, for its CPU time")
      ->check(plantmesh::cli::WholeNumberFrom(1, 4194304));
  app.add_option("--postmaster-pid", f.postmaster_pid, "PostgreSQL's postmaster pid")
      ->check(plantmesh::cli::WholeNumberFrom(1, 4194304));
  app.add_option("--batch", f.batch, "samples per batch (IngestSamples message)")
      ->check(plantmesh::cli::WholeNumberFrom(1, 10000));
  app.add_option("--writers", f.writers, "batch writers (streams), one thread each")
      ->check(plantmesh::cli::WholeNumberFrom(1, 64));
  app.add_option("--in-flight", f.in_flight,
                 "batches in flight per writer (default: the SDK writer's)")
      ->check(plantmesh::cli::WholeNumberFrom(1, 1000));
  app.add_option("--samples-in-flight", f.samples_in_flight,
                 "samples in the batches in flight per writer (default: the SDK writer's)")
      ->check(plantmesh::cli::WholeNumberFrom(1, 10'000'000));
  app.add_option("--machines", f.machines, "machines")
      ->check(plantmesh::cli::WholeNumberFrom(1, 10000));
  app.add_option("--items", f.items, "data items per machine")
      ->check(plantmesh::cli::WholeNumberFrom(1, 500));
  app.add_option("--duration", f.duration_s, "seconds of adding samples")
      ->check(plantmesh::cli::AboveZero("seconds"))
      ->check(CLI::Range(0.1, 3600.0));
  app.add_flag("--copy-ceiling", f.copy_ceiling,
               "then COPY the same rows into the same table (raw libpq binary COPY)");
  app.add_option("--label", f.label, "name copied into the JSON output");
  app.add_option("--tails", f.tails, "B11: live StreamSamples tails reading the ingest (0: none)")
      ->check(plantmesh::cli::WholeNumberFrom(0, 10000));
  app.add_option("--tail-machines", f.tail_machines,
                 "machines each tail shows: a cell of consecutive machines")
      ->check(plantmesh::cli::WholeNumberFrom(1, 500));
  app.add_option("--tails-per-connection", f.tails_per_connection,
                 "tails per HTTP/2 connection (1: a connection per screen)")
      ->check(plantmesh::cli::WholeNumberFrom(1, 10000));
  // Flags read as plantctl reads them: on/off flags take booleans only, and `--name=` is
  // refused (CLI11 takes the next word as its value, or `--insecure=` as given).
  plantmesh::cli::CheckBooleanFlagValues(&app);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.size() > 3 && arg.rfind("--", 0) == 0 && arg.find('=') == arg.size() - 1) {
      std::cerr << "plantmesh-ingest: " << arg << " has an empty value (see --help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& e) {
    // In plantctl's words, and exit 2 as the server and plantctl (re-test: CLI11's own
    // codes, 105 and 114).
    std::cerr << "plantmesh-ingest: " << plantmesh::cli::ParseErrorText(e) << " (see --help)\n";
    return 2;
  }
  if (f.tails > 0) {
    // A connection per tail: raise the descriptor limit as far as allowed.
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }
  absl::StatusOr<nlohmann::json> result = plantmesh::bench::Run(f);
  if (!result.ok()) {
    std::cerr << "plantmesh-ingest: " << plantmesh::sdk::DescribeStatus(result.status()) << "\n";
    return 1;
  }
  std::cout << result->dump() << std::endl;
  if (result->contains("failure")) {
    std::cerr << "plantmesh-ingest: " << (*result)["failure"].get<std::string>() << "\n";
    return 3;
  }
  return 0;
}
