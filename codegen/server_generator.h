// <file>.pm_server.{h,cc}: for each service FooService a FooServiceBase (a grpc::Service
// registering its methods on gRPC's callback API with requests as bytes) whose entry
// points run CallPolicy::Begin, decode and check each request against the contract's
// input rules (runtime::DecodeRequest), run the service's Handle<Method> on the
// runtime's Executor, then CallPolicy::End — so no handler repeats identity,
// authorization, input rules, audit or the error mapping, and none runs on gRPC's
// threads. The reactors themselves are in server/runtime/call_reactors.h; the generated
// code is one call into them per method.
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
