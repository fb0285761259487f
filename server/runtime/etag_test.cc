#include "server/runtime/etag.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;

constexpr EtagForm kBare{"", ""};
constexpr EtagForm kPrefixed{"v", ""};
constexpr EtagForm kQuoted{"\"v", "\""};

TEST(EtagFormTest, WritesAndReadsItsOwnForm) {
  EXPECT_EQ(kBare.Of(7), "7");
  EXPECT_EQ(kPrefixed.Of(7), "v7");
  EXPECT_EQ(kQuoted.Of(7), "\"v7\"");
  for (const EtagForm* form : {&kBare, &kPrefixed, &kQuoted}) {
    for (int64_t version : {int64_t{0}, int64_t{1}, int64_t{42}, INT64_MAX}) {
      EXPECT_EQ(form->VersionOf(form->Of(version)), version);
    }
  }
}

TEST(EtagFormTest, AnythingElseIsNoEtag) {
  for (const char* text : {"abc", "v", "\"v\"", "v7x", "7", "V7", "v07", "v-1", "v+1", " v7", "v7 ",
                           "v99999999999999999999", "\"v7", "v7\"", "v\xd9"}) {
    EXPECT_EQ(kPrefixed.VersionOf(text), std::nullopt) << text;
  }
  EXPECT_EQ(kQuoted.VersionOf("v7"), std::nullopt);
  EXPECT_EQ(kBare.VersionOf("v7"), std::nullopt);
  EXPECT_EQ(kBare.VersionOf("007"), std::nullopt);
}

// Outside testing: `abc` was answered ABORTED "changed since etag 'abc'".
TEST(EtagFormTest, AMalformedEtagIsInvalidArgumentNamingTheField) {
  for (bool required : {false, true}) {
    const absl::Status status = kPrefixed.Check("etag", "defect 12", 3, "abc", required);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    const std::vector<FieldViolation> violations = FieldViolationsOf(status);
    ASSERT_EQ(violations.size(), 1u);
    EXPECT_EQ(violations[0].field, "etag");
    EXPECT_THAT(violations[0].description, HasSubstr("not an etag"));
    EXPECT_THAT(violations[0].description, HasSubstr("like v7"));
    // "or none" only where none is allowed.
    EXPECT_EQ(absl::StrContains(violations[0].description, "or none"), !required);
  }
  Violations violations;
  EXPECT_TRUE(kQuoted.CheckForm(violations, "etag", "\"v3\"", true));
  EXPECT_TRUE(kQuoted.CheckForm(violations, "etag", "", false));
  EXPECT_TRUE(violations.empty());
  EXPECT_FALSE(kQuoted.CheckForm(violations, "plan.etag", "v3", false));
  ASSERT_EQ(violations.items().size(), 1u);
  EXPECT_EQ(violations.items()[0].field, "plan.etag");
}

TEST(EtagFormTest, AnotherVersionIsAbortedWithTheCurrentEtag) {
  const absl::Status status = kPrefixed.Check("etag", "defect 12", 3, "v2", false);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
  EXPECT_THAT(status.message(), HasSubstr("defect 12 changed since etag 'v2'"));
  const ErrorInfoView info = ErrorInfoOf(status);
  EXPECT_EQ(info.reason, "ETAG_MISMATCH");
  EXPECT_EQ(info.metadata.at("current_etag"), "v3");
  // Which resource and etag (outside testing: a bulk client could not tell which failed).
  EXPECT_EQ(info.metadata.at("resource"), "defect 12");
  EXPECT_EQ(info.metadata.at("etag"), "v2");
  EXPECT_TRUE(kPrefixed.Check("etag", "defect 12", 3, "v3", true).ok());
  // Outside testing: v5 and v0 on a defect at v1 were "changed since", a change that
  // never happened.
  for (const char* never : {"v5", "v0"}) {
    const absl::Status not_had = kPrefixed.Check("etag", "defect 12", 1, never, false);
    EXPECT_EQ(not_had.code(), absl::StatusCode::kAborted) << never;
    EXPECT_THAT(not_had.message(),
                HasSubstr(absl::StrCat("etag '", never,
                                       "' is not one defect 12 has had (current etag v1)")));
    EXPECT_EQ(ErrorInfoOf(not_had).reason, "ETAG_MISMATCH");
  }
}

TEST(EtagFormTest, NoneIsFineUnlessRequired) {
  EXPECT_TRUE(kBare.Check("etag", "machine m1", 3, "", false).ok());
  const absl::Status status = kBare.Check("etag", "machine m1", 3, "", true);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(FieldViolationsOf(status).size(), 1u);
  EXPECT_THAT(FieldViolationsOf(status)[0].description, HasSubstr("required"));
}

}  // namespace
}  // namespace plantmesh::runtime
