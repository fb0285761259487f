// plantctl against a live server: the defect lifecycle through the command line (JSON
// output parsed), exit codes that scripts can rely on, table and CSV output, and a
// config file per user.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cli/output.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"
#include "tests/e2e/shared_mesh_test.h"
#include "tests/support/child_process.h"
#include "tests/support/loopback.h"
#include "tests/support/poll.h"

#ifndef PLANTCTL_BIN
#error "PLANTCTL_BIN must be defined by CMake"
#endif

namespace plantmesh::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
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

class PlantctlTest : public SharedMeshTest {
 protected:
  static void SetUpTestSuite() {
    StartSharedMesh(/*seed_reference_data=*/true);
    if (HasFatalFailure()) return;
    absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("plantctl-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = new std::string(*dir);
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) {  // null when the set-up failed
      std::error_code ignored;
      std::filesystem::remove_all(*dir_, ignored);
      delete dir_;
      dir_ = nullptr;
    }
    SharedMeshTest::TearDownTestSuite();
  }

  // plantctl as `user` with connection flags, JSON output unless args choose another.
  CliRun Plantctl(const std::string& user, const std::vector<std::string>& args,
                  const std::string& output = "json") {
    return Exec(PlantctlArgv(user, args, output), {});
  }

  // A telemetry client as ops, with `machine_id` registered: one SAMPLE item, Xload.
  static absl::StatusOr<sdk::TelemetryClient> OpsWithMachine(const std::string& machine_id) {
    absl::StatusOr<sdk::TelemetryClient> ops =
        sdk::TelemetryClient::Connect(mesh_->OptionsFor("ops"));
    if (!ops.ok()) return ops.status();
    telemetry::v1::RegisterMachineRequest request;
    request.mutable_machine()->set_id(machine_id);
    telemetry::v1::DataItem* item = request.mutable_machine()->add_data_items();
    item->set_id("Xload");
    item->set_category(telemetry::v1::DATA_ITEM_CATEGORY_SAMPLE);
    item->set_type(telemetry::v1::DATA_ITEM_TYPE_OTHER);
    if (auto registered = ops->RegisterMachine(request); !registered.ok()) {
      return registered.status();
    }
    return ops;
  }

