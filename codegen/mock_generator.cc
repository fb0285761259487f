#include "codegen/mock_generator.h"

#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <memory>
#include <string>

#include "codegen/client_generator.h"
#include "codegen/cpp_names.h"

namespace plantmesh::codegen {

void GenerateMockHeader(const google::protobuf::FileDescriptor* file,
                        google::protobuf::compiler::GeneratorContext* context) {
  const std::string stem = FileStem(file);
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(
      context->Open(stem + ".pm_mock.h"));
  google::protobuf::io::Printer p(out.get(), '$');
  p.PrintRaw(GeneratedBanner(file));
  p.Print(
      "//\n"
      "// gMock connections for the clients of $stem$.pm_client.h (CMake target\n"
      "// PlantMesh::sdk_mocks). A mock sees each request exactly as the client was given\n"
      "// it: request ids are filled by the gRPC connection, not by the client. Streams\n"
      "// are returned as the mock's action makes them, e.g. with\n"
      "// plantmesh/sdk/mocks/mock_streams.h.\n"
      "#pragma once\n\n"
      "#include <gmock/gmock.h>\n\n"
      "#include <memory>\n\n"
      "#include \"$stem$.pm_client.h\"\n\n"
      "namespace plantmesh::sdk::mocks {\n\n",
      "stem", stem);
  for (int s = 0; s < file->service_count(); ++s) {
    const google::protobuf::ServiceDescriptor* service = file->service(s);
    p.Print(
        "// Every RPC of $full$ as a MOCK_METHOD. An uninteresting call returns the\n"
        "// default value gMock knows: for absl::StatusOr an UNKNOWN error, for a stream a\n"
        "// null pointer (the SDK's ListWatch and TelemetryBatchWriter then end\n"
        "// FAILED_PRECONDITION naming it); give an action for each call the code under test\n"
        "// makes.\n"
        "class Mock$Connection$ : public ::plantmesh::sdk::$Connection$ {\n"
        " public:\n",
        "full", service->full_name(), "Connection", ConnectionClassName(service));
    for (int m = 0; m < service->method_count(); ++m) {
      const MethodSignature signature = SignatureOf(service->method(m));
      // MOCK_METHOD wants the result and the parameter list in parentheses: they
      // contain commas.
      p.Print({{"Method", service->method(m)->name()},
               {"Result", signature.result},
               {"Parameters", signature.parameters}},
              "  MOCK_METHOD(($Result$), $Method$, ($Parameters$), (override));\n");
    }
    p.Print("};\n\n");
  }
  p.Print("}  // namespace plantmesh::sdk::mocks\n");
}

}  // namespace plantmesh::codegen
