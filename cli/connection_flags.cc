#include "cli/connection_flags.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "cli/atomic_file.h"
#include "cli/decimal_number.h"
#include "cli/input_file.h"
#include "cli/number_check.h"
#include "plantmesh/common/boolean_text.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/toml_settings.h"

namespace plantmesh::cli {
namespace {

std::string DefaultConfigFile() {
  if (const char* env = std::getenv("PLANTCTL_CONFIG"); env != nullptr && *env != '\0') {
    return env;
  }
  const char* home = std::getenv("HOME");
  return absl::StrCat(home != nullptr ? home : ".", "/.config/plantmesh/plantctl.toml");
}

// TOML basic strings: a backslash and a quote escaped, and control characters as
// \uXXXX (re-test: a path holding one was written raw, and plantctl refused its own file).
std::string TomlString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7F) {
      out += absl::StrFormat("\\u%04X", byte);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool IsSettingKey(absl::string_view key) {
  for (absl::string_view known :
       {"endpoint", "ca", "cert", "key", "server-name", "server_name", "insecure", "timeout"}) {
    if (key == known) return true;
  }
  return false;
}

std::string UnknownKey(absl::string_view key) {
  return absl::StrCat("unknown key \"", key,
                      "\" (the keys: endpoint, ca, cert, key, server-name, insecure, timeout, "
                      "and the table [endpoints])");
}

absl::Status ApplySetting(const std::string& key, const std::string& value,
                          ConnectionSettings* settings) {
  sdk::ClientOptions& options = settings->options;
  if (key == "endpoint") {
    options.endpoint = value;
  } else if (key == "ca") {
    options.ca_file = value;
  } else if (key == "cert") {
    options.cert_file = value;
  } else if (key == "key") {
    options.key_file = value;
  } else if (key == "server-name" || key == "server_name") {
    options.server_name = value;
  } else if (key == "insecure") {
    // A boolean, as every flag's (outside testing: PLANTMESH_INSECURE=garbage read as
    // false, without a word).
    const std::optional<bool> insecure = common::ParseBooleanText({value.data(), value.size()});
    if (!insecure) {
      return absl::InvalidArgumentError(
          absl::StrCat("insecure \"", value, "\" is not a boolean (true or false)"));
    }
    options.insecure = *insecure;
  } else if (key == "timeout") {
    const std::optional<double> seconds = ParseDecimal(value);
    if (!seconds || !(*seconds > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("timeout \"", value, "\" is not a positive decimal number of seconds"));
    }
    settings->timeout_seconds = *seconds;
  } else {
    return absl::InvalidArgumentError(UnknownKey(key));
  }
  return absl::OkStatus();
}

// A value is taken as TOML wrote it, as the server takes its file (outside testing:
// `insecure = "false"` was read as text there; here a misspelt `"ture"` read as false):
// insecure a boolean, timeout a number, any other key a string.
absl::Status CheckWrittenAs(const common::TomlSetting& item) {
  using common::TomlKind;
  const TomlKind kind = item.kinds.front();
  const bool endpoint_table = item.table == "endpoints";
  bool fits = kind == TomlKind::kString;
  const char* expected = "a string in quotes";
  if (!endpoint_table && item.key == "insecure") {
    fits = kind == TomlKind::kBoolean;
    expected = "a boolean (true or false)";
  } else if (!endpoint_table && item.key == "timeout") {
    fits = kind == TomlKind::kInteger || kind == TomlKind::kFloat;
    expected = "a number of seconds";
  }
  if (fits) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("\"", item.key, "\" takes ", expected, ", not ", common::TomlKindName(kind),
                   kind == TomlKind::kTable ? "" : absl::StrCat(" (", item.values.front(), ")")));
}

}  // namespace

std::string ConfigFileFromArgs(int argc, const char* const* argv, bool* explicit_file) {
  *explicit_file = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      *explicit_file = true;
      return argv[i + 1];
    }
    if (absl::StartsWith(arg, "--config=")) {
      *explicit_file = true;
      return std::string(arg.substr(9));
    }
  }
  if (const char* env = std::getenv("PLANTCTL_CONFIG"); env != nullptr && *env != '\0') {
    *explicit_file = true;
  }
  return DefaultConfigFile();
}

