#include "cli/admin_status.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/health_check.h"
#include "cli/pki.h"
#include "grpcpp/channel.h"
#include "nlohmann/json.hpp"
#include "plantmesh/common/time_text.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/system/v1/system_service.pm_client.h"

namespace plantmesh::cli {
namespace {

constexpr char kSystemPackagePrefix[] = "plantmesh.system.";

// The health names a server gives what it depends on (server/runtime/health.h), and what
// their loss means for calls.
struct Dependency {
  const char* health_name;
  const char* problem;  // what NOT_SERVING means for this one
  const char* effect;
};
constexpr Dependency kDependencies[] = {
    // The probe answers NOT_SERVING for a read-only server too (a standby left behind
    // the URL after a failover): an operator must not be sent to debug the network only.
    {"plantmesh.dependency.postgres",
     "cannot use its PostgreSQL: out of reach, or refusing writes (a read-only server; "
     "the server's log says which)",
     "its calls that need it fail UNAVAILABLE (with a read-only server: those that write)"},
    {"plantmesh.dependency.redis",
     "cannot use its Redis: out of reach, refusing writes, or holding another PlantMesh "
     "database's data (the server's log says which)",
     "changes wait in its outbox; watches and tails see nothing new"},
};

std::string CodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);  // "UNAVAILABLE"
  return name.empty() ? absl::StrCat("CODE_", static_cast<int>(code)) : name;
}

std::string TimeText(absl::Time time) {
  return time == absl::InfinitePast() ? "" : Rfc3339Utc(time);
}

// "2027-02-28T14:00:00Z (89 days)", "… (EXPIRED)".
std::string ExpiryText(absl::Time not_after, absl::Time now) {
  if (not_after == absl::InfinitePast()) return "";
  if (not_after <= now) return absl::StrCat(TimeText(not_after), " (EXPIRED)");
  const int64_t days = absl::ToInt64Hours(not_after - now) / 24;
  return absl::StrCat(TimeText(not_after), " (", days, days == 1 ? " day)" : " days)");
}

// One service at its endpoint: health first; then, over the same connection, the
// version. The certificate and identity come from the health call's handshake.
ServiceStatus Collect(const ServiceCommand& service, const ConnectionSettings& settings,
                      const std::shared_ptr<grpc::Channel>& channel,
                      const sdk::ClientOptions& options) {
  ServiceStatus row;
  row.service = service.name;
  row.full_name = service.full_name;
  row.endpoint = options.endpoint;
  const absl::Duration timeout = absl::Seconds(settings.timeout_seconds);
  absl::StatusOr<HealthAnswer> answer =
      CheckHealth(channel, service.full_name, timeout, !options.insecure);
  if (!answer.ok()) {
    row.health = CodeName(answer.status().code());
    row.error = answer.status();
    return row;
  }
  row.health = answer->status;
  row.identity = answer->peer_spiffe_id;
  if (!answer->peer_certificate_pem.empty()) {
    absl::StatusOr<pki::CertificateInfo> info =
        pki::ParseCertificateInfo(answer->peer_certificate_pem);
    if (info.ok()) {
      row.not_after = info->not_after;
      // gRPC names a SPIFFE ID only for exactly one URI SAN; show what there is.
      if (row.identity.empty()) row.identity = absl::StrJoin(info->uris, ",");
    }
  }
  // The service answers SERVING while the database or event stream it needs is down
  // (outside testing: every call failed UNAVAILABLE, and this said all was well).
  if (row.serving()) {
    for (const auto& [health_name, problem, effect] : kDependencies) {
      absl::StatusOr<HealthAnswer> dependency_answer =
          CheckHealth(channel, health_name, timeout, !options.insecure);
      if (!dependency_answer.ok() || dependency_answer->status != "NOT_SERVING") continue;
      row.health = "DEGRADED";
      row.error = absl::UnavailableError(
          absl::StrCat("the server ", problem, " (", health_name, " NOT_SERVING): ", effect));
      break;
    }
  }
  sdk::SystemClient system(channel, options);
  absl::StatusOr<system::v1::WhoAmIResponse> who =
      system.WhoAmI(system::v1::WhoAmIRequest(), sdk::CallOptions::WithTimeout(timeout));
  if (who.ok()) {
    row.version = who->server_version();
  } else if (row.error.ok()) {
    // Health answered; the version could not be had (a probe listener serves no WhoAmI,
    // and gRPC's UNIMPLEMENTED comes with an empty message).
    row.error =
        absl::Status(who.status().code(), absl::StrCat("WhoAmI (for the version)",
                                                       who.status().message().empty() ? "" : ": ",
                                                       who.status().message()));
  }
  return row;
}

}  // namespace

// In plantctl's terms, as every command's errors (outside testing: "the CA of ca_file",
// an SDK option no flag or config key is named after).
std::string ErrorText(const absl::Status& error) {
  return error.ok() ? "" : std::string(InFlagTerms(error).message());
}

std::vector<const ServiceCommand*> ReportedServices(const ContractCatalog& catalog) {
  std::vector<const ServiceCommand*> services;
  for (const ServiceCommand& service : catalog.services()) {
    if (service.full_name.rfind(kSystemPackagePrefix, 0) == 0) continue;
    services.push_back(&service);
  }
  return services;
}

