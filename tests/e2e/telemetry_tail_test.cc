// The telemetry service's live tail and aggregates end to end: plantmesh-server over
// mTLS on real PostgreSQL and Redis, through the SDK's TelemetryClient.
//   - StreamSamples: the first message holds the current value of every selected data
//     item (a screen is complete at once), then one message per committed batch with
//     the selected samples; a tail resumed from a message's cursor gets exactly the
//     batches committed after it; the platform's cursor rules (future cursor
//     INVALID_ARGUMENT, another generation FAILED_PRECONDITION).
//   - Two replicas on one database and one Redis: a tail on A sees the samples ingested
//     through B, and its first message is complete.
//   - `plantctl telemetry tail` off a terminal: one JSON line per change, the current
//     values first, and it resumes after the server is killed and restarted.
//   - QueryAggregates is served (the arithmetic is tested against SQL in
//     server/telemetry/aggregates_pg_test.cc).
#include <signal.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plantmesh/sdk/status.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"
#include "tests/e2e/mesh.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"

#ifndef PLANTCTL_BIN
#error "PLANTCTL_BIN must be defined by CMake"
#endif

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::telemetry::v1;

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

v1::Sample Num(const std::string& machine, const std::string& item, double value, absl::Time t) {
  v1::Sample s;
  s.set_machine_id(machine);
  s.set_data_item_id(item);
  SetTime(t, s.mutable_time());
  s.set_number(value);
  return s;
}

// An EXECUTION value (its item takes MTConnect's words only).
v1::Sample Execution(const std::string& machine, const std::string& value, absl::Time t) {
  v1::Sample s = Num(machine, "Xact", 0, t);
  s.set_text(value);
  return s;
}

std::string Key(const v1::Sample& s) {
  return absl::StrCat(s.machine_id(), "/", s.data_item_id(), "=",
                      s.has_number() ? absl::StrCat(s.number()) : std::string(s.text()));
}

// Reads one StreamSamples stream on its own thread, keeping every message.
class Tail {
 public:
  Tail(const sdk::ClientOptions& options, const v1::StreamSamplesRequest& request) {
    absl::StatusOr<sdk::TelemetryClient> client = sdk::TelemetryClient::Connect(options);
    EXPECT_TRUE(client.ok()) << Describe(client.status());
    client_ = std::make_unique<sdk::TelemetryClient>(*std::move(client));
    stream_ = client_->StreamSamples(request);
    reader_ = std::thread([this] {
      v1::StreamSamplesResponse response;
      while (stream_->Next(&response)) {
        absl::MutexLock lock(&mu_);
        messages_.push_back(response);
      }
      absl::Status ended = stream_->Finish();
      absl::MutexLock lock(&mu_);
      ended_ = true;
      end_status_ = ended;
    });
  }
  ~Tail() {
    stream_->Cancel();
    reader_.join();
  }

  // Waits until `count` messages have arrived or the stream ended.
  bool AwaitMessages(size_t count, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto done = [&] { return messages_.size() >= count || ended_; };
    mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
    return messages_.size() >= count;
  }

  // Waits until the change messages hold `count` samples (ChangeKeys, below) or 30 s
  // passed; returns their keys.
  std::vector<std::string> AwaitChangeKeys(size_t count);

  absl::StatusOr<absl::Status> AwaitEnd(absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto done = [&] { return ended_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
      return absl::DeadlineExceededError("the tail did not end");
    }
    return end_status_;
  }

  std::vector<v1::StreamSamplesResponse> messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }

 private:
  std::unique_ptr<sdk::TelemetryClient> client_;
  std::unique_ptr<sdk::ReadStream<v1::StreamSamplesResponse>> stream_;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<v1::StreamSamplesResponse> messages_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
};

std::vector<std::string> Keys(const v1::StreamSamplesResponse& message) {
  std::vector<std::string> keys;
  for (const v1::Sample& s : message.samples()) keys.push_back(Key(s));
  return keys;
}

