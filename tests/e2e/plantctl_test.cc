// plantctl against a live server: the defect lifecycle through the command line (JSON
// output parsed), exit codes that scripts can rely on, table and CSV output, and a
// config file per user.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/mesh.h"
#include "tests/support/child_process.h"

#ifndef PLANTCTL_BIN
#error "PLANTCTL_BIN must be defined by CMake"
#endif

namespace plantmesh::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  nlohmann::json Json() const {
    nlohmann::json parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << out << "\nstderr: " << err;
    return parsed;
  }
};

class PlantctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start();
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = mesh->release();
    ASSERT_TRUE(mesh_->SeedReferenceData().ok());
    absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("plantctl-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = new std::string(*dir);
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
    delete mesh_;
  }

  // plantctl as `user` with connection flags, JSON output unless args choose another.
  CliRun Plantctl(const std::string& user, const std::vector<std::string>& args,
                  const std::string& output = "json") {
    sdk::ClientOptions options = mesh_->OptionsFor(user);
    std::vector<std::string> argv = {
        PLANTCTL_BIN,      "--endpoint", options.endpoint, "--ca", options.ca_file, "--cert",
        options.cert_file, "--key",      options.key_file, "-o",   output};
    argv.insert(argv.end(), args.begin(), args.end());
    return Exec(argv, {});
  }

  CliRun Exec(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    static int counter = 0;
    std::string out = absl::StrCat(*dir_, "/out.", counter);
    std::string err = absl::StrCat(*dir_, "/err.", counter++);
    // HOME points at the scratch directory: no personal config file is read.
    std::vector<std::string> environment = env;
    environment.insert(environment.end(), {"HOME=" + *dir_, "PLANTCTL_CONFIG="});
    testing::internal::SpawnOptions spawn = testing::internal::Command(argv, out);
    spawn.stderr_file = err;
    spawn.env = environment;
    absl::StatusOr<pid_t> pid = testing::internal::Spawn(spawn);
    CliRun run;
    if (!pid.ok()) {
      ADD_FAILURE() << pid.status();
      return run;
    }
    absl::StatusOr<int> code = testing::internal::WaitForExit(*pid, absl::Seconds(60));
    EXPECT_TRUE(code.ok()) << "plantctl hung";
    run.exit_code = code.ok() ? *code : -1;
    run.out = testing::internal::ReadFileOrEmpty(out);
    run.err = testing::internal::ReadFileOrEmpty(err);
    return run;
  }

  static Mesh* mesh_;
  static std::string* dir_;
};
Mesh* PlantctlTest::mesh_ = nullptr;
std::string* PlantctlTest::dir_ = nullptr;

std::string Identity(const std::string& user) {
  return absl::StrCat("spiffe://", testing::TestPki::kTrustDomain, "/user/", user);
}

