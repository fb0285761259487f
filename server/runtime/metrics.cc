#include "server/runtime/metrics.h"

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>

#include "absl/strings/str_cat.h"

namespace plantmesh::runtime {
namespace {

void AddTo(std::atomic<double>* target, double delta) {
  double current = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; no ':' in label names, no leading "__".
bool ValidName(const std::string& name, bool label) {
  if (name.empty() || (label && name.rfind("__", 0) == 0)) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(letter || (!label && c == ':') || (i > 0 && digit))) return false;
  }
  return true;
}

[[noreturn]] void Misuse(const std::string& what) {
  fmt::print(stderr, "metrics: {}\n", what);
  std::abort();
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integers as integers (counts), others as the shortest text that reads back the same.
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(value));
  }
  return fmt::format("{}", value);
}

void AppendEscaped(const std::string& text, bool quote, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kGauge:
      break;
  }
  return "gauge";
}

std::vector<std::pair<std::string, std::string>> Zip(const std::vector<std::string>& names,
                                                     const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> labels;
  labels.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) labels.emplace_back(names[i], values[i]);
  return labels;
}

void AppendSamples(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const Counter& counter, std::vector<MetricSample>* out) {
  out->push_back({"", Zip(names, values), static_cast<double>(counter.Value())});
}

void AppendSamples(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const Gauge& gauge, std::vector<MetricSample>* out) {
  out->push_back({"", Zip(names, values), gauge.Value()});
}

void AppendSamples(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const Histogram& histogram, std::vector<MetricSample>* out) {
  const Histogram::Snapshot read = histogram.Read();
  for (size_t i = 0; i <= read.bounds.size(); ++i) {
    std::vector<std::pair<std::string, std::string>> labels = Zip(names, values);
    labels.emplace_back("le", i < read.bounds.size() ? FormatValue(read.bounds[i]) : "+Inf");
    out->push_back({"_bucket", std::move(labels), static_cast<double>(read.cumulative[i])});
  }
  out->push_back({"_sum", Zip(names, values), read.sum});
  out->push_back({"_count", Zip(names, values), static_cast<double>(read.count)});
}

}  // namespace

std::string WritePrometheusText(const std::vector<MetricFamilySnapshot>& families) {
  std::string out;
  for (const MetricFamilySnapshot& family : families) {
    out.append("# HELP ").append(family.name).push_back(' ');
    AppendEscaped(family.help, /*quote=*/false, &out);
    out.append("\n# TYPE ").append(family.name).push_back(' ');
    out.append(TypeName(family.type)).push_back('\n');
    for (const MetricSample& sample : family.samples) {
      out.append(family.name).append(sample.suffix);
      if (!sample.labels.empty()) {
        out.push_back('{');
        for (size_t i = 0; i < sample.labels.size(); ++i) {
          if (i > 0) out.push_back(',');
          out.append(sample.labels[i].first).append("=\"");
          AppendEscaped(sample.labels[i].second, /*quote=*/true, &out);
          out.push_back('"');
        }
        out.push_back('}');
      }
      out.push_back(' ');
      out.append(FormatValue(sample.value)).push_back('\n');
    }
  }
  return out;
}

size_t Counter::ShardIndex() {
  static std::atomic<size_t> next{0};
  thread_local const size_t index = next.fetch_add(1, std::memory_order_relaxed) % kMetricShards;
  return index;
}

uint64_t Counter::Value() const {
  uint64_t total = 0;
  for (const Shard& shard : shards_) total += shard.value.load(std::memory_order_relaxed);
  return total;
}

void Gauge::Add(double delta) { AddTo(&value_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), shards_(new Shard[kMetricShards]) {
  if (bounds_.size() > kMaxBuckets || !std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    Misuse("histogram bounds must be increasing, at most 30");
  }
}

void Histogram::Observe(double value) {
  // First bound >= value: Prometheus buckets are `le` (less or equal).
  const size_t bucket = static_cast<size_t>(
      std::distance(bounds_.begin(), std::lower_bound(bounds_.begin(), bounds_.end(), value)));
  Shard& shard = shards_[Counter::ShardIndex()];
  shard.buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  AddTo(&shard.sum, value);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot read;
  read.bounds = bounds_;
  read.cumulative.assign(bounds_.size() + 1, 0);
  for (size_t s = 0; s < kMetricShards; ++s) {
    const Shard& shard = shards_[s];
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      read.cumulative[i] += shard.buckets[i].load(std::memory_order_relaxed);
    }
    read.sum += shard.sum.load(std::memory_order_relaxed);
  }
  for (size_t i = 1; i < read.cumulative.size(); ++i) read.cumulative[i] += read.cumulative[i - 1];
  read.count = read.cumulative.back();
  return read;
}

