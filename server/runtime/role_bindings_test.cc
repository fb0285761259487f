#include "server/runtime/role_bindings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace plantmesh::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kA[] = "spiffe://t/user/a";

constexpr char kGood[] = R"({"bindings": [
  {"identity": "spiffe://plantmesh.local/user/anna", "roles": ["admin", "foreman"]},
  {"identity_prefix": "spiffe://plantmesh.local/user/", "roles": ["foreman"]},
  {"identity_prefix": "spiffe://plantmesh.local/service/", "roles": ["integrator"]},
  {"identity": "insecure:local", "roles": ["admin"]}
]})";

TEST(RoleBindingsTest, ExactAndPrefixBindingsUnite) {
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(kGood);
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  EXPECT_THAT(bindings->RolesOf("spiffe://plantmesh.local/user/anna"),
              ElementsAre("admin", "foreman"));
  EXPECT_THAT(bindings->RolesOf("spiffe://plantmesh.local/service/mes"), ElementsAre("integrator"));
  EXPECT_THAT(bindings->RolesOf("spiffe://plantmesh.local/user/bob"), ElementsAre("foreman"));
  EXPECT_THAT(bindings->RolesOf("spiffe://plantmesh.local/device/x"), IsEmpty());
  EXPECT_THAT(bindings->RolesOf("insecure:local"), ElementsAre("admin"));
}

// Re-test: the parser's message had every quote written as \'.
TEST(RoleBindingsTest, AParseErrorIsQuotedAsTheParserSaidIt) {
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse("{\"bindings\": [],}");
  ASSERT_FALSE(bindings.ok());
  EXPECT_THAT(bindings.status().message(), HasSubstr("unexpected '}'"));
  EXPECT_THAT(bindings.status().message(), Not(HasSubstr("\\'")));
}

// Outside testing: an exact binding and a prefix covering it added up without a word, so
// removing the exact one (the natural revocation) left the prefix's roles in force.
TEST(RoleBindingsTest, BindingsWhoseRolesAddUpAreNamed) {
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(R"({"bindings": [
    {"identity": "spiffe://plantmesh.local/user/anna", "roles": ["admin"]},
    {"identity_prefix": "spiffe://plantmesh.local/user/", "roles": ["foreman"]},
    {"identity_prefix": "spiffe://plantmesh.local/user/night/", "roles": ["operator"]},
    {"identity": "spiffe://plantmesh.local/service/mes", "roles": ["integrator"]}
  ]})");
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  EXPECT_THAT(
      bindings->Overlaps(),
      ElementsAre("bindings[0]: identity \"spiffe://plantmesh.local/user/anna\" is also matched "
                  "by identity_prefix \"spiffe://plantmesh.local/user/\" of bindings[1]: its "
                  "roles add up, and a revocation must take it out of both",
                  "bindings[2]: identity_prefix \"spiffe://plantmesh.local/user/night/\" is also "
                  "matched by identity_prefix \"spiffe://plantmesh.local/user/\" of bindings[1]: "
                  "its roles add up, and a revocation must take it out of both"));
}

// Identities and prefixes are SPIFFE IDs (spiffe_id.h): a binding no valid caller can
// match, or a prefix that would match across a segment boundary, is refused with the file.
TEST(RoleBindingsTest, IdentitiesAndPrefixesMustBeValidSpiffeIds) {
  struct Case {
    const char* json;
    const char* expected;
  };
  const Case cases[] = {
      {R"({"bindings": [{"identity": "anna", "roles": ["admin"]}]})",
       "bindings[0].identity: \"anna\": not a valid SPIFFE ID"},
      {R"({"bindings": [{"identity": "spiffe://plantmesh.local/service/../user/anna",
           "roles": ["admin"]}]})",
       "'.' and '..'"},
      {R"({"bindings": [{"identity": "spiffe://PLANTMESH.local/user/anna", "roles": ["admin"]}]})",
       "lowercase"},
      {R"({"bindings": [{"identity": "spiffe://plantmesh.local/user/%61nna", "roles": ["admin"]}]})",
       "percent-encoding"},
      {R"({"bindings": [{"identity": "spiffe://plantmesh.local", "roles": ["admin"]}]})",
       "needs a path"},
      {R"({"bindings": [{"identity_prefix": "spiffe://plantmesh.local/serv", "roles": ["admin"]}]})",
       "bindings[0].identity_prefix: \"spiffe://plantmesh.local/serv\": an identity prefix must "
       "end with '/'"},
      {R"({"bindings": [{"identity_prefix": "spiffe://plantmesh.local/service/../",
           "roles": ["admin"]}]})",
       "'.' and '..'"},
      {R"({"bindings": [{"identity_prefix": "spiffe:", "roles": ["admin"]}]})", "must end with"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(c.json);
    ASSERT_FALSE(bindings.ok()) << c.json;
    EXPECT_EQ(bindings.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bindings.status().message(), HasSubstr(c.expected)) << c.json;
  }
}

