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
  // The request as JSON (bytes fields elided), may be empty. A sink may shorten it:
  // the PostgreSQL sink keeps at most 8 KiB, as
  // {"truncated":true,"bytes":N,"prefix":"..."} when the request was longer.
  std::string request_json;
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Queues the record without waiting for the database, as long as the queue has
  // room. When the database has fallen so far behind that the queue is full (the
  // PostgreSQL sink holds 100k records or 64 MiB), the caller writes its own record
  // synchronously instead: auditing every change matters more than latency, and the
  // wait slows the flood.
  virtual void Record(AuditRecord record) = 0;
  // Writes everything queued; returns when done or after `timeout`.
  virtual void Flush(absl::Duration timeout) = 0;
};

}  // namespace plantmesh::runtime
