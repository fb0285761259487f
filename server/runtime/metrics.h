// Prometheus metrics of one process: counters, gauges and histograms with labels, and
// the text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/),
// written here because no Prometheus client library is packaged in Debian 12.
//
// Cost: a series is looked up once (WithLabels, under the family's mutex) and its
// pointer kept; observing it is then lock-free. Counters and histograms are sharded
// over cache lines by thread, so threads that observe one series at once do not
// contend for one line (figures: bench/metrics_bench.cc). A scrape sums the shards.
//
// Names follow Prometheus conventions: base units (seconds, bytes), `_total` for
// counters, `_seconds` / `_bytes` suffixes; the registry checks names and label names
// against the format's grammar (a bad one is a programming error: it aborts at start).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace plantmesh::runtime {

enum class MetricType { kCounter, kGauge, kHistogram };

// One line of the exposition: `<family name><suffix>{labels} value`.
struct MetricSample {
  std::string suffix;  // "", or "_bucket", "_sum", "_count" for histograms
  std::vector<std::pair<std::string, std::string>> labels;  // name, value (not escaped)
  double value = 0;
};

// What a scrape reads of one family.
struct MetricFamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<MetricSample> samples;
};

// The text format 0.0.4 of `families`, in the order given: `# HELP` (backslash and
// newline escaped), `# TYPE`, then the samples (label values with backslash, double
// quote and newline escaped; values as the shortest decimal that reads back the same,
// `+Inf`, `-Inf`, `NaN`). Ends with a newline.
std::string WritePrometheusText(const std::vector<MetricFamilySnapshot>& families);

// The Content-Type of that format.
inline constexpr char kPrometheusTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Number of shards of a counter or histogram: threads are spread over them round-robin.
inline constexpr size_t kMetricShards = 8;

// A monotonically increasing count (of calls, events, bytes).
class Counter {
 public:
  void Increment(uint64_t by = 1) {
    shards_[ShardIndex()].value.fetch_add(by, std::memory_order_relaxed);
  }
  uint64_t Value() const;

  // This thread's shard (assigned round-robin on first use).
  static size_t ShardIndex();

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> value{0};
  };
  std::array<Shard, kMetricShards> shards_;
};

// A value that goes up and down (set or adjusted).
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into buckets by upper bound (cumulative at exposition, with the
// implicit +Inf bucket), with their sum and count.
class Histogram {
 public:
  // `bounds`: increasing upper bounds, without +Inf; at most kMaxBuckets.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

  static constexpr size_t kMaxBuckets = 30;

 private:
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kMaxBuckets + 1> buckets{};  // last: above every bound
    std::atomic<double> sum{0};
  };
  std::vector<double> bounds_;
  std::unique_ptr<Shard[]> shards_;
};

// Buckets for latencies of calls in seconds: 0.5 ms to 10 s.
const std::vector<double>& LatencySecondsBuckets();

// A metric with labels: one series per distinct tuple of label values.
template <class Series>
class MetricFamily {
 public:
  // The series for `values` (one per label name, in order), created on first use.
  // The pointer stays valid as long as the registry. Aborts on a wrong count of values.
  Series* WithLabels(const std::vector<std::string>& values);
  // The series of a family without labels.
  Series* Get() { return WithLabels({}); }

 private:
  friend class MetricsRegistry;
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names,
               std::function<std::unique_ptr<Series>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}
  MetricFamilySnapshot Snapshot() const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Series>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;  // guarded by mu_
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

// A value read when scraped, e.g. connections in use: label values and the value.
struct CallbackSample {
  std::vector<std::string> label_values;
  double value = 0;
};

// The metrics of one process. Thread-safe. Families are exposed in the order added.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Adding a name twice, or an invalid name or label name, aborts (programming error).
  CounterFamily* AddCounter(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names = {});
  GaugeFamily* AddGauge(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names = {});
  HistogramFamily* AddHistogram(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names, std::vector<double> bounds);
  // A counter or gauge whose samples `read` returns at each scrape (it runs on the
  // scraping thread; it may block briefly, e.g. on a query). What it reads must outlive
  // the registry's scrapes.
  void AddCallback(const std::string& name, const std::string& help, MetricType type,
                   std::vector<std::string> label_names,
                   std::function<std::vector<CallbackSample>()> read);

  // Every family now. Scrapes run one at a time.
  std::vector<MetricFamilySnapshot> Collect() const;
  // Collect() in the text format 0.0.4.
  std::string Scrape() const { return WritePrometheusText(Collect()); }

 private:
  void Claim(const std::string& name, const std::vector<std::string>& label_names);

  mutable std::mutex mu_;
  mutable std::mutex scrape_mu_;
  std::vector<std::string> names_;                              // guarded by mu_
  std::vector<std::function<MetricFamilySnapshot()>> readers_;  // guarded by mu_
  std::vector<std::unique_ptr<CounterFamily>> counters_;        // guarded by mu_
  std::vector<std::unique_ptr<GaugeFamily>> gauges_;            // guarded by mu_
  std::vector<std::unique_ptr<HistogramFamily>> histograms_;    // guarded by mu_
};

}  // namespace plantmesh::runtime