// Re-test: a binding for another trust domain (a typo in the domain) was reloaded as one
// of "1 bindings", granting and revoking nothing. Given the server's trust domain, the
// file is refused naming the binding.
TEST(RoleBindingsTest, ABindingOfAnotherTrustDomainIsRefused) {
  const std::string typo =
      R"({"bindings": [{"identity": "spiffe://plantmesh.locl/user/ops", "roles": ["admin"]}]})";
  absl::StatusOr<RoleBindings> refused = RoleBindings::Parse(typo, "plantmesh.local");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr("bindings[0].identity: \"spiffe://plantmesh.locl/user/ops\": not in the "
                        "trust domain plantmesh.local, the only one this server authenticates"));
  EXPECT_FALSE(
      RoleBindings::Parse(
          R"({"bindings": [{"identity_prefix": "spiffe://other.local/service/", "roles": []}]})",
          "plantmesh.local")
          .ok());
  EXPECT_TRUE(
      RoleBindings::Parse(R"({"bindings": [{"identity": "insecure:local", "roles": ["admin"]}]})",
                          "plantmesh.local")
          .ok());
}

// Outside testing (AF F1): 60,000 nested arrays took the reloader 5 GB and seconds (a
// path of every level kept per level), revocations written meanwhile waiting. A file
// deeper than a role-binding file can be is refused as soon as the parser gets there.
TEST(RoleBindingsTest, AFileNestedDeeperThanABindingFileIsRefusedAtOnce) {
  for (const std::string& deep :
       {R"({"bindings":)" + std::string(60000, '['),
        R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": )" + std::string(14, '[')}) {
    absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(deep);
    ASSERT_FALSE(bindings.ok());
    EXPECT_THAT(
        bindings.status().message(),
        HasSubstr("nested deeper than 16 arrays and objects (a role-binding file holds 4)"));
  }
  EXPECT_TRUE(
      RoleBindings::Parse(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": []}]})")
          .ok());
}

TEST(RoleBindingsTest, APrefixMatchesWholeSegmentsOnly) {
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(
      R"({"bindings": [{"identity_prefix": "spiffe://plantmesh.local/service/",
                        "roles": ["integrator"]}]})");
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  EXPECT_THAT(bindings->RolesOf("spiffe://plantmesh.local/service/mes"), ElementsAre("integrator"));
  EXPECT_THAT(bindings->RolesOf("spiffe://plantmesh.local/services/mes"), IsEmpty());
  EXPECT_THAT(bindings->RolesOf("spiffe://plantmesh.local/service"), IsEmpty());
}

TEST(RoleBindingsTest, EmptyRolesGrantNothing) {
  absl::StatusOr<RoleBindings> bindings =
      RoleBindings::Parse(R"({"bindings": [{"identity": "spiffe://t/user/x", "roles": []}]})");
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  EXPECT_THAT(bindings->RolesOf("spiffe://t/user/x"), IsEmpty());
}

TEST(RoleBindingsTest, InvalidFilesAreRefusedWithTheReason) {
  struct Case {
    const char* json;
    const char* expected;
  };
  const Case cases[] = {
      {"not json", "not valid JSON"},
      {"[]", "must be a JSON object"},
      {R"({"binding": []})", "unknown key 'binding'"},
      {R"({"bindings": {}})", "must be an array"},
      {R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["superuser"]}]})",
       "unknown role \"superuser\""},
      {R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["admin"], "role": "x"}]})",
       "bindings[0]: unknown key 'role'"},
      {R"({"bindings": [{"roles": ["admin"]}]})", "exactly one of identity, identity_prefix"},
      {R"({"bindings": [{"identity": "spiffe://t/user/a", "identity_prefix": "spiffe://t/b/", "roles": ["admin"]}]})",
       "exactly one of identity, identity_prefix"},
      {R"({"bindings": [{"identity": "spiffe://t/user/a"}]})", "roles: required"},
      {R"({"bindings": [{"identity": "", "roles": ["admin"]}]})", "non-empty string"},
      {R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": "admin"}]})",
       "must be an array"},
      // Outside testing: a key given twice was taken silently (the last one won: the
      // second identity got the roles), and `{}` took every role from everyone.
      {R"({"bindings": [{"identity": "spiffe://t/user/anna", "roles": ["admin"], "identity": "spiffe://t/user/ops"}]})",
       "role-bindings: bindings[0]: key 'identity' given twice in one object"},
      {R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["admin"]}, {"identity": "spiffe://t/user/b", "roles": ["admin"], "roles": []}]})",
       "role-bindings: bindings[1]: key 'roles' given twice"},
      {R"({"bindings": [], "bindings": [{"identity": "spiffe://t/user/a", "roles": ["admin"]}]})",
       "role-bindings: key 'bindings' given twice"},
      {"{}", "no bindings key"},
      {R"({"bindings": [], "x": 1e999})", "not valid JSON"},  // a number beyond a double
  };
  for (const Case& c : cases) {
    absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(c.json);
    ASSERT_FALSE(bindings.ok()) << c.json;
    EXPECT_EQ(bindings.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bindings.status().message(), HasSubstr(c.expected)) << c.json;
  }
}

