#include "server/runtime/stream_history.h"

#include "gtest/gtest.h"

namespace plantmesh::runtime {
namespace {

constexpr char kGeneration[] = "0123456789abcdef";

StreamId Id(uint64_t ms, uint64_t seq = 0) { return StreamId{ms, seq}; }

PublishedPosition Recorded(const std::string& generation, StreamId last) {
  return PublishedPosition{true, generation, last};
}

// A stream that kept every entry it was given, up to `last`.
StreamInfo Untrimmed(StreamId last, int64_t length = 10) {
  StreamInfo info;
  info.exists = true;
  info.length = length;
  info.entries_added = length;
  info.last_generated_id = last;
  info.recorded_first_entry_id = Id(1);
  return info;
}

TEST(CompareStreamTest, TheRecordedEndAgrees) {
  EXPECT_EQ(CompareStream(Recorded(kGeneration, Id(50)), kGeneration, Untrimmed(Id(50))).kind,
            StreamComparison::Kind::kAgrees);
}

TEST(CompareStreamTest, EntriesAfterTheRecordAreChecked) {
  StreamComparison c = CompareStream(Recorded(kGeneration, Id(50)), kGeneration, Untrimmed(Id(60)));
  EXPECT_EQ(c.kind, StreamComparison::Kind::kVerifyAfter);
  EXPECT_EQ(c.after, Id(50));
}

TEST(CompareStreamTest, AStreamThatEndsBeforeTheRecordWentBack) {
  StreamComparison c = CompareStream(Recorded(kGeneration, Id(50)), kGeneration, Untrimmed(Id(40)));
  EXPECT_EQ(c.kind, StreamComparison::Kind::kDiverged);
  EXPECT_NE(c.why.find("50-0"), std::string::npos) << c.why;
  EXPECT_EQ(CompareStream(Recorded(kGeneration, Id(50)), kGeneration, StreamInfo{}).kind,
            StreamComparison::Kind::kDiverged);
}

TEST(CompareStreamTest, AnotherGenerationIsCheckedFromItsStart) {
  StreamComparison c =
      CompareStream(Recorded(kGeneration, Id(50)), "fedcba9876543210", Untrimmed(Id(20)));
  EXPECT_EQ(c.kind, StreamComparison::Kind::kVerifyAfter);
  EXPECT_EQ(c.after, StreamId{});
  // Redis came back empty: nothing to check, the next publish starts the generation.
  EXPECT_EQ(CompareStream(Recorded(kGeneration, Id(50)), "", StreamInfo{}).kind,
            StreamComparison::Kind::kAgrees);
  EXPECT_EQ(CompareStream(PublishedPosition{}, "", StreamInfo{}).kind,
            StreamComparison::Kind::kAgrees);
  EXPECT_EQ(CompareStream(PublishedPosition{}, kGeneration, Untrimmed(Id(5))).kind,
            StreamComparison::Kind::kVerifyAfter);
}

// Outside testing (AG F2): the original Redis came back (an older snapshot of another
// generation) and the log said its entries were "after" the recorded position and asked
// whether the database was restored. The generations tell which side went back.
TEST(UnknownEntriesWhyTest, NamesWhichSideWentBack) {
  const std::string older_redis = UnknownEntriesWhy(Recorded(kGeneration, Id(80)),
                                                    "fedcba9876543210", Id(20), "event e1 at 5-0");
  EXPECT_EQ(older_redis,
            "the stream is of generation fedcba9876543210 with entries up to 20-0, not of the "
            "generation the database recorded publishing to (0123456789abcdef.80-0), and event "
            "e1 at 5-0 is not in its outbox: Redis was replaced, or restored from an older "
            "snapshot");
  const std::string older_database =
      UnknownEntriesWhy(Recorded(kGeneration, Id(50)), kGeneration, Id(60), "event e2 at 55-0");
  EXPECT_NE(older_database.find("beyond what the database recorded publishing "
                                "(0123456789abcdef.50-0)"),
            std::string::npos)
      << older_database;
  EXPECT_NE(older_database.find("the database was restored from a backup"), std::string::npos);
  const std::string no_record =
      UnknownEntriesWhy(PublishedPosition{}, kGeneration, Id(60), "event e3 at 1-0");
  EXPECT_NE(no_record.find("the database recorded publishing none"), std::string::npos);
}

TEST(CompareStreamTest, TrimmedEntriesAfterTheRecordCannotBeChecked) {
  StreamInfo info = Untrimmed(Id(90), 10);
  info.entries_added = 40;
  info.recorded_first_entry_id = Id(70);
  EXPECT_EQ(CompareStream(Recorded(kGeneration, Id(50)), kGeneration, info).kind,
            StreamComparison::Kind::kDiverged);
  EXPECT_EQ(CompareStream(Recorded(kGeneration, Id(75)), kGeneration, info).kind,
            StreamComparison::Kind::kVerifyAfter);
}

TEST(CompareStreamTest, AStreamEmptiedForANewGenerationAgreesWithItsRecord) {
  // XTRIM MAXLEN 0, then XSETID <last> ENTRIESADDED 0 MAXDELETEDID 0-0.
  StreamInfo info = Untrimmed(Id(90), 0);
  EXPECT_EQ(CompareStream(Recorded(kGeneration, Id(90)), kGeneration, info).kind,
            StreamComparison::Kind::kAgrees);
  EXPECT_FALSE(EntriesRemovedAfter(info, Id(0)));
  // The first entry of the new generation: nothing before it counts as trimmed.
  info.length = info.entries_added = 1;
  info.recorded_first_entry_id = info.last_generated_id = Id(95);
  EXPECT_EQ(CompareStream(Recorded(kGeneration, Id(95)), kGeneration, info).kind,
            StreamComparison::Kind::kAgrees);
  EXPECT_FALSE(EntriesRemovedAfter(info, Id(90)));
}

}  // namespace
}  // namespace plantmesh::runtime
