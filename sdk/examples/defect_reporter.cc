#include "defect_reporter.h"

#include <algorithm>
#include <utility>

namespace plantmesh_examples {
namespace {

namespace dv1 = plantmesh::defect::v1;

std::string Join(const std::vector<std::string>& words, const std::string& separator) {
  std::string out;
  for (const std::string& word : words) {
    if (!out.empty()) out += separator;
    out += word;
  }
  return out;
}

}  // namespace

bool DefectReporter::HasAnyOf(const std::vector<std::string>& wanted) const {
  return std::any_of(wanted.begin(), wanted.end(), [this](const std::string& role) {
    return std::find(roles_.begin(), roles_.end(), role) != roles_.end();
  });
}

absl::Status DefectReporter::CheckRoles() {
  absl::StatusOr<plantmesh::system::v1::WhoAmIResponse> me = system_.WhoAmI({});
  if (!me.ok()) return me.status();
  identity_ = me->identity();
  roles_.assign(me->roles().begin(), me->roles().end());
  if (HasAnyOf(kReportRoles)) return absl::OkStatus();
  return absl::PermissionDeniedError(
      "reporting a defect needs one of the roles " + Join(kReportRoles, ", ") + "; " + identity_ +
      " has " + (roles_.empty() ? "no role" : "only " + Join(roles_, ", ")) +
      ". Ask the mesh's admin to bind one of them to this identity (role-binding file).");
}

absl::Status DefectReporter::EnsureCategory(const std::string& code) {
  // The catalog comes in pages when it is large: look through every one.
  bool exists = false;
  absl::Status listed =
      defects_.ForEachDefectCategory({}, [&](const dv1::DefectCategory& category) {
        exists = category.code() == code;
        return !exists;
      });
  if (!listed.ok()) return listed;
  if (exists) return absl::OkStatus();
  if (!HasAnyOf(kCategoryRoles)) {
    return absl::FailedPreconditionError(
        "defect category " + code + " does not exist, and creating it needs the role " +
        Join(kCategoryRoles, " or ") + ", which " + identity_ +
        " does not have: ask one who has it, or report with an existing --category");
  }
  dv1::CreateDefectCategoryRequest request;
  request.mutable_category()->set_code(code);
  request.mutable_category()->set_title(code);
  request.mutable_category()->set_default_severity(dv1::SEVERITY_MINOR);
  absl::StatusOr<dv1::CreateDefectCategoryResponse> created =
      defects_.CreateDefectCategory(request);
  if (created.ok() || absl::IsAlreadyExists(created.status())) return absl::OkStatus();
  return created.status();
}

absl::StatusOr<dv1::Defect> DefectReporter::Report(const DefectReport& report) {
  dv1::CreateDefectRequest request;  // request_id is filled by the SDK
  dv1::Defect& defect = *request.mutable_defect();
  defect.set_vin(report.vin);
  defect.set_model(report.model);
  defect.set_shift(report.shift);
  defect.set_zone(report.zone);
  defect.set_station(report.station);
  defect.set_category_code(report.category);
  defect.set_description(report.description);
  defect.set_detected_by("defect_report example");
  absl::StatusOr<dv1::CreateDefectResponse> created = defects_.CreateDefect(request);
  if (!created.ok()) return created.status();
  return created->defect();
}

absl::StatusOr<std::map<std::string, int>> DefectReporter::CountByStatus(const std::string& zone) {
  dv1::ListDefectsRequest request;
  request.set_zone(zone);
  request.set_page_size(100);
  std::map<std::string, int> by_status;
  absl::Status listed = defects_.ForEachDefect(request, [&by_status](const dv1::Defect& defect) {
    ++by_status[dv1::DefectStatus_Name(defect.status())];
    return true;
  });
  if (!listed.ok()) return listed;
  return by_status;
}

}  // namespace plantmesh_examples
