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

Vars ServerMethodVars(const ServiceDescriptor* service, const MethodDescriptor* method) {
  return {
      {"Base", service->name() + "Base"},
      {"Method", method->name()},
      {"Request", QualifiedCppClass(method->input_type())},
      {"Response", QualifiedCppClass(method->output_type())},
      {"full_method", service->full_name() + "." + method->name()},
      {"path", "/" + service->full_name() + "/" + method->name()},
  };
}

// The callback-API entry point: return type and parameters after
// `::grpc::CallbackServerContext* context`. Requests arrive as bytes, decoded and checked
// by the runtime (DecodeRequest); a unary or client-streaming call's one response is
// written typed, stream responses as bytes (serialized by the runtime, once for every
// stream when a source's messages are shared: streams.h, SharedMessageSource).
std::string EntryReturnType(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "::grpc::ServerUnaryReactor*";
    case StreamKind::kServerStreaming:
      return "::grpc::ServerWriteReactor<::grpc::ByteBuffer>*";
    case StreamKind::kClientStreaming:
      return "::grpc::ServerReadReactor<::grpc::ByteBuffer>*";
    case StreamKind::kBidi:
      return "::grpc::ServerBidiReactor<::grpc::ByteBuffer, ::grpc::ByteBuffer>*";
  }
  return "";
}

std::string EntryParameters(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return ", const ::grpc::ByteBuffer* request_bytes, $Response$* response";
    case StreamKind::kServerStreaming:
      return ", const ::grpc::ByteBuffer* request_bytes";
    case StreamKind::kClientStreaming:
      return ", $Response$* response";
    case StreamKind::kBidi:
      return "";
  }
  return "";
}

