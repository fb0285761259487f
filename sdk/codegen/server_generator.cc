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

// The callback-API entry point: return type and parameters after
// `::grpc::CallbackServerContext* context`.
std::string EntryReturnType(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "::grpc::ServerUnaryReactor*";
    case StreamKind::kServerStreaming:
      return "::grpc::ServerWriteReactor<$Response$>*";
    case StreamKind::kClientStreaming:
      return "::grpc::ServerReadReactor<$Request$>*";
    case StreamKind::kBidi:
      return "::grpc::ServerBidiReactor<$Request$, $Response$>*";
  }
  return "";
}

std::string EntryParameters(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return ", const $Request$* request, $Response$* response";
    case StreamKind::kServerStreaming:
      return ", const $Request$* request";
    case StreamKind::kClientStreaming:
      return ", $Response$* response";
    case StreamKind::kBidi:
      return "";
  }
  return "";
}

// What the handler returns, and its parameters after `CallContext& call`.
std::string HandlerReturnType(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "::absl::Status";
    case StreamKind::kServerStreaming:
      return "::absl::StatusOr<std::unique_ptr<$Method$Source>>";
    case StreamKind::kClientStreaming:
      return "::absl::StatusOr<std::unique_ptr<$Method$Sink>>";
    case StreamKind::kBidi:
      return "::absl::StatusOr<std::unique_ptr<$Method$Stream>>";
  }
  return "";
}

std::string HandlerParameters(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return ", const $Request$& request, $Response$* response";
    case StreamKind::kServerStreaming:
      return ", const $Request$& request";
    case StreamKind::kClientStreaming:
    case StreamKind::kBidi:
      return "";
  }
  return "";
}

// The body of an entry point: one call into server/runtime/call_reactors.h.
std::string EntryBody(const MethodDescriptor* method) {
  const std::string binding = "{policy_, executor_, \"$full_method$\"}";
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "  return ::plantmesh::runtime::StartUnaryCall(\n"
             "      context, " +
             binding +
             ", request, response,\n"
             "      [this](::plantmesh::runtime::CallContext& call, const $Request$& request,\n"
             "             $Response$* response) { return Handle$Method$(call, request, response); "
             "});\n";
    case StreamKind::kServerStreaming:
      return "  return ::plantmesh::runtime::StartServerStream<$Request$, $Response$>(\n"
             "      context, " +
             binding +
             ", request,\n"
             "      [this](::plantmesh::runtime::CallContext& call, const $Request$& request) {\n"
             "        return Handle$Method$(call, request);\n"
             "      });\n";
    case StreamKind::kClientStreaming:
      return "  return ::plantmesh::runtime::StartClientStream<$Request$, $Response$>(\n"
             "      context, " +
             binding +
             ", response,\n"
             "      [this](::plantmesh::runtime::CallContext& call) { return Handle$Method$(call); "
             "});\n";
    case StreamKind::kBidi:
      return "  return ::plantmesh::runtime::StartBidiStream<$Request$, $Response$>(\n"
             "      context, " +
             binding +
             ",\n"
             "      [this](::plantmesh::runtime::CallContext& call) { return Handle$Method$(call); "
             "});\n";
  }
  return "";
}

// What each handler kind is asked for, as a comment above it.
std::string HandlerKindComment(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "  // Runs on the executor.\n";
    case StreamKind::kServerStreaming:
      return "  // Runs on the executor; returns the source the stream's messages are pulled "
             "from.\n";
    case StreamKind::kClientStreaming:
      return "  // Runs on the executor; returns the sink that takes each message, then answers.\n";
    case StreamKind::kBidi:
      return "  // Runs on the executor; returns the stream that takes and gives messages.\n";
  }
  return "";
}