  // The argv of plantctl as `user` with connection flags and the output format.
  static std::vector<std::string> PlantctlArgv(const std::string& user,
                                               const std::vector<std::string>& args,
                                               const std::string& output = "json") {
    sdk::ClientOptions options = mesh_->OptionsFor(user);
    std::vector<std::string> argv = {
        PLANTCTL_BIN,      "--endpoint", options.endpoint, "--ca", options.ca_file, "--cert",
        options.cert_file, "--key",      options.key_file, "-o",   output};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  // A running plantctl whose stdout and stderr go to files.
  struct Background {
    pid_t pid = -1;
    std::string out;
    std::string err;
  };

  Background StartInBackground(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env) {
    static int counter = 0;
    Background run;
    run.out = absl::StrCat(*dir_, "/out.", counter);
    run.err = absl::StrCat(*dir_, "/err.", counter++);
    // HOME points at the scratch directory: no personal config file is read.
    std::vector<std::string> environment = env;
    environment.insert(environment.end(), {"HOME=" + *dir_, "PLANTCTL_CONFIG="});
    testing::internal::SpawnOptions spawn = testing::internal::Command(argv, run.out);
    spawn.stderr_file = run.err;
    spawn.env = environment;
    absl::StatusOr<pid_t> pid = testing::internal::Spawn(spawn);
    if (!pid.ok()) {
      ADD_FAILURE() << pid.status();
    } else {
      run.pid = *pid;
    }
    return run;
  }

  // plantctl `args` as otto against a listener that accepts and never answers, sent
  // SIGINT once it connected: its exit code (-1 when it went on) and stderr.
  CliRun CtrlCOnceConnectedToASilentServer(const std::vector<std::string>& args) {
    CliRun result;
    int port = 0;
    const int silent = testing::ListenOnLoopback(&port);
    EXPECT_GE(silent, 0) << std::strerror(errno);
    if (silent < 0) return result;
    std::vector<std::string> argv = PlantctlArgv("otto", args);
    argv[2] = absl::StrCat("127.0.0.1:", port);  // --endpoint's value
    Background run = StartInBackground(argv, {});
    int connection = -1;
    const bool connected = testing::PollUntil(
        [&] {
          connection = ::accept4(silent, nullptr, nullptr, SOCK_NONBLOCK);
          return connection >= 0;
        },
        absl::Seconds(30));
    EXPECT_TRUE(connected) << "never connected: " << testing::internal::ReadFileOrEmpty(run.err);
    if (run.pid > 0 && ::kill(run.pid, SIGINT) == 0) {
      absl::StatusOr<int> code = testing::internal::WaitForExit(run.pid, absl::Seconds(20));
      EXPECT_TRUE(code.ok()) << "went on after Ctrl-C";
      if (code.ok()) {
        result.exit_code = *code;
      } else {
        testing::internal::SignalGroup(run.pid, SIGKILL);
        (void)testing::internal::WaitForExit(run.pid, absl::Seconds(10));
      }
    }
    if (connection >= 0) ::close(connection);
    ::close(silent);
    result.err = testing::internal::ReadFileOrEmpty(run.err);
    return result;
  }

  CliRun Exec(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    Background started = StartInBackground(argv, env);
    CliRun run;
    if (started.pid < 0) return run;
    absl::StatusOr<int> code = testing::internal::WaitForExit(started.pid, absl::Seconds(60));
    EXPECT_TRUE(code.ok()) << "plantctl hung";
    run.exit_code = code.ok() ? *code : -1;
    run.out = testing::internal::ReadFileOrEmpty(started.out);
    run.err = testing::internal::ReadFileOrEmpty(started.err);
    return run;
  }

  static std::string* dir_;
};
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

// Issue 7: help and checks from the contract's field behaviour, through the real binary.
TEST_F(PlantctlTest, RequiredFlagsAreMarkedAndCheckedBeforeTheCall) {
  CliRun help = Plantctl("otto", {"defect", "create-defect", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_THAT(help.out, HasSubstr("Required request fields:"));
  EXPECT_THAT(help.out, Not(HasSubstr("--defect.status")));
  EXPECT_THAT(help.out, Not(HasSubstr("--defect.etag")));

  CliRun missing = Plantctl(
      "otto", {"defect", "create-defect", "--defect.vin", "VIN-REQ-1", "--defect.zone", "REQZONE"});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;  // usage: nothing was sent
  EXPECT_THAT(missing.err, HasSubstr("missing required flags --defect.model, --defect.station, "
                                     "--defect.category_code, --defect.shift"));
  CliRun listed = Plantctl("manager", {"defect", "list-defects", "--zone", "REQZONE"}, "csv");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, Not(HasSubstr("VIN-REQ-1")));

  // Repeated enums as a comma list or repeated flags, against the server.
  ASSERT_EQ(
      Plantctl("otto", {"defect", "create-defect", "--defect.vin", "VIN-REQ-2", "--defect.model",
                        "M", "--defect.zone", "REQZONE", "--defect.station", "S",
                        "--defect.category_code", "PAINT-SCRATCH", "--defect.shift", "A"})
          .exit_code,
      0);
  for (const std::vector<std::string>& statuses :
       {std::vector<std::string>{"--statuses", "cancelled,reported"},
        std::vector<std::string>{"--statuses", "cancelled", "--statuses", "reported"}}) {
    std::vector<std::string> args = {"defect", "list-defects", "--zone", "REQZONE"};
    args.insert(args.end(), statuses.begin(), statuses.end());
    CliRun list = Plantctl("manager", args, "csv");
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_THAT(list.out, HasSubstr("VIN-REQ-2")) << absl::StrJoin(statuses, " ");
  }
  CliRun closed_only = Plantctl(
      "manager", {"defect", "list-defects", "--zone", "REQZONE", "--statuses", "closed"}, "csv");
  ASSERT_EQ(closed_only.exit_code, 0) << closed_only.err;
  EXPECT_THAT(closed_only.out, Not(HasSubstr("VIN-REQ-2")));
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

// Reports `count` defects in `zone` through the SDK (plantctl is what is under test,
// not the way they got there), on a few connections at once; returns their ids.
std::vector<std::string> ReportDefects(const Mesh& mesh, const std::string& zone, int count) {
  constexpr int kWorkers = 4;
  std::vector<std::vector<std::string>> ids(kWorkers);
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      sdk::DefectClient client = mesh.Defects("otto");
      for (int i = w; i < count; i += kWorkers) {
        defect::v1::CreateDefectRequest request;
        *request.mutable_defect() = SampleDefect(absl::StrCat("VIN-", zone, "-", i));
        request.mutable_defect()->set_zone(zone);
        auto created = client.CreateDefect(request);
        EXPECT_TRUE(created.ok()) << Describe(created.status());
        if (created.ok()) ids[w].push_back(created->defect().id());
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  std::vector<std::string> all;
  for (const auto& part : ids) all.insert(all.end(), part.begin(), part.end());
  return all;
}

// The complete lines of `text` (a partly written last line is left out).
std::vector<std::string> CompleteLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

TEST_F(PlantctlTest, PagingThroughAThousandDefectsSeesEachOnce) {
  constexpr int kDefects = 1000;
  std::vector<std::string> created = ReportDefects(*mesh_, "PAGEZONE", kDefects);
  ASSERT_EQ(created.size(), static_cast<size_t>(kDefects));

  std::map<std::string, int> seen;
  std::string token;
  int pages = 0;
  do {
    std::vector<std::string> args = {"defect",   "list-defects", "--zone",
                                     "PAGEZONE", "--page_size",  "100"};
    if (!token.empty()) args.insert(args.end(), {"--page_token", token});
    CliRun page = Plantctl("manager", args);
    nlohmann::json response = page.Json();
    ASSERT_LE(response["defects"].size(), 100u);
    for (const nlohmann::json& defect : response["defects"]) ++seen[defect.value("id", "")];
    token = response.value("next_page_token", "");
    // A page with more after it is not a complete listing: exit code 3 says so.
    ASSERT_EQ(page.exit_code, token.empty() ? 0 : 3) << page.err;
    ASSERT_LT(++pages, 20) << "paging does not end";
  } while (!token.empty());

  EXPECT_EQ(pages, 10);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kDefects));
  for (const std::string& id : created) EXPECT_EQ(seen[id], 1) << "defect " << id;

  // In table form the token is a note on stderr, so stdout stays a clean table.
  CliRun table = Plantctl(
      "manager", {"defect", "list-defects", "--zone", "PAGEZONE", "--page_size", "100"}, "table");
  ASSERT_EQ(table.exit_code, 3) << table.err;
  EXPECT_THAT(table.err, HasSubstr("next_page_token: "));
  EXPECT_THAT(table.out, ::testing::Not(HasSubstr("next_page_token")));
}

// The README's `plantctl -o csv defect list-defects --all > all.csv`: every row once,
// one header, streamed over several pages; without --all the truncation cannot be
// missed (exit code 3, a last stderr line naming --all and the next --page_token).
TEST_F(PlantctlTest, ListsAreCompleteWithAllOrSayTheyAreNot) {
  constexpr int kDefects = 250;  // three pages of the default 100
  std::vector<std::string> created = ReportDefects(*mesh_, "ALLZONE", kDefects);
  ASSERT_EQ(created.size(), static_cast<size_t>(kDefects));
  const std::vector<std::string> list = {"defect", "list-defects", "--zone", "ALLZONE"};

  CliRun truncated = Plantctl("manager", list, "csv");
  EXPECT_EQ(truncated.exit_code, 3) << truncated.err;
  std::vector<std::string> lines = absl::StrSplit(truncated.out, "\r\n", absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u + 100u);
  std::vector<std::string> notes = absl::StrSplit(truncated.err, '\n', absl::SkipEmpty());
  ASSERT_FALSE(notes.empty());
  EXPECT_THAT(notes.back(), StartsWith("plantctl: more rows: use --all for every page, or "
                                       "--page_token "));
  // The token it names continues the listing.
  const std::string marker = "--page_token ";
  const size_t at = notes.back().find(marker) + marker.size();
  const std::string token = notes.back().substr(at, notes.back().find(' ', at) - at);
  std::vector<std::string> next_args = list;
  next_args.insert(next_args.end(), {"--page_token", token});
  CliRun next = Plantctl("manager", next_args);
  EXPECT_EQ(next.exit_code, 3) << next.err;
  EXPECT_EQ(next.Json()["defects"].size(), 100u);

  std::vector<std::string> all_args = list;
  all_args.push_back("--all");
  CliRun csv = Plantctl("manager", all_args, "csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.err, ::testing::Not(HasSubstr("more rows")));
  EXPECT_THAT(csv.err, ::testing::Not(HasSubstr("pages"))) << "progress without a terminal";
  // The first page's watch_cursor (the one consistent with the listing), once.
  std::vector<std::string> csv_notes = absl::StrSplit(csv.err, '\n', absl::SkipEmpty());
  ASSERT_EQ(csv_notes.size(), 1u) << csv.err;
  EXPECT_THAT(csv_notes[0], StartsWith("watch_cursor: "));
  lines = absl::StrSplit(csv.out, "\r\n", absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u + kDefects);
  EXPECT_THAT(lines[0], StartsWith("id,"));
  std::map<std::string, int> seen;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_THAT(lines[i], ::testing::Not(StartsWith("id,"))) << "a second header";
    ++seen[lines[i].substr(0, lines[i].find(','))];
  }
  for (const std::string& id : created) EXPECT_EQ(seen[id], 1) << "defect " << id;

  // JSON: one object per page, without the token the reader has no use for.
  CliRun json = Plantctl("manager", all_args, "json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  size_t rows = 0;
  int pages = 0;
  for (absl::string_view line : absl::StrSplit(json.out, '\n', absl::SkipEmpty())) {
    nlohmann::json page = nlohmann::json::parse(line);
    EXPECT_FALSE(page.contains("next_page_token")) << line;
    EXPECT_EQ(page.contains("watch_cursor"), pages == 0) << line;
    rows += page["defects"].size();
    ++pages;
  }
  EXPECT_EQ(rows, static_cast<size_t>(kDefects));
  EXPECT_EQ(pages, 3);

  // With stderr on a terminal (script(1) gives it one), progress is shown there, while
  // stdout (a file) gets only the rows.
  std::string command;
  for (const std::string& arg : PlantctlArgv("manager", all_args, "csv")) {
    command += "'" + arg + "' ";
  }
  const std::string rows_file = *dir_ + "/all.csv";
  command += "> '" + rows_file + "'";
  CliRun tty = Exec({"script", "-qec", command, "/dev/null"}, {});
  ASSERT_EQ(tty.exit_code, 0) << tty.out << tty.err;
  EXPECT_THAT(tty.out, HasSubstr("plantctl: 250 rows, 3 pages"));
  lines = absl::StrSplit(testing::internal::ReadFileOrEmpty(rows_file), "\r\n", absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u + kDefects);
}

TEST_F(PlantctlTest, WatchResumedFromTheLastCursorDeliversEveryEventOnce) {
  // One watch run: plantctl streaming JSON lines into a file until SIGINT.
  struct WatchRun {
    Background process;
    std::vector<nlohmann::json> events;  // complete lines parsed so far
  };
  auto start_watch = [&](const std::string& cursor) {
    WatchRun run;
    run.process = StartInBackground(PlantctlArgv("manager", {"defect", "watch-defects", "--zone",
                                                             "WATCHZONE", "--cursor", cursor}),
                                    {});
    return run;
  };
  auto read_events = [](WatchRun* run) {
    run->events.clear();
    for (const std::string& line :
         CompleteLines(testing::internal::ReadFileOrEmpty(run->process.out))) {
      nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
      EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
      if (!parsed.is_discarded()) run->events.push_back(parsed["event"]);
    }
  };
  auto vins_of = [](const std::vector<nlohmann::json>& events) {
    std::set<std::string> vins;
    for (const nlohmann::json& event : events) {
      if (event.value("change_type", "") == "CHANGE_TYPE_REPORTED") {
        vins.insert(event["defect"].value("vin", ""));
      }
    }
    return vins;
  };
  // Waits (polling the output file) until every VIN in `vins` has been reported.
  auto await_vins = [&](WatchRun* run, const std::set<std::string>& vins) {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      read_events(run);
      std::set<std::string> got = vins_of(run->events);
      if (std::includes(got.begin(), got.end(), vins.begin(), vins.end())) return true;
      int code = 0;
      if (testing::internal::HasExited(run->process.pid, &code)) {
        ADD_FAILURE() << "watch exited with " << code << ": "
                      << testing::internal::ReadFileOrEmpty(run->process.err);
        run->process.pid = -1;
        return false;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "events did not arrive; got:\n"
                  << testing::internal::ReadFileOrEmpty(run->process.out);
    return false;
  };
  auto interrupt = [&](WatchRun* run) {
    if (run->process.pid < 0) return;
    testing::internal::SignalGroup(run->process.pid, SIGINT);
    absl::StatusOr<int> code = testing::internal::WaitForExit(run->process.pid, absl::Seconds(20));
    ASSERT_TRUE(code.ok()) << "plantctl ignored SIGINT";
    EXPECT_EQ(*code, 0) << testing::internal::ReadFileOrEmpty(run->process.err);
    read_events(run);
  };
  auto report = [&](const std::string& vin) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(vin);
    request.mutable_defect()->set_zone("WATCHZONE");
    auto created = mesh_->Defects("otto").CreateDefect(request);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return created.ok() ? created->defect().id() : std::string();
  };

  // From the oldest retained change, so nothing made after the start can be missed
  // whenever the stream becomes established.
  WatchRun first = start_watch("0");
  std::set<std::string> first_vins;
  std::string cancelled_id;
  for (int i = 0; i < 5; ++i) first_vins.insert(absl::StrCat("VIN-WATCH-A", i));
  for (const std::string& vin : first_vins) {
    std::string id = report(vin);
    if (cancelled_id.empty()) cancelled_id = id;
  }
  ASSERT_TRUE(await_vins(&first, first_vins));
  interrupt(&first);
  ASSERT_FALSE(first.events.empty());
  const std::string last_cursor = first.events.back().value("cursor", "");
  ASSERT_FALSE(last_cursor.empty()) << first.events.back().dump();

  // Changes while nobody watches, then resume from the last cursor seen.
  std::set<std::string> second_vins;
  for (int i = 0; i < 5; ++i) second_vins.insert(absl::StrCat("VIN-WATCH-B", i));
  for (const std::string& vin : second_vins) report(vin);
  defect::v1::CancelDefectRequest cancel;
  cancel.set_id(cancelled_id);
  cancel.set_reason("Reported twice");
  auto cancelled = mesh_->Defects("anna").CancelDefect(cancel);
  ASSERT_TRUE(cancelled.ok()) << Describe(cancelled.status());

  WatchRun second = start_watch(last_cursor);
  std::set<std::string> resumed_vins = second_vins;
  ASSERT_TRUE(await_vins(&second, resumed_vins));
  // The cancellation came after the five reports: wait for it too.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  auto has_cancel = [&] {
    for (const nlohmann::json& event : second.events) {
      if (event.value("change_type", "") == "CHANGE_TYPE_CANCELLED") return true;
    }
    return false;
  };
  while (!has_cancel() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    read_events(&second);
  }
  EXPECT_TRUE(has_cancel()) << testing::internal::ReadFileOrEmpty(second.process.out);
  interrupt(&second);

  std::map<std::string, int> deliveries;
  for (const auto* events : {&first.events, &second.events}) {
    for (const nlohmann::json& event : *events) ++deliveries[event.value("event_id", "")];
  }
  for (const auto& [event_id, count] : deliveries) {
    EXPECT_FALSE(event_id.empty());
    EXPECT_EQ(count, 1) << "event " << event_id << " delivered " << count << " times";
  }
  // Every change of this test, exactly the ones made: 10 reports and 1 cancellation.
  EXPECT_EQ(deliveries.size(), 11u);
  EXPECT_EQ(vins_of(first.events), first_vins);
  EXPECT_EQ(vins_of(second.events), second_vins);
}

TEST_F(PlantctlTest, PhotoRoundTripThroughFiles) {
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect("VIN-PHOTO-1");
  auto created = mesh_->Defects("otto").CreateDefect(request);
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  const std::string defect_id = created->defect().id();

  // 2.5 MiB of not-quite-random bytes behind a PNG signature: several chunks.
  std::string bytes = "\x89PNG\r\n\x1a\n";
  uint32_t state = 12345;
  while (bytes.size() < 2621440) {
    state = state * 1103515245u + 12345u;
    bytes.push_back(static_cast<char>(state >> 24));
  }
  const std::string source = *dir_ + "/photo-in.png";
  const std::string target = *dir_ + "/photo-out.png";
  std::ofstream(source, std::ios::binary) << bytes;

  CliRun uploaded = Plantctl("otto", {"defect", "upload-defect-photo", "--metadata.defect_id",
                                      defect_id, "--metadata.content_type", "image/png",
                                      "--metadata.file_name", "hood.png", "--from-file", source});
  ASSERT_EQ(uploaded.exit_code, 0) << uploaded.err;
  nlohmann::json photo = uploaded.Json()["photo"];
  const std::string photo_id = photo.value("id", "");
  ASSERT_FALSE(photo_id.empty()) << uploaded.out;
  EXPECT_EQ(photo.value("size_bytes", ""), std::to_string(bytes.size())) << uploaded.out;

  CliRun downloaded = Plantctl("manager", {"defect", "download-defect-photo", "--defect_id",
                                           defect_id, "--photo_id", photo_id, "--to-file", target});
  ASSERT_EQ(downloaded.exit_code, 0) << downloaded.err;
  std::string received = testing::internal::ReadFileOrEmpty(target);
  EXPECT_EQ(received.size(), bytes.size());
  EXPECT_TRUE(received == bytes) << "downloaded bytes differ from the uploaded ones";

  // Outside testing: a --to-file that could not be written was "INTERNAL: cannot write",
  // exit 23 (a server fault's code), and a --from-file that does not exist a usage error
  // (exit 2). Both are data files this machine cannot use: exit 1, nothing sent.
  CliRun unwritable =
      Plantctl("manager", {"defect", "download-defect-photo", "--defect_id", defect_id,
                           "--photo_id", photo_id, "--to-file", *dir_ + "/no/such/dir/x.png"});
  EXPECT_EQ(unwritable.exit_code, 1) << unwritable.err;
  EXPECT_THAT(unwritable.err, HasSubstr("plantctl: cannot write " + *dir_ + "/no/such/dir/x.png"));
  EXPECT_THAT(unwritable.err, HasSubstr("No such file or directory"));
  EXPECT_THAT(unwritable.err, Not(HasSubstr("INTERNAL")));
  // Outside testing: `--to-file -` wrote a file named "-". It is a usage error (standard
  // output carries the answer).
  CliRun dash = Plantctl("manager", {"defect", "download-defect-photo", "--defect_id", defect_id,
                                     "--photo_id", photo_id, "--to-file", "-"});
  EXPECT_EQ(dash.exit_code, 2) << dash.err;
  EXPECT_THAT(dash.err, HasSubstr("'-' names no file here"));
  CliRun unreadable = Plantctl(
      "otto", {"defect", "upload-defect-photo", "--metadata.defect_id", defect_id,
               "--metadata.content_type", "image/png", "--from-file", *dir_ + "/missing.png"});
  EXPECT_EQ(unreadable.exit_code, 1) << unreadable.err;
  EXPECT_THAT(unreadable.err, HasSubstr("plantctl: cannot read " + *dir_ + "/missing.png"));
  // Outside testing: an empty file was "INVALID_ARGUMENT: metadata.size_bytes: required",
  // a field plantctl fills; a directory was read as an empty file.
  ASSERT_TRUE(std::ofstream(*dir_ + "/empty.png").good());
  for (const auto& [file, why] : std::vector<std::pair<std::string, std::string>>{
           {*dir_ + "/empty.png", *dir_ + "/empty.png is empty: nothing to send"},
           {*dir_, "cannot read " + *dir_ + ": it is a directory"}}) {
    CliRun refused =
        Plantctl("otto", {"defect", "upload-defect-photo", "--metadata.defect_id", defect_id,
                          "--metadata.content_type", "image/png", "--from-file", file});
    EXPECT_EQ(refused.exit_code, 1) << refused.err;
    EXPECT_THAT(refused.err, HasSubstr("plantctl: " + why));
  }
}

// The parsed JSON lines of a background plantctl's stdout so far.
std::vector<nlohmann::json> JsonLines(const std::string& file) {
  std::vector<nlohmann::json> lines;
  for (const std::string& line : CompleteLines(testing::internal::ReadFileOrEmpty(file))) {
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
    if (!parsed.is_discarded()) lines.push_back(std::move(parsed));
  }
  return lines;
}

// int64 fields are strings in proto3 JSON.
int64_t Int64Of(const nlohmann::json& value) {
  return value.is_string() ? std::stoll(value.get<std::string>()) : value.get<int64_t>();
}

TEST_F(PlantctlTest, WatchResumesFromItsCursorAfterAServerRestart) {
  const std::string kZone = "RESTARTZONE";
  auto report = [&](const std::string& vin) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(vin);
    request.mutable_defect()->set_zone(kZone);
    auto created = mesh_->Defects("otto").CreateDefect(request);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
  };
  Background watch = StartInBackground(
      PlantctlArgv("manager", {"defect", "watch-defects", "--zone", kZone, "--cursor", "0"}), {});
  ASSERT_GT(watch.pid, 0);
  auto reported_vins = [&] {
    std::multiset<std::string> vins;
    for (const nlohmann::json& line : JsonLines(watch.out)) {
      if (line["event"].value("change_type", "") == "CHANGE_TYPE_REPORTED") {
        vins.insert(line["event"]["defect"].value("vin", ""));
      }
    }
    return vins;
  };
  auto await_count = [&](size_t count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (reported_vins().size() < count && absl::Now() < deadline) {
      // The watch must not exit; waiting up to 20 ms for that is also the poll's pace.
      absl::StatusOr<int> exited =
          testing::internal::WaitForExit(watch.pid, absl::Milliseconds(20));
      if (exited.ok()) {
        ADD_FAILURE() << "watch exited with " << *exited << ": "
                      << testing::internal::ReadFileOrEmpty(watch.err);
        watch.pid = -1;
        return false;
      }
    }
    return reported_vins().size() >= count;
  };
  for (int i = 0; i < 3; ++i) report(absl::StrCat("VIN-RESTART-A", i));
  ASSERT_TRUE(await_count(3)) << testing::internal::ReadFileOrEmpty(watch.out);

  ASSERT_TRUE(mesh_->KillAndRestartServerOnSamePort().ok());
  for (int i = 0; i < 3; ++i) report(absl::StrCat("VIN-RESTART-B", i));
  ASSERT_TRUE(await_count(6)) << testing::internal::ReadFileOrEmpty(watch.err);
  // A restart that drains: the watch ends SERVER_DRAINING, and opening it again may reach
  // the server still shutting down, which cancels the call (outside testing: plantctl
  // gave up there with exit 11).
  ASSERT_TRUE(mesh_->DrainAndRestartServerOnSamePort().ok());
  for (int i = 0; i < 3; ++i) report(absl::StrCat("VIN-RESTART-C", i));
  ASSERT_TRUE(await_count(9)) << testing::internal::ReadFileOrEmpty(watch.err);

  testing::internal::SignalGroup(watch.pid, SIGINT);
  absl::StatusOr<int> code = testing::internal::WaitForExit(watch.pid, absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "plantctl ignored SIGINT";
  EXPECT_EQ(*code, 0) << testing::internal::ReadFileOrEmpty(watch.err);
  // Each report once: resumed from the last cursor, not from the start again.
  std::multiset<std::string> expected;
  for (const char* batch : {"A", "B", "C"}) {
    for (int i = 0; i < 3; ++i) expected.insert(absl::StrCat("VIN-RESTART-", batch, i));
  }
  EXPECT_EQ(reported_vins(), expected);
  EXPECT_THAT(testing::internal::ReadFileOrEmpty(watch.err), HasSubstr("resuming from cursor"));
}

// Outside testing: with the server restarting for 1.5 s, `telemetry get-machine` exited 24
// (UNAVAILABLE, "Connection refused") after 0.73 s, where the SDK's same call waited and
// succeeded: plantctl's one call is its connection's first, which does not wait for a
// connection, and plantctl did not send it again as the SDK does (cli/unary_call.h).
TEST_F(PlantctlTest, AOneShotCommandRidesThroughAServerRestart) {
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect("VIN-CLI-RIDE");
  auto created = mesh_->Defects("otto").CreateDefect(request);
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  // The endpoint as it is while the server runs (the same port after the restart). A
  // deadline longer than a restart takes on a busy machine (a sanitizer build's server
  // needs seconds to start; plantctl's default is 10 s).
  const std::vector<std::string> argv = PlantctlArgv(
      "otto", {"defect", "get-defect", "--id", created->defect().id(), "--timeout", "60"});
  Background get;
  ASSERT_TRUE(mesh_
                  ->KillAndRestartServerOnSamePort([&] {
                    get = StartInBackground(argv, {});
                    // Its first attempt finds no server; it must wait, not exit.
                    absl::StatusOr<int> exited =
                        testing::internal::WaitForExit(get.pid, absl::Seconds(1));
                    EXPECT_FALSE(exited.ok())
                        << "plantctl exited " << *exited << " while the server was down: "
                        << testing::internal::ReadFileOrEmpty(get.err);
                  })
                  .ok());
  ASSERT_GT(get.pid, 0);
  absl::StatusOr<int> code = testing::internal::WaitForExit(get.pid, absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << "plantctl hung";
  EXPECT_EQ(*code, 0) << testing::internal::ReadFileOrEmpty(get.err);
  EXPECT_THAT(testing::internal::ReadFileOrEmpty(get.out), HasSubstr("VIN-CLI-RIDE"));
}

TEST_F(PlantctlTest, ListWithWatchPrintsEveryChangeOnceWithAConcurrentWriter) {
  const std::string kZone = "LISTWATCHZONE";
  // Some defects before the listing, so that it has several pages.
  std::vector<std::string> before = ReportDefects(*mesh_, kZone, 7);
  ASSERT_EQ(before.size(), 7u);

  // The writer: reports defects and cancels every third, while plantctl lists and watches.
  absl::Mutex mu;
  std::map<std::string, int64_t> final_revision;  // id -> revision of its last change
  for (const std::string& id : before) final_revision[id] = 1;
  bool stop = false;  // guarded by mu
  auto stopping = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return stop; };
  std::thread writer([&] {
    sdk::DefectClient otto = mesh_->Defects("otto");
    sdk::DefectClient anna = mesh_->Defects("anna");
    for (int i = 0;; ++i) {
      {
        // The scenario's pace: the next change after 15 ms, or none once stopped.
        absl::MutexLock lock(&mu);
        if (i > 0 && mu.AwaitWithTimeout(absl::Condition(&stopping), absl::Milliseconds(15))) break;
        if (stop) break;
      }
      defect::v1::CreateDefectRequest request;
      *request.mutable_defect() = SampleDefect(absl::StrCat("VIN-LW-", i));
      request.mutable_defect()->set_zone(kZone);
      auto created = otto.CreateDefect(request);
      ASSERT_TRUE(created.ok()) << Describe(created.status());
      {
        absl::MutexLock lock(&mu);
        final_revision[created->defect().id()] = created->defect().revision();
      }
      if (i % 3 == 0) {
        defect::v1::CancelDefectRequest cancel;
        cancel.set_id(created->defect().id());
        cancel.set_reason("Reported twice");
        auto cancelled = anna.CancelDefect(cancel);
        ASSERT_TRUE(cancelled.ok()) << Describe(cancelled.status());
        absl::MutexLock lock(&mu);
        final_revision[created->defect().id()] = cancelled->defect().revision();
      }
    }
  });
  Background watch = StartInBackground(
      PlantctlArgv("manager",
                   {"defect", "list-defects", "--zone", kZone, "--page_size", "3", "--watch"}),
      {});
  ASSERT_GT(watch.pid, 0);

  // Rows so far: (id, revision) -> times printed.
  auto rows = [&] {
    std::map<std::pair<std::string, int64_t>, int> printed;
    for (const nlohmann::json& line : JsonLines(watch.out)) {
      ++printed[{line.value("id", ""), Int64Of(line["revision"])}];
    }
    return printed;
  };
  auto shows_all = [&](const std::map<std::string, int64_t>& expected) {
    auto printed = rows();
    for (const auto& [id, revision] : expected) {
      if (printed.count({id, revision}) == 0) return false;
    }
    return true;
  };
  // Let the writer run across the listing and well into the watch.
  const absl::Time until = absl::Now() + absl::Seconds(60);
  while (rows().size() < 60 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  {
    absl::MutexLock lock(&mu);
    stop = true;
  }
  writer.join();
  std::map<std::string, int64_t> expected;
  {
    absl::MutexLock lock(&mu);
    expected = final_revision;
  }
  while (!shows_all(expected) && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(shows_all(expected))
      << "missing changes; stderr: " << testing::internal::ReadFileOrEmpty(watch.err);

  testing::internal::SignalGroup(watch.pid, SIGINT);
  absl::StatusOr<int> code = testing::internal::WaitForExit(watch.pid, absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "plantctl ignored SIGINT";
  EXPECT_EQ(*code, 0) << testing::internal::ReadFileOrEmpty(watch.err);
  // Every row once: a change the list already showed is not printed again, and no
  // defect of another zone appears.
  std::set<std::string> ids;
  for (const auto& [row, count] : rows()) {
    EXPECT_EQ(count, 1) << "defect " << row.first << " revision " << row.second << " printed "
                        << count << " times";
    ids.insert(row.first);
  }
  std::set<std::string> expected_ids;
  for (const auto& [id, revision] : expected) expected_ids.insert(id);
  EXPECT_EQ(ids, expected_ids);
}

// The id after `flag ` in plantctl's rerun hint on stderr, or "".
std::string RerunId(const std::string& err, const std::string& flag) {
  const std::string marker = "\n  " + flag + " ";
  const size_t at = err.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  return err.substr(start, err.find('\n', start) - start);
}

// Issue 7: a change that failed (here: a deadline too short to send it, and a server
// that is not there) prints the request_id and the flag to rerun it; rerunning with it
// against the live server creates exactly one defect, however often.
TEST_F(PlantctlTest, AFailedChangePrintsItsRequestIdAndTheRerunMakesOneDefect) {
  const std::vector<std::string> create = {"defect",
                                           "create-defect",
                                           "--defect.vin",
                                           "VIN-RETRY-1",
                                           "--defect.model",
                                           "M",
                                           "--defect.zone",
                                           "RETRYZONE",
                                           "--defect.station",
                                           "S",
                                           "--defect.category_code",
                                           "PAINT-SCRATCH",
                                           "--defect.shift",
                                           "A"};
  std::vector<std::string> hurried = create;
  hurried.insert(hurried.end(), {"--timeout", "0.000001"});
  CliRun timed_out = Plantctl("otto", hurried);
  EXPECT_EQ(timed_out.exit_code, 14) << timed_out.err;  // 10 + DEADLINE_EXCEEDED
  EXPECT_THAT(timed_out.err, HasSubstr("may have been made"));
  const std::string id = RerunId(timed_out.err, "--request_id");
  ASSERT_EQ(id.size(), 36u) << timed_out.err;  // the UUID plantctl generated

  // A server that is not there: UNAVAILABLE; the request was never sent, so no hint
  // that the change may have been made (outside testing: it said so for a mistyped port).
  std::vector<std::string> argv = PlantctlArgv("otto", create);
  argv[2] = "127.0.0.1:1";  // --endpoint
  argv.insert(argv.end(), {"--timeout", "5"});
  CliRun unreachable = Exec(argv, {});
  EXPECT_EQ(unreachable.exit_code, 24) << unreachable.err;  // 10 + UNAVAILABLE
  EXPECT_THAT(unreachable.err, HasSubstr("the request was not sent"));
  EXPECT_THAT(unreachable.err, HasSubstr("Connection refused"));
  EXPECT_THAT(unreachable.err, ::testing::Not(HasSubstr("may have been made")));

  std::vector<std::string> rerun = create;
  rerun.insert(rerun.end(), {"--request_id", id});
  CliRun first = Plantctl("otto", rerun);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  CliRun second = Plantctl("otto", rerun);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(first.Json()["defect"]["id"], second.Json()["defect"]["id"]);
  CliRun listed = Plantctl("manager", {"defect", "list-defects", "--zone", "RETRYZONE"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.Json()["defects"].size(), 1u) << listed.out;

  // A call that changes nothing gets no hint.
  std::vector<std::string> read = {"defect", "list-defects", "--timeout", "0.000001"};
  CliRun read_timed_out = Plantctl("manager", read);
  EXPECT_EQ(read_timed_out.exit_code, 14);
  EXPECT_THAT(read_timed_out.err, ::testing::Not(HasSubstr("request_id")));
}

// Issue 7: `-o json` of a rejected verification says "accepted": false (not absent),
// and 64-bit integers are strings.
TEST_F(PlantctlTest, JsonOfARejectedVerificationPrintsAcceptedFalse) {
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect("VIN-JSON-1");
  auto created = mesh_->Defects("otto").CreateDefect(request);
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  const std::string id = created->defect().id();
  ASSERT_EQ(Plantctl("anna", {"defect", "assign-defect", "--id", id, "--repair_place_id", "RP-01",
                              "--mechanic_id", "M-107"})
                .exit_code,
            0);
  ASSERT_EQ(Plantctl("mike", {"defect", "start-repair", "--id", id}).exit_code, 0);
  ASSERT_EQ(Plantctl("mike", {"defect", "finish-repair", "--id", id, "--work_done", "Polished",
                              "--labor_minutes", "20"})
                .exit_code,
            0);
  CliRun rejected = Plantctl("quinn", {"defect", "verify-repair", "--id", id, "--decision",
                                       "reject", "--reason", "Scratch still visible"});
  ASSERT_EQ(rejected.exit_code, 0) << rejected.err;
  nlohmann::json defect = rejected.Json()["defect"];
  ASSERT_TRUE(defect["verification"].contains("accepted")) << rejected.out;
  EXPECT_TRUE(defect["verification"]["accepted"].is_boolean()) << rejected.out;
  EXPECT_EQ(defect["verification"]["accepted"], false);
  EXPECT_TRUE(defect["revision"].is_string()) << rejected.out;  // int64
  EXPECT_EQ(defect["cancel_reason"], "");                       // defaults printed

  CliRun csv = Plantctl("quinn", {"defect", "get-defect", "--id", id}, "csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_THAT(csv.out, HasSubstr("verification.accepted,false\r\n"));
}

// Issue 7: tables stay tables (escaped line breaks, columns aligned by display width,
// the default columns; all with -o wide) and CSV keeps the exact text.
TEST_F(PlantctlTest, TablesStayTablesAndCsvStaysExact) {
  const std::string description = "Müller 🚗 sagt:\nKratzer, \"tief\"\tlinks";
  for (const std::string& who : {std::string("Müller 🚗"), std::string("Otto")}) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect("VIN-TABLE-" + std::to_string(who.size()));
    request.mutable_defect()->set_zone("TABLEZONE");
    request.mutable_defect()->set_description(description);
    request.mutable_defect()->set_detected_by(who);
    auto created = mesh_->Defects("otto").CreateDefect(request);
    ASSERT_TRUE(created.ok()) << Describe(created.status());
  }
  const std::vector<std::string> list = {"defect", "list-defects", "--zone", "TABLEZONE"};
  CliRun wide = Plantctl("manager", list, "wide");
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  std::vector<std::string> lines = absl::StrSplit(wide.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << wide.out;  // header + one line per defect
  EXPECT_THAT(lines[1], HasSubstr("Müller 🚗 sagt:\\nKratzer, \"tief\"\\tlinks"));
  EXPECT_THAT(lines[2], HasSubstr("Müller 🚗 sagt:\\nKratzer, \"tief\"\\tlinks"));
  // detected_by starts at the same terminal column in the header and in both rows,
  // after a description holding a two-column emoji and an umlaut.
  const size_t column = cli::DisplayWidth(lines[0].substr(0, lines[0].find("detected_by")));
  for (const std::string who : {"  Müller 🚗  ", "  Otto  "}) {
    int rows = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t at = lines[i].find(who);
      if (at == std::string::npos) continue;
      ++rows;
      EXPECT_EQ(cli::DisplayWidth(lines[i].substr(0, at + 2)), column) << wide.out;
    }
    EXPECT_EQ(rows, 1) << who << " in\n" << wide.out;
  }

  CliRun table = Plantctl("manager", list, "table");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  lines = absl::StrSplit(table.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << table.out;
  std::vector<std::string> header = absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
  EXPECT_THAT(header, ::testing::ElementsAre("id", "status", "zone", "vin", "category_code",
                                             "severity", "update_time"));

  CliRun csv = Plantctl("manager", list, "csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  // RFC 4180: the quoted field holds the line break, the tab and doubled quotes as they are.
  EXPECT_THAT(csv.out, HasSubstr(",\"Müller 🚗 sagt:\nKratzer, \"\"tief\"\"\tlinks\","));
}

// Issue 7: a mistyped service or method is named, with the closest command.
TEST_F(PlantctlTest, UnknownCommandsSuggestTheClosest) {
  CliRun nosuch = Plantctl("otto", {"defect", "nosuch"});
  EXPECT_EQ(nosuch.exit_code, 2);
  EXPECT_THAT(nosuch.err, HasSubstr("unknown command \"nosuch\" for \"plantctl defect\""));
  CliRun method = Plantctl("otto", {"defect", "get-defekt", "--id", "1"});
  EXPECT_EQ(method.exit_code, 2);
  EXPECT_THAT(method.err, HasSubstr("did you mean \"get-defect\"?"));
  CliRun service = Plantctl("otto", {"defekt", "get-defect", "--id", "1"});
  EXPECT_EQ(service.exit_code, 2);
  EXPECT_THAT(service.err, HasSubstr("unknown command \"defekt\" for \"plantctl\"; did you mean "
                                     "\"defect\"?"));
}

// Issue 7: without any connection settings the error names plantctl's flags, the
// config file it looked for and `config init`, not the SDK's option names.
TEST_F(PlantctlTest, NoConfigFileNamesTheFlagsAndConfigInit) {
  const std::string home = *dir_ + "/home-nobody";
  std::filesystem::create_directories(home);
  CliRun run = Exec({PLANTCTL_BIN, "system", "who-am-i"}, {"HOME=" + home});
  EXPECT_EQ(run.exit_code, 2) << run.err;
  for (const char* words : {"--endpoint", "--ca", "--cert", "--key", "config init",
                            "PLANTCTL_CONFIG", "/home-nobody/.config/plantmesh/plantctl.toml"}) {
    EXPECT_THAT(run.err, HasSubstr(words));
  }
  for (const char* sdk_name : {"ca_file", "cert_file", "key_file"}) {
    EXPECT_THAT(run.err, ::testing::Not(HasSubstr(sdk_name)));
  }
  // A file that is not there, named by flag.
  sdk::ClientOptions anna = mesh_->OptionsFor("anna");
  CliRun bad_key = Exec({PLANTCTL_BIN, "--endpoint", anna.endpoint, "--ca", anna.ca_file, "--cert",
                         anna.cert_file, "--key", home + "/none.key", "system", "who-am-i"},
                        {"HOME=" + home});
  EXPECT_EQ(bad_key.exit_code, 2) << bad_key.err;
  EXPECT_THAT(bad_key.err, HasSubstr("--key: cannot read"));
  EXPECT_THAT(bad_key.err, ::testing::Not(HasSubstr("key_file")));
}

// Issue 7: a --metadata.sha256 the user gives is checked against the file before
// anything is sent; the file name comes from --from-file unless given.
TEST_F(PlantctlTest, PhotoUploadChecksAGivenSha256AndNamesTheFile) {
  defect::v1::CreateDefectRequest request;
  *request.mutable_defect() = SampleDefect("VIN-PHOTO-2");
  auto created = mesh_->Defects("otto").CreateDefect(request);
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  const std::string defect_id = created->defect().id();
  const std::string source = *dir_ + "/door-left.png";
  std::ofstream(source, std::ios::binary)
      << std::string("\x89PNG\r\n\x1a\n", 8) << std::string(5000, 'x');
  const std::string wrong(64, 'a');
  CliRun mismatch = Plantctl("otto", {"defect", "upload-defect-photo", "--metadata.defect_id",
                                      defect_id, "--metadata.content_type", "image/png",
                                      "--metadata.sha256", wrong, "--from-file", source});
  EXPECT_EQ(mismatch.exit_code, 2) << mismatch.err;  // found before any call: usage
  EXPECT_THAT(mismatch.err, HasSubstr(wrong));
  EXPECT_THAT(mismatch.err, HasSubstr(source));
  EXPECT_THAT(mismatch.err, HasSubstr("nothing was sent"));

  CliRun uploaded =
      Plantctl("otto", {"defect", "upload-defect-photo", "--metadata.defect_id", defect_id,
                        "--metadata.content_type", "image/png", "--from-file", source});
  ASSERT_EQ(uploaded.exit_code, 0) << uploaded.err;
  nlohmann::json photo = uploaded.Json()["photo"];
  EXPECT_EQ(photo.value("file_name", ""), "door-left.png") << uploaded.out;
  const std::string digest = photo.value("sha256", "");
  ASSERT_EQ(digest.size(), 64u) << uploaded.out;

  // The right digest, given, is accepted; a given file name is kept.
  CliRun given =
      Plantctl("otto", {"defect", "upload-defect-photo", "--metadata.defect_id", defect_id,
                        "--metadata.content_type", "image/png", "--metadata.sha256", digest,
                        "--metadata.file_name", "left door.png", "--from-file", source});
  ASSERT_EQ(given.exit_code, 0) << given.err;
  EXPECT_EQ(given.Json()["photo"].value("file_name", ""), "left door.png");

  // `--from-file -` reads standard input (outside testing: "cannot read -").
  std::vector<std::string> piped_argv =
      PlantctlArgv("otto", {"defect", "upload-defect-photo", "--metadata.defect_id", defect_id,
                            "--metadata.content_type", "image/png", "--metadata.file_name",
                            "piped.png", "--from-file", "-"});
  piped_argv.insert(piped_argv.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" <\"$PHOTO\""});
  CliRun piped = Exec(piped_argv, {"PHOTO=" + source});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.Json()["photo"].value("sha256", ""), digest) << piped.out;

  // Standard input redirected from a regular file has no name of its own (outside
  // testing: it was stored as "stdin").
  std::vector<std::string> unnamed_argv =
      PlantctlArgv("otto", {"defect", "upload-defect-photo", "--metadata.defect_id", defect_id,
                            "--metadata.content_type", "image/png", "--from-file", "-"});
  unnamed_argv.insert(unnamed_argv.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" <\"$PHOTO\""});
  CliRun unnamed = Exec(unnamed_argv, {"PHOTO=" + source});
  ASSERT_EQ(unnamed.exit_code, 0) << unnamed.err;
  EXPECT_EQ(unnamed.Json()["photo"].value("file_name", ""), "") << unnamed.out;
}

// ---- telemetry ingest ----

// Outside testing: ingesting the same file twice stored it twice (a writer id new per
// run). Under --import-id the same input sent again stores nothing twice, a run cut short
// and sent again stores the rest, and another input under the same id is refused.
TEST_F(PlantctlTest, AnImportSentAgainUnderItsIdStoresNothingTwice) {
  const std::string kMachine = "CLI-IMPORT-7";
  absl::StatusOr<sdk::TelemetryClient> ops = OpsWithMachine(kMachine);
  ASSERT_TRUE(ops.ok()) << Describe(ops.status());

  // 1,234 samples a millisecond apart, an hour ago (inside the retention); `rows` of them.
  const absl::Time base = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - 3600);
  auto write = [&](const std::string& name, int rows, int changed_row = -1) {
    std::string csv = "machine_id,data_item_id,time,value\n";
    for (int i = 0; i < rows; ++i) {
      absl::StrAppend(&csv, kMachine, ",Xload,",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", base + absl::Milliseconds(i),
                                       absl::UTCTimeZone()),
                      ",", i == changed_row ? -1 : i, "\n");
    }
    const std::string path = absl::StrCat(*dir_, "/", name);
    std::ofstream(path) << csv;
    return path;
  };
  auto ingest = [&](const std::string& path, const std::string& import_id) {
    return Plantctl("ivan",
                    {"telemetry", "ingest", path, "--import-id", import_id, "--batch-size", "100"});
  };
  const std::string whole = write("import.csv", 1234);
  CliRun first = ingest(whole, "shift-2024-05-01");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.Json()["accepted"], 1234);
  CliRun again = ingest(whole, "shift-2024-05-01");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.Json()["accepted"], 0);
  EXPECT_EQ(again.Json()["duplicates"], 1234);

  // Another input under the same id: refused at its first different batch.
  CliRun other = ingest(write("other.csv", 1234, /*changed_row=*/250), "shift-2024-05-01");
  EXPECT_EQ(other.exit_code, 16) << other.err;  // ALREADY_EXISTS
  EXPECT_EQ(other.Json()["accepted"], 0);
  EXPECT_EQ(other.Json()["duplicates"], 200);
  EXPECT_THAT(other.err, HasSubstr("one id per input"));

  // A run cut short after 6 batches (its first 600 rows), then the whole file again.
  CliRun cut = ingest(write("cut.csv", 600), "shift-2024-05-02");
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  CliRun rest = ingest(whole, "shift-2024-05-02");
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_EQ(rest.Json()["duplicates"], 600);
  EXPECT_EQ(rest.Json()["accepted"], 634);

  // Each sample is stored once per import: 2 × 1,234.
  telemetry::v1::QuerySamplesRequest query;
  query.set_machine_id(kMachine);
  query.add_data_item_ids("Xload");
  *query.mutable_start_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(base));
  *query.mutable_end_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      absl::ToUnixMicros(base + absl::Seconds(2)));
  query.set_page_size(1000);
  int64_t stored = 0;
  while (true) {
    auto page = ops->QuerySamples(query);
    ASSERT_TRUE(page.ok()) << Describe(page.status());
    stored += page->samples_size();
    if (page->next_page_token().empty()) break;
    query.set_page_token(page->next_page_token());
  }
  EXPECT_EQ(stored, 2 * 1234);

  CliRun both =
      Plantctl("ivan", {"telemetry", "ingest", whole, "--import-id", "x", "--writer-id", "y"});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("excludes"));
  CliRun bad_id = ingest(whole, "a b");
  EXPECT_EQ(bad_id.exit_code, 2);
  EXPECT_THAT(bad_id.err, HasSubstr("letters, digits"));
}

