// <file>.pm_client.{h,cc}: for each service FooService
//   - plantmesh::sdk::FooConnection, one virtual per RPC (the seam tests mock);
//   - MakeFooConnection, the gRPC connection (deadlines, request ids, rich errors);
//   - plantmesh::sdk::FooClient over a connection, with one typed method per RPC and
//     ListAll/ForEach for paged lists.
// The header includes only the messages (<file>.pb.h) and SDK headers; the gRPC stub
// stays in the .cc.
#pragma once

#include <string>

namespace google::protobuf {
class FileDescriptor;
class MethodDescriptor;
namespace compiler {
class GeneratorContext;
}
}  // namespace google::protobuf

namespace plantmesh::codegen {

// A connection method's C++ shape, in namespace plantmesh::sdk.
struct MethodSignature {
  std::string result;      // "absl::StatusOr<::pkg::Resp>", "std::unique_ptr<ReadStream<...>>"
  std::string parameters;  // "const ::pkg::Req& request, const CallOptions& call_options"
  std::string arguments;   // "request, call_options"
};
MethodSignature SignatureOf(const google::protobuf::MethodDescriptor* method);

void GenerateClientHeader(const google::protobuf::FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context);
void GenerateClientSource(const google::protobuf::FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context);

}  // namespace plantmesh::codegen
