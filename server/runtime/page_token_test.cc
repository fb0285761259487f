#include "server/runtime/page_token.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plantmesh::runtime {
namespace {

const absl::Time kTime = absl::FromUnixMicros(1795000000123456);

std::optional<PageCursor> Decode(const std::string& token, const std::string& fingerprint,
                                 std::vector<FieldViolation>* out) {
  Violations v;
  std::optional<PageCursor> cursor = DecodePageToken(token, fingerprint, "ListThings", v);
  *out = v.items();
  return cursor;
}

TEST(PageTokenTest, RoundTripsTheCursorOfTheSameRequest) {
  const std::string fingerprint = FilterFingerprint().AddRaw("0").AddText("PAINT").Hex();
  const std::string token = EncodePageToken({kTime, 42}, fingerprint, "ListThings");
  // Opaque and URL-safe.
  EXPECT_EQ(token.find_first_of("+/="), std::string::npos) << token;
  std::vector<FieldViolation> violations;
  std::optional<PageCursor> cursor = Decode(token, fingerprint, &violations);
  ASSERT_TRUE(cursor.has_value());
  EXPECT_TRUE(violations.empty());
  EXPECT_EQ(cursor->sort_time, kTime);
  EXPECT_EQ(cursor->id, 42);
}

// The layout is fixed: tokens handed out before a restart (or by another replica of
// the same version) stay readable.
TEST(PageTokenTest, LayoutIsStable) {
  EXPECT_EQ(FilterFingerprint().Hex(), "cbf29ce484222325");  // FNV-1a offset basis
  const std::string fingerprint =
      FilterFingerprint().AddRaw("0").AddRaw("1,3").AddText("PAINT").AddTime(std::nullopt).Hex();
  std::string raw;
  ASSERT_TRUE(
      absl::WebSafeBase64Unescape(EncodePageToken({kTime, 7}, fingerprint, "ListThings"), &raw));
  // The fingerprint field is the request's fingerprint bound to the method.
  EXPECT_EQ(raw, "p1|1795000000123456|7|" +
                     FilterFingerprint().AddText("ListThings").AddRaw(fingerprint).Hex());
}

// Outside testing: a planning ListCrews token was taken by ListProducts (and skipped the
// products that sort before the crew), a defect ListCrews{zone} token by
// ListRepairPlaces{zone}: equal filters, another method. Tokens are bound to their method.
TEST(PageTokenTest, AnotherMethodsTokenIsRefused) {
  const std::string fp = FilterFingerprint().AddText("PAINT").Hex();
  Violations time_token;
  EXPECT_FALSE(DecodePageToken(EncodePageToken({kTime, 1}, fp, "ListDefects"), fp,
                               "ListProductionPlans", time_token));
  ASSERT_EQ(time_token.items().size(), 1u);
  EXPECT_EQ(time_token.items()[0].field, "page_token");
  EXPECT_THAT(time_token.items()[0].description, ::testing::HasSubstr("another method"));
  Violations key_token;
  EXPECT_FALSE(DecodeKeyPageToken(EncodeKeyPageToken({"CREW-A"}, fp, "ListCrews"), 1, fp,
                                  "ListRepairPlaces", key_token));
  ASSERT_EQ(key_token.items().size(), 1u);
  EXPECT_THAT(key_token.items()[0].description, ::testing::HasSubstr("another method"));
}

TEST(PageTokenTest, AnotherFilterOrOrderIsRefusedByName) {
  const std::string token = EncodePageToken(
      {kTime, 1}, FilterFingerprint().AddRaw("0").AddText("PAINT").Hex(), "ListThings");
  std::vector<FieldViolation> violations;
  EXPECT_FALSE(Decode(token, FilterFingerprint().AddRaw("1").AddText("PAINT").Hex(), &violations));
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "page_token");
  EXPECT_EQ(violations[0].description,
            "the request's filters (or its order) differ from those of the request that "
            "returned this token, or another method returned it");
}

