// Machine states end to end: plantmesh-server over mTLS on real PostgreSQL and Redis,
// driven through the SDK's generated TelemetryClient. A recorded sequence of
// AVAILABILITY, EXECUTION, EMERGENCY_STOP, CONDITION and PART_COUNT samples is ingested
// in four batches; the state timeline, the downtimes and the utilization equal what is
// written below by hand. A re-sent batch changes no interval; a downtime's reason is set
// once per request_id, checked, audited and refused to a role the contract does not name.
#include <cmath>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"
#include "tests/e2e/mesh.h"
#include "tests/support/poll.h"

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::telemetry::v1;

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// An interval as the test writes it: state, start and end in seconds after t0.
using Span = std::tuple<v1::MachineState, int64_t, int64_t, bool>;

class TelemetryStatesTest : public ::testing::Test {
 protected:
  // The settle job's first round is half an hour after the start (StateSettleJob), unless
  // a test asks otherwise; a change over an hour old when its batch arrives (the tests'
  // samples are two hours old) settles with its batch.
  void SetUp() override { StartMesh(3600); }

  void StartMesh(int settle_seconds, int reorder_seconds = 30) {
    mesh_.reset();
    MeshOptions options;
    options.server_args = {"--telemetry.state-settle-seconds", absl::StrCat(settle_seconds),
                           "--telemetry.state-reorder-seconds", absl::StrCat(reorder_seconds)};
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(std::move(options));
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = *std::move(mesh);
    // Two hours ago on a whole second, so every time below is in the past.
    t0_ = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - 7200);
  }

  sdk::TelemetryClient Client(const std::string& user) {
    absl::StatusOr<sdk::TelemetryClient> client =
        sdk::TelemetryClient::Connect(mesh_->OptionsFor(user));
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  void RegisterCnc(sdk::TelemetryClient& client) {
    v1::RegisterMachineRequest request;
    v1::Machine* m = request.mutable_machine();
    m->set_id("CNC-07");
    auto add = [&](const char* id, v1::DataItemCategory category, v1::DataItemType type) {
      v1::DataItem* item = m->add_data_items();
      item->set_id(id);
      item->set_category(category);
      item->set_type(type);
    };
    add("avail", v1::DATA_ITEM_CATEGORY_EVENT, v1::DATA_ITEM_TYPE_AVAILABILITY);
    add("Xact", v1::DATA_ITEM_CATEGORY_EVENT, v1::DATA_ITEM_TYPE_EXECUTION);
    add("estop", v1::DATA_ITEM_CATEGORY_EVENT, v1::DATA_ITEM_TYPE_EMERGENCY_STOP);
    add("servo", v1::DATA_ITEM_CATEGORY_CONDITION, v1::DATA_ITEM_TYPE_SYSTEM);
    add("parts", v1::DATA_ITEM_CATEGORY_EVENT, v1::DATA_ITEM_TYPE_PART_COUNT);
    absl::StatusOr<v1::RegisterMachineResponse> registered = client.RegisterMachine(request);
    ASSERT_TRUE(registered.ok()) << registered.status();
  }

  v1::Sample At(int64_t seconds, const std::string& item) {
    v1::Sample s;
    s.set_machine_id("CNC-07");
    s.set_data_item_id(item);
    SetTime(t0_ + absl::Seconds(seconds), s.mutable_time());
    return s;
  }
  v1::Sample Text(int64_t seconds, const std::string& item, const std::string& text) {
    v1::Sample s = At(seconds, item);
    s.set_text(text);
    return s;
  }
  v1::Sample Parts(int64_t seconds, double count) {
    v1::Sample s = At(seconds, "parts");
    s.set_number(count);
    return s;
  }
  v1::Sample Servo(int64_t seconds, v1::ConditionLevel level, const std::string& code) {
    v1::Sample s = At(seconds, "servo");
    s.mutable_condition()->set_level(level);
    s.mutable_condition()->set_native_code(code);
    return s;
  }

  // The recorded sequence, in seconds after t0, in four batches.
  std::vector<v1::IngestSamplesRequest> RecordedBatches() {
    std::vector<std::vector<v1::Sample>> batches = {
        {Text(0, "avail", "AVAILABLE"), Text(0, "Xact", "READY"), Parts(0, 100),
         Text(60, "Xact", "ACTIVE"), Parts(120, 101), Parts(180, 102)},
        {Text(240, "Xact", "FEED_HOLD"), Text(300, "Xact", "ACTIVE"), Parts(360, 103),
         Text(420, "Xact", "STOPPED")},
        {Servo(450, v1::CONDITION_LEVEL_FAULT, "SV0401"), Text(480, "estop", "TRIGGERED"),
         Servo(540, v1::CONDITION_LEVEL_NORMAL, ""), Text(600, "estop", "ARMED"),
         Text(660, "Xact", "ACTIVE")},
        {Text(720, "avail", "UNAVAILABLE"), Text(780, "avail", "AVAILABLE"),
         Text(780, "Xact", "READY"), Parts(800, 0), Text(840, "Xact", "ACTIVE"), Parts(840, 2)},
    };
    std::vector<v1::IngestSamplesRequest> out;
    for (size_t i = 0; i < batches.size(); ++i) {
      v1::IngestSamplesRequest request;
      request.set_writer_id("mtconnect-cnc07");
      request.set_batch_sequence(i + 1);
      for (v1::Sample& s : batches[i]) *request.add_samples() = std::move(s);
      out.push_back(std::move(request));
    }
    return out;
  }

  // Sends the batches on one stream; returns the answers.
  std::vector<v1::IngestSamplesResponse> Send(
      const std::vector<v1::IngestSamplesRequest>& batches) {
    auto stream = Client("ivan").IngestSamples();
    std::vector<v1::IngestSamplesResponse> answers;
    for (const v1::IngestSamplesRequest& b : batches) {
      EXPECT_TRUE(stream->Write(b));
      v1::IngestSamplesResponse answer;
      EXPECT_TRUE(stream->Next(&answer));
      answers.push_back(answer);
    }
    EXPECT_TRUE(stream->WritesDone());
    v1::IngestSamplesResponse extra;
    EXPECT_FALSE(stream->Next(&extra));
    const auto finished = stream->Finish();
    EXPECT_TRUE(finished.ok());
    return answers;
  }

  // CNC-07's downtimes once one is listed (`ended`: and has ended), by the server's
  // settling; DEADLINE_EXCEEDED after `timeout`, with what was listed last.
  absl::StatusOr<v1::ListDowntimesResponse> PollDowntimes(sdk::TelemetryClient& client, bool ended,
                                                          absl::Duration timeout) {
    v1::ListDowntimesRequest list;
    list.set_machine_id("CNC-07");
    absl::StatusOr<v1::ListDowntimesResponse> downtimes;
    const bool listed = plantmesh::testing::PollUntil(
        [&] {
          downtimes = client.ListDowntimes(list);
          return downtimes.ok() && downtimes->downtimes_size() > 0 &&
                 (!ended || downtimes->downtimes(0).has_end_time());
        },
        timeout);
    if (listed || !downtimes.ok()) return downtimes;
    return absl::DeadlineExceededError(absl::StrCat("not listed: ", downtimes->DebugString()));
  }

  // Every page of the timeline in [start, end) seconds after t0, as spans.
  std::vector<Span> Timeline(int64_t start, int64_t end, int page_size, int* pages = nullptr) {
    sdk::TelemetryClient otto = Client("otto");
    v1::ListStateIntervalsRequest request;
    request.set_machine_id("CNC-07");
    SetTime(t0_ + absl::Seconds(start), request.mutable_start_time());
    SetTime(t0_ + absl::Seconds(end), request.mutable_end_time());
    request.set_page_size(page_size);
    std::vector<Span> spans;
    int count = 0;
    do {
      absl::StatusOr<v1::ListStateIntervalsResponse> page = otto.ListStateIntervals(request);
      EXPECT_TRUE(page.ok()) << page.status();
      if (!page.ok()) break;
      ++count;
      EXPECT_LE(page->intervals_size(), page_size);
      for (const v1::StateInterval& i : page->intervals()) {
        EXPECT_EQ(i.machine_id(), "CNC-07");
        spans.emplace_back(i.state(), absl::ToInt64Seconds(TimeOf(i.start_time()) - t0_),
                           absl::ToInt64Seconds(TimeOf(i.end_time()) - t0_), i.current());
      }
      request.set_page_token(page->next_page_token());
    } while (!request.page_token().empty() && count < 20);
    if (pages != nullptr) *pages = count;
    return spans;
  }

  std::unique_ptr<Mesh> mesh_;
  absl::Time t0_;
};