// The stream interface alias a streaming method's handler returns, or "".
std::string StreamAlias(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "";
    case StreamKind::kServerStreaming:
      return "  using $Method$Source = ::plantmesh::runtime::StreamSource<$Response$>;\n";
    case StreamKind::kClientStreaming:
      return "  using $Method$Sink = ::plantmesh::runtime::StreamSink<$Request$, $Response$>;\n";
    case StreamKind::kBidi:
      return "  using $Method$Stream = ::plantmesh::runtime::BidiStream<$Request$, $Response$>;\n";
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
      "// Server bases on gRPC's callback API: each entry point runs CallPolicy::Begin\n"
      "// (identity, roles from the contract) on gRPC's thread, the service's Handle<Method>\n"
      "// on the runtime's bounded Executor, then CallPolicy::End (audit, metrics, the one\n"
      "// absl::Status -> grpc::Status mapping) — see server/runtime/call_reactors.h.\n"
      "// Services implement the Handle<Method> functions only. Streaming handlers return\n"
      "// the StreamSource / StreamSink / BidiStream the runtime drives (streams.h): no\n"
      "// handler holds a thread while its stream waits.\n"
      "#pragma once\n\n"
      "#include <memory>\n\n"
      "#include \"$stem$.grpc.pb.h\"\n"
      "#include \"absl/status/status.h\"\n"
      "#include \"absl/status/statusor.h\"\n"
      "#include \"server/runtime/call_policy.h\"\n"
      "#include \"server/runtime/executor.h\"\n"
      "#include \"server/runtime/streams.h\"\n\n",
      "stem", stem);
  PrintNamespaceOpen(p, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    p.Print(
        "class $Base$ : public $Service$::CallbackService {\n"
        " public:\n"
        "  // Handlers run on `executor`. Both pointers outlive the service.\n"
        "  $Base$(::plantmesh::runtime::CallPolicy* policy, ::plantmesh::runtime::Executor* "
        "executor);\n\n",
        "Base", service->name() + "Base", "Service", service->name());
    bool any_alias = false;
    for (int m = 0; m < service->method_count(); ++m) {
      const std::string alias = StreamAlias(service->method(m));
      if (alias.empty()) continue;
      if (!any_alias)
        p.Print("  // What the streaming handlers return (server/runtime/streams.h).\n");
      any_alias = true;
      p.Print(MethodVars(service, service->method(m)), alias.c_str());
    }
    if (any_alias) p.Print("\n");
    p.Print("  // gRPC entry points, final: Begin -> Handle<Method> on the executor -> End.\n");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      p.Print(MethodVars(service, method),
              ("  " + EntryReturnType(method) + " $Method$(::grpc::CallbackServerContext* context" +
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
      p.Print(HandlerKindComment(method).c_str());
      p.Print(MethodVars(service, method),
              ("  virtual " + HandlerReturnType(method) + " Handle$Method$(" +
               "::plantmesh::runtime::CallContext& call" + HandlerParameters(method) + ") = 0;\n")
                  .c_str());
    }
    p.Print(
        "\n private:\n"
        "  ::plantmesh::runtime::CallPolicy* policy_;\n"
        "  ::plantmesh::runtime::Executor* executor_;\n"
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
      "#include \"server/runtime/call_context.h\"\n"
      "#include \"server/runtime/call_reactors.h\"\n\n",
      "stem", stem);
  PrintNamespaceOpen(p, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    p.Print(
        "$Base$::$Base$(::plantmesh::runtime::CallPolicy* policy,\n"
        "    ::plantmesh::runtime::Executor* executor)\n"
        "    : policy_(policy), executor_(executor) {}\n\n",
        "Base", service->name() + "Base");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      const Vars vars = MethodVars(service, method);
      p.Print(vars, (EntryReturnType(method) +
                     " $Base$::$Method$(::grpc::CallbackServerContext* context" +
                     EntryParameters(method) + ") {\n")
                        .c_str());
      p.Print(vars, EntryBody(method).c_str());
      p.Print("}\n\n");
    }
  }
  PrintNamespaceClose(p, file);
}

}  // namespace plantmesh::codegen
