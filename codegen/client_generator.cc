#include "codegen/client_generator.h"

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

Vars ClientMethodVars(const ServiceDescriptor* service, const MethodDescriptor* method) {
  Vars vars = {
      {"Client", ClientClassName(service)},
      {"Method", method->name()},
      {"Request", QualifiedCppClass(method->input_type())},
      {"Response", QualifiedCppClass(method->output_type())},
  };
  const PagedList list = PagedListOf(method);
  if (list.items != nullptr) {
    vars["Plural"] = list.plural;
    vars["Item"] = QualifiedCppClass(list.items->message_type());
    vars["ItemName"] = list.items->message_type()->name();
    vars["items"] = list.items->name();
  }
  return vars;
}

std::string Join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const std::string& part : parts) {
    if (!out.empty()) out += separator;
    out += part;
  }
  return out;
}

// The proto comment plus what the contract says about access and retries.
std::string MethodDoc(const MethodDescriptor* method) {
  std::string doc = LeadingComment(method, "  ");
  const MethodContract contract = ContractOf(method);
  std::string access;
  if (contract.any_authenticated) {
    access = "any authenticated identity";
  } else if (!contract.roles.empty()) {
    access = Join(contract.roles, ", ");
  } else {
    access = "nobody (no access option in the contract)";
  }
  doc += "  // Roles: " + access + ".\n";
  if (contract.retry_safe && KindOf(method) == StreamKind::kUnary) {
    doc += "  // " + contract.idempotency + ": retried on UNAVAILABLE by the channel's policy.\n";
  } else if (contract.retry_safe && method->client_streaming()) {
    // The channel's policy leaves client streams out (service_config.cc): gRPC would
    // buffer the whole stream to replay it.
    doc += "  // " + contract.idempotency +
           ": safe to send again whole (same request_id and messages); the channel does\n"
           "  // not retry a client stream, the caller does.\n";
  } else if (contract.retry_safe) {
    doc += "  // " + contract.idempotency +
           ": the channel retries UNAVAILABLE before the first response.\n";
  } else {
    doc += "  // Not retried (" + contract.idempotency + ").\n";
  }
  return doc;
}

// "request_id" or "metadata.request_id": where internal::FillEmptyRequestId puts a
// stream's first-message id (the root, else the first singular message field whose
// type has one); empty when the request has none.
std::string StreamRequestIdPath(const google::protobuf::Descriptor* request) {
  if (const auto* field = RequestIdField(request)) return field->name();
  for (int i = 0; i < request->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* parent = request->field(i);
    if (parent->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE ||
        parent->is_repeated()) {
      continue;
    }
    if (const auto* field = RequestIdField(parent->message_type())) {
      return parent->name() + "." + field->name();
    }
  }
  return "";
}

}  // namespace

MethodSignature SignatureOf(const MethodDescriptor* method) {
  const std::string request = QualifiedCppClass(method->input_type());
  const std::string response = QualifiedCppClass(method->output_type());
  MethodSignature signature;
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      signature.result = "absl::StatusOr<" + response + ">";
      break;
    case StreamKind::kServerStreaming:
      signature.result = "std::unique_ptr<ReadStream<" + response + ">>";
      break;
    case StreamKind::kClientStreaming:
      signature.result = "std::unique_ptr<WriteStream<" + request + ", " + response + ">>";
      break;
    case StreamKind::kBidi:
      signature.result = "std::unique_ptr<ReadWriteStream<" + request + ", " + response + ">>";
      break;
  }
  const bool takes_request =
      KindOf(method) == StreamKind::kUnary || KindOf(method) == StreamKind::kServerStreaming;
  signature.parameters = takes_request ? "const " + request + "& request, " : "";
  signature.parameters += "const CallOptions& call_options";
  signature.arguments = takes_request ? "request, call_options" : "call_options";
  return signature;
}