// ---- planning import-demand (pdemand) ----

// Whether `pid`'s main thread is blocked in read(2) of file descriptor 0 (x86-64 and
// arm64 syscall numbers 0 and 63; /proc/<pid>/syscall: "<number> <fd in hex> ...").
bool ReadsStandardInput(pid_t pid) {
  std::ifstream syscall(absl::StrCat("/proc/", pid, "/syscall"));
  std::string number, fd;
  return syscall >> number >> fd && (number == "0" || number == "63") && fd == "0x0";
}

// Outside testing: `import-demand -` (and `telemetry ingest -`) did not act on Ctrl-C
// while waiting for the next line of standard input, until the producer closed it.
TEST_F(PlantctlTest, CtrlCStopsAnImportWaitingForStandardInput) {
  // Standard input is a FIFO this test holds open (O_RDWR does not wait for a reader),
  // having written the header and no record.
  const std::string fifo = *dir_ + "/demand.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const int writer = ::open(fifo.c_str(), O_RDWR);
  ASSERT_GE(writer, 0) << std::strerror(errno);
  const std::string header = "product_id,date,quantity\n";
  ASSERT_EQ(::write(writer, header.data(), header.size()), static_cast<ssize_t>(header.size()));
  std::vector<std::string> argv = {"bash", "-c", "exec \"$@\" <\"$0\"", fifo};
  for (const std::string& arg : PlantctlArgv("planner", {"planning", "import-demand", "-"})) {
    argv.push_back(arg);
  }
  Background run = StartInBackground(argv, {});  // bash execs plantctl: the same process
  ASSERT_TRUE(testing::PollUntil([&] { return ReadsStandardInput(run.pid); }, absl::Seconds(30)))
      << "plantctl never blocked reading stdin: " << testing::internal::ReadFileOrEmpty(run.err);
  ASSERT_EQ(::kill(run.pid, SIGINT), 0);
  absl::StatusOr<int> code = testing::internal::WaitForExit(run.pid, absl::Seconds(10));
  ::close(writer);
  if (!code.ok()) {
    testing::internal::SignalGroup(run.pid, SIGKILL);
    (void)testing::internal::WaitForExit(run.pid, absl::Seconds(10));
  }
  ASSERT_TRUE(code.ok()) << "plantctl went on reading after Ctrl-C";
  EXPECT_EQ(*code, 130);
  EXPECT_THAT(testing::internal::ReadFileOrEmpty(run.err),
              HasSubstr("plantctl: interrupted; nothing was stored"));
}

