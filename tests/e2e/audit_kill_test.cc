// Issue 6: an acknowledged change's audit row commits with the change. Several clients
// make changes (CreateDefect, UpdateDefect), each with its own x-request-id (the trace id
// the audit row keeps); right after the last response the server is killed with SIGKILL
// (no drain, no flush of the audit sink). Then audit.audit_log must hold exactly one OK
// row for every call that was acknowledged: none lost, none written twice.
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

constexpr int kClients = 4;
constexpr int kReportsPerClient = 15;  // each reported, then updated: 120 changes

sdk::CallOptions Traced(const std::string& trace_id) {
  sdk::CallOptions options = sdk::CallOptions::WithTimeout(absl::Seconds(30));
  options.metadata.push_back({"x-request-id", trace_id});
  return options;
}

TEST(AuditKillTest, EveryAcknowledgedChangeIsAuditedAfterSigkill) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  ASSERT_TRUE(mesh.SeedReferenceData().ok());

  absl::Mutex mu;
  std::vector<std::string> acknowledged;  // trace ids of calls answered OK
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      sdk::DefectClient otto = mesh.Defects("otto");
      sdk::DefectClient anna = mesh.Defects("anna");
      for (int i = 0; i < kReportsPerClient; ++i) {
        const std::string report_trace = absl::StrCat("kill9-c", c, "-report-", i);
        defect::v1::CreateDefectRequest create;
        *create.mutable_defect() = SampleDefect(absl::StrCat("VIN-K9-", c, "-", i));
        auto created = otto.CreateDefect(create, Traced(report_trace));
        ASSERT_TRUE(created.ok()) << Describe(created.status());
        {
          absl::MutexLock lock(&mu);
          acknowledged.push_back(report_trace);
        }
        const std::string update_trace = absl::StrCat("kill9-c", c, "-update-", i);
        defect::v1::UpdateDefectRequest update;
        update.mutable_defect()->set_id(created->defect().id());
        update.mutable_defect()->set_description(absl::StrCat("Scratch, ", i, " cm"));
        update.mutable_update_mask()->add_paths("description");
        update.set_etag(created->defect().etag());
        update.set_request_id(absl::StrCat("k9-update-", c, "-", i));
        auto updated = anna.UpdateDefect(update, Traced(update_trace));
        ASSERT_TRUE(updated.ok()) << Describe(updated.status());
        absl::MutexLock lock(&mu);
        acknowledged.push_back(update_trace);
      }
    });
  }
  for (std::thread& t : clients) t.join();
  // Right after the last response: no drain, nothing flushed.
  mesh.server().Kill();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(acknowledged.size(), static_cast<size_t>(2 * kClients * kReportsPerClient));

  pqxx::connection connection(mesh.database_url());
  pqxx::nontransaction tx(connection);
  std::map<std::string, int> rows;
  for (const pqxx::row& r :
       tx.exec("SELECT trace_id, count(*) FROM audit.audit_log WHERE trace_id LIKE 'kill9-%' "
               "AND status_code = 0 GROUP BY trace_id")) {
    rows[r[0].as<std::string>()] = r[1].as<int>();
  }
  int missing = 0;
  for (const std::string& trace : acknowledged) {
    auto it = rows.find(trace);
    if (it == rows.end()) {
      ++missing;
      ADD_FAILURE() << "acknowledged call " << trace << " has no audit row";
    } else {
      EXPECT_EQ(it->second, 1) << "audit rows of " << trace;
    }
  }
  EXPECT_EQ(missing, 0) << "of " << acknowledged.size() << " acknowledged changes";
  // Each row names its call and keeps the request.
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM audit.audit_log WHERE trace_id LIKE 'kill9-%report%' "
                     "AND method = 'plantmesh.defect.v1.DefectService.CreateDefect' "
                     "AND identity LIKE '%/user/otto' AND request->'defect'->>'vin' LIKE "
                     "'VIN-K9-%'")[0]
                .as<int>(),
            kClients * kReportsPerClient);
}

}  // namespace
}  // namespace plantmesh::e2e