namespace {

void DeclareConnectionMethod(Printer& p, const MethodDescriptor* method) {
  const MethodSignature signature = SignatureOf(method);
  p.Print({{"Method", method->name()},
           {"Result", signature.result},
           {"Parameters", signature.parameters}},
          "  virtual $Result$ $Method$($Parameters$);\n");
}

void DeclareClientMethod(Printer& p, const ServiceDescriptor* service,
                         const MethodDescriptor* method) {
  const Vars vars = ClientMethodVars(service, method);
  p.PrintRaw(MethodDoc(method));
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      if (RequestIdField(method->input_type()) != nullptr) {
        p.Print(
            "  // An empty request_id is filled with a random UUID v4 by the gRPC connection\n"
            "  // (a mock connection sees the request as given). When the outcome is unknown\n"
            "  // (DEADLINE_EXCEEDED, UNAVAILABLE, ...), the failure carries that id\n"
            "  // (ErrorMetadata(status, \"request_id\")): send the request again with it.\n");
      }
      p.Print(vars,
              "  absl::StatusOr<$Response$> $Method$(\n"
              "      const $Request$& request, const CallOptions& call_options = {});\n");
      if (vars.count("Plural") != 0) {
        p.Print(vars,
                "  // Every page of $Method$, in order, until next_page_token is empty.\n"
                "  absl::StatusOr<std::vector<$Item$>> ListAll$Plural$(\n"
                "      $Request$ request, const CallOptions& call_options = {});\n"
                "  // Calls `fn` for each item of every page; stops early when it returns false.\n"
                "  absl::Status ForEach$ItemName$($Request$ request,\n"
                "      const std::function<bool(const $Item$&)>& fn,\n"
                "      const CallOptions& call_options = {});\n");
      }
      break;
    case StreamKind::kServerStreaming:
      p.Print(vars,
              "  std::unique_ptr<ReadStream<$Response$>> $Method$(\n"
              "      const $Request$& request, const CallOptions& call_options = {});\n");
      break;
    case StreamKind::kClientStreaming:
      if (const std::string path = StreamRequestIdPath(method->input_type()); !path.empty()) {
        p.Print({{"path", path}},
                "  // The first message written gets a random UUID v4 in $path$ when\n"
                "  // that is empty; set it yourself to recognise a stream you send again.\n");
      }
      p.Print(vars,
              "  std::unique_ptr<WriteStream<$Request$, $Response$>> $Method$(\n"
              "      const CallOptions& call_options = {});\n");
      break;
    case StreamKind::kBidi:
      p.Print(vars,
              "  std::unique_ptr<ReadWriteStream<$Request$, $Response$>> $Method$(\n"
              "      const CallOptions& call_options = {});\n");
      break;
  }
  p.Print("\n");
}

// The base connection's body: UNIMPLEMENTED, so that a subclass written against an
// older contract still compiles when the contract gains a method.
void DefineUnimplemented(Printer& p, const ServiceDescriptor* service,
                         const MethodDescriptor* method) {
  const MethodSignature signature = SignatureOf(method);
  Vars vars = ClientMethodVars(service, method);
  vars["Connection"] = ConnectionClassName(service);
  vars["Result"] = signature.result;
  vars["Parameters"] = signature.parameters;
  const bool takes_request =
      KindOf(method) == StreamKind::kUnary || KindOf(method) == StreamKind::kServerStreaming;
  vars["unused"] =
      takes_request ? "  (void)request;\n  (void)call_options;\n" : "  (void)call_options;\n";
  p.Print(vars, "$Result$ $Connection$::$Method$($Parameters$) {\n");
  p.PrintRaw(vars["unused"]);
  p.Print(vars,
          "  const absl::Status unimplemented = absl::UnimplementedError(\n"
          "      \"$Connection$::$Method$ is not implemented by this connection\");\n");
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      p.Print("  return unimplemented;\n");
      break;
    case StreamKind::kServerStreaming:
      p.Print(
          vars,
          "  return std::make_unique<internal::FailedReadStream<$Response$>>(unimplemented);\n");
      break;
    case StreamKind::kClientStreaming:
      p.Print(vars,
              "  return std::make_unique<internal::FailedWriteStream<$Request$, $Response$>>(\n"
              "      unimplemented);\n");
      break;
    case StreamKind::kBidi:
      p.Print(vars,
              "  return std::make_unique<internal::FailedReadWriteStream<$Request$, "
              "$Response$>>(\n"
              "      unimplemented);\n");
      break;
  }
  p.Print("}\n\n");
}

