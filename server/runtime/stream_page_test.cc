#include "server/runtime/stream_page.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace plantmesh::runtime {
namespace {

std::vector<RawStreamEntry> EntriesOf(size_t count, size_t payload_bytes) {
  std::vector<RawStreamEntry> entries(count);
  for (RawStreamEntry& entry : entries) {
    entry.id = "1700000000000-0";  // 15 bytes
    entry.fields = {{"event_id", std::string(36, 'e')},
                    {"payload", std::string(payload_bytes, 'p')}};
  }
  return entries;
}

TEST(StreamPageSizeTest, AsksForWhatTheBudgetHoldsOfTheLargestEntriesSeen) {
  StreamPageSize pages(8 << 20, 512);
  EXPECT_EQ(pages.Count(), 8);  // before any reply, entries are taken to be 1 MiB
  pages.Observe(EntriesOf(3, 100));
  EXPECT_EQ(pages.Count(), 16);  // halving towards the small entries seen
  for (int i = 0; i < 20; ++i) pages.Observe(EntriesOf(3, 100));
  EXPECT_EQ(pages.Count(), 512);  // at most max_count
  std::vector<RawStreamEntry> mixed = EntriesOf(5, 100);
  mixed[2].fields[1].second.assign(size_t{2} << 20, 'p');  // one 2 MiB entry among them
  pages.Observe(mixed);
  EXPECT_EQ(pages.Count(), 3);
  pages.Observe({});  // an empty reply teaches nothing
  EXPECT_EQ(pages.Count(), 3);
  pages.Observe(EntriesOf(1, 64 << 20));  // larger than the budget alone: one at a time
  EXPECT_EQ(pages.Count(), 1);
}

TEST(StreamPageSizeTest, EntryBytesCountIdFieldsAndValues) {
  EXPECT_EQ(StreamEntryBytes(EntriesOf(1, 10)[0]), 15u + 8 + 36 + 7 + 10);
}

}  // namespace
}  // namespace plantmesh::runtime
