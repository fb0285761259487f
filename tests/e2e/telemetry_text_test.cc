// Issue 8: a sample whose text breaks the input rules is rejected alone
// (REJECT_REASON_INVALID_TEXT with its index and a message naming the field) and the
// valid rest of its batch is stored, through the real server: the runtime's request
// rules stop at IngestSamplesRequest.samples (elements_judged_by_service) and the
// service judges each sample. A string that is not UTF-8 is the exception: protobuf
// cannot parse the batch, so the stream ends with INVALID_ARGUMENT naming the field and
// nothing of that batch is stored.
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/sdk/status.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::telemetry::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1000000);
  out->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

v1::Sample Text(const std::string& item, const std::string& value, absl::Time t) {
  v1::Sample s;
  s.set_machine_id("CNC-07");
  s.set_data_item_id(item);
  SetTime(t, s.mutable_time());
  s.set_text(value);
  return s;
}

TEST(TelemetryTextTest, BadTextIsRejectedPerSampleAndTheRestStored) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  absl::StatusOr<sdk::TelemetryClient> ops = sdk::TelemetryClient::Connect(mesh.OptionsFor("ops"));
  ASSERT_TRUE(ops.ok());
  v1::RegisterMachineRequest machine;
  machine.mutable_machine()->set_id("CNC-07");
  v1::DataItem* program = machine.mutable_machine()->add_data_items();
  program->set_id("program");
  program->set_category(v1::DATA_ITEM_CATEGORY_EVENT);
  program->set_type(v1::DATA_ITEM_TYPE_PROGRAM);
  v1::DataItem* servo = machine.mutable_machine()->add_data_items();
  servo->set_id("servo");
  servo->set_category(v1::DATA_ITEM_CATEGORY_CONDITION);
  servo->set_type(v1::DATA_ITEM_TYPE_SYSTEM);
  ASSERT_TRUE(ops->RegisterMachine(machine).ok());

  const absl::Time t = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  v1::IngestSamplesRequest batch;
  batch.set_writer_id("mtconnect-cnc07");
  batch.set_batch_sequence(1);
  *batch.add_samples() = Text("program", "O1000", t);  // 0 ok
  *batch.add_samples() = Text("program",
                              "O10\x07"
                              "01",
                              t);                                    // 1 control character
  *batch.add_samples() = Text("program", std::string(513, 'P'), t);  // 2 over 512 characters
  *batch.add_samples() = Text("program", std::string(512, 'P'), t);  // 3 ok, at the limit
  v1::Sample lower = Text("program", "O2000", t);                    // 4 not a plant code
  lower.set_machine_id("cnc-07");
  *batch.add_samples() = lower;
  v1::Sample alarm = Text("servo", "", t);                          // 5 line break in a
  alarm.mutable_condition()->set_level(v1::CONDITION_LEVEL_FAULT);  //   condition message
  alarm.mutable_condition()->set_message("SERVO ALARM\nV-READY OFF");
  *batch.add_samples() = alarm;
  v1::Sample nul = Text("program", std::string("O3\0", 3), t);  // 6 NUL
  *batch.add_samples() = nul;

  absl::StatusOr<sdk::TelemetryClient> adapter =
      sdk::TelemetryClient::Connect(mesh.OptionsFor("ivan"));
  ASSERT_TRUE(adapter.ok());
  auto stream = adapter->IngestSamples();
  ASSERT_TRUE(stream->Write(batch));
  v1::IngestSamplesResponse answer;
  ASSERT_TRUE(stream->Next(&answer)) << Describe(stream->Finish());
  EXPECT_EQ(answer.accepted_count(), 2);
  EXPECT_EQ(answer.rejected_count(), 5);
  std::vector<std::pair<int, v1::RejectReason>> rejects;
  std::vector<std::string> messages;
  for (const v1::RejectedSample& r : answer.rejected_samples()) {
    rejects.emplace_back(r.index(), r.reason());
    messages.push_back(r.message());
  }
  EXPECT_THAT(
      rejects,
      ElementsAre(Pair(1, v1::REJECT_REASON_INVALID_TEXT), Pair(2, v1::REJECT_REASON_INVALID_TEXT),
                  Pair(4, v1::REJECT_REASON_INVALID_TEXT), Pair(5, v1::REJECT_REASON_INVALID_TEXT),
                  Pair(6, v1::REJECT_REASON_INVALID_TEXT)));
  ASSERT_EQ(messages.size(), 5u);
  EXPECT_THAT(messages[0], HasSubstr("samples[1].text: "));
  EXPECT_THAT(messages[1], HasSubstr("samples[2].text: "));
  EXPECT_THAT(messages[1], HasSubstr("512"));
  EXPECT_THAT(messages[2], HasSubstr("samples[4].machine_id: "));
  EXPECT_THAT(messages[3], HasSubstr("samples[5].condition.message: "));
  EXPECT_THAT(messages[4], HasSubstr("samples[6].text: "));

  // Not UTF-8 (Latin-1; protobuf's C++ serializer only logs it and sends it): the whole
  // batch is refused, naming the sample's field, and nothing of it is stored.
  v1::IngestSamplesRequest latin1;
  latin1.set_writer_id("mtconnect-cnc07");
  latin1.set_batch_sequence(2);
  *latin1.add_samples() = Text("program", "O4000", t);
  *latin1.add_samples() = Text("program",
                               "T\xFC"
                               "r",
                               t);
  ASSERT_TRUE(stream->Write(latin1));
  EXPECT_FALSE(stream->Next(&answer));
  const absl::Status refused = stream->Finish();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << Describe(refused);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("samples[1].text"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("not valid UTF-8"));

  pqxx::connection conn(mesh.database_url());
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM telemetry.samples")[0].as<int>(), 2);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM telemetry.samples WHERE text = 'O1000' OR "
                     "length(text) = 512")[0]
                .as<int>(),
            2);
}

