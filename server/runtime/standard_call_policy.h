// The CallPolicy of plantmesh-server: request id, draining check, identity from the
// client certificate's single URI SAN, roles from the role bindings, authorization
// against the contract's roles, then (in End) the absl → gRPC status mapping, audit,
// per-method counters and one log line.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "server/runtime/access_policy.h"
#include "server/runtime/audit.h"
#include "server/runtime/call_metrics.h"
#include "server/runtime/call_policy.h"
#include "server/runtime/denial_budget.h"
#include "server/runtime/role_bindings.h"

namespace plantmesh::runtime {

class StandardCallPolicy : public CallPolicy {
 public:
  struct Options {
    // Every caller is "insecure:local" (no client certificates).
    bool insecure = false;
    // Identities must be valid SPIFFE IDs (spiffe_id.h) spiffe://<trust_domain>/<path>;
    // anything else is UNAUTHENTICATED.
    std::string trust_domain = "plantmesh.local";
    // Audit read-only calls too (mutating calls and denials always are).
    bool audit_reads = false;
    std::function<absl::Time()> now = [] { return absl::Now(); };
    // Where the per-call metrics go (call_metrics.h); nullptr: none. Not owned.
    MetricsRegistry* metrics = nullptr;
    // max-send-message-bytes (MaxResponseBytes).
    size_t max_response_bytes = SIZE_MAX;
  };

  struct MethodStats {
    int64_t calls = 0;
    int64_t errors = 0;  // outcomes other than OK
    int64_t denied = 0;  // refused by Begin (unauthenticated, forbidden, draining)
    absl::Duration latency_sum;
  };

  // Pointers are not owned and must outlive the policy.
  StandardCallPolicy(Options options, const RoleBindingStore* bindings, AuditSink* audit);

  // Installs what the contracts of the hosted services declare. Called once, after
  // the services are built (they need the policy) and before the server starts.
  void SetAccessPolicy(AccessPolicy access);

  // The call's x-request-id goes back in the headers of a stream once it opened
  // (StreamOpened) and of a unary call that succeeds, in the trailers of any call that
  // fails before its headers (Begin's refusals, End): a failed call answered without
  // headers can be retried by gRPC.
  grpc::Status Begin(grpc::ServerContextBase* server_context, std::string_view method,
                     CallContext* call) override;
  grpc::Status End(const CallContext& call, const absl::Status& status,
                   const google::protobuf::Message* request) override;
  void StreamOpened(CallContext& call) override;
  size_t MaxResponseBytes() const override { return options_.max_response_bytes; }

  // Counters per fully qualified method since start.
  std::map<std::string, MethodStats> Stats() const;

 private:
  // One per method of the hosted services: what Begin and End need, found by one
  // lookup in Begin (End gets it through CallContext::policy_method).
  struct Counters {
    const MethodAccess* access = nullptr;  // in access_
    mutable std::atomic<int64_t> calls{0};
    mutable std::atomic<int64_t> errors{0};
    mutable std::atomic<int64_t> denied{0};
    mutable std::atomic<int64_t> latency_ns{0};
    CallMetrics::Method* series = nullptr;  // null without a metrics registry
  };

  const Counters* CountersOf(std::string_view method) const;
  // Begin's checks: identity, authorization, draining; fills `call` when it admits it.
  grpc::Status Admit(grpc::ServerContextBase* server_context, std::string_view method,
                     CallContext* call);
  grpc::Status Deny(const std::string& method, const std::string& identity,
                    const std::vector<std::string>& roles, const std::string& trace_id,
                    absl::Time start, absl::Status status);

  Options options_;
  AccessPolicy access_;
  const RoleBindingStore* bindings_;
  AuditSink* audit_;
  std::unique_ptr<CallMetrics> metrics_;  // null without options_.metrics
  // Denials logged and audited one by one per identity: a second's worth, bursts of 100.
  static constexpr int kDenialsWrittenPerSecond = 10;
  DenialBudget denials_written_{kDenialsWrittenPerSecond, 100};
  // One entry per known method, created up front: the hot path only touches atomics.
  std::map<std::string, std::unique_ptr<Counters>, std::less<>> counters_;
};

}  // namespace plantmesh::runtime
