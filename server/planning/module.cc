#include "server/planning/module.h"

#include <memory>
#include <string>

#include "server/planning/config.h"
#include "server/planning/convert.h"
#include "server/planning/pg_store.h"
#include "server/planning/service.h"

namespace plantmesh::planning {
namespace {

class PlanningModule : public runtime::ServiceModule {
 public:
  explicit PlanningModule(const runtime::ServiceDeps& deps)
      : store_(deps.pg), service_(deps, &store_) {}

  std::string service_name() const override { return "plantmesh.planning.v1.PlanningService"; }
  grpc::Service* grpc_service() override { return &service_; }

 private:
  PgPlanningStore store_;
  PlanningServiceImpl service_;
};

}  // namespace

const runtime::ServiceDescriptor& Descriptor() {
  static const auto* descriptor = new runtime::ServiceDescriptor{
      "planning",
      "planning",
      []() -> const std::vector<runtime::Migration>& { return EmbeddedMigrations(); },
      runtime::OutboxSource{"planning", kEventStreamKey},
      [](const runtime::ServiceDeps& deps) -> std::unique_ptr<runtime::ServiceModule> {
        return std::make_unique<PlanningModule>(deps);
      },
      &PgPlanningStore::PrepareStatements,
      &DeclareConfig,
      &CheckConfig};
  return *descriptor;
}

}  // namespace plantmesh::planning
