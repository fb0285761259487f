#include "server/runtime/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "server/runtime/service_module.h"
#include "tests/support/test_servers.h"

namespace plantmesh::runtime {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plantmesh-config-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    for (const char* name : {"PLANTMESH_LISTEN", "PLANTMESH_REDIS_PORT", "PLANTMESH_INSECURE",
                             "PLANTMESH_SERVICES", "PLANTMESH_CONFIG", "PLANTMESH_PROBE_LISTEN"}) {
      unsetenv(name);
    }
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // With `services` (the known ones), the first is hosted unless `args` name others: the
  // default, defect, is none of the tests' services.
  absl::StatusOr<ServerConfig> Load(std::vector<std::string> args,
                                    const std::vector<const ServiceDescriptor*>& services = {}) {
    if (!services.empty() && std::find(args.begin(), args.end(), "--services") == args.end()) {
      args.insert(args.begin(), {"--services", services.front()->name});
    }
    args.insert(args.begin(), "plantmesh-server");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    return LoadServerConfig(static_cast<int>(argv.size()), argv.data(), services);
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigTest, InsecureOnLoopbackWithDefaults) {
  absl::StatusOr<ServerConfig> config = Load({"--insecure"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->insecure);
  EXPECT_EQ(config->listen, "127.0.0.1:7443");
  EXPECT_EQ(config->services, std::vector<std::string>{"defect"});
  EXPECT_EQ(config->drain_timeout, absl::Seconds(15));
  EXPECT_TRUE(config->reflection);
}

TEST_F(ConfigTest, InsecureRefusedOnAllInterfaces) {
  absl::StatusOr<ServerConfig> config = Load({"--insecure", "--listen", "0.0.0.0:7443"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("insecure"));
  EXPECT_THAT(config.status().message(), HasSubstr("0.0.0.0:7443"));
}

TEST_F(ConfigTest, InsecureAcceptedOnEveryLoopbackSpelling) {
  for (const char* listen : {"127.0.0.1:0", "127.1.2.3:9", "localhost:0", "[::1]:0"}) {
    EXPECT_TRUE(Load({"--insecure", "--listen", listen}).ok()) << listen;
  }
  EXPECT_FALSE(Load({"--insecure", "--listen", "[::]:0"}).ok());
  EXPECT_FALSE(Load({"--insecure", "--listen", "plant.example:0"}).ok());
}

// Outside testing: a blank around the address, or a host without an address, passed the
// check and failed at bind as "the address is in use (another server?)", exit 1.
TEST_F(ConfigTest, AListenAddressIsCheckedBeforeTheStart) {
  for (const char* bad : {" 127.0.0.1:7443", "127.0.0.1:7443 ", "127.0.0.1: 7443", "127.0.0.1:+1",
                          "127.0.0.1:99999", "127.0.0.1:", "::1:0"}) {
    absl::StatusOr<ServerConfig> config = Load({"--insecure", "--listen", bad});
    EXPECT_EQ(std::string(config.status().message()),
              absl::StrCat("listen: '", bad, "' is not HOST:PORT (e.g. 127.0.0.1:7443, [::1]:0)"))
        << bad;
  }
  absl::StatusOr<ServerConfig> config =
      Load({"--insecure", "--listen", "127.0.0.1:0", "--probe-listen", "nosuchhost.invalid:7444"});
  EXPECT_THAT(config.status().message(),
              HasSubstr("probe-listen: host 'nosuchhost.invalid' has no address ("))
      << config.status();
  config = Load({"--insecure", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:9464\t"});
  EXPECT_THAT(config.status().message(), HasSubstr("metrics-listen: '127.0.0.1:9464\t' is not"))
      << config.status();
}

// Outside testing: a number beyond the option's type was "Could not convert: --KEY = N",
// with no file, line or range, and the pool size had no bound.
TEST_F(ConfigTest, ANumberBeyondItsOptionIsNamedWhereItWasGiven) {
  absl::StatusOr<ServerConfig> config = Load(
      {"--config", WriteFile("big.toml", "insecure = true\npostgres-pool-size = 2147483648\n")});
  EXPECT_THAT(std::string(config.status().message()),
              ::testing::EndsWith(", line 2: postgres-pool-size: '2147483648' is out of range"))
      << config.status();
  setenv("PLANTMESH_MAX_CONCURRENT_STREAMS", "4294967296", 1);
  config = Load({"--insecure"});
  unsetenv("PLANTMESH_MAX_CONCURRENT_STREAMS");
  EXPECT_EQ(std::string(config.status().message()),
            "PLANTMESH_MAX_CONCURRENT_STREAMS (environment): '4294967296' is out of range");
  config = Load({"--insecure", "--postgres-pool-size", "100000"});
  EXPECT_EQ(std::string(config.status().message()), "postgres-pool-size: must be 1-1000");
}

// Outside testing: a misspelt variable was ignored where a misspelt key is an error.
TEST_F(ConfigTest, AVariableASettingsNameMissesByALetterIsRefused) {
  for (const char* misspelt :
       {"PLANTMESH_EXECUTOR_THREAD", "plantmesh_executor_threads", "PLANTMESH_EXECUTOR_THREADSS"}) {
    setenv(misspelt, "7", 1);
    absl::StatusOr<ServerConfig> config = Load({"--insecure"});
    unsetenv(misspelt);
    EXPECT_EQ(std::string(config.status().message()),
              absl::StrCat("environment: ", misspelt,
                           " is no setting of plantmesh-server; did you mean "
                           "PLANTMESH_EXECUTOR_THREADS? (see --help for each setting's variable)"));
  }
  // Another program's variables are no concern of the server's.
  setenv("PLANTMESH_ENDPOINT", "127.0.0.1:7443", 1);
  setenv("PLANTMESH_DEADLINE", "5", 1);
  EXPECT_TRUE(Load({"--insecure"}).ok());
  unsetenv("PLANTMESH_ENDPOINT");
  unsetenv("PLANTMESH_DEADLINE");
}

TEST_F(ConfigTest, TlsFilesRequiredWithoutInsecure) {
  absl::StatusOr<ServerConfig> config = Load({});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* key : {"tls-ca", "tls-cert", "tls-key", "role-bindings"}) {
    EXPECT_THAT(config.status().message(), HasSubstr(key));
  }
}

TEST_F(ConfigTest, UnreadableTlsFileIsNamed) {
  absl::StatusOr<std::unique_ptr<plantmesh::testing::TestPki>> pki =
      plantmesh::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string ca = (*pki)->ca_file();
  const std::string cert = (*pki)->server_cert();
  const std::string bindings = WriteFile("bindings.json", R"({"bindings": []})");
  absl::StatusOr<ServerConfig> config =
      Load({"--tls-ca", ca, "--tls-cert", cert, "--tls-key", (dir_ / "missing.key").string(),
            "--role-bindings", bindings});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("tls-key: cannot read"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("tls-ca")));

  EXPECT_TRUE(Load({"--tls-ca", ca, "--tls-cert", cert, "--tls-key", (*pki)->server_key(),
                    "--role-bindings", bindings})
                  .ok());
}

// Outside testing (sweep 48): a truncated role-binding file stopped the server with exit 1
// after it had connected to PostgreSQL and Redis, naming neither the file nor the setting.
// Its content is checked with the rest of the configuration.
TEST_F(ConfigTest, TheRoleBindingFilesContentIsCheckedWithTheConfiguration) {
  const std::string truncated = WriteFile("truncated.json", R"({"bindings": [{"identity")");
  const std::string unknown_role = WriteFile(
      "foremen.json",
      R"({"bindings": [{"identity": "spiffe://plantmesh.local/user/anna", "roles": ["foremen"]}]})");
  for (const std::string& file : {truncated, unknown_role}) {
    absl::StatusOr<ServerConfig> config =
        Load({"--insecure", "--listen", "127.0.0.1:0", "--role-bindings", file});
    ASSERT_FALSE(config.ok()) << file;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr("role-bindings: '" + file + "': ")) << file;
  }
  const std::string good = WriteFile("good.json", R"({"bindings": []})");
  EXPECT_TRUE(Load({"--insecure", "--listen", "127.0.0.1:0", "--role-bindings", good}).ok());
  // Re-test: a mistyped trust-domain is the cause named, not the bindings it would refuse.
  const std::string anna = WriteFile(
      "anna.json",
      R"({"bindings": [{"identity": "spiffe://plantmesh.local/user/anna", "roles": ["foreman"]}]})");
  absl::StatusOr<ServerConfig> config =
      Load({"--insecure", "--listen", "127.0.0.1:0", "--trust-domain", "Plantmesh.Local",
            "--role-bindings", anna});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("trust-domain: 'Plantmesh.Local'"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("role-bindings")));
}

// Readable is not enough: a server with files it cannot use would report itself ready
// and then fail every handshake.
TEST_F(ConfigTest, UnusableTlsFilesAreRefusedAtStartup) {
  absl::StatusOr<std::unique_ptr<plantmesh::testing::TestPki>> pki =
      plantmesh::testing::TestPki::Create();
  ASSERT_TRUE(pki.ok()) << pki.status();
  const std::string ca = (*pki)->ca_file();
  const std::string cert = (*pki)->server_cert();
  const std::string key = (*pki)->server_key();
  const std::string bindings = WriteFile("bindings.json", R"({"bindings": []})");
  const std::string garbage = WriteFile("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n");
  absl::StatusOr<plantmesh::testing::TestPki::Client> other = (*pki)->IssueClient("other", {});
  ASSERT_TRUE(other.ok()) << other.status();

  auto load = [&](const std::string& ca_file, const std::string& cert_file,
                  const std::string& key_file) {
    return Load({"--tls-ca", ca_file, "--tls-cert", cert_file, "--tls-key", key_file,
                 "--role-bindings", bindings});
  };
  ASSERT_TRUE(load(ca, cert, key).ok()) << load(ca, cert, key).status();

  absl::StatusOr<ServerConfig> config = load(garbage, cert, key);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("tls-ca: no PEM certificate"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("tls-cert")));

  // Outside testing: a leaf certificate as tls-ca was served, and every client was refused
  // with "certificate verify failed" alone.
  config = load(cert, cert, key);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("holds no CA certificate valid now (the last one read: a certificate "
                        "that is not a CA (no basicConstraints CA:TRUE)): no client "
                        "certificate would verify"));

  config = load(ca, garbage, key);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("tls-cert: not a PEM certificate"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("tls-key")));