TEST(PageTokenTest, WhatIsNoTokenIsRefusedByName) {
  const std::string fp = FilterFingerprint().Hex();
  for (const std::string& token :
       {std::string("garbage!"), absl::WebSafeBase64Escape("p1|1|2"),
        absl::WebSafeBase64Escape("p2|1|2|" + fp), absl::WebSafeBase64Escape("p1|x|2|" + fp),
        absl::WebSafeBase64Escape("p1|1|-2|" + fp),
        // Beyond google.protobuf.Timestamp's range (year 10000).
        absl::WebSafeBase64Escape("p1|253402300800000000|2|" + fp),
        // Outside testing: a token cut short was told its filter differed; one with a
        // leading space or base64 padding was taken.
        EncodePageToken({kTime, 42}, fp, "ListThings")
            .substr(0, EncodePageToken({kTime, 42}, fp, "ListThings").size() - 2),
        " " + EncodePageToken({kTime, 42}, fp, "ListThings"),
        EncodePageToken({kTime, 42}, fp, "ListThings") + "=="}) {
    std::vector<FieldViolation> violations;
    EXPECT_FALSE(Decode(token, fp, &violations)) << token;
    ASSERT_EQ(violations.size(), 1u) << token;
    EXPECT_EQ(violations[0].field, "page_token");
    EXPECT_EQ(violations[0].description, "not a token returned by ListThings");
  }
}

// Length prefixes keep values apart that would otherwise join to the same text
// ("A|B|C" both).
TEST(PageTokenTest, FingerprintSeparatesTextParts) {
  EXPECT_NE(FilterFingerprint().AddText("A|B").AddText("C").Hex(),
            FilterFingerprint().AddText("A").AddText("B|C").Hex());
  EXPECT_EQ(FilterFingerprint().AddRaw("A|B").AddRaw("C").Hex(),
            FilterFingerprint().AddRaw("A").AddRaw("B|C").Hex());  // why text is prefixed
  EXPECT_NE(FilterFingerprint().AddTime(std::nullopt).Hex(),
            FilterFingerprint().AddTime(absl::UnixEpoch()).Hex());
  EXPECT_EQ(FilterFingerprint().AddText("x").AddTime(kTime).Hex(),
            FilterFingerprint().AddText("x").AddTime(kTime).Hex());
}

// Key tokens (lists ordered by ids): any bytes in the parts, the part count checked, and
// another request's token or a time token refused by name.
TEST(PageTokenTest, KeyTokensRoundTripAndAreBoundToTheirRequest) {
  const std::string fingerprint = FilterFingerprint().AddText("CNC-07,CNC-08").Hex();
  const std::vector<std::string> key = {"CNC-08", "a|b,c"};
  const std::string token = EncodeKeyPageToken(key, fingerprint, "GetLatestValues");
  EXPECT_EQ(token.find_first_of("+/="), std::string::npos) << token;
  Violations ok;
  EXPECT_EQ(DecodeKeyPageToken(token, 2, fingerprint, "GetLatestValues", ok), key);
  EXPECT_TRUE(ok.empty());

  Violations other;
  EXPECT_FALSE(DecodeKeyPageToken(token, 2, FilterFingerprint().AddText("CNC-07").Hex(),
                                  "GetLatestValues", other));
  ASSERT_EQ(other.items().size(), 1u);
  EXPECT_EQ(other.items()[0].field, "page_token");
  EXPECT_THAT(other.items()[0].description, ::testing::HasSubstr("differs"));

  // A part no stored id can be (each kept the text rules), in a token whose every other
  // part is right: crafted, not ours.
  for (const std::string& bad :
       {EncodePageToken({kTime, 1}, fingerprint, "GetLatestValues"),
        EncodeKeyPageToken({"CNC-08"}, fingerprint, "GetLatestValues"),
        EncodeKeyPageToken({std::string("\0\xff", 2), "x"}, fingerprint, "GetLatestValues"),
        EncodeKeyPageToken({"CNC-08", "line\nbreak"}, fingerprint, "GetLatestValues"),
        std::string("not base64!")}) {
    Violations v;
    EXPECT_FALSE(DecodeKeyPageToken(bad, 2, fingerprint, "GetLatestValues", v)) << bad;
    ASSERT_EQ(v.items().size(), 1u);
    EXPECT_EQ(v.items()[0].description, "not a token returned by GetLatestValues");
  }
}

}  // namespace
}  // namespace plantmesh::runtime
