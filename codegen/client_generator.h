// <file>.pm_client.{h,cc}: for each service FooService a plantmesh::sdk::FooClient
// with one typed method per RPC (deadlines, request ids, rich errors, paging). The
// header includes only the messages (<file>.pb.h) and SDK headers; the gRPC stub
// stays in the .cc.
#pragma once

namespace google::protobuf {
class FileDescriptor;
namespace compiler {
class GeneratorContext;
}
}  // namespace google::protobuf

namespace plantmesh::codegen {

void GenerateClientHeader(const google::protobuf::FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context);
void GenerateClientSource(const google::protobuf::FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context);

}  // namespace plantmesh::codegen
