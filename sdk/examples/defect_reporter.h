// DefectReporter: the integrator code of the defect_report example (what an MES
// connector would hold), written against the typed clients only, so that its unit test
// (defect_reporter_test.cc) runs it over the SDK's mock connections without a server.
//
// Roles it needs (the contract's access rules for the methods it calls):
//   - one of kReportRoles to report a defect and read the catalog and the defects;
//   - one of kCategoryRoles in addition, only when the category does not exist yet.
// CheckRoles() asks the server (WhoAmI) before anything else and says which role is
// missing, instead of failing halfway with PERMISSION_DENIED.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "plantmesh/defect/v1/defect_service.pm_client.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace plantmesh_examples {

// CreateDefect (ListDefects and ListDefectCategories allow all of these too).
inline const std::vector<std::string> kReportRoles = {"operator", "foreman", "qc_engineer", "admin",
                                                      "integrator"};
// CreateDefectCategory.
inline const std::vector<std::string> kCategoryRoles = {"qc_engineer", "admin"};

struct DefectReport {
  std::string vin;
  std::string model;
  std::string shift;
  std::string zone;
  std::string station;
  std::string category;
  std::string description;
};

class DefectReporter {
 public:
  DefectReporter(plantmesh::sdk::SystemClient system, plantmesh::sdk::DefectClient defects)
      : system_(std::move(system)), defects_(std::move(defects)) {}

  // WhoAmI, then: PERMISSION_DENIED naming the identity, its roles and the roles that
  // would do when it has none of kReportRoles. Call first; the other methods use the
  // roles it found.
  absl::Status CheckRoles();
  const std::string& identity() const { return identity_; }
  const std::vector<std::string>& roles() const { return roles_; }

  // OK when the category exists or was created now (someone else creating it at the
  // same time is fine); FAILED_PRECONDITION naming who may create it when it is missing
  // and this identity may not.
  absl::Status EnsureCategory(const std::string& code);

  // Reports the defect (the SDK fills request_id) and returns it as stored.
  absl::StatusOr<plantmesh::defect::v1::Defect> Report(const DefectReport& report);

  // Defects in `zone`, every page, counted by status name (e.g. "DEFECT_STATUS_REPORTED").
  absl::StatusOr<std::map<std::string, int>> CountByStatus(const std::string& zone);

 private:
  bool HasAnyOf(const std::vector<std::string>& wanted) const;

  plantmesh::sdk::SystemClient system_;
  plantmesh::sdk::DefectClient defects_;
  std::string identity_;
  std::vector<std::string> roles_;
};

}  // namespace plantmesh_examples
