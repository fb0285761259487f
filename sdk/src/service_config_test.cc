#include "plantmesh/sdk/internal/service_config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/internal/contracts.h"

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

TEST(RetryServiceConfigJson, RetriesExactlyTheRetrySafeMethodsOfEveryContractService) {
  // The generated list is checked against the contracts' own descriptors.

  const nlohmann::json config = nlohmann::json::parse(RetryServiceConfigJson(RetryOptions{}));
  const std::set<std::string> retried = RetriedMethods(config);

  std::set<std::string> expected;
  for (const auto* file : internal::ContractFiles()) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        const auto* method = file->service(s)->method(m);
        const auto level = method->options().idempotency_level();
        if ((level == MethodOptions::NO_SIDE_EFFECTS || level == MethodOptions::IDEMPOTENT) &&
            !method->client_streaming()) {
          expected.insert(file->service(s)->full_name() + "/" + method->name());
        }
      }
    }
  }
  EXPECT_EQ(retried, expected);
  EXPECT_TRUE(retried.count("plantmesh.system.v1.SystemService/WhoAmI"));
  EXPECT_TRUE(retried.count("plantmesh.defect.v1.DefectService/CreateDefect"));
  // A server stream is retried (gRPC does so only before its first answer), a client
  // stream never (outside testing: a retried ImportDemand stored a prefix of its records).
  EXPECT_TRUE(retried.count("plantmesh.telemetry.v1.TelemetryService/StreamSamples"));
  EXPECT_FALSE(retried.count("plantmesh.planning.v1.PlanningService/ImportDemand"));
  EXPECT_FALSE(retried.count("plantmesh.telemetry.v1.TelemetryService/IngestSamples"));
  EXPECT_FALSE(retried.count("plantmesh.defect.v1.DefectService/UploadDefectPhoto"));

  const auto& policy = config["methodConfig"][0]["retryPolicy"];
  EXPECT_EQ(policy["maxAttempts"], 4);
  EXPECT_EQ(policy["initialBackoff"], "0.100s");
  EXPECT_EQ(policy["maxBackoff"], "2.000s");
  EXPECT_EQ(policy["backoffMultiplier"], 2);
  EXPECT_EQ(policy["retryableStatusCodes"], nlohmann::json::array({"UNAVAILABLE", "CANCELLED"}));
}

TEST(RetryServiceConfigJson, ListsTheGivenMethods) {
  const std::vector<internal::RetrySafeMethod> methods = {
      {"plantmesh.test.v1.TestService", "Read"},
      {"plantmesh.test.v1.TestService", "Write"},
      {"plantmesh.test.v1.TestService", "Upload", /*client_streaming=*/true}};
  const nlohmann::json config =
      nlohmann::json::parse(internal::RetryServiceConfigJsonFor(methods, RetryOptions{}));
  EXPECT_EQ(RetriedMethods(config), (std::set<std::string>{"plantmesh.test.v1.TestService/Read",
                                                           "plantmesh.test.v1.TestService/Write"}));
  EXPECT_TRUE(
      nlohmann::json::parse(internal::RetryServiceConfigJsonFor({}, RetryOptions{}))["methodConfig"]
          .empty());
}

TEST(RetryServiceConfigJson, OneAttemptMeansNoRetryPolicy) {
  RetryOptions retry;
  retry.max_attempts = 1;
  const nlohmann::json config = nlohmann::json::parse(RetryServiceConfigJson(retry));
  EXPECT_TRUE(config["methodConfig"].empty());
}

}  // namespace
}  // namespace plantmesh::sdk
