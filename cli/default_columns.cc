#include "cli/default_columns.h"

#include <map>

namespace plantmesh::cli {
namespace {

using google::protobuf::FieldDescriptor;

constexpr size_t kMaxFallbackColumns = 8;

// Chosen per resource: identity, state, where, what, when. New resources fall back to
// the rule below until they are listed here.
const std::map<std::string, std::vector<std::string>>& ChosenColumns() {
  static const auto* columns = new std::map<std::string, std::vector<std::string>>{
      {"plantmesh.defect.v1.Defect",
       {"id", "status", "zone", "vin", "category_code", "severity", "update_time"}},
      {"plantmesh.defect.v1.HistoryEntry",
       {"sequence", "change_type", "actor", "change_time", "comment"}},
      {"plantmesh.defect.v1.Photo",
       {"id", "file_name", "content_type", "size_bytes", "uploaded_by", "upload_time"}},
      {"plantmesh.defect.v1.RepairPlace",
       {"id", "display_name", "zone", "state", "current_defect_id"}},
      {"plantmesh.defect.v1.Crew", {"id", "display_name", "zone"}},
      {"plantmesh.defect.v1.Mechanic", {"id", "display_name", "crew_id"}},
      {"plantmesh.defect.v1.DefectCategory", {"code", "title", "default_severity"}},
      {"plantmesh.defect.v1.DefectEvent",
       {"event_time", "change_type", "defect.id", "defect.status", "defect.zone", "actor"}},
      // One of number, text, condition and unavailable is set; the others print empty.
      {"plantmesh.telemetry.v1.Sample",
       {"machine_id", "data_item_id", "time", "number", "text", "condition.level",
        "condition.native_code", "unavailable"}},
  };
  return *columns;
}

}  // namespace

std::vector<std::string> DefaultColumnNames(const google::protobuf::Descriptor* type) {
  auto chosen = ChosenColumns().find(type->full_name());
  if (chosen != ChosenColumns().end()) return chosen->second;
  std::vector<std::string> names;
  for (int i = 0; i < type->field_count() && names.size() < kMaxFallbackColumns; ++i) {
    const FieldDescriptor* field = type->field(i);
    if (field->is_repeated()) continue;
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        field->message_type()->full_name() != "google.protobuf.Timestamp") {
      continue;
    }
    names.push_back(field->name());
  }
  return names;
}

}  // namespace plantmesh::cli
