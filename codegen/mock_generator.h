// <file>.pm_mock.h: for each service FooService a gMock
// plantmesh::sdk::mocks::MockFooConnection (every RPC a MOCK_METHOD), so that code
// using FooClient is unit-tested without a server:
//   auto mock = std::make_shared<plantmesh::sdk::mocks::MockFooConnection>();
//   EXPECT_CALL(*mock, GetBar).WillOnce(Return(bar));
//   plantmesh::sdk::FooClient client(mock);
// Header only; it includes <gmock/gmock.h>, so it lives in its own CMake target
// (PlantMesh::sdk_mocks) and the SDK itself does not depend on gMock.
#pragma once

namespace google::protobuf {
class FileDescriptor;
namespace compiler {
class GeneratorContext;
}
}  // namespace google::protobuf

namespace plantmesh::codegen {

void GenerateMockHeader(const google::protobuf::FileDescriptor* file,
                        google::protobuf::compiler::GeneratorContext* context);

}  // namespace plantmesh::codegen