absl::Status LoadDefaults(const std::string& config_file, bool explicit_file,
                          ConnectionSettings* settings) {
  settings->config_file = config_file;
  // A file that is not there is not loaded (the default one need not exist); one that is
  // there but cannot be read says why (outside testing: it was reported as missing, and a
  // directory read as empty).
  std::error_code ignored;
  std::unique_ptr<std::ifstream> opened;
  if (std::filesystem::exists(config_file, ignored)) {
    absl::StatusOr<std::unique_ptr<std::ifstream>> file = OpenInputFile(config_file);
    if (!file.ok()) return absl::InvalidArgumentError(file.status().message());
    opened = *std::move(file);
  }
  settings->config_loaded = opened != nullptr;
  if (opened != nullptr) {
    // A UTF-8 byte order mark (what Windows editors save) is no part of the first key
    // (outside testing: `unknown key "<BOM>endpoint"`, the mark invisible).
    std::istream& in = *opened;
    char mark[3] = {};
    const bool read = static_cast<bool>(in.read(mark, 3));
    if (std::string(mark, 2) == "\xFF\xFE" || std::string(mark, 2) == "\xFE\xFF") {
      return absl::InvalidArgumentError(absl::StrCat(
          config_file, ": the file is UTF-16 (Notepad's \"Unicode\"); save it as UTF-8"));
    }
    if (!(read && std::string(mark, 3) == "\xEF\xBB\xBF")) {
      in.clear();
      in.seekg(0);
    }
    // TOML, read by toml++ (a key given twice, or a value it cannot read, is refused
    // naming the line).
    PM_ASSIGN_OR_RETURN(std::vector<common::TomlSetting> items,
                        common::ReadTomlSettings(in, config_file));
    for (const common::TomlSetting& item : items) {
      // Every refusal names the file and the line; an unknown key is named as such
      // whatever its value (re-test: `insecur = true` was told to quote its value).
      const std::string at = absl::StrCat(config_file, ", line ", item.line, ": ");
      const bool in_endpoints = item.table == "endpoints";
      if (!item.table.empty() && !in_endpoints) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, "unknown table [", item.table, "] (the one table is [endpoints])"));
      }
      if (!in_endpoints && !IsSettingKey(item.key)) {
        return absl::InvalidArgumentError(absl::StrCat(at, UnknownKey(item.key)));
      }
      if (item.array || item.values.size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, "\"", item.key, "\" takes one value, not an array"));
      }
      if (absl::Status written = CheckWrittenAs(item); !written.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(at, written.message()));
      }
      if (item.values.front().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(at, "\"", item.key, "\" has no value"));
      }
      if (in_endpoints) {
        settings->service_endpoints[item.key] = item.values.front();
        settings->service_endpoint_lines[item.key] = item.line;
        continue;
      }
      absl::Status applied = ApplySetting(item.key, item.values.front(), settings);
      if (!applied.ok()) return absl::InvalidArgumentError(absl::StrCat(at, applied.message()));
    }
  } else if (explicit_file) {
    settings->config_missing = true;
  }
  const std::pair<const char*, const char*> env_keys[] = {
      {"PLANTMESH_ENDPOINT", "endpoint"}, {"PLANTMESH_CA", "ca"},
      {"PLANTMESH_CERT", "cert"},         {"PLANTMESH_KEY", "key"},
      {"PLANTMESH_INSECURE", "insecure"},
  };
  for (const auto& [variable, key] : env_keys) {
    // An empty variable is unset, as the server reads its own.
    if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') {
      absl::Status applied = ApplySetting(key, value, settings);
      if (!applied.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(variable, " (environment): ", applied.message()));
      }
      if (absl::string_view(key) == "endpoint") settings->endpoint_from_environment = true;
    }
  }
  return absl::OkStatus();
}

