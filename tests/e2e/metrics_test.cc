// Metrics and JSON logs end to end: a scripted workload against a real server over
// mTLS, then GET /metrics (cpp-httplib client) — the scraped counters equal the calls
// made, by method and code, the latency histogram counts each call once, build info
// and the runtime's gauges are there — and every log line is a JSON object carrying
// the call's fields.
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plantmesh/planning/v1/planning_service.pm_client.h"
#include "plantmesh/system/v1/system_service.grpc.pb.h"
#include "tests/e2e/mesh.h"
#include "tests/support/poll.h"

namespace plantmesh::e2e {
namespace {

constexpr char kDefectService[] = "plantmesh.defect.v1.DefectService";
constexpr char kSystemService[] = "plantmesh.system.v1.SystemService";

// One scrape, parsed: the samples of each metric name, with their labels.
struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};
using Scrape = std::multimap<std::string, Sample>;

// Parses the text format 0.0.4 (label values unescaped). Fails the test on a line it
// cannot read.
Scrape Parse(const std::string& text) {
  Scrape scrape;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    Sample sample;
    const std::string value = line.substr(space + 1);
    if (value == "+Inf") {
      sample.value = std::numeric_limits<double>::infinity();
    } else {
      EXPECT_TRUE(absl::SimpleAtod(value, &sample.value)) << line;
    }
    std::string series = line.substr(0, space);
    const size_t brace = series.find('{');
    std::string name = series.substr(0, brace);
    if (brace != std::string::npos) {
      size_t i = brace + 1;
      while (i < series.size() && series[i] != '}') {
        const size_t eq = series.find('=', i);
        std::string key = series.substr(i, eq - i);
        std::string label_value;
        i = eq + 2;  // past ="
        for (; series[i] != '"'; ++i) {
          if (series[i] == '\\') {
            ++i;
            label_value.push_back(series[i] == 'n' ? '\n' : series[i]);
          } else {
            label_value.push_back(series[i]);
          }
        }
        sample.labels[key] = label_value;
        i += 1;  // past "
        if (series[i] == ',') i += 1;
      }
    }
    scrape.emplace(std::move(name), std::move(sample));
  }
  return scrape;
}

// The value of the one sample of `name` whose labels include `labels`; 0 when none
// (a series not yet created counts zero).
double Value(const Scrape& scrape, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  double found = 0;
  int matches = 0;
  auto [begin, end] = scrape.equal_range(name);
  for (auto it = begin; it != end; ++it) {
    bool match = true;
    for (const auto& [key, value] : labels) {
      auto label = it->second.labels.find(key);
      match = match && label != it->second.labels.end() && label->second == value;
    }
    if (match) {
      found = it->second.value;
      ++matches;
    }
  }
  EXPECT_LE(matches, 1) << name << ": more than one series matches";
  return found;
}

bool Has(const Scrape& scrape, const std::string& name) { return scrape.count(name) > 0; }

std::map<std::string, std::string> Call(const std::string& service, const std::string& method) {
  return {{"grpc_service", service}, {"grpc_method", method}};
}
std::map<std::string, std::string> Call(const std::string& service, const std::string& method,
                                        const std::string& code) {
  return {{"grpc_service", service}, {"grpc_method", method}, {"grpc_code", code}};
}

// The JSON log lines of the server (its stdout's LISTENING line aside).
std::vector<nlohmann::json> JsonLines(const std::string& log) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || absl::StartsWith(line, "LISTENING ")) continue;
    nlohmann::json parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not a JSON line: " << line;
    if (!parsed.is_discarded()) lines.push_back(std::move(parsed));
  }
  return lines;
}