// The gRPC connection's method (inside its class definition).
void DefineGrpcMethod(Printer& p, const ServiceDescriptor* service,
                      const MethodDescriptor* method) {
  const MethodSignature signature = SignatureOf(method);
  Vars vars = ClientMethodVars(service, method);
  vars["Result"] = signature.result;
  vars["Parameters"] = signature.parameters;
  p.Print(vars, "  $Result$ $Method$($Parameters$) override {\n");
  switch (KindOf(method)) {
    case StreamKind::kUnary:
      if (RequestIdField(method->input_type()) != nullptr) {
        // A copy only when the id must be filled; the caller's request stays as given.
        p.Print(vars,
                "    const $Request$* to_send = &request;\n"
                "    $Request$ filled;\n"
                "    if (request.request_id().empty()) {\n"
                "      filled = request;\n"
                "      filled.set_request_id(::plantmesh::common::NewUuidV4());\n"
                "      to_send = &filled;\n"
                "    }\n");
        // The filled id goes into a failure whose outcome is unknown, for the retry.
        p.Print(vars,
                "    return internal::CallUnary<$Response$>(\n"
                "        options_, call_options,\n"
                "        [&](::grpc::ClientContext* context, $Response$* response) {\n"
                "          return stub_->$Method$(context, *to_send, response);\n"
                "        },\n"
                "        to_send == &filled ? filled.request_id() : std::string());\n");
      } else {
        p.Print(vars,
                "    return internal::CallUnary<$Response$>(\n"
                "        options_, call_options, [&](::grpc::ClientContext* context, "
                "$Response$* response) {\n"
                "          return stub_->$Method$(context, request, response);\n"
                "        });\n");
      }
      break;
    case StreamKind::kServerStreaming:
      p.Print(vars,
              "    absl::StatusOr<std::unique_ptr<::grpc::ClientContext>> context =\n"
              "        internal::PrepareStreamContext(*channel_, options_, call_options);\n"
              "    if (!context.ok()) {\n"
              "      return std::make_unique<internal::FailedReadStream<$Response$>>("
              "context.status());\n"
              "    }\n"
              "    auto reader = stub_->$Method$(context->get(), request);\n"
              "    return std::make_unique<internal::GrpcReadStream<$Response$>>(\n"
              "        *std::move(context), std::move(reader), !options_.insecure);\n");
      break;
    case StreamKind::kClientStreaming:
      p.Print(vars,
              "    absl::StatusOr<std::unique_ptr<::grpc::ClientContext>> context =\n"
              "        internal::PrepareStreamContext(*channel_, options_, call_options);\n"
              "    if (!context.ok()) {\n"
              "      return std::make_unique<internal::FailedWriteStream<$Request$, $Response$>>(\n"
              "          context.status());\n"
              "    }\n"
              "    auto response = std::make_unique<$Response$>();\n"
              "    auto writer = stub_->$Method$(context->get(), response.get());\n"
              "    return std::make_unique<internal::GrpcWriteStream<$Request$, $Response$>>(\n"
              "        *std::move(context), std::move(response), std::move(writer), "
              "!options_.insecure);\n");
      break;
    case StreamKind::kBidi:
      p.Print(vars,
              "    absl::StatusOr<std::unique_ptr<::grpc::ClientContext>> context =\n"
              "        internal::PrepareStreamContext(*channel_, options_, call_options);\n"
              "    if (!context.ok()) {\n"
              "      return std::make_unique<internal::FailedReadWriteStream<$Request$, "
              "$Response$>>(\n"
              "          context.status());\n"
              "    }\n"
              "    auto stream = stub_->$Method$(context->get());\n"
              "    return std::make_unique<internal::GrpcReadWriteStream<$Request$, "
              "$Response$>>(\n"
              "        *std::move(context), std::move(stream), !options_.insecure);\n");
      break;
  }
  p.Print("  }\n\n");
}

// The client's method: forwards to the connection; paged lists also get ListAll and
// ForEach, built on the connection's List so that they work over a mock too.
void DefineClientMethod(Printer& p, const ServiceDescriptor* service,
                        const MethodDescriptor* method) {
  const MethodSignature signature = SignatureOf(method);
  Vars vars = ClientMethodVars(service, method);
  vars["Result"] = signature.result;
  vars["Parameters"] = signature.parameters;
  vars["Arguments"] = signature.arguments;
  p.Print(vars,
          "$Result$ $Client$::$Method$($Parameters$) {\n"
          "  return connection_->$Method$($Arguments$);\n"
          "}\n\n");
  if (vars.count("Plural") == 0) return;
  p.Print(vars,
          "absl::StatusOr<std::vector<$Item$>> $Client$::ListAll$Plural$(\n"
          "    $Request$ request, const CallOptions& call_options) {\n"
          "  std::vector<$Item$> all;\n"
          "  absl::Status status = ForEach$ItemName$(\n"
          "      std::move(request),\n"
          "      [&all](const $Item$& item) {\n"
          "        all.push_back(item);\n"
          "        return true;\n"
          "      },\n"
          "      call_options);\n"
          "  if (!status.ok()) return status;\n"
          "  return all;\n"
          "}\n\n"
          "absl::Status $Client$::ForEach$ItemName$($Request$ request,\n"
          "    const std::function<bool(const $Item$&)>& fn,\n"
          "    const CallOptions& call_options) {\n"
          "  // Every page is one call: a retry never repeats pages already seen.\n"
          "  while (true) {\n"
          "    absl::StatusOr<$Response$> page = connection_->$Method$(request, call_options);\n"
          "    if (!page.ok()) return page.status();\n"
          "    for (const $Item$& item : page->$items$()) {\n"
          "      if (!fn(item)) return absl::OkStatus();\n"
          "    }\n"
          "    if (page->next_page_token().empty()) return absl::OkStatus();\n"
          "    if (page->next_page_token() == request.page_token()) {\n"
          "      return absl::InternalError(\"$Method$ returned the same page token twice\");\n"
          "    }\n"
          "    request.set_page_token(page->next_page_token());\n"
          "  }\n"
          "}\n\n");
}

}  // namespace

