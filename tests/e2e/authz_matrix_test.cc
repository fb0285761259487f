// The authorization matrix, generated from the contract: for every method of every
// hosted service and each role of the contract, a caller bound to only that role is let
// through exactly when the method's (plantmesh.api.v1.access) option names the role.
// Requests are empty: an admitted call may fail validation, never authorization.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/contract.h"
#include "plantmesh/sdk/internal/contracts.h"
#include "tests/e2e/shared_mesh_test.h"

namespace plantmesh::e2e {
namespace {

using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

// Calls `path` with one empty message and half-closes; a call still running after
// `patience` (an admitted stream, e.g. a watch) is cancelled: admission is all this
// test asks about.
grpc::Status CallWithEmptyRequest(const std::shared_ptr<grpc::Channel>& channel,
                                  const std::string& path) {
  constexpr auto kPatience = std::chrono::milliseconds(700);
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, path, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto await = [&](intptr_t expected) {
    while (cq.Next(&tag, &ok)) {
      if (reinterpret_cast<intptr_t>(tag) == expected) return ok;
    }
    return false;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (await(1)) {
    grpc::Slice empty_slice("");
    grpc::ByteBuffer empty(&empty_slice, 1);
    call->Write(empty, reinterpret_cast<void*>(2));
    if (await(2)) {
      call->WritesDone(reinterpret_cast<void*>(3));
      await(3);
    }
  }
  // gRPC reports the status only once every response message has been read: read
  // until the stream ends (or the patience runs out), then finish.
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(5));
  grpc::Status status;
  bool finishing = false;
  bool finished = false;
  auto give_up = std::chrono::system_clock::now() + kPatience;
  while (!finished) {
    switch (cq.AsyncNext(&tag, &ok, give_up)) {
      case grpc::CompletionQueue::GOT_EVENT:
        if (reinterpret_cast<intptr_t>(tag) == 5) {
          if (ok) {
            call->Read(&response, reinterpret_cast<void*>(5));
          } else if (!finishing) {
            finishing = true;
            call->Finish(&status, reinterpret_cast<void*>(4));
          }
        } else if (reinterpret_cast<intptr_t>(tag) == 4) {
          finished = true;
        }
        break;
      case grpc::CompletionQueue::TIMEOUT:
        context.TryCancel();
        give_up = std::chrono::system_clock::now() + std::chrono::seconds(30);
        break;
      case grpc::CompletionQueue::SHUTDOWN:
        finished = true;
        break;
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

std::vector<std::string> AllowedRoles(const MethodDescriptor& method) {
  const contract::MethodContract declared = contract::MethodContractOf(&method);
  if (declared.any_authenticated) return kAllRoles;
  return declared.RoleNames();
}

class AuthzMatrixTest : public SharedMeshTest {
 protected:
  static void SetUpTestSuite() { StartSharedMesh(/*seed_reference_data=*/false); }

  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& user) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        sdk::MakeChannel(mesh_->OptionsFor(user));
    EXPECT_TRUE(channel.ok()) << Describe(channel.status());
    return *channel;
  }

  void CheckService(const ServiceDescriptor& service) {
    ASSERT_GT(service.method_count(), 0);
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
    for (const std::string& role : kAllRoles) channels[role] = ChannelFor(role);
    channels["nobody"] = ChannelFor("nobody");
    for (int m = 0; m < service.method_count(); ++m) {
      const MethodDescriptor& method = *service.method(m);
      ASSERT_TRUE(contract::MethodContractOf(&method).declares_access)
          << method.full_name() << " declares no access rule";
      const bool any = contract::MethodContractOf(&method).any_authenticated;
      const std::vector<std::string> allowed = AllowedRoles(method);
      const std::string path = absl::StrCat("/", service.full_name(), "/", method.name());
      for (const auto& [user, channel] : channels) {
        const bool admitted =
            any || std::find(allowed.begin(), allowed.end(), user) != allowed.end();
        grpc::Status status = CallWithEmptyRequest(channel, path);
        SCOPED_TRACE(absl::StrCat(path, " as ", user, " (allowed: ", absl::StrJoin(allowed, ","),
                                  ") -> ", status.error_code(), " ", status.error_message()));
        ++calls_;
        if (admitted) {
          EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
          EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
          EXPECT_NE(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
        } else {
          EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
          for (const std::string& role : allowed) {
            EXPECT_THAT(status.error_message(), ::testing::HasSubstr(role));
          }
        }
      }
    }
  }

  int calls_ = 0;
};

// Every service of every contract (the server hosts them all by default).
std::vector<const ServiceDescriptor*> ContractServices() {
  std::vector<const ServiceDescriptor*> services;
  for (const auto* file : sdk::internal::ContractFiles()) {
    for (int s = 0; s < file->service_count(); ++s) services.push_back(file->service(s));
  }
  return services;
}

TEST_F(AuthzMatrixTest, EveryServiceFollowsTheContract) {
  int methods = 0;
  for (const ServiceDescriptor* service : ContractServices()) {
    SCOPED_TRACE(service->full_name());
    CheckService(*service);
    methods += service->method_count();
  }
  EXPECT_GE(methods, 22);  // DefectService and SystemService at least
  EXPECT_EQ(calls_, methods * 9);
}

TEST_F(AuthzMatrixTest, EveryMethodNamesAtLeastOneRole) {
  for (const ServiceDescriptor* service : ContractServices()) {
    for (int m = 0; m < service->method_count(); ++m) {
      EXPECT_FALSE(AllowedRoles(*service->method(m)).empty()) << service->method(m)->full_name();
    }
  }
}

}  // namespace
}  // namespace plantmesh::e2e
