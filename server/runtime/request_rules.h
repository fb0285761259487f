// The contract's text rules over whole requests, for every service: each string field,
// at any depth (nested messages, repeated fields, map keys and values, oneofs), is
// checked against the TextRule its field declares with (plantmesh.api.v1.text), or the
// base rule (single line, valid UTF-8, no control characters) when it declares none.
// The generated server bases call these through DecodeRequest (request_decoding.h)
// before any handler runs, so no service repeats them.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "server/runtime/text_rules.h"

namespace google::protobuf {
class Descriptor;
class FieldDescriptor;
class Message;
}  // namespace google::protobuf

namespace plantmesh::runtime {

// OK, or INVALID_ARGUMENT listing every string that breaks its rule, with a BadRequest
// field violation per field path from the request: `defect.description`,
// `changes[2].old_value`, `labels["line"]` (a map value; the field's rule applies to
// values), `labels` (a map key, which follows the base rule). Per message type, which fields to
// look at is worked out once and cached: a call reads only the request.
absl::Status CheckRequestText(const google::protobuf::Message& request);

// For a serialized message of type `type` that protobuf refused to parse: the strings
// that are not valid UTF-8 (proto3 refuses the whole message for them) and every other
// text rule broken, named as CheckRequestText names them. OK when none is found, i.e.
// the bytes are malformed in some other way.
absl::Status CheckSerializedText(std::string_view wire, const google::protobuf::Descriptor* type);

// The rule the contract declares for a string field (TEXT_KIND_SINGLE_LINE, no limit,
// when it declares none).
TextRule RuleOf(const google::protobuf::FieldDescriptor* field);

}  // namespace plantmesh::runtime