// "127.0.0.1:PORT" from the JSON line that announces the metrics listener.
std::optional<std::string> MetricsEndpointFromLog(const std::string& log) {
  constexpr absl::string_view kPrefix = "metrics listener (plaintext HTTP, GET /metrics only) on ";
  for (const nlohmann::json& line : JsonLines(log)) {
    const std::string message = line.value("message", "");
    if (absl::StartsWith(message, kPrefix)) return message.substr(kPrefix.size());
  }
  return std::nullopt;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MeshOptions options;
    // Port 0: the server picks one and logs it.
    options.server_args = {"--metrics-listen=127.0.0.1:0", "--log-format=json"};
    absl::StatusOr<std::unique_ptr<Mesh>> mesh = Mesh::Start(options);
    ASSERT_TRUE(mesh.ok()) << mesh.status();
    mesh_ = *std::move(mesh);
    ASSERT_TRUE(mesh_->SeedReferenceData().ok());
    std::optional<std::string> endpoint = MetricsEndpointFromLog(mesh_->server().log());
    ASSERT_TRUE(endpoint.has_value()) << mesh_->server().log();
    const size_t colon = endpoint->rfind(':');
    ASSERT_TRUE(absl::SimpleAtoi(endpoint->substr(colon + 1), &metrics_port_));
  }

  // GET /metrics; checks the status and content type.
  Scrape ScrapeMetrics() {
    httplib::Client client("127.0.0.1", metrics_port_);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    httplib::Result result = client.Get("/metrics");
    EXPECT_TRUE(result) << httplib::to_string(result.error());
    if (!result) return {};
    EXPECT_EQ(result->status, 200);
    EXPECT_EQ(result->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return Parse(result->body);
  }

  std::unique_ptr<Mesh> mesh_;
  int metrics_port_ = 0;
};

