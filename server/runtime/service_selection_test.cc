// SelectServices: --services picks from the services a binary knows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/runtime/config.h"
#include "server/runtime/service_module.h"

namespace plantmesh::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ServiceDescriptor Named(const std::string& name, const std::string& schema) {
  ServiceDescriptor descriptor;
  descriptor.name = name;
  descriptor.schema = schema;
  return descriptor;
}

std::vector<std::string> NamesOf(const std::vector<const ServiceDescriptor*>& services) {
  std::vector<std::string> names;
  for (const ServiceDescriptor* service : services) names.push_back(service->name);
  return names;
}

TEST(SelectServicesTest, AllHostsEveryKnownServiceInOrder) {
  const ServiceDescriptor defect = Named("defect", "defect"), notes = Named("notes", "notes");
  ServerConfig config;
  config.postgres_url = "postgresql://127.0.0.1/x";
  config.services = {"all"};
  absl::StatusOr<std::vector<const ServiceDescriptor*>> selected =
      SelectServices(config, {&defect, &notes});
  ASSERT_TRUE(selected.ok()) << selected.status();
  EXPECT_THAT(NamesOf(*selected), ElementsAre("defect", "notes"));

  config.services = {"notes", "notes"};
  selected = SelectServices(config, {&defect, &notes});
  ASSERT_TRUE(selected.ok()) << selected.status();
  EXPECT_THAT(NamesOf(*selected), ElementsAre("notes"));
}

TEST(SelectServicesTest, UnknownServiceAndMissingDatabaseAreNamed) {
  const ServiceDescriptor defect = Named("defect", "defect");
  ServerConfig config;
  config.services = {"planing"};
  absl::StatusOr<std::vector<const ServiceDescriptor*>> selected =
      SelectServices(config, {&defect});
  ASSERT_FALSE(selected.ok());
  EXPECT_THAT(std::string(selected.status().message()), HasSubstr("unknown service 'planing'"));
  EXPECT_THAT(std::string(selected.status().message()), HasSubstr("known: defect"));

  config.services = {"all"};
  selected = SelectServices(config, {&defect});
  ASSERT_FALSE(selected.ok());
  EXPECT_THAT(std::string(selected.status().message()), HasSubstr("postgres-url"));
}

}  // namespace
}  // namespace plantmesh::runtime
