// B11's commit-to-screen accounting (plantmesh-ingest --tails, bench/ingest_bench.cc):
// which samples each live tail should have shown, which it did, and how long after its
// batch's acknowledgement. No gRPC here: the load generator feeds it, tests too.
//
// Samples are numbered by the run: n = 0, 1, 2, ... (plantmesh-ingest sends sample n
// with source_sequence n + 1 and time base + n µs, so a tail's sample names its n and
// one of an earlier run is told apart by its time). Times are Unix nanoseconds, all from
// one host clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "bench/latency_histogram.h"

namespace plantmesh::bench {

// The machines (0 .. machines-1) tail `tail` shows: cell (tail mod cells) of
// `per_tail` consecutive machines, cells = ceil(machines / per_tail) (the last one may
// be shorter). With as many tails as machines every machine is on `per_tail` screens;
// with fewer tails than cells, the machines of the cells beyond them are on none.
std::vector<int> TailMachines(int tail, int machines, int per_tail);

// When each batch of one writer was acknowledged. Written() when the batch goes on the
// stream (again on a re-send: same samples), Acknowledged() when its answer is read.
// Thread-safe (the writer's sending and reading threads).
class AckLog {
 public:
  // Batch `sequence` holds samples `samples` (run numbers); written at `at` (ns).
  void Written(uint64_t sequence, std::vector<int64_t> samples, int64_t at);
  // Its answer was read at `at` (ns); an answer for a batch never written is ignored.
  // The time from its last write goes to round_trips().
  void Acknowledged(uint64_t sequence, int64_t at);
  LatencyHistogram round_trips() const;
  // Sets (*ack_at)[n] to the acknowledgement time of every acknowledged sample n of
  // this log (growing the vector with -1 entries as needed).
  void Fill(std::vector<int64_t>* ack_at) const;

 private:
  mutable absl::Mutex mu_;
  struct Pending {
    int64_t at = 0;
    std::vector<int64_t> samples;
  };
  std::unordered_map<uint64_t, Pending> written_ ABSL_GUARDED_BY(mu_);
  LatencyHistogram round_trips_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<int64_t, std::vector<int64_t>>> acknowledged_ ABSL_GUARDED_BY(mu_);
};

// What one tail read after its current values: each sample's run number, and per
// message its receipt time. Not thread-safe: its reader's (under the reader's lock).
struct TailReceipts {
  struct Message {
    size_t end;         // end index of its samples in `samples`
    int64_t at;         // receipt time, ns
    int64_t published;  // when its event entered the event stream (ns), -1: unknown
  };
  std::vector<int64_t> samples;
  std::vector<Message> messages;  // in the order read
  int64_t foreign = 0;            // samples of no batch of this run (an earlier run's events)

  void Add(int64_t n) { samples.push_back(n); }
  void EndMessage(int64_t at, int64_t published = -1) {
    messages.push_back(Message{samples.size(), at, published});
  }
};

struct TailFigures {
  LatencyHistogram latency;  // receipt - since[n] per receipt, ns (early ones count 0)
  int64_t receipts = 0;      // samples read by all tails together (expected ones only)
  // Receipts read before their sample's `since` time (the acknowledgement travels to the
  // writer apart from the event to the tails, so a tail can be first): counted as
  // latency 0 in `latency`; how much earlier they came goes to `early_by` (ns).
  int64_t early = 0;
  LatencyHistogram early_by;
  int64_t expected = 0;      // (tail, sample) pairs a tail should show
  int64_t missed = 0;        // ... that it never read
  int64_t duplicates = 0;    // receipts of a sample the tail had already read
  int64_t unexpected = 0;    // receipts of a sample outside the tail's machines, or
                             // one not expected anywhere
  int64_t foreign = 0;       // TailReceipts::foreign, summed
  int64_t last_receipt = 0;  // ns; 0: none
  // The latency in two, for receipts whose message says when its event was published
  // (clock-granularity negatives count 0): since[n] -> published, published -> receipt.
  LatencyHistogram to_published;
  LatencyHistogram from_published;
};

// Accounts every tail. `since[n]`: the time sample n's latency counts from (its batch's
// acknowledgement, or its commit), < 0 when n is not expected anywhere (not stored);
// `tail_machines[t]`: TailMachines of tail t; `machine_of(n)`: the machine of sample n.
// receipts.size() == tail_machines.size().
TailFigures AccountTails(const std::vector<int64_t>& since,
                         const std::vector<std::vector<int>>& tail_machines,
                         const std::vector<TailReceipts>& receipts,
                         const std::function<int(int64_t)>& machine_of);

// Expected samples (since[n] >= 0) per machine (index: machine, 0 .. machines-1): a
// tail should show the sum over its machines.
std::vector<int64_t> ExpectedPerMachine(const std::vector<int64_t>& since, int machines,
                                        const std::function<int(int64_t)>& machine_of);

}  // namespace plantmesh::bench
