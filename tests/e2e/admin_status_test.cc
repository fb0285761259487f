// `plantctl admin status` against a mesh of one plantmesh-server process per service,
// each with a certificate of its own made here (spiffe://plantmesh.local/service/<name>):
// every service SERVING with that identity, the certificate's notAfter and the server's
// version; a stopped service is an UNAVAILABLE row and exit 24; services asked at a
// server that does not host them are NOT_FOUND rows and exit 15.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cli/pki.h"
#include "common/build_info/build_info.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "pqxx/pqxx"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"
#include "tests/support/test_servers.h"

#ifndef PLANTCTL_BIN
#error "PLANTCTL_BIN must be defined by CMake"
#endif

namespace plantmesh::e2e {
namespace {

using ::testing::HasSubstr;

const std::vector<std::string> kServices = {"defect", "telemetry", "planning"};

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class AdminStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::TestPki>> pki = testing::TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = *std::move(pki);
    absl::StatusOr<testing::TestPki::Client> ops = pki_->IssueClient("ops", {"admin"});
    ASSERT_TRUE(ops.ok()) << ops.status();
    ops_ = *ops;
    static std::atomic<int> counter{0};
    // A database of its own per test: the shared Redis still holds the last one's (one
    // Redis serves one database, redis_owner.h).
    ASSERT_TRUE(testing::SharedRedis().Flush().ok());
    database_ = absl::StrCat("admin_status_", getpid(), "_", counter.fetch_add(1));
    absl::StatusOr<std::string> url = testing::SharedPostgres().CreateDatabase(database_);
    ASSERT_TRUE(url.ok()) << url.status();
    // Planning's server has a Redis of its own, which a test stops.
    absl::StatusOr<std::unique_ptr<testing::RedisServer>> redis = testing::RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    planning_redis_ = *std::move(redis);
    for (const std::string& service : kServices) {
      pki::IssueOptions issue;
      issue.ca_dir = pki_->ca_dir();
      issue.out_dir = pki_->dir() + "/services";
      issue.name = service;
      issue.kind = "service";
      issue.trust_domain = testing::TestPki::kTrustDomain;
      issue.dns_names = {"localhost"};
      issue.ip_addresses = {"127.0.0.1"};
      issue.server = true;
      // A validity of its own per service, so a mix-up of certificates shows.
      issue.validity = absl::Hours(24 * (30 + 7 * static_cast<int>(servers_.size())));
      absl::StatusOr<pki::IssuedCertificate> cert = pki::Issue(issue);
      ASSERT_TRUE(cert.ok()) << cert.status();
      absl::StatusOr<pki::CertificateInfo> info = pki::ReadCertificateInfo(cert->cert_file);
      ASSERT_TRUE(info.ok()) << info.status();
      not_after_[service] = info->not_after;

      testing::ServerProcess::Options options;
      options.services = {service};
      options.postgres_url = *url;
      options.redis_port =
          service == "planning" ? planning_redis_->port() : testing::SharedRedis().port();
      options.pki = pki_.get();
      options.tls_cert_override = cert->cert_file;
      options.tls_key_override = cert->key_file;
      absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
          testing::ServerProcess::Start(options);
      ASSERT_TRUE(server.ok()) << server.status();
      servers_[service] = *std::move(server);
    }
    absl::StatusOr<std::string> dir = testing::internal::MakeTempDir("admin-status-test-");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *dir;
  }

  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  // `admin status -o json` once `service`'s row says `health` (or after 30 s).
  CliRun AwaitHealth(const std::string& service, const std::string& health) {
    CliRun run;
    testing::PollUntil(
        [&] {
          run = AdminStatus("json");
          return Rows(run)[service].value("health", "") == health;
        },
        absl::Seconds(30));
    return run;
  }

