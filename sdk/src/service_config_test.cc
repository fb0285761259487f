#include "plantmesh/sdk/internal/service_config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "plantmesh/defect/v1/defect_service.pb.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/system/v1/system_service.pb.h"

namespace plantmesh::sdk {
namespace {

using google::protobuf::MethodOptions;

// "service/method" for every name of the first methodConfig.
std::set<std::string> RetriedMethods(const nlohmann::json& config) {
  std::set<std::string> methods;
  if (config["methodConfig"].empty()) return methods;
  for (const auto& name : config["methodConfig"][0]["name"]) {
    methods.insert(name["service"].get<std::string>() + "/" + name["method"].get<std::string>());
  }
  return methods;
}

TEST(RetryServiceConfigJson, RetriesExactlyTheRetrySafeMethodsOfEveryLinkedService) {
  // Referencing both files links their descriptors into this test.
  const auto* defect_file = defect::v1::CreateDefectRequest::descriptor()->file();
  const auto* system_file = system::v1::WhoAmIRequest::descriptor()->file();

  const nlohmann::json config = nlohmann::json::parse(RetryServiceConfigJson(RetryOptions{}));
  const std::set<std::string> retried = RetriedMethods(config);

  std::set<std::string> expected;
  for (const auto* file : {defect_file, system_file}) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        const auto* method = file->service(s)->method(m);
        const auto level = method->options().idempotency_level();
        if (level == MethodOptions::NO_SIDE_EFFECTS || level == MethodOptions::IDEMPOTENT) {
          expected.insert(file->service(s)->full_name() + "/" + method->name());
        }
      }
    }
  }
  EXPECT_EQ(retried, expected);
  EXPECT_TRUE(retried.count("plantmesh.system.v1.SystemService/WhoAmI"));
  EXPECT_TRUE(retried.count("plantmesh.defect.v1.DefectService/CreateDefect"));

  const auto& policy = config["methodConfig"][0]["retryPolicy"];
  EXPECT_EQ(policy["maxAttempts"], 4);
  EXPECT_EQ(policy["initialBackoff"], "0.100s");
  EXPECT_EQ(policy["maxBackoff"], "2.000s");
  EXPECT_EQ(policy["backoffMultiplier"], 2);
  EXPECT_EQ(policy["retryableStatusCodes"], nlohmann::json::array({"UNAVAILABLE"}));
}

TEST(RetryServiceConfigJson, LeavesOutMethodsWithoutIdempotencyAndForeignPackages) {
  google::protobuf::FileDescriptorProto proto;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "plantmesh/test/v1/test.proto"
        package: "plantmesh.test.v1"
        message_type { name: "Empty" }
        service {
          name: "TestService"
          method {
            name: "Read"
            input_type: ".plantmesh.test.v1.Empty"
            output_type: ".plantmesh.test.v1.Empty"
            options { idempotency_level: NO_SIDE_EFFECTS }
          }
          method {
            name: "Write"
            input_type: ".plantmesh.test.v1.Empty"
            output_type: ".plantmesh.test.v1.Empty"
            options { idempotency_level: IDEMPOTENT }
          }
          method {
            name: "Fire"
            input_type: ".plantmesh.test.v1.Empty"
            output_type: ".plantmesh.test.v1.Empty"
          }
        }
      )pb",
      &proto));
  google::protobuf::FileDescriptorProto foreign = proto;
  foreign.set_name("other/test.proto");
  foreign.set_package("other.v1");
  foreign.mutable_service(0)->mutable_method(0)->set_input_type(".other.v1.Empty");
  foreign.mutable_service(0)->mutable_method(0)->set_output_type(".other.v1.Empty");
  for (auto& method : *foreign.mutable_service(0)->mutable_method()) {
    method.set_input_type(".other.v1.Empty");
    method.set_output_type(".other.v1.Empty");
  }
  google::protobuf::DescriptorPool pool;
  const auto* file = pool.BuildFile(proto);
  const auto* other = pool.BuildFile(foreign);
  ASSERT_NE(file, nullptr);
  ASSERT_NE(other, nullptr);

  const nlohmann::json config =
      nlohmann::json::parse(internal::RetryServiceConfigJsonFor({file, other}, RetryOptions{}));
  EXPECT_EQ(RetriedMethods(config), (std::set<std::string>{"plantmesh.test.v1.TestService/Read",
                                                           "plantmesh.test.v1.TestService/Write"}));
}

TEST(RetryServiceConfigJson, OneAttemptMeansNoRetryPolicy) {
  RetryOptions retry;
  retry.max_attempts = 1;
  const nlohmann::json config = nlohmann::json::parse(RetryServiceConfigJson(retry));
  EXPECT_TRUE(config["methodConfig"].empty());
}

}  // namespace
}  // namespace plantmesh::sdk
