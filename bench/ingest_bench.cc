// plantmesh-ingest: telemetry ingest throughput (bench B1, B2, B3; see bench/README.md).
//
// One run: registers the bench machines (idempotent), empties telemetry.samples, then
// for `--duration` seconds adds samples to `--writers` SDK TelemetryBatchWriters (batches
// of `--batch` samples) and closes them; the rate is the samples acknowledged over the
// time from the first Add to the last Close. With --copy-ceiling it then empties the
// table again and writes the same rows with one raw binary COPY (libpq PQputCopyData)
// into the same table: the ceiling the service's ingest is compared to. CPU-seconds of
// each process (the server, this load generator, every PostgreSQL process) are read
// from /proc around each phase. Prints one JSON object.
#include <dirent.h>
#include <libpq-fe.h>
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
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/sdk/telemetry_batch_writer.h"
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
  int in_flight = 16;
  int machines = 200;  // the plant of ARCHITECTURE.md: 200 machines x 20 data items
  int items = 20;
  double duration_s = 10;
  bool copy_ceiling = false;
  std::string label;
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

double CpuOf(int pid) {
  uint64_t ticks = 0;
  int ppid = 0;
  return pid > 0 && ReadStat(pid, &ticks, &ppid) ? TicksToSeconds(ticks) : 0;
}

// The postmaster and every process it started (backends, walwriter, checkpointer...).
// A backend that exits during a phase takes its CPU time with it: the server's and
// this program's connections stay open for the whole phase.
double PostgresCpu(int postmaster) {
  if (postmaster <= 0) return 0;
  double total = CpuOf(postmaster);
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
nlohmann::json CpuSpent(const Cpu& a, const Cpu& b) {
  return {{"server", b.server - a.server},
          {"loadgen", b.loadgen - a.loadgen},
          {"postgres", b.postgres - a.postgres}};
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

int64_t Count(PGconn* conn) {
  PGresult* r = PQexec(conn, "SELECT count(*) FROM telemetry.samples");
  int64_t n = PQresultStatus(r) == PGRES_TUPLES_OK ? std::stoll(PQgetvalue(r, 0, 0)) : -1;
  PQclear(r);
  return n;
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
  if (absl::Status s = RegisterMachines(f); !s.ok()) return s;
  Pg pg(PQconnectdb(f.postgres_url.c_str()));
  if (PQstatus(pg.get()) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL: ", PQerrorMessage(pg.get())));
  }
  if (absl::Status s = Exec(pg.get(), "TRUNCATE telemetry.samples"); !s.ok()) return s;

  std::vector<std::string> machine_ids, item_ids;
  for (int m = 0; m < f.machines; ++m) machine_ids.push_back(MachineId(m));
  for (int i = 0; i < f.items; ++i) item_ids.push_back(ItemId(i));
  Rows rows{absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Hours(2))), f.machines,
            f.items};

  std::vector<std::unique_ptr<sdk::TelemetryBatchWriter>> writers;
  for (int w = 0; w < f.writers; ++w) {
    sdk::TelemetryBatchWriterOptions options;
    options.writer_id = absl::StrCat("bench-", f.label, "-", w);
    options.max_batch_samples = f.batch;
    options.max_batches_in_flight = f.in_flight;
    // A buffer of a few windows: Add keeps pace with the acknowledgements, so Close
    // waits for little and the rate is the steady state's.
    options.max_buffered_samples = 4LL * f.batch * f.in_flight;
    options.block_timeout = absl::Minutes(1);
    absl::StatusOr<std::unique_ptr<sdk::TelemetryBatchWriter>> writer =
        sdk::TelemetryBatchWriter::Create(f.client, std::move(options));
    if (!writer.ok()) return writer.status();
    writers.push_back(*std::move(writer));
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
  const absl::Duration elapsed = absl::Now() - start;
  const Cpu cpu_end = CpuNow(f);
  int64_t accepted = 0, acknowledged = 0, total_added = 0;
  for (size_t w = 0; w < writers.size(); ++w) {
    if (!errors[w].ok()) return errors[w];
    const sdk::TelemetryBatchWriterStats s = writers[w]->Stats();
    accepted += s.samples_accepted;
    acknowledged += s.samples_acknowledged();
    total_added += added[w];
  }
  const int64_t stored = Count(pg.get());
  const double rate = static_cast<double>(acknowledged) / absl::ToDoubleSeconds(elapsed);
  nlohmann::json out = {
      {"label", f.label},           {"endpoint", f.client.endpoint},
      {"tls", !f.client.insecure},  {"batch", f.batch},
      {"writers", f.writers},       {"in_flight", f.in_flight},
      {"samples", acknowledged},    {"accepted", accepted},
      {"stored", stored},           {"elapsed_s", absl::ToDoubleSeconds(elapsed)},
      {"samples_per_second", rate}, {"cpu_s", CpuSpent(cpu_start, cpu_end)},
  };
  if (stored != accepted || accepted != total_added) {
    return absl::InternalError(absl::StrCat("added ", total_added, ", accepted ", accepted,
                                            ", stored ", stored, ": not every sample stored"));
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
  plantmesh::bench::Flags f;
  CLI::App app{"plantmesh-ingest: telemetry ingest throughput through the SDK batch writer"};
  app.add_option("--endpoint", f.client.endpoint, "host:port of plantmesh-server")->required();
  app.add_option("--ca", f.client.ca_file, "CA certificate (PEM)");
  app.add_option("--cert", f.client.cert_file, "client certificate (PEM)");
  app.add_option("--key", f.client.key_file, "client private key (PEM)");
  app.add_flag("--insecure", f.client.insecure, "plaintext (server started with --insecure)");
  app.add_option("--postgres-url", f.postgres_url, "the server's database")->required();
  app.add_option("--server-pid", f.server_pid, "plantmesh-server's pid, for its CPU time");
  app.add_option("--postmaster-pid", f.postmaster_pid, "PostgreSQL's postmaster pid");
  app.add_option("--batch", f.batch, "samples per batch (IngestSamples message)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--writers", f.writers, "batch writers (streams), one thread each")
      ->check(CLI::Range(1, 64));
  app.add_option("--in-flight", f.in_flight, "batches in flight per writer")
      ->check(CLI::Range(1, 1000));
  app.add_option("--machines", f.machines, "machines")->check(CLI::Range(1, 10000));
  app.add_option("--items", f.items, "data items per machine")->check(CLI::Range(1, 500));
  app.add_option("--duration", f.duration_s, "seconds of adding samples")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_flag("--copy-ceiling", f.copy_ceiling,
               "then COPY the same rows into the same table (raw libpq binary COPY)");
  app.add_option("--label", f.label, "name copied into the JSON output");
  CLI11_PARSE(app, argc, argv);
  absl::StatusOr<nlohmann::json> result = plantmesh::bench::Run(f);
  if (!result.ok()) {
    std::cerr << "plantmesh-ingest: " << plantmesh::sdk::DescribeStatus(result.status()) << "\n";
    return 1;
  }
  std::cout << result->dump() << std::endl;
  return 0;
}