void AddConnectionFlags(CLI::App* app, ConnectionSettings* settings) {
  const std::string group = "Connection (config file < environment < flags)";
  sdk::ClientOptions& options = settings->options;
  app->add_option("--config", settings->config_file,
                  "Config file (TOML: endpoint, ca, cert, key, server-name, insecure, "
                  "timeout, table [endpoints]); default $PLANTCTL_CONFIG or "
                  "~/.config/plantmesh/plantctl.toml")
      ->group(group);
  app->add_option("--endpoint", options.endpoint,
                  "host:port of plantmesh-server "
                  "[env PLANTMESH_ENDPOINT]")
      ->capture_default_str()
      ->group(group);
  app->add_option("--service-endpoint", settings->service_endpoint_flags,
                  "SERVICE=HOST:PORT: where one service runs when the services of a mesh "
                  "are at different addresses (repeatable; config file: table [endpoints], "
                  "e.g. telemetry = \"10.0.0.2:7443\"); other services use --endpoint")
      ->allow_extra_args(false)  // one value a flag: the word after it is no endpoint
      ->group(group);
  app->add_option("--ca", options.ca_file, "CA certificate (PEM) [env PLANTMESH_CA]")
      ->capture_default_str()
      ->group(group);
  app->add_option("--cert", options.cert_file, "Client certificate (PEM) [env PLANTMESH_CERT]")
      ->capture_default_str()
      ->group(group);
  app->add_option("--key", options.key_file, "Client private key (PEM) [env PLANTMESH_KEY]")
      ->capture_default_str()
      ->group(group);
  app->add_option("--server-name", options.server_name,
                  "Name checked against the server certificate (default: the endpoint host)")
      ->group(group);
  app->add_flag("--insecure", options.insecure,
                "Plaintext, for a loopback server started with --insecure "
                "[env PLANTMESH_INSECURE]")
      ->group(group);
  app->add_option("--timeout", settings->timeout_seconds,
                  "Deadline of unary calls in seconds (streams have none; telemetry "
                  "ingest: how long no batch may go unacknowledged)")
      ->capture_default_str()
      ->check(AboveZero("seconds"))
      ->group(group);
}

absl::Status CheckConnectionSettings(const ConnectionSettings& settings) {
  const sdk::ClientOptions& options = settings.options;
  const char* const kFlags = "--endpoint HOST:PORT --ca CA.crt --cert USER.crt --key USER.key";
  // Nothing configured: no file, and none of the credentials from flags or environment
  // (--endpoint alone has a default).
  if (!settings.config_loaded && !options.insecure && options.ca_file.empty() &&
      options.cert_file.empty() && options.key_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no connection settings: no config file (", settings.config_file,
        " does not exist) and no --ca, --cert, --key.\n"
        "Give the connection on the command line:\n"
        "  plantctl ",
        kFlags,
        " <service> <method> ...\n"
        "or save it once in the config file, which later commands read:\n"
        "  plantctl ",
        kFlags,
        " config init\n"
        "(--config FILE or PLANTCTL_CONFIG=FILE for another file; the environment variables "
        "PLANTMESH_ENDPOINT, PLANTMESH_CA, PLANTMESH_CERT, PLANTMESH_KEY work too; --insecure "
        "instead of --ca/--cert/--key for a loopback server started with --insecure)"));
  }
  std::vector<std::string> missing;
  if (options.endpoint.empty()) missing.push_back("--endpoint");
  if (!options.insecure) {
    if (options.ca_file.empty()) missing.push_back("--ca");
    if (options.cert_file.empty()) missing.push_back("--cert");
    if (options.key_file.empty()) missing.push_back("--key");
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "missing ", absl::StrJoin(missing, ", "), " (a flag, its PLANTMESH_* variable, or a key in ",
      settings.config_file, settings.config_loaded ? "" : ", which does not exist", "; `plantctl ",
      kFlags, " config init` writes that file)"));
}

absl::Status ResolveServiceEndpoints(const std::vector<std::string>& services,
                                     bool endpoint_flag_given, ConnectionSettings* settings) {
  auto known = [&services](const std::string& name) {
    return std::find(services.begin(), services.end(), name) != services.end();
  };
  const std::string choices = absl::StrJoin(services, ", ");
  for (const auto& [service, endpoint] : settings->service_endpoints) {
    // Named with its line, as every refusal of the file's values (re-test).
    const auto line = settings->service_endpoint_lines.find(service);
    const std::string at = absl::StrCat(
        settings->config_file,
        line == settings->service_endpoint_lines.end() ? "" : absl::StrCat(", line ", line->second),
        ": [endpoints]: ");
    if (!known(service)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, "\"", service, "\" is not a service (", choices, ")"));
    }
    if (absl::Status bad = sdk::CheckEndpoint(endpoint); !bad.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(at, service, ": ", bad.message()));
    }
  }
  // A general endpoint from a stronger source replaces the file's per-service ones.
  if (endpoint_flag_given || settings->endpoint_from_environment) {
    settings->service_endpoints.clear();
  }
  std::map<std::string, std::string> given;  // service -> the flag that named it
  for (const std::string& flag : settings->service_endpoint_flags) {
    const size_t equals = flag.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == flag.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--service-endpoint: \"", flag,
                       "\" is not SERVICE=HOST:PORT (telemetry=10.0.0.5:50051, say)"));
    }
    std::string service = flag.substr(0, equals);
    if (!known(service)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--service-endpoint: \"", service, "\" is not a service (", choices, ")"));
    }
    // Twice for one service: which one was meant is not for plantctl to guess (outside
    // testing: the last won without a word).
    if (auto [first, added] = given.emplace(service, flag); !added) {
      return absl::InvalidArgumentError(absl::StrCat("--service-endpoint: ", service,
                                                     " given twice (\"", first->second, "\", \"",
                                                     flag, "\"): give it once"));
    }
    std::string endpoint = flag.substr(equals + 1);
    if (absl::Status bad = sdk::CheckEndpoint(endpoint); !bad.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--service-endpoint: ", service, ": ", bad.message()));
    }
    settings->service_endpoints[service] = std::move(endpoint);
  }
  return absl::OkStatus();
}