TEST_F(PlantctlTest, LifecycleThroughTheCommandLine) {
  CliRun created = Plantctl(
      "otto", {"defect", "create-defect", "--defect.vin", "VIN-CLI-1", "--defect.model",
               "SEDAN-2.0", "--defect.zone", "PAINT", "--defect.station", "P-07",
               "--defect.category_code", "PAINT-SCRATCH", "--defect.severity", "major",
               "--defect.shift", "2026-11-21/A", "--defect.description", "Scratch on the hood"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  nlohmann::json defect = created.Json()["defect"];
  const std::string id = defect.value("id", "");
  ASSERT_FALSE(id.empty()) << created.out;
  EXPECT_EQ(defect.value("status", ""), "DEFECT_STATUS_REPORTED");
  EXPECT_EQ(defect.value("severity", ""), "SEVERITY_MAJOR");

  CliRun assigned = Plantctl("anna", {"defect", "assign-defect", "--id", id, "--repair_place_id",
                                      "RP-01", "--mechanic_id", "M-107"});
  ASSERT_EQ(assigned.exit_code, 0) << assigned.err;
  EXPECT_EQ(assigned.Json()["defect"].value("status", ""), "DEFECT_STATUS_ASSIGNED");

  CliRun started = Plantctl("mike", {"defect", "start-repair", "--id", id});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  CliRun finished = Plantctl("mike", {"defect", "finish-repair", "--id", id, "--work_done",
                                      "Polished and sealed", "--labor_minutes", "20"});
  ASSERT_EQ(finished.exit_code, 0) << finished.err;
  EXPECT_EQ(finished.Json()["defect"].value("status", ""), "DEFECT_STATUS_REPAIRED");

  CliRun verified =
      Plantctl("quinn", {"defect", "verify-repair", "--id", id, "--decision", "accept"});
  ASSERT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_EQ(verified.Json()["defect"].value("status", ""), "DEFECT_STATUS_CLOSED");

  CliRun history = Plantctl("otto", {"defect", "get-defect-history", "--id", id});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  std::vector<std::pair<std::string, std::string>> steps;
  const nlohmann::json entries = history.Json()["entries"];
  for (const nlohmann::json& entry : entries) {
    steps.emplace_back(entry.value("change_type", ""), entry.value("actor", ""));
  }
  std::vector<std::pair<std::string, std::string>> expected = {
      {"CHANGE_TYPE_REPORTED", Identity("otto")},
      {"CHANGE_TYPE_ASSIGNED", Identity("anna")},
      {"CHANGE_TYPE_REPAIR_STARTED", Identity("mike")},
      {"CHANGE_TYPE_REPAIR_FINISHED", Identity("mike")},
      {"CHANGE_TYPE_REPAIR_ACCEPTED", Identity("quinn")}};
  EXPECT_EQ(steps, expected);
}

TEST_F(PlantctlTest, PermissionDeniedExitsWith17AndNamesTheRoles) {
  CliRun denied = Plantctl("otto", {"defect", "assign-defect", "--id", "1", "--repair_place_id",
                                    "RP-01", "--mechanic_id", "M-107"});
  EXPECT_EQ(denied.exit_code, 17) << denied.out << denied.err;  // 10 + PERMISSION_DENIED
  EXPECT_THAT(denied.err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(denied.err, HasSubstr("foreman"));
  EXPECT_TRUE(denied.out.empty()) << denied.out;
}

TEST_F(PlantctlTest, InvalidArgumentExitsWith13AndNamesTheField) {
  CliRun refused =
      Plantctl("otto", {"defect", "create-defect", "--defect.vin", "not a vin", "--defect.model",
                        "M", "--defect.zone", "PAINT", "--defect.station", "S",
                        "--defect.category_code", "PAINT-SCRATCH", "--defect.shift", "A"});
  EXPECT_EQ(refused.exit_code, 13) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("defect.vin"));
}

TEST_F(PlantctlTest, CsvOutputHasAHeaderAndOneRowPerDefect) {
  for (const char* vin : {"VIN-CSV-1", "VIN-CSV-2"}) {
    ASSERT_EQ(Plantctl("otto", {"defect", "create-defect", "--defect.vin", vin, "--defect.model",
                                "M", "--defect.zone", "CSVZONE", "--defect.station", "S",
                                "--defect.category_code", "PAINT-SCRATCH", "--defect.shift", "A"})
                  .exit_code,
              0);
  }
  CliRun csv = Plantctl("manager", {"defect", "list-defects", "--zone", "CSVZONE"}, "csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  std::vector<std::string> lines = absl::StrSplit(csv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << csv.out;
  EXPECT_THAT(lines[0], StartsWith("id,vin,model,zone,station,category_code,severity"));
  EXPECT_THAT(csv.out, HasSubstr("VIN-CSV-1"));
  EXPECT_THAT(csv.out, HasSubstr("VIN-CSV-2"));

  CliRun table = Plantctl("manager", {"defect", "list-defects", "--zone", "CSVZONE"}, "table");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, StartsWith("id"));
  EXPECT_THAT(table.out, HasSubstr("VIN-CSV-2"));
}

TEST_F(PlantctlTest, ConfigFileFromConfigInitIsUsed) {
  // `config init` writes the connection flags to the default path under $HOME; later
  // calls without flags use it.
  sdk::ClientOptions anna = mesh_->OptionsFor("anna");
  const std::string home = *dir_ + "/home-anna";
  std::filesystem::create_directories(home);
  CliRun init = Exec({PLANTCTL_BIN, "--endpoint", anna.endpoint, "--ca", anna.ca_file, "--cert",
                      anna.cert_file, "--key", anna.key_file, "config", "init"},
                     {"HOME=" + home});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_TRUE(std::filesystem::exists(home + "/.config/plantmesh/plantctl.toml"));
  CliRun me = Exec({PLANTCTL_BIN, "-o", "json", "system", "who-am-i"}, {"HOME=" + home});
  ASSERT_EQ(me.exit_code, 0) << me.err;
  EXPECT_EQ(me.Json().value("identity", ""), Identity("anna"));
}

}  // namespace
}  // namespace plantmesh::e2e
