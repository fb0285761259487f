#include "codegen/server_generator.h"

#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <map>
#include <memory>
#include <string>

#include "codegen/contract.h"
#include "codegen/cpp_names.h"

namespace plantmesh::codegen {
namespace {

using google::protobuf::FileDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;
using google::protobuf::io::Printer;
using Vars = std::map<std::string, std::string>;

Vars MethodVars(const ServiceDescriptor* service, const MethodDescriptor* method) {
  return {
      {"Base", service->name() + "Base"},
      {"Method", method->name()},
      {"Request", QualifiedCppClass(method->input_type())},
      {"Response", QualifiedCppClass(method->output_type())},
      {"full_method", service->full_name() + "." + method->name()},
      {"path", "/" + service->full_name() + "/" + method->name()},
  };
}

// The entry point's parameters after `::grpc::ServerContext* context`: requests arrive
// as bytes, decoded by the runtime (DecodeRequest); responses are written typed.
std::string EntryParameters(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "const ::grpc::ByteBuffer* request_bytes, $Response$* response";
    case StreamKind::kServerStreaming:
      return "const ::grpc::ByteBuffer* request_bytes, ::grpc::ServerWriter<$Response$>* writer";
    case StreamKind::kClientStreaming:
      return "::grpc::ServerReader<::grpc::ByteBuffer>* reader, $Response$* response";
    case StreamKind::kBidi:
      return "::grpc::ServerReaderWriter<$Response$, ::grpc::ByteBuffer>* stream";
  }
  return "";
}

// The handler's parameters after `CallContext& call`.
std::string HandlerParameters(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "const $Request$& request, $Response$* response";
    case StreamKind::kServerStreaming:
      return "const $Request$& request, ::grpc::ServerWriter<$Response$>* writer";
    case StreamKind::kClientStreaming:
      return "::plantmesh::runtime::RequestReader<$Request$>* reader, $Response$* response";
    case StreamKind::kBidi:
      return "::plantmesh::runtime::RequestStream<$Request$, $Response$>* stream";
  }
  return "";
}

// The gRPC method handler that calls the entry point (grpc::internal, as gRPC's own
// generated code uses), with the request type as bytes.
std::string MethodHandler(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "::grpc::internal::RpcMethodHandler<$Base$, ::grpc::ByteBuffer, $Response$>(\n"
             "          [](Base* service, ::grpc::ServerContext* context,\n"
             "             const ::grpc::ByteBuffer* request_bytes, $Response$* response) {\n"
             "            return service->Serve$Method$(context, request_bytes, response);\n"
             "          },\n"
             "          this)";
    case StreamKind::kServerStreaming:
      return "::grpc::internal::ServerStreamingHandler<$Base$, ::grpc::ByteBuffer, "
             "$Response$>(\n"
             "          [](Base* service, ::grpc::ServerContext* context,\n"
             "             const ::grpc::ByteBuffer* request_bytes,\n"
             "             ::grpc::ServerWriter<$Response$>* writer) {\n"
             "            return service->Serve$Method$(context, request_bytes, writer);\n"
             "          },\n"
             "          this)";
    case StreamKind::kClientStreaming:
      return "::grpc::internal::ClientStreamingHandler<$Base$, ::grpc::ByteBuffer, "
             "$Response$>(\n"
             "          [](Base* service, ::grpc::ServerContext* context,\n"
             "             ::grpc::ServerReader<::grpc::ByteBuffer>* reader, $Response$* response) "
             "{\n"
             "            return service->Serve$Method$(context, reader, response);\n"
             "          },\n"
             "          this)";
    case StreamKind::kBidi:
      return "::grpc::internal::BidiStreamingHandler<$Base$, ::grpc::ByteBuffer, $Response$>(\n"
             "          [](Base* service, ::grpc::ServerContext* context,\n"
             "             ::grpc::ServerReaderWriter<$Response$, ::grpc::ByteBuffer>* stream) {\n"
             "            return service->Serve$Method$(context, stream);\n"
             "          },\n"
             "          this)";
  }
  return "";
}

std::string RpcType(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "NORMAL_RPC";
    case StreamKind::kServerStreaming:
      return "SERVER_STREAMING";
    case StreamKind::kClientStreaming:
      return "CLIENT_STREAMING";
    case StreamKind::kBidi:
      return "BIDI_STREAMING";
  }
  return "";
}

// The entry point's body after Begin: decode, handle, End (audit, metrics, mapping).
std::string EntryBody(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "  $Request$ request;\n"
             "  ::absl::Status decoded = ::plantmesh::runtime::DecodeRequest(*request_bytes, "
             "&request);\n"
             "  // A refused request is audited without its text: it may not be storable.\n"
             "  if (!decoded.ok()) return policy_->End(call, decoded, nullptr);\n"
             "  return policy_->End(call, Handle$Method$(call, request, response), &request);\n";
    case StreamKind::kServerStreaming:
      return "  $Request$ request;\n"
             "  ::absl::Status decoded = ::plantmesh::runtime::DecodeRequest(*request_bytes, "
             "&request);\n"
             "  // A refused request is audited without its text: it may not be storable.\n"
             "  if (!decoded.ok()) return policy_->End(call, decoded, nullptr);\n"
             "  return policy_->End(call, Handle$Method$(call, request, writer), &request);\n";
    case StreamKind::kClientStreaming:
      return "  ::plantmesh::runtime::RequestReader<$Request$> requests(reader);\n"
             "  ::absl::Status handled = Handle$Method$(call, &requests, response);\n"
             "  return policy_->End(call, requests.Outcome(std::move(handled)), nullptr);\n";
    case StreamKind::kBidi:
      return "  ::plantmesh::runtime::RequestStream<$Request$, $Response$> requests(stream);\n"
             "  ::absl::Status handled = Handle$Method$(call, &requests);\n"
             "  return policy_->End(call, requests.Outcome(std::move(handled)), nullptr);\n";
  }
  return "";
}