// The samples of a tail's change messages (after the current values, if it began with
// them), in order, whichever messages carried them: the batches waiting for a tail come
// in one message. A batch committed just before the tail began may be in the snapshot
// and still come once more as a change (its event was published after the hub's
// position was taken: no gap, a recognisable duplicate); such leading samples, which
// the snapshot holds, are dropped.
std::vector<std::string> ChangeKeys(const std::vector<v1::StreamSamplesResponse>& messages) {
  std::vector<std::string> keys;
  std::set<std::string> snapshot;
  bool leading = true;
  for (const v1::StreamSamplesResponse& message : messages) {
    for (const v1::Sample& s : message.samples()) {
      if (message.current_values()) {
        snapshot.insert(s.SerializeAsString());
        continue;
      }
      if (leading && snapshot.count(s.SerializeAsString()) != 0) continue;
      leading = false;
      keys.push_back(Key(s));
    }
  }
  return keys;
}

std::vector<std::string> Tail::AwaitChangeKeys(size_t count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  std::vector<std::string> keys = ChangeKeys(messages());
  while (keys.size() < count && absl::Now() < deadline) {
    AwaitMessages(messages().size() + 1, deadline - absl::Now());
    keys = ChangeKeys(messages());
  }
  return keys;
}

class TelemetryTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = *std::move(mesh);
    now_ = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
    sdk::TelemetryClient ops = Client(mesh_->OptionsFor("ops"));
    for (const char* id : {"CNC-07", "CNC-08"}) {
      v1::RegisterMachineRequest request;
      v1::Machine* m = request.mutable_machine();
      m->set_id(id);
      auto add = [&](const char* item, v1::DataItemCategory category, v1::DataItemType type,
                     const char* units) {
        v1::DataItem* d = m->add_data_items();
        d->set_id(item);
        d->set_category(category);
        d->set_type(type);
        d->set_units(units);
      };
      add("S1speed", v1::DATA_ITEM_CATEGORY_SAMPLE, v1::DATA_ITEM_TYPE_SPINDLE_SPEED, "rpm");
      add("Xact", v1::DATA_ITEM_CATEGORY_EVENT, v1::DATA_ITEM_TYPE_EXECUTION, "");
      add("temp", v1::DATA_ITEM_CATEGORY_SAMPLE, v1::DATA_ITEM_TYPE_TEMPERATURE, "CELSIUS");
      absl::StatusOr<v1::RegisterMachineResponse> registered = ops.RegisterMachine(request);
      ASSERT_TRUE(registered.ok()) << Describe(registered.status());
    }
  }

  // `plantctl telemetry tail ARGS...` as otto in the background, stdout to `dir`/out and
  // stderr to `dir`/err (files: not a terminal), with no config of the user's.
  absl::StatusOr<pid_t> SpawnTail(const std::string& dir, const std::vector<std::string>& args) {
    const sdk::ClientOptions otto = mesh_->OptionsFor("otto");
    std::vector<std::string> argv = {PLANTCTL_BIN,  "--endpoint", otto.endpoint,  "--ca",
                                     otto.ca_file,  "--cert",     otto.cert_file, "--key",
                                     otto.key_file, "telemetry",  "tail"};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::internal::SpawnOptions spawn = testing::internal::Command(argv, dir + "/out");
    spawn.stderr_file = dir + "/err";
    spawn.env = {"HOME=" + dir, "PLANTCTL_CONFIG="};
    return testing::internal::Spawn(spawn);
  }

  // Polls `done` for up to 60 s while the plantctl `pid` runs; its exit is a failure
  // (with its stderr, the file `err`) and ends the wait.
  static bool AwaitWhileRunning(pid_t pid, const std::string& err,
                                const std::function<bool()>& done) {
    return testing::PollUntil(
        [&] {
          int code = 0;
          if (testing::internal::HasExited(pid, &code)) {
            ADD_FAILURE() << "plantctl exited with " << code << ": "
                          << testing::internal::ReadFileOrEmpty(err);
            return true;
          }
          return done();
        },
        absl::Seconds(60), absl::Milliseconds(20));
  }

  static sdk::TelemetryClient Client(const sdk::ClientOptions& options) {
    absl::StatusOr<sdk::TelemetryClient> client = sdk::TelemetryClient::Connect(options);
    EXPECT_TRUE(client.ok()) << Describe(client.status());
    return *std::move(client);
  }

  // Commits one batch of writer "tail-test" through `options`' server.
  void Ingest(const sdk::ClientOptions& options, const std::vector<v1::Sample>& samples) {
    sdk::TelemetryClient client = Client(options);
    v1::IngestSamplesRequest batch;
    batch.set_writer_id("tail-test");
    batch.set_batch_sequence(++sequence_);
    for (const v1::Sample& s : samples) *batch.add_samples() = s;
    auto stream = client.IngestSamples();
    ASSERT_TRUE(stream->Write(batch));
    v1::IngestSamplesResponse answer;
    ASSERT_TRUE(stream->Next(&answer));
    EXPECT_EQ(answer.accepted_count(), batch.samples_size()) << answer.DebugString();
    ASSERT_TRUE(stream->WritesDone());
    EXPECT_FALSE(stream->Next(&answer));
    ASSERT_TRUE(stream->Finish().ok());
  }

  static v1::StreamSamplesRequest Follow(std::vector<std::string> machines,
                                         std::vector<std::string> items = {},
                                         const std::string& cursor = "") {
    v1::StreamSamplesRequest request;
    for (const std::string& m : machines) request.add_machine_ids(m);
    for (const std::string& i : items) request.add_data_item_ids(i);
    request.set_cursor(cursor);
    return request;
  }

  std::unique_ptr<Mesh> mesh_;
  absl::Time now_;
  uint64_t sequence_ = 0;
};

