// What only PgDefectStore can show, against a real PostgreSQL (tests/support): a change,
// its history entry and its outbox event commit in one transaction; constraint
// violations map by name; migration 0003 keeps old request ids. Every behaviour of the
// interface is in the conformance suite (testing/store_conformance.h), which runs against
// this store and the in-memory fake alike.
#include "server/defect/pg_store.h"

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/common/status_macros.h"
#include "server/defect/domain.h"
#include "server/defect/module.h"
#include "server/defect/testing/store_test_helpers.h"
#include "server/runtime/errors.h"
#include "server/runtime/migrations.h"
#include "server/runtime/pg_audit_sink.h"
#include "server/runtime/pg_pool.h"
#include "tests/support/test_servers.h"

namespace plantmesh::defect {
namespace {

using testing::Ctx;
using testing::Draft;
using ::testing::ElementsAre;
using testing::EncodeDefect;
using testing::kT0;
using testing::ValueOf;

class PgDefectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = absl::AsciiStrToLower(absl::StrCat("defect_", info->name()));
    absl::StatusOr<std::string> url = plantmesh::testing::SharedPostgres().CreateDatabase(name);
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    ASSERT_TRUE(runtime::ApplyMigrations(url_, "audit", runtime::AuditMigrations()).ok());
    ASSERT_TRUE(runtime::ApplyMigrations(url_, "defect", EmbeddedMigrations()).ok());
    runtime::PgPoolOptions options;
    options.url = url_;
    options.size = 4;
    options.on_connect.push_back(&PgDefectStore::PrepareStatements);
    absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(options);
    ASSERT_TRUE(pool.ok()) << pool.status();
    pool_ = *std::move(pool);
    store_ = std::make_unique<PgDefectStore>(pool_.get());
    ASSERT_TRUE(store_
                    ->CreateCategory({"PAINT-SCRATCH", "Paint scratch", Severity::kMinor},
                                     Ctx("ops", "CreateDefectCategory", "c1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateCrew({"CREW-A", "Paint repair A", "PAINT"},
                                 Ctx("ops", "CreateCrew", "cr1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateMechanic({"M-1", "Ann", "CREW-A", "spiffe://p/user/m1"},
                                     Ctx("ops", "CreateMechanic", "m1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateRepairPlace({"RP-01", "Bay 1", "PAINT", false, ""},
                                        Ctx("ops", "CreateRepairPlace", "p1"), nullptr)
                    .ok());
    ASSERT_TRUE(store_
                    ->CreateRepairPlace({"RP-02", "Bay 2", "PAINT", false, ""},
                                        Ctx("ops", "CreateRepairPlace", "p2"), nullptr)
                    .ok());
  }

  Defect Create(const std::string& vin) {
    absl::StatusOr<Defect> d = ValueOf(store_->CreateDefect(
        Draft(vin), Ctx("op", "CreateDefect", "req-" + vin, kT0, "hash-" + vin), EncodeDefect));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : Defect{};
  }

  absl::StatusOr<Defect> AssignTo(int64_t id, const std::string& place) {
    return ValueOf(store_->MutateDefect(
        id, Ctx("foreman", "AssignDefect", "", kT0, place), AssignFacts({place, "M-1"}),
        [&](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, Assign(current, {place, "M-1"}, "foreman", kT0));
          PM_RETURN_IF_ERROR(CheckAssignTargets({place, "M-1"}, facts));
          return Mutation{after, ChangeType::kAssigned, ""};
        },
        EncodeDefect));
  }

  absl::StatusOr<Defect> Start(int64_t id) {
    return ValueOf(store_->MutateDefect(
        id, Ctx("m1", "StartRepair"), StartRepairFacts(),
        [](const Defect& current, const DefectFacts& facts) -> absl::StatusOr<Mutation> {
          PM_ASSIGN_OR_RETURN(Defect after, StartRepair(current, "m1", kT0));
          PM_RETURN_IF_ERROR(CheckRepairPlaceFree(current, facts));
          return Mutation{after, ChangeType::kRepairStarted, ""};
        },
        EncodeDefect));
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::nontransaction tx(conn);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  std::string url_;
  std::unique_ptr<runtime::PgPool> pool_;
  std::unique_ptr<PgDefectStore> store_;
};

TEST_F(PgDefectStoreTest, ChangeHistoryAndOutboxCommitInOneTransaction) {
  Defect d = Create("VIN-1");
  ASSERT_TRUE(AssignTo(d.id, "RP-01").ok());
  ASSERT_TRUE(Start(d.id).ok());
  ASSERT_TRUE(store_
                  ->AddPhoto({d.id, "image/png", 3, std::string(64, 'a'), "a.png", "abc"},
                             Ctx("m1", "UploadDefectPhoto", "ph-1"), nullptr)
                  .ok());
  // An illegal move writes neither.
  EXPECT_EQ(AssignTo(d.id, "RP-02").status().code(), absl::StatusCode::kFailedPrecondition);

  pqxx::connection conn(url_);
  pqxx::nontransaction tx(conn);
  // xmin is the writing transaction: history and outbox rows share it one to one.
  pqxx::result pairs = tx.exec(
      "SELECT h.sequence, h.change_type, h.xmin::text AS hx, o.xmin::text AS ox "
      "FROM defect.history h JOIN defect.outbox o ON o.xmin::text = h.xmin::text "
      "ORDER BY h.sequence");
  ASSERT_EQ(pairs.size(), 4u);
  EXPECT_EQ(Count("SELECT count(*) FROM defect.outbox"), 4);
  std::vector<int> types;
  for (const pqxx::row& r : pairs) types.push_back(r["change_type"].as<int>());
  EXPECT_THAT(types, ElementsAre(1, 3, 4, 9));
  // The defect row and the photo were written by the same transaction as the last entry.
  EXPECT_EQ(tx.exec1("SELECT xmin::text FROM defect.defects")[0].as<std::string>(),
            pairs[3]["hx"].as<std::string>());
  EXPECT_EQ(tx.exec1("SELECT xmin::text FROM defect.photos")[0].as<std::string>(),
            pairs[3]["hx"].as<std::string>());
  // And each request log entry by the transaction of its change.
  EXPECT_EQ(tx.exec1("SELECT xmin::text FROM defect.request_log WHERE request_id = 'ph-1'")[0]
                .as<std::string>(),
            pairs[3]["hx"].as<std::string>());
}

// Unique-constraint violations map by constraint to the domain's reason: the busy-place
// index is the backstop behind the place lock, so it is hit here directly.
TEST_F(PgDefectStoreTest, ConstraintViolationsMapToTheDomainsReasons) {
  Defect a = Create("VIN-A");
  Defect b = Create("VIN-B");
  ASSERT_TRUE(AssignTo(a.id, "RP-01").ok());
  ASSERT_TRUE(AssignTo(b.id, "RP-01").ok());
  ASSERT_TRUE(Start(a.id).ok());
  absl::Status busy = pool_->Run(
      [&](pqxx::connection& conn) {
        pqxx::work tx(conn);
        tx.exec_params0("UPDATE defect.defects SET status = 3 WHERE id = $1", b.id);
        tx.commit();
        return absl::OkStatus();
      },
      PgDefectStore::ConstraintErrors());
  EXPECT_EQ(busy.code(), absl::StatusCode::kFailedPrecondition) << busy;
  EXPECT_EQ(runtime::ErrorInfoOf(busy).reason, "REPAIR_PLACE_BUSY");

  // Every declared constraint exists in the schema (a rename would silently fall back).
  for (const std::string& name : PgDefectStore::ConstraintErrors().names()) {
    EXPECT_EQ(
        Count(absl::StrCat("SELECT (SELECT count(*) FROM pg_constraint c JOIN pg_namespace n "
                           "ON n.oid = c.connamespace WHERE n.nspname = 'defect' AND "
                           "c.conname = '",
                           name,
                           "') + (SELECT count(*) FROM pg_indexes WHERE schemaname = "
                           "'defect' AND indexname = '",
                           name, "')")),
        name == "defects_one_repair_per_place_idx" ? 1 : (absl::EndsWith(name, "_pkey") ? 2 : 1))
        << name;
  }
}

// Migration 0003 carries the request ids recorded before it into the request log: a
// retry spanning the upgrade is still a retry (answered with the resource as it is now).
TEST(PgDefectStoreMigrationTest, RequestIdsRecordedBeforeTheLogStayRetries) {
  absl::StatusOr<std::string> url =
      plantmesh::testing::SharedPostgres().CreateDatabase("defect_request_log_migration");
  ASSERT_TRUE(url.ok()) << url.status();
  std::vector<runtime::Migration> before(EmbeddedMigrations().begin(),
                                         EmbeddedMigrations().begin() + 2);
  ASSERT_TRUE(runtime::ApplyMigrations(*url, "defect", before).ok());
  {
    pqxx::connection conn(*url);
    pqxx::work tx(conn);
    tx.exec0(
        "INSERT INTO defect.categories (code, title, default_severity) VALUES ('C', 'c', 1);"
        "INSERT INTO defect.defects (id, request_id, request_hash, vin, model, zone, station, "
        "category_code, severity, shift, status, reported_by, create_time, update_time) VALUES "
        "(7, 'old-create', 'old-hash', 'V', 'M', 'Z', 'S', 'C', 1, 'A', 1, 'op', now(), now());"
        "INSERT INTO defect.history (defect_id, sequence, change_type, actor, change_time, "
        "request_id) VALUES (7, 1, 1, 'op', now(), 'old-create'), "
        "(7, 2, 2, 'qc', now(), 'old-update')");
    tx.commit();
  }
  ASSERT_TRUE(runtime::ApplyMigrations(*url, "audit", runtime::AuditMigrations()).ok());
  ASSERT_TRUE(runtime::ApplyMigrations(*url, "defect", EmbeddedMigrations()).ok());
  runtime::PgPoolOptions options;
  options.url = *url;
  options.size = 1;
  options.on_connect.push_back(&PgDefectStore::PrepareStatements);
  absl::StatusOr<std::unique_ptr<runtime::PgPool>> pool = runtime::PgPool::Open(options);
  ASSERT_TRUE(pool.ok()) << pool.status();
  PgDefectStore store(pool->get());

  absl::StatusOr<Replayable<Defect>> create = store.CreateDefect(
      Defect{}, Ctx("op", "CreateDefect", "old-create", kT0, "old-hash"), EncodeDefect);
  ASSERT_TRUE(create.ok()) << create.status();
  ASSERT_TRUE(create->value.has_value());
  EXPECT_EQ(create->value->id, 7);
  EXPECT_EQ(store
                .CreateDefect(Defect{}, Ctx("op", "CreateDefect", "old-create", kT0, "new-hash"),
                              EncodeDefect)
                .status()
                .code(),
            absl::StatusCode::kAlreadyExists);
  // Transitions recorded no payload: any payload is the retry, as before.
  absl::StatusOr<Replayable<Defect>> update =
      store.MutateDefect(7, Ctx("qc", "UpdateDefect", "old-update", kT0, "anything"), FactsWanted{},
                         nullptr, EncodeDefect);
  ASSERT_TRUE(update.ok()) << update.status();
  EXPECT_EQ(update->value->id, 7);
  pqxx::connection conn(*url);
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM defect.request_log")[0].as<int>(), 2);
}

}  // namespace
}  // namespace plantmesh::defect
