#include "server/runtime/audit.h"

#include <utility>

namespace plantmesh::runtime {

void ChangeAudit::Activate(AuditRecord base) {
  base_ = std::move(base);
  active_ = true;
}

void ChangeAudit::SetRequestJson(std::string request_json) {
  base_.request_json = std::move(request_json);
}

AuditRecord ChangeAudit::Row(absl::Time time) const {
  AuditRecord row = base_;
  row.time = time;
  row.status_code = 0;  // OK: the row commits with the change, or not at all
  row.status_message.clear();
  return row;
}

}  // namespace plantmesh::runtime
