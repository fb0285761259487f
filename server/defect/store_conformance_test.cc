// The DefectStore conformance suite (testing/store_conformance.h) against both stores:
// the in-memory fake, and PostgreSQL (a real server from tests/support). ctest runs them
// as defect.store_conformance.fake and defect.store_conformance.pg.
#include "server/defect/testing/store_conformance.h"

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "server/defect/module.h"
#include "server/defect/pg_store.h"
#include "server/defect/testing/fake_store.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "tests/support/test_servers.h"

namespace plantmesh::defect::testing {
namespace {

class FakeBackend {
 public:
  absl::Status SetUp() { return absl::OkStatus(); }
  DefectStore* store() { return &store_; }
  std::vector<OutboxEvent> Events() { return store_.Events(); }
  std::vector<runtime::AuditRecord> AuditRows() { return store_.AuditRows(); }

 private:
  FakeDefectStore store_;
};

// A fresh database per case, migrated as the server migrates it.
class PgBackend {
 public:
  absl::Status SetUp() {
    static int databases = 0;
    PM_ASSIGN_OR_RETURN(url_, plantmesh::testing::SharedPostgres().CreateDatabase(
                                  absl::StrCat("defect_conformance_", ++databases)));
    PM_RETURN_IF_ERROR(runtime::ApplyMigrations(url_, "audit", runtime::AuditMigrations()));
    PM_RETURN_IF_ERROR(runtime::ApplyMigrations(url_, "defect", EmbeddedMigrations()));
    runtime::PgPoolOptions options;
    options.url = url_;
    options.size = 4;
    options.on_connect.push_back(&PgDefectStore::PrepareStatements);
    PM_ASSIGN_OR_RETURN(pool_, runtime::PgPool::Open(options));
    store_ = std::make_unique<PgDefectStore>(pool_.get());
    return absl::OkStatus();
  }
  DefectStore* store() { return store_.get(); }
  // The outbox rows in the relay's order (no relay runs here, so none were taken).
  std::vector<OutboxEvent> Events() {
    std::vector<OutboxEvent> events;
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    for (const pqxx::row& r : tx.exec("SELECT event_id::text, payload FROM defect.outbox "
                                      "ORDER BY id")) {
      events.push_back({r[0].as<std::string>(), "", pqxx::binarystring(r[1]).str()});
    }
    return events;
  }
  // audit.audit_log, oldest first (the runtime's sink runs nowhere here: every row is one
  // a change wrote).
  std::vector<runtime::AuditRecord> AuditRows() {
    std::vector<runtime::AuditRecord> rows;
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    for (const pqxx::row& r :
         tx.exec("SELECT (extract(epoch from time) * 1000000)::int8, identity, method, trace_id, "
                 "status_code, coalesce(request::text, '') FROM audit.audit_log ORDER BY id")) {
      runtime::AuditRecord row;
      row.time = absl::FromUnixMicros(r[0].as<int64_t>());
      row.identity = r[1].as<std::string>();
      row.method = r[2].as<std::string>();
      row.trace_id = r[3].as<std::string>();
      row.status_code = r[4].as<int>();
      row.request_json = r[5].as<std::string>();
      rows.push_back(std::move(row));
    }
    return rows;
  }

 private:
  std::string url_;
  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<PgDefectStore> store_;
};

INSTANTIATE_TYPED_TEST_SUITE_P(Fake, DefectStoreConformanceTest, FakeBackend);
INSTANTIATE_TYPED_TEST_SUITE_P(Pg, DefectStoreConformanceTest, PgBackend);

}  // namespace
}  // namespace plantmesh::defect::testing
