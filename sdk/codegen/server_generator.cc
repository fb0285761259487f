#include "sdk/codegen/server_generator.h"

#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <map>
#include <memory>
#include <string>

#include "sdk/codegen/contract.h"
#include "sdk/codegen/cpp_names.h"

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
  };
}

// The gRPC sync-API parameters after `::grpc::ServerContext* context`.
std::string EntryParameters(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "const $Request$* request, $Response$* response";
    case StreamKind::kServerStreaming:
      return "const $Request$* request, ::grpc::ServerWriter<$Response$>* writer";
    case StreamKind::kClientStreaming:
      return "::grpc::ServerReader<$Request$>* reader, $Response$* response";
    case StreamKind::kBidi:
      return "::grpc::ServerReaderWriter<$Response$, $Request$>* stream";
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
      return "::grpc::ServerReader<$Request$>* reader, $Response$* response";
    case StreamKind::kBidi:
      return "::grpc::ServerReaderWriter<$Response$, $Request$>* stream";
  }
  return "";
}

// Arguments passed from the entry point to the handler, and the request given to End.
std::string HandlerArguments(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "*request, response";
    case StreamKind::kServerStreaming:
      return "*request, writer";
    case StreamKind::kClientStreaming:
      return "reader, response";
    case StreamKind::kBidi:
      return "stream";
  }
  return "";
}

std::string AuditedRequest(const MethodDescriptor* method) {
  return method->client_streaming() ? "nullptr" : "request";
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
      "// the contract), the service's Handle<Method>, then CallPolicy::End (audit,\n"
      "// metrics, the one absl::Status -> grpc::Status mapping). Services implement\n"
      "// the Handle<Method> functions only.\n"
      "#pragma once\n\n"
      "#include \"$stem$.grpc.pb.h\"\n"
      "#include \"absl/status/status.h\"\n"
      "#include \"server/runtime/call_policy.h\"\n\n",
      "stem", stem);
  PrintNamespaceOpen(p, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    p.Print(
        "class $Base$ : public $Service$::Service {\n"
        " public:\n"
        "  explicit $Base$(::plantmesh::runtime::CallPolicy* policy);\n\n"
        "  // gRPC entry points, final: Begin -> Handle<Method> -> End.\n",
        "Base", service->name() + "Base", "Service", service->name());
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      p.Print(MethodVars(service, method),
              ("  ::grpc::Status $Method$(::grpc::ServerContext* context, " +
               EntryParameters(method) + ") final;\n")
                  .c_str());
    }
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
      "#include \"server/runtime/call_context.h\"\n\n",
      "stem", stem);
  PrintNamespaceOpen(p, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    p.Print("$Base$::$Base$(::plantmesh::runtime::CallPolicy* policy) : policy_(policy) {}\n\n",
            "Base", service->name() + "Base");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      Vars vars = MethodVars(service, method);
      vars["args"] = HandlerArguments(method);
      vars["audited"] = AuditedRequest(method);
      p.Print(vars, ("::grpc::Status $Base$::$Method$(::grpc::ServerContext* context, " +
                     EntryParameters(method) + ") {\n")
                        .c_str());
      p.Print(vars,
              "  ::plantmesh::runtime::CallContext call;\n"
              "  ::grpc::Status begun = policy_->Begin(context, \"$full_method$\", &call);\n"
              "  if (!begun.ok()) return begun;\n"
              "  return policy_->End(call, Handle$Method$(call, $args$), $audited$);\n"
              "}\n\n");
    }
  }
  PrintNamespaceClose(p, file);
}

}  // namespace plantmesh::codegen