TEST_F(MetricsTest, ScrapedCountersEqualTheCallsMadeByMethodAndCode) {
  const Scrape before = ScrapeMetrics();

  constexpr int kCreated = 3;
  constexpr int kInvalid = 2;
  constexpr int kDenied = 2;
  for (int i = 0; i < kCreated; ++i) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(absl::StrCat("METRICS", i));
    sdk::CallOptions call;
    call.metadata = {{"x-request-id", absl::StrCat("metrics-ok-", i)}};
    request.set_request_id(absl::StrCat("mes-order-", i));
    auto created = mesh_->Defects("otto").CreateDefect(request, call);
    ASSERT_TRUE(created.ok()) << Describe(created.status());
  }
  for (int i = 0; i < kInvalid; ++i) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect("");  // vin missing
    request.set_request_id(absl::StrCat("mes-bad-", i));
    auto refused = mesh_->Defects("otto").CreateDefect(request);
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
        << Describe(refused.status());
  }
  // A client stream's request_id is its first message's.
  {
    absl::StatusOr<sdk::PlanningClient> planner =
        sdk::PlanningClient::Connect(mesh_->OptionsFor("planner"));
    ASSERT_TRUE(planner.ok()) << planner.status();
    auto stream = planner->ImportDemand();
    planning::v1::ImportDemandRequest message;
    message.set_request_id("mes-import-1");
    planning::v1::DemandRecord* record = message.add_records();
    record->set_product_id("NO-SUCH-PRODUCT");
    record->set_date("2026-02-01");
    record->set_quantity(5);
    message.set_end_of_import(true);
    stream->Write(message);
    EXPECT_FALSE(stream->Finish().ok());
  }
  for (int i = 0; i < kDenied; ++i) {
    defect::v1::CreateDefectRequest request;
    *request.mutable_defect() = SampleDefect(absl::StrCat("DENIED", i));
    auto refused = mesh_->Defects("nobody").CreateDefect(request);
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied)
        << Describe(refused.status());
  }
  auto who = mesh_->System("mike").WhoAmI(system::v1::WhoAmIRequest());
  ASSERT_TRUE(who.ok()) << Describe(who.status());

  const Scrape after = ScrapeMetrics();
  auto delta = [&](const std::string& name, const std::map<std::string, std::string>& labels) {
    return Value(after, name, labels) - Value(before, name, labels);
  };
  const auto create = Call(kDefectService, "CreateDefect");
  EXPECT_EQ(delta("grpc_server_handled_total", Call(kDefectService, "CreateDefect", "OK")),
            kCreated);
  EXPECT_EQ(
      delta("grpc_server_handled_total", Call(kDefectService, "CreateDefect", "InvalidArgument")),
      kInvalid);
  EXPECT_EQ(
      delta("grpc_server_handled_total", Call(kDefectService, "CreateDefect", "PermissionDenied")),
      kDenied);
  EXPECT_EQ(delta("grpc_server_started_total", create), kCreated + kInvalid + kDenied);
  EXPECT_EQ(delta("grpc_server_handling_seconds_count", create), kCreated + kInvalid + kDenied);
  std::map<std::string, std::string> create_inf = create;
  create_inf["le"] = "+Inf";
  EXPECT_EQ(delta("grpc_server_handling_seconds_bucket", create_inf),
            kCreated + kInvalid + kDenied);
  EXPECT_GT(delta("grpc_server_handling_seconds_sum", create), 0);
  EXPECT_EQ(delta("grpc_server_handled_total", Call(kSystemService, "WhoAmI", "OK")), 1);
  EXPECT_EQ(delta("grpc_server_handling_seconds_count", Call(kSystemService, "WhoAmI")), 1);
  // No other code: the codes' counts add up to the calls.
  double handled = 0;
  auto [begin, end] = after.equal_range("grpc_server_handled_total");
  for (auto it = begin; it != end; ++it) {
    if (it->second.labels.at("grpc_method") == "CreateDefect") handled += it->second.value;
  }
  for (auto [b, e] = before.equal_range("grpc_server_handled_total"); b != e; ++b) {
    if (b->second.labels.at("grpc_method") == "CreateDefect") handled -= b->second.value;
  }
  EXPECT_EQ(handled, kCreated + kInvalid + kDenied);
  auto type = after.equal_range("grpc_server_started_total");
  for (auto it = type.first; it != type.second; ++it) {
    if (it->second.labels.at("grpc_method") == "CreateDefect") {
      EXPECT_EQ(it->second.labels.at("grpc_type"), "unary");
    }
    if (it->second.labels.at("grpc_method") == "WatchDefects") {
      EXPECT_EQ(it->second.labels.at("grpc_type"), "server_stream");
    }
  }

  // The process: build info, PostgreSQL pool, Redis, event hub, outbox, certificate.
  ASSERT_TRUE(Has(after, "plantmesh_build_info"));
  const Sample& build = after.find("plantmesh_build_info")->second;
  EXPECT_EQ(build.value, 1);
  EXPECT_FALSE(build.labels.at("version").empty());
  EXPECT_FALSE(build.labels.at("revision").empty());
  EXPECT_EQ(Value(after, "plantmesh_postgres_pool_connections"), 8);  // the default size
  // The relay, the audit writer and health probes borrow connections in the background.
  ASSERT_TRUE(Has(after, "plantmesh_postgres_pool_connections_in_use"));
  EXPECT_LE(Value(after, "plantmesh_postgres_pool_connections_in_use"), 8);
  ASSERT_TRUE(Has(after, "plantmesh_postgres_pool_waiting"));
  EXPECT_EQ(Value(after, "plantmesh_redis_up"), 1);
  EXPECT_TRUE(Has(after, "plantmesh_postgres_up"));  // its value: runtime.health_test
  EXPECT_TRUE(Has(after, "plantmesh_event_hub_subscribers"));
  EXPECT_TRUE(Has(after, "plantmesh_event_hub_subscribers_too_slow_total"));
  EXPECT_TRUE(Has(after, "plantmesh_outbox_pending_events"));
  EXPECT_GE(Value(after, "plantmesh_outbox_oldest_pending_age_seconds", {{"schema", "defect"}}), 0);
  const double expiry = Value(after, "plantmesh_tls_certificate_expiry_timestamp_seconds");
  EXPECT_GT(expiry, absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  EXPECT_GT(Value(after, "process_start_time_seconds"), 0);

  // The log: every line a JSON object with the standard fields; each call's line
  // carries service, method, peer identity, request id, status and latency.
  const std::vector<nlohmann::json> lines = JsonLines(mesh_->server().log());
  ASSERT_FALSE(lines.empty());
  std::map<std::string, int> create_lines_by_status;
  int import_lines = 0;
  for (const nlohmann::json& line : lines) {
    for (const char* field : {"time", "level", "logger", "message"}) {
      EXPECT_TRUE(line.contains(field) && line[field].is_string()) << field << " in " << line;
    }
    // Outside testing (sweep 60): a request the contract's rules refused, and every
    // ImportDemand, logged no request_id.
    if (line.value("method", "") == "ImportDemand") {
      EXPECT_EQ(line.value("request_id", ""), "mes-import-1") << line;
      ++import_lines;
    }
    if (line.value("method", "") == "CreateDefect" &&
        line.value("status", "") == "INVALID_ARGUMENT") {
      EXPECT_TRUE(absl::StartsWith(line.value("request_id", ""), "mes-bad-")) << line;
    }
    if (line.value("method", "") != "CreateDefect") continue;
    EXPECT_EQ(line.value("service", ""), kDefectService) << line;
    for (const char* field : {"peer", "trace_id", "status"}) {
      EXPECT_TRUE(line.contains(field) && line[field].is_string()) << field << " in " << line;
    }
    EXPECT_TRUE(line.contains("latency_ms") && line["latency_ms"].is_number()) << line;
    const std::string status = line.value("status", "");
    if (status == "OK" && absl::StartsWith(line.value("trace_id", ""), "metrics-ok-")) {
      // Outside testing: the call's own request_id was nowhere in the log.
      EXPECT_EQ(line.value("request_id", ""),
                absl::StrCat("mes-order-", line.value("trace_id", "").substr(11)))
          << line;
      EXPECT_THAT(line.value("peer", ""), ::testing::EndsWith("/user/otto")) << line;
      EXPECT_EQ(line.value("level", ""), "info");
      EXPECT_TRUE(absl::StartsWith(line.value("peer_address", ""), "ipv4:127.0.0.1:")) << line;
    }
    if (status == "PERMISSION_DENIED") {
      EXPECT_THAT(line.value("peer", ""), ::testing::EndsWith("/user/nobody")) << line;
    }
    ++create_lines_by_status[status];
  }
  EXPECT_EQ(import_lines, 1);
  EXPECT_EQ(create_lines_by_status["OK"], kCreated);
  EXPECT_EQ(create_lines_by_status["INVALID_ARGUMENT"], kInvalid);
  EXPECT_EQ(create_lines_by_status["PERMISSION_DENIED"], kDenied);
  // RFC 3339 UTC: 2026-11-21T06:00:00.123456Z
  const std::string time = lines.front().value("time", "");
  EXPECT_EQ(time.size(), 27u) << time;
  EXPECT_TRUE(absl::EndsWith(time, "Z")) << time;
}

