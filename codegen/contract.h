// What the contract says about a method beyond its types, as the generators need it: who
// may call it and whether it is safe to retry (read by plantmesh/common/contract.h, the
// one reader of the contract's options), and whether it is a paged list the SDK can iterate.
#pragma once

#include <string>
#include <vector>

namespace google::protobuf {
class Descriptor;
class FieldDescriptor;
class FileDescriptor;
class MethodDescriptor;
}  // namespace google::protobuf

namespace plantmesh::codegen {

enum class StreamKind { kUnary, kServerStreaming, kClientStreaming, kBidi };
StreamKind KindOf(const google::protobuf::MethodDescriptor* method);

struct MethodContract {
  // Role names ("qc_engineer") from (plantmesh.api.v1.access); empty when none are listed.
  std::vector<std::string> roles;
  bool any_authenticated = false;
  // Whether the method declares the access option at all (absent = denied to all).
  bool has_access = false;
  // idempotency_level is NO_SIDE_EFFECTS or IDEMPOTENT.
  bool retry_safe = false;
  // The idempotency_level name as written in the contract.
  std::string idempotency;
};
MethodContract ContractOf(const google::protobuf::MethodDescriptor* method);

// False, with `error` naming the method and the problem, when a service of `file` declares
// access that cannot mean what its author wanted (contract::ValidateMethod): generation
// stops, so such a contract never reaches a server or an SDK.
bool ContractValid(const google::protobuf::FileDescriptor* file, std::string* error);

// The request's singular string `request_id` field, or nullptr.
const google::protobuf::FieldDescriptor* RequestIdField(
    const google::protobuf::Descriptor* request);

// A unary method whose request has a string `page_token`, whose response has a string
// `next_page_token` and exactly one repeated message field (the items).
struct PagedList {
  const google::protobuf::FieldDescriptor* items = nullptr;  // null: not a paged list
  // "ListDefects" → "Defects", "GetLatestValues" → "LatestValues": used for
  // ListAll<Plural> and ForEach<Item type>.
  std::string plural;
};
PagedList PagedListOf(const google::protobuf::MethodDescriptor* method);

// The method's leading comment in the .proto, each line prefixed with "// ".
std::string LeadingComment(const google::protobuf::MethodDescriptor* method,
                           const std::string& indent);

}  // namespace plantmesh::codegen
