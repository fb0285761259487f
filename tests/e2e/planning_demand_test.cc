// Demand end to end: plantmesh-server over mTLS with the generated SDK client. Two years
// of daily history for a few products go in by the ImportDemand client stream (again:
// nothing changes; with the same request_id: the first answer), ForecastDemand picks a
// method per product whose backtest beats the seasonal-naive baseline on a seasonal
// series, and bad records refuse the whole import, naming the record's field.
#include <gmock/gmock.h>
#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <cmath>
#include <pqxx/pqxx>
#include <random>

#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "plantmesh/planning/v1/planning_service.pm_client.h"
#include "plantmesh/sdk/status.h"
#include "tests/e2e/mesh.h"

namespace plantmesh::e2e {
namespace {

namespace v1 = ::plantmesh::planning::v1;
using ::testing::Contains;

constexpr int kDays = 730;
const absl::CivilDay kFirstDay(2023, 1, 2);

class PlanningDemandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(MeshOptions{});
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = mesh->release();
    sdk::PlanningClient planner = Planning("planner");
    for (const char* id : {"GRANOLA-500G", "MUESLI-1KG", "OATS-2KG"}) {
      v1::CreateProductRequest product;
      product.mutable_product()->set_id(id);
      product.mutable_product()->set_display_name(id);
      product.mutable_product()->set_unit("pcs");
      ASSERT_TRUE(planner.CreateProduct(product).ok());
    }
  }
  static void TearDownTestSuite() {
    delete mesh_;
    mesh_ = nullptr;
  }

  static sdk::PlanningClient Planning(const std::string& user) {
    absl::StatusOr<sdk::PlanningClient> client =
        sdk::PlanningClient::Connect(mesh_->OptionsFor(user));
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  // Two years of a weekly season with trend and noise: multiplicative for GRANOLA,
  // additive for MUESLI, a small flat series for OATS.
  static std::vector<v1::DemandRecord> History() {
    constexpr double kWeek[7] = {1.3, 1.1, 1.0, 0.95, 0.9, 1.15, 0.6};
    std::mt19937_64 random(42);
    std::normal_distribution<double> noise(0.0, 0.05);
    std::vector<v1::DemandRecord> records;
    for (int t = 0; t < kDays; ++t) {
      const std::string date = absl::FormatCivilTime(kFirstDay + t);
      const double level = 100.0 + 0.05 * t;
      auto add = [&](const char* product, double quantity) {
        v1::DemandRecord r;
        r.set_product_id(product);
        r.set_date(date);
        r.set_quantity(std::max(0.0, std::round(quantity * 100) / 100));
        records.push_back(std::move(r));
      };
      add("GRANOLA-500G", level * kWeek[t % 7] * (1.0 + noise(random)));
      add("MUESLI-1KG", level + 40.0 * (kWeek[t % 7] - 1.0) + 100.0 * noise(random));
      add("OATS-2KG", 20.0 + 20.0 * noise(random));
    }
    return records;
  }

  // Sends `records` in batches of `batch` (request_id in the first message,
  // end_of_import in the last unless `end` is false).
  static absl::StatusOr<v1::ImportDemandResponse> Import(
      const std::vector<v1::DemandRecord>& records, const std::string& request_id,
      bool skip_invalid = false, size_t batch = 1000, bool end = true) {
    sdk::PlanningClient planner = Planning("planner");
    auto stream = planner.ImportDemand();
    for (size_t begin = 0; begin == 0 || begin < records.size(); begin += batch) {
      v1::ImportDemandRequest message;
      if (begin == 0) {
        message.set_request_id(request_id);
        message.set_skip_invalid_records(skip_invalid);
      }
      for (size_t i = begin; i < std::min(records.size(), begin + batch); ++i) {
        *message.add_records() = records[i];
      }
      message.set_end_of_import(end && begin + batch >= records.size());
      if (!stream->Write(message)) break;
    }
    return stream->Finish();
  }

  static int64_t StoredRows() {
    pqxx::connection conn(mesh_->database_url());
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT count(*) FROM planning.demand")[0].as<int64_t>();
  }

  static std::vector<std::string> ViolatedFields(const absl::Status& status) {
    std::vector<std::string> fields;
    for (const sdk::FieldViolationView& v : sdk::FieldViolations(status)) {
      fields.push_back(v.field);
    }
    return fields;
  }

  static Mesh* mesh_;
};

Mesh* PlanningDemandTest::mesh_ = nullptr;

// Runs first (gtest keeps declaration order): the later tests forecast this history.
TEST_F(PlanningDemandTest, ImportTwoYearsThenAgainIsHarmless) {
  const std::vector<v1::DemandRecord> records = History();
  absl::StatusOr<v1::ImportDemandResponse> first = Import(records, "demand-2y");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->records_received(), 3 * kDays);
  EXPECT_EQ(first->records_stored(), 3 * kDays);
  EXPECT_EQ(first->records_replaced(), 0);
  EXPECT_EQ(first->records_rejected(), 0);
  EXPECT_EQ(StoredRows(), 3 * kDays);

