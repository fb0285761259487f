// From the bytes a client sent to a request a handler may trust. The generated server
// bases receive requests as bytes (not parsed by gRPC); their reactors
// (call_reactors.h) call DecodeRequest once per message, after CallPolicy::Begin and
// before the handler sees it, so that:
//   - a proto3 string that is not valid UTF-8 is INVALID_ARGUMENT naming the field (gRPC's
//     own parsing answers INTERNAL with no message, without the call being audited or
//     logged, and ends a client stream as if the client had finished it);
//   - every string keeps the contract's text rules (request_rules.h);
//   - every field the contract marks REQUIRED is set (CheckRequiredFields);
//   - both in one answer that names every wrong field (CheckRequest).
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}

namespace plantmesh::runtime {

// Parses `bytes` into `request` (cleared first) and checks its text. INVALID_ARGUMENT
// with a BadRequest field violation per wrong field, or naming the message type when
// the bytes are not a message of that type at all. `judged_base`: where this message's
// elements of a field its service judges one by one are numbered from, in a violation's
// path (a client stream's earlier messages carried that many; CheckSerializedText).
// Bytes that are no message say where and why (wire_fault.h); `stream_message`, for a
// stream's message, its place in the stream (1 for the first), said with it.
absl::Status DecodeRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request,
                           size_t judged_base = 0, int64_t stream_message = 0);

// What the audit records of a request DecodeRequest refused (`type`: a message of the
// request's type), so that a refused injection or fuzzing attempt leaves what was sent,
// not only why it was refused (outside testing: every INVALID_ARGUMENT row's request was
// empty). A message that parses (a text or required-field rule refused it): its JSON, as
// an accepted request's (the audit sink makes any value storable), when that is at most
// kAuditedRefusedJsonBytes. Otherwise (bytes that are no message of the type — a string
// that is not UTF-8, a wire fault —, or a huge one): {"refused_request":{"bytes":N,
// "base64":"…"}} with the first kAuditedRefusedBytes of them.
inline constexpr size_t kAuditedRefusedJsonBytes = 16384;
inline constexpr size_t kAuditedRefusedBytes = 4096;
std::string RefusedRequestAuditJson(const grpc::ByteBuffer& bytes,
                                    const google::protobuf::Message& type);

}  // namespace plantmesh::runtime
