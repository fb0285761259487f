// Where plantctl's connection settings come from, weakest first: the config file
// (--config, else $PLANTCTL_CONFIG, else ~/.config/plantmesh/plantctl.toml; a missing
// default file is fine), the environment (PLANTMESH_ENDPOINT, PLANTMESH_CA,
// PLANTMESH_CERT, PLANTMESH_KEY, PLANTMESH_INSECURE), then the flags.
// A mesh whose services run at different addresses names them per service: the config
// file's [endpoints] table (`defect = "host:port"`) or --service-endpoint defect=host:port.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "plantmesh/sdk/client_options.h"

namespace plantmesh::cli {

struct ConnectionSettings {
  sdk::ClientOptions options;
  double timeout_seconds = 10;
  std::string config_file;  // the file used (or to write with `config init`)
  // The user named a config file (--config or $PLANTCTL_CONFIG) that does not exist:
  // an error for every command but `config init`.
  bool config_missing = false;
  bool config_loaded = false;  // the config file was found and read
  // PLANTMESH_ENDPOINT was set (it then replaces the config file's [endpoints] too).
  bool endpoint_from_environment = false;
  // Where each service is when not at options.endpoint: service command name ("defect")
  // → host:port. The config file's [endpoints] table; ResolveServiceEndpoints then
  // applies the flags.
  std::map<std::string, std::string> service_endpoints;
  std::map<std::string, int> service_endpoint_lines;  // of the config file's entries
  // --service-endpoint values as given (SERVICE=HOST:PORT).
  std::vector<std::string> service_endpoint_flags;
};

// The config file the command line names (scanning argv for --config before CLI11
// parses it, since the file supplies the flags' defaults), else the default path.
// `explicit_file` tells whether the user named it.
std::string ConfigFileFromArgs(int argc, const char* const* argv, bool* explicit_file);

// Reads the config file (keys: endpoint, ca, cert, key, server-name, insecure, timeout;
// table [endpoints]: service = "host:port") and then the environment into `settings`. A missing
// file sets settings->config_missing when `explicit_file`.
absl::Status LoadDefaults(const std::string& config_file, bool explicit_file,
                          ConnectionSettings* settings);

// Adds --config, --endpoint, --service-endpoint, --ca, --cert, --key, --server-name,
// --insecure, --timeout bound to `settings` (whose current values are the defaults shown
// in --help).
void AddConnectionFlags(CLI::App* app, ConnectionSettings* settings);

// After the flags are parsed: settles settings->service_endpoints by the precedence
// config file < environment < flags, the specific before the general within one level:
// --service-endpoint S=…, then --endpoint, then PLANTMESH_ENDPOINT, then the file's
// [endpoints] S, then the file's endpoint. `endpoint_flag_given`: --endpoint was on the
// command line. `services`: the service command names of the contracts; any other name
// (a typo in [endpoints] or the flag) is INVALID_ARGUMENT naming where it came from.
absl::Status ResolveServiceEndpoints(const std::vector<std::string>& services,
                                     bool endpoint_flag_given, ConnectionSettings* settings);

// host:port of `service` (a service command name, e.g. "defect"): its own endpoint if
// settings name one, else options.endpoint.
std::string EndpointFor(const ConnectionSettings& settings, const std::string& service);

// The settings' problems in plantctl's own terms (its flags, PLANTMESH_* variables, the
// config file and `plantctl config init`), checked before the SDK sees them: nothing
// configured at all, or --endpoint, --ca, --cert, --key missing. OK when complete.
absl::Status CheckConnectionSettings(const ConnectionSettings& settings);

// An SDK ClientOptions error (INVALID_ARGUMENT "invalid client options: ca_file: ...")
// with the SDK's field names replaced by plantctl's flags (--ca: ...), and the SDK's TLS
// hints of any status (server_name, ca_file) likewise; payloads kept.
absl::Status InFlagTerms(const absl::Status& status);

// Writes the connection settings as a config file (CLI11 TOML; service endpoints as
// an [endpoints] table), refusing to replace an
// existing file unless `overwrite`.
absl::Status WriteConfigFile(const ConnectionSettings& settings, const std::string& path,
                             bool overwrite);

}  // namespace plantmesh::cli
