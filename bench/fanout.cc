// plantmesh-fanout: bench B10, live fan-out. N WatchDefects streams on one server over
// mTLS (callback reactors, so the client holds no thread per stream), a writer reporting
// defects at a fixed rate; for each change, the time from its commit (the event's
// event_time, same host clock) to its receipt by the LAST watcher. Also samples the
// server's threads and resident memory (/proc/<pid>/status) and Redis's connected
// clients while the watchers are connected, and the CPU time the server and this client
// spent per 1,000 delivered changes (a figure other load on the machine barely moves,
// unlike the latency). The watchers ask for up to --changes-per-response changes a
// message, as the SDK's DefectListWatch does. Prints a JSON document on stdout.
#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/latency_histogram.h"
#include "bench/scenarios.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/mutex_settings.h"
#include "plantmesh/defect/v1/defect_service.grpc.pb.h"
#include "plantmesh/sdk/client_options.h"

namespace plantmesh::bench {
namespace {

namespace defect_v1 = ::plantmesh::defect::v1;

int64_t NowNanos() { return absl::ToUnixNanos(absl::Now()); }

// One receipt: the defect reported, when this watcher read it, when it was committed.
struct Receipt {
  int64_t id;
  int64_t at;
  int64_t committed;
  bool first_of_message;  // counts the messages
};

// One watch stream; keeps a Receipt of every REPORTED event it reads (appended to a
// vector: the client shares the machine's cores with the server, so it does as little
// per message as it can).
class Watcher final : public grpc::ClientReadReactor<defect_v1::WatchDefectsResponse> {
 public:
  // Empty cursor: from the current end.
  explicit Watcher(int changes_per_response) {
    request_.set_max_changes_per_response(changes_per_response);
  }
  void Start(defect_v1::DefectService::Stub* stub) {
    stub->async()->WatchDefects(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const int64_t at = NowNanos();
    {
      absl::MutexLock lock(&mu_);
      bool first = true;
      if (response_.has_event()) Keep(response_.event(), at, &first);
      for (const defect_v1::WatchDefectsResponse::Change& change : response_.changes()) {
        Keep(change.event(), at, &first);
      }
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
  size_t received() {
    absl::MutexLock lock(&mu_);
    return received_.size();
  }
  // The newest defect this watcher was told of (ids grow with each report); 0: none.
  int64_t last_id() {
    absl::MutexLock lock(&mu_);
    return last_id_;
  }
  std::vector<Receipt> TakeReceived() {
    absl::MutexLock lock(&mu_);
    return std::move(received_);
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

 private:
  void Keep(const defect_v1::DefectEvent& event, int64_t at, bool* first)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int64_t id = 0;
    if (event.change_type() != defect_v1::CHANGE_TYPE_REPORTED ||
        !absl::SimpleAtoi(event.defect().id(), &id)) {
      return;
    }
    const int64_t committed =
        event.event_time().seconds() * 1000000000 + event.event_time().nanos();
    received_.push_back(Receipt{id, at, committed, *first});
    *first = false;
    last_id_ = std::max(last_id_, id);
  }

  grpc::ClientContext context_;
  defect_v1::WatchDefectsRequest request_;
  defect_v1::WatchDefectsResponse response_;
  absl::Mutex mu_;
  std::vector<Receipt> received_ ABSL_GUARDED_BY(mu_);
  int64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// "Threads:" and "VmRSS:" (KiB) of /proc/<pid>/status.
struct ProcessSample {
  int64_t threads = 0;
  int64_t rss_kib = 0;
};
ProcessSample SampleProcess(int pid) {
  ProcessSample sample;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  while (status >> key) {
    if (key == "Threads:") status >> sample.threads;
    if (key == "VmRSS:") status >> sample.rss_kib;
    status.ignore(1 << 12, '\n');
  }
  return sample;
}

// utime + stime of /proc/<pid>/stat in seconds (every thread of the process); -1 when
// unreadable.
double CpuSeconds(int pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces), from field 3 (state) on;
  // utime and stime are fields 14 and 15, in clock ticks.
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 1));
  std::string field;
  for (int i = 3; i < 14 && fields >> field; ++i) {
  }
  int64_t utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return -1;
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Redis's connected_clients (INFO clients), minus this connection; -1 if unreachable.
int64_t RedisClients(const std::string& host, int port) {
  redisContext* redis = redisConnect(host.c_str(), port);
  if (redis == nullptr || redis->err != 0) {
    if (redis != nullptr) redisFree(redis);
    return -1;
  }
  int64_t clients = -1;
  auto* reply = static_cast<redisReply*>(redisCommand(redis, "INFO clients"));
  if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
    const std::string text(reply->str, reply->len);
    const std::string key = "connected_clients:";
    if (size_t at = text.find(key); at != std::string::npos) {
      clients = std::strtoll(text.c_str() + at + key.size(), nullptr, 10) - 1;
    }
  }
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(redis);
  return clients;
}

struct Flags {
  sdk::ClientOptions client;
  int watchers = 1000;
  int streams_per_connection = 100;
  double rate = 200;
  double duration_s = 15;
  int server_pid = 0;
  std::string redis_host = "127.0.0.1";
  int redis_port = 0;
  int changes_per_response = 100;  // the SDK's DefectListWatch asks for as many
};

int Run(const Flags& flags) {
  // Connections: watchers / streams_per_connection, each a private subchannel pool.
  const int connections = std::max(
      1, (flags.watchers + flags.streams_per_connection - 1) / flags.streams_per_connection);
  std::vector<std::unique_ptr<defect_v1::DefectService::Stub>> stubs;
  for (int c = 0; c < connections; ++c) {
    sdk::ClientOptions options = flags.client;
    options.private_connection_pool = true;
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(options);
    if (!channel.ok()) {
      std::fprintf(stderr, "fanout: %s\n", channel.status().ToString().c_str());
      return 1;
    }
    stubs.push_back(defect_v1::DefectService::NewStub(*channel));
  }
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int w = 0; w < flags.watchers; ++w) {
    watchers.push_back(std::make_unique<Watcher>(flags.changes_per_response));
    watchers.back()->Start(stubs[w % connections].get());
  }

