#include "server/defect/module.h"

#include <memory>
#include <string>

#include "server/defect/config.h"
#include "server/defect/pg_store.h"
#include "server/defect/service.h"

namespace plantmesh::defect {
namespace {

class DefectModule : public runtime::ServiceModule {
 public:
  explicit DefectModule(const runtime::ServiceDeps& deps)
      : store_(deps.pg), service_(deps, &store_) {}

  std::string service_name() const override { return "plantmesh.defect.v1.DefectService"; }
  grpc::Service* grpc_service() override { return &service_; }

 private:
  PgDefectStore store_;
  DefectServiceImpl service_;
};

}  // namespace

const runtime::ServiceDescriptor& Descriptor() {
  static const auto* descriptor = new runtime::ServiceDescriptor{
      "defect",
      "defect",
      []() -> const std::vector<runtime::Migration>& { return EmbeddedMigrations(); },
      runtime::OutboxSource{"defect", kEventStreamKey},
      [](const runtime::ServiceDeps& deps) -> std::unique_ptr<runtime::ServiceModule> {
        return std::make_unique<DefectModule>(deps);
      },
      &PgDefectStore::PrepareStatements,
      &DeclareConfig,
      &CheckConfig};
  return *descriptor;
}

}  // namespace plantmesh::defect
