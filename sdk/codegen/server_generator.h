// <file>.pm_server.{h,cc}: for each service FooService a FooServiceBase whose gRPC
// entry points run CallPolicy::Begin, the service's Handle<Method>, then
// CallPolicy::End — so no handler repeats identity, authorization, audit or the
// error mapping.
#pragma once

namespace google::protobuf {
class FileDescriptor;
namespace compiler {
class GeneratorContext;
}
}  // namespace google::protobuf

namespace plantmesh::codegen {

void GenerateServerHeader(const google::protobuf::FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context);
void GenerateServerSource(const google::protobuf::FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context);

}  // namespace plantmesh::codegen