TEST_F(TelemetryTailTest, FirstMessageIsCompleteThenBatchesAndResumeMissesNothing) {
  const sdk::ClientOptions ivan = mesh_->OptionsFor("ivan");  // integrator: writes
  const sdk::ClientOptions otto = mesh_->OptionsFor("otto");  // operator: reads
  const v1::Sample text = Execution("CNC-07", "ACTIVE", now_ - absl::Seconds(50));
  Ingest(ivan, {Num("CNC-07", "S1speed", 1200, now_ - absl::Seconds(50)), text,
                Num("CNC-07", "temp", 21.5, now_ - absl::Seconds(50)),
                Num("CNC-08", "S1speed", 800, now_ - absl::Seconds(50))});

  auto tail = std::make_unique<Tail>(otto, Follow({"CNC-07"}));
  ASSERT_TRUE(tail->AwaitMessages(1));
  const v1::StreamSamplesResponse first = tail->messages()[0];
  EXPECT_TRUE(first.current_values());
  EXPECT_FALSE(first.cursor().empty());
  // Every data item of the machine, by data item id; nothing of CNC-08.
  EXPECT_THAT(Keys(first), ::testing::ElementsAre("CNC-07/S1speed=1200", "CNC-07/Xact=ACTIVE",
                                                  "CNC-07/temp=21.5"));

  Ingest(ivan, {Num("CNC-08", "S1speed", 810, now_ - absl::Seconds(40))});  // not followed
  Ingest(ivan, {Num("CNC-07", "S1speed", 1300, now_ - absl::Seconds(40)),
                Num("CNC-08", "temp", 30, now_ - absl::Seconds(40))});
  EXPECT_THAT(tail->AwaitChangeKeys(1), ::testing::ElementsAre("CNC-07/S1speed=1300"));
  const std::string resume = tail->messages().back().cursor();
  ASSERT_FALSE(resume.empty());
  tail.reset();

  // While nobody follows: two batches. Resumed from the last cursor: exactly those.
  Ingest(ivan, {Num("CNC-07", "temp", 22, now_ - absl::Seconds(30))});
  Ingest(ivan, {Num("CNC-07", "S1speed", 1400, now_ - absl::Seconds(20)),
                Num("CNC-07", "temp", 22.5, now_ - absl::Seconds(20))});
  Tail resumed(otto, Follow({"CNC-07"}, {}, resume));
  EXPECT_THAT(resumed.AwaitChangeKeys(3),
              ::testing::ElementsAre("CNC-07/temp=22", "CNC-07/S1speed=1400", "CNC-07/temp=22.5"));
  EXPECT_FALSE(resumed.messages()[0].current_values());

  // A data item filter, from the first message on.
  Tail speed_only(otto, Follow({"CNC-07", "CNC-08"}, {"S1speed"}));
  ASSERT_TRUE(speed_only.AwaitMessages(1));
  EXPECT_THAT(Keys(speed_only.messages()[0]),
              ::testing::ElementsAre("CNC-07/S1speed=1400", "CNC-08/S1speed=810"));
  Ingest(ivan, {Num("CNC-07", "temp", 23, now_ - absl::Seconds(10)),
                Num("CNC-08", "S1speed", 820, now_ - absl::Seconds(10))});
  EXPECT_THAT(speed_only.AwaitChangeKeys(1), ::testing::ElementsAre("CNC-08/S1speed=820"));
  // Also on the resumed tail (it follows every data item of CNC-07), once.
  EXPECT_THAT(resumed.AwaitChangeKeys(4),
              ::testing::ElementsAre("CNC-07/temp=22", "CNC-07/S1speed=1400", "CNC-07/temp=22.5",
                                     "CNC-07/temp=23"));

  // The platform's cursor rules.
  const std::string generation = resume.substr(0, resume.find('.'));
  Tail future(otto, Follow({"CNC-07"}, {}, absl::StrCat(generation, ".99999999999999-0")));
  absl::StatusOr<absl::Status> ended = future.AwaitEnd();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->code(), absl::StatusCode::kInvalidArgument) << Describe(*ended);
  // An earlier generation of this stream: its first 4 digits name the stream.
  const std::string earlier =
      generation.substr(0, 4) +
      (generation.substr(4) == "0123456789ab" ? "ba9876543210" : "0123456789ab");
  Tail other_generation(otto, Follow({"CNC-07"}, {}, absl::StrCat(earlier, ".1-0")));
  ended = other_generation.AwaitEnd();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->code(), absl::StatusCode::kFailedPrecondition) << Describe(*ended);
  EXPECT_EQ(sdk::ErrorReason(*ended), "CURSOR_GENERATION_CHANGED");
  // Outside testing: another watch's cursor (WatchDefects' here) is no reset of this one.
  auto defects = mesh_->Defects("otto").ListDefects(defect::v1::ListDefectsRequest());
  ASSERT_TRUE(defects.ok()) << Describe(defects.status());
  Tail other_stream(otto, Follow({"CNC-07"}, {}, defects->watch_cursor()));
  ended = other_stream.AwaitEnd();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->code(), absl::StatusCode::kInvalidArgument) << Describe(*ended);
  EXPECT_EQ(sdk::ErrorReason(*ended), "CURSOR_OF_ANOTHER_STREAM");
  Tail no_machine(otto, Follow({}));
  ended = no_machine.AwaitEnd();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->code(), absl::StatusCode::kInvalidArgument) << Describe(*ended);
}

