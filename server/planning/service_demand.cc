// The demand handlers of PlanningService: ImportDemand (a client stream of records,
// written in one transaction when the stream ends) and ForecastDemand (products
// forecast in parallel on the runtime executor).
#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "plantmesh/common/sha256.h"
#include "plantmesh/common/status_macros.h"
#include "server/planning/calendar.h"
#include "server/planning/demand.h"
#include "server/planning/domain.h"
#include "server/planning/service.h"
#include "server/planning/solve_gate.h"
#include "server/runtime/errors.h"
#include "server/runtime/executor.h"
#include "server/runtime/idempotency.h"
#include "server/runtime/memory_budget.h"
#include "server/runtime/replay_answer.h"
#include "server/runtime/transfer_watchdog.h"

namespace plantmesh::planning {
namespace {

void FillImportResponse(const DemandImportResult& result, v1::ImportDemandResponse* out) {
  out->set_records_received(result.received);
  out->set_records_stored(result.stored);
  out->set_records_replaced(result.replaced);
  out->set_records_rejected(result.rejected);
  for (const DemandReject& r : result.rejects) {
    v1::DemandRecordReject* reject = out->add_rejects();
    reject->set_index(r.index);
    reject->set_field(r.field);
    reject->set_reason(r.reason);
  }
}

v1::ForecastMethod MethodToProto(forecast::Method method) {
  switch (method) {
    case forecast::Method::kSeasonalNaive:
      return v1::FORECAST_METHOD_SEASONAL_NAIVE;
    case forecast::Method::kHoltWintersAdditive:
      return v1::FORECAST_METHOD_HOLT_WINTERS_ADDITIVE;
    case forecast::Method::kHoltWintersAdditiveDamped:
      return v1::FORECAST_METHOD_HOLT_WINTERS_ADDITIVE_DAMPED;
    case forecast::Method::kHoltWintersMultiplicative:
      return v1::FORECAST_METHOD_HOLT_WINTERS_MULTIPLICATIVE;
    case forecast::Method::kHoltWintersMultiplicativeDamped:
      return v1::FORECAST_METHOD_HOLT_WINTERS_MULTIPLICATIVE_DAMPED;
  }
  return v1::FORECAST_METHOD_UNSPECIFIED;
}

void AccuracyToProto(const forecast::ForecastAccuracy& accuracy, v1::ForecastAccuracy* out) {
  out->set_smape_percent(accuracy.smape_percent);
  if (accuracy.mape_percent) out->set_mape_percent(*accuracy.mape_percent);
  out->set_points(accuracy.points);
}

void ForecastToProto(const ProductForecastResult& result, v1::ProductDemandForecast* out) {
  const forecast::DemandForecast& f = *result.forecast;
  out->set_product_id(result.product_id);
  out->set_method(MethodToProto(f.method));
  if (f.params) {
    v1::SmoothingParameters* p = out->mutable_parameters();
    p->set_alpha(f.params->alpha);
    p->set_beta(f.params->beta);
    p->set_gamma(f.params->gamma);
    p->set_phi(f.params->phi);
  }
  out->set_history_end_date(FormatDate(result.history_end));
  out->set_history_days(result.history_days);
  for (const forecast::ForecastDay& d : f.days) {
    // Outside testing: a history ending 9990-12-31 was forecast into 9991, dates no
    // request of the service accepts.
    if (d.day > kLastPlantDay) break;
    v1::DemandForecastDay* day = out->add_days();
    day->set_date(FormatDate(d.day));
    day->set_quantity(d.quantity);
    day->set_lower(d.lower);
    day->set_upper(d.upper);
  }
  out->set_interval_level_percent(f.interval_level * 100.0);
  out->set_backtest_origins(f.backtest_origins);
  out->set_backtest_horizon_days(f.backtest_horizon_days);
  if (f.chosen_accuracy) AccuracyToProto(*f.chosen_accuracy, out->mutable_chosen_accuracy());
  if (f.baseline_accuracy) AccuracyToProto(*f.baseline_accuracy, out->mutable_baseline_accuracy());
  out->set_explanation(f.explanation);
}

// Threads besides the handler's own that one ForecastDemand may use: every core but
// the caller's, at most 7.
int ForecastHelpers() {
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(cores - 1, 0, 7);
}

}  // namespace

absl::CivilDay PlanningServiceImpl::PlantToday() const {
  return absl::ToCivilDay(deps_.now(), zone_);
}

// The import's state between messages: the checked records so far (charged to the
// upload memory budget), the options of the first message and the fingerprints of all.
class PlanningServiceImpl::DemandImportSink final : public ImportDemandSink {
 public:
  DemandImportSink(PlanningServiceImpl* service, runtime::CallContext& call)
      : service_(service),
        call_(call),
        memory_(runtime::MemoryBudget::Open(service->deps_.upload_memory)),
        idle_(runtime::WatchTransfer(service->deps_.transfers, call,
                                     runtime::TransferDirection::kUpload, "a demand import")) {}

