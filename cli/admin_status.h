// `plantctl admin status`: for every service of the contracts, at its endpoint, the
// health (grpc.health.v1 Check with the service's full name, over mTLS), the server's
// version (WhoAmI's server_version), its identity (the SPIFFE ID of its certificate)
// and when that certificate expires: one table, or one JSON object per service.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/connection_flags.h"
#include "cli/contract_catalog.h"
#include "cli/output.h"

namespace plantmesh::cli {

struct ServiceStatus {
  std::string service;    // the command name, e.g. "defect"
  std::string full_name;  // "plantmesh.defect.v1.DefectService" (its health name)
  std::string endpoint;
  // The health check's answer (SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN), or the
  // code of the failed call (UNAVAILABLE: nothing answers there; NOT_FOUND: the server
  // there does not host the service; UNAUTHENTICATED: the handshake failed; ...).
  std::string health;
  absl::Status error;    // the failed call, OK otherwise
  std::string version;   // WhoAmI's server_version; empty when unknown
  std::string identity;  // the server's SPIFFE ID (its certificate's URI SAN)
  absl::Time not_after = absl::InfinitePast();  // its certificate's; InfinitePast: unknown

  bool serving() const { return health == "SERVING"; }
};

// The services `admin status` reports: every service of the contracts but
// plantmesh.system.v1 (hosted by every server; it is what answers the version).
std::vector<const ServiceCommand*> ReportedServices(const ContractCatalog& catalog);

// Asks each service at its endpoint (EndpointFor). `settings` must be complete
// (CheckConnectionSettings); the options' files are checked before any call
// (INVALID_ARGUMENT naming the flag).
absl::StatusOr<std::vector<ServiceStatus>> CollectStatus(const ContractCatalog& catalog,
                                                         const ConnectionSettings& settings);

// Prints the rows: table (SERVICE ENDPOINT HEALTH VERSION IDENTITY CERT-EXPIRES), wide
// (also the full name and the error), csv (every column) or json (one object per
// service). `now` sets the days left shown beside the expiry.
void PrintStatus(const std::vector<ServiceStatus>& rows, OutputFormat format, absl::Time now,
                 std::ostream& out);

// A row's error message in plantctl's terms (InFlagTerms: `--ca`, not the SDK's ca_file),
// as the table, JSON, CSV and the lines on stderr show it; "" for none.
std::string ErrorText(const absl::Status& error);

// 0 when every service is SERVING; otherwise the first other row decides: 10 + the code
// of its failed call, or 24 (10 + UNAVAILABLE) when it answered anything but SERVING.
int StatusExitCode(const std::vector<ServiceStatus>& rows);

class AdminCommands {
 public:
  explicit AdminCommands(CLI::App* root);
  bool Selected() const { return status_->parsed(); }

 private:
  CLI::App* admin_ = nullptr;
  CLI::App* status_ = nullptr;
};

}  // namespace plantmesh::cli