  config = load(ca, cert, garbage);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("tls-key: not an unencrypted PEM private key"));

  // A certificate file where the key belongs: not a private key either.
  config = load(ca, cert, cert);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("tls-key: not an unencrypted PEM private key"));

  // A valid key of another certificate.
  config = load(ca, cert, other->key_file);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("tls-key: does not match tls-cert"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("tls-ca")));

  // A client's pair of the CA is no server's: clients would refuse it (outside testing:
  // one was served, and every client blamed expiry or the CA).
  config = load(ca, other->cert_file, other->key_file);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("is not a TLS server certificate"));
}

TEST_F(ConfigTest, UnknownKeyInFileIsAnErrorNamingIt) {
  const std::string file = WriteFile("server.toml", "insecure = true\nlisten_adress = \"x\"\n");
  absl::StatusOr<ServerConfig> config = Load({"--config", file});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("listen_adress"));
}

TEST_F(ConfigTest, FileValuesApply) {
  const std::string file = WriteFile("server.toml",
                                     "insecure = true\n"
                                     "listen = \"127.0.0.1:0\"\n"
                                     "services = [\"defect\", \"telemetry\"]\n"
                                     "redis-port = 6400\n"
                                     "drain-seconds = 2.5\n"
                                     "reflection = false\n"
                                     "postgres-statement-timeout-ms = 2000\n"
                                     "postgres-lock-timeout-ms = 0\n");
  absl::StatusOr<ServerConfig> config = Load({"--config", file});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->services, (std::vector<std::string>{"defect", "telemetry"}));
  EXPECT_EQ(config->redis_port, 6400);
  EXPECT_EQ(config->drain_timeout, absl::Milliseconds(2500));
  EXPECT_FALSE(config->reflection);
  EXPECT_EQ(config->postgres_statement_timeout_ms, 2000);
  EXPECT_EQ(config->postgres_lock_timeout_ms, 0);
}

