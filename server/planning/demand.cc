#include "server/planning/demand.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/planning/calendar.h"
#include "server/runtime/errors.h"
#include "server/runtime/text_rules.h"

namespace plantmesh::planning {
namespace {

// DemandRecord.product_id's text rule (planning_service.proto).
// No blanks around: `GRANOLA-500G ` was "unknown product" of a product that exists (re-test).
constexpr runtime::TextRule kProductIdRule{runtime::TextKind::kSingleLine, 64, true};
// DemandRecord.date's (YYYY-MM-DD).
constexpr runtime::TextRule kDateTextRule{runtime::TextKind::kSingleLine, 10, true};

// (product, day) as one key: the product's index above the day's offset from 1970.
uint64_t KeyOf(uint32_t product, absl::CivilDay day) {
  const int64_t offset = day - absl::CivilDay(1970, 1, 1);
  return (static_cast<uint64_t>(product) << 32) |
         static_cast<uint32_t>(static_cast<int32_t>(offset));
}

}  // namespace

DemandImport::DemandImport(const std::set<std::string>& known_products, bool skip_invalid)
    : skip_invalid_(skip_invalid), products_(known_products.begin(), known_products.end()) {
  product_index_.reserve(products_.size());
  for (uint32_t i = 0; i < products_.size(); ++i) product_index_.emplace(products_[i], i);
}

void DemandImport::Reject(absl::string_view field, absl::string_view reason) {
  const int64_t index = received_ - 1;
  if (!skip_invalid_) {
    refused_.Add(absl::StrCat("records[", index, "].", field), std::string(reason));
    return;
  }
  ++rejected_;
  if (rejects_.size() < static_cast<size_t>(kMaxReportedRejects)) {
    rejects_.push_back({index, std::string(field), std::string(reason)});
  }
}

absl::Status DemandImport::Add(absl::string_view product_id, absl::string_view date,
                               double quantity) {
  ++received_;
  if (received_ > kMaxImportRecords) {
    return runtime::InvalidField("records", absl::StrCat("at most ", kMaxImportRecords,
                                                         " records per import: split the file"));
  }
  // Each field's fault: all of them refuse the import (every wrong field named at once;
  // outside testing: a record's unknown product hid its date's fault), the first one
  // rejects the record under skip_invalid_records (one reject per record).
  std::vector<std::pair<absl::string_view, std::string>> faults;
  const std::string_view id(product_id.data(), product_id.size());
  auto product = product_index_.end();
  if (std::optional<std::string> missing = runtime::MissingTextViolation(id)) {
    faults.emplace_back("product_id", *missing);
  } else if (std::optional<std::string> why = runtime::TextViolation(id, kProductIdRule)) {
    faults.emplace_back("product_id", *why);
  } else if (product = product_index_.find(product_id); product == product_index_.end()) {
    faults.emplace_back("product_id",
                        absl::StrCat("unknown product ", runtime::QuoteForMessage(id)));
  }
  std::optional<absl::CivilDay> day;
  if (date.empty()) {
    faults.emplace_back("date", "required");
    // Named as every planning date names it (re-test: a date with U+00A0 after it was "must
    // be a date YYYY-MM-DD" of a value that showed as one).
  } else if (std::optional<std::string> why = runtime::TextViolation(
                 std::string_view(date.data(), date.size()), kDateTextRule)) {
    faults.emplace_back("date", *why);
  } else if (day = ParseDate(date); !day) {
    faults.emplace_back("date", DateViolation(date));
  }
  if (!std::isfinite(quantity)) {
    faults.emplace_back("quantity", "must be finite");
  } else if (quantity < 0 || quantity > kMaxDemandQuantity) {
    faults.emplace_back("quantity",
                        absl::StrCat("must be 0-", static_cast<int64_t>(kMaxDemandQuantity)));
  }
  for (const auto& [field, reason] : faults) {
    Reject(field, reason);
    if (skip_invalid_) break;
  }
  if (!faults.empty()) return absl::OkStatus();
  if (quantity == 0) quantity = 0;  // -0 (a client's float formatting) is stored as 0
  auto [at, inserted] = position_.emplace(KeyOf(product->second, *day), records_.size());
  if (inserted) {
    records_.push_back({product->second, *day, quantity});
  } else {
    // The later record of a product and day wins.
    records_[at->second].quantity = quantity;
    ++repeats_;
  }
  return absl::OkStatus();
}

std::vector<DemandRecord> DemandImport::Records() const {
  std::vector<DemandRecord> out;
  out.reserve(records_.size());
  for (const Kept& k : records_) out.push_back({products_[k.product], k.day, k.quantity});
  return out;
}

DemandImportResult DemandImport::Counts() const {
  DemandImportResult result;
  result.received = received_;
  result.replaced = repeats_;
  result.rejected = rejected_;
  result.rejects = rejects_;
  return result;
}

void ParallelFor(const std::function<void(std::function<void()>)>& spawn, int helpers, int n,
                 const std::function<void(int)>& body) {
  struct State {
    absl::Mutex mu;
    int next ABSL_GUARDED_BY(mu) = 0;
    int running ABSL_GUARDED_BY(mu) = 0;  // helpers inside the loop
    int n = 0;
    const std::function<void(int)>* body = nullptr;
  };
  auto state = std::make_shared<State>();
  state->n = n;
  state->body = &body;
  // Takes indices until none is left. A helper enters only while work remains, so
  // once the caller saw the end and no helper running, none touches `body` again.
  auto loop = [](State& s, bool helper) {
    {
      absl::MutexLock lock(&s.mu);
      if (s.next >= s.n) return;
      if (helper) ++s.running;
    }
    for (;;) {
      int i;
      {
        absl::MutexLock lock(&s.mu);
        if (s.next >= s.n) break;
        i = s.next++;
      }
      (*s.body)(i);
    }
    if (helper) {
      absl::MutexLock lock(&s.mu);
      --s.running;
    }
  };
  if (spawn) {
    for (int h = 0; h < std::min(helpers, n - 1); ++h) {
      spawn([state, loop] { loop(*state, true); });
    }
  }
  loop(*state, false);
  absl::MutexLock lock(&state->mu);
  state->mu.Await(absl::Condition(
      +[](State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) { return s->running == 0; }, state.get()));
}

std::vector<ProductForecastResult> ForecastProducts(
    const std::vector<ProductDemandHistory>& histories, const forecast::ForecastOptions& options,
    const std::function<void(std::function<void()>)>& spawn, int helpers,
    const std::function<bool()>& cancelled) {
  std::vector<ProductForecastResult> results(histories.size());
  ParallelFor(spawn, helpers, static_cast<int>(histories.size()), [&](int i) {
    const ProductDemandHistory& history = histories[i];
    ProductForecastResult& result = results[i];
    result.product_id = history.product_id;
    if (cancelled && cancelled()) {
      result.forecast = absl::CancelledError("forecast cancelled");
      return;
    }
    if (history.days.empty()) {
      result.forecast = absl::FailedPreconditionError(
          absl::StrCat("product ", history.product_id, " has no demand history"));
      return;
    }
    // The latest kMaxHistoryDays days: older demand would only be refused.
    absl::CivilDay last = history.days.front().day;
    for (const forecast::DemandObservation& o : history.days) last = std::max(last, o.day);
    std::vector<forecast::DemandObservation> recent;
    recent.reserve(history.days.size());
    for (const forecast::DemandObservation& o : history.days) {
      if (last - o.day < forecast::kMaxHistoryDays) recent.push_back(o);
    }
    absl::StatusOr<forecast::DailySeries> series = forecast::BuildDailySeries(recent);
    if (!series.ok()) {
      result.forecast = series.status();
      return;
    }
    result.history_end = series->last_day();
    result.history_days = static_cast<int>(series->quantity.size());
    result.forecast = forecast::ForecastDemand(*series, options);
  });
  return results;
}

}  // namespace plantmesh::planning
