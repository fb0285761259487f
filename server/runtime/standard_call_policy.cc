#include "server/runtime/standard_call_policy.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "server/runtime/errors.h"
#include "server/runtime/grpc_status.h"
#include "server/runtime/logging.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/spiffe_id.h"
#include "server/runtime/tls.h"

namespace plantmesh::runtime {
namespace {

constexpr char kRequestIdHeader[] = "x-request-id";
constexpr size_t kMaxRequestIdLength = 128;

// The URI SANs of the peer's certificate (gRPC gives the leaf alone).
std::vector<std::string> PresentedUris(const grpc::AuthContext* auth) {
  if (auth == nullptr) return {};
  const std::vector<grpc::string_ref> pems = auth->FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return {};
  return UriSansOfPem(absl::string_view(pems[0].data(), pems[0].size()));
}

// An identity that was not accepted, as the audit row and the log show it: in quotes, its
// own quotes and backslashes escaped, so that it is never read as an accepted identity or
// as several values (re-test: `x',admin,'y` read as three).
std::string RefusedIdentity(std::string_view identity) {
  return QuoteForMessage(absl::StrReplaceAll(absl::string_view(identity.data(), identity.size()),
                                             {{"\\", "\\\\"}, {"'", "\\'"}}));
}

// Why gRPC gave a client certificate no SPIFFE ID (it names one only for a single URI
// SAN it accepts): how many URI SANs it has, or what is wrong with its one (outside
// testing: "spiffe://plantmesh.local", with no path, and "SPIFFE://..." were told they
// did not carry exactly one URI SAN, and a non-ASCII byte was shown as two characters).
std::string WhyNoSpiffeId(const std::vector<std::string>& uris) {
  if (uris.size() != 1) {
    return absl::StrCat("client certificate must carry exactly one URI SAN (it has ", uris.size(),
                        ")");
  }
  absl::StatusOr<SpiffeId> id = ParseCallerIdentity(uris[0]);
  return absl::StrCat("client certificate identity ", RefusedIdentity(uris[0]), " is ",
                      id.ok() ? "not a SPIFFE ID the TLS layer accepts" : id.status().message());
}

// 128 random bits as 32 lowercase hex digits.
std::string NewTraceId() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  constexpr char kHex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = engine();
    for (int i = 0; i < 16; ++i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0xf];
  }
  return id;
}

// A client-supplied id is kept when it is 1-128 characters of visible ASCII (it goes into
// log lines, where a space or a control character could forge a field); otherwise why not.
std::optional<std::string_view> WhyRequestIdUnusable(std::string_view id) {
  if (id.empty()) return "empty";
  if (id.size() > kMaxRequestIdLength) return "longer than 128 characters";
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return "holds a space or a character outside visible ASCII";
    // What a proxy makes of two ids (RFC 9110 joins repeated fields with commas).
    if (c == ',') return "holds a comma: two ids joined?";
  }
  return std::nullopt;
}

// The client's x-request-id, or a new id when it sent none or one not kept: then `*why`
// says why, for the response's x-request-id-replaced header, so that a client correlating
// by its own id learns the link is lost (outside testing: an id with a space was replaced
// silently).
std::string TraceIdOf(grpc::ServerContextBase& context, std::string* why) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kRequestIdHeader);
  if (it != metadata.end()) {
    std::string_view id(it->second.data(), it->second.size());
    // Two of them: neither is the call's (re-test: the second was dropped without a word).
    const std::optional<std::string_view> unusable =
        metadata.count(kRequestIdHeader) > 1 ? "given more than once" : WhyRequestIdUnusable(id);
    if (!unusable) return std::string(id);
    why->assign(unusable->data(), unusable->size());
  }
  return NewTraceId();
}

// Sends the call's x-request-id (and x-request-id-replaced) back: in the headers of a
// stream its handler opened, or of a unary call that succeeds; otherwise in the trailers. A failed
// call's response is then headers-free ("Trailers-Only"), which gRPC's retry policy needs to try it
// again: a client that received headers holds the call committed (gRFC A6), and gRPC sends no
// Trailers-Only response once a header was added (outside testing: no call the server refused with
// UNAVAILABLE and a retry delay was retried by the SDK's channel).
void EchoRequestId(grpc::ServerContextBase* context, const CallContext& call, bool headers) {
  if (context == nullptr) return;
  const auto add = headers ? &grpc::ServerContextBase::AddInitialMetadata
                           : &grpc::ServerContextBase::AddTrailingMetadata;
  (context->*add)(kRequestIdHeader, call.trace_id);
  if (!call.request_id_replaced.empty()) {
    (context->*add)("x-request-id-replaced", call.request_id_replaced);
  }
}

