#include "server/telemetry/batch_sequences.h"

#include "gtest/gtest.h"
#include "server/runtime/errors.h"

namespace plantmesh::telemetry {
namespace {

Sample Text(std::string machine, std::string item, std::string text) {
  Sample s;
  s.machine_id = std::move(machine);
  s.data_item_id = std::move(item);
  s.time = absl::FromUnixSeconds(1764547200);
  s.kind = ValueKind::kText;
  s.text = std::move(text);
  return s;
}

TEST(BatchFingerprintTest, EqualExactlyWhenTheSamplesAre) {
  const std::vector<Sample> batch = {Text("CNC-07", "Xact", "ACTIVE")};
  EXPECT_EQ(BatchFingerprint(batch), BatchFingerprint(batch));
  EXPECT_EQ(BatchFingerprint(batch).size(), 64u);
  // Fields are delimited: the same characters split differently differ.
  EXPECT_NE(BatchFingerprint({Text("CNC-07", "ab", "c")}),
            BatchFingerprint({Text("CNC-07", "a", "bc")}));
  std::vector<Sample> later = batch;
  later[0].time = *later[0].time + absl::Microseconds(1);
  EXPECT_NE(BatchFingerprint(batch), BatchFingerprint(later));
  Sample zero, negative_zero;
  zero.kind = negative_zero.kind = ValueKind::kNumber;
  negative_zero.number = -0.0;  // equal as doubles, other bits: other samples
  EXPECT_NE(BatchFingerprint({zero}), BatchFingerprint({negative_zero}));
  EXPECT_NE(BatchFingerprint(batch), BatchFingerprint({batch[0], batch[0]}));
}

TEST(JudgeSequenceTest, NewDuplicateReusedAndOutOfOrder) {
  WriterRecord record;
  record.last_sequence = 7;
  record.fingerprints[7] = "f7";
  EXPECT_EQ(JudgeSequence(record, "w", 7, "f7").value_or(false), true);
  absl::StatusOr<bool> reused = JudgeSequence(record, "w", 7, "other");
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(runtime::ErrorInfoOf(reused.status()).reason, "BATCH_SEQUENCE_REUSED");
  absl::StatusOr<bool> behind = JudgeSequence(record, "w", 3, "f3");
  EXPECT_EQ(behind.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runtime::ErrorInfoOf(behind.status()).metadata.at("last_batch_sequence"), "7");
  // A new batch joins the record: the next one of the same transaction sees it.
  EXPECT_EQ(JudgeSequence(record, "w", 9, "f9").value_or(true), false);
  EXPECT_EQ(record.last_sequence, 9u);
  EXPECT_EQ(JudgeSequence(record, "w", 9, "f9").value_or(false), true);
  EXPECT_EQ(JudgeSequence(record, "w", 8, "f8").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace plantmesh::telemetry