// gRPC 1.51 logs a failed handshake without the peer's address (checked: neither its
// error line nor its debug lines name it): it is counted and its line kept.
TEST_F(MetricsTest, FailedTlsHandshakesAreCountedAndLogged) {
  auto read_file = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  // WhoAmI over a channel of its own with `ssl` (and `server_name` for SNI, when given),
  // refused in the handshake.
  auto refused_who_am_i = [&](const grpc::SslCredentialsOptions& ssl,
                              const std::string& server_name = "") {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
    auto stub = system::v1::SystemService::NewStub(
        grpc::CreateCustomChannel(mesh_->endpoint(), grpc::SslCredentials(ssl), args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    system::v1::WhoAmIResponse response;
    EXPECT_EQ(stub->WhoAmI(&context, system::v1::WhoAmIRequest(), &response).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  };
  // The handshake's failure, polled for in the counter (the client may see the closed
  // socket before the server counts it), and whether a log line of `level` says `text`.
  auto refused_handshake = [&](const grpc::SslCredentialsOptions& ssl, const char* level,
                               const char* text) {
    const double before = Value(ScrapeMetrics(), "plantmesh_tls_handshake_failures_total");
    refused_who_am_i(ssl);
    double after = before;
    testing::PollUntil(
        [&] {
          after = Value(ScrapeMetrics(), "plantmesh_tls_handshake_failures_total");
          return after != before;
        },
        absl::Seconds(20), absl::Milliseconds(20));
    EXPECT_GE(after, before + 1) << text;
    bool logged = false;
    for (const nlohmann::json& line : JsonLines(mesh_->server().log())) {
      logged = logged || (line.value("level", "") == level &&
                          absl::StrContains(line.value("message", ""), text));
    }
    EXPECT_TRUE(logged) << text << "\n" << mesh_->server().log();
  };

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(mesh_->pki().ca_file());  // no client certificate
  // A warning: the client's fault (outside testing: a port scan wrote error lines).
  refused_handshake(ssl, "warning", "a client's TLS handshake: Handshake failed with fatal error");
  refused_handshake(ssl, "warning", "peer did not return a certificate");

  // A certificate the server's own check refuses (a CA's as a client) is counted alike,
  // and its warning says why.
  absl::StatusOr<testing::TestPki::Client> ca_as_client = mesh_->pki().IssueClientWithUri(
      "metrics-ca", "spiffe://plantmesh.local/user/metrics-ca", "digitalSignature,keyCertSign",
      /*certificate_authority=*/true);
  ASSERT_TRUE(ca_as_client.ok()) << ca_as_client.status();
  ssl.pem_cert_chain = read_file(ca_as_client->cert_file);
  ssl.pem_private_key = read_file(ca_as_client->key_file);
  refused_handshake(ssl, "warning", "client certificate refused: the certificate is a CA's");

  // A client that asks for a server name the certificate does not name (outside testing:
  // an error line per handshake in gRPC's words) is told of as the client's mistake.
  sdk::ClientOptions anna = mesh_->OptionsFor("anna");
  ssl.pem_cert_chain = read_file(anna.cert_file);
  ssl.pem_private_key = read_file(anna.key_file);
  auto call_as = [&](const std::string& server_name) { refused_who_am_i(ssl, server_name); };
  call_as("plant.example");
  bool told = false;
  testing::PollUntil(
      [&] {
        for (const nlohmann::json& line : JsonLines(mesh_->server().log())) {
          const std::string text = line.value("message", "");
          EXPECT_FALSE(absl::StrContains(text, "No match found") &&
                       line.value("level", "") == "error")
              << text;
          told = told ||
                 (line.value("level", "") == "warning" &&
                  absl::StrContains(text, "it asked for server name 'plant.example' (TLS SNI)"));
        }
        return told;
      },
      absl::Seconds(20), absl::Milliseconds(50));
  EXPECT_TRUE(told) << mesh_->server().log();

  // Logged at most once a second per name (re-test: 80 lines in 2 s).
  const absl::Time start = absl::Now();
  for (int i = 0; i < 5; ++i) call_as("burst.example");
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  int lines = 0;
  testing::PollUntil(
      [&] {
        lines = 0;
        for (const nlohmann::json& line : JsonLines(mesh_->server().log())) {
          if (absl::StrContains(line.value("message", ""), "'burst.example'")) ++lines;
        }
        return lines > 0;
      },
      absl::Seconds(20), absl::Milliseconds(50));
  EXPECT_GE(lines, 1);
  EXPECT_LE(lines, 1 + static_cast<int>(seconds)) << seconds << " s\n" << mesh_->server().log();
}

TEST_F(MetricsTest, ServesOnlyGetMetrics) {
  httplib::Client client("127.0.0.1", metrics_port_);
  client.set_connection_timeout(5);
  httplib::Result other = client.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  httplib::Result post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);
}

}  // namespace
}  // namespace plantmesh::e2e
