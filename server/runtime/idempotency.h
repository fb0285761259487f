// request_id idempotency, the same for every mutating method of every service: a
// request_id names one call of one method by one caller. The first call's change and
// its response are recorded in the same transaction; a retry (same caller, method,
// request_id and payload) gets that response back, byte for byte, and changes nothing;
// the same key with a different payload is ALREADY_EXISTS with ErrorInfo
// REQUEST_ID_REUSED. Another caller, or another method, using the same request_id
// makes a call of its own. The PostgreSQL side is PgRequestLog (pg_request_log.h).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace google::protobuf {
class FieldDescriptor;
class Message;
}  // namespace google::protobuf

namespace plantmesh::runtime {

struct CallContext;

// Who made which call: the key of the request log and what its payload was.
struct IdempotencyKey {
  std::string identity;    // the caller (CallContext::identity)
  std::string method;      // fully qualified, e.g. plantmesh.defect.v1.DefectService.UpdateDefect
  std::string request_id;  // "" = the call is not deduplicated and nothing is recorded
  std::string payload_sha256;  // PayloadFingerprint of the request
};

// `message`'s singular string field `request_id`, the contract's name for the key; nullptr
// when it has none.
const google::protobuf::FieldDescriptor* RequestIdField(const google::protobuf::Message& message);

// SHA-256 (64 lowercase hex digits) of CanonicalPayload(request).
std::string PayloadFingerprint(const google::protobuf::Message& request);

// `message` serialized as a retry of it compares: without its `request_id` field (when
// it has one), without its root `etag` (the write's precondition: a retry after reading
// the resource again sends the new one), without unknown fields, with -0.0 as 0.0 (outside testing:
// an ImportDemand retry that re-encoded a quantity 0 as -0 was REQUEST_ID_REUSED), Timestamps and
// Durations to whole microseconds (as the server reads them), a FieldMask's paths sorted
// (a set) and, in an update (a
// root update_mask), without
// what the update ignores: its resource's fields the mask does not name and output-only
// ones, but for what names the resource (outside testing: a retry of UpdateDefect that
// re-read the defect and so sent its new revision was REQUEST_ID_REUSED) — serialized
// deterministically (CodedOutputStream::SetSerializationDeterministic).
//
// Why that is enough: both fingerprints being compared are made by this server from
// messages it parsed with the same schema and library. Protobuf's serializer then has
// exactly one free choice, the order of map entries, which deterministic mode fixes
// (sorted by key); fields are written in field-number order, and proto3 scalars at their
// default are not written at all, so two equal messages give equal bytes whatever order
// or encoding the client used on the wire. Unknown fields are dropped because the server
// ignores them, and they are the one part kept in arrival order. It is not a canonical
// form across schema versions: during a rolling upgrade, a retry that sets a field only
// the newer server knows may compare unequal (REQUEST_ID_REUSED), never equal wrongly.
// A client stream's requests are fingerprinted by their canonical payloads, in order.
std::string CanonicalPayload(const google::protobuf::Message& message);

// The key of `call` for `request`, whose `request_id` field (if any) names the call.
// For client streams pass the message that carries the request_id (e.g. the metadata).
IdempotencyKey IdempotencyKeyOf(const CallContext& call, const google::protobuf::Message& request);

// ALREADY_EXISTS with ErrorInfo REQUEST_ID_REUSED (metadata request_id, method and the
// resource the first call changed, when known).
absl::Status RequestIdReused(const IdempotencyKey& key, const std::string& resource);

// What a store returns for an idempotent change.
template <typename T>
struct Replayable {
  // The result of this call's change; or, for a retry recorded without a response, the
  // resource as it is now.
  std::optional<T> value;
  // For a retry: the response the first call returned, serialized, byte for byte.
  std::optional<std::string> recorded_response;
};

// Serializes the response a change of type T produces, so that a retry can be answered
// with it. Run inside the change's transaction; must not fail.
template <typename T>
using ResponseEncoder = std::function<std::string(const T&)>;

}  // namespace plantmesh::runtime