// The issue's example: one mistyped role used to make the binding grant nothing, so its
// identity was denied everything without a word. Now the file is refused, naming the binding.
// Outside testing: an identity bound twice had the roles of both, and a role listed twice
// was taken; an operator who revoked by editing "the" binding of an identity left the other
// in force. One binding per identity (and per prefix), each role once.
TEST(RoleBindingsTest, AnIdentityBoundTwiceOrARoleListedTwiceIsRefused) {
  absl::StatusOr<RoleBindings> twice = RoleBindings::Parse(R"({"bindings": [
      {"identity": "spiffe://plantmesh.local/user/eve", "roles": ["operator"]},
      {"identity": "spiffe://plantmesh.local/user/bob", "roles": ["mechanic"]},
      {"identity": "spiffe://plantmesh.local/user/eve", "roles": ["mechanic"]}]})");
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.status().message(),
            "role-bindings: bindings[2]: identity \"spiffe://plantmesh.local/user/eve\" is bound "
            "already by bindings[0]: give all its roles in one binding");
  EXPECT_THAT(RoleBindings::Parse(R"({"bindings": [
      {"identity_prefix": "spiffe://t/service/", "roles": ["integrator"]},
      {"identity_prefix": "spiffe://t/service/", "roles": []}]})")
                  .status()
                  .message(),
              HasSubstr("bindings[1]: identity_prefix \"spiffe://t/service/\" is bound already"));
  EXPECT_THAT(
      RoleBindings::Parse(
          R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["manager", "manager"]}]})")
          .status()
          .message(),
      HasSubstr("bindings[0] (identity \"spiffe://t/user/a\").roles[1]: role manager is "
                "listed already: list it once"));
}

TEST(RoleBindingsTest, AMistypedRoleIsRefusedNamingTheBinding) {
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(R"({"bindings": [
      {"identity": "spiffe://plantmesh.local/user/anna", "roles": ["foreman"]},
      {"identity": "spiffe://plantmesh.local/user/ivan", "roles": ["mechanic", "qc-engineer"]}]})");
  ASSERT_FALSE(bindings.ok());
  EXPECT_EQ(bindings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bindings.status().message(),
            "role-bindings: bindings[1] (identity \"spiffe://plantmesh.local/user/ivan\")"
            ".roles[1]: unknown role \"qc-engineer\" (known: operator, mechanic, foreman, "
            "qc_engineer, planner, manager, admin, integrator)");

  absl::StatusOr<RoleBindings> by_prefix = RoleBindings::Parse(
      R"({"bindings": [{"roles": ["Integrator"], "identity_prefix": "spiffe://t/service/"}]})");
  ASSERT_FALSE(by_prefix.ok());
  EXPECT_THAT(by_prefix.status().message(),
              HasSubstr("bindings[0] (identity_prefix \"spiffe://t/service/\").roles[0]: "
                        "unknown role \"Integrator\""));

  // The enum's own spelling is not a binding's: one name per role, as audit rows show it.
  EXPECT_FALSE(RoleBindings::Parse(
                   R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["ROLE_ADMIN"]}]})")
                   .ok());
  EXPECT_THAT(
      RoleBindings::Parse(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": [7]}]})")
          .status()
          .message(),
      HasSubstr("roles[0]: must be a role name"));
}