// The fields of a call's JSON log line (logging.h).
void AddCallFields(const std::string& method, const std::string& identity,
                   const std::string& trace_id, absl::StatusCode code, LogFields* fields) {
  const size_t dot = method.rfind('.');
  fields->Add("service", dot == std::string::npos ? std::string() : method.substr(0, dot))
      .Add("method", method.substr(dot == std::string::npos ? 0 : dot + 1))
      .Add("peer", identity)
      .Add("trace_id", trace_id)
      .Add("status", absl::StatusCodeToString(code));
}

}  // namespace

StandardCallPolicy::StandardCallPolicy(Options options, const RoleBindingStore* bindings,
                                       AuditSink* audit)
    : options_(std::move(options)), bindings_(bindings), audit_(audit) {
  if (options_.metrics != nullptr) metrics_ = std::make_unique<CallMetrics>(options_.metrics);
}

void StandardCallPolicy::SetAccessPolicy(AccessPolicy access) {
  access_ = std::move(access);
  counters_.clear();
  for (const auto& [name, method] : access_.methods()) {
    auto counters = std::make_unique<Counters>();
    counters->access = &method;
    if (metrics_ != nullptr) counters->series = metrics_->ForMethod(name);
    counters_.emplace(name, std::move(counters));
  }
}

const StandardCallPolicy::Counters* StandardCallPolicy::CountersOf(std::string_view method) const {
  auto it = counters_.find(method);
  return it == counters_.end() ? nullptr : it->second.get();
}

grpc::Status StandardCallPolicy::Begin(grpc::ServerContextBase* server_context,
                                       std::string_view method, CallContext* call) {
  call->trace_id = TraceIdOf(*server_context, &call->request_id_replaced);
  grpc::Status admitted = Admit(server_context, method, call);
  // An admitted call's go with its headers (StreamOpened) or its status (End).
  if (!admitted.ok()) EchoRequestId(server_context, *call, /*headers=*/false);
  return admitted;
}

void StandardCallPolicy::StreamOpened(CallContext& call) {
  EchoRequestId(call.server_context, call, /*headers=*/true);
  call.headers_sent = true;
}

grpc::Status StandardCallPolicy::Admit(grpc::ServerContextBase* server_context,
                                       std::string_view method, CallContext* call) {
  const absl::Time start = options_.now();
  // The one lookup of the method per call: its access rule and counters.
  const Counters* counters = CountersOf(method);
  const MethodAccess* access = counters != nullptr ? counters->access : nullptr;
  if (counters != nullptr && counters->series != nullptr) counters->series->Started();
  const std::string& trace_id = call->trace_id;
  // Only a refusal needs the name as a string of its own.
  const auto method_name = [method] { return std::string(method); };

  if (Draining()) {
    // The reason the streams a drain ends carry (watch.cc), so a client tells one apart.
    absl::Status draining =
        ServerDraining("server is shutting down: call another replica, or again once it is back");
    AddRetryPushback(server_context, draining);
    return Deny(method_name(), "", {}, trace_id, start, std::move(draining));
  }

  std::string identity;
  if (options_.insecure) {
    identity = std::string(kInsecureIdentity);
  } else {
    std::shared_ptr<const grpc::AuthContext> auth = server_context->auth_context();
    std::vector<grpc::string_ref> ids;
    if (auth != nullptr) ids = auth->FindPropertyValues("peer_spiffe_id");
    if (ids.size() != 1) {
      // What the certificate presented, quoted (re-test: SPIFFE:// in capitals left the
      // audit row's identity empty although the refusal quoted it).
      const std::vector<std::string> uris = PresentedUris(auth.get());
      std::vector<std::string> shown;
      for (const std::string& uri : uris) shown.push_back(RefusedIdentity(uri));
      return Deny(method_name(), absl::StrJoin(shown, ", "), {}, trace_id, start,
                  absl::UnauthenticatedError(WhyNoSpiffeId(uris)));
    }
    identity.assign(ids[0].data(), ids[0].size());
    // Validated as the SPIFFE spec says before any binding is looked up: role bindings
    // match by prefix, and "service/../user/anna" must not count as a service. The trust
    // domain alone names nobody.
    absl::StatusOr<SpiffeId> id = ParseCallerIdentity(identity);
    if (!id.ok()) {
      return Deny(method_name(), RefusedIdentity(identity), {}, trace_id, start,
                  absl::UnauthenticatedError(absl::StrCat("client certificate identity ",
                                                          RefusedIdentity(identity), " is ",
                                                          id.status().message())));
    }
    if (id->trust_domain != options_.trust_domain) {
      // Quoted in the audit row, as every identity not accepted is (outside testing: a
      // foreign trust domain's ID was written there like an authenticated one).
      return Deny(
          method_name(), RefusedIdentity(identity), {}, trace_id, start,
          absl::UnauthenticatedError(absl::StrCat(
              "identity ", identity, " is not in the trust domain ", options_.trust_domain)));
    }
  }

  std::vector<std::string> roles = bindings_->RolesOf(identity);
  if (access == nullptr || !access->Allows(roles)) {
    const std::string display = access != nullptr ? access->display_name : method_name();
    const std::string needs = access != nullptr ? access->roles_text : "(undeclared method)";
    absl::Status denied = absl::PermissionDeniedError(absl::StrCat(
        "identity ", identity, " (roles: ", roles.empty() ? "none" : "", absl::StrJoin(roles, ","),
        ") may not call ", display, "; it needs one of: ", needs));
    denied = WithErrorInfo(
        std::move(denied), "PERMISSION_DENIED_ROLE",
        {{"required_roles", access != nullptr ? absl::StrJoin(access->roles, ",") : std::string()},
         {"identity", identity},
         {"method", method_name()}});
    return Deny(method_name(), identity, roles, trace_id, start, std::move(denied));
  }

  call->server_context = server_context;
  call->method.assign(method.data(), method.size());
  call->policy_method = counters;
  call->identity = std::move(identity);
  call->roles = std::move(roles);
  call->start_time = start;
  call->mutating = access->mutating;
  call->audited = audit_ != nullptr && (call->mutating || options_.audit_reads);
  if (audit_ != nullptr && call->mutating) {
    // The store that commits the change writes this row in its transaction (audit.h).
    AuditRecord base;
    base.identity = call->identity;
    base.roles = call->roles;
    base.method = call->method;
    base.trace_id = call->trace_id;
    call->change_audit.Activate(std::move(base));
  }
  return grpc::Status::OK;
}