// Outside testing: Ctrl-C of an ingest without --import-id said only "interrupted",
// where a rerun of the same input stores what was acknowledged a second time.
// Outside testing: a CSV without a kind column stored a PROGRAM event `0012` as the
// number 12 (and `1e3` as 1000). A value without a kind follows its item's category.
TEST_F(PlantctlTest, AnIngestWithoutKindsKeepsAnEventsValueAsWritten) {
  const std::string kMachine = "CLI-GUESS-1";
  absl::StatusOr<sdk::TelemetryClient> ops = OpsWithMachine(kMachine);
  ASSERT_TRUE(ops.ok()) << Describe(ops.status());
  telemetry::v1::UpdateMachineRequest update;
  update.mutable_machine()->set_id(kMachine);
  for (const auto& [id, category, type] :
       {std::tuple{"Xload", telemetry::v1::DATA_ITEM_CATEGORY_SAMPLE,
                   telemetry::v1::DATA_ITEM_TYPE_OTHER},
        std::tuple{"program", telemetry::v1::DATA_ITEM_CATEGORY_EVENT,
                   telemetry::v1::DATA_ITEM_TYPE_PROGRAM},
        std::tuple{"parts", telemetry::v1::DATA_ITEM_CATEGORY_EVENT,
                   telemetry::v1::DATA_ITEM_TYPE_PART_COUNT}}) {
    telemetry::v1::DataItem* item = update.mutable_machine()->add_data_items();
    item->set_id(id);
    item->set_category(category);
    item->set_type(type);
  }
  update.mutable_update_mask()->add_paths("data_items");
  ASSERT_TRUE(ops->UpdateMachine(update).ok());

  const absl::Time base = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) - 3600);
  const std::vector<std::pair<std::string, std::string>> rows = {{"program", "0012"},
                                                                 {"program", "1e3"},
                                                                 {"program", "+7"},
                                                                 {"Xload", "12.50"},
                                                                 {"parts", "0042"}};
  std::string csv = "machine_id,data_item_id,time,value\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    absl::StrAppend(
        &csv, kMachine, ",", rows[i].first, ",",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", base + absl::Seconds(i), absl::UTCTimeZone()), ",",
        rows[i].second, "\n");
  }
  const std::string path = absl::StrCat(*dir_, "/guessed.csv");
  std::ofstream(path) << csv;
  CliRun ingested = Plantctl("ivan", {"telemetry", "ingest", path});
  ASSERT_EQ(ingested.exit_code, 0) << ingested.err;
  EXPECT_EQ(ingested.Json()["accepted"], 5);

  telemetry::v1::QuerySamplesRequest query;
  query.set_machine_id(kMachine);
  *query.mutable_start_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(base));
  *query.mutable_end_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      absl::ToUnixMicros(base + absl::Seconds(10)));
  auto stored = ops->QuerySamples(query);
  ASSERT_TRUE(stored.ok()) << Describe(stored.status());
  std::map<std::string, std::vector<std::string>> by_item;
  for (const telemetry::v1::Sample& sample : stored->samples()) {
    by_item[sample.data_item_id()].push_back(
        sample.has_text() ? "text " + sample.text() : absl::StrCat("number ", sample.number()));
  }
  EXPECT_THAT(by_item["program"],
              ::testing::UnorderedElementsAre("text 0012", "text 1e3", "text +7"));
  EXPECT_THAT(by_item["Xload"], ::testing::ElementsAre("number 12.5"));
  EXPECT_THAT(by_item["parts"],
              ::testing::ElementsAre("number 42"));  // a count, as text's digits are
}