TEST(RoleBindingsTest, EveryRoleOfTheContractCanBeBound) {
  absl::StatusOr<RoleBindings> bindings = RoleBindings::Parse(R"({"bindings": [
      {"identity": "spiffe://t/user/a", "roles": ["operator", "mechanic", "foreman", "qc_engineer",
                                                  "planner", "manager", "admin", "integrator"]}]})");
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  EXPECT_THAT(bindings->RolesOf(kA), ElementsAre("admin", "foreman", "integrator", "manager",
                                                 "mechanic", "operator", "planner", "qc_engineer"));
}

class RoleBindingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("plantmesh-bindings-" + std::to_string(getpid()) + ".json"))
                .string();
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) {
    // Atomic replace, as operators (and plantctl) are told to do.
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path_);
  }
  std::string path_;
};

TEST_F(RoleBindingStoreTest, InvalidFileAtStartIsAnError) {
  Write(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["wizard"]}]})");
  EXPECT_FALSE(RoleBindingStore::Open(path_, absl::Hours(1)).ok());
  EXPECT_FALSE(RoleBindingStore::Open(path_ + ".missing", absl::Hours(1)).ok());
}

TEST_F(RoleBindingStoreTest, ReloadAppliesGoodAndKeepsLastGoodOnBad) {
  Write(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["operator"]}]})");
  absl::StatusOr<std::unique_ptr<RoleBindingStore>> store =
      RoleBindingStore::Open(path_, absl::Hours(1));  // reloads driven by the test
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_THAT((*store)->RolesOf(kA), ElementsAre("operator"));
  EXPECT_TRUE((*store)->ReloadIfChanged().ok());  // unchanged
  EXPECT_EQ((*store)->generation(), 1);

  Write(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["foreman"]}]})");
  EXPECT_TRUE((*store)->ReloadIfChanged().ok());
  EXPECT_EQ((*store)->generation(), 2);
  EXPECT_THAT((*store)->RolesOf(kA), ElementsAre("foreman"));

  EXPECT_FALSE((*store)->refused());
  Write(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["foreman", "king"]}]})");
  absl::Status bad = (*store)->ReloadIfChanged();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT((*store)->RolesOf(kA), ElementsAre("foreman"));  // last good kept
  EXPECT_EQ((*store)->generation(), 2);
  EXPECT_TRUE((*store)->refused());

  // Outside testing: a revocation with a trailing comma kept the roles, and the log did
  // not say where the file was wrong.
  Write(
      "{\"bindings\": [\n  {\"identity\": \"spiffe://t/user/b\", \"roles\": [\"operator\"]},\n]}");
  bad = (*store)->ReloadIfChanged();
  EXPECT_THAT(bad.message(), HasSubstr("line 3, column 1"));
  EXPECT_TRUE((*store)->refused());

  std::filesystem::remove(path_);
  EXPECT_FALSE((*store)->ReloadIfChanged().ok());
  EXPECT_THAT((*store)->RolesOf(kA), ElementsAre("foreman"));
  EXPECT_TRUE((*store)->refused());

  Write(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["admin"]}]})");
  EXPECT_TRUE((*store)->ReloadIfChanged().ok());
  EXPECT_THAT((*store)->RolesOf(kA), ElementsAre("admin"));
  EXPECT_FALSE((*store)->refused());
}

TEST_F(RoleBindingStoreTest, PollerPicksUpChanges) {
  Write(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["operator"]}]})");
  absl::StatusOr<std::unique_ptr<RoleBindingStore>> store =
      RoleBindingStore::Open(path_, absl::Milliseconds(20));
  ASSERT_TRUE(store.ok()) << store.status();
  Write(R"({"bindings": [{"identity": "spiffe://t/user/a", "roles": ["planner"]}]})");
  // Await the poller's reload (bounded), not a fixed sleep.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((*store)->generation() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT((*store)->RolesOf(kA), ElementsAre("planner"));
}

TEST(RoleBindingStoreFixedTest, NoFile) {
  std::unique_ptr<RoleBindingStore> store = RoleBindingStore::Fixed(RoleBindings());
  EXPECT_THAT(store->RolesOf("insecure:local"), IsEmpty());
  EXPECT_TRUE(store->ReloadIfChanged().ok());
}

}  // namespace
}  // namespace plantmesh::runtime