grpc::Status StandardCallPolicy::Deny(const std::string& method, const std::string& identity,
                                      const std::vector<std::string>& roles,
                                      const std::string& trace_id, absl::Time start,
                                      absl::Status status) {
  const absl::Duration latency = options_.now() - start;
  if (auto it = counters_.find(method); it != counters_.end()) {
    it->second->calls.fetch_add(1, std::memory_order_relaxed);
    it->second->errors.fetch_add(1, std::memory_order_relaxed);
    it->second->denied.fetch_add(1, std::memory_order_relaxed);
    if (it->second->series != nullptr) it->second->series->Handled(status.code(), latency);
  }
  // As End tells the client and the audit (ForClient); the log below has the original.
  std::string error_id;
  const absl::Status sent = ForClient(status, &error_id);
  // Refusals while draining are not security events; everything else is audited, within
  // the identity's budget (denial_budget.h).
  const bool security_event = status.code() != absl::StatusCode::kUnavailable;
  int64_t untold = 0;
  if (security_event && !denials_written_.Admit(identity, start, &untold)) {
    return ToGrpcStatus(sent);
  }
  const std::string not_written =
      untold == 0 ? std::string()
                  : absl::StrCat(" (", untold,
                                 " denied calls of this identity before this one were not "
                                 "logged or audited one by one: over ",
                                 kDenialsWrittenPerSecond, " a second)");
  LogFields fields;
  if (JsonLogging()) {
    AddCallFields(method, identity, trace_id, status.code(), &fields);
    fields.Add("latency_ms", absl::ToDoubleMilliseconds(latency));
    if (untold > 0) fields.Add("denials_not_written", untold);
  }
  ScopedLogFields scope(&fields);
  spdlog::warn("rpc {} identity={} code={} denied: {} trace={}{}", method,
               identity.empty() ? "-" : identity, absl::StatusCodeToString(status.code()),
               std::string(status.message()), trace_id, not_written);
  if (security_event && audit_ != nullptr) {
    AuditRecord record;
    record.time = options_.now();
    record.identity = identity;
    record.roles = roles;
    record.method = method;
    record.trace_id = trace_id;
    record.status_code = static_cast<int>(sent.code());
    record.status_message = absl::StrCat(sent.message(), not_written);
    audit_->Record(std::move(record));
  }
  return ToGrpcStatus(sent);
}

