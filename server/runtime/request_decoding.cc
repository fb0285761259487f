#include "server/runtime/request_decoding.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"
#include "server/runtime/request_rules.h"
#include "server/runtime/wire_fault.h"

namespace plantmesh::runtime {
namespace {

std::string Flatten(const grpc::ByteBuffer& bytes) {
  std::vector<grpc::Slice> slices;
  std::string wire;
  if (!bytes.Dump(&slices).ok()) return wire;
  wire.reserve(bytes.Length());
  for (const grpc::Slice& slice : slices) {
    wire.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return wire;
}

}  // namespace

absl::Status DecodeRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request,
                           size_t judged_base, int64_t stream_message) {
  request->Clear();
  const std::string& type = request->GetDescriptor()->full_name();
  if (!bytes.Valid()) {
    return absl::InvalidArgumentError(absl::StrCat("the call carries no ", type, " message"));
  }
  grpc::ByteBuffer view(bytes);  // shares the slices; the reader needs a mutable buffer
  bool parsed = false;
  {
    grpc::ProtoBufferReader reader(&view);
    parsed = reader.status().ok() && request->ParseFromZeroCopyStream(&reader);
  }
  if (parsed) {
    // Its text and time values and the contract's required fields, every wrong field named.
    return CheckRequest(*request);
  }
  request->Clear();
  // Protobuf refuses a whole proto3 message for one string that is not UTF-8, and says
  // nothing about which: find the fields (and any other broken text) in the bytes.
  const std::string wire = Flatten(bytes);
  absl::Status text = CheckSerializedText(wire, request->GetDescriptor(), judged_base);
  if (!text.ok()) return text;
  const std::string not_a_message = absl::StrCat(
      "not a well-formed serialized ", type, " message",
      stream_message > 0 ? absl::StrCat(" (message ", stream_message, " of the stream)") : "");
  std::optional<WireFault> fault = FindWireFault(wire, request->GetDescriptor());
  if (!fault) return absl::InvalidArgumentError(absl::StrCat("the request is ", not_a_message));
  Violations violations;
  violations.Add(fault->field, absl::StrCat(not_a_message, ": ", fault->reason));
  return violations.ToStatus();
}

std::string RefusedRequestAuditJson(const grpc::ByteBuffer& bytes,
                                    const google::protobuf::Message& type) {
  const std::string wire = Flatten(bytes);
  std::unique_ptr<google::protobuf::Message> request(type.New());
  if (request->ParseFromString(wire)) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    std::string json;
    if (google::protobuf::util::MessageToJsonString(*request, &json, options).ok() &&
        json.size() <= kAuditedRefusedJsonBytes) {
      return json;
    }
  }
  const std::string_view kept = std::string_view(wire).substr(0, kAuditedRefusedBytes);
  return absl::StrCat(R"({"refused_request":{"bytes":)", wire.size(), R"(,"base64":")",
                      absl::Base64Escape(absl::string_view(kept.data(), kept.size())), R"("}})");
}

}  // namespace plantmesh::runtime