  // The test's database as a DBA makes it read-only (or writable again): the setting,
  // then its sessions ended so that the servers' new ones take it.
  void SetReadOnly(bool read_only) {
    pqxx::connection admin(testing::SharedPostgres().admin_url());
    pqxx::nontransaction sql(admin);
    sql.exec0(absl::StrCat("ALTER DATABASE ", sql.quote_name(database_),
                           read_only ? " SET default_transaction_read_only = on"
                                     : " RESET default_transaction_read_only"));
    sql.exec_params("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    database_);
  }

  // plantctl as ops; `endpoints`: --service-endpoint per service (empty: none).
  CliRun AdminStatus(const std::string& output, bool per_service_endpoints = true) {
    std::vector<std::string> argv = {PLANTCTL_BIN,
                                     "--endpoint",
                                     Endpoint("defect"),
                                     "--ca",
                                     pki_->ca_file(),
                                     "--cert",
                                     ops_.cert_file,
                                     "--key",
                                     ops_.key_file,
                                     "--timeout",
                                     "5",
                                     "-o",
                                     output};
    if (per_service_endpoints) {
      for (const std::string& service : kServices) {
        argv.insert(argv.end(),
                    {"--service-endpoint", absl::StrCat(service, "=", Endpoint(service))});
      }
    }
    argv.insert(argv.end(), {"admin", "status"});
    return Run(argv);
  }

  CliRun Run(const std::vector<std::string>& argv) {
    static int counter = 0;
    const std::string out = absl::StrCat(dir_, "/out.", counter);
    const std::string err = absl::StrCat(dir_, "/err.", counter++);
    testing::internal::SpawnOptions spawn = testing::internal::Command(argv, out);
    spawn.stderr_file = err;
    spawn.env = {"HOME=" + dir_, "PLANTCTL_CONFIG="};
    CliRun run;
    absl::StatusOr<pid_t> pid = testing::internal::Spawn(spawn);
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

  // The JSON rows by service.
  static std::map<std::string, nlohmann::json> Rows(const CliRun& run) {
    std::map<std::string, nlohmann::json> rows;
    for (absl::string_view line : absl::StrSplit(run.out, '\n', absl::SkipEmpty())) {
      nlohmann::json row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_FALSE(row.is_discarded()) << line;
      if (!row.is_discarded()) rows[row.value("service", "")] = row;
    }
    return rows;
  }

  // The plaintext probe listener's address, from the server's log line.
  std::string ProbeEndpoint(const std::string& service) const {
    auto it = servers_.find(service);
    if (it == servers_.end()) return "";
    static const std::regex line(R"(probe listener \(plaintext, grpc.health.v1 only\) on (\S+))");
    std::smatch match;
    const std::string log = it->second->log();
    return std::regex_search(log, match, line) ? match[1].str() : "";
  }

  std::string Endpoint(const std::string& service) const {
    auto it = servers_.find(service);
    return it == servers_.end() ? "" : it->second->endpoint();
  }
  static std::string Rfc3339(absl::Time time) {
    return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", time, absl::UTCTimeZone());
  }

  std::unique_ptr<testing::TestPki> pki_;
  std::unique_ptr<testing::RedisServer> planning_redis_;
  testing::TestPki::Client ops_;
  std::map<std::string, std::unique_ptr<testing::ServerProcess>> servers_;
  std::map<std::string, absl::Time> not_after_;
  std::string database_;  // the test's own
  std::string dir_;
};

TEST_F(AdminStatusTest, EveryServiceServingWithItsOwnIdentityCertificateAndVersion) {
  CliRun run = AdminStatus("json");
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  std::map<std::string, nlohmann::json> rows = Rows(run);
  // WhoAmI's server_version: "0.1.0 (git 3d0107a1b2c3)" (the server binary's revision,
  // which a partial rebuild may leave older than this test's).
  const std::string version = absl::StrCat(build_info::kVersion, " (git ");
  for (const std::string& service : kServices) {
    ASSERT_EQ(rows.count(service), 1u) << run.out;
    const nlohmann::json& row = rows[service];
    EXPECT_EQ(row.value("health", ""), "SERVING") << row;
    EXPECT_EQ(row.value("endpoint", ""), Endpoint(service)) << row;
    EXPECT_EQ(row.value("identity", ""),
              absl::StrCat("spiffe://", testing::TestPki::kTrustDomain, "/service/", service))
        << row;
    EXPECT_EQ(row.value("cert_not_after", ""), Rfc3339(not_after_[service])) << row;
    EXPECT_THAT(row.value("full_name", ""), ::testing::StartsWith("plantmesh." + service + ".v1."));
    EXPECT_THAT(row.value("version", ""), ::testing::StartsWith(version)) << row;
    EXPECT_EQ(row.value("error", "x"), "") << row;
  }

  // The table: a header and a row per service, SERVING, with its identity.
  CliRun table = AdminStatus("table");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, ::testing::StartsWith("service "));
  for (const std::string& service : kServices) {
    EXPECT_THAT(table.out, ::testing::ContainsRegex(absl::StrCat(
                               "\n", service, " +", Endpoint(service), " +SERVING +.*/service/",
                               service, " +", Rfc3339(not_after_[service]))))
        << table.out;
  }
}

TEST_F(AdminStatusTest, AStoppedServiceIsUnavailableAndTheExitCodeSaysSo) {
  ASSERT_EQ(servers_["telemetry"]->Terminate(), 0);
  CliRun run = AdminStatus("json");
  EXPECT_EQ(run.exit_code, 24) << run.out << run.err;  // 10 + UNAVAILABLE
  std::map<std::string, nlohmann::json> rows = Rows(run);
  ASSERT_EQ(rows.size(), kServices.size()) << run.out;
  EXPECT_EQ(rows["telemetry"].value("health", ""), "UNAVAILABLE") << rows["telemetry"];
  EXPECT_NE(rows["telemetry"].value("error", ""), "");
  EXPECT_EQ(rows["telemetry"].value("identity", "x"), "");
  EXPECT_EQ(rows["defect"].value("health", ""), "SERVING");
  EXPECT_EQ(rows["planning"].value("health", ""), "SERVING");
  EXPECT_THAT(run.err, HasSubstr("telemetry at " + Endpoint("telemetry") + ": UNAVAILABLE"));

  CliRun table = AdminStatus("table");
  EXPECT_EQ(table.exit_code, 24);
  EXPECT_THAT(table.out, ::testing::ContainsRegex("\ntelemetry +[0-9.:]+ +UNAVAILABLE +- +- +-"));
}

// Outside testing: with PostgreSQL stopped every call failed UNAVAILABLE while this said
// SERVING and exited 0. A service whose server cannot reach what it needs is DEGRADED.
TEST_F(AdminStatusTest, AServiceWhoseServerCannotReachItsRedisIsDegraded) {
  planning_redis_->Stop();
  CliRun run = AwaitHealth("planning", "DEGRADED");
  std::map<std::string, nlohmann::json> rows = Rows(run);
  EXPECT_EQ(rows["planning"].value("health", ""), "DEGRADED") << run.out << run.err;
  EXPECT_EQ(run.exit_code, 24) << run.out << run.err;
  EXPECT_THAT(rows["planning"].value("error", ""), HasSubstr("cannot use its Redis: out of reach"));
  EXPECT_EQ(rows["defect"].value("health", ""), "SERVING");
  EXPECT_THAT(run.err, HasSubstr("planning at " + Endpoint("planning") + ": UNAVAILABLE"));
  ASSERT_TRUE(planning_redis_->Restart().ok());
  testing::PollUntil([&] { return AdminStatus("json").exit_code == 0; }, absl::Seconds(30));
  EXPECT_EQ(AdminStatus("json").exit_code, 0);
}

// Outside testing: a PostgreSQL that refuses writes (a standby left behind the URL after a
// failover) was worded as out of reach, which sent an operator to debug the network.
TEST_F(AdminStatusTest, AServiceWhosePostgresRefusesWritesIsDegradedAndTheErrorSaysBoth) {
  SetReadOnly(true);
  CliRun run = AwaitHealth("defect", "DEGRADED");
  std::map<std::string, nlohmann::json> rows = Rows(run);
  EXPECT_EQ(rows["defect"].value("health", ""), "DEGRADED") << run.out << run.err;
  EXPECT_EQ(run.exit_code, 24) << run.out << run.err;
  EXPECT_THAT(rows["defect"].value("error", ""),
              HasSubstr("out of reach, or refusing writes (a read-only server"));
  SetReadOnly(false);
  testing::PollUntil([&] { return AdminStatus("json").exit_code == 0; }, absl::Seconds(30));
  EXPECT_EQ(AdminStatus("json").exit_code, 0);
}

TEST_F(AdminStatusTest, OneEndpointForAllAsksEveryServiceThereAndNamesTheMissing) {
  // Without per-service endpoints every service is asked at --endpoint (defect's
  // server): the others are not hosted there.
  CliRun run = AdminStatus("json", /*per_service_endpoints=*/false);
  EXPECT_EQ(run.exit_code, 15) << run.out << run.err;  // 10 + NOT_FOUND
  std::map<std::string, nlohmann::json> rows = Rows(run);
  EXPECT_EQ(rows["defect"].value("health", ""), "SERVING");
  EXPECT_EQ(rows["telemetry"].value("health", ""), "NOT_FOUND") << rows["telemetry"];
  EXPECT_EQ(rows["planning"].value("health", ""), "NOT_FOUND") << rows["planning"];
  EXPECT_EQ(rows["planning"].value("endpoint", ""), Endpoint("defect"));
}

// The README's `--insecure` with the probe ports: health only, the version empty, and
// stderr names the call it could not make (outside testing: "UNIMPLEMENTED: " alone).
TEST_F(AdminStatusTest, TheProbeListenersAnswerHealthAndSayWhyTheVersionIsMissing) {
  std::vector<std::string> argv = {
      PLANTCTL_BIN, "--insecure", "--endpoint", ProbeEndpoint("defect"), "-o", "json"};
  for (const std::string& service : kServices) {
    ASSERT_NE(ProbeEndpoint(service), "") << servers_[service]->log();
    argv.insert(argv.end(),
                {"--service-endpoint", absl::StrCat(service, "=", ProbeEndpoint(service))});
  }
  argv.insert(argv.end(), {"admin", "status"});
  CliRun run = Run(argv);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  std::map<std::string, nlohmann::json> rows = Rows(run);
  ASSERT_EQ(rows.size(), kServices.size()) << run.out;
  for (const std::string& service : kServices) {
    EXPECT_EQ(rows[service].value("health", ""), "SERVING") << rows[service];
    EXPECT_EQ(rows[service].value("version", "x"), "") << rows[service];
    EXPECT_THAT(run.err, HasSubstr(absl::StrCat(service, " at ", ProbeEndpoint(service),
                                                ": UNIMPLEMENTED: WhoAmI (for the version)")));
  }
}

}  // namespace
}  // namespace plantmesh::e2e
