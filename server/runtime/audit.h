// The audit log: one record per mutating call (and per denied call), with who, what,
// when and the outcome, in PostgreSQL (runtime schema `audit`, table audit.audit_log).
//
// Two ways in:
// - An acknowledged change: its row is written by the store inside the change's own
//   transaction (ChangeAudit below, pg_audit_sink.h's AuditRowSql/WriteAuditInTransaction),
//   so once the client has its OK the row is as durable as the change; a `kill -9` right
//   after the response loses neither.
// - Everything else (refused and failed calls, calls whose store wrote no row, reads with
//   audit-reads): AuditSink, queued and written in batches; Flush() runs while draining,
//   so a SIGTERM loses none, a kill -9 may lose what was still queued.
// A retry answered from the request log (same request_id and payload) is a call of its
// own that changes nothing: it is audited through the sink, with its own trace id, and
// never writes a second row for the change it replays.
#pragma once

#include <atomic>
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

// The audit of one admitted mutating call, carried by its CallContext to the store
// that commits the call's change. The runtime fills it (StandardCallPolicy::Begin: who,
// roles, method, trace id; the handler's ChangeContext: the request); the store writes
// Row() inside the change's transaction and, once that transaction committed, calls
// MarkWritten(), so that the call's end writes no second row. A store given none (tests,
// a server without an audit log) writes none.
class ChangeAudit {
 public:
  ChangeAudit() = default;
  ChangeAudit(const ChangeAudit&) = delete;
  ChangeAudit& operator=(const ChangeAudit&) = delete;

  // By the runtime. `base`: identity, roles, method, trace_id (status and time are set
  // by Row()); `request_json` the request as audited (see AuditRecord), may be empty.
  void Activate(AuditRecord base);
  bool active() const { return active_; }
  void SetRequestJson(std::string request_json);

  // By the store: the row of the change as acknowledged (status OK) at `time`.
  AuditRecord Row(absl::Time time) const;
  // By the store, after its commit; by the runtime, before writing the call's own row.
  void MarkWritten() { written_.store(true, std::memory_order_release); }
  bool written() const { return written_.load(std::memory_order_acquire); }
  const std::string& request_json() const { return base_.request_json; }

 private:
  bool active_ = false;
  AuditRecord base_;
  std::atomic<bool> written_{false};
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