  // A retry of the same stream (same request_id): the first answer, nothing written;
  // also when the client splits the same records into other messages (outside testing:
  // 300 records sent as 100 + 200 were taken for another request).
  for (size_t batch : {size_t{1000}, size_t{333}}) {
    absl::StatusOr<v1::ImportDemandResponse> retry = Import(records, "demand-2y", false, batch);
    ASSERT_TRUE(retry.ok()) << retry.status();
    EXPECT_EQ(retry->SerializeAsString(), first->SerializeAsString());
  }
  // ... and when its records carry fields this server does not know (outside testing: such
  // a retry was REQUEST_ID_REUSED; the records are compared as a unary request's payload,
  // runtime::CanonicalPayload, which also counts -0 as 0).
  std::vector<v1::DemandRecord> with_unknown = records;
  for (v1::DemandRecord& record : with_unknown) {
    record.GetReflection()->MutableUnknownFields(&record)->AddVarint(99, 1);
  }
  absl::StatusOr<v1::ImportDemandResponse> retry = Import(with_unknown, "demand-2y");
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->SerializeAsString(), first->SerializeAsString());

  // The same file imported again as a new import: every record replaces itself.
  absl::StatusOr<v1::ImportDemandResponse> again = Import(records, "demand-2y-again");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->records_stored(), 0);
  EXPECT_EQ(again->records_replaced(), 3 * kDays);
  EXPECT_EQ(StoredRows(), 3 * kDays);

  // Same request_id, other records: refused, not replayed.
  std::vector<v1::DemandRecord> changed = records;
  changed[0].set_quantity(1.0);
  EXPECT_EQ(Import(changed, "demand-2y").status().code(), absl::StatusCode::kAlreadyExists);
  // Readers may not import.
  auto stream = Planning("operator").ImportDemand();
  stream->Write(v1::ImportDemandRequest());
  EXPECT_EQ(stream->Finish().status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(PlanningDemandTest, ForecastBeatsTheSeasonalNaiveBaseline) {
  v1::ForecastDemandRequest request;
  request.set_horizon_days(28);
  absl::StatusOr<v1::ForecastDemandResponse> forecast = Planning("manager").ForecastDemand(request);
  ASSERT_TRUE(forecast.ok()) << forecast.status();
  ASSERT_EQ(forecast->forecasts_size(), 3);
  for (const v1::ProductDemandForecast& f : forecast->forecasts()) {
    std::printf(
        "%-13s %-50s sMAPE %6.2f %% (baseline %6.2f %%), MAPE %6.2f %% (baseline %6.2f %%)\n",
        f.product_id().c_str(), v1::ForecastMethod_Name(f.method()).c_str(),
        f.chosen_accuracy().smape_percent(), f.baseline_accuracy().smape_percent(),
        f.chosen_accuracy().mape_percent(), f.baseline_accuracy().mape_percent());
    EXPECT_EQ(f.history_end_date(), absl::FormatCivilTime(kFirstDay + kDays - 1));
    EXPECT_EQ(f.history_days(), kDays);
    ASSERT_EQ(f.days_size(), 28);
    EXPECT_EQ(f.days(0).date(), absl::FormatCivilTime(kFirstDay + kDays));
    EXPECT_DOUBLE_EQ(f.interval_level_percent(), 95.0);
    EXPECT_GT(f.backtest_origins(), 0);
    EXPECT_FALSE(f.explanation().empty());
    for (const v1::DemandForecastDay& d : f.days()) {
      EXPECT_LE(d.lower(), d.quantity());
      EXPECT_GE(d.upper(), d.quantity());
      EXPECT_GE(d.lower(), 0.0);
    }
    if (f.product_id() == "GRANOLA-500G" || f.product_id() == "MUESLI-1KG") {
      EXPECT_NE(f.method(), v1::FORECAST_METHOD_SEASONAL_NAIVE);
      EXPECT_TRUE(f.has_parameters());
      EXPECT_LT(f.chosen_accuracy().smape_percent(), f.baseline_accuracy().smape_percent());
    }
  }
  // One product, another interval level.
  request.add_product_ids("GRANOLA-500G");
  request.set_interval_level_percent(80);
  request.set_horizon_days(366);
  absl::StatusOr<v1::ForecastDemandResponse> one = Planning("operator").ForecastDemand(request);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->forecasts_size(), 1);
  EXPECT_EQ(one->forecasts(0).days_size(), 366);
  EXPECT_DOUBLE_EQ(one->forecasts(0).interval_level_percent(), 80.0);
}