constexpr auto kRunning = v1::MACHINE_STATE_RUNNING;
constexpr auto kIdle = v1::MACHINE_STATE_IDLE;
constexpr auto kStopped = v1::MACHINE_STATE_STOPPED;
constexpr auto kDown = v1::MACHINE_STATE_DOWN;
constexpr auto kUnavailable = v1::MACHINE_STATE_UNAVAILABLE;

TEST_F(TelemetryStatesTest, RecordedSequenceGivesTheHandWrittenTimelineDowntimesAndUtilization) {
  sdk::TelemetryClient ops = Client("ops");
  RegisterCnc(ops);
  const std::vector<v1::IngestSamplesRequest> batches = RecordedBatches();
  for (const v1::IngestSamplesResponse& answer : Send(batches)) {
    EXPECT_EQ(answer.rejected_count(), 0);
    EXPECT_EQ(answer.duplicate_count(), 0);
  }

  // By hand: READY; ACTIVE; FEED_HOLD (a stop); ACTIVE; STOPPED, escalated to DOWN by the
  // servo fault, still DOWN by the e-stop after the fault cleared, STOPPED once the
  // e-stop is armed, until ACTIVE; AVAILABILITY off and on with READY; ACTIVE since 840.
  // The range [30, 1000) is over (t0 is two hours ago): clipped at both ends, the current
  // state ends at the range's end.
  const std::vector<Span> expected = {
      {kIdle, 30, 60, false},      {kRunning, 60, 240, false},  {kStopped, 240, 300, false},
      {kRunning, 300, 420, false}, {kStopped, 420, 450, false}, {kDown, 450, 600, false},
      {kStopped, 600, 660, false}, {kRunning, 660, 720, false}, {kUnavailable, 720, 780, false},
      {kIdle, 780, 840, false},    {kRunning, 840, 1000, true},
  };
  int pages = 0;
  EXPECT_EQ(Timeline(30, 1000, 4, &pages), expected);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(Timeline(30, 1000, 1000), expected);
  // Up to now: the current state lasts until the call.
  const absl::Time before = absl::Now();
  std::vector<Span> to_now = Timeline(-60, 7200 + 3600, 100);
  const absl::Time after = absl::Now();
  ASSERT_EQ(to_now.size(), expected.size());
  EXPECT_EQ(std::get<1>(to_now.front()), 0);  // nothing before the first sample
  EXPECT_TRUE(std::get<3>(to_now.back()));
  EXPECT_GE(std::get<2>(to_now.back()), absl::ToInt64Seconds(before - t0_) - 1);
  EXPECT_LE(std::get<2>(to_now.back()), absl::ToInt64Seconds(after - t0_) + 1);

  // Downtimes, newest first: the stop at 420 (DOWN at its worst) and the feed hold at 240.
  sdk::TelemetryClient otto = Client("otto");
  v1::ListDowntimesRequest list;
  list.set_machine_id("CNC-07");
  absl::StatusOr<v1::ListDowntimesResponse> downtimes = otto.ListDowntimes(list);
  ASSERT_TRUE(downtimes.ok()) << downtimes.status();
  ASSERT_EQ(downtimes->downtimes_size(), 2);
  const v1::Downtime& last = downtimes->downtimes(0);
  EXPECT_EQ(last.state(), kDown);
  EXPECT_EQ(TimeOf(last.start_time()), t0_ + absl::Seconds(420));
  EXPECT_EQ(TimeOf(last.end_time()), t0_ + absl::Seconds(660));
  const v1::Downtime& first = downtimes->downtimes(1);
  EXPECT_EQ(first.state(), kStopped);
  EXPECT_EQ(TimeOf(first.start_time()), t0_ + absl::Seconds(240));
  EXPECT_EQ(TimeOf(first.end_time()), t0_ + absl::Seconds(300));

  // Utilization of [-60, 900): by hand from the timeline above; the minute before the
  // first sample is UNAVAILABLE. Parts: 100 -> 103 (+3), reset to 0, then 2 (+2).
  v1::GetUtilizationRequest utilization;
  utilization.set_machine_id("CNC-07");
  SetTime(t0_ - absl::Seconds(60), utilization.mutable_start_time());
  SetTime(t0_ + absl::Seconds(900), utilization.mutable_end_time());
  absl::StatusOr<v1::GetUtilizationResponse> used = otto.GetUtilization(utilization);
  ASSERT_TRUE(used.ok()) << used.status();
  std::vector<std::pair<v1::MachineState, double>> seconds;
  for (const v1::StateDuration& d : used->state_durations()) {
    seconds.emplace_back(d.state(), d.seconds());
  }
  EXPECT_THAT(seconds, ::testing::ElementsAre(
                           std::pair(kRunning, 180.0 + 120 + 60 + 60), std::pair(kIdle, 60.0 + 60),
                           std::pair(kStopped, 60.0 + 30 + 60), std::pair(kDown, 150.0),
                           std::pair(kUnavailable, 60.0 + 60)));
  EXPECT_EQ(used->part_count(), 5);
  // From 150: the baseline is 101 (at 120), so 102, 103 and the 2 after the reset.
  SetTime(t0_ + absl::Seconds(150), utilization.mutable_start_time());
  used = otto.GetUtilization(utilization);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(used->part_count(), 4);
  // A range across now (the machine's current state runs until now, then UNAVAILABLE):
  // the states sum to the range to the microsecond (outside testing: 1 µs short, the
  // server's clock had nanoseconds that each state's microseconds dropped).
  const absl::Time now = absl::Now();
  SetTime(now - absl::Seconds(200), utilization.mutable_start_time());
  SetTime(now + absl::Seconds(200), utilization.mutable_end_time());
  used = otto.GetUtilization(utilization);
  ASSERT_TRUE(used.ok()) << used.status();
  int64_t micros = 0;
  for (const v1::StateDuration& d : used->state_durations())
    micros += std::llround(d.seconds() * 1e6);
  EXPECT_EQ(micros, 400'000'000);
  SetTime(t0_ + absl::Seconds(900), utilization.mutable_end_time());
  // At most 366 days.
  SetTime(t0_ - absl::Hours(24 * 367), utilization.mutable_start_time());
  EXPECT_EQ(otto.GetUtilization(utilization).status().code(), absl::StatusCode::kInvalidArgument);

  // The second batch re-sent on a new stream (a reconnect): a duplicate; not one interval
  // or downtime changes.
  std::vector<v1::IngestSamplesResponse> again = Send({batches[1]});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].duplicate_count(), batches[1].samples_size());
  EXPECT_EQ(Timeline(30, 1000, 1000), expected);
  absl::StatusOr<v1::ListDowntimesResponse> unchanged = otto.ListDowntimes(list);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->SerializeAsString(), downtimes->SerializeAsString());
}

