// StreamSamples' current values read as the client pulls them (current_values.h).
#include "server/telemetry/current_values.h"

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/telemetry/testing/text_values.h"

namespace plantmesh::telemetry {
namespace {

constexpr size_t kMessageBytes = size_t{1} << 20;

std::string MachineId(int m) { return absl::StrFormat("M-%03d", m); }

// `items` text values of 512 characters for each machine asked, recording each read's
// machines.
class Values {
 public:
  explicit Values(int items) : items_(items) {}

  CurrentValues::ReadValues Reader() {
    return [this](const std::vector<std::string>& machine_ids)
               -> absl::StatusOr<std::vector<StoredSample>> {
      reads.push_back(machine_ids);
      if (reads.size() == fail_at_read) return absl::UnavailableError("PostgreSQL went away");
      return testing::TextValuesOf(machine_ids, items_);
    };
  }

  std::vector<std::vector<std::string>> reads;
  size_t fail_at_read = 0;  // 0: none fails

 private:
  const int items_;
};

std::vector<std::string> Machines(int count) {
  std::vector<std::string> ids;
  for (int m = 0; m < count; ++m) ids.push_back(MachineId(m));
  return ids;
}

TEST(CurrentValuesTest, AreReadAFewMachinesAtATimeAsTheClientPulls) {
  constexpr int kMachines = 12;
  Values values(500);
  CurrentValues current(Machines(kMachines), 0, kMessageBytes, "7-0", values.Reader());

  v1::StreamSamplesResponse message;
  absl::StatusOr<bool> given = current.Next(&message);
  ASSERT_TRUE(given.ok()) << given.status();
  ASSERT_TRUE(*given);
  // All of a machine's data items (up to kMaxDataItems = 500) a machine: two a read, and
  // a message of ~1 MiB holds ~1,900 values, so two reads made the first one.
  EXPECT_EQ(values.reads.size(), 2u);

  std::vector<v1::StreamSamplesResponse> messages{message};
  while (true) {
    given = current.Next(&message);
    ASSERT_TRUE(given.ok()) << given.status();
    if (!*given) break;
    messages.push_back(message);
    ASSERT_LE(messages.size(), 100u);
  }
  // Every machine read once, in order, two at a time.
  ASSERT_EQ(values.reads.size(), static_cast<size_t>(kMachines / 2));
  for (size_t r = 0; r < values.reads.size(); ++r) {
    EXPECT_THAT(values.reads[r], ::testing::ElementsAre(MachineId(2 * r), MachineId(2 * r + 1)));
  }
  // Full messages of at most 1 MiB; the last complete, with the cursor.
  std::vector<std::string> keys;
  for (size_t i = 0; i < messages.size(); ++i) {
    const bool last = i + 1 == messages.size();
    EXPECT_LE(messages[i].ByteSizeLong(), kMessageBytes) << i;
    if (!last) {
      EXPECT_GT(messages[i].ByteSizeLong(), kMessageBytes - 2000) << i;
    }
    EXPECT_TRUE(messages[i].current_values()) << i;
    EXPECT_EQ(messages[i].current_values_complete(), last) << i;
    EXPECT_EQ(messages[i].cursor(), last ? "7-0" : "") << i;
    for (const v1::Sample& s : messages[i].samples()) {
      keys.push_back(s.machine_id() + "/" + s.data_item_id());
    }
  }
  ASSERT_EQ(keys.size(), static_cast<size_t>(kMachines * 500));
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
}

TEST(CurrentValuesTest, ASelectionOfFewDataItemsReadsMoreMachinesAtATime) {
  Values values(10);
  CurrentValues current(Machines(250), 10, kMessageBytes, "7-0", values.Reader());
  v1::StreamSamplesResponse message;
  absl::StatusOr<bool> given = current.Next(&message);
  ASSERT_TRUE(given.ok() && *given);
  // 1,000 values a read: 100 machines of 10 data items.
  ASSERT_FALSE(values.reads.empty());
  EXPECT_EQ(values.reads.front().size(), 100u);
}

// Machines with few values (20 data items each) are read more at a time, up to
// kMaxMachinesPerRead: 500 of them took 250 reads (outside review).
TEST(CurrentValuesTest, MachinesWithFewValuesAreReadMoreAtATime) {
  Values values(20);
  CurrentValues current(Machines(500), 0, kMessageBytes, "7-0", values.Reader());
  v1::StreamSamplesResponse message;
  size_t got = 0;
  while (true) {
    absl::StatusOr<bool> given = current.Next(&message);
    ASSERT_TRUE(given.ok()) << given.status();
    if (!*given) break;
    got += static_cast<size_t>(message.samples_size());
  }
  EXPECT_EQ(got, 500u * 20u);
  // 2 (what 500 data items a machine allow), then 50 (1,000 values at 20 a machine).
  EXPECT_EQ(values.reads.size(), 11u);
  EXPECT_EQ(values.reads[1].size(), 50u);
  size_t machines = 0;
  for (const std::vector<std::string>& read : values.reads) {
    EXPECT_LE(read.size(), kMaxMachinesPerRead);
    machines += read.size();
  }
  EXPECT_EQ(machines, 500u);
}

TEST(CurrentValuesTest, NoValuesIsOneCompleteMessage) {
  Values values(0);
  CurrentValues current(Machines(3), 0, kMessageBytes, "9-1", values.Reader());
  v1::StreamSamplesResponse message;
  absl::StatusOr<bool> given = current.Next(&message);
  ASSERT_TRUE(given.ok() && *given);
  EXPECT_EQ(message.samples_size(), 0);
  EXPECT_TRUE(message.current_values());
  EXPECT_TRUE(message.current_values_complete());
  EXPECT_EQ(message.cursor(), "9-1");
  given = current.Next(&message);
  ASSERT_TRUE(given.ok());
  EXPECT_FALSE(*given);
}

TEST(CurrentValuesTest, AFailedReadEndsWithItsStatusAfterTheMessagesGiven) {
  Values values(500);
  values.fail_at_read = 3;
  CurrentValues current(Machines(12), 0, kMessageBytes, "7-0", values.Reader());
  v1::StreamSamplesResponse message;
  absl::StatusOr<bool> given = current.Next(&message);
  ASSERT_TRUE(given.ok() && *given);
  EXPECT_FALSE(message.current_values_complete());
  do {
    given = current.Next(&message);
  } while (given.ok() && *given);
  ASSERT_FALSE(given.ok());
  EXPECT_EQ(given.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(values.reads.size(), 3u);
}

}  // namespace
}  // namespace plantmesh::telemetry