std::string EndpointFor(const ConnectionSettings& settings, const std::string& service) {
  auto it = settings.service_endpoints.find(service);
  return it != settings.service_endpoints.end() ? it->second : settings.options.endpoint;
}

absl::Status InFlagTerms(const absl::Status& status) {
  if (status.ok()) return status;
  std::string message(status.message());
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    absl::StrReplaceAll(
        {{"invalid client options: ", "connection settings: "},
         {"endpoint: ", "--endpoint: "},
         {"ca_file: ", "--ca: "},
         {"cert_file: ", "--cert: "},
         {"key_file: ", "--key: "},
         {"certificate in cert_file", "certificate in --cert"},
         {"default_deadline: ", "--timeout: "},
         {"unless insecure", "unless --insecure"},
         // plantctl has no passphrase option.
         {"give its passphrase (key_passphrase) or store it decrypted", "store it decrypted"}},
        &message);
  }
  // The SDK's TLS hints name its options (re-test: "set server_name" to a user whose key
  // is server-name).
  absl::StrReplaceAll({{"set server_name to one", "set --server-name (config: server-name) to one"},
                       {"signed by the CA of ca_file", "signed by the CA of --ca"}},
                      &message);
  if (message == status.message()) return status;
  absl::Status out(status.code(), message);
  status.ForEachPayload([&out](absl::string_view type_url, const absl::Cord& payload) {
    out.SetPayload(type_url, payload);
  });
  return out;
}

absl::Status WriteConfigFile(const ConnectionSettings& settings, const std::string& path,
                             bool overwrite) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is a directory: give the config file's path (--config FILE)"));
  }
  if (!overwrite && std::filesystem::exists(path, error)) {
    return absl::AlreadyExistsError(absl::StrCat(path, " exists; pass --force to replace it"));
  }
  // Absolute paths, so the file works from any directory.
  sdk::ClientOptions options = settings.options;
  for (std::string* file : {&options.ca_file, &options.cert_file, &options.key_file}) {
    if (!file->empty()) *file = std::filesystem::absolute(*file, error).string();
  }
  std::string text = "# plantctl connection settings (written by `plantctl config init`).\n";
  absl::StrAppend(&text, "endpoint = ", TomlString(options.endpoint), "\n");
  if (!options.ca_file.empty()) absl::StrAppend(&text, "ca = ", TomlString(options.ca_file), "\n");
  if (!options.cert_file.empty()) {
    absl::StrAppend(&text, "cert = ", TomlString(options.cert_file), "\n");
  }
  if (!options.key_file.empty()) {
    absl::StrAppend(&text, "key = ", TomlString(options.key_file), "\n");
  }
  if (!options.server_name.empty()) {
    absl::StrAppend(&text, "server-name = ", TomlString(options.server_name), "\n");
  }
  if (options.insecure) absl::StrAppend(&text, "insecure = true\n");
  absl::StrAppend(&text, "timeout = ", settings.timeout_seconds, "\n");
  if (!settings.service_endpoints.empty()) {
    absl::StrAppend(&text, "\n# Services that are not at `endpoint`.\n[endpoints]\n");
    for (const auto& [service, endpoint] : settings.service_endpoints) {
      absl::StrAppend(&text, service, " = ", TomlString(endpoint), "\n");
    }
  }
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  return pki::WriteFileAtomically(path, text, 0644);
}

}  // namespace plantmesh::cli
