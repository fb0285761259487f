// The contract's input rules over whole requests, for every service: required fields
// (CheckRequiredFields), text and time values. Text: each string field,
// at any depth (nested messages, repeated fields, map keys and values, oneofs), is
// checked against the TextRule its field declares with (plantmesh.api.v1.text), or the
// base rule (single line, valid UTF-8, no control characters) when it declares none; an
// entry of a repeated string field is never empty (every such list names things).
// Time values: every google.protobuf.Timestamp and Duration, at any depth, lies within
// the range its .proto file declares valid (Timestamp 0001-01-01..9999-12-31, nanos
// 0..999999999; Duration within +-10,000 years, nanos with the sign of seconds).
// Not checked: the elements of a repeated message field declaring
// (plantmesh.api.v1.elements_judged_by_service), which the service judges one by one
// (e.g. IngestSamplesRequest.samples: a bad sample is rejected alone). Invalid UTF-8 in
// them still refuses the request (protobuf cannot parse it; CheckSerializedText names it).
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

// OK, or INVALID_ARGUMENT listing every string that breaks its rule and every time
// value out of its range, with a BadRequest field violation per field path from the
// request (`end_time`, `windows[1].start_time`): `defect.description`,
// `changes[2].old_value`, `labels["line"]` (a map value; the field's rule applies to
// values), `labels` (a map key, which follows the base rule), and a `request_id` of only
// white space or invisible characters (an idempotency key may be empty, not blank). Per
// message type, which fields to look at is worked out once and cached: a call reads only
// the request.
absl::Status CheckRequestValues(const google::protobuf::Message& request);

// For a serialized message of type `type` that protobuf refused to parse: the strings
// that are not valid UTF-8 (proto3 refuses the whole message for them) and every other
// text rule broken, named as CheckRequestValues names them. OK when none is found, i.e.
// the bytes are malformed in some other way. The elements of a root field the service
// judges one by one (elements_judged_by_service) are numbered from `judged_base`: a
// client stream numbers them across its messages (ImportDemand's records[i]).
absl::Status CheckSerializedText(std::string_view wire, const google::protobuf::Descriptor* type,
                                 size_t judged_base = 0);

// The contract's REQUIRED fields (plantmesh.api.v1.field_behavior, AIP-203; the rules of
// contract::MissingRequiredFields): OK, or INVALID_ARGUMENT with a BadRequest field
// violation per unset required field, named by its path from the request ("defect.vin":
// "required"; in an update, "defect.zone": "required: update_mask names it"), and one
// per output-only field a request other than an update sets (contract::
// CheckFieldBehavior: "machine.etag": "output only: must be empty on create"; outside
// testing found RegisterMachine and RecordOutput dropping them unseen while the defect
// service refused them), and one per path an update's mask names twice, by its second naming
// ("update_mask.paths[2]": "'zone' is named twice"). Run by DecodeRequest with the text rules
// (CheckRequest), before any handler; the services' own rules (which fields a call needs beyond
// that, value ranges) still run in their domain.
absl::Status CheckRequiredFields(const google::protobuf::Message& request);

// What an update (a request with a root update_mask) ignores, cleared from `request`: in
// its resource, the fields its mask does not name (AIP-134) and the output-only ones
// (AIP-203), except what names the resource. Its text rules and its request_id's payload
// (idempotency.h) judge what is left. Nothing for a request that is not an update.
void ClearWhatAnUpdateIgnores(google::protobuf::Message* request);

// Both, in one status: the text and time values' violations, then the field behaviors'
// (what DecodeRequest runs on every request).
absl::Status CheckRequest(const google::protobuf::Message& request);

// The rule the contract declares for a string field (TEXT_KIND_SINGLE_LINE, no limit,
// when it declares none).
TextRule RuleOf(const google::protobuf::FieldDescriptor* field);

}  // namespace plantmesh::runtime