grpc::Status StandardCallPolicy::End(const CallContext& call, const absl::Status& status,
                                     const google::protobuf::Message* request) {
  const absl::Time end = options_.now();
  const absl::Duration latency = end - call.start_time;
  const Counters* counters = call.policy_method != nullptr
                                 ? static_cast<const Counters*>(call.policy_method)
                                 : CountersOf(call.method);
  // A server fault's text (a database's message, a path) stays in this log; the client,
  // and the audit row, get an error id that finds it here.
  std::string error_id;
  const absl::Status sent = call.AsTheClientGetsIt(ForClient(status, &error_id));
  if (counters != nullptr) {
    counters->calls.fetch_add(1, std::memory_order_relaxed);
    // As the client got it (re-test: the summary at stop counted a change committed past
    // its deadline as a success).
    if (!sent.ok()) counters->errors.fetch_add(1, std::memory_order_relaxed);
    counters->latency_ns.fetch_add(absl::ToInt64Nanoseconds(latency), std::memory_order_relaxed);
  }
  if (counters != nullptr && counters->series != nullptr) {
    counters->series->Handled(sent.code(), latency);
  }
  LogFields fields;
  if (JsonLogging()) {
    AddCallFields(call.method, call.identity, call.trace_id, sent.code(), &fields);
    if (!call.request_id.empty()) fields.Add("request_id", call.request_id);
    fields.Add("latency_ms", absl::ToDoubleMilliseconds(latency));
    if (call.server_context != nullptr) fields.Add("peer_address", call.server_context->peer());
    if (!error_id.empty()) fields.Add("error_id", error_id);
  }
  ScopedLogFields scope(&fields);
  if (!error_id.empty()) {
    spdlog::error("rpc {} identity={} code={} error_id={} trace={} detail: {}", call.method,
                  call.identity, absl::StatusCodeToString(status.code()), error_id, call.trace_id,
                  std::string(status.message()));
  }
  // A change's row is already committed with it (ChangeAudit): a unary call answered as
  // its handler said writes no second one. A call whose client got another end than the
  // row says gets a row of that end too: a client stream whose row came with its first
  // commit (telemetry ingest) and that then ends otherwise than OK (outside testing: a
  // stream refused after it stored batches read OK), and a change committed after its
  // deadline passed or its client cancelled (re-test: audited OK alone, while the client
  // got DEADLINE_EXCEEDED and may have tried again).
  const bool ended_otherwise = !sent.ok() && (request == nullptr || status.ok());
  if (call.audited && (!call.change_audit.written() || ended_otherwise)) {
    AuditRecord record;
    record.time = end;
    record.identity = call.identity;
    record.roles = call.roles;
    record.method = call.method;
    record.trace_id = call.trace_id;
    record.status_code = static_cast<int>(sent.code());
    record.status_message = std::string(sent.message());
    // Client streams have no single request: the handler describes what it did.
    if (request == nullptr) {
      record.request_json = call.audit_detail_json;
    } else if (!call.change_audit.request_json().empty()) {
      record.request_json = call.change_audit.request_json();  // printed once per call
    } else {
      record.request_json = AuditJsonOf(*request);
    }
    audit_->Record(std::move(record));
  }
  if (sent.ok()) {
    spdlog::info("rpc {} identity={} code=OK latency_ms={:.3f} trace={}", call.method,
                 call.identity, absl::ToDoubleMilliseconds(latency), call.trace_id);
  } else {
    spdlog::info("rpc {} identity={} code={} latency_ms={:.3f} trace={} message={}", call.method,
                 call.identity, absl::StatusCodeToString(sent.code()),
                 absl::ToDoubleMilliseconds(latency), call.trace_id, std::string(sent.message()));
  }
  AddRetryPushback(call.server_context, sent);
  if (!call.headers_sent) EchoRequestId(call.server_context, call, sent.ok());
  return ToGrpcStatus(sent);
}

std::map<std::string, StandardCallPolicy::MethodStats> StandardCallPolicy::Stats() const {
  std::map<std::string, MethodStats> stats;
  for (const auto& [name, counters] : counters_) {
    MethodStats& entry = stats[name];
    entry.calls = counters->calls.load(std::memory_order_relaxed);
    entry.errors = counters->errors.load(std::memory_order_relaxed);
    entry.denied = counters->denied.load(std::memory_order_relaxed);
    entry.latency_sum = absl::Nanoseconds(counters->latency_ns.load(std::memory_order_relaxed));
  }
  return stats;
}

}  // namespace plantmesh::runtime