  absl::Status OnMessage(v1::ImportDemandRequest& message) override {
    if (idle_ != nullptr) idle_->Moved();
    if (call_.Cancelled()) return absl::CancelledError("import cancelled");
    if (ended_) {
      return runtime::InvalidField("end_of_import",
                                   "set in an earlier message: no message may follow it");
    }
    ended_ = message.end_of_import();
    runtime::Violations v;
    if (!import_) {
      PM_RETURN_IF_ERROR(Begin(message));
    } else {
      for (const auto& [set, field] :
           {std::make_pair(!message.request_id().empty(), "request_id"),
            std::make_pair(message.skip_invalid_records(), "skip_invalid_records")}) {
        if (set) v.Add(field, "only in the first message of the stream");
      }
    }
    if (message.records_size() > kMaxRecordsPerMessage) {
      v.Add("records", absl::StrCat("at most ", kMaxRecordsPerMessage, " records per message"));
    }
    PM_RETURN_IF_ERROR(v.ToStatus());
    const size_t before = import_->size();
    for (const v1::DemandRecord& r : message.records()) {
      PM_RETURN_IF_ERROR(import_->Add(r.product_id(), r.date(), r.quantity()));
      // The records are the payload a retry must repeat, however they are split into
      // messages: each one, canonical as a unary request's payload (unknown fields and
      // the sign of a zero do not count), length-prefixed, in order.
      const std::string bytes = runtime::CanonicalPayload(r);
      fingerprint_.Update(absl::StrCat(bytes.size(), ":"));
      fingerprint_.Update(bytes);
    }
    PM_RETURN_IF_ERROR(import_->Refusal());
    return memory_.Grow(static_cast<int64_t>(import_->size() - before) * kImportBytesPerRecord);
  }

  // Records are numbered across the import (records[i]), in a message the runtime
  // refuses too.
  size_t JudgedElementsSoFar() const override {
    return import_ ? static_cast<size_t>(import_->received()) : 0;
  }

  absl::Status OnReadsDone(v1::ImportDemandResponse* response) override {
    if (call_.Cancelled()) return absl::CancelledError("import cancelled");
    if (!import_) {
      // Re-test: a stream without any message was answered OK with every count 0, where
      // the contract (and UploadDefectPhoto) refuse a stream that ends unfinished.
      return runtime::InvalidField(
          "end_of_import",
          "the stream ended before any message: nothing was written (an empty import is "
          "one message with end_of_import set)");
    }
    if (!ended_) {
      // A client that gave up half way may half-close before it cancels (grpc-js does):
      // without the mark the end of the stream is not the end of the import.
      return runtime::InvalidField(
          "end_of_import",
          "the stream ended without a message that sets it: nothing was written (send the "
          "whole import again, end_of_import set in its last message)");
    }
    DemandImportResult result = import_->Counts();
    const std::vector<DemandRecord> records = import_->Records();
    ChangeContext context = service_->Context(call_, first_);
    context.request.payload_sha256 = fingerprint_.HexDigest();
    auto fill = [result](const DemandWriteCounts& counts, v1::ImportDemandResponse* out) {
      DemandImportResult whole = result;
      whole.stored = counts.stored;
      whole.replaced += counts.replaced;
      FillImportResponse(whole, out);
    };
    PM_ASSIGN_OR_RETURN(Replayable<DemandWriteCounts> answer,
                        service_->store_->ImportDemand(
                            records, context,
                            runtime::EncoderOf<v1::ImportDemandResponse, DemandWriteCounts>(fill)));
    return runtime::Answer(answer, response,
                           [&](const DemandWriteCounts& counts) { fill(counts, response); });
  }