// Outside testing: a stop followed by silence (an adapter that reports EXECUTION only
// when it changes) showed as the current state, but as no downtime to list or give a
// reason to until the machine's next sample. The server settles it by its clock.
TEST_F(TelemetryStatesTest, AStopFollowedBySilenceIsADowntimeWithinTheSettleTime) {
  StartMesh(1);
  sdk::TelemetryClient ops = Client("ops");
  RegisterCnc(ops);
  v1::IngestSamplesRequest batch;
  batch.set_writer_id("dt5");
  batch.set_batch_sequence(1);
  *batch.add_samples() = Text(0, "avail", "AVAILABLE");
  *batch.add_samples() = Text(0, "Xact", "ACTIVE");
  *batch.add_samples() = Text(300, "Xact", "STOPPED");
  Send({batch});
  sdk::TelemetryClient otto = Client("otto");
  absl::StatusOr<v1::ListDowntimesResponse> downtimes =
      PollDowntimes(otto, /*ended=*/false, absl::Seconds(30));
  ASSERT_TRUE(downtimes.ok()) << downtimes.status();
  ASSERT_EQ(downtimes->downtimes_size(), 1);
  const v1::Downtime& stop = downtimes->downtimes(0);
  EXPECT_EQ(stop.state(), kStopped);
  EXPECT_EQ(TimeOf(stop.start_time()), t0_ + absl::Seconds(300));
  EXPECT_FALSE(stop.has_end_time());
  v1::SetDowntimeReasonRequest set;
  set.set_id(stop.id());
  set.set_reason_code("NO-MATERIAL");
  absl::StatusOr<v1::SetDowntimeReasonResponse> reason = otto.SetDowntimeReason(set);
  ASSERT_TRUE(reason.ok()) << reason.status();
  EXPECT_FALSE(reason->downtime().has_end_time());
}