  ScenarioOptions scenario{"create-defect", flags.client, ChannelSharing::kShared};
  absl::StatusOr<WorkerFactory> factory = PrepareScenario(scenario);
  absl::StatusOr<RequestFn> report = factory.ok() ? (*factory)(0) : factory.status();
  if (!report.ok()) {
    std::fprintf(stderr, "fanout: writer: %s\n", report.status().ToString().c_str());
    return 1;
  }

  // Warm-up: report until every watcher has seen a change (all streams are live).
  const absl::Time warmup_deadline = absl::Now() + absl::Seconds(120);
  size_t ready = 0;
  while (absl::Now() < warmup_deadline) {
    if (absl::Status status = (*report)(); !status.ok()) {
      std::fprintf(stderr, "fanout: report: %s\n", status.ToString().c_str());
      return 1;
    }
    ready = 0;
    for (auto& watcher : watchers) ready += watcher->received() > 0 ? 1 : 0;
    if (ready == watchers.size()) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  if (ready != watchers.size()) {
    std::fprintf(stderr, "fanout: only %zu of %zu watchers received a change in 120 s\n", ready,
                 watchers.size());
    return 1;
  }
  const int64_t measured_from = NowNanos();
  const double server_cpu_from = flags.server_pid > 0 ? CpuSeconds(flags.server_pid) : -1;
  const double client_cpu_from = CpuSeconds(getpid());

  // The writer at a fixed rate (open loop), sampling the server meanwhile.
  ProcessSample peak;
  int64_t redis_clients = -1;
  int64_t reports = 0, failed = 0;
  const absl::Duration interval = absl::Seconds(1.0 / flags.rate);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(flags.duration_s);
  absl::Time next = start;
  while (absl::Now() < end) {
    absl::SleepFor(next - absl::Now());
    next += interval;
    ++reports;
    if (!(*report)().ok()) ++failed;
    if (reports % 50 == 0 && flags.server_pid > 0) {
      ProcessSample sample = SampleProcess(flags.server_pid);
      peak.threads = std::max(peak.threads, sample.threads);
      peak.rss_kib = std::max(peak.rss_kib, sample.rss_kib);
    }
    if (reports % 50 == 0 && flags.redis_port > 0) {
      redis_clients = std::max(redis_clients, RedisClients(flags.redis_host, flags.redis_port));
    }
  }
  // The last changes' way to every watcher: until each was told of the newest defect
  // and nothing newer came for 200 ms (at most 30 s; a watcher still behind then makes
  // the run fail below).
  const absl::Time settle_deadline = absl::Now() + absl::Seconds(30);
  int64_t newest = -1;
  absl::Time newest_since = absl::Now();
  while (absl::Now() < settle_deadline) {
    int64_t max_id = 0, min_id = std::numeric_limits<int64_t>::max();
    for (auto& watcher : watchers) {
      const int64_t id = watcher->last_id();
      max_id = std::max(max_id, id);
      min_id = std::min(min_id, id);
    }
    if (max_id != newest) {
      newest = max_id;
      newest_since = absl::Now();
    }
    if (min_id == max_id && absl::Now() - newest_since >= absl::Milliseconds(200)) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  // CPU over the measured window (writing included: the writer's CreateDefect calls
  // cost both sides, about one delivered message in `watchers`).
  const int64_t measured_to = NowNanos();
  const double server_cpu = flags.server_pid > 0 && server_cpu_from >= 0
                                ? CpuSeconds(flags.server_pid) - server_cpu_from
                                : -1;
  const double client_cpu = CpuSeconds(getpid()) - client_cpu_from;
  for (auto& watcher : watchers) watcher->Cancel();
  for (auto& watcher : watchers) watcher->AwaitDone(absl::Seconds(10));

  // Per change: commit time, last receipt, receipts.
  std::unordered_map<int64_t, int64_t> commits;
  struct Fan {
    int64_t last = 0;
    int receipts = 0;
  };
  std::unordered_map<int64_t, Fan> fans;
  int ended_early = 0;
  int64_t delivered = 0;  // changes received in the CPU window
  int64_t messages = 0;   // and the messages that carried them
  for (auto& watcher : watchers) {
    for (const Receipt& receipt : watcher->TakeReceived()) {
      if (receipt.at >= measured_from && receipt.at <= measured_to) {
        ++delivered;
        if (receipt.first_of_message) ++messages;
      }
      commits.emplace(receipt.id, receipt.committed);
      Fan& fan = fans[receipt.id];
      fan.last = std::max(fan.last, receipt.at);
      ++fan.receipts;
    }
    if (watcher->status().error_code() != grpc::StatusCode::CANCELLED) ++ended_early;
  }
  LatencyHistogram last_receipt;
  int64_t changes = 0, incomplete = 0;
  for (const auto& [id, fan] : fans) {
    const int64_t committed = commits[id];
    if (committed < measured_from) continue;
    ++changes;
    if (fan.receipts < flags.watchers) ++incomplete;
    last_receipt.Record(fan.last - committed);
  }
  auto ms = [](int64_t nanos) { return static_cast<double>(nanos) / 1e6; };
  auto per_1000 = [delivered](double cpu_s) {
    return cpu_s >= 0 && delivered > 0 ? cpu_s * 1000.0 / static_cast<double>(delivered) : -1.0;
  };
  nlohmann::json result = {
      {"scenario", "fanout"},
      {"watchers", flags.watchers},
      {"connections", connections},
      {"rate", flags.rate},
      {"changes", changes},
      // The writer is synchronous: below `rate` when a report takes longer than 1/rate.
      {"reports_per_second", static_cast<double>(reports) / flags.duration_s},
      {"reports_failed", failed},
      {"changes_not_seen_by_every_watcher", incomplete},
      {"watchers_ended_early", ended_early},
      {"commit_to_last_watcher_p50_ms", ms(last_receipt.ValueAtPercentile(50))},
      {"commit_to_last_watcher_p99_ms", ms(last_receipt.ValueAtPercentile(99))},
      {"commit_to_last_watcher_max_ms", ms(last_receipt.max())},
      {"server_threads", peak.threads},
      {"server_rss_mib", static_cast<double>(peak.rss_kib) / 1024.0},
      {"redis_connections", redis_clients},
      {"changes_per_response", flags.changes_per_response},
      {"changes_delivered", delivered},
      {"messages_delivered", messages},
      {"cpu_window_s", static_cast<double>(measured_to - measured_from) / 1e9},
      {"server_cpu_s", server_cpu},
      {"client_cpu_s", client_cpu},
      {"server_cpu_s_per_1000_changes", per_1000(server_cpu)},
      {"client_cpu_s_per_1000_changes", per_1000(client_cpu)},
  };
  std::printf("%s\n", result.dump(2).c_str());
  return failed == 0 && incomplete == 0 && ended_early == 0 ? 0 : 3;
}

}  // namespace
}  // namespace plantmesh::bench

int main(int argc, char** argv) {
  plantmesh::common::UseReleaseMutexSettings();
  plantmesh::bench::Flags flags;
  CLI::App app{
      "plantmesh-fanout (bench B10): N WatchDefects streams, a writer reporting defects at a "
      "fixed rate; prints the commit-to-last-watcher latency, the server's threads and RSS "
      "and Redis's connections as JSON",
      "plantmesh-fanout"};
  app.add_option("--endpoint", flags.client.endpoint, "host:port of plantmesh-server")->required();
  app.add_option("--ca", flags.client.ca_file, "CA certificate (PEM)")->required();
  app.add_option("--cert", flags.client.cert_file, "client certificate (PEM)")->required();
  app.add_option("--key", flags.client.key_file, "client key (PEM)")->required();
  app.add_option("--watchers", flags.watchers, "WatchDefects streams")
      ->check(CLI::Range(1, 100000));
  app.add_option("--streams-per-connection", flags.streams_per_connection,
                 "watch streams per HTTP/2 connection")
      ->check(CLI::Range(1, 1000));
  app.add_option("--rate", flags.rate, "defects reported per second")->check(CLI::Range(1, 5000));
  app.add_option("--duration", flags.duration_s, "seconds of measured writing")
      ->check(CLI::Range(1, 3600));
  app.add_option("--server-pid", flags.server_pid, "plantmesh-server's pid, to sample threads/RSS");
  app.add_option("--redis-host", flags.redis_host, "Redis host, to count its connections");
  app.add_option("--redis-port", flags.redis_port, "Redis port; 0: not counted");
  app.add_option("--changes-per-response", flags.changes_per_response,
                 "WatchDefectsRequest.max_changes_per_response (1: one change a message)")
      ->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  // Each watcher holds a socket share; raise the descriptor limit as far as allowed.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  return plantmesh::bench::Run(flags);
}