absl::StatusOr<std::vector<ServiceStatus>> CollectStatus(const ContractCatalog& catalog,
                                                         const ConnectionSettings& settings) {
  std::vector<ServiceStatus> rows;
  // One channel per distinct endpoint: services sharing a server share its connection.
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  for (const ServiceCommand* service : ReportedServices(catalog)) {
    sdk::ClientOptions options = settings.options;
    options.endpoint = EndpointFor(settings, service->name);
    options.default_deadline = absl::Seconds(settings.timeout_seconds);
    std::shared_ptr<grpc::Channel>& channel = channels[options.endpoint];
    if (channel == nullptr) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> made = sdk::MakeChannel(options);
      if (!made.ok()) return made.status();
      channel = *made;
    }
    rows.push_back(Collect(*service, settings, channel, options));
  }
  return rows;
}

void PrintStatus(const std::vector<ServiceStatus>& rows, OutputFormat format, absl::Time now,
                 std::ostream& out) {
  if (format == OutputFormat::kJson) {
    for (const ServiceStatus& row : rows) {
      nlohmann::json line = {{"service", row.service},
                             {"full_name", row.full_name},
                             {"endpoint", row.endpoint},
                             {"health", row.health},
                             {"version", row.version},
                             {"identity", row.identity},
                             {"cert_not_after", TimeText(row.not_after)},
                             {"error", ErrorText(row.error)}};
      out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return;
  }
  if (format == OutputFormat::kCsv) {
    out << "service,full_name,endpoint,health,version,identity,cert_not_after,error\r\n";
    for (const ServiceStatus& row : rows) {
      std::vector<std::string> fields = {
          row.service,  row.full_name,           row.endpoint,        row.health, row.version,
          row.identity, TimeText(row.not_after), ErrorText(row.error)};
      for (std::string& field : fields) field = CsvField(field);
      out << absl::StrJoin(fields, ",") << "\r\n";
    }
    return;
  }
  const bool wide = format == OutputFormat::kWide;
  std::vector<std::vector<std::string>> lines;
  if (wide) {
    lines.push_back({"service", "full_name", "endpoint", "health", "version", "identity",
                     "cert_expires", "error"});
  } else {
    lines.push_back({"service", "endpoint", "health", "version", "identity", "cert_expires"});
  }
  for (const ServiceStatus& row : rows) {
    const std::string dash = "-";
    auto or_dash = [&dash](const std::string& text) { return text.empty() ? dash : text; };
    std::vector<std::string> line = {
        row.service,          row.endpoint,          row.health,
        or_dash(row.version), or_dash(row.identity), or_dash(ExpiryText(row.not_after, now))};
    if (wide) {
      line.insert(line.begin() + 1, row.full_name);
      line.push_back(ErrorText(row.error));
    }
    for (std::string& cell : line) cell = EscapeForTable(cell);
    lines.push_back(std::move(line));
  }
  std::vector<size_t> widths(lines.front().size(), 0);
  for (const auto& line : lines) {
    for (size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(line[i]));
  }
  for (const auto& line : lines) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      text += line[i];
      if (i + 1 < line.size()) text += std::string(widths[i] - DisplayWidth(line[i]) + 2, ' ');
    }
    text.erase(text.find_last_not_of(' ') + 1);
    out << text << "\n";
  }
}

int StatusExitCode(const std::vector<ServiceStatus>& rows) {
  for (const ServiceStatus& row : rows) {
    if (row.serving()) continue;
    if (!row.error.ok() && row.health == CodeName(row.error.code())) {
      return kExitStatusBase + static_cast<int>(row.error.code());
    }
    return kExitStatusBase + static_cast<int>(absl::StatusCode::kUnavailable);
  }
  return 0;
}

AdminCommands::AdminCommands(CLI::App* root) {
  admin_ = root->add_subcommand("admin", "Operating the mesh");
  admin_->group("Tools");
  admin_->require_subcommand(1);
  status_ = admin_->add_subcommand(
      "status",
      "Each service of the contracts at its endpoint (--endpoint, or per service "
      "--service-endpoint SERVICE=HOST:PORT / the config file's [endpoints] table): health "
      "(grpc.health.v1 Check with the service's full name, over mTLS), the server's version "
      "(WhoAmI), its identity (the SPIFFE ID of its certificate) and the certificate's "
      "expiry.\n"
      "Exit 0 when every service is SERVING; otherwise the first other service decides: 10 + "
      "the code of its failed call (24 UNAVAILABLE: nothing answers there; 15 NOT_FOUND: the "
      "server there does not host it; 26 UNAUTHENTICATED: the TLS handshake failed), or 24 "
      "when it answered NOT_SERVING (draining, stopping) or is DEGRADED: SERVING, but its "
      "server cannot use PostgreSQL (out of reach or read-only) or reach Redis (their "
      "health, plantmesh.dependency.postgres "
      "and .redis, NOT_SERVING; the error says which).");
}

}  // namespace plantmesh::cli
