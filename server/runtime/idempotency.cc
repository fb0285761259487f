#include "server/runtime/idempotency.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/contract.h"
#include "plantmesh/common/sha256.h"
#include "server/runtime/call_context.h"
#include "server/runtime/errors.h"
#include "server/runtime/request_rules.h"

namespace plantmesh::runtime {

const google::protobuf::FieldDescriptor* RequestIdField(const google::protobuf::Message& message) {
  const google::protobuf::FieldDescriptor* field =
      message.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return nullptr;
  }
  return field;
}

namespace {

// Values that differ on the wire but not to the server, made equal, at any depth:
// - -0.0 as 0.0 in float and double fields: equal numbers, but protobuf writes the sign
//   bit (proto3 leaves out only +0);
// - Timestamps and Durations to whole microseconds, as the server reads them
//   (proto_time.h; outside testing: a retry carrying the time the server had answered,
//   …123456000 ns for …123456789, was REQUEST_ID_REUSED);
// - a FieldMask's paths in sorted order: a set of paths (outside testing: a retry
//   naming ["station", "model"] for ["model", "station"] was REQUEST_ID_REUSED).
void Normalize(google::protobuf::Message* message) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* type = message->GetDescriptor();
  const google::protobuf::Reflection* r = message->GetReflection();
  if (type->full_name() == "google.protobuf.Timestamp" ||
      type->full_name() == "google.protobuf.Duration") {
    const FieldDescriptor* nanos = type->FindFieldByName("nanos");
    const int32_t value = r->GetInt32(*message, nanos);
    r->SetInt32(message, nanos, value - value % 1000);  // toward 0: a Duration's may be < 0
    return;
  }
  if (type->full_name() == "google.protobuf.FieldMask") {
    const FieldDescriptor* paths = type->FindFieldByName("paths");
    std::vector<std::string> sorted;
    for (int i = 0; i < r->FieldSize(*message, paths); ++i) {
      sorted.push_back(r->GetRepeatedString(*message, paths, i));
    }
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      r->SetRepeatedString(message, paths, static_cast<int>(i), sorted[i]);
    }
    return;
  }
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*message, &fields);
  for (const FieldDescriptor* f : fields) {
    const int n = f->is_repeated() ? r->FieldSize(*message, f) : 1;
    for (int i = 0; i < n; ++i) {
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_DOUBLE:
          if (f->is_repeated() ? r->GetRepeatedDouble(*message, f, i) == 0
                               : r->GetDouble(*message, f) == 0) {
            f->is_repeated() ? r->SetRepeatedDouble(message, f, i, 0.0)
                             : r->SetDouble(message, f, 0.0);
          }
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          if (f->is_repeated() ? r->GetRepeatedFloat(*message, f, i) == 0
                               : r->GetFloat(*message, f) == 0) {
            f->is_repeated() ? r->SetRepeatedFloat(message, f, i, 0.0f)
                             : r->SetFloat(message, f, 0.0f);
          }
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          Normalize(f->is_repeated() ? r->MutableRepeatedMessage(message, f, i)
                                     : r->MutableMessage(message, f));
          break;
        default:
          break;
      }
    }
  }
}

}  // namespace

std::string CanonicalPayload(const google::protobuf::Message& message) {
  std::unique_ptr<google::protobuf::Message> copy(message.New());
  copy->CopyFrom(message);
  if (const google::protobuf::FieldDescriptor* field = RequestIdField(*copy)) {
    copy->GetReflection()->ClearField(copy.get(), field);
  }
  // The etag is the write's precondition, not what it asks for: a retry from a client
  // that read the resource again (so sends its new etag) is the same call (outside
  // testing: such a retry of UpdateDefect and of every transition was REQUEST_ID_REUSED).
  if (const google::protobuf::FieldDescriptor* etag =
          copy->GetDescriptor()->FindFieldByName("etag");
      etag != nullptr && etag->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
      !etag->is_repeated()) {
    copy->GetReflection()->ClearField(copy.get(), etag);
  }
  ClearWhatAnUpdateIgnores(copy.get());
  copy->DiscardUnknownFields();
  Normalize(copy.get());
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream output(&bytes);
    google::protobuf::io::CodedOutputStream coded(&output);
    coded.SetSerializationDeterministic(true);
    copy->SerializePartialToCodedStream(&coded);
  }  // the coded stream trims `bytes` when it goes
  return bytes;
}

std::string PayloadFingerprint(const google::protobuf::Message& request) {
  return common::Sha256Hex(CanonicalPayload(request));
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