TEST_F(PlantctlTest, CtrlCOfAnIngestSaysWhatARerunWouldStoreTwice) {
  const std::string kMachine = "CLI-CTRL-C-1";
  absl::StatusOr<sdk::TelemetryClient> ops = OpsWithMachine(kMachine);
  ASSERT_TRUE(ops.ok()) << Describe(ops.status());

  // Standard input is a FIFO the test holds open: one whole batch, then nothing.
  const std::string fifo = *dir_ + "/samples.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const int writer = ::open(fifo.c_str(), O_RDWR);
  ASSERT_GE(writer, 0) << std::strerror(errno);
  std::string csv = "machine_id,data_item_id,time,value\n";
  const absl::Time base = absl::Now() - absl::Minutes(5);
  for (int i = 0; i < 5; ++i) {
    absl::StrAppend(
        &csv, kMachine, ",Xload,",
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", base + absl::Seconds(i), absl::UTCTimeZone()), ",",
        i, "\n");
  }
  ASSERT_EQ(::write(writer, csv.data(), csv.size()), static_cast<ssize_t>(csv.size()));
  std::vector<std::string> argv = {"bash", "-c", "exec \"$@\" <\"$0\"", fifo};
  for (const std::string& arg :
       PlantctlArgv("ivan", {"telemetry", "ingest", "-", "--batch-size", "5"})) {
    argv.push_back(arg);
  }
  Background run = StartInBackground(argv, {});
  // Stored (so acknowledged or about to be), and plantctl waiting for more input.
  ASSERT_TRUE(testing::PollUntil(
      [&] {
        telemetry::v1::GetLatestValuesRequest latest;
        latest.add_machine_ids(kMachine);
        auto values = ops->GetLatestValues(latest);
        return values.ok() && values->values_size() == 1 && values->values(0).number() == 4 &&
               ReadsStandardInput(run.pid);
      },
      absl::Seconds(30)))
      << "the batch was never stored: " << testing::internal::ReadFileOrEmpty(run.err);
  ASSERT_EQ(::kill(run.pid, SIGINT), 0);
  absl::StatusOr<int> code = testing::internal::WaitForExit(run.pid, absl::Seconds(20));
  ::close(writer);
  ASSERT_TRUE(code.ok()) << "plantctl went on after Ctrl-C";
  EXPECT_EQ(*code, 130);
  const std::string err = testing::internal::ReadFileOrEmpty(run.err);
  EXPECT_THAT(err, HasSubstr("plantctl: interrupted"));
  // All 5 are stored; whether their answer came back before the Ctrl-C is not known here.
  EXPECT_THAT(err, ::testing::ContainsRegex("the [05] acknowledged samples are stored"));
  EXPECT_THAT(err, HasSubstr("running the same command again stores what is stored a second time"));
}