// 8 machines of 500 data items with 512-character values: a snapshot of ~2.2 MB, more
// than one message may hold (kCurrentValuesMessageBytes, 1 MiB in the contract).
TEST_F(TelemetryTailTest, LargeCurrentValuesComeInMessagesOfAtMostOneMebibyte) {
  constexpr int kMachines = 8;
  constexpr int kItems = 500;
  constexpr size_t kBound = size_t{1} << 20;
  sdk::TelemetryClient ops = Client(mesh_->OptionsFor("ops"));
  std::vector<std::string> machines;
  for (int m = 0; m < kMachines; ++m) {
    machines.push_back(absl::StrCat("BIG-", m));
    v1::RegisterMachineRequest request;
    request.mutable_machine()->set_id(machines.back());
    for (int i = 0; i < kItems; ++i) {
      v1::DataItem* d = request.mutable_machine()->add_data_items();
      d->set_id(absl::StrFormat("program%03d", i));
      d->set_category(v1::DATA_ITEM_CATEGORY_EVENT);
      d->set_type(v1::DATA_ITEM_TYPE_OTHER);
    }
    absl::StatusOr<v1::RegisterMachineResponse> registered = ops.RegisterMachine(request);
    ASSERT_TRUE(registered.ok()) << Describe(registered.status());
  }
  std::vector<std::string> expected;
  for (const std::string& machine : machines) {
    std::vector<v1::Sample> batch;
    for (int i = 0; i < kItems; ++i) {
      v1::Sample s = Num(machine, absl::StrFormat("program%03d", i), 0, now_ - absl::Seconds(5));
      s.set_text(std::string(500, 'x') + absl::StrFormat("%012d", i));
      batch.push_back(s);
      expected.push_back(Key(s));
    }
    Ingest(mesh_->OptionsFor("ivan"), batch);
  }

  Tail tail(mesh_->OptionsFor("otto"), Follow(machines));
  // The current values, up to the message flagged complete (a batch committed just
  // before the tail began may follow it as a change).
  std::vector<v1::StreamSamplesResponse> snapshot;
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        snapshot = tail.messages();
        auto complete = std::find_if(
            snapshot.begin(), snapshot.end(),
            [](const v1::StreamSamplesResponse& m) { return m.current_values_complete(); });
        if (complete == snapshot.end()) return false;
        snapshot.erase(complete + 1, snapshot.end());
        return true;
      },
      absl::Seconds(60), absl::Milliseconds(20)))
      << snapshot.size() << " messages";
  EXPECT_GE(snapshot.size(), 3u);
  std::vector<std::string> got;
  for (size_t i = 0; i < snapshot.size(); ++i) {
    const v1::StreamSamplesResponse& message = snapshot[i];
    const bool last = i + 1 == snapshot.size();
    EXPECT_LE(message.ByteSizeLong(), kBound) << "message " << i;
    if (!last) {
      EXPECT_GT(message.ByteSizeLong(), kBound / 2) << "message " << i << " is small";
    }
    EXPECT_TRUE(message.current_values()) << i;
    EXPECT_EQ(message.current_values_complete(), last) << i;
    EXPECT_EQ(message.cursor().empty(), !last) << i;
    for (const std::string& key : Keys(message)) got.push_back(key);
    if (last) break;
  }
  // Every value once, by machine then data item id, across the messages.
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "the current values differ from what was ingested";
}

