// DecodeRequest (server/runtime/request_decoding.h) on any bytes, as every generated server
// base calls it on what a client sent, for the request type of every method of every
// contract: the first input byte picks the type, the rest are the message's bytes.
// Invariants (the contract's promise to a client that knows only the .proto files):
//   - no crash, no sanitizer report, whatever the bytes (the hand-written wire walk of
//     CheckSerializedText included);
//   - the answer is OK or INVALID_ARGUMENT, never another code;
//   - what a client is told (ForClient) is valid UTF-8, its field violations too (a
//     protobuf string that is not UTF-8 fails to parse in the client);
//   - a request accepted once is accepted again after re-serialization (what a handler
//     forwards or stores, e.g. the request log, is read back the same way).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/logging.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "fuzz/fuzz_check.h"
#include "plantmesh/common/utf8.h"
#include "plantmesh/sdk/internal/contracts.h"
#include "server/runtime/errors.h"
#include "server/runtime/request_decoding.h"
#include "server/runtime/wire_fault.h"

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Every method's request type, by full name (so that an input keeps its type when a
// contract adds a method elsewhere).
const std::vector<const Descriptor*>& RequestTypes() {
  static const auto* const types = [] {
    std::map<std::string, const Descriptor*> by_name;
    for (const auto* file : plantmesh::sdk::internal::ContractFiles()) {
      for (int s = 0; s < file->service_count(); ++s) {
        for (int m = 0; m < file->service(s)->method_count(); ++m) {
          const Descriptor* type = file->service(s)->method(m)->input_type();
          by_name[type->full_name()] = type;
        }
      }
    }
    auto* out = new std::vector<const Descriptor*>();
    for (const auto& [name, type] : by_name) out->push_back(type);
    return out;
  }();
  return *types;
}

grpc::ByteBuffer BufferOf(const std::string& bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

bool Utf8(std::string_view text) {
  return plantmesh::common::FirstNotUtf8(text) == std::string_view::npos;
}

// Every field set to a plain value (repeated ones twice), nested messages to `depth`: a
// seed with structure for the mutations to start from.
void Fill(Message* message, int depth) {
  const Reflection* r = message->GetReflection();
  const Descriptor* type = message->GetDescriptor();
  const bool timestamp = type->full_name() == "google.protobuf.Timestamp";
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    for (int copy = 0; copy < (f->is_repeated() ? 2 : 1); ++copy) {
      const bool many = f->is_repeated();
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_STRING: {
          const std::string v = f->type() == FieldDescriptor::TYPE_BYTES ? "\x01\xff" : "CNC-07";
          many ? r->AddString(message, f, v) : r->SetString(message, f, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_INT64: {
          const int64_t v = timestamp ? 1764806400 : 1;
          many ? r->AddInt64(message, f, v) : r->SetInt64(message, f, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_INT32:
          many ? r->AddInt32(message, f, 1) : r->SetInt32(message, f, 1);
          break;
        case FieldDescriptor::CPPTYPE_UINT32:
          many ? r->AddUInt32(message, f, 1) : r->SetUInt32(message, f, 1);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          many ? r->AddUInt64(message, f, 1) : r->SetUInt64(message, f, 1);
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          many ? r->AddDouble(message, f, 1.5) : r->SetDouble(message, f, 1.5);
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          many ? r->AddFloat(message, f, 1.5f) : r->SetFloat(message, f, 1.5f);
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          many ? r->AddBool(message, f, true) : r->SetBool(message, f, true);
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          // The first value after UNSPECIFIED.
          const auto* v = f->enum_type()->value(std::min(1, f->enum_type()->value_count() - 1));
          many ? r->AddEnum(message, f, v) : r->SetEnum(message, f, v);
          break;
        }
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth > 0)
            Fill(many ? r->AddMessage(message, f) : r->MutableMessage(message, f), depth - 1);
          break;
      }
    }
  }
}

}  // namespace

namespace plantmesh::fuzz {

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  const auto& types = RequestTypes();
  for (size_t i = 0; i < types.size(); ++i) {
    const Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(types[i]);
    std::unique_ptr<Message> request(prototype->New());
    seeds.push_back(std::string(1, static_cast<char>(i)));  // the empty request
    Fill(request.get(), 3);
    seeds.push_back(std::string(1, static_cast<char>(i)) + request->SerializeAsString());
  }
  return seeds;
}

}  // namespace plantmesh::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // protobuf logs each string that is not UTF-8 as it refuses it: noise here, at millions
  // of inputs (the server says it in its own words).
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  const auto& types = RequestTypes();
  if (size == 0 || types.empty()) return 0;
  const Descriptor* type = types[data[0] % types.size()];
  const std::string wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  const Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type);
  std::unique_ptr<Message> request(prototype->New());

  // Bytes protobuf reads are no wire fault: the reasons told for refused bytes never
  // refuse what the parser takes.
  if (std::unique_ptr<Message> parsed(prototype->New()); parsed->ParseFromString(wire)) {
    const std::optional<plantmesh::runtime::WireFault> fault =
        plantmesh::runtime::FindWireFault(wire, type);
    FUZZ_CHECK(!fault.has_value(),
               type->full_name() + ": parsed, yet " + (fault ? fault->reason : std::string()));
  }
  const absl::Status status = plantmesh::runtime::DecodeRequest(BufferOf(wire), request.get());
  FUZZ_CHECK(status.ok() || status.code() == absl::StatusCode::kInvalidArgument,
             type->full_name() + ": " + status.ToString());
  std::string error_id;
  const absl::Status told = plantmesh::runtime::ForClient(status, &error_id);
  FUZZ_CHECK(Utf8(std::string(told.message())), type->full_name());
  for (const auto& violation : plantmesh::runtime::FieldViolationsOf(told)) {
    FUZZ_CHECK(Utf8(violation.field) && Utf8(violation.description), type->full_name());
  }
  if (status.ok()) {
    std::unique_ptr<Message> again(prototype->New());
    const absl::Status reread =
        plantmesh::runtime::DecodeRequest(BufferOf(request->SerializeAsString()), again.get());
    FUZZ_CHECK(reread.ok(),
               type->full_name() + ": accepted, then refused re-serialized: " + reread.ToString());
  }
  return 0;
}