 private:
  absl::Status Begin(const v1::ImportDemandRequest& message) {
    // What stands for the stream in the request log and the audit: its options.
    first_.set_request_id(message.request_id());
    first_.set_skip_invalid_records(message.skip_invalid_records());
    call_.SetAuditDetail(first_);
    fingerprint_.Update(first_.skip_invalid_records() ? "skip;" : "all;");
    PM_ASSIGN_OR_RETURN(std::set<std::string> ids, service_->store_->ProductIds());
    import_.emplace(ids, message.skip_invalid_records());
    return absl::OkStatus();
  }

  PlanningServiceImpl* service_;
  runtime::CallContext& call_;
  v1::ImportDemandRequest first_;  // request_id and options, without records
  std::optional<DemandImport> import_;
  bool ended_ = false;          // a message set end_of_import
  common::Sha256 fingerprint_;  // of the options and the records (OnMessage)
  runtime::MemoryBudget::Reservation memory_;
  // Ends the import when its client stops sending (transfer-idle-seconds).
  std::unique_ptr<runtime::TransferWatchdog::Watch> idle_;
};

absl::StatusOr<std::unique_ptr<PlanningServiceImpl::ImportDemandSink>>
PlanningServiceImpl::HandleImportDemand(runtime::CallContext& call) {
  return std::make_unique<DemandImportSink>(this, call);
}

absl::Status PlanningServiceImpl::HandleDeleteDemand(runtime::CallContext& call,
                                                     const v1::DeleteDemandRequest& request,
                                                     v1::DeleteDemandResponse* response) {
  // Any span of the plant calendar: all of a product's demand may go at once.
  PM_ASSIGN_OR_RETURN(DateRange range,
                      MakeDateRange(request.from_date(), request.to_date(),
                                    kLastPlantDay - kFirstPlantDay, "from_date", "to_date"));
  auto fill = [](int64_t deleted, v1::DeleteDemandResponse* out) {
    out->set_records_deleted(deleted);
  };
  PM_ASSIGN_OR_RETURN(
      Replayable<int64_t> answer,
      store_->DeleteDemand(request.product_id(), range.from, range.to, Context(call, request),
                           runtime::EncoderOf<v1::DeleteDemandResponse, int64_t>(fill)));
  return runtime::Answer(answer, response, [&](int64_t deleted) { fill(deleted, response); });
}

absl::Status PlanningServiceImpl::HandleForecastDemand(runtime::CallContext& call,
                                                       const v1::ForecastDemandRequest& request,
                                                       v1::ForecastDemandResponse* response) {
  // Every wrong field in one answer (outside testing: horizon_days 0 hid
  // interval_level_percent 150 until it was fixed).
  runtime::Violations v;
  forecast::ForecastOptions options;
  if (request.horizon_days() < 1 || request.horizon_days() > forecast::kMaxHorizonDays) {
    v.Add("horizon_days", absl::StrCat("must be 1-", forecast::kMaxHorizonDays));
  }
  options.horizon_days = request.horizon_days();
  const double level = request.interval_level_percent();
  if (level != 0 && !(level >= 50 && level <= 99.9)) {
    v.Add("interval_level_percent", "must be 50-99.9, or 0 for 95");
  }
  options.interval_level = level == 0 ? 0.95 : level / 100.0;
  const std::vector<std::string> ids(request.product_ids().begin(), request.product_ids().end());
  auto too_many = [&](size_t products) -> absl::Status {
    if (static_cast<int64_t>(products) * options.horizon_days <= kMaxForecastDays) {
      return absl::OkStatus();
    }
    return runtime::InvalidField(
        ids.empty() ? "product_ids" : "horizon_days",
        absl::StrCat(products, " products × ", options.horizon_days, " days is more than ",
                     kMaxForecastDays, " forecast days per call: ask for fewer products"));
  };
  if (request.product_ids_size() > kMaxForecastProducts) {
    v.Add("product_ids", absl::StrCat("at most ", kMaxForecastProducts, " products"));
  } else if (!ids.empty()) {
    PM_RETURN_IF_ERROR(v.Take(too_many(ids.size())));
    // Unknown products (the store's) named with the request's own faults.
    PM_ASSIGN_OR_RETURN(std::set<std::string> known,
                        store_->ExistingIds(PlanningStore::Catalog::kProducts,
                                            std::set<std::string>(ids.begin(), ids.end())));
    std::set<std::string> seen;
    for (size_t i = 0; i < ids.size(); ++i) {
      const std::string field = absl::StrCat("product_ids[", i, "]");
      if (!seen.insert(ids[i]).second) {
        v.Add(field, "given twice");
      } else if (known.count(ids[i]) == 0) {
        v.Add(field, absl::StrCat("unknown product ", runtime::QuoteForMessage(ids[i])));
      }
    }
  }
  PM_RETURN_IF_ERROR(v.ToStatus());
  // Admitted before the history is read (solve_gate.h): a busy server refuses at once.
  const GateAdmission admission(DemandForecastGate());
  PM_RETURN_IF_ERROR(admission.status());
  // History is what is dated before today; a record from today on is demand to come
  // (ForecastDemand's contract).
  const absl::CivilDay today = PlantToday();
  PM_ASSIGN_OR_RETURN(std::vector<ProductDemandHistory> histories,
                      store_->DemandHistory(ids, forecast::kMaxHistoryDays, today - 1));
  if (ids.empty()) PM_RETURN_IF_ERROR(too_many(histories.size()));
  for (const std::string& id : ids) {
    const bool has = std::any_of(histories.begin(), histories.end(),
                                 [&](const ProductDemandHistory& h) { return h.product_id == id; });
    if (!has) {
      return DemandHistoryInsufficient(
          id, absl::StrCat(" has no demand history dated before today, ", FormatDate(today),
                           " (a record from today on is demand to come)"));
    }
  }
  if (call.Cancelled()) return absl::CancelledError("forecast cancelled");
  runtime::Executor* executor = deps_.executor;
  std::function<void(std::function<void()>)> spawn;
  if (executor != nullptr) {
    spawn = [executor](std::function<void()> task) { executor->Continue(std::move(task)); };
  }
  std::vector<ProductForecastResult> results = ForecastProducts(
      histories, options, spawn, ForecastHelpers(), [&call] { return call.Cancelled(); });
  if (call.Cancelled()) return absl::CancelledError("forecast cancelled");
  for (const ProductForecastResult& result : results) {
    if (!result.forecast.ok()) {
      // A product named by the caller must be forecast; with every product, one that
      // cannot be (under a week of history) is left out.
      const absl::Status& why = result.forecast.status();
      if (!absl::IsFailedPrecondition(why)) return why;
      // Which product (outside testing: the message named none).
      if (!ids.empty()) {
        return DemandHistoryInsufficient(result.product_id, absl::StrCat(": ", why.message()));
      }
      continue;
    }
    ForecastToProto(result, response->add_forecasts());
  }
  return absl::OkStatus();
}

}  // namespace plantmesh::planning
