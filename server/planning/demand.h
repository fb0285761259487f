// Demand history import and per-product forecasting, without gRPC or SQL.
//
// An import is a stream of records (product, local date, quantity). DemandImport checks
// each as it arrives and keeps the good ones, one per product and date (a later record
// replaces an earlier one). Every rule of a record is the import's to judge, its text
// included (the contract marks DemandRecord's elements judged by the service), so that a
// fault is named by its index in the whole import and skip_invalid covers every kind. By
// default a message with bad records ends the import (INVALID_ARGUMENT naming each
// `records[i].field`, up to runtime::kMaxListedViolations, i counting from 0 across the
// whole import); with skip_invalid the bad ones are counted and the first
// kMaxReportedRejects kept with their reasons.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "server/planning/forecast/forecast.h"
#include "server/runtime/errors.h"

namespace plantmesh::planning {

inline constexpr int64_t kMaxImportRecords = 1'000'000;
inline constexpr int kMaxRecordsPerMessage = 10'000;
inline constexpr int kMaxReportedRejects = 1'000;
inline constexpr int kMaxForecastProducts = 1'000;
// Products × horizon days of one ForecastDemand answer: about 3.5 MB of response, within
// the default 4 MiB max-send-message-bytes (100,000 days, the bound before, answered
// 4.28 MB for 1,000 products and was refused by gRPC).
inline constexpr int64_t kMaxForecastDays = 80'000;
// Memory an import holds per record until it is written, in bytes (the upload budget
// is charged by it).
inline constexpr int64_t kImportBytesPerRecord = 64;
// The largest demand of a product on one day, in its unit: the bound ProposePlan's
// requests take (ProposePlanRequest.demand), so that imported history and the forecasts
// made from it always fit a proposal's model.
inline constexpr double kMaxDemandQuantity = 1e9;

// Demand of one product on one local day, in the product's unit (≥ 0, finite).
struct DemandRecord {
  std::string product_id;
  absl::CivilDay day;
  double quantity = 0.0;
};

// A record refused by an import with skip_invalid.
struct DemandReject {
  int64_t index = 0;   // in the whole import, from 0
  std::string field;   // of the record: product_id, date or quantity
  std::string reason;  // e.g. "must be >= 0"
};

// What the store did with an import's records.
struct DemandWriteCounts {
  int64_t stored = 0;    // product-days that had no demand stored
  int64_t replaced = 0;  // product-days whose stored demand was replaced
};

// The whole answer of an import.
struct DemandImportResult {
  int64_t received = 0;
  int64_t stored = 0;
  int64_t replaced = 0;  // in the store, or given earlier in the same import
  int64_t rejected = 0;
  std::vector<DemandReject> rejects;  // the first kMaxReportedRejects
};

class DemandImport {
 public:
  // `known_products`: the products a record may name.
  DemandImport(const std::set<std::string>& known_products, bool skip_invalid);

  // Checks and keeps the next record, or refuses it (Refusal, or a reject with
  // skip_invalid) for a product id that breaks the text rules, is empty or unknown, a
  // date that is not `YYYY-MM-DD` in the plant's range, a quantity that is not finite or
  // outside 0..kMaxDemandQuantity. INVALID_ARGUMENT beyond kMaxImportRecords records
  // (with or without skip_invalid).
  absl::Status Add(absl::string_view product_id, absl::string_view date, double quantity);
  // Without skip_invalid: INVALID_ARGUMENT naming the records refused so far, if any.
  absl::Status Refusal() const { return refused_.ToStatus(); }

  int64_t received() const { return received_; }
  // Records kept (one per product and day).
  size_t size() const { return records_.size(); }
  // The kept records, in first-seen order, and the counts so far (stored/replaced
  // apart from the store's: replaced counts only this import's own repeats).
  std::vector<DemandRecord> Records() const;
  DemandImportResult Counts() const;

 private:
  struct Kept {
    uint32_t product;
    absl::CivilDay day;
    double quantity;
  };
  void Reject(absl::string_view field, absl::string_view reason);

  bool skip_invalid_;
  std::vector<std::string> products_;                         // by index
  absl::flat_hash_map<std::string, uint32_t> product_index_;  // id → index
  absl::flat_hash_map<uint64_t, size_t> position_;            // (product, day) → records_
  std::vector<Kept> records_;
  int64_t received_ = 0;
  int64_t repeats_ = 0;
  int64_t rejected_ = 0;
  std::vector<DemandReject> rejects_;
  runtime::Violations refused_;  // without skip_invalid
};

// Demand history of one product as the store returns it (any order).
struct ProductDemandHistory {
  std::string product_id;
  std::vector<forecast::DemandObservation> days;
};

struct ProductForecastResult {
  std::string product_id;
  absl::CivilDay history_end;
  int history_days = 0;
  // The forecast, or why there is none (FAILED_PRECONDITION: under 7 days of history).
  absl::StatusOr<forecast::DemandForecast> forecast = absl::UnknownError("not run");
};

// Runs body(0) … body(n − 1), each once, on the calling thread and on up to `helpers`
// tasks of `spawn` (e.g. the runtime executor's Continue; null: the caller alone), and
// returns when all are done. The caller never waits for a helper that has not started
// (one that starts after the work is gone returns at once), so a busy executor can
// slow the loop down but never block it.
void ParallelFor(const std::function<void(std::function<void()>)>& spawn, int helpers, int n,
                 const std::function<void(int)>& body);

// Forecasts each history (the latest forecast::kMaxHistoryDays days of it) with
// `options`, in parallel as ParallelFor does; results in the order of `histories`.
// `cancelled` (null: never) is asked before each product, from any of the threads: once
// it says true, the products not yet begun are CANCELLED instead of forecast (a
// forecast of 1,000 products takes seconds; its client may have gone).
std::vector<ProductForecastResult> ForecastProducts(
    const std::vector<ProductDemandHistory>& histories, const forecast::ForecastOptions& options,
    const std::function<void(std::function<void()>)>& spawn, int helpers,
    const std::function<bool()>& cancelled = nullptr);

}  // namespace plantmesh::planning