// Outside testing: Ctrl-C during a one-shot call to a server that did not answer (a hung
// server, a black-holed link) exited 0 without a word, for a create too: the next
// command of `create-defect && …` ran, and no rerun hint was given.
TEST_F(PlantctlTest, CtrlCDuringAOneShotCallExits130WithTheRerunHint) {
  const CliRun run = CtrlCOnceConnectedToASilentServer({"defect",
                                                        "create-defect",
                                                        "--defect.vin",
                                                        "VIN-CTRL-C",
                                                        "--defect.model",
                                                        "M",
                                                        "--defect.zone",
                                                        "PAINT",
                                                        "--defect.station",
                                                        "S",
                                                        "--defect.category_code",
                                                        "PAINT-SCRATCH",
                                                        "--defect.severity",
                                                        "minor",
                                                        "--defect.shift",
                                                        "2026-11-21/A",
                                                        "--defect.description",
                                                        "d",
                                                        "--request_id",
                                                        "c0ffee00-0000-4000-8000-000000000001"});
  EXPECT_EQ(run.exit_code, 130);
  EXPECT_THAT(run.err, HasSubstr("plantctl: interrupted"));
  EXPECT_THAT(run.err, HasSubstr("--request_id c0ffee00-0000-4000-8000-000000000001"));
}