TEST_F(PlanningDemandTest, BadRecordsRefuseTheWholeImport) {
  const int64_t before = StoredRows();
  struct Case {
    std::string product_id, date;
    double quantity;
    std::string field;
  };
  for (const Case& c : {Case{"GRANOLA-500G", "2030-01-01", -1.0, "records[1001].quantity"},
                        Case{"NO-SUCH", "2030-01-01", 1.0, "records[1001].product_id"},
                        Case{"GRANOLA-500G", "2030-02-30", 1.0, "records[1001].date"},
                        Case{"GRANOLA-500G", "01.01.2030", 1.0, "records[1001].date"},
                        Case{"GRANOLA-500G", "2030-01-01", NAN, "records[1001].quantity"},
                        // Outside testing: a demand no plan can hold was stored, and
                        // ProposePlan then failed INTERNAL or planned a negative demand.
                        Case{"GRANOLA-500G", "2030-01-01", 2e9, "records[1001].quantity"},
                        Case{"GRANOLA-500G", "2030-01-01", 1e19, "records[1001].quantity"},
                        // Outside testing: text rules were judged per message, so this was
                        // named records[1], and skip_invalid_records did not cover it.
                        Case{"OATS\x01-2KG", "2030-01-01", 1.0, "records[1001].product_id"},
                        // Outside testing: invalid UTF-8 (which protobuf refuses before the
                        // service sees the message) was named by its index in the message.
                        Case{"OATS-\xff"
                             "2KG",
                             "2030-01-01", 1.0, "records[1001].product_id"}}) {
    // Good records in the first batch; the bad one is the second record of the second.
    std::vector<v1::DemandRecord> records;
    for (int i = 0; i < 1002; ++i) {
      v1::DemandRecord r;
      r.set_product_id("OATS-2KG");
      r.set_date(absl::FormatCivilTime(absl::CivilDay(2031, 1, 1) + i));
      r.set_quantity(5);
      records.push_back(r);
    }
    records[1001].set_product_id(c.product_id);
    records[1001].set_date(c.date);
    records[1001].set_quantity(c.quantity);
    absl::StatusOr<v1::ImportDemandResponse> imported = Import(records, "");
    EXPECT_EQ(imported.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(ViolatedFields(imported.status()), Contains(c.field)) << imported.status();
    EXPECT_EQ(StoredRows(), before) << c.field;
  }
}

// Without skip_invalid_records, every bad record of the message is named (up to 20),
// not only the first (outside testing: 28 bad quantities, one violation).
TEST_F(PlanningDemandTest, EveryBadRecordOfTheMessageIsNamed) {
  std::vector<v1::DemandRecord> records(28);
  for (size_t i = 0; i < records.size(); ++i) {
    records[i].set_product_id("OATS-2KG");
    records[i].set_date(absl::FormatCivilTime(absl::CivilDay(2032, 1, 1) + i));
    records[i].set_quantity(-1);
  }
  const absl::Status refused = Import(records, "").status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  const std::vector<std::string> fields = ViolatedFields(refused);
  EXPECT_THAT(fields, Contains("records[0].quantity"));
  EXPECT_THAT(fields, Contains("records[19].quantity"));
  EXPECT_GE(fields.size(), 20u);
  EXPECT_THAT(std::string(refused.message()), ::testing::HasSubstr("8 more"));
}

TEST_F(PlanningDemandTest, SkipInvalidStoresTheRestAndReportsRejects) {
  std::vector<v1::DemandRecord> records(4);
  records[0].set_product_id("OATS-2KG");
  records[0].set_date("2040-01-01");
  records[0].set_quantity(3);
  records[1].set_product_id("OATS-2KG");
  records[1].set_date("2040-01-02");
  records[1].set_quantity(-3);
  records[2].set_product_id("NO-SUCH");
  records[2].set_date("2040-01-02");
  records[3].set_product_id("OATS\a2KG");  // a control character: the text rules, per record
  records[3].set_date("2040-01-03");
  absl::StatusOr<v1::ImportDemandResponse> imported = Import(records, "", /*skip_invalid=*/true);
  ASSERT_TRUE(imported.ok()) << imported.status();
  EXPECT_EQ(imported->records_received(), 4);
  EXPECT_EQ(imported->records_stored(), 1);
  EXPECT_EQ(imported->records_rejected(), 3);
  ASSERT_EQ(imported->rejects_size(), 3);
  EXPECT_EQ(imported->rejects(0).index(), 1);
  EXPECT_EQ(imported->rejects(0).field(), "quantity");
  EXPECT_EQ(imported->rejects(1).index(), 2);
  EXPECT_EQ(imported->rejects(1).field(), "product_id");
  EXPECT_EQ(imported->rejects(2).index(), 3);
  EXPECT_EQ(imported->rejects(2).field(), "product_id");
  EXPECT_THAT(imported->rejects(2).reason(), ::testing::HasSubstr("U+0007"));
}

TEST_F(PlanningDemandTest, BadForecastRequestsNameTheField) {
  sdk::PlanningClient reader = Planning("manager");
  v1::ForecastDemandRequest request;
  request.set_horizon_days(367);
  EXPECT_THAT(ViolatedFields(reader.ForecastDemand(request).status()), Contains("horizon_days"));
  request.set_horizon_days(7);
  request.add_product_ids("NO-SUCH");
  EXPECT_THAT(ViolatedFields(reader.ForecastDemand(request).status()), Contains("product_ids[0]"));
  request.clear_product_ids();
  request.set_interval_level_percent(100);
  EXPECT_THAT(ViolatedFields(reader.ForecastDemand(request).status()),
              Contains("interval_level_percent"));
}

// Outside testing: "the demand history has 1 days; a forecast needs at least 7" named no
// product. Now the message and a PreconditionFailure (type DEMAND_HISTORY) name it.
TEST_F(PlanningDemandTest, AProductWithTooShortAHistoryIsNamed) {
  v1::CreateProductRequest product;
  product.mutable_product()->set_id("RYE-1KG");
  product.mutable_product()->set_display_name("Rye");
  product.mutable_product()->set_unit("pcs");
  ASSERT_TRUE(Planning("planner").CreateProduct(product).ok());
  v1::DemandRecord record;
  record.set_product_id("RYE-1KG");
  record.set_date(absl::FormatCivilTime(kFirstDay));
  record.set_quantity(5);
  ASSERT_TRUE(Import({record}, "rye-1d").ok());
  v1::ForecastDemandRequest request;
  request.set_horizon_days(1);
  request.add_product_ids("GRANOLA-500G");
  request.add_product_ids("RYE-1KG");
  absl::Status status = Planning("manager").ForecastDemand(request).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("product RYE-1KG: "));
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("at least 7"));
}

