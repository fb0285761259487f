// A tail's ends before and after its current values are all sent (tail_source.h).
#include "server/telemetry/tail_source.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "server/runtime/errors.h"
#include "server/runtime/stream_cursor.h"
#include "server/telemetry/testing/text_values.h"

namespace plantmesh::telemetry {
namespace {

constexpr char kWatchCursor[] = "0123456789abcdef.7-0";

// A watch with nothing to send that ends, once told to, as a watch that fell behind or
// drains does: UNAVAILABLE with its cursor.
class EndingWatch final : public TailSource {
 public:
  runtime::Pull Next(v1::StreamSamplesResponse* message, absl::Status* end) override {
    (void)message;
    if (!end_.ok()) {
      *end = end_;
      return runtime::Pull::kEnd;
    }
    return runtime::Pull::kPending;
  }
  bool EndWithoutRoom(absl::Status* end) override {
    if (end_.ok()) return false;
    *end = end_;
    return true;
  }
  void OnDrain() override { EndWith("SERVER_DRAINING"); }
  void EndWith(const std::string& reason) {
    end_ = runtime::ResumableUnavailable(reason, "the watch ended", kWatchCursor);
  }

 private:
  absl::Status end_;
};

// Current values of `machines` machines of 500 text values, a few messages of 1 MiB.
std::optional<CurrentValues> Values(int machines) {
  std::vector<std::string> ids;
  for (int m = 0; m < machines; ++m) ids.push_back(absl::StrFormat("M-%03d", m));
  return CurrentValues(
      ids, 0, size_t{1} << 20, kWatchCursor,
      [](const std::vector<std::string>& machine_ids) -> absl::StatusOr<std::vector<StoredSample>> {
        return testing::TextValuesOf(machine_ids, 500);
      });
}

struct Tail {
  explicit Tail(std::optional<CurrentValues> first) {
    auto owned = std::make_unique<EndingWatch>();
    watch = owned.get();
    source = MakeTailSource(std::move(first), std::move(owned));
  }
  EndingWatch* watch;
  std::unique_ptr<TailSource> source;
};

// Takes messages until the one flagged complete.
void TakeCurrentValues(TailSource& source) {
  v1::StreamSamplesResponse message;
  absl::Status end;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(source.Next(&message, &end), runtime::Pull::kMessage) << end;
    if (message.current_values_complete()) return;
  }
  FAIL() << "no message flagged complete";
}

void ExpectStartAgain(const absl::Status& end, const std::string& reason) {
  EXPECT_EQ(end.code(), absl::StatusCode::kUnavailable) << end;
  const runtime::ErrorInfoView info = runtime::ErrorInfoOf(end);
  EXPECT_EQ(info.reason, reason) << end;
  EXPECT_EQ(info.metadata.count("cursor"), 0u) << end;
  EXPECT_NE(std::string(end.message()).find("without a cursor"), std::string::npos) << end;
}

TEST(TailSourceTest, ADrainBeforeTheCurrentValuesAreAllSentEndsWithoutACursor) {
  Tail tail(Values(12));
  v1::StreamSamplesResponse message;
  absl::Status end;
  ASSERT_EQ(tail.source->Next(&message, &end), runtime::Pull::kMessage);
  ASSERT_FALSE(message.current_values_complete());
  tail.source->OnDrain();
  ASSERT_EQ(tail.source->Next(&message, &end), runtime::Pull::kEnd);
  ExpectStartAgain(end, "SERVER_DRAINING");

  // The same when the client has no room for the next message.
  Tail slow(Values(12));
  ASSERT_EQ(slow.source->Next(&message, &end), runtime::Pull::kMessage);
  slow.source->OnDrain();
  ASSERT_TRUE(slow.source->EndWithoutRoom(&end));
  ExpectStartAgain(end, "SERVER_DRAINING");
}

TEST(TailSourceTest, AWatchThatFellBehindDuringTheCurrentValuesEndsWithoutACursor) {
  Tail tail(Values(12));
  v1::StreamSamplesResponse message;
  absl::Status end;
  ASSERT_EQ(tail.source->Next(&message, &end), runtime::Pull::kMessage);
  EXPECT_FALSE(tail.source->EndWithoutRoom(&end));  // the watch goes on
  tail.watch->EndWith("WATCH_TOO_SLOW");
  ASSERT_TRUE(tail.source->EndWithoutRoom(&end));
  ExpectStartAgain(end, "WATCH_TOO_SLOW");
}

TEST(TailSourceTest, OnceTheCurrentValuesAreSentTheWatchsEndKeepsItsCursor) {
  Tail tail(Values(12));
  TakeCurrentValues(*tail.source);
  v1::StreamSamplesResponse message;
  absl::Status end;
  EXPECT_EQ(tail.source->Next(&message, &end), runtime::Pull::kPending);
  tail.watch->EndWith("WATCH_TOO_SLOW");
  ASSERT_TRUE(tail.source->EndWithoutRoom(&end));
  EXPECT_EQ(runtime::ErrorInfoOf(end).metadata["cursor"], kWatchCursor) << end;

  Tail drained(Values(1));
  TakeCurrentValues(*drained.source);
  drained.source->OnDrain();
  ASSERT_EQ(drained.source->Next(&message, &end), runtime::Pull::kEnd);
  EXPECT_EQ(runtime::ErrorInfoOf(end).reason, "SERVER_DRAINING") << end;
  EXPECT_EQ(runtime::ErrorInfoOf(end).metadata["cursor"], kWatchCursor) << end;
}

TEST(TailSourceTest, ATailFromACursorIsTheWatch) {
  Tail tail(std::nullopt);
  v1::StreamSamplesResponse message;
  absl::Status end;
  EXPECT_EQ(tail.source->Next(&message, &end), runtime::Pull::kPending);
  tail.source->OnDrain();
  ASSERT_EQ(tail.source->Next(&message, &end), runtime::Pull::kEnd);
  EXPECT_EQ(runtime::ErrorInfoOf(end).metadata["cursor"], kWatchCursor) << end;
}

}  // namespace
}  // namespace plantmesh::telemetry
