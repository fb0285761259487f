// <file>.pm_server.{h,cc}: for each service FooService a FooServiceBase (a grpc::Service
// registering its methods with requests as bytes) whose gRPC entry points run
// CallPolicy::Begin, decode and check the request against the contract's input rules
// (runtime::DecodeRequest; client streams per message through runtime::RequestReader),
// the service's Handle<Method>, then CallPolicy::End — so no handler repeats identity,
// authorization, input rules, audit or the error mapping.
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