void GenerateClientHeader(const FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context) {
  const std::string stem = FileStem(file);
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
      context->Open(stem + ".pm_client.h"));
  Printer p(out.get(), '$');
  p.PrintRaw(GeneratedBanner(file));
  p.Print(
      "//\n"
      "// Typed PlantMesh SDK clients, each over an abstract connection (one virtual per\n"
      "// RPC): Make<Service>Connection gives the gRPC one; a test gives the client a\n"
      "// mock (<file>.pm_mock.h, CMake target PlantMesh::sdk_mocks) and needs no server.\n"
      "// Errors are absl::Status values converted by plantmesh::sdk::FromGrpcStatus, with\n"
      "// the server's rich details kept as payloads (see plantmesh/sdk/status.h).\n"
      "#pragma once\n\n"
      "#include <functional>\n"
      "#include <memory>\n"
      "#include <vector>\n\n"
      "#include \"$stem$.pb.h\"\n"
      "#include \"absl/status/status.h\"\n"
      "#include \"absl/status/statusor.h\"\n"
      "#include \"plantmesh/sdk/call_options.h\"\n"
      "#include \"plantmesh/sdk/client_options.h\"\n"
      "#include \"plantmesh/sdk/streams.h\"\n\n"
      "namespace plantmesh::sdk {\n\n",
      "stem", stem);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    const Vars vars = {{"Client", ClientClassName(service)},
                       {"Connection", ConnectionClassName(service)},
                       {"Mock", "mocks::Mock" + ConnectionClassName(service)},
                       {"full", service->full_name()}};
    p.Print(vars,
            "// The calls of $full$ as $Client$ makes them: the seam between the\n"
            "// client and the transport. Make$Connection$ gives the gRPC connection;\n"
            "// tests use $Mock$ (gMock, <file>.pm_mock.h) or a subclass of their\n"
            "// own. A method not overridden returns UNIMPLEMENTED (a stream: one that\n"
            "// fails with it), so a subclass keeps compiling when the contract grows.\n"
            "class $Connection$ {\n"
            " public:\n"
            "  virtual ~$Connection$();\n\n");
    for (int m = 0; m < service->method_count(); ++m) {
      DeclareConnectionMethod(p, service->method(m));
    }
    p.Print(vars,
            "};\n\n"
            "// The gRPC connection on `channel` (thread-safe, as the client): deadlines and\n"
            "// metadata from `options` and the call's CallOptions, request ids filled, the\n"
            "// channel's retry policy from the contract, rich errors (see each method of\n"
            "// $Client$).\n"
            "std::shared_ptr<$Connection$> Make$Connection$(\n"
            "    std::shared_ptr<::grpc::Channel> channel, ClientOptions options = {});\n"
            "// MakeChannel(options) and the gRPC connection on it; INVALID_ARGUMENT naming the\n"
            "// option when the options or the credential files are wrong.\n"
            "absl::StatusOr<std::shared_ptr<$Connection$>> Make$Connection$(\n"
            "    const ClientOptions& options);\n\n"
            "// Client of $full$. Cheap to copy: copies share the connection.\n"
            "// Thread-safe: one client, and its copies, may make any number of calls at once\n"
            "// from any threads (each call is independent; the channel multiplexes them). A\n"
            "// stream it returns is used by one reader (and one writer) at a time; Cancel()\n"
            "// from any thread (plantmesh/sdk/streams.h).\n"
            "class $Client$ {\n"
            " public:\n"
            "  explicit $Client$(std::shared_ptr<$Connection$> connection);\n"
            "  // A client on Make$Connection$(channel, options).\n"
            "  $Client$(std::shared_ptr<::grpc::Channel> channel, ClientOptions options = {});\n"
            "  // MakeChannel(options) and a client on it.\n"
            "  static absl::StatusOr<$Client$> Connect(const ClientOptions& options);\n\n");
    for (int m = 0; m < service->method_count(); ++m) {
      DeclareClientMethod(p, service, service->method(m));
    }
    p.Print(vars,
            "  const std::shared_ptr<$Connection$>& connection() const { return connection_; }\n\n"
            " private:\n"
            "  std::shared_ptr<$Connection$> connection_;\n"
            "};\n\n");
  }
  p.Print("}  // namespace plantmesh::sdk\n");
}