// Outside testing: one record dated a century ahead by a typo (2126 for 2026) ended the
// product's forecast window there, so its real history fell outside it and every
// ForecastDemand of it was refused, with nothing in the contract to take the record back.
// History is now what is dated before today (the record is demand to come), and
// DeleteDemand takes a record back.
TEST_F(PlanningDemandTest, ARecordDatedByMistakeIsTakenBackByDeleteDemand) {
  v1::CreateProductRequest product;
  product.mutable_product()->set_id("SPELT-1KG");
  product.mutable_product()->set_display_name("Spelt");
  product.mutable_product()->set_unit("pcs");
  ASSERT_TRUE(Planning("planner").CreateProduct(product).ok());
  std::vector<v1::DemandRecord> records;
  for (int t = 0; t < 90; ++t) {
    v1::DemandRecord r;
    r.set_product_id("SPELT-1KG");
    r.set_date(absl::FormatCivilTime(kFirstDay + t));
    r.set_quantity(10 + t % 7);
    records.push_back(std::move(r));
  }
  const absl::CivilDay typo(kFirstDay.year() + 100, kFirstDay.month(), kFirstDay.day());
  records.back().set_date(absl::FormatCivilTime(typo));
  ASSERT_TRUE(Import(records, "spelt-with-typo").ok());

  v1::ForecastDemandRequest forecast;
  forecast.set_horizon_days(7);
  forecast.add_product_ids("SPELT-1KG");
  absl::StatusOr<v1::ForecastDemandResponse> with_typo =
      Planning("manager").ForecastDemand(forecast);
  ASSERT_TRUE(with_typo.ok()) << with_typo.status();
  ASSERT_EQ(with_typo->forecasts_size(), 1);
  EXPECT_EQ(with_typo->forecasts(0).history_end_date(), absl::FormatCivilTime(kFirstDay + 88));

  v1::DeleteDemandRequest take_back;
  take_back.set_product_id("SPELT-1KG");
  take_back.set_from_date(absl::FormatCivilTime(typo));
  take_back.set_to_date(absl::FormatCivilTime(typo));
  EXPECT_EQ(Planning("operator").DeleteDemand(take_back).status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<v1::DeleteDemandResponse> deleted = Planning("planner").DeleteDemand(take_back);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->records_deleted(), 1);

  absl::StatusOr<v1::ForecastDemandResponse> answered =
      Planning("manager").ForecastDemand(forecast);
  ASSERT_TRUE(answered.ok()) << answered.status();
  ASSERT_EQ(answered->forecasts_size(), 1);
  EXPECT_EQ(answered->forecasts(0).history_end_date(), absl::FormatCivilTime(kFirstDay + 88));

  // Bad ranges name their field; nothing is deleted.
  take_back.set_from_date(absl::FormatCivilTime(kFirstDay + 10));
  take_back.set_to_date(absl::FormatCivilTime(kFirstDay + 9));
  EXPECT_THAT(ViolatedFields(Planning("planner").DeleteDemand(take_back).status()),
              Contains("to_date"));
  take_back.set_from_date("2026-02-30");
  EXPECT_THAT(ViolatedFields(Planning("planner").DeleteDemand(take_back).status()),
              Contains("from_date"));
  take_back.set_product_id("NO-SUCH");
  take_back.set_from_date(absl::FormatCivilTime(kFirstDay));
  EXPECT_THAT(ViolatedFields(Planning("planner").DeleteDemand(take_back).status()),
              Contains("product_id"));
}

