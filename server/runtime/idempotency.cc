#include "server/runtime/idempotency.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/sha256.h"
#include "server/runtime/call_context.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

const google::protobuf::FieldDescriptor* RequestIdField(const google::protobuf::Message& message) {
  const google::protobuf::FieldDescriptor* field =
      message.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return nullptr;
  }
  return field;
}

}  // namespace

std::string PayloadFingerprint(const google::protobuf::Message& request) {
  std::unique_ptr<google::protobuf::Message> copy(request.New());
  copy->CopyFrom(request);
  if (const google::protobuf::FieldDescriptor* field = RequestIdField(*copy)) {
    copy->GetReflection()->ClearField(copy.get(), field);
  }
  copy->DiscardUnknownFields();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream output(&bytes);
    google::protobuf::io::CodedOutputStream coded(&output);
    coded.SetSerializationDeterministic(true);
    copy->SerializePartialToCodedStream(&coded);
  }  // the coded stream trims `bytes` when it goes
  return common::Sha256Hex(bytes);
}

IdempotencyKey IdempotencyKeyOf(const CallContext& call, const google::protobuf::Message& request) {
  IdempotencyKey key;
  key.identity = call.identity;
  key.method = call.method;
  if (const google::protobuf::FieldDescriptor* field = RequestIdField(request)) {
    key.request_id = request.GetReflection()->GetString(request, field);
  }
  if (!key.request_id.empty()) key.payload_sha256 = PayloadFingerprint(request);
  return key;
}

absl::Status RequestIdReused(const IdempotencyKey& key, const std::string& resource) {
  std::map<std::string, std::string> metadata = {{"request_id", key.request_id},
                                                 {"method", key.method}};
  if (!resource.empty()) metadata["resource"] = resource;
  return WithErrorInfo(
      absl::AlreadyExistsError(absl::StrCat(
          "request_id ", QuoteForMessage(key.request_id), " was already used by this caller for ",
          key.method, " with a different request", resource.empty() ? "" : " (it changed ",
          resource, resource.empty() ? "" : ")", "; a new request needs a new request_id")),
      "REQUEST_ID_REUSED", metadata);
}

}  // namespace plantmesh::runtime