TEST_F(ConfigTest, EnvironmentOverridesFileAndFlagsOverrideEnvironment) {
  const std::string file =
      WriteFile("server.toml", "insecure = true\nredis-port = 6400\nlisten = \"127.0.0.1:1\"\n");
  setenv("PLANTMESH_REDIS_PORT", "6500", 1);
  setenv("PLANTMESH_LISTEN", "127.0.0.1:2", 1);
  setenv("PLANTMESH_SERVICES", "a,b", 1);
  absl::StatusOr<ServerConfig> config = Load({"--config", file, "--listen", "127.0.0.1:3"});
  unsetenv("PLANTMESH_REDIS_PORT");
  unsetenv("PLANTMESH_LISTEN");
  unsetenv("PLANTMESH_SERVICES");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->redis_port, 6500);       // env over file
  EXPECT_EQ(config->listen, "127.0.0.1:3");  // flag over env
  EXPECT_EQ(config->services, (std::vector<std::string>{"a", "b"}));
}

TEST_F(ConfigTest, EnvironmentFlagAndConfigPath) {
  const std::string file = WriteFile("server.toml", "listen = \"127.0.0.1:9\"\n");
  setenv("PLANTMESH_INSECURE", "true", 1);
  setenv("PLANTMESH_CONFIG", file.c_str(), 1);
  absl::StatusOr<ServerConfig> config = Load({});
  unsetenv("PLANTMESH_INSECURE");
  unsetenv("PLANTMESH_CONFIG");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->insecure);
  EXPECT_EQ(config->listen, "127.0.0.1:9");
}