void PrintNamespaceOpen(Printer& p, const FileDescriptor* file) {
  if (!file->package().empty()) p.Print("namespace $ns$ {\n\n", "ns", CppNamespace(file));
}

void PrintNamespaceClose(Printer& p, const FileDescriptor* file) {
  if (!file->package().empty()) p.Print("}  // namespace $ns$\n", "ns", CppNamespace(file));
}

}  // namespace

void GenerateServerHeader(const FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context) {
  const std::string stem = FileStem(file);
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
      context->Open(stem + ".pm_server.h"));
  Printer p(out.get(), '$');
  p.PrintRaw(GeneratedBanner(file));
  p.Print(
      "//\n"
      "// Server bases: each gRPC entry point runs CallPolicy::Begin (identity, roles from\n"
      "// the contract), decodes the request from its bytes and checks it against the\n"
      "// contract's input rules (runtime::DecodeRequest; client streams per message through\n"
      "// runtime::RequestReader), runs the service's Handle<Method>, then CallPolicy::End\n"
      "// (audit, metrics, the one absl::Status -> grpc::Status mapping). Services implement\n"
      "// the Handle<Method> functions only.\n"
      "#pragma once\n\n"
      "#include <grpcpp/impl/codegen/proto_utils.h>\n"
      "#include <grpcpp/impl/service_type.h>\n"
      "#include <grpcpp/server_context.h>\n"
      "#include <grpcpp/support/byte_buffer.h>\n"
      "#include <grpcpp/support/sync_stream.h>\n\n"
      "#include \"$stem$.pb.h\"\n"
      "#include \"absl/status/status.h\"\n"
      "#include \"server/runtime/call_policy.h\"\n"
      "#include \"server/runtime/request_decoding.h\"\n\n",
      "stem", stem);
  PrintNamespaceOpen(p, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    p.Print(
        "class $Base$ : public ::grpc::Service {\n"
        " public:\n"
        "  explicit $Base$(::plantmesh::runtime::CallPolicy* policy);\n",
        "Base", service->name() + "Base");
    p.Print(
        "\n protected:\n"
        "  // What a service implements: one handler per RPC.\n");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      p.PrintRaw(LeadingComment(method, "  "));
      const MethodContract contract = ContractOf(method);
      p.Print("  // Contract: $idempotency$.\n", "idempotency", contract.idempotency);
      p.Print(MethodVars(service, method),
              ("  virtual ::absl::Status Handle$Method$(::plantmesh::runtime::CallContext& call, " +
               HandlerParameters(method) + ") = 0;\n")
                  .c_str());
    }
    p.Print(
        "\n private:\n"
        "  using Base = $Base$;\n"
        "  // gRPC entry points: Begin -> decode and check the request -> Handle<Method> -> End.\n",
        "Base", service->name() + "Base");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      p.Print(MethodVars(service, method),
              ("  ::grpc::Status Serve$Method$(::grpc::ServerContext* context, " +
               EntryParameters(method) + ");\n")
                  .c_str());
    }
    p.Print(
        "\n"
        "  ::plantmesh::runtime::CallPolicy* policy_;\n"
        "};\n\n");
  }
  PrintNamespaceClose(p, file);
}

void GenerateServerSource(const FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context) {
  const std::string stem = FileStem(file);
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
      context->Open(stem + ".pm_server.cc"));
  Printer p(out.get(), '$');
  p.PrintRaw(GeneratedBanner(file));
  p.Print(
      "#include \"$stem$.pm_server.h\"\n\n"
      "#include <grpcpp/impl/rpc_method.h>\n"
      "#include <grpcpp/impl/rpc_service_method.h>\n"
      "#include <grpcpp/support/method_handler.h>\n\n"
      "#include <utility>\n\n"
      "#include \"server/runtime/call_context.h\"\n\n",
      "stem", stem);
  PrintNamespaceOpen(p, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    // Registered as gRPC's generated Service would be, but with requests as bytes so
    // that the runtime, not gRPC, parses them.
    p.Print("$Base$::$Base$(::plantmesh::runtime::CallPolicy* policy) : policy_(policy) {\n",
            "Base", service->name() + "Base");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      Vars vars = MethodVars(service, method);
      vars["rpc_type"] = RpcType(method);
      p.Print(vars,
              "  AddMethod(new ::grpc::internal::RpcServiceMethod(\n"
              "      \"$path$\", ::grpc::internal::RpcMethod::$rpc_type$,\n");
      p.Print(vars, ("      new " + MethodHandler(method) + "));\n").c_str());
    }
    p.Print("}\n\n");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      Vars vars = MethodVars(service, method);
      p.Print(vars, ("::grpc::Status $Base$::Serve$Method$(::grpc::ServerContext* context, " +
                     EntryParameters(method) + ") {\n")
                        .c_str());
      p.Print(vars,
              "  ::plantmesh::runtime::CallContext call;\n"
              "  ::grpc::Status begun = policy_->Begin(context, \"$full_method$\", &call);\n"
              "  if (!begun.ok()) return begun;\n");
      p.Print(vars, EntryBody(method).c_str());
      p.Print("}\n\n");
    }
  }
  PrintNamespaceClose(p, file);
}

}  // namespace plantmesh::codegen
