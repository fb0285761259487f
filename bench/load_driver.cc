#include "bench/load_driver.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace plantmesh::bench {
namespace {

using Clock = std::chrono::steady_clock;

// What a worker learned; merged by RunLoad after all threads joined.
struct WorkerTally {
  LatencyHistogram latency;
  int64_t succeeded = 0;
  int64_t failed = 0;
  int64_t late_starts = 0;
  std::map<std::string, int64_t> failures_by_code;
  std::string first_failure;
  Clock::time_point last_completion{};
  std::vector<CallRecord> calls;
};

// Holds workers until every one is set up, then releases them with the shared clock.
class StartGate {
 public:
  explicit StartGate(int workers) : waiting_for_(workers) {}

  void ReportReady(absl::Status setup) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!setup.ok() && setup_error_.ok()) setup_error_ = std::move(setup);
    --waiting_for_;
    cv_.notify_all();
  }
  // Called by RunLoad: returns the setup outcome once every worker reported.
  absl::Status AwaitAllReady() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return waiting_for_ == 0; });
    return setup_error_;
  }
  void Open(Clock::time_point start, bool abort) {
    std::lock_guard<std::mutex> lock(mu_);
    start_ = start;
    abort_ = abort;
    open_ = true;
    cv_.notify_all();
  }
  // Called by workers: false if the run was aborted.
  bool AwaitOpen(Clock::time_point* start) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return open_; });
    *start = start_;
    return !abort_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_for_;
  absl::Status setup_error_;
  bool open_ = false;
  bool abort_ = false;
  Clock::time_point start_{};
};

void RunWorker(int index, const LoadOptions& options, const WorkerFactory& factory, StartGate& gate,
               std::atomic<int64_t>& measured_tickets, WorkerTally& tally) {
  absl::StatusOr<RequestFn> request = factory(index);
  gate.ReportReady(request.status());
  Clock::time_point start;
  if (!gate.AwaitOpen(&start) || !request.ok()) return;

  const Clock::time_point measure_start = start + absl::ToChronoNanoseconds(options.warmup);
  const Clock::time_point measure_end = measure_start + absl::ToChronoNanoseconds(options.duration);
  const bool open_loop = options.rate_per_second > 0;
  // Open loop: this worker's share of the rate, its first slot staggered so that the
  // workers' schedules interleave instead of firing together.
  const std::chrono::nanoseconds interval(
      open_loop ? static_cast<int64_t>(1e9 * options.workers / options.rate_per_second) : 0);
  Clock::time_point next_due = start + interval * index / options.workers;

  // Bounded by measure_end: every iteration either returns or moves time forward.
  while (true) {
    Clock::time_point due = Clock::now();
    if (open_loop) {
      due = next_due;
      next_due += interval;
      if (due >= measure_end) return;
      if (due > Clock::now()) {
        std::this_thread::sleep_until(due);
      } else if (due >= measure_start) {
        ++tally.late_starts;
      }
    }
    if (due >= measure_end) return;
    const bool measured = due >= measure_start;
    if (measured && options.requests > 0 &&
        measured_tickets.fetch_add(1, std::memory_order_relaxed) >= options.requests) {
      return;
    }
    const absl::Time issued = absl::Now();
    const absl::Status outcome = (*request)();
    const Clock::time_point done = Clock::now();
    if (!measured) continue;
    if (options.record_calls) tally.calls.push_back({issued, absl::Now(), outcome.code(), index});
    tally.last_completion = std::max(tally.last_completion, done);
    if (outcome.ok()) {
      ++tally.succeeded;
      tally.latency.Record(
          std::chrono::duration_cast<std::chrono::nanoseconds>(done - due).count());
    } else {
      ++tally.failed;
      ++tally.failures_by_code[absl::StatusCodeToString(outcome.code())];
      if (tally.first_failure.empty()) tally.first_failure = outcome.ToString();
    }
  }
}

}  // namespace

double LoadResult::requests_per_second() const {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  return seconds > 0 ? static_cast<double>(succeeded) / seconds : 0.0;
}

double LoadResult::worker_fairness() const {
  double sum = 0;
  double sum_of_squares = 0;
  for (int64_t n : succeeded_by_worker) {
    sum += static_cast<double>(n);
    sum_of_squares += static_cast<double>(n) * static_cast<double>(n);
  }
  if (sum_of_squares == 0) return 0.0;
  return sum * sum / (static_cast<double>(succeeded_by_worker.size()) * sum_of_squares);
}

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options, const WorkerFactory& factory) {
  if (options.workers < 1) return absl::InvalidArgumentError("workers must be at least 1");
  if (options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("duration must be positive");
  }
  if (options.rate_per_second < 0) return absl::InvalidArgumentError("rate must not be negative");

  StartGate gate(options.workers);
  std::atomic<int64_t> measured_tickets{0};
  std::vector<WorkerTally> tallies(options.workers);
  std::vector<std::thread> threads;
  threads.reserve(options.workers);
  for (int i = 0; i < options.workers; ++i) {
    threads.emplace_back(RunWorker, i, std::cref(options), std::cref(factory), std::ref(gate),
                         std::ref(measured_tickets), std::ref(tallies[i]));
  }
  const absl::Status setup = gate.AwaitAllReady();
  const Clock::time_point start = Clock::now();
  gate.Open(start, /*abort=*/!setup.ok());
  for (std::thread& thread : threads) thread.join();
  if (!setup.ok()) {
    return absl::Status(setup.code(), absl::StrCat("worker setup: ", setup.message()));
  }

  LoadResult result;
  const Clock::time_point measure_start = start + absl::ToChronoNanoseconds(options.warmup);
  Clock::time_point last_completion = measure_start;
  for (const WorkerTally& tally : tallies) {
    result.latency.Merge(tally.latency);
    result.succeeded += tally.succeeded;
    result.succeeded_by_worker.push_back(tally.succeeded);
    result.failed += tally.failed;
    result.late_starts += tally.late_starts;
    for (const auto& [code, n] : tally.failures_by_code) result.failures_by_code[code] += n;
    if (result.first_failure.empty()) result.first_failure = tally.first_failure;
    last_completion = std::max(last_completion, tally.last_completion);
    result.calls.insert(result.calls.end(), tally.calls.begin(), tally.calls.end());
  }
  std::sort(result.calls.begin(), result.calls.end(),
            [](const CallRecord& a, const CallRecord& b) { return a.issued < b.issued; });
  result.elapsed = absl::FromChrono(last_completion - measure_start);
  return result;
}

}  // namespace plantmesh::bench
