#include "plantmesh/common/toml_settings.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plantmesh::common {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<std::vector<TomlSetting>> Read(const std::string& text) {
  std::istringstream in(text);
  return ReadTomlSettings(in, "server.toml");
}

TEST(TomlSettingsTest, ReadsKeysAndOneLevelOfTablesInFileOrder) {
  absl::StatusOr<std::vector<TomlSetting>> settings = Read(
      "zeta = 1\n"
      "alpha = \"a\"\n"
      "services = [\"defect\", \"planning\"]\n"
      "[ defect ]\n"
      "limit = 2.5\n"
      "on = true\n");
  ASSERT_TRUE(settings.ok()) << settings.status();
  ASSERT_EQ(settings->size(), 5u);
  EXPECT_EQ((*settings)[0].key, "zeta");
  EXPECT_THAT((*settings)[0].values, ElementsAre("1"));
  EXPECT_EQ((*settings)[1].key, "alpha");
  EXPECT_TRUE((*settings)[2].array);
  EXPECT_THAT((*settings)[2].values, ElementsAre("defect", "planning"));
  EXPECT_EQ((*settings)[3].table, "defect");
  EXPECT_EQ((*settings)[3].key, "limit");
  EXPECT_THAT((*settings)[3].values, ElementsAre("2.5"));
  EXPECT_THAT((*settings)[4].values, ElementsAre("true"));
  EXPECT_EQ((*settings)[4].line, 6);
  // Each value keeps the kind it is written as, for the readers to check.
  EXPECT_THAT((*settings)[0].kinds, ElementsAre(TomlKind::kInteger));
  EXPECT_THAT((*settings)[1].kinds, ElementsAre(TomlKind::kString));
  EXPECT_THAT((*settings)[2].kinds, ElementsAre(TomlKind::kString, TomlKind::kString));
  EXPECT_THAT((*settings)[3].kinds, ElementsAre(TomlKind::kFloat));
  EXPECT_THAT((*settings)[4].kinds, ElementsAre(TomlKind::kBoolean));
}

// Outside testing: CLI11's reader cut a value at a `#` inside its quotes (a password with
// `#` in postgres-url lost dbname and sslmode) and decoded no escapes.
TEST(TomlSettingsTest, StringsAreReadWholeAndDecodedAsTomlSays) {
  absl::StatusOr<std::vector<TomlSetting>> settings = Read(
      "postgres-url = \"host=db password=Xy#9secret dbname=plantmesh\"  # comment\n"
      "literal = 'C:\\ca#1\\ca.crt'\n"
      "escaped = \"back\\\\slash \\\"quoted\\\" \\u002D\"\n"
      "multi = \"\"\"\nline\"\"\"\n");
  ASSERT_TRUE(settings.ok()) << settings.status();
  ASSERT_EQ(settings->size(), 4u);
  EXPECT_THAT((*settings)[0].values, ElementsAre("host=db password=Xy#9secret dbname=plantmesh"));
  EXPECT_THAT((*settings)[1].values, ElementsAre("C:\\ca#1\\ca.crt"));
  EXPECT_THAT((*settings)[2].values, ElementsAre("back\\slash \"quoted\" -"));
  EXPECT_THAT((*settings)[3].values, ElementsAre("line"));
}

// Outside testing: a key repeated on the next line was merged into one (two services
// lists became one list of both), and a table given twice overrode silently.
TEST(TomlSettingsTest, AKeyOrTableGivenTwiceIsRefusedNamingTheLine) {
  for (const char* text :
       {"services = [\"defect\"]\nservices = [\"planning\"]\n", "port = 1\nother = 2\nport = 3\n",
        "[defect]\na = 1\n[planning]\nb = 2\n[defect]\nc = 3\n"}) {
    absl::StatusOr<std::vector<TomlSetting>> settings = Read(text);
    ASSERT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr("server.toml, line ")) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr("given twice")) << text;
  }
}

TEST(TomlSettingsTest, WhatAFlatConfigurationHasNoPlaceForIsRefusedNamingTheKey) {
  // A table inside a table, or an inline table: a setting of kind kTable, which the
  // reader refuses by its key (an unknown key named as such first).
  for (const char* text : {"[a.b]\nc = 1\n", "x = { b = 1 }\n"}) {
    absl::StatusOr<std::vector<TomlSetting>> settings = Read(text);
    ASSERT_TRUE(settings.ok()) << text;
    ASSERT_EQ(settings->size(), 1u) << text;
    EXPECT_THAT((*settings)[0].kinds, ElementsAre(TomlKind::kTable)) << text;
  }
  for (const char* text : {"[[a]]\nb = 1\n", "a = [[1], [2]]\n"}) {
    absl::StatusOr<std::vector<TomlSetting>> settings = Read(text);
    ASSERT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr("'a")) << text;
  }
  // Re-test: a NUL cut the value where it was read as a C string.
  for (const char* text : {"a = \"db\\u0000 sslmode=require\"\n", "a = [\"x\", \"y\\u0000\"]\n"}) {
    absl::StatusOr<std::vector<TomlSetting>> settings = Read(text);
    ASSERT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(settings.status().message(), HasSubstr("'a': holds a NUL character")) << text;
  }
  absl::StatusOr<std::vector<TomlSetting>> unclosed = Read("a = \"open\n");
  EXPECT_THAT(unclosed.status().message(), HasSubstr("server.toml, line 1 column"));
}

}  // namespace
}  // namespace plantmesh::common