// Outside testing (AP F1): a CNC's adapter and an I/O module's sent one machine's state
// inputs; the module's buffered fault arrived after the CNC's newer samples and was
// applied at its arrival, the stop lost. Live, within the reorder window, it is placed
// at its own time: shown at once, then listed as a downtime once the clock passes it.
TEST_F(TelemetryStatesTest, AFaultArrivingAfterAnotherSourcesNewerSamplesIsPlacedAtItsTime) {
  StartMesh(1, 15);
  sdk::TelemetryClient ops = Client("ops");
  RegisterCnc(ops);
  t0_ = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));  // samples up to now
  v1::IngestSamplesRequest cnc;
  cnc.set_writer_id("mtconnect-cnc07");
  cnc.set_batch_sequence(1);
  *cnc.add_samples() = Text(-4, "avail", "AVAILABLE");
  *cnc.add_samples() = Text(-4, "Xact", "ACTIVE");
  *cnc.add_samples() = Parts(0, 100);
  v1::IngestSamplesRequest io;
  io.set_writer_id("modbus-io07");
  io.set_batch_sequence(1);
  *io.add_samples() = Servo(-3, v1::CONDITION_LEVEL_FAULT, "SV0401");
  *io.add_samples() = Servo(-2, v1::CONDITION_LEVEL_NORMAL, "");
  ASSERT_EQ(Send({cnc}).front().late_state_count(), 0);
  ASSERT_EQ(Send({io}).front().late_state_count(), 0);
  // Shown at once (the current state ends at now: not compared).
  const std::vector<Span> spans = Timeline(-10, 3600, 100);
  ASSERT_GE(spans.size(), 3u);
  EXPECT_EQ(spans[0], Span(kRunning, -4, -3, false));
  EXPECT_EQ(spans[1], Span(kDown, -3, -2, false));
  EXPECT_EQ(std::get<0>(spans[2]), kRunning);
  EXPECT_EQ(std::get<1>(spans[2]), -2);
  // Listed once the clock has passed its start by the window (15 s), ended once it has
  // passed its end, by the settle round.
  sdk::TelemetryClient otto = Client("otto");
  absl::StatusOr<v1::ListDowntimesResponse> downtimes =
      PollDowntimes(otto, /*ended=*/true, absl::Seconds(90));
  ASSERT_TRUE(downtimes.ok()) << downtimes.status();
  ASSERT_EQ(downtimes->downtimes_size(), 1);
  EXPECT_EQ(downtimes->downtimes(0).state(), kDown);
  EXPECT_EQ(TimeOf(downtimes->downtimes(0).start_time()), t0_ - absl::Seconds(3));
  EXPECT_EQ(TimeOf(downtimes->downtimes(0).end_time()), t0_ - absl::Seconds(2));
}