// The complete JSON lines of a file (a line still being written is left out).
std::vector<nlohmann::json> JsonLines(const std::string& file) {
  std::vector<nlohmann::json> lines;
  std::string text = testing::internal::ReadFileOrEmpty(file);
  const size_t end = text.rfind('\n');
  if (end == std::string::npos) return lines;
  for (absl::string_view line : absl::StrSplit(text.substr(0, end), '\n')) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
    if (!parsed.is_discarded()) lines.push_back(std::move(parsed));
  }
  return lines;
}

TEST_F(TelemetryTailTest, PlantctlTailPrintsEachChangeOnceAndResumesAfterARestart) {
  const sdk::ClientOptions ivan = mesh_->OptionsFor("ivan");
  Ingest(ivan, {Num("CNC-07", "S1speed", 1200, now_ - absl::Seconds(50)),
                Num("CNC-07", "temp", 21.5, now_ - absl::Seconds(50)),
                Num("CNC-08", "temp", 30, now_ - absl::Seconds(50))});

  absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("plantctl-tail-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const testing::internal::RemoveTreeOnExit remove_dir(*dir);
  const std::string out = *dir + "/out";
  const std::string err = *dir + "/err";
  // stdout is a file, not a terminal: lines, JSON by plantctl's default there.
  absl::StatusOr<pid_t> pid =
      SpawnTail(*dir, {"CNC-07", "--data-item", "S1speed", "--data-item", "temp"});
  ASSERT_TRUE(pid.ok()) << pid.status();
  // "item=value (units)" of every line printed so far.
  auto printed = [&] {
    std::vector<std::string> keys;
    for (const nlohmann::json& line : JsonLines(out)) {
      EXPECT_EQ(line.value("machine_id", ""), "CNC-07") << line.dump();
      keys.push_back(absl::StrCat(line.value("data_item_id", ""), "=",
                                  line.contains("number") ? line["number"].dump() : "?", " (",
                                  line.value("units", ""), ")"));
    }
    return keys;
  };
  auto await_lines = [&](size_t count) {
    return AwaitWhileRunning(*pid, err, [&] { return printed().size() >= count; });
  };

  // The current values first, by data item id; CNC-08 is not followed.
  ASSERT_TRUE(await_lines(2)) << testing::internal::ReadFileOrEmpty(err);
  EXPECT_THAT(printed(), ::testing::ElementsAre("S1speed=1200 (rpm)", "temp=21.5 (CELSIUS)"));

  // Then each change once: a value equal to the one shown at the same time is no change.
  Ingest(ivan, {Num("CNC-07", "S1speed", 1300, now_ - absl::Seconds(40)),
                Execution("CNC-07", "READY", now_ - absl::Seconds(40)),
                Num("CNC-08", "S1speed", 5, now_ - absl::Seconds(40))});
  ASSERT_TRUE(await_lines(3)) << testing::internal::ReadFileOrEmpty(err);

  ASSERT_TRUE(mesh_->KillAndRestartServerOnSamePort().ok());
  Ingest(ivan, {Num("CNC-07", "temp", 22, now_ - absl::Seconds(30))});
  Ingest(ivan, {Num("CNC-07", "S1speed", 1400, now_ - absl::Seconds(20))});
  ASSERT_TRUE(await_lines(5)) << testing::internal::ReadFileOrEmpty(err);

  testing::internal::SignalGroup(*pid, SIGINT);
  absl::StatusOr<int> code = testing::internal::WaitForExit(*pid, absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "plantctl ignored SIGINT";
  EXPECT_EQ(*code, 0) << testing::internal::ReadFileOrEmpty(err);
  EXPECT_THAT(printed(), ::testing::ElementsAre("S1speed=1200 (rpm)", "temp=21.5 (CELSIUS)",
                                                "S1speed=1300 (rpm)", "temp=22 (CELSIUS)",
                                                "S1speed=1400 (rpm)"));
  EXPECT_THAT(testing::internal::ReadFileOrEmpty(err),
              ::testing::HasSubstr("resuming from cursor"));
}

// Outside testing: with Redis back empty (a new stream generation) the tail's cursor
// was refused FAILED_PRECONDITION and plantctl exited 19, where `list --watch` lists
// again and goes on. A tail's first message is the whole current state, so plantctl
// starts it again without a cursor, says so, and goes on.
TEST_F(TelemetryTailTest, PlantctlTailStartsAgainWhenRedisComesBackEmpty) {
  const sdk::ClientOptions ivan = mesh_->OptionsFor("ivan");
  // temp's sensor reports behind: what the tail may miss of it is after its own time.
  Ingest(ivan, {Num("CNC-07", "S1speed", 1200, now_ - absl::Seconds(50)),
                Num("CNC-07", "temp", 21.5, now_ - absl::Seconds(55))});
  absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("plantctl-tail-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const testing::internal::RemoveTreeOnExit remove_dir(*dir);
  const std::string out = *dir + "/out";
  const std::string err = *dir + "/err";
  absl::StatusOr<pid_t> pid = SpawnTail(*dir, {"CNC-07", "-o", "json"});
  ASSERT_TRUE(pid.ok()) << pid.status();
  auto numbers = [&] {
    std::vector<std::string> shown;
    for (const nlohmann::json& line : JsonLines(out)) {
      shown.push_back(absl::StrCat(line.value("data_item_id", ""), "=",
                                   line.contains("number") ? line["number"].dump() : "?"));
    }
    return shown;
  };
  auto await_shown = [&](const std::string& value) {
    return AwaitWhileRunning(*pid, err, [&] {
      const std::vector<std::string> shown = numbers();
      return std::find(shown.begin(), shown.end(), value) != shown.end();
    });
  };
  ASSERT_TRUE(await_shown("temp=21.5")) << testing::internal::ReadFileOrEmpty(err);

  testing::SharedRedis().Stop();
  ASSERT_TRUE(testing::SharedRedis().Restart().ok());  // empty: a new generation
  Ingest(ivan, {Num("CNC-07", "S1speed", 1500, now_ - absl::Seconds(40))});
  ASSERT_TRUE(await_shown("S1speed=1500")) << testing::internal::ReadFileOrEmpty(err);
  Ingest(ivan, {Num("CNC-07", "S1speed", 1600, now_ - absl::Seconds(30))});
  ASSERT_TRUE(await_shown("S1speed=1600")) << testing::internal::ReadFileOrEmpty(err);

  testing::internal::SignalGroup(*pid, SIGINT);
  absl::StatusOr<int> code = testing::internal::WaitForExit(*pid, absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "plantctl ignored SIGINT";
  EXPECT_EQ(*code, 0) << testing::internal::ReadFileOrEmpty(err);
  EXPECT_THAT(testing::internal::ReadFileOrEmpty(err),
              ::testing::HasSubstr("starting again from the current values"));
  // Re-test: a recorded tail's hole was not said; the note says where to read it.
  EXPECT_THAT(testing::internal::ReadFileOrEmpty(err),
              ::testing::HasSubstr(absl::StrCat(
                  "samples stored while the cursor was lost are not shown: `plantctl telemetry "
                  "query-samples` has them, after ",
                  google::protobuf::util::TimeUtil::ToString(
                      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
                          absl::ToUnixMicros(now_ - absl::Seconds(55)))))));
}

TEST_F(TelemetryTailTest, PlantctlTailOfAnUnknownMachineIsNotFound) {
  absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("plantctl-tail-");
  ASSERT_TRUE(dir.ok()) << dir.status();
  const testing::internal::RemoveTreeOnExit remove_dir(*dir);
  absl::StatusOr<pid_t> pid = SpawnTail(*dir, {"CNC-07", "NO-SUCH-CNC"});
  ASSERT_TRUE(pid.ok()) << pid.status();
  absl::StatusOr<int> code = testing::internal::WaitForExit(*pid, absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << "plantctl did not end";
  EXPECT_EQ(*code, 15);  // 10 + NOT_FOUND
  EXPECT_THAT(testing::internal::ReadFileOrEmpty(*dir + "/err"),
              ::testing::HasSubstr("NO-SUCH-CNC"));
}

TEST_F(TelemetryTailTest, QueryAggregatesIsServed) {
  const absl::Time minute = absl::FromUnixSeconds(absl::ToUnixSeconds(now_) / 60 * 60);
  const absl::Time at = minute - absl::Minutes(5);
  Ingest(mesh_->OptionsFor("ivan"), {Num("CNC-07", "temp", 20, at + absl::Seconds(1)),
                                     Num("CNC-07", "temp", 26, at + absl::Seconds(30)),
                                     Num("CNC-07", "temp", 23, at + absl::Seconds(59)),
                                     Num("CNC-07", "temp", 40, at + absl::Seconds(61))});
  v1::QueryAggregatesRequest request;
  request.set_machine_id("CNC-07");
  request.set_data_item_id("temp");
  SetTime(at - absl::Minutes(10), request.mutable_start_time());
  SetTime(at + absl::Minutes(3), request.mutable_end_time());
  request.set_bucket_width(v1::BUCKET_WIDTH_MINUTE);
  sdk::TelemetryClient otto = Client(mesh_->OptionsFor("otto"));
  absl::StatusOr<v1::QueryAggregatesResponse> response = otto.QueryAggregates(request);
  ASSERT_TRUE(response.ok()) << Describe(response.status());
  ASSERT_EQ(response->aggregates_size(), 2);
  const v1::Aggregate& a = response->aggregates(0);
  EXPECT_EQ(a.bucket_start().seconds(), absl::ToUnixSeconds(at));
  EXPECT_EQ(a.count(), 3);
  EXPECT_EQ(a.min(), 20);
  EXPECT_EQ(a.max(), 26);
  EXPECT_DOUBLE_EQ(a.avg(), 23);
  EXPECT_EQ(a.first(), 20);
  EXPECT_EQ(a.last(), 23);
  EXPECT_EQ(response->aggregates(1).count(), 1);
  request.set_bucket_width(v1::BUCKET_WIDTH_UNSPECIFIED);
  EXPECT_EQ(otto.QueryAggregates(request).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TelemetryTailTest, TailOnOneReplicaSeesSamplesIngestedOnTheOther) {
  testing::ServerProcess::Options b_options;
  b_options.postgres_url = mesh_->database_url();
  b_options.redis_port = testing::SharedRedis().port();
  b_options.pki = &mesh_->pki();
  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> b_or =
      testing::ServerProcess::Start(b_options);
  ASSERT_TRUE(b_or.ok()) << b_or.status();
  testing::ServerProcess& server_b = **b_or;
  sdk::ClientOptions ivan_on_b = mesh_->OptionsFor("ivan");
  ivan_on_b.endpoint = server_b.endpoint();

  Ingest(ivan_on_b, {Num("CNC-07", "S1speed", 1000, now_ - absl::Seconds(30)),
                     Num("CNC-07", "temp", 19, now_ - absl::Seconds(30))});
  Tail on_a(mesh_->OptionsFor("otto"), Follow({"CNC-07"}));
  ASSERT_TRUE(on_a.AwaitMessages(1));
  // Complete: what B committed before the tail began, read on A.
  EXPECT_TRUE(on_a.messages()[0].current_values());
  EXPECT_THAT(Keys(on_a.messages()[0]),
              ::testing::ElementsAre("CNC-07/S1speed=1000", "CNC-07/temp=19"));
  constexpr int kBatches = 20;
  for (int i = 0; i < kBatches; ++i) {
    Ingest(ivan_on_b,
           {Num("CNC-07", "S1speed", 1001 + i, now_ - absl::Seconds(20) + absl::Milliseconds(i))});
  }
  // Every batch B committed after the tail began, in commit order, once.
  std::vector<std::string> expected;
  for (int i = 0; i < kBatches; ++i) expected.push_back(absl::StrCat("CNC-07/S1speed=", 1001 + i));
  EXPECT_EQ(on_a.AwaitChangeKeys(kBatches), expected);
  EXPECT_EQ(server_b.Terminate(), 0) << server_b.log();
}

}  // namespace
}  // namespace plantmesh::e2e