const std::vector<double>& LatencySecondsBuckets() {
  static const std::vector<double> buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}

template <class Series>
Series* MetricFamily<Series>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) {
    Misuse(absl::StrCat(name_, ": ", values.size(), " label values for ", label_names_.size(),
                        " labels"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Series>& series = series_[values];
  if (series == nullptr) series = make_();
  return series.get();
}

template <class Series>
MetricFamilySnapshot MetricFamily<Series>::Snapshot() const {
  MetricFamilySnapshot snapshot;
  snapshot.name = name_;
  snapshot.help = help_;
  if constexpr (std::is_same_v<Series, Counter>) {
    snapshot.type = MetricType::kCounter;
  } else if constexpr (std::is_same_v<Series, Histogram>) {
    snapshot.type = MetricType::kHistogram;
  } else {
    snapshot.type = MetricType::kGauge;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, series] : series_) {
    AppendSamples(label_names_, values, *series, &snapshot.samples);
  }
  return snapshot;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

void MetricsRegistry::Claim(const std::string& name, const std::vector<std::string>& label_names) {
  if (!ValidName(name, /*label=*/false)) Misuse(absl::StrCat("invalid metric name '", name, "'"));
  for (const std::string& label : label_names) {
    if (!ValidName(label, /*label=*/true) || label == "le") {
      Misuse(absl::StrCat(name, ": invalid label name '", label, "'"));
    }
  }
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    Misuse(absl::StrCat("metric '", name, "' added twice"));
  }
  names_.push_back(name);
}

CounterFamily* MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                           std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  Claim(name, label_names);
  counters_.emplace_back(new CounterFamily(name, help, std::move(label_names),
                                           [] { return std::make_unique<Counter>(); }));
  CounterFamily* family = counters_.back().get();
  readers_.push_back([family] { return family->Snapshot(); });
  return family;
}

GaugeFamily* MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                       std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  Claim(name, label_names);
  gauges_.emplace_back(new GaugeFamily(name, help, std::move(label_names),
                                       [] { return std::make_unique<Gauge>(); }));
  GaugeFamily* family = gauges_.back().get();
  readers_.push_back([family] { return family->Snapshot(); });
  return family;
}

HistogramFamily* MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                               std::vector<std::string> label_names,
                                               std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  Claim(name, label_names);
  Histogram check(bounds);  // aborts on bad bounds now rather than at the first series
  histograms_.emplace_back(new HistogramFamily(name, help, std::move(label_names), [bounds] {
    return std::make_unique<Histogram>(bounds);
  }));
  HistogramFamily* family = histograms_.back().get();
  readers_.push_back([family] { return family->Snapshot(); });
  return family;
}

void MetricsRegistry::AddCallback(const std::string& name, const std::string& help, MetricType type,
                                  std::vector<std::string> label_names,
                                  std::function<std::vector<CallbackSample>()> read) {
  if (type == MetricType::kHistogram) Misuse(absl::StrCat(name, ": callbacks are not histograms"));
  std::lock_guard<std::mutex> lock(mu_);
  Claim(name, label_names);
  readers_.push_back([name, help, type, label_names, read = std::move(read)] {
    MetricFamilySnapshot snapshot;
    snapshot.name = name;
    snapshot.help = help;
    snapshot.type = type;
    for (const CallbackSample& sample : read()) {
      if (sample.label_values.size() != label_names.size()) {
        Misuse(absl::StrCat(name, ": ", sample.label_values.size(), " label values for ",
                            label_names.size(), " labels"));
      }
      snapshot.samples.push_back({"", Zip(label_names, sample.label_values), sample.value});
    }
    return snapshot;
  });
}

std::vector<MetricFamilySnapshot> MetricsRegistry::Collect() const {
  std::lock_guard<std::mutex> scrape(scrape_mu_);
  std::vector<std::function<MetricFamilySnapshot()>> readers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    readers = readers_;
  }
  std::vector<MetricFamilySnapshot> families;
  families.reserve(readers.size());
  for (const auto& read : readers) families.push_back(read());
  return families;
}

}  // namespace plantmesh::runtime