TEST_F(TelemetryStatesTest, DowntimeReasonIsIdempotentCheckedAuditedAndAuthorized) {
  sdk::TelemetryClient ops = Client("ops");
  RegisterCnc(ops);
  std::vector<v1::IngestSamplesRequest> batches = RecordedBatches();
  // Ends with STOPPED at 420, two hours ago: settled with its batch, as a backfill is
  // (outside testing: it waited for the settle round, up to 15 s).
  batches.resize(2);
  Send(batches);
  sdk::TelemetryClient otto = Client("otto");
  v1::ListDowntimesRequest list;
  absl::StatusOr<v1::ListDowntimesResponse> downtimes = otto.ListDowntimes(list);
  ASSERT_TRUE(downtimes.ok()) << downtimes.status();
  ASSERT_EQ(downtimes->downtimes_size(), 2);  // newest first: the stop at 420, the feed hold
  EXPECT_EQ(TimeOf(downtimes->downtimes(0).start_time()), t0_ + absl::Seconds(420));
  EXPECT_EQ(TimeOf(downtimes->downtimes(1).end_time()), t0_ + absl::Seconds(300));
  const std::string id = downtimes->downtimes(1).id();

  v1::SetDowntimeReasonRequest set;
  set.set_id(id);
  set.set_reason_code("NO-MATERIAL");
  set.set_comment("bar feeder empty\nrefilled at 10:05");
  set.set_request_id("6c0e2f8e-8e1e-4c55-9d4c-0d6c1f1d2a01");
  absl::StatusOr<v1::SetDowntimeReasonResponse> first = otto.SetDowntimeReason(set);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->downtime().reason_code(), "NO-MATERIAL");
  EXPECT_THAT(first->downtime().reason_set_by(), ::testing::HasSubstr("/user/otto"));
  EXPECT_TRUE(first->downtime().has_reason_set_time());
  // The retry gets the first answer (same time), and changes nothing.
  absl::StatusOr<v1::SetDowntimeReasonResponse> retry = otto.SetDowntimeReason(set);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->SerializeAsString(), first->SerializeAsString());
  // The same request_id with another reason is refused.
  v1::SetDowntimeReasonRequest other = set;
  other.set_reason_code("TOOL-BREAK");
  EXPECT_EQ(otto.SetDowntimeReason(other).status().code(), absl::StatusCode::kAlreadyExists);

  list.set_without_reason(true);
  absl::StatusOr<v1::ListDowntimesResponse> open = otto.ListDowntimes(list);
  ASSERT_TRUE(open.ok());
  ASSERT_EQ(open->downtimes_size(), 1);
  EXPECT_EQ(open->downtimes(0).id(), downtimes->downtimes(0).id());

  // Checked: each wrong field named; an unknown downtime is NOT_FOUND.
  auto fields_of = [&](const v1::SetDowntimeReasonRequest& request) {
    absl::Status refused = otto.SetDowntimeReason(request).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
    std::vector<std::string> fields;
    for (const auto& v : sdk::FieldViolations(refused)) fields.push_back(v.field);
    return fields;
  };
  v1::SetDowntimeReasonRequest bad;
  EXPECT_THAT(fields_of(bad), ::testing::UnorderedElementsAre("id", "reason_code"));
  bad.set_reason_code("TOOL-BREAK");
  for (const char* id : {"abc", "0", "-1", "1e3", "99999999999999999999"}) {
    bad.set_id(id);
    EXPECT_THAT(fields_of(bad), ::testing::ElementsAre("id")) << id;
  }
  bad.set_id("424242");
  EXPECT_EQ(otto.SetDowntimeReason(bad).status().code(), absl::StatusCode::kNotFound);
  bad.set_reason_code("not a code");
  EXPECT_EQ(otto.SetDowntimeReason(bad).status().code(), absl::StatusCode::kInvalidArgument);

  // Only the roles of the contract: an integrator may not explain a stop.
  EXPECT_EQ(Client("ivan").SetDowntimeReason(set).status().code(),
            absl::StatusCode::kPermissionDenied);

  // The change's audit row was written with it (before the answer).
  pqxx::connection conn(mesh_->database_url());
  pqxx::nontransaction tx(conn);
  EXPECT_GE(tx.exec("SELECT count(*) FROM audit.audit_log WHERE method LIKE "
                    "'%TelemetryService%SetDowntimeReason' AND identity LIKE '%/user/otto' "
                    "AND status_code = 0")[0][0]
                .as<int>(),
            1);
}

}  // namespace
}  // namespace plantmesh::e2e
