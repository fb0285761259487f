#include "bench/tail_ledger.h"

#include <algorithm>

namespace plantmesh::bench {

std::vector<int> TailMachines(int tail, int machines, int per_tail) {
  std::vector<int> out;
  if (machines <= 0 || per_tail <= 0 || tail < 0) return out;
  const int cells = (machines + per_tail - 1) / per_tail;
  const int first = (tail % cells) * per_tail;
  for (int m = first; m < std::min(machines, first + per_tail); ++m) out.push_back(m);
  return out;
}

void AckLog::Written(uint64_t sequence, std::vector<int64_t> samples, int64_t at) {
  absl::MutexLock lock(&mu_);
  written_[sequence] = Pending{at, std::move(samples)};
}

void AckLog::Acknowledged(uint64_t sequence, int64_t at) {
  absl::MutexLock lock(&mu_);
  auto it = written_.find(sequence);
  if (it == written_.end()) return;
  round_trips_.Record(at - it->second.at);
  acknowledged_.emplace_back(at, std::move(it->second.samples));
  written_.erase(it);
}

LatencyHistogram AckLog::round_trips() const {
  absl::MutexLock lock(&mu_);
  return round_trips_;
}

void AckLog::Fill(std::vector<int64_t>* ack_at) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [at, samples] : acknowledged_) {
    for (int64_t n : samples) {
      if (n < 0) continue;
      if (static_cast<size_t>(n) >= ack_at->size()) ack_at->resize(static_cast<size_t>(n) + 1, -1);
      (*ack_at)[static_cast<size_t>(n)] = at;
    }
  }
}

std::vector<int64_t> ExpectedPerMachine(const std::vector<int64_t>& since, int machines,
                                        const std::function<int(int64_t)>& machine_of) {
  std::vector<int64_t> counts(static_cast<size_t>(std::max(machines, 0)), 0);
  for (size_t n = 0; n < since.size(); ++n) {
    if (since[n] < 0) continue;
    const int m = machine_of(static_cast<int64_t>(n));
    if (m >= 0 && m < machines) ++counts[static_cast<size_t>(m)];
  }
  return counts;
}

TailFigures AccountTails(const std::vector<int64_t>& since,
                         const std::vector<std::vector<int>>& tail_machines,
                         const std::vector<TailReceipts>& receipts,
                         const std::function<int(int64_t)>& machine_of) {
  TailFigures figures;
  int machines = 0;
  for (const std::vector<int>& shown : tail_machines) {
    for (int m : shown) machines = std::max(machines, m + 1);
  }
  const std::vector<int64_t> per_machine = ExpectedPerMachine(since, machines, machine_of);
  std::vector<bool> seen;
  std::vector<bool> shows;
  for (size_t t = 0; t < tail_machines.size() && t < receipts.size(); ++t) {
    shows.assign(static_cast<size_t>(machines), false);
    int64_t expected = 0;
    for (int m : tail_machines[t]) {
      shows[static_cast<size_t>(m)] = true;
      expected += per_machine[static_cast<size_t>(m)];
    }
    figures.expected += expected;
    seen.assign(since.size(), false);
    int64_t received = 0;
    const TailReceipts& tail = receipts[t];
    figures.foreign += tail.foreign;
    size_t begin = 0;
    for (const TailReceipts::Message& message : tail.messages) {
      const size_t end = message.end;
      const int64_t at = message.at;
      figures.last_receipt = std::max(figures.last_receipt, at);
      for (size_t i = begin; i < end && i < tail.samples.size(); ++i) {
        const int64_t n = tail.samples[i];
        if (n < 0 || static_cast<size_t>(n) >= since.size() || since[static_cast<size_t>(n)] < 0) {
          ++figures.unexpected;
          continue;
        }
        const int m = machine_of(n);
        if (m < 0 || m >= machines || !shows[static_cast<size_t>(m)]) {
          ++figures.unexpected;
          continue;
        }
        if (seen[static_cast<size_t>(n)]) {
          ++figures.duplicates;
          continue;
        }
        seen[static_cast<size_t>(n)] = true;
        ++received;
        const int64_t latency = at - since[static_cast<size_t>(n)];
        if (latency < 0) {
          ++figures.early;
          figures.early_by.Record(-latency);
        }
        figures.latency.Record(std::max<int64_t>(latency, 0));
        if (message.published >= 0) {
          figures.to_published.Record(message.published - since[static_cast<size_t>(n)]);
          figures.from_published.Record(at - message.published);
        }
      }
      begin = end;
    }
    figures.receipts += received;
    figures.missed += expected - received;
  }
  return figures;
}

}  // namespace plantmesh::bench