void GenerateClientSource(const FileDescriptor* file,
                          google::protobuf::compiler::GeneratorContext* context) {
  const std::string stem = FileStem(file);
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
      context->Open(stem + ".pm_client.cc"));
  Printer p(out.get(), '$');
  p.PrintRaw(GeneratedBanner(file));
  p.Print(
      "#include \"$stem$.pm_client.h\"\n\n"
      "#include <utility>\n\n"
      "#include \"$stem$.grpc.pb.h\"\n"
      "#include \"plantmesh/sdk/internal/calls.h\"\n"
      "#include \"plantmesh/common/uuid.h\"\n\n"
      "namespace plantmesh::sdk {\n\n",
      "stem", stem);
  for (int s = 0; s < file->service_count(); ++s) {
    const ServiceDescriptor* service = file->service(s);
    Vars vars = {{"Client", ClientClassName(service)},
                 {"Connection", ConnectionClassName(service)},
                 {"Grpc", "Grpc" + ConnectionClassName(service)},
                 {"Service",
                  "::" + (file->package().empty() ? service->name()
                                                  : CppNamespace(file) + "::" + service->name())}};
    p.Print(vars, "$Connection$::~$Connection$() = default;\n\n");
    for (int m = 0; m < service->method_count(); ++m) {
      DefineUnimplemented(p, service, service->method(m));
    }
    p.Print(vars,
            "namespace {\n\n"
            "class $Grpc$ final : public $Connection$ {\n"
            " public:\n"
            "  $Grpc$(std::shared_ptr<::grpc::Channel> channel, ClientOptions options)\n"
            "      : channel_(std::move(channel)),\n"
            "        stub_($Service$::NewStub(channel_)),\n"
            "        options_(std::move(options)) {}\n\n");
    for (int m = 0; m < service->method_count(); ++m) {
      DefineGrpcMethod(p, service, service->method(m));
    }
    p.Print(vars,
            " private:\n"
            "  std::shared_ptr<::grpc::Channel> channel_;\n"
            "  std::unique_ptr<$Service$::Stub> stub_;\n"
            "  ClientOptions options_;\n"
            "};\n\n"
            "}  // namespace\n\n"
            "std::shared_ptr<$Connection$> Make$Connection$(\n"
            "    std::shared_ptr<::grpc::Channel> channel, ClientOptions options) {\n"
            "  return std::make_shared<$Grpc$>(std::move(channel), std::move(options));\n"
            "}\n\n"
            "absl::StatusOr<std::shared_ptr<$Connection$>> Make$Connection$(\n"
            "    const ClientOptions& options) {\n"
            "  absl::StatusOr<std::shared_ptr<::grpc::Channel>> channel = MakeChannel(options);\n"
            "  if (!channel.ok()) return channel.status();\n"
            "  return Make$Connection$(*std::move(channel), options);\n"
            "}\n\n"
            "$Client$::$Client$(std::shared_ptr<$Connection$> connection)\n"
            "    : connection_(std::move(connection)) {}\n\n"
            "$Client$::$Client$(std::shared_ptr<::grpc::Channel> channel, ClientOptions options)\n"
            "    : connection_(Make$Connection$(std::move(channel), std::move(options))) {}\n\n"
            "absl::StatusOr<$Client$> $Client$::Connect(const ClientOptions& options) {\n"
            "  absl::StatusOr<std::shared_ptr<$Connection$>> connection =\n"
            "      Make$Connection$(options);\n"
            "  if (!connection.ok()) return connection.status();\n"
            "  return $Client$(*std::move(connection));\n"
            "}\n\n");
    for (int m = 0; m < service->method_count(); ++m) {
      DefineClientMethod(p, service, service->method(m));
    }
  }
  p.Print("}  // namespace plantmesh::sdk\n");
}

}  // namespace plantmesh::codegen
