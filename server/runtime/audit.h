// The audit log: one record per mutating call (and per denied call), with who, what,
// when and the outcome. Written to PostgreSQL (runtime schema `audit`) asynchronously in
// batches; Flush() runs while draining so that nothing recorded is lost on SIGTERM.
// The transactional who/when/what of each change is the service's own history table.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace plantmesh::runtime {

struct AuditRecord {
  absl::Time time;
  std::string identity;
  std::vector<std::string> roles;
  std::string method;  // fully qualified
  std::string trace_id;
  int status_code = 0;  // grpc status code of the outcome
  std::string status_message;
  std::string request_json;  // the request as JSON (bytes fields elided), may be empty
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Never blocks on the database; queues the record.
  virtual void Record(AuditRecord record) = 0;
  // Writes everything queued; returns when done or after `timeout`.
  virtual void Flush(absl::Duration timeout) = 0;
};

}  // namespace plantmesh::runtime
