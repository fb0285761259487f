#include "bench/tail_ledger.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace plantmesh::bench {
namespace {

constexpr int64_t kMs = 1000000;

int MachineOf(int64_t n) { return static_cast<int>(n % 4); }

TEST(TailMachinesTest, CellsOfConsecutiveMachinesCoverThePlant) {
  EXPECT_EQ(TailMachines(0, 200, 4), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(TailMachines(49, 200, 4), (std::vector<int>{196, 197, 198, 199}));
  EXPECT_EQ(TailMachines(50, 200, 4), (std::vector<int>{0, 1, 2, 3}));  // the next round
  EXPECT_EQ(TailMachines(2, 10, 4), (std::vector<int>{8, 9}));          // a shorter last cell
  // 200 tails on 200 machines, 4 each: every machine on exactly 4 screens.
  std::vector<int> screens(200, 0);
  for (int t = 0; t < 200; ++t) {
    for (int m : TailMachines(t, 200, 4)) ++screens[static_cast<size_t>(m)];
  }
  for (int m = 0; m < 200; ++m) EXPECT_EQ(screens[static_cast<size_t>(m)], 4) << m;
}

TEST(AckLogTest, FillsTheAcknowledgedBatchesOnly) {
  AckLog log;
  log.Written(7, {0, 2, 4}, 10);
  log.Written(8, {6, 8}, 20);
  log.Written(7, {0, 2, 4}, 30);  // re-sent after a broken stream: same samples
  log.Acknowledged(7, 100);
  log.Acknowledged(9, 300);  // never written: ignored
  std::vector<int64_t> ack_at;
  log.Fill(&ack_at);
  EXPECT_EQ(ack_at, (std::vector<int64_t>{100, -1, 100, -1, 100}));
  log.Acknowledged(8, 200);
  log.Fill(&ack_at);
  EXPECT_EQ(ack_at, (std::vector<int64_t>{100, -1, 100, -1, 100, -1, 200, -1, 200}));
  // From the last write to the answer: 70 (after the re-send) and 180.
  EXPECT_EQ(log.round_trips().count(), 2);
  EXPECT_EQ(log.round_trips().min(), 70);
  EXPECT_EQ(log.round_trips().max(), 180);
}

TEST(AccountTailsTest, LatencyFromAcknowledgementToReceipt) {
  // Samples 0..7 acknowledged at 10 ms; tail 0 shows machines {0, 1}, tail 1 {2, 3}.
  const std::vector<int64_t> ack_at(8, 10 * kMs);
  const std::vector<std::vector<int>> shown = {{0, 1}, {2, 3}};
  std::vector<TailReceipts> receipts(2);
  for (int64_t n : {0, 1, 4, 5}) receipts[0].Add(n);
  receipts[0].EndMessage(15 * kMs, 13 * kMs);  // 5 ms after the acknowledgement
  for (int64_t n : {2, 3}) receipts[1].Add(n);
  receipts[1].EndMessage(12 * kMs);
  for (int64_t n : {6, 7}) receipts[1].Add(n);
  receipts[1].EndMessage(40 * kMs);
  const TailFigures f = AccountTails(ack_at, shown, receipts, MachineOf);
  EXPECT_EQ(f.expected, 8);
  EXPECT_EQ(f.receipts, 8);
  EXPECT_EQ(f.missed, 0);
  EXPECT_EQ(f.duplicates, 0);
  EXPECT_EQ(f.unexpected, 0);
  EXPECT_EQ(f.early, 0);
  EXPECT_EQ(f.latency.count(), 8);
  EXPECT_EQ(f.latency.min(), 2 * kMs);
  EXPECT_EQ(f.latency.max(), 30 * kMs);
  EXPECT_EQ(f.last_receipt, 40 * kMs);
  // Only tail 0's message says when it was published: 3 ms + 2 ms, for its 4 samples.
  EXPECT_EQ(f.to_published.count(), 4);
  EXPECT_EQ(f.to_published.max(), 3 * kMs);
  EXPECT_EQ(f.from_published.max(), 2 * kMs);
}

TEST(AccountTailsTest, AReceiptBeforeTheAcknowledgementCountsAsZero) {
  const std::vector<int64_t> ack_at = {10 * kMs, 10 * kMs};
  std::vector<TailReceipts> receipts(1);
  receipts[0].Add(0);
  receipts[0].Add(1);
  receipts[0].EndMessage(9 * kMs);
  const TailFigures f = AccountTails(ack_at, {{0, 1}}, receipts, MachineOf);
  EXPECT_EQ(f.early, 2);
  EXPECT_EQ(f.latency.count(), 2);
  EXPECT_EQ(f.latency.max(), 0);
  EXPECT_EQ(f.early_by.count(), 2);
  EXPECT_EQ(f.early_by.max(), kMs);
  EXPECT_EQ(f.missed, 0);
}

TEST(AccountTailsTest, MissedDuplicateAndUnexpectedSamplesAreCounted) {
  // Sample 3 was never acknowledged: nobody should show it.
  const std::vector<int64_t> ack_at = {kMs, kMs, kMs, -1, kMs, kMs};
  std::vector<TailReceipts> receipts(2);
  // Tail 0 (machines 0, 1) should show 0, 1, 4, 5: it misses 5, reads 1 twice, and
  // reads 2 (machine 2, not its own) and 3 (never acknowledged).
  for (int64_t n : {0, 1, 1, 2, 3, 4}) receipts[0].Add(n);
  receipts[0].EndMessage(2 * kMs);
  receipts[0].foreign = 3;
  // Tail 1 (machine 2) reads nothing: it misses 2.
  const TailFigures f = AccountTails(ack_at, {{0, 1}, {2}}, receipts, MachineOf);
  EXPECT_EQ(f.expected, 5);
  EXPECT_EQ(f.receipts, 3);
  EXPECT_EQ(f.missed, 2);
  EXPECT_EQ(f.duplicates, 1);
  EXPECT_EQ(f.unexpected, 2);
  EXPECT_EQ(f.foreign, 3);
  EXPECT_EQ(f.latency.count(), 3);
}

TEST(AccountTailsTest, SamplesBeyondTheRunAreUnexpected) {
  const std::vector<int64_t> ack_at = {kMs};
  std::vector<TailReceipts> receipts(1);
  receipts[0].Add(0);
  receipts[0].Add(4);
  receipts[0].Add(-1);
  receipts[0].EndMessage(kMs);
  const TailFigures f = AccountTails(ack_at, {{0}}, receipts, MachineOf);
  EXPECT_EQ(f.receipts, 1);
  EXPECT_EQ(f.unexpected, 2);
  EXPECT_EQ(f.missed, 0);
}

TEST(ExpectedPerMachineTest, CountsAcknowledgedSamplesOnly) {
  const std::vector<int64_t> ack_at = {1, 1, -1, 1, 1};
  EXPECT_EQ(ExpectedPerMachine(ack_at, 4, MachineOf), (std::vector<int64_t>{2, 1, 0, 1}));
}

}  // namespace
}  // namespace plantmesh::bench