TEST_F(ConfigTest, BadValuesAreNamed) {
  absl::StatusOr<ServerConfig> config = Load({"--insecure", "--redis-port", "seven"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("redis-port"));
  config = Load({"--insecure", "--listen", "nonsense"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("listen"));
  config = Load({"--insecure", "--no-such-flag"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("no-such-flag"));
  config = Load({"--insecure", "--postgres-lock-timeout-ms", "-1"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("postgres-lock-timeout-ms"));
  config = Load({"--insecure", "--request-id-retention-days", "0"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("request-id-retention-days: must be 1-36500"));
  // Outside testing: nan, inf and 1e400 were a drain without end.
  for (const char* drain : {"nan", "inf", "1e400", "-5", "3601"}) {
    config = Load({"--insecure", "--drain-seconds", drain});
    ASSERT_FALSE(config.ok()) << drain;
    EXPECT_THAT(config.status().message(), HasSubstr("drain-seconds: must be")) << drain;
  }
  EXPECT_TRUE(Load({"--insecure", "--drain-seconds", "3600"}).ok());
  // gRPC takes the connection age in milliseconds as an int: 30 days would wrap.
  for (const char* age : {"-1", "2592000"}) {
    config = Load({"--insecure", "--max-connection-age-seconds", age});
    EXPECT_THAT(config.status().message(),
                HasSubstr("max-connection-age-seconds: must be 0-2073600"))
        << age;
  }
  config = Load({"--insecure", "--max-connection-age-grace-seconds", "0"});
  EXPECT_THAT(config.status().message(),
              HasSubstr("max-connection-age-grace-seconds: must be 1-2073600"));
  for (const char* timeout : {"0", "121"}) {
    config = Load({"--insecure", "--handshake-timeout-seconds", timeout});
    EXPECT_THAT(config.status().message(), HasSubstr("handshake-timeout-seconds: must be 1-120"))
        << timeout;
  }
  config = Load({"--insecure", "--max-connection-age-seconds", "2073600"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_connection_age_seconds, 2073600);
}

// Redis's password comes from a file (never a flag, which `ps` would show): its one line
// is read at start; a file that cannot be the password is named with the config line,
// never quoting its content.
TEST_F(ConfigTest, RedisPasswordIsReadFromItsFileAndAFaultyFileIsNamed) {
  const std::string password = WriteFile("redis-password", "pa ss\"word\r\n");
  const std::string file = WriteFile(
      "server.toml",
      "insecure = true\nredis-user = \"plantmesh\"\nredis-password-file = \"" + password + "\"\n");
  absl::StatusOr<ServerConfig> config = Load({"--config", file});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->redis_user, "plantmesh");
  EXPECT_EQ(config->redis_password, "pa ss\"word");

  const std::string two_lines = WriteFile("two-lines", "secret\nsecret2\n");
  const std::string empty = WriteFile("empty", "\n");
  const std::string no_bytes = WriteFile("no-bytes", "");
  const std::string missing = (dir_ / "missing").string();
  for (const auto& [path, why] :
       {std::pair{two_lines, "holds more than one line"}, std::pair{empty, "is empty"},
        std::pair{no_bytes, "is empty"}, std::pair{missing, "cannot read"}}) {
    const std::string toml =
        WriteFile("bad.toml", "insecure = true\nredis-password-file = \"" + path + "\"\n");
    config = Load({"--config", toml});
    ASSERT_FALSE(config.ok()) << path;
    EXPECT_THAT(config.status().message(), HasSubstr(toml + ", line 2: redis-password-file: "));
    EXPECT_THAT(config.status().message(), HasSubstr(why));
    EXPECT_THAT(config.status().message(), Not(HasSubstr("secret")));
  }
  config = Load({"--insecure", "--redis-user", "plantmesh"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("redis-user: needs redis-password-file"));
}

// Outside testing: a directory given as redis-password-file stopped the server with an
// uncaught exception (SIGABRT); as role-bindings or tls-ca it was "not valid JSON" or "no
// PEM certificate". Every file option names it as a directory.
TEST_F(ConfigTest, ADirectoryGivenAsAFileIsNamedAsOne) {
  const std::string dir = dir_.string();
  const std::string bindings = WriteFile("bindings.json", R"({"bindings": []})");
  absl::StatusOr<ServerConfig> config =
      Load({"--insecure", "--redis-password-file", dir, "--role-bindings", dir});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("redis-password-file: '" + dir + "' is a directory, not a file"));
  EXPECT_THAT(config.status().message(),
              HasSubstr("role-bindings: '" + dir + "' is a directory, not a file"));
  config =
      Load({"--tls-ca", dir, "--tls-cert", dir, "--tls-key", dir, "--role-bindings", bindings});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("tls-ca: '" + dir + "' is a directory"));
  EXPECT_THAT(config.status().message(), HasSubstr("tls-key: '" + dir + "' is a directory"));
}

TEST_F(ConfigTest, MetricsListenIsOffByDefaultAndChecked) {
  absl::StatusOr<ServerConfig> config = Load({"--insecure"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics_listen, "");  // no metrics listener
  EXPECT_EQ(config->log_format, "text");
  setenv("PLANTMESH_METRICS_LISTEN", "10.1.2.3:9464", 1);
  setenv("PLANTMESH_LOG_FORMAT", "json", 1);
  config = Load({"--insecure"});
  unsetenv("PLANTMESH_METRICS_LISTEN");
  unsetenv("PLANTMESH_LOG_FORMAT");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics_listen, "10.1.2.3:9464");
  EXPECT_EQ(config->log_format, "json");
  config =
      Load({"--insecure", "--config",
            WriteFile("metrics.toml", "metrics-listen = \"[::1]:0\"\nlog-format = \"json\"\n")});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->metrics_listen, "[::1]:0");
  for (const char* bad : {"9464", "nonsense", "127.0.0.1:70000"}) {
    config = Load({"--insecure", "--metrics-listen", bad});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_THAT(config.status().message(), HasSubstr("metrics-listen")) << bad;
  }
  config = Load({"--insecure", "--listen", "127.0.0.1:7443", "--metrics-listen", "127.0.0.1:7443"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("address of listen"));
  config = Load(
      {"--insecure", "--probe-listen", "127.0.0.1:7444", "--metrics-listen", "127.0.0.1:7444"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("address of probe-listen"));
  config = Load({"--insecure", "--log-format", "xml"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("log-format"));
}

TEST_F(ConfigTest, ProbeListenIsLoopbackByDefaultAndChecked) {
  absl::StatusOr<ServerConfig> config = Load({"--insecure"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->probe_listen, "127.0.0.1:0");
  // Plaintext on a non-loopback address is allowed here (the pod IP): health only.
  config = Load({"--insecure", "--probe-listen", "10.1.2.3:7444"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->probe_listen, "10.1.2.3:7444");
  config = Load({"--insecure", "--config", WriteFile("off.toml", "probe-listen = \"\"\n")});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->probe_listen, "");  // no probe listener
  // `--probe-listen=` is the empty value, not a flag waiting for the next argument.
  config = Load({"--insecure", "--probe-listen=", "--listen=127.0.0.1:1"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->probe_listen, "");
  EXPECT_EQ(config->listen, "127.0.0.1:1");
  setenv("PLANTMESH_PROBE_LISTEN", "[::1]:7444", 1);
  config = Load({"--insecure"});
  unsetenv("PLANTMESH_PROBE_LISTEN");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->probe_listen, "[::1]:7444");
  for (const char* bad : {"7444", "nonsense", "127.0.0.1:70000", ":7444"}) {
    config = Load({"--insecure", "--probe-listen", bad});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_THAT(config.status().message(), HasSubstr("probe-listen")) << bad;
  }
  config = Load({"--insecure", "--listen", "127.0.0.1:7443", "--probe-listen", "127.0.0.1:7443"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("probe-listen"));
  const std::string file =
      WriteFile("probe.toml", "insecure = true\nprobe-listen = \"127.0.0.1:9\"\n");
  config = Load({"--config", file});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->probe_listen, "127.0.0.1:9");
}

TEST_F(ConfigTest, ServicesListOnCommandLine) {
  absl::StatusOr<ServerConfig> config = Load({"--insecure", "--services", "defect,planning"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->services, (std::vector<std::string>{"defect", "planning"}));
  // Outside testing: the blank after the comma was part of the second name.
  config = Load({"--insecure", "--services", "defect, planning "});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->services, (std::vector<std::string>{"defect", "planning"}));
  // Re-test: blanks alone started a server that hosted nothing.
  for (const char* blank : {" ", " , "}) {
    config = Load({"--insecure", "--services", blank});
    ASSERT_FALSE(config.ok()) << blank;
    EXPECT_THAT(config.status().message(), HasSubstr("services: names no service")) << blank;
  }
  const std::string markers = WriteFile("markers.toml", "insecure = true\n\"--\" = 1\n");
  config = Load({"--config", markers});
  ASSERT_FALSE(config.ok());
  // Named by its path (re-test: "config file: config file, line 2").
  EXPECT_THAT(config.status().message(),
              HasSubstr("config file " + markers + ", line 2: unknown key '--'"));
}

// Two services that both name a key `limit`: each has its own section.
struct SectionConfig : ServiceConfig {
  int64_t limit = 10;
  std::string label = "none";
};

ServiceDescriptor SectionedService(const std::string& name) {
  ServiceDescriptor descriptor;
  descriptor.name = name;
  descriptor.declare_config = [](ConfigSection& section) {
    auto config = std::make_shared<SectionConfig>();
    section.Add("limit", &config->limit, "a bounded number", 1, 100);
    section.Add("label", &config->label, "free text");
    return config;
  };
  return descriptor;
}

const SectionConfig& SectionOf(const ServerConfig& config, const std::string& name) {
  return dynamic_cast<const SectionConfig&>(*config.sections.at(name));
}

TEST_F(ConfigTest, EachServiceReadsItsOwnSection) {
  const ServiceDescriptor alpha = SectionedService("alpha"), beta = SectionedService("beta");
  const std::string file = WriteFile("server.toml",
                                     "insecure = true\n"
                                     "[alpha]\n"
                                     "limit = 5\n"
                                     "label = \"paint shop\"\n"
                                     "[beta]\n"
                                     "limit = 7\n");
  absl::StatusOr<ServerConfig> config = Load({"--config", file}, {&alpha, &beta});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(SectionOf(*config, "alpha").limit, 5);
  EXPECT_EQ(SectionOf(*config, "alpha").label, "paint shop");
  EXPECT_EQ(SectionOf(*config, "beta").limit, 7);
  EXPECT_EQ(SectionOf(*config, "beta").label, "none");  // default

  // Environment over file, flags over environment, as for every key.
  setenv("PLANTMESH_ALPHA_LIMIT", "6", 1);
  setenv("PLANTMESH_BETA_LIMIT", "8", 1);
  config = Load({"--config", file, "--beta.limit", "9"}, {&alpha, &beta});
  unsetenv("PLANTMESH_ALPHA_LIMIT");
  unsetenv("PLANTMESH_BETA_LIMIT");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(SectionOf(*config, "alpha").limit, 6);
  EXPECT_EQ(SectionOf(*config, "beta").limit, 9);

  // A section nobody hosts in this process still gets its defaults.
  config = Load({"--insecure"}, {&alpha, &beta});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(SectionOf(*config, "beta").limit, 10);
}

// Outside testing (sweep 48): a key written under the wrong section was "unknown" with no
// word of where it is known; log-level's refusal alone named no file and line.
TEST_F(ConfigTest, AKeyInTheWrongSectionSaysWhereItBelongs) {
  const ServiceDescriptor alpha = SectionedService("alpha");
  std::string file = WriteFile("server.toml", "insecure = true\n[alpha]\nlog-level = \"debug\"\n");
  absl::StatusOr<ServerConfig> config = Load({"--config", file}, {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("line 3: unknown key 'alpha.log-level' (log-level is a top-level key: "
                        "write it above the file's first [section])"));
  file = WriteFile("server2.toml", "insecure = true\nlimit = 5\n[alpha]\n");
  config = Load({"--config", file}, {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("line 2: unknown key 'limit' (limit is a key of [alpha])"));
  file = WriteFile("server3.toml", "insecure = true\nlog-level = \"verbose\"\n");
  config = Load({"--config", file}, {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(file + ", line 2: log-level: must be one of"));
}

// Re-test: an unknown service passed the configuration, and the server then ended with
// exit 1 as for a fault at run time.
TEST_F(ConfigTest, AnUnknownServiceIsAConfigurationFault) {
  const ServiceDescriptor alpha = SectionedService("alpha");
  absl::StatusOr<ServerConfig> config = Load({"--insecure", "--services", "alpha,gamma"}, {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(),
              HasSubstr("services: unknown service 'gamma' (known: alpha)"));
  EXPECT_TRUE(Load({"--insecure", "--services", "all"}, {&alpha}).ok());
}

TEST_F(ConfigTest, SectionKeysAreStrictAndChecked) {
  const ServiceDescriptor alpha = SectionedService("alpha");
  absl::StatusOr<ServerConfig> config =
      Load({"--config", WriteFile("typo.toml", "insecure = true\n[alpha]\nlimt = 5\n")}, {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("alpha.limt"));

  config = Load({"--config", WriteFile("unknown.toml", "insecure = true\n[gamma]\nlimit = 5\n")},
                {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("gamma.limit"));

  // Range problems are reported together with the other problems.
  config = Load({"--alpha.limit", "0", "--redis-port", "0"}, {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("alpha.limit: must be between 1 and 100"));
  EXPECT_THAT(config.status().message(), HasSubstr("redis-port"));
  EXPECT_THAT(config.status().message(), HasSubstr("tls-ca: required"));
}

// Outside testing: CLI11 read a zero-padded number as octal
// (PLANTMESH_TELEMETRY_RETENTION_DAYS=030 kept 24 days of samples), took hex, clamped a
// number beyond 64 bits, and a [section] repeated to override a value kept the first.
TEST_F(ConfigTest, WholeNumbersAreDecimalWhereverTheyAreGiven) {
  const ServiceDescriptor alpha = SectionedService("alpha");
  setenv("PLANTMESH_ALPHA_LIMIT", "030", 1);
  absl::StatusOr<ServerConfig> config =
      Load({"--insecure", "--postgres-pool-size", "010", "--events-retain=+0900"}, {&alpha});
  unsetenv("PLANTMESH_ALPHA_LIMIT");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(SectionOf(*config, "alpha").limit, 30);
  EXPECT_EQ(config->postgres_pool_size, 10);
  EXPECT_EQ(config->events_retain, 900);
  // In the file TOML's rules hold: a padded number is no TOML (never octal), a float is
  // no whole number, hex is hex.
  config = Load({"--config", WriteFile("padded.toml", "insecure = true\n[alpha]\nlimit = 0010\n")},
                {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("line 3")) << config.status();
  config = Load({"--config", WriteFile("float.toml", "insecure = true\n[alpha]\nlimit = 1e1\n")},
                {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("alpha.limit")) << config.status();
  config = Load({"--config", WriteFile("hex.toml", "insecure = true\n[alpha]\nlimit = 0x10\n")},
                {&alpha});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(SectionOf(*config, "alpha").limit, 16);

  for (const char* bad : {"0x10", "1e3", "99999999999999999999", "12abc", "0o17"}) {
    config = Load({"--insecure", "--events-retain", bad});
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_THAT(config.status().message(), HasSubstr("events-retain")) << bad;
  }
  config = Load({"--insecure", "--drain-seconds", "0x10"});
  EXPECT_THAT(config.status().message(), HasSubstr("drain-seconds")) << config.status();
  // Outside testing: a value from the environment was named as the flag.
  setenv("PLANTMESH_EXECUTOR_THREADS", "0x10", 1);
  config = Load({"--insecure"});
  unsetenv("PLANTMESH_EXECUTOR_THREADS");
  EXPECT_EQ(std::string(config.status().message()),
            "PLANTMESH_EXECUTOR_THREADS (environment): '0x10' is not a whole number in decimal "
            "digits");
  // Outside testing: a flag's value was whatever CLI11 made of it ("0x1" false, "2" true,
  // `--insecure=` true, "garbage" "Could not convert: --insecure = garbage").
  for (const char* bad : {"garbage", "0x1", "-1", "2"}) {
    setenv("PLANTMESH_INSECURE", bad, 1);
    config = Load({"--listen", "127.0.0.1:1"});
    unsetenv("PLANTMESH_INSECURE");
    EXPECT_EQ(std::string(config.status().message()),
              absl::StrCat("PLANTMESH_INSECURE (environment): '", bad,
                           "' is not a boolean (true or false)"));
  }
  config = Load({"--insecure", "--drain-seconds="});
  EXPECT_EQ(std::string(config.status().message()),
            "--drain-seconds: '' is not a decimal number");  // it drained for 0 s
  config = Load({"--insecure=", "--listen", "127.0.0.1:1"});
  EXPECT_EQ(std::string(config.status().message()),
            "--insecure= has an empty value: write --insecure (or --insecure=true), "
            "--insecure=false, or leave it out");
  // Re-test: a negated name written empty was taken as given.
  config = Load({"--insecure", "--no-reflection="});
  EXPECT_EQ(std::string(config.status().message()),
            "--no-reflection= has an empty value: write --no-reflection (or "
            "--no-reflection=true), --no-reflection=false, or leave it out");
  // Re-test: an empty redis-host started a server that could never reach Redis.
  config = Load({"--insecure", "--redis-host="});
  EXPECT_THAT(config.status().message(), HasSubstr("redis-host: empty")) << config.status();
  config = Load({"--insecure", "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"});
  EXPECT_EQ(std::string(config.status().message()), "--listen: given 2 times: give it once");
  // Re-test: on/off flags given twice took the last one without a word.
  config = Load({"--insecure", "--no-reflection", "--reflection"});
  EXPECT_EQ(std::string(config.status().message()), "--reflection: given 2 times: give it once");
  // Re-test: blanks around redis-host, or a port in it, started a server that could never
  // reach Redis.
  for (const char* bad : {" 127.0.0.1", "127.0.0.1 ", "127.0.0.1:6379"}) {
    config = Load({"--insecure", "--redis-host", bad});
    EXPECT_THAT(config.status().message(), HasSubstr(absl::StrCat("redis-host: '", bad, "'")))
        << bad;
  }
  EXPECT_TRUE(Load({"--insecure", "--redis-host", "::1"}).ok());
  for (const char* good : {"--insecure=true", "--insecure=YES", "--insecure=1"}) {
    config = Load({good, "--listen", "127.0.0.1:1"});
    ASSERT_TRUE(config.ok()) << good << ": " << config.status();
    EXPECT_TRUE(config->insecure) << good;
  }
  setenv("PLANTMESH_DRAIN_SECONDS", "-1", 1);
  config = Load({"--insecure"});
  EXPECT_THAT(config.status().message(), HasSubstr("PLANTMESH_DRAIN_SECONDS (environment): "));
  unsetenv("PLANTMESH_DRAIN_SECONDS");

  config = Load(
      {"--config",
       WriteFile("twice.toml", "insecure = true\n[alpha]\nlimit = 5\nlabel = \"x\"\nlimit = 7\n")},
      {&alpha});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("given twice"));

  // Re-test: `[ alpha ]` (blanks inside the brackets, valid TOML) was a section " alpha ".
  config = Load({"--config", WriteFile("blanks.toml", "insecure = true\n[ alpha ]\nlimit = 9\n")},
                {&alpha});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(SectionOf(*config, "alpha").limit, 9);

  // Outside testing: a section opened twice with different keys was taken as one.
  for (const char* text : {"insecure = true\n[alpha]\nlimit = 5\n[alpha]\nlimit = 7\n",
                           "[alpha]\nlimit = 5\n[beta]\n[alpha]\n"}) {
    config = Load({"--config", WriteFile("section-twice.toml", text)}, {&alpha});
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_THAT(config.status().message(), HasSubstr("given twice")) << text;
  }
}

// Outside testing (Y M4): `retention-days = "5"`, `insecure = "false"` and `limit = [6]`
// were taken, CLI11 reading every value as text; a value is taken as TOML wrote it.
TEST_F(ConfigTest, AValueIsTakenOnlyAsItsKindIsWritten) {
  const ServiceDescriptor alpha = SectionedService("alpha");
  const std::pair<const char*, const char*> refused[] = {
      {"[alpha]\nlimit = \"5\"\n", "line 2: 'alpha.limit' takes an integer, not a string (\"5\")"},
      {"[alpha]\nlimit = [6]\n", "line 2: 'alpha.limit' takes one value, not an array"},
      {"[alpha]\nlimit = 6.0\n", "'alpha.limit' takes an integer, not a float (6.0)"},
      {"insecure = \"false\"\n", "line 1: 'insecure' takes a boolean, not a string (\"false\")"},
      {"insecure = 1\n", "'insecure' takes a boolean, not an integer (1)"},
      {"listen = 8443\n", "'listen' takes a string in quotes, not an integer (8443)"},
      {"drain-seconds = \"30\"\n",
       "'drain-seconds' takes a float or an integer, not a string (\"30\")"},
      {"services = [\"defect\", 7]\n", "'services' takes a string in quotes, not an integer (7)"},
      {"log-level = 2026-12-06\n", "'log-level' takes a string in quotes, not a date or time"},
  };
  for (const auto& [text, message] : refused) {
    absl::StatusOr<ServerConfig> config =
        Load({"--insecure", "--config", WriteFile("typed.toml", text)}, {&alpha});
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr(message)) << text;
  }
  // An unknown key is named with its line, whatever its value.
  absl::StatusOr<ServerConfig> unknown = Load(
      {"--config", WriteFile("unknown.toml", "insecure = true\n[alpha]\nlimt = true\n")}, {&alpha});
  EXPECT_THAT(unknown.status().message(), HasSubstr("line 3: unknown key 'alpha.limt'"));
  unknown =
      Load({"--config", WriteFile("unknown.toml", "insecure = true\n[alpha]\nlimt = {a = 1}\n")},
           {&alpha});
  EXPECT_THAT(unknown.status().message(), HasSubstr("line 3: unknown key 'alpha.limt'"));
  unknown =
      Load({"--config", WriteFile("table.toml", "insecure = true\n[alpha]\nlimit = {a = 1}\n")},
           {&alpha});
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("line 3: 'alpha.limit' takes an integer, not a table (sections are one "
                        "level: [name])"));
  // A refusal made after parsing names the file's line when the file gave the value
  // (re-test: a range refusal named neither), not when a flag gave it.
  const std::string ranged =
      WriteFile("ranged.toml", "insecure = true\nredis-port = 0\n[alpha]\nlimit = 0\n");
  absl::StatusOr<ServerConfig> out_of_range = Load({"--config", ranged}, {&alpha});
  EXPECT_THAT(
      out_of_range.status().message(),
      HasSubstr("config file " + ranged + ", line 4: alpha.limit: must be between 1 and 100"));
  EXPECT_THAT(out_of_range.status().message(),
              HasSubstr("config file " + ranged + ", line 2: redis-port"));
  out_of_range = Load({"--config", ranged, "--alpha.limit", "0"}, {&alpha});
  EXPECT_THAT(out_of_range.status().message(), Not(HasSubstr(", line 4: alpha.limit")));
  // The negated name of a flag is a key as well.
  EXPECT_TRUE(
      Load({"--config", WriteFile("negated.toml", "insecure = true\nno-reflection = true\n")})
          .ok());
  absl::StatusOr<ServerConfig> config =
      Load({"--config", WriteFile("typed.toml",
                                  "insecure = true\ndrain-seconds = 3\n[alpha]\nlimit = 6\n"
                                  "label = \"x\"\n")},
           {&alpha});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->drain_timeout, absl::Seconds(3));
  EXPECT_EQ(SectionOf(*config, "alpha").limit, 6);
}

}  // namespace
}  // namespace plantmesh::runtime
