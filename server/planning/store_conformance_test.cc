// The PlanningStore conformance suite against both stores: the in-memory fake, and
// PostgreSQL (a real server from tests/support). ctest runs them as
// planning.store_conformance.fake and planning.store_conformance.pg.
#include "server/planning/testing/store_conformance.h"
// pdemand
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/status_macros.h"
#include "server/planning/module.h"
#include "server/planning/pg_store.h"
#include "server/planning/testing/demand_conformance.h"
#include "server/planning/testing/fake_store.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "server/runtime/service_tables.h"
#include "tests/support/test_servers.h"

namespace plantmesh::planning::testing {
namespace {

class FakeBackend {
 public:
  absl::Status SetUp() { return absl::OkStatus(); }
  PlanningStore* store() { return &store_; }
  std::vector<runtime::OutboxEvent> Events() { return store_.Events(); }

 private:
  FakePlanningStore store_;
};

// A fresh database per case, migrated as the server migrates it.
class PgBackend {
 public:
  absl::Status SetUp() {
    static int databases = 0;
    PM_ASSIGN_OR_RETURN(url_, plantmesh::testing::SharedPostgres().CreateDatabase(
                                  absl::StrCat("planning_conformance_", ++databases)));
    PM_RETURN_IF_ERROR(runtime::ApplyMigrations(url_, "audit", runtime::AuditMigrations()));
    PM_RETURN_IF_ERROR(runtime::ApplyMigrations(url_, "planning", EmbeddedMigrations()));
    PM_RETURN_IF_ERROR(runtime::ApplyServiceTables(url_, "planning"));
    runtime::PgPoolOptions options;
    options.url = url_;
    options.size = 2;
    options.on_connect.push_back(&PgPlanningStore::PrepareStatements);
    PM_ASSIGN_OR_RETURN(pool_, runtime::PgPool::Open(options));
    store_ = std::make_unique<PgPlanningStore>(pool_.get());
    return absl::OkStatus();
  }
  PlanningStore* store() { return store_.get(); }
  std::vector<runtime::OutboxEvent> Events() {
    std::vector<runtime::OutboxEvent> events;
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    for (const pqxx::row& r :
         tx.exec("SELECT event_id::text, payload FROM planning.outbox ORDER BY id")) {
      events.push_back({r[0].as<std::string>(), "", pqxx::binarystring(r[1]).str()});
    }
    return events;
  }

 private:
  std::string url_;
  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<PgPlanningStore> store_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Fake, PlanningStoreConformanceTest, FakeBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Pg, PlanningStoreConformanceTest, PgBackend);
// pdemand
INSTANTIATE_TYPED_TEST_SUITE_P(Fake, DemandStoreConformanceTest, FakeBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Pg, DemandStoreConformanceTest, PgBackend);

}  // namespace
}  // namespace plantmesh::planning::testing
