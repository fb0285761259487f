// plantmesh-loadgen: a closed- or open-loop load generator built on the PlantMesh SDK.
// See bench/README.md for the scenarios, the figures it prints and how bench/run uses it.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load_driver.h"
#include "bench/scenarios.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/mutex_settings.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace plantmesh::bench {
namespace {

struct Flags {
  ScenarioOptions scenario;
  LoadOptions load;
  std::string channels = "per-worker";
  double duration_s = 10;
  double warmup_s = 2;
  double deadline_s = 5;
  double wait_ready_s = 0;
  bool json = false;
  std::string label;
};

double Millis(int64_t nanos) { return static_cast<double>(nanos) / 1e6; }

nlohmann::json ToJson(const Flags& flags, const LoadResult& result) {
  const LatencyHistogram& h = result.latency;
  nlohmann::json failures = nlohmann::json::object();
  for (const auto& [code, n] : result.failures_by_code) failures[code] = n;
  return {
      {"label", flags.label},
      {"scenario", flags.scenario.name},
      {"endpoint", flags.scenario.client.endpoint},
      {"workers", flags.load.workers},
      {"channels", flags.channels},
      {"mode", flags.load.rate_per_second > 0 ? "open-loop" : "closed-loop"},
      {"target_rate", flags.load.rate_per_second},
      {"warmup_s", flags.warmup_s},
      {"elapsed_s", absl::ToDoubleSeconds(result.elapsed)},
      {"succeeded", result.succeeded},
      {"failed", result.failed},
      {"failures_by_code", failures},
      {"first_failure", result.first_failure},
      {"late_starts", result.late_starts},
      {"succeeded_by_worker", result.succeeded_by_worker},
      {"worker_fairness", result.worker_fairness()},
      {"requests_per_second", result.requests_per_second()},
      {"latency_ms",
       {{"min", Millis(h.min())},
        {"mean", h.mean() / 1e6},
        {"p50", Millis(h.ValueAtPercentile(50))},
        {"p90", Millis(h.ValueAtPercentile(90))},
        {"p99", Millis(h.ValueAtPercentile(99))},
        {"p999", Millis(h.ValueAtPercentile(99.9))},
        {"max", Millis(h.max())}}},
  };
}

void PrintText(const Flags& flags, const LoadResult& result) {
  const LatencyHistogram& h = result.latency;
  std::cout << absl::StrFormat(
      "%s against %s: %d workers, %s channels, %s\n", flags.scenario.name,
      flags.scenario.client.endpoint, flags.load.workers, flags.channels,
      flags.load.rate_per_second > 0
          ? absl::StrFormat("open loop at %.0f req/s", flags.load.rate_per_second)
          : std::string("closed loop"));
  std::cout << absl::StrFormat("  %d ok, %d failed in %.2f s: %.1f req/s\n", result.succeeded,
                               result.failed, absl::ToDoubleSeconds(result.elapsed),
                               result.requests_per_second());
  std::cout << absl::StrFormat(
      "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
      Millis(h.ValueAtPercentile(50)), Millis(h.ValueAtPercentile(90)),
      Millis(h.ValueAtPercentile(99)), Millis(h.ValueAtPercentile(99.9)), Millis(h.max()),
      h.mean() / 1e6);
  const auto [fewest, most] =
      std::minmax_element(result.succeeded_by_worker.begin(), result.succeeded_by_worker.end());
  if (fewest != result.succeeded_by_worker.end()) {
    std::cout << absl::StrFormat("  per worker: %d to %d requests, Jain fairness %.3f\n", *fewest,
                                 *most, result.worker_fairness());
  }
  if (result.late_starts > 0) {
    std::cout << absl::StrFormat("  %d requests started late (client could not keep the rate)\n",
                                 result.late_starts);
  }
  for (const auto& [code, n] : result.failures_by_code) {
    std::cout << absl::StrFormat("  failed %s: %d\n", code, n);
  }
  if (!result.first_failure.empty())
    std::cout << "  first failure: " << result.first_failure << "\n";
}

// Waits until the server answers WhoAmI (it may still be starting); bounded by `wait`.
absl::Status AwaitServer(const sdk::ClientOptions& options, absl::Duration wait) {
  const absl::Time give_up = absl::Now() + wait;
  absl::Status last = absl::DeadlineExceededError("server not ready");
  while (absl::Now() < give_up) {
    sdk::ClientOptions probe_options = options;
    probe_options.private_connection_pool = true;  // no stale failed connection
    probe_options.default_deadline = absl::Seconds(1);
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(probe_options);
    if (!channel.ok()) return channel.status();
    last = sdk::SystemClient(*channel, probe_options).WhoAmI({}).status();
    if (last.ok()) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

int Main(int argc, char** argv) {
  plantmesh::common::UseReleaseMutexSettings();
  Flags flags;
  sdk::ClientOptions& client = flags.scenario.client;
  CLI::App app{
      "PlantMesh load generator: drives one scenario through the SDK and prints "
      "throughput and latency percentiles."};
  app.add_option("--scenario", flags.scenario.name, "whoami | create-defect")
      ->required()
      ->check(CLI::IsMember({"whoami", "create-defect"}));
  app.add_option("--endpoint", client.endpoint, "host:port of the server")->capture_default_str();
  app.add_option("--ca", client.ca_file, "CA certificate (PEM)");
  app.add_option("--cert", client.cert_file, "client certificate (PEM)");
  app.add_option("--key", client.key_file, "client private key (PEM)");
  app.add_option("--server-name", client.server_name, "name checked on the server certificate");
  app.add_flag("--insecure", client.insecure, "plaintext (server started with --insecure)");
  app.add_option("-c,--concurrency", flags.load.workers, "concurrent workers (threads)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--channels", flags.channels,
                 "per-worker: a channel and connection per worker; shared: one for all")
      ->capture_default_str()
      ->check(CLI::IsMember({"per-worker", "shared"}));
  app.add_option("--duration", flags.duration_s,
                 "seconds measured (with --requests: the most it may take)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  app.add_option("--warmup", flags.warmup_s, "seconds of load before measuring")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--requests", flags.load.requests, "stop after this many measured requests")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app.add_option("--rate", flags.load.rate_per_second,
                 "open loop: total requests per second (0 = closed loop)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--deadline", flags.deadline_s, "per-request deadline, seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 600.0));
  app.add_option("--wait-ready", flags.wait_ready_s,
                 "wait up to this many seconds for the server to answer WhoAmI first")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--label", flags.label, "name copied into the JSON output");
  app.add_flag("--json", flags.json, "print the result as one JSON object");
  CLI11_PARSE(app, argc, argv);

  flags.scenario.sharing =
      flags.channels == "shared" ? ChannelSharing::kShared : ChannelSharing::kPerWorker;
  flags.load.duration = absl::Seconds(flags.duration_s);
  flags.load.warmup = absl::Seconds(flags.warmup_s);
  client.default_deadline = absl::Seconds(flags.deadline_s);

  if (flags.wait_ready_s > 0) {
    if (absl::Status ready = AwaitServer(client, absl::Seconds(flags.wait_ready_s)); !ready.ok()) {
      std::cerr << "plantmesh-loadgen: server not ready: " << ready << "\n";
      return 2;
    }
  }
  absl::StatusOr<WorkerFactory> factory = PrepareScenario(flags.scenario);
  if (!factory.ok()) {
    std::cerr << "plantmesh-loadgen: " << factory.status() << "\n";
    return 2;
  }
  absl::StatusOr<LoadResult> result = RunLoad(flags.load, *factory);
  if (!result.ok()) {
    std::cerr << "plantmesh-loadgen: " << result.status() << "\n";
    return 2;
  }
  if (flags.json) {
    std::cout << ToJson(flags, *result).dump() << std::endl;
  } else {
    PrintText(flags, *result);
  }
  return 0;
}

}  // namespace
}  // namespace plantmesh::bench

int main(int argc, char** argv) { return plantmesh::bench::Main(argc, argv); }