// Re-test: a watch stopped before it ever reached its server exited 0, as if it had
// watched. It exits 130; one that follows the server still ends 0 on Ctrl-C.
TEST_F(PlantctlTest, CtrlCOfAWatchThatNeverReachedItsServerExits130) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"defect", "watch-defects"},
           {"defect", "list-defects", "--watch"},
           // Re-test: a tail stopped while it looked its machines up said nothing.
           {"telemetry", "tail", "CNC-NONE"}}) {
    const CliRun run = CtrlCOnceConnectedToASilentServer(args);
    EXPECT_EQ(run.exit_code, 130) << args[1] << ": " << run.err;
    EXPECT_THAT(run.err, HasSubstr("plantctl: interrupted")) << args[1];
    // Re-test: the list the Ctrl-C cancelled was told as a failed one, to be tried again.
    EXPECT_THAT(run.err, Not(HasSubstr("listing failed"))) << args[1];
  }
}

// Outside testing (an SDK board): a list+watch whose lists failed showed nothing and
// said nothing, as an empty list would. `--watch` says each failed list and its retry.
TEST_F(PlantctlTest, AWatchWhoseListFailsSaysSoEachTimeItTriesAgain) {
  std::vector<std::string> argv =
      PlantctlArgv("otto", {"--timeout", "2", "defect", "list-defects", "--watch"});
  argv[2] = absl::StrCat("127.0.0.1:", testing::FreePort());  // nothing listens there
  Background run = StartInBackground(argv, {});
  ASSERT_GT(run.pid, 0);
  auto failed_lists = [&run] {
    const std::string err = testing::internal::ReadFileOrEmpty(run.err);
    size_t count = 0;
    for (size_t at = err.find("listing failed: "); at != std::string::npos;
         at = err.find("listing failed: ", at + 1)) {
      ++count;
    }
    return count;
  };
  EXPECT_TRUE(testing::PollUntil([&] { return failed_lists() >= 2; }, absl::Seconds(60)))
      << testing::internal::ReadFileOrEmpty(run.err);
  ASSERT_EQ(::kill(run.pid, SIGINT), 0);
  absl::StatusOr<int> code = testing::internal::WaitForExit(run.pid, absl::Seconds(20));
  ASSERT_TRUE(code.ok()) << "went on after Ctrl-C";
  EXPECT_EQ(*code, 130);
  const std::string err = testing::internal::ReadFileOrEmpty(run.err);
  EXPECT_THAT(err, HasSubstr("listing failed: UNAVAILABLE: no connection to 127.0.0.1:"));
  EXPECT_THAT(err, HasSubstr("; trying again in "));
}