// Outside testing: a grpc-js client that cancelled an import half way half-closed the
// stream first (Node's HTTP/2 stream.close does), the server took that for the end of a
// whole import and stored its first part under the request_id, so the whole import sent
// again was REQUEST_ID_REUSED. The import's last message now says so (end_of_import).
TEST_F(PlanningDemandTest, AStreamThatEndsWithoutEndOfImportWritesNothing) {
  const int64_t before = StoredRows();
  std::vector<v1::DemandRecord> records;
  for (int t = 0; t < 30; ++t) {
    v1::DemandRecord r;
    r.set_product_id("OATS-2KG");
    r.set_date(absl::FormatCivilTime(kFirstDay + 2000 + t));
    r.set_quantity(3);
    records.push_back(std::move(r));
  }
  // The first 20 records, then the stream ends (half-closed) without the mark.
  const std::vector<v1::DemandRecord> part(records.begin(), records.begin() + 20);
  absl::StatusOr<v1::ImportDemandResponse> cut =
      Import(part, "oats-cut", /*skip_invalid=*/false, /*batch=*/10, /*end=*/false);
  EXPECT_THAT(ViolatedFields(cut.status()), Contains("end_of_import")) << cut.status();
  EXPECT_EQ(StoredRows(), before);

  // The whole import under the same request_id is the first one to be written.
  absl::StatusOr<v1::ImportDemandResponse> whole = Import(records, "oats-cut", false, 10);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(whole->records_stored(), 30);
  EXPECT_EQ(StoredRows(), before + 30);

  // Nothing may follow the message that ends the import.
  auto stream = Planning("planner").ImportDemand();
  v1::ImportDemandRequest message;
  *message.add_records() = records[0];
  message.set_end_of_import(true);
  ASSERT_TRUE(stream->Write(message));
  message.clear_end_of_import();
  stream->Write(message);
  EXPECT_THAT(ViolatedFields(stream->Finish().status()), Contains("end_of_import"));
  EXPECT_EQ(StoredRows(), before + 30);

  // Re-test: a stream without any message was answered OK; one message that ends the
  // import, without records, is the empty import.
  stream = Planning("planner").ImportDemand();
  EXPECT_THAT(ViolatedFields(stream->Finish().status()), Contains("end_of_import"));
  stream = Planning("planner").ImportDemand();
  v1::ImportDemandRequest empty;
  empty.set_end_of_import(true);
  ASSERT_TRUE(stream->Write(empty));
  absl::StatusOr<v1::ImportDemandResponse> none = stream->Finish();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->records_stored(), 0);
  EXPECT_EQ(StoredRows(), before + 30);
}

}  // namespace
}  // namespace plantmesh::e2e
