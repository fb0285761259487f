#include "codegen/contract.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include "plantmesh/common/contract.h"

namespace plantmesh::codegen {

using google::protobuf::FieldDescriptor;
using google::protobuf::MethodOptions;

StreamKind KindOf(const google::protobuf::MethodDescriptor* method) {
  if (method->client_streaming() && method->server_streaming()) return StreamKind::kBidi;
  if (method->client_streaming()) return StreamKind::kClientStreaming;
  if (method->server_streaming()) return StreamKind::kServerStreaming;
  return StreamKind::kUnary;
}

MethodContract ContractOf(const google::protobuf::MethodDescriptor* method) {
  const contract::MethodContract declared = contract::MethodContractOf(method);
  MethodContract result;
  result.has_access = declared.declares_access;
  result.any_authenticated = declared.any_authenticated;
  result.roles = declared.RoleNames();
  result.retry_safe = declared.retry_safe();
  result.idempotency = MethodOptions::IdempotencyLevel_Name(declared.idempotency);
  return result;
}

bool ContractValid(const google::protobuf::FileDescriptor* file, std::string* error) {
  for (int s = 0; s < file->service_count(); ++s) {
    const absl::Status valid = contract::ValidateService(file->service(s));
    if (!valid.ok()) {
      *error = std::string(valid.message());
      return false;
    }
  }
  return true;
}

const FieldDescriptor* RequestIdField(const google::protobuf::Descriptor* request) {
  return contract::RootRequestId(request);
}

PagedList PagedListOf(const google::protobuf::MethodDescriptor* method) {
  PagedList list;
  if (KindOf(method) != StreamKind::kUnary) return list;
  const FieldDescriptor* token = method->input_type()->FindFieldByName("page_token");
  const FieldDescriptor* next = method->output_type()->FindFieldByName("next_page_token");
  if (token == nullptr || next == nullptr || token->is_repeated() || next->is_repeated() ||
      token->type() != FieldDescriptor::TYPE_STRING ||
      next->type() != FieldDescriptor::TYPE_STRING) {
    return list;
  }
  const FieldDescriptor* items = nullptr;
  for (int i = 0; i < method->output_type()->field_count(); ++i) {
    const FieldDescriptor* field = method->output_type()->field(i);
    if (!field->is_repeated()) continue;
    if (field->is_map() || field->type() != FieldDescriptor::TYPE_MESSAGE || items != nullptr) {
      return list;  // not exactly one repeated message field: not a plain paged list
    }
    items = field;
  }
  if (items == nullptr) return list;
  list.items = items;
  const std::string& name = method->name();
  // "GetLatestValues" → "LatestValues" (ListAllLatestValues), not ListAllGetLatestValues.
  if (name.rfind("List", 0) == 0) {
    list.plural = name.substr(4);
  } else if (name.rfind("Get", 0) == 0) {
    list.plural = name.substr(3);
  } else {
    list.plural = name;
  }
  return list;
}

std::string LeadingComment(const google::protobuf::MethodDescriptor* method,
                           const std::string& indent) {
  google::protobuf::SourceLocation location;
  if (!method->GetSourceLocation(&location)) return "";
  std::string out;
  std::string text = location.leading_comments;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line[0] == ' ') line.erase(0, 1);
    out += indent + (line.empty() ? "//" : "// " + line) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace plantmesh::codegen