TEST_F(PlantctlTest, ImportDemandFromCsvIsAtomicAndHarmlessTwice) {
  CliRun product = Plantctl("planner", {"planning", "create-product", "--product.id", "CLI-OATS",
                                        "--product.display_name", "Oats", "--product.unit", "pcs"});
  ASSERT_EQ(product.exit_code, 0) << product.err;
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string path = absl::StrCat(*dir_, "/", name);
    std::ofstream(path) << text;
    return path;
  };
  std::string csv = "product_id,date,quantity\n";
  for (int d = 1; d <= 28; ++d)
    absl::StrAppend(&csv, "CLI-OATS,2025-02-", d < 10 ? "0" : "", d, ",", 10 + d % 7, "\n");
  const std::string good = write("demand.csv", csv);

  CliRun checked = Plantctl("planner", {"planning", "import-demand", good, "--dry-run"});
  EXPECT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_THAT(checked.out, HasSubstr("28 demand records"));

  CliRun first = Plantctl("planner", {"planning", "import-demand", good, "--batch-size", "10"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.Json()["received"], 28);
  EXPECT_EQ(first.Json()["stored"], 28);
  CliRun again = Plantctl("planner", {"planning", "import-demand", good}, "table");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("replaced  28"));

  // A bad row: nothing is sent, the line and column are named.
  const std::string bad_row = write(
      "bad-row.csv", "product_id,date,quantity\nCLI-OATS,2025-03-01,1\nCLI-OATS,2025-03-02,-4\n");
  CliRun refused_locally = Plantctl("planner", {"planning", "import-demand", bad_row});
  EXPECT_EQ(refused_locally.exit_code, 2);
  EXPECT_THAT(refused_locally.err, HasSubstr("bad-row.csv:3: quantity"));
  EXPECT_THAT(refused_locally.err, HasSubstr("1 bad row in " + bad_row + "; nothing was sent"));

  // An unknown product is the server's to find: INVALID_ARGUMENT (13) naming the file's
  // line, and the good record before it is not stored either.
  const std::string unknown = write(
      "unknown.csv", "product_id,date,quantity\nCLI-OATS,2025-03-01,1\nNO-SUCH,2025-03-01,1\n");
  CliRun refused = Plantctl("planner", {"planning", "import-demand", unknown});
  EXPECT_EQ(refused.exit_code, 13) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("unknown.csv:3: product_id"));
  const std::string march = write("march.csv", "product_id,date,quantity\nCLI-OATS,2025-03-01,1\n");
  CliRun after = Plantctl("planner", {"planning", "import-demand", march});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.Json()["stored"], 1);

  // With --skip-invalid the good record is stored and the bad one reported by line.
  CliRun skipped = Plantctl("planner", {"planning", "import-demand", unknown, "--skip-invalid"});
  EXPECT_EQ(skipped.exit_code, 13);
  EXPECT_EQ(skipped.Json()["replaced"], 1);
  EXPECT_EQ(skipped.Json()["rejected"], 1);
  EXPECT_THAT(skipped.err, HasSubstr("unknown.csv:3: product_id"));

  // Two rows of one product and day (an export of order lines): the later replaces the
  // earlier, said with both lines, by --dry-run and the import (outside testing: imported
  // as the later row's alone, without a word).
  const std::string repeated =
      write("repeated.csv",
            "product_id,date,quantity\nCLI-OATS,2025-04-01,1000\nCLI-OATS,2025-04-01,500\n");
  const std::string said =
      "repeated.csv:3: CLI-OATS 2025-04-01 again (line 2): the later row "
      "replaces the earlier, quantities are not added";
  CliRun repeated_checked =
      Plantctl("planner", {"planning", "import-demand", repeated, "--dry-run"});
  EXPECT_EQ(repeated_checked.exit_code, 0) << repeated_checked.err;
  EXPECT_THAT(repeated_checked.err, HasSubstr(said));
  CliRun repeated_imported = Plantctl("planner", {"planning", "import-demand", repeated});
  EXPECT_EQ(repeated_imported.exit_code, 0) << repeated_imported.err;
  EXPECT_THAT(repeated_imported.err, HasSubstr(said));

  // Readers may not import.
  EXPECT_EQ(Plantctl("otto", {"planning", "import-demand", good}).exit_code, 17);
}

// ---- planning propose-plan (ppropose) ----

TEST_F(PlantctlTest, ProposePlanFromTheCommandLineStoresDrafts) {
  // One 8 h shift a day (UTC, the shared mesh's zone), 4,800 units a shift at 6 s.
  CliRun pattern = Plantctl(
      "planner", {"planning", "create-shift-pattern", "--request-json",
                  R"({"shift_pattern":{"id":"CLI-1X8","display_name":"One shift","shifts":)"
                  R"([{"code":"A","start_time":"06:00","end_time":"14:00"}]}})"});
  ASSERT_EQ(pattern.exit_code, 0) << pattern.err;
  CliRun line = Plantctl(
      "planner", {"planning", "create-line", "--request-json",
                  R"({"line":{"id":"CLI-LINE-1","display_name":"Line","site":"P","area":"A",)"
                  R"("nominal_rate_per_hour":600,"shift_pattern_id":"CLI-1X8"}})"});
  ASSERT_EQ(line.exit_code, 0) << line.err;
  CliRun product = Plantctl(
      "planner", {"planning", "create-product", "--request-json",
                  R"({"product":{"id":"CLI-BARS","display_name":"Bars","unit":"pcs",)"
                  R"("cycle_times":[{"line_id":"CLI-LINE-1","ideal_cycle_seconds":6}]}})"});
  ASSERT_EQ(product.exit_code, 0) << product.err;
  const std::vector<std::string> propose = {"planning",
                                            "propose-plan",
                                            "--start_time",
                                            "2025-06-02T06:00:00Z",
                                            "--shift_count",
                                            "1",
                                            "--line_ids",
                                            "CLI-LINE-1",
                                            "--product_ids",
                                            "CLI-BARS",
                                            "--demand-json",
                                            R"([{"product_id":"CLI-BARS",)"
                                            R"("date":"2025-06-02","quantity":5000}])",
                                            "--create_drafts",
                                            "--request_id",
                                            "cli-propose-1"};
  CliRun proposed = Plantctl("planner", propose);
  ASSERT_EQ(proposed.exit_code, 0) << proposed.err;
  const nlohmann::json answer = proposed.Json();
  ASSERT_EQ(answer["shifts"].size(), 1u) << proposed.out;
  EXPECT_EQ(answer["shifts"][0].value("shift_id", ""), "2025-06-02/A");
  EXPECT_EQ(answer["shifts"][0]["runs"][0]["quantity"].dump(), R"("4800")") << proposed.out;
  ASSERT_EQ(answer["unmet_demand"].size(), 1u) << proposed.out;
  EXPECT_EQ(answer["unmet_demand"][0]["quantity"].dump(), R"("200")");
  EXPECT_EQ(answer["unmet_demand"][0].value("reason", ""), "SHORTFALL_REASON_CAPACITY");
  ASSERT_EQ(answer["draft_plan_ids"].size(), 1u);
  CliRun plan = Plantctl("planner", {"planning", "get-production-plan", "--id",
                                     answer["draft_plan_ids"][0].get<std::string>()});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_EQ(plan.Json()["plan"].value("status", ""), "PLAN_STATUS_DRAFT");
  // The rerun with the same request_id answers the same; operators may not propose.
  CliRun again = Plantctl("planner", propose);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.Json(), answer);
  EXPECT_EQ(Plantctl("otto", propose).exit_code, 17);
}

// The README's update: a changeover into a product from one created after it (outside
// testing: the plant model could not be changed once created).
TEST_F(PlantctlTest, AChangeoverIsAddedToAProductByUpdatingIt) {
  CliRun pattern = Plantctl(
      "planner", {"planning", "create-shift-pattern", "--request-json",
                  R"({"shift_pattern":{"id":"CLI-UPD-1X8","display_name":"One shift","shifts":)"
                  R"([{"code":"A","start_time":"06:00","end_time":"14:00"}]}})"});
  ASSERT_EQ(pattern.exit_code, 0) << pattern.err;
  CliRun line = Plantctl(
      "planner", {"planning", "create-line", "--request-json",
                  R"({"line":{"id":"CLI-UPD-LINE","display_name":"Line","site":"P","area":"A",)"
                  R"("nominal_rate_per_hour":600,"shift_pattern_id":"CLI-UPD-1X8"}})"});
  ASSERT_EQ(line.exit_code, 0) << line.err;
  for (const char* id : {"CLI-UPD-FIRST", "CLI-UPD-SECOND"}) {
    CliRun product = Plantctl(
        "planner", {"planning", "create-product", "--product.id", id, "--product.display_name", id,
                    "--product.unit", "pcs", "--product.cycle_times-json",
                    R"([{"line_id":"CLI-UPD-LINE","ideal_cycle_seconds":6}])"});
    ASSERT_EQ(product.exit_code, 0) << product.err;
  }
  const std::vector<std::string> update = {
      "planning",
      "update-product",
      "--product.id",
      "CLI-UPD-FIRST",
      "--update_mask",
      "changeovers",
      "--product.changeovers-json",
      R"([{"from_product_id":"CLI-UPD-SECOND","line_id":"CLI-UPD-LINE","duration_minutes":20}])"};
  CliRun updated = Plantctl("planner", update);
  ASSERT_EQ(updated.exit_code, 0) << updated.err;
  CliRun read = Plantctl("planner", {"planning", "get-product", "--id", "CLI-UPD-FIRST"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  const nlohmann::json product = read.Json()["product"];
  EXPECT_EQ(product.value("etag", ""), "\"v2\"") << read.out;
  ASSERT_EQ(product["changeovers"].size(), 1u) << read.out;
  EXPECT_EQ(product["changeovers"][0].value("from_product_id", ""), "CLI-UPD-SECOND");
  EXPECT_EQ(product["changeovers"][0].value("duration_minutes", 0), 20);
  // Operators may not change the plant model.
  EXPECT_EQ(Plantctl("otto", update).exit_code, 17);
}

}  // namespace
}  // namespace plantmesh::e2e
