// gRPC server reflection over mTLS: grpcurl-style tools can list the hosted services.
// Debian ships no reflection.proto, so the few fields needed are encoded by hand:
// ServerReflectionRequest.list_services (7) and
// ServerReflectionResponse.list_services_response (6) .service (1) .name (1).
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

constexpr char kReflectionMethod[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

// The length-delimited fields numbered `field` of one message.
std::vector<std::string> SubMessages(const std::string& bytes, int field) {
  std::vector<std::string> found;
  CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                         static_cast<int>(bytes.size()));
  while (uint32_t tag = input.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == field &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string value;
      if (!WireFormatLite::ReadBytes(&input, &value)) break;
      found.push_back(std::move(value));
    } else if (!WireFormatLite::SkipField(&input, tag)) {
      break;
    }
  }
  return found;
}

std::string BufferBytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

// Asks the server for its services with one list_services request.
absl::StatusOr<std::vector<std::string>> ListServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, kReflectionMethod, &cq);
  void* tag = nullptr;
  bool ok = false;
  // Each step is awaited before the next starts, so the next event is its own.
  auto step = [&](intptr_t id) {
    return cq.Next(&tag, &ok) && reinterpret_cast<intptr_t>(tag) == id && ok;
  };
  const std::string request_bytes("\x3a\x00", 2);  // list_services: ""
  grpc::Slice request_slice(request_bytes);
  grpc::ByteBuffer request(&request_slice, 1);
  grpc::ByteBuffer response;
  bool got_response = false;
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(1)) {
    call->Write(request, reinterpret_cast<void*>(2));
    if (step(2)) {
      call->WritesDone(reinterpret_cast<void*>(3));
      if (step(3)) {
        call->Read(&response, reinterpret_cast<void*>(4));
        got_response = step(4);
      }
    }
  }
  // Drain the stream so that Finish reports the real status.
  grpc::ByteBuffer extra;
  if (got_response) {
    call->Read(&extra, reinterpret_cast<void*>(5));
    while (step(5)) call->Read(&extra, reinterpret_cast<void*>(5));
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(6));
  while (cq.Next(&tag, &ok) && reinterpret_cast<intptr_t>(tag) != 6) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return sdk::FromGrpcStatus(status);
  if (!got_response) return absl::InternalError("reflection: no response");
  std::vector<std::string> names;
  for (const std::string& list : SubMessages(BufferBytes(response), 6)) {
    for (const std::string& service : SubMessages(list, 1)) {
      for (const std::string& name : SubMessages(service, 1)) names.push_back(name);
    }
  }
  return names;
}

TEST(ReflectionTest, ListsTheHostedServices) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      sdk::MakeChannel((*mesh)->OptionsFor("ops"));
  ASSERT_TRUE(channel.ok()) << Describe(channel.status());
  absl::StatusOr<std::vector<std::string>> services = ListServices(*channel);
  ASSERT_TRUE(services.ok()) << Describe(services.status());
  EXPECT_THAT(*services, ::testing::IsSupersetOf({"plantmesh.defect.v1.DefectService",
                                                  "plantmesh.system.v1.SystemService"}));
}

}  // namespace
}  // namespace plantmesh::e2e