// gRPC's callback method handler (grpc::internal, as gRPC's own generated code uses)
// with the request type (and a stream's responses) as bytes, and the arguments it passes
// on to the entry point.
std::string CallbackHandler(const MethodDescriptor* method) {
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "::grpc::internal::CallbackUnaryHandler<::grpc::ByteBuffer, $Response$>(\n"
             "          [this](::grpc::CallbackServerContext* context,\n"
             "                 const ::grpc::ByteBuffer* request_bytes, $Response$* response) {\n"
             "            return Serve$Method$(context, request_bytes, response);\n"
             "          })";
    case StreamKind::kServerStreaming:
      return "::grpc::internal::CallbackServerStreamingHandler<::grpc::ByteBuffer, "
             "::grpc::ByteBuffer>(\n"
             "          [this](::grpc::CallbackServerContext* context,\n"
             "                 const ::grpc::ByteBuffer* request_bytes) {\n"
             "            return Serve$Method$(context, request_bytes);\n"
             "          })";
    case StreamKind::kClientStreaming:
      return "::grpc::internal::CallbackClientStreamingHandler<::grpc::ByteBuffer, "
             "$Response$>(\n"
             "          [this](::grpc::CallbackServerContext* context, $Response$* response) {\n"
             "            return Serve$Method$(context, response);\n"
             "          })";
    case StreamKind::kBidi:
      return "::grpc::internal::CallbackBidiHandler<::grpc::ByteBuffer, ::grpc::ByteBuffer>(\n"
             "          [this](::grpc::CallbackServerContext* context) {\n"
             "            return Serve$Method$(context);\n"
             "          })";
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

// The body of an entry point: one call into server/runtime/call_reactors.h, which
// decodes and checks the request (each message of a client stream) on the executor.
std::string EntryBody(const MethodDescriptor* method) {
  const std::string binding = "{policy_, executor_, \"$full_method$\"}";
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      return "  return ::plantmesh::runtime::StartUnaryCall<$Request$>(\n"
             "      context, {policy_, executor_, \"$full_method$\", run_$Method$_inline_}"
             ", request_bytes, response,\n"
             "      [this](::plantmesh::runtime::CallContext& call, const $Request$& request,\n"
             "             $Response$* response) { return Handle$Method$(call, request, response); "
             "});\n";
    case StreamKind::kServerStreaming:
      return "  return ::plantmesh::runtime::StartServerStream<$Request$, $Response$>(\n"
             "      context, " +
             binding +
             ", request_bytes,\n"
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
      return "  // Runs on the executor (on gRPC's thread after Run$Method$Inline()).\n";
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
      "// (identity, roles from the contract) on gRPC's thread, then on the runtime's bounded\n"
      "// Executor decodes the request from its bytes and checks it against the contract's\n"
      "// input rules (runtime::DecodeRequest; each message of a client stream likewise),\n"
      "// runs the service's Handle<Method> and CallPolicy::End (audit, metrics, the one\n"
      "// absl::Status -> grpc::Status mapping) — see server/runtime/call_reactors.h.\n"
      "// A unary method whose service calls Run<Method>Inline() takes the same steps on\n"
      "// gRPC's thread.\n"
      "// Services implement the Handle<Method> functions only. Streaming handlers return\n"
      "// the StreamSource / StreamSink / BidiStream the runtime drives (streams.h): no\n"
      "// handler holds a thread while its stream waits.\n"
      "#pragma once\n\n"
      "#include <grpcpp/impl/codegen/proto_utils.h>\n"
      "#include <grpcpp/impl/service_type.h>\n"
      "#include <grpcpp/server_context.h>\n"
      "#include <grpcpp/support/byte_buffer.h>\n"
      "#include <grpcpp/support/server_callback.h>\n\n"
      "#include <memory>\n\n"
      "#include \"$stem$.pb.h\"\n"
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
        "class $Base$ : public ::grpc::Service {\n"
        " public:\n"
        "  // Handlers run on `executor`. Both pointers outlive the service.\n"
        "  $Base$(::plantmesh::runtime::CallPolicy* policy, ::plantmesh::runtime::Executor* "
        "executor);\n\n",
        "Base", service->name() + "Base");
    bool any_alias = false;
    for (int m = 0; m < service->method_count(); ++m) {
      const std::string alias = StreamAlias(service->method(m));
      if (alias.empty()) continue;
      if (!any_alias)
        p.Print("  // What the streaming handlers return (server/runtime/streams.h).\n");
      any_alias = true;
      p.Print(ServerMethodVars(service, service->method(m)), alias.c_str());
    }
    if (any_alias) p.Print("\n");
    p.Print(
        " protected:\n"
        "  // What a service implements: one handler per RPC.\n");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      p.PrintRaw(LeadingComment(method, "  "));
      const MethodContract contract = ContractOf(method);
      p.Print("  // Contract: $idempotency$.\n", "idempotency", contract.idempotency);
      p.Print(ServerMethodVars(service, method), HandlerKindComment(method).c_str());
      p.Print(ServerMethodVars(service, method),
              ("  virtual " + HandlerReturnType(method) + " Handle$Method$(" +
               "::plantmesh::runtime::CallContext& call" + HandlerParameters(method) + ") = 0;\n")
                  .c_str());
    }
    bool any_unary = false;
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      if (KindOf(method) != StreamKind::kUnary) continue;
      if (!any_unary) {
        p.Print(
            "\n"
            "  // Run<Method>Inline(): the method's handler runs on gRPC's callback thread,\n"
            "  // right after the policy's Begin, instead of on the executor (two thread\n"
            "  // switches less per call). Only for a handler that never blocks (no database,\n"
            "  // no Redis, no waiting) and takes small requests: while it runs, that thread\n"
            "  // serves no other call. Call from the service's constructor.\n");
      }
      any_unary = true;
      p.Print(ServerMethodVars(service, method),
              "  void Run$Method$Inline() { run_$Method$_inline_ = true; }\n");
    }
    p.Print(
        "\n private:\n"
        "  // gRPC entry points: Begin -> (executor) decode and check the request ->\n"
        "  // Handle<Method> -> End.\n");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      p.Print(ServerMethodVars(service, method),
              ("  " + EntryReturnType(method) +
               " Serve$Method$(::grpc::CallbackServerContext* context" + EntryParameters(method) +
               ");\n")
                  .c_str());
    }
    p.Print(
        "\n"
        "  ::plantmesh::runtime::CallPolicy* policy_;\n"
        "  ::plantmesh::runtime::Executor* executor_;\n");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      if (KindOf(method) != StreamKind::kUnary) continue;
      p.Print(ServerMethodVars(service, method), "  bool run_$Method$_inline_ = false;\n");
    }
    p.Print("};\n\n");
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
      "#include <grpcpp/impl/codegen/server_callback_handlers.h>\n"
      "#include <grpcpp/impl/rpc_method.h>\n"
      "#include <grpcpp/impl/rpc_service_method.h>\n\n"
      "#include \"server/runtime/call_context.h\"\n"
      "#include \"server/runtime/call_reactors.h\"\n\n",
      "stem", stem);
  PrintNamespaceOpen(p, file);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    // Registered as gRPC's generated CallbackService would be, but with requests as
    // bytes so that the runtime, not gRPC, parses them.
    p.Print(
        "$Base$::$Base$(::plantmesh::runtime::CallPolicy* policy,\n"
        "    ::plantmesh::runtime::Executor* executor)\n"
        "    : policy_(policy), executor_(executor) {\n",
        "Base", service->name() + "Base");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      Vars vars = ServerMethodVars(service, method);
      vars["rpc_type"] = RpcType(method);
      vars["index"] = std::to_string(m);
      p.Print(vars,
              "  AddMethod(new ::grpc::internal::RpcServiceMethod(\n"
              "      \"$path$\", ::grpc::internal::RpcMethod::$rpc_type$, nullptr));\n");
      p.Print(vars,
              ("  MarkMethodCallback(\n      $index$, new " + CallbackHandler(method) + ");\n")
                  .c_str());
    }
    p.Print("}\n\n");
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodDescriptor* method = service->method(m);
      const Vars vars = ServerMethodVars(service, method);
      p.Print(vars, (EntryReturnType(method) +
                     " $Base$::Serve$Method$(::grpc::CallbackServerContext* context" +
                     EntryParameters(method) + ") {\n")
                        .c_str());
      p.Print(vars, EntryBody(method).c_str());
      p.Print("}\n\n");
    }
  }
  PrintNamespaceClose(p, file);
}

}  // namespace plantmesh::codegen