// Sample.written is read by the data item's category when the batch is stored (outside
// testing: plantctl guessed kinds, and a PROGRAM `0012` was stored as 12; then an empty
// written value of a CONDITION item crashed the server, and every re-send the restarted
// one). What does not read so is rejected alone, naming `written`.
TEST(TelemetryTextTest, WrittenValuesAreReadByTheItemsCategory) {
  absl::StatusOr<std::unique_ptr<Mesh>> mesh_or = Mesh::Start();
  ASSERT_TRUE(mesh_or.ok()) << mesh_or.status();
  Mesh& mesh = **mesh_or;
  absl::StatusOr<sdk::TelemetryClient> ops = sdk::TelemetryClient::Connect(mesh.OptionsFor("ops"));
  ASSERT_TRUE(ops.ok());
  v1::RegisterMachineRequest machine;
  machine.mutable_machine()->set_id("CNC-07");
  for (const auto& [id, category, type] :
       {std::tuple{"program", v1::DATA_ITEM_CATEGORY_EVENT, v1::DATA_ITEM_TYPE_PROGRAM},
        std::tuple{"servo", v1::DATA_ITEM_CATEGORY_CONDITION, v1::DATA_ITEM_TYPE_SYSTEM},
        std::tuple{"temp", v1::DATA_ITEM_CATEGORY_SAMPLE, v1::DATA_ITEM_TYPE_TEMPERATURE}}) {
    v1::DataItem* item = machine.mutable_machine()->add_data_items();
    item->set_id(id);
    item->set_category(category);
    item->set_type(type);
  }
  ASSERT_TRUE(ops->RegisterMachine(machine).ok());

  const absl::Time t = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  auto written = [&](const std::string& item, const std::string& value, int second) {
    v1::Sample s = Text(item, "", t - absl::Seconds(10 - second));
    s.set_written(value);
    return s;
  };
  v1::IngestSamplesRequest batch;
  batch.set_writer_id("adapter-cnc07");
  batch.set_batch_sequence(1);
  *batch.add_samples() = written("program", "0012", 0);              // 0 text as written
  *batch.add_samples() = written("servo", "", 1);                    // 1 not a condition
  *batch.add_samples() = written("servo", "   ", 2);                 // 2 not a condition
  *batch.add_samples() = written("temp", " 12.50 ", 3);              // 3 the number 12.5
  *batch.add_samples() = written("servo", "fault:SV0401:ALARM", 4);  // 4 a condition
  absl::StatusOr<sdk::TelemetryClient> adapter =
      sdk::TelemetryClient::Connect(mesh.OptionsFor("ivan"));
  ASSERT_TRUE(adapter.ok());
  auto stream = adapter->IngestSamples();
  ASSERT_TRUE(stream->Write(batch));
  v1::IngestSamplesResponse answer;
  ASSERT_TRUE(stream->Next(&answer)) << Describe(stream->Finish());
  EXPECT_EQ(answer.accepted_count(), 3);
  ASSERT_EQ(answer.rejected_samples_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(answer.rejected_samples(i).index(), i + 1);
    EXPECT_EQ(answer.rejected_samples(i).reason(), v1::REJECT_REASON_WRONG_VALUE_KIND);
    EXPECT_THAT(answer.rejected_samples(i).message(),
                HasSubstr(absl::StrCat("samples[", i + 1, "].written: ")));
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  // Stored as what it was read as, never as written; the server still answers.
  v1::QuerySamplesRequest query;
  query.set_machine_id("CNC-07");
  SetTime(t - absl::Minutes(1), query.mutable_start_time());
  SetTime(t + absl::Minutes(1), query.mutable_end_time());
  absl::StatusOr<v1::QuerySamplesResponse> stored = ops->QuerySamples(query);
  ASSERT_TRUE(stored.ok()) << Describe(stored.status());
  std::vector<std::string> values;
  for (const v1::Sample& sample : stored->samples()) {
    if (sample.has_text()) values.push_back(sample.data_item_id() + " text " + sample.text());
    if (sample.has_number()) {
      values.push_back(absl::StrCat(sample.data_item_id(), " number ", sample.number()));
    }
    if (sample.has_condition()) {
      values.push_back(sample.data_item_id() + " condition " + sample.condition().native_code());
    }
    EXPECT_FALSE(sample.has_written());
  }
  EXPECT_THAT(values, ::testing::UnorderedElementsAre("program text 0012", "temp number 12.5",
                                                      "servo condition SV0401"));
}

}  // namespace
}  // namespace plantmesh::e2e
