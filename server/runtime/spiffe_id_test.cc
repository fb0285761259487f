#include "server/runtime/spiffe_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;

TEST(SpiffeIdTest, ValidIdsParse) {
  struct Case {
    std::string text, trust_domain, path;
  };
  const Case cases[] = {
      {"spiffe://plantmesh.local/user/anna", "plantmesh.local", "/user/anna"},
      {"spiffe://plantmesh.local/service/mes", "plantmesh.local", "/service/mes"},
      {"spiffe://plant-1_a.example/Device/PLC-07.a_b", "plant-1_a.example", "/Device/PLC-07.a_b"},
      {"spiffe://plantmesh.local", "plantmesh.local", ""},  // the trust domain itself
      {"spiffe://x/...", "x", "/..."},                      // only "." and ".." are special
  };
  for (const Case& c : cases) {
    absl::StatusOr<SpiffeId> id = ParseSpiffeId(c.text);
    ASSERT_TRUE(id.ok()) << c.text << ": " << id.status();
    EXPECT_EQ(id->trust_domain, c.trust_domain) << c.text;
    EXPECT_EQ(id->path, c.path) << c.text;
  }
}

TEST(SpiffeIdTest, InvalidIdsAreRefusedWithTheRule) {
  struct Case {
    std::string text, reason;
  };
  const Case cases[] = {
      // The example: a dot-dot segment must not pass as a service/ prefix.
      {"spiffe://plantmesh.local/service/../user/anna", "'.' and '..'"},
      {"spiffe://plantmesh.local/user/./anna", "'.' and '..'"},
      {"spiffe://plantmesh.local/user/..", "'.' and '..'"},
      {"spiffe://plantmesh.local//user/anna", "segment is empty"},
      {"spiffe://plantmesh.local/user/anna/", "segment is empty"},
      {"spiffe://plantmesh.local/", "segment is empty"},
      {"spiffe://PlantMesh.local/user/anna", "must be lowercase"},
      {"spiffe://plantmesh.local/user/%61nna", "percent-encoding"},
      {"spiffe://plantmesh%2elocal/user/anna", "percent-encoding"},
      {"spiffe://plantmesh.local/user/an%2Fna", "percent-encoding"},
      {"spiffe://plantmesh.local:8443/user/anna", "port"},
      {"spiffe://anna@plantmesh.local/user/anna", "userinfo"},
      {"spiffe://plantmesh.local/user/anna?x=1", "query"},
      {"spiffe://plantmesh.local/user/anna#frag", "fragment"},
      {"spiffe:///user/anna", "trust domain is empty"},
      {"spiffe://", "trust domain is empty"},
      {"SPIFFE://plantmesh.local/user/anna", "scheme"},
      {"https://plantmesh.local/user/anna", "scheme"},
      {"spiffe:plantmesh.local/user/anna", "scheme"},
      {"insecure:local", "scheme"},
      {"spiffe://plantmesh.local/user/an na", "may hold only"},
      {"spiffe://plantmesh.local/user/anna\n", "may hold only"},
      {std::string("spiffe://plantmesh.local/user/an\0na", 35), "may hold only"},
      {"spiffe://plantmesh.local/user/\xc3\xa4nna", "may hold only"},
      {"spiffe://plant mesh/user/anna", "trust domain may hold only"},
      {"spiffe://" + std::string(256, 'a') + "/x", "longer than 255"},
      {"spiffe://a/" + std::string(2048, 'b'), "longer than 2048"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SpiffeId> id = ParseSpiffeId(c.text);
    ASSERT_FALSE(id.ok()) << c.text;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(id.status().message()), HasSubstr(c.reason)) << c.text;
  }
}

// Re-test: a no-break space after an identity was refused as "path segments may hold only
// ...", the character printed raw, and a zero-width space before it as "the scheme must
// be spiffe://" of a value that begins with it.
TEST(SpiffeIdTest, TheCharacterThatBreaksTheRuleIsNamed) {
  EXPECT_THAT(
      std::string(ParseSpiffeId("spiffe://plantmesh.local/user/ops\u00A0").status().message()),
      HasSubstr("; U+00A0 (NO-BREAK SPACE) at character 34"));
  EXPECT_THAT(
      std::string(ParseSpiffeId("\u200Bspiffe://plantmesh.local/user/ops").status().message()),
      HasSubstr("the scheme must be spiffe:// (lowercase); U+200B (ZERO WIDTH SPACE) at "
                "character 1"));
  EXPECT_THAT(std::string(ParseSpiffeId("spiffe://plantmesh.local/user/o*s").status().message()),
              HasSubstr("; '*' at character 32"));
  EXPECT_THAT(std::string(ParseSpiffeId("spiffe://plant mesh.local/user/ops").status().message()),
              HasSubstr("the trust domain may hold only a-z, 0-9, '.', '-' and '_'; U+0020"));
}

TEST(SpiffeIdTest, ACallerIsAWorkloadOrUserNotATrustDomain) {
  EXPECT_EQ(ParseCallerIdentity("spiffe://plantmesh.local/user/anna")->path, "/user/anna");
  absl::StatusOr<SpiffeId> domain = ParseCallerIdentity("spiffe://plantmesh.local");
  EXPECT_EQ(domain.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(domain.status().message()), HasSubstr("a trust domain alone"));
  EXPECT_FALSE(ParseCallerIdentity("spiffe://plantmesh.local/user/../anna").ok());
}

TEST(SpiffeIdTest, TrustDomains) {
  EXPECT_TRUE(IsValidTrustDomain("plantmesh.local"));
  EXPECT_TRUE(IsValidTrustDomain("a-b_c.9"));
  EXPECT_FALSE(IsValidTrustDomain(""));
  EXPECT_FALSE(IsValidTrustDomain("Plantmesh.local"));
  EXPECT_FALSE(IsValidTrustDomain("plantmesh.local:1"));
  EXPECT_FALSE(IsValidTrustDomain(std::string(256, 'a')));
}

TEST(SpiffeIdTest, PrefixesEndAtASegmentBoundary) {
  EXPECT_TRUE(ValidateSpiffeIdPrefix("spiffe://plantmesh.local/service/").ok());
  EXPECT_TRUE(ValidateSpiffeIdPrefix("spiffe://plantmesh.local/").ok());
  EXPECT_THAT(std::string(ValidateSpiffeIdPrefix("spiffe://plantmesh.local/serv").message()),
              HasSubstr("must end with '/'"));
  EXPECT_FALSE(ValidateSpiffeIdPrefix("spiffe://plantmesh.local/../").ok());
  EXPECT_FALSE(ValidateSpiffeIdPrefix("spiffe://plantmesh.local//").ok());
  EXPECT_FALSE(ValidateSpiffeIdPrefix("spiffe://Plantmesh.local/").ok());
}

}  // namespace
}  // namespace plantmesh::runtime
