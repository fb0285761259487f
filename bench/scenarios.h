// The load generator's scenarios, each a WorkerFactory over the PlantMesh SDK:
//   whoami         SystemClient::WhoAmI — the no-op unary method through the full
//                  server runtime (mTLS, authorization; reads are not audited).
//   create-defect  DefectClient::CreateDefect — one durable transaction per request
//                  (defect row, history row, outbox row). Setup creates a category.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "bench/load_driver.h"
#include "plantmesh/sdk/client_options.h"

namespace plantmesh::bench {

enum class ChannelSharing {
  // One channel, hence one HTTP/2 connection, for every worker.
  kShared,
  // A channel with a private subchannel pool per worker: one connection each.
  kPerWorker,
};

struct ScenarioOptions {
  std::string name;  // "whoami" or "create-defect"
  sdk::ClientOptions client;
  ChannelSharing sharing = ChannelSharing::kPerWorker;
};

// Validates the options, runs the scenario's setup (e.g. creates the defect category)
// and returns the factory of per-worker request functions.
absl::StatusOr<WorkerFactory> PrepareScenario(const ScenarioOptions& options);

}  // namespace plantmesh::bench
