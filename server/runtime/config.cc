// plantmesh-server configuration with CLI11: flags > PLANTMESH_* environment > TOML
// file (--config) > defaults.
//
// CLI11 2.1 applies the config file before the environment, which would let the file
// win over the environment. So environment values are turned into flags first (for
// every option not given on the command line), and CLI11 only fills from the file what
// neither set.
#include "server/runtime/config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "plantmesh/common/boolean_text.h"
#include "plantmesh/common/edit_distance.h"
#include "plantmesh/common/loopback.h"
#include "plantmesh/common/toml_settings.h"
#include "server/runtime/pg_url.h"
#include "server/runtime/role_binding_file.h"
#include "server/runtime/service_module.h"
#include "server/runtime/spiffe_id.h"
#include "server/runtime/tls.h"
#include "spdlog/spdlog.h"

namespace plantmesh::runtime {
namespace {

// Whole numbers are decimal, as TOML and people write them: "030" is 30 and "0x10" is
// refused (CLI11 2.1 reads "030" as octal 24 and takes hex; outside testing:
// PLANTMESH_TELEMETRY_RETENTION_DAYS=030 kept 24 days of samples), and a number beyond
// 64 bits is refused, not clamped.
CLI::Validator DecimalWholeNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        absl::string_view digits = absl::StripAsciiWhitespace(text);
        const bool negative = absl::ConsumePrefix(&digits, "-");
        if (!negative) absl::ConsumePrefix(&digits, "+");
        if (digits.empty() || !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
          return absl::StrCat("'", text, "' is not a whole number in decimal digits");
        }
        while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
        const std::string canonical = absl::StrCat(negative ? "-" : "", digits);
        int64_t value = 0;
        if (!absl::SimpleAtoi(canonical, &value)) {
          return absl::StrCat("'", text, "' is out of range");
        }
        text = canonical;
        return std::string();
      },
      "");
}

// A flag's value (`--insecure=false`, PLANTMESH_INSECURE=false, `insecure = false`):
// common::ParseBooleanText's words, not what CLI11 makes of any text ("0x1" false, "2"
// true, "garbage" "Could not convert").
CLI::Validator BooleanValue() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (common::ParseBooleanText(text)) return std::string();
        return absl::StrCat("'", text, "' is not a boolean (true or false)");
      },
      "");
}

// Numbers with a fraction are decimal too: strtod would take "0x10" as 16.
CLI::Validator DecimalNumber() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        // Empty too (outside testing: `--drain-seconds=` drained for 0 s).
        if (text.empty() || text.find_first_of("xXpP") != std::string::npos) {
          return absl::StrCat("'", text, "' is not a decimal number");
        }
        return std::string();
      },
      "");
}

std::string EnvName(absl::string_view long_name) {
  return "PLANTMESH_" +
         absl::AsciiStrToUpper(absl::StrReplaceAll(long_name, {{"-", "_"}, {".", "_"}}));
}

// Why a variable of the environment looks meant for a setting but names none (one or two
// letters off, or in lower case), or nullopt: as an unknown key in the file is an error
// (outside testing: PLANTMESH_TELEMETRY_RETENTION_DAY=7 started a server that kept 30
// days). Variables further from every setting belong to other programs (plantctl's
// PLANTMESH_ENDPOINT, deploy/local/up's) and are left alone.
std::optional<std::string> MisspeltEnvironmentVariable(const std::set<std::string>& settings) {
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const absl::string_view variable = *entry;
    const absl::string_view name = variable.substr(0, variable.find('='));
    const std::string upper = absl::AsciiStrToUpper(name);
    if (!absl::StartsWith(upper, "PLANTMESH_") || settings.count(std::string(name)) > 0) continue;
    for (const std::string& setting : settings) {
      if (upper == setting || common::EditDistance(upper, setting) <= 2) {
        return absl::StrCat("environment: ", name,
                            " is no setting of plantmesh-server; did you mean ", setting,
                            "? (see --help for each setting's variable)");
      }
    }
  }
  return std::nullopt;
}

// The file as toml++ reads it (plantmesh/common/toml_settings.h), handed to CLI11 as
// options: `key` under `[defect]` is the option `defect.key` (a service's section; CLI11
// would take a section for a subcommand).
class SectionedToml : public CLI::ConfigTOML {
 public:
  // `lines`: filled with each key's line in the file, for refusals made after parsing.
  SectionedToml(const CLI::App* app, std::map<std::string, int>* lines)
      : app_(app), lines_(lines) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    absl::StatusOr<std::vector<common::TomlSetting>> settings =
        common::ReadTomlSettings(input, "config file");
    if (!settings.ok()) throw CLI::ConfigError(std::string(settings.status().message()));
    std::vector<CLI::ConfigItem> items;
    for (common::TomlSetting& setting : *settings) {
      // CLI11's own section markers, which it would skip (re-test: `"--" = 1` was taken
      // without a word where every unknown key is an error).
      if (setting.key == "--" || setting.key == "++") {
        throw CLI::ConfigError(
            absl::StrCat("config file, line ", setting.line, ": unknown key '", setting.key, "'"));
      }
      CLI::ConfigItem item;
      item.name =
          setting.table.empty() ? setting.key : absl::StrCat(setting.table, ".", setting.key);
      const CLI::Option* option = app_->get_option_no_throw("--" + item.name);
      // Named with its line here (CLI11 names no line), whatever its value, and with where
      // the key is known when it is one (outside testing: `log-level` appended below a
      // service's section was "unknown key 'defect.log-level'", no more).
      if (option == nullptr) {
        throw CLI::ConfigError(absl::StrCat("config file, line ", setting.line, ": unknown key '",
                                            item.name, "'", WhereKnown(setting)));
      }
      std::string problem = TypeProblem(*option, setting);
      if (!problem.empty()) {
        throw CLI::ConfigError(
            absl::StrCat("config file, line ", setting.line, ": '", item.name, "' ", problem));
      }
      (*lines_)[item.name] = setting.line;
      item.inputs = std::move(setting.values);
      items.push_back(std::move(item));
    }
    return items;
  }

 private:
  // Empty when `setting` is written as `option` takes it: a flag a boolean, a whole-number
  // option an integer, a seconds option an integer or a float, any other a string; an
  // array only for a list. CLI11 reads every value as text (outside testing: `insecure =
  // "false"`, `retention-days = "5"` and `[6]` were taken), toml++ keeps what was written.
  static std::string TypeProblem(const CLI::Option& option, const common::TomlSetting& setting) {
    if (setting.array && option.get_items_expected_max() <= 1) {
      return "takes one value, not an array";
    }
    const std::string type = option.get_type_name();
    std::vector<common::TomlKind> expected;
    if (option.get_expected_max() == 0) {  // a flag
      expected = {common::TomlKind::kBoolean};
    } else if (type == "INT" || type == "UINT") {
      expected = {common::TomlKind::kInteger};
    } else if (type == "FLOAT") {
      expected = {common::TomlKind::kInteger, common::TomlKind::kFloat};
    } else {
      expected = {common::TomlKind::kString};
    }
    for (size_t i = 0; i < setting.kinds.size(); ++i) {
      if (absl::c_linear_search(expected, setting.kinds[i])) continue;
      const char* written = common::TomlKindName(setting.kinds[i]);
      const std::string what = setting.kinds[i] == common::TomlKind::kString
                                   ? absl::StrCat(written, " (\"", setting.values[i], "\")")
                               : setting.kinds[i] == common::TomlKind::kTable
                                   ? std::string(written)
                                   : absl::StrCat(written, " (", setting.values[i], ")");
      return absl::StrCat("takes ", common::TomlKindName(expected.back()),
                          expected.front() == common::TomlKind::kString ? " in quotes" : "",
                          expected.size() > 1 ? " or an integer" : "", ", not ", what);
    }
    return "";
  }

  // Where a key the file has in the wrong place is known: "" when nowhere.
  std::string WhereKnown(const common::TomlSetting& setting) const {
    if (!setting.table.empty() && app_->get_option_no_throw("--" + setting.key) != nullptr) {
      return absl::StrCat(" (", setting.key,
                          " is a top-level key: write it above the file's first [section])");
    }
    // A section's options are in its option group (a nameless subcommand to CLI11).
    std::vector<const CLI::App*> groups =
        app_->get_subcommands([](const CLI::App* sub) { return sub->get_name().empty(); });
    groups.push_back(app_);
    std::vector<std::string> sections;
    for (const CLI::App* group : groups) {
      for (const CLI::Option* option : group->get_options()) {
        for (const std::string& name : option->get_lnames()) {
          const size_t dot = name.find('.');
          if (dot != std::string::npos && name.substr(dot + 1) == setting.key &&
              name.substr(0, dot) != setting.table) {
            sections.push_back(absl::StrCat("[", name.substr(0, dot), "]"));
          }
        }
      }
    }
    if (sections.empty()) return "";
    return absl::StrCat(" (", setting.key, " is a key of ", absl::StrJoin(sections, ", "), ")");
  }

  const CLI::App* app_;
  std::map<std::string, int>* lines_;
};

// A service's section as CLI11 options named `<section>.<key>`, in an option group of
// their own so that --help lists them under the section's header.
class CliConfigSection : public ConfigSection {
 public:
  CliConfigSection(CLI::App* app, const std::string& section)
      : section_(section),
        group_(app->add_option_group(
            absl::StrCat("[", section, "] section"),
            absl::StrCat("options of the ", section, " service (TOML section [", section, "])"))) {}

  void Add(const std::string& key, int64_t* value, const std::string& help, int64_t min,
           int64_t max) override {
    options_.push_back(group_->add_option(Flag(key), *value, help));
    ranges_.push_back({Name(key), value, min, max});
  }
  void Add(const std::string& key, std::string* value, const std::string& help) override {
    options_.push_back(group_->add_option(Flag(key), *value, help));
  }
  void Add(const std::string& key, bool* value, const std::string& help) override {
    options_.push_back(group_->add_flag(Flag(key), *value, help));
  }

  // CLI11's App::get_options does not descend into option groups.
  const std::vector<CLI::Option*>& options() const { return options_; }

  void Check(std::vector<std::string>* problems) const {
    for (const Range& range : ranges_) {
      if (*range.value < range.min || *range.value > range.max) {
        problems->push_back(
            absl::StrCat(range.name, ": must be between ", range.min, " and ", range.max));
      }
    }
  }

 private:
  struct Range {
    std::string name;
    const int64_t* value;
    int64_t min;
    int64_t max;
  };
  std::string Name(const std::string& key) const { return absl::StrCat(section_, ".", key); }
  std::string Flag(const std::string& key) const { return "--" + Name(key); }

  std::string section_;
  CLI::Option_group* group_;
  std::vector<Range> ranges_;
  std::vector<CLI::Option*> options_;
};

// True when `args` already carries `--name` or `--name=...`.
bool GivenOnCommandLine(const std::vector<std::string>& args, const std::string& name) {
  const std::string flag = "--" + name;
  for (const std::string& arg : args) {
    if (arg == flag || absl::StartsWith(arg, flag + "=")) return true;
  }
  return false;
}

// Whether `text` holds a blank or a control character: no host name or address does.
bool HasBlankOrControl(absl::string_view text) {
  return absl::c_any_of(text, [](unsigned char c) { return c <= ' ' || c == 0x7f; });
}

// Splits "host:port" / "[v6]:port"; false when malformed.
bool SplitHostPort(absl::string_view listen, std::string* host, int* port) {
  // Outside testing: " 127.0.0.1:7443" passed and failed at bind as "the address is in
  // use"; SimpleAtoi takes "7443 ".
  if (HasBlankOrControl(listen)) return false;
  size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) return false;
  absl::string_view host_part = listen.substr(0, colon);
  if (absl::StartsWith(host_part, "[") && absl::EndsWith(host_part, "]")) {
    host_part = host_part.substr(1, host_part.size() - 2);
  } else if (host_part.find(':') != absl::string_view::npos) {
    return false;  // IPv6 without brackets (re-test: "::1:0" failed at bind)
  }
  const absl::string_view port_part = listen.substr(colon + 1);
  if (port_part.empty() || port_part.size() > 5 ||
      !absl::c_all_of(port_part, absl::ascii_isdigit) || !absl::SimpleAtoi(port_part, port) ||
      *port > 65535) {
    return false;
  }
  *host = std::string(host_part);
  return !host->empty();
}

// Why `key`'s host cannot be listened on because no address has that name, or nullopt
// (outside testing: "nosuchhost.invalid:7443" failed at bind as "the address is in use").
// An address of another machine is found at bind.
std::optional<std::string> UnknownHost(absl::string_view key, const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const int error = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (found != nullptr) freeaddrinfo(found);
  if (error == 0) return std::nullopt;
  return absl::StrCat(key, ": host '", host, "' has no address (", gai_strerror(error), ")");
}

// Why a file option's `path` cannot be read as a file ("cannot read '…' (No such file or
// directory)", "'…' is a directory, not a file"), or nullopt. Outside testing: a
// directory given as redis-password-file stopped the server with an uncaught exception,
// and as role-bindings or tls-ca was called "not valid JSON" or "no PEM certificate".
std::optional<std::string> FileProblem(const std::string& path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::StrCat("'", path, "' is a directory, not a file");
  }
  if (access(path.c_str(), R_OK) != 0) {
    return absl::StrCat("cannot read '", path, "' (", std::strerror(errno), ")");
  }
  return std::nullopt;
}

// A secret's file: its one line, without the line end. Refuses what is surely a mistake
// (no file, nothing in it, a second line) naming the path, never the content.
absl::StatusOr<std::string> ReadPasswordFile(const std::string& path) {
  if (std::optional<std::string> problem = FileProblem(path)) {
    return absl::InvalidArgumentError(*problem);
  }
  std::ifstream file(path, std::ios::binary);
  std::ostringstream read;
  // (`read` fails when the file holds nothing: an empty file, told as such below.)
  if (file.is_open()) read << file.rdbuf();
  if (!file.is_open() || file.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read '", path, "'"));
  }
  const std::string text = read.str();
  absl::string_view line = text;
  if (absl::ConsumeSuffix(&line, "\n")) absl::ConsumeSuffix(&line, "\r");
  if (line.empty()) return absl::InvalidArgumentError(absl::StrCat("'", path, "' is empty"));
  if (line.find_first_of(absl::string_view("\r\n\0", 3)) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", path, "' holds more than one line (or a NUL byte); the password is its one line"));
  }
  return std::string(line);
}

// Each problem of `config` as "<key>: why".
std::vector<std::string> Problems(const ServerConfig& config) {
  std::vector<std::string> problems;
  // Before any connection: a string libpq cannot read would be quoted, password and all,
  // in the connection's error (outside testing), and name a default address.
  if (absl::Status url = CheckPostgresUrl(config.postgres_url); !url.ok()) {
    problems.push_back(std::string(url.message()));
  }
  std::string host;
  int port = 0;
  if (!SplitHostPort(config.listen, &host, &port)) {
    problems.push_back(absl::StrCat("listen: '", config.listen,
                                    "' is not HOST:PORT (e.g. 127.0.0.1:7443, [::1]:0)"));
  } else if (config.insecure && !common::IsLoopbackHost(host)) {
    problems.push_back(
        absl::StrCat("insecure: plaintext is only allowed on a loopback address "
                     "(127.x.x.x, ::1, localhost); listen is '",
                     config.listen, "'"));
  } else if (std::optional<std::string> unknown = UnknownHost("listen", host)) {
    problems.push_back(*std::move(unknown));
  }
  // Plaintext on any address: it answers health and nothing else.
  if (!config.probe_listen.empty()) {
    std::string probe_host;
    int probe_port = 0;
    if (!SplitHostPort(config.probe_listen, &probe_host, &probe_port)) {
      problems.push_back(absl::StrCat("probe-listen: '", config.probe_listen,
                                      "' is not HOST:PORT (e.g. 127.0.0.1:7444, 10.1.2.3:7444, "
                                      "[::1]:0) or empty (no probe listener)"));
    } else if (std::optional<std::string> unknown = UnknownHost("probe-listen", probe_host)) {
      problems.push_back(*std::move(unknown));
    } else if (probe_port != 0 && probe_port == port && probe_host == host) {
      problems.push_back(
          absl::StrCat("probe-listen: '", config.probe_listen, "' is the address of listen"));
    }
  }
  // Plaintext HTTP on any address: it serves the metrics and nothing else.
  if (!config.metrics_listen.empty()) {
    std::string metrics_host;
    int metrics_port = 0;
    if (!SplitHostPort(config.metrics_listen, &metrics_host, &metrics_port)) {
      problems.push_back(absl::StrCat("metrics-listen: '", config.metrics_listen,
                                      "' is not HOST:PORT (e.g. 127.0.0.1:9464, 10.1.2.3:9464, "
                                      "[::1]:0) or empty (no metrics listener)"));
    } else if (std::optional<std::string> unknown = UnknownHost("metrics-listen", metrics_host)) {
      problems.push_back(*std::move(unknown));
    } else if (metrics_port != 0 && metrics_host == host && metrics_port == port) {
      problems.push_back(
          absl::StrCat("metrics-listen: '", config.metrics_listen, "' is the address of listen"));
    } else if (metrics_port != 0 && config.metrics_listen == config.probe_listen) {
      problems.push_back(absl::StrCat("metrics-listen: '", config.metrics_listen,
                                      "' is the address of probe-listen"));
    }
  }
  // Checked here with the rest, so that a file's value is named with its line (outside
  // testing: log-level alone had no file and line).
  if (spdlog::level::from_str(config.log_level) == spdlog::level::off &&
      config.log_level != "off") {
    problems.push_back(absl::StrCat(
        "log-level: must be one of trace, debug, info, warn, error, critical, off; got '",
        config.log_level, "'"));
  }
  if (config.log_format != "text" && config.log_format != "json") {
    problems.push_back(
        absl::StrCat("log-format: must be text or json; got '", config.log_format, "'"));
  }
  if (!config.insecure) {
    const std::pair<const char*, const std::string*> tls_files[] = {
        {"tls-ca", &config.tls_ca}, {"tls-cert", &config.tls_cert}, {"tls-key", &config.tls_key}};
    bool all_readable = true;
    for (const auto& [key, path] : tls_files) {
      if (path->empty()) {
        problems.push_back(absl::StrCat(key, ": required unless --insecure"));
        all_readable = false;
      } else if (std::optional<std::string> problem = FileProblem(*path)) {
        problems.push_back(absl::StrCat(key, ": ", *problem));
        all_readable = false;
      }
    }
    // Otherwise the server would report itself ready and fail every handshake.
    if (all_readable) {
      if (absl::Status usable = CheckTlsFiles(config.tls_ca, config.tls_cert, config.tls_key);
          !usable.ok()) {
        problems.emplace_back(usable.message());
      }
    }
    if (config.role_bindings.empty()) {
      problems.push_back("role-bindings: required unless --insecure");
    }
  }
  const bool valid_trust_domain = IsValidTrustDomain(config.trust_domain);
  if (!valid_trust_domain) {
    problems.push_back(absl::StrCat("trust-domain: '", config.trust_domain,
                                    "' is not 1-255 characters of a-z, 0-9, '.', '-', '_'"));
  }
  if (!config.role_bindings.empty()) {
    // Its content too, as every other setting, before anything starts (outside testing: a
    // truncated file stopped the server with exit 1 after it had connected to PostgreSQL
    // and Redis, the message naming neither the file nor the setting's line).
    absl::StatusOr<std::string> text;
    if (std::optional<std::string> problem = FileProblem(config.role_bindings)) {
      problems.push_back(absl::StrCat("role-bindings: ", *problem));
    } else if (text = ReadRoleBindingFile(config.role_bindings); !text.ok()) {
      problems.emplace_back(text.status().message());
    } else if (absl::Status parsed =
                   RoleBindings::Parse(*text, valid_trust_domain ? config.trust_domain : "")
                       .status();
               !parsed.ok()) {
      // Identities are judged against a valid trust domain only (re-test: with a mistyped
      // one, every binding was refused before the cause was named).
      problems.push_back(absl::StrCat("role-bindings: '", config.role_bindings, "': ",
                                      absl::StripPrefix(parsed.message(), "role-bindings: ")));
    }
  }
  if (config.tls_reload_seconds < 1) problems.push_back("tls-reload-seconds: must be >= 1");
  if (config.role_bindings_reload_seconds < 1) {
    problems.push_back("role-bindings-reload-seconds: must be >= 1");
  }
  // Bounded (outside testing: 100000 opened connections until PostgreSQL refused them,
  // every other client of the cluster with it).
  if (config.postgres_pool_size < 1 || config.postgres_pool_size > 1000) {
    problems.push_back("postgres-pool-size: must be 1-1000");
  }
  if (config.postgres_statement_timeout_ms < 0) {
    problems.push_back("postgres-statement-timeout-ms: must be >= 0");
  }
  if (config.postgres_lock_timeout_ms < 0) {
    problems.push_back("postgres-lock-timeout-ms: must be >= 0");
  }
  if (config.postgres_migration_lock_wait_seconds < 1) {
    problems.push_back("postgres-migration-lock-wait-seconds: must be >= 1");
  }
  // Re-test: an empty redis-host, blanks around it or a port in it started a server that
  // could never reach Redis.
  in6_addr ipv6{};
  if (absl::StripAsciiWhitespace(config.redis_host).empty()) {
    problems.push_back("redis-host: empty: a host name or IP address (default 127.0.0.1)");
  } else if (HasBlankOrControl(config.redis_host)) {
    problems.push_back(absl::StrCat("redis-host: '", config.redis_host,
                                    "' has a blank or control character: a host name or IP "
                                    "address alone"));
  } else if (config.redis_host.find(':') != std::string::npos &&
             inet_pton(AF_INET6, config.redis_host.c_str(), &ipv6) != 1) {
    problems.push_back(absl::StrCat("redis-host: '", config.redis_host,
                                    "' is not a host name or IP address (a port goes in "
                                    "redis-port; an IPv6 address without brackets)"));
  }
  if (config.redis_port < 1 || config.redis_port > 65535) {
    problems.push_back("redis-port: must be 1-65535");
  }
  if (!config.redis_user.empty() && config.redis_password_file.empty()) {
    problems.push_back("redis-user: needs redis-password-file (the user's password)");
  }
  if (config.events_retain < 1) problems.push_back("events-retain: must be >= 1");
  if (config.events_retain_bytes < (int64_t{16} << 20)) {
    problems.push_back("events-retain-bytes: must be >= 16777216 (16 MiB)");
  }
  if (config.request_id_retention_days < 1 || config.request_id_retention_days > 36500) {
    problems.push_back("request-id-retention-days: must be 1-36500");
  }
  if (config.watch_queue_events < 1 || config.watch_queue_events > 1000000) {
    problems.push_back("watch-queue-events: must be 1-1000000");
  }
  if (config.watch_queue_bytes < (int64_t{4} << 20)) {
    problems.push_back("watch-queue-bytes: must be >= 4194304 (4 MiB)");
  }
  // Bounded: nan, inf and 1e400 were taken as a drain without end (outside testing), so
  // that one stuck call held SIGTERM for good.
  if (config.drain_timeout < absl::ZeroDuration() || config.drain_timeout > absl::Hours(1)) {
    problems.push_back("drain-seconds: must be a number of seconds 0-3600");
  }
  if (config.upload_memory_bytes < 1024 * 1024) {
    problems.push_back("upload-memory-bytes: must be >= 1048576");
  }
  if (config.download_memory_bytes < 1024 * 1024) {
    problems.push_back("download-memory-bytes: must be >= 1048576");
  }
  if (config.transfer_idle_seconds < 0 || config.transfer_idle_seconds > 86400) {
    problems.push_back("transfer-idle-seconds: must be 0-86400 (0: never)");
  }
  if (config.max_receive_message_bytes < 1024) {
    problems.push_back("max-receive-message-bytes: must be >= 1024");
  }
  if (config.max_send_message_bytes < 1024) {
    problems.push_back("max-send-message-bytes: must be >= 1024");
  }
  if (config.max_metadata_bytes < 1024) problems.push_back("max-metadata-bytes: must be >= 1024");
  if (config.memory_quota_bytes < 16 * 1024 * 1024) {
    problems.push_back("memory-quota-bytes: must be >= 16777216");
  }
  if (config.min_ping_seconds < 1) problems.push_back("min-ping-seconds: must be >= 1");
  // gRPC takes both in milliseconds as an int.
  constexpr int kMaxConnectionAgeSeconds = 24 * 86400;
  if (config.max_connection_age_seconds < 0 ||
      config.max_connection_age_seconds > kMaxConnectionAgeSeconds) {
    problems.push_back("max-connection-age-seconds: must be 0-2073600 (24 days; 0: never)");
  }
  if (config.max_connection_age_grace_seconds < 1 ||
      config.max_connection_age_grace_seconds > kMaxConnectionAgeSeconds) {
    problems.push_back("max-connection-age-grace-seconds: must be 1-2073600 (24 days)");
  }
  if (config.handshake_timeout_seconds < 1 || config.handshake_timeout_seconds > 120) {
    problems.push_back("handshake-timeout-seconds: must be 1-120");
  }
  if (config.executor_threads < 1 || config.executor_threads > 1024) {
    problems.push_back("executor-threads: must be 1-1024");
  }
  if (config.executor_queue < 1) problems.push_back("executor-queue: must be >= 1");
  if (config.grpc_max_threads < 2) problems.push_back("grpc-max-threads: must be >= 2");
  if (config.max_concurrent_streams < 1) {
    problems.push_back("max-concurrent-streams: must be >= 1");
  }
  return problems;
}

}  // namespace

absl::StatusOr<ServerConfig> LoadServerConfig(
    int argc, char** argv, const std::vector<const ServiceDescriptor*>& services) {
  ServerConfig config;
  double drain_seconds = absl::ToDoubleSeconds(config.drain_timeout);

  CLI::App app{
      "plantmesh-server: hosts PlantMesh gRPC services over mutual TLS.\n"
      "Each option can also be set as a key in the --config TOML file (same name, e.g.\n"
      "`tls-ca = \"/etc/plantmesh/ca.pem\"`) or by the environment variable shown.\n"
      "Precedence: flags > environment > config file > defaults. Unknown keys are errors.",
      "plantmesh-server"};
  app.option_defaults()->always_capture_default();
  app.allow_config_extras(false);         // a misspelt key must not be silently ignored
  std::map<std::string, int> file_lines;  // of the keys the config file gives
  app.config_formatter(std::make_shared<SectionedToml>(&app, &file_lines));
  app.set_config("--config", "", "TOML config file; keys are the long option names");
  // Answered by main() before the configuration is read; declared for --help.
  app.add_flag("--version", "print the version, git revision and contract packages, and exit")
      ->configurable(false);

  app.add_option("--listen", config.listen,
                 "HOST:PORT to listen on; port 0 picks a free port (printed as LISTENING)");
  app.add_option("--probe-listen", config.probe_listen,
                 "HOST:PORT of a plaintext listener that serves grpc.health.v1 only, for the "
                 "kubelet's gRPC probes (they cannot do mTLS); port 0 picks a free port; empty: "
                 "none. In Kubernetes the pod IP, e.g. $(POD_IP):7444");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "HOST:PORT of a plaintext HTTP listener that serves GET /metrics (Prometheus "
                 "text format) only; empty (default): none. In Kubernetes the pod IP, e.g. "
                 "$(POD_IP):9464");
  app.add_option(
         "--services", config.services,
         "services to host (comma-separated), or `all` for every service this binary knows; "
         "SystemService is always hosted")
      ->delimiter(',');
  app.add_option("--tls-ca", config.tls_ca, "CA bundle that client certificates must chain to");
  app.add_option("--tls-cert", config.tls_cert, "server certificate chain (PEM)");
  app.add_option("--tls-key", config.tls_key, "server private key (PEM)");
  app.add_option("--tls-reload-seconds", config.tls_reload_seconds,
                 "how often the TLS files are re-read (rotation without restart)");
  app.add_flag("--insecure", config.insecure,
               "plaintext without client certificates; only on a loopback address; every "
               "caller is the identity insecure:local");
  app.add_option("--trust-domain", config.trust_domain, "expected SPIFFE trust domain");
  app.add_option("--role-bindings", config.role_bindings,
                 "JSON file binding identities (or identity prefixes) to roles; reloaded when "
                 "it changes; required unless --insecure");
  app.add_option("--role-bindings-reload-seconds", config.role_bindings_reload_seconds,
                 "how often the role-binding file is checked for changes");
  app.add_option("--postgres-url", config.postgres_url,
                 "libpq URL of PostgreSQL, e.g. postgresql://plantmesh@127.0.0.1:5432/plantmesh");
  app.add_option("--postgres-pool-size", config.postgres_pool_size,
                 "PostgreSQL connections kept; 1-1000, within the server's max_connections");
  app.add_option("--postgres-statement-timeout-ms", config.postgres_statement_timeout_ms,
                 "longest a PostgreSQL statement may run before it is cancelled (call fails "
                 "DEADLINE_EXCEEDED); 0: no limit");
  app.add_option("--postgres-lock-timeout-ms", config.postgres_lock_timeout_ms,
                 "longest a PostgreSQL statement waits for a lock (call fails ABORTED); 0: no "
                 "limit");
  app.add_option("--postgres-migration-lock-wait-seconds",
                 config.postgres_migration_lock_wait_seconds,
                 "at start, how long to wait for another replica that is applying the schema "
                 "migrations (they run without the two limits above)");
  app.add_option("--redis-host", config.redis_host, "Redis host (event fan-out and cache)");
  app.add_option("--redis-port", config.redis_port, "Redis port");
  app.add_option("--redis-user", config.redis_user,
                 "Redis ACL user (Redis 6+) to AUTH as; empty: the default user; needs "
                 "redis-password-file");
  app.add_option("--redis-password-file", config.redis_password_file,
                 "file holding Redis's password (requirepass, or the ACL user's) on one line, "
                 "read at start; empty: Redis is used without AUTH");
  app.add_option("--events-retain", config.events_retain,
                 "event stream entries kept for Watch cursors");
  app.add_option("--events-retain-bytes", config.events_retain_bytes,
                 "about the most payload bytes an event stream keeps for Watch cursors (its "
                 "entries are up to ~1 MiB); the fewer entries of this and events-retain are kept");
  app.add_option("--request-id-retention-days", config.request_id_retention_days,
                 "how long a request_id is remembered (a retry within it answers the first "
                 "response); then its entry is deleted and a reuse is a new call; longer than "
                 "any client retries");
  app.add_option("--watch-queue-events", config.watch_queue_events,
                 "events queued per watcher before it is ended as too slow (UNAVAILABLE "
                 "WATCH_TOO_SLOW with its resume cursor)");
  app.add_option("--watch-queue-bytes", config.watch_queue_bytes,
                 "bytes of events queued per watcher before it is ended as too slow (a "
                 "telemetry event holds up to ~1 MiB of samples)");
  app.add_option("--drain-seconds", drain_seconds,
                 "on SIGTERM, how long in-flight unary calls and finite streams (photo uploads and "
                 "downloads) may take to finish; watches end at once with a resume cursor, "
                 "streams still open after it end UNAVAILABLE");
  app.add_option("--upload-memory-bytes", config.upload_memory_bytes,
                 "memory all uploads being received may hold together, counted by bytes "
                 "received (not declared); an upload beyond it fails RESOURCE_EXHAUSTED; at "
                 "least every service's largest upload (e.g. defect.photo-max-bytes)");
  app.add_option("--download-memory-bytes", config.download_memory_bytes,
                 "memory all downloads being sent may hold together (a photo's bytes until its "
                 "last chunk is sent); a download beyond it fails RESOURCE_EXHAUSTED; at least "
                 "every service's largest download (e.g. defect.photo-max-bytes)");
  app.add_option("--transfer-idle-seconds", config.transfer_idle_seconds,
                 "an upload whose client sends no chunk, or a download whose client reads none, "
                 "for this long is ended (an upload DEADLINE_EXCEEDED, a download CANCELLED), "
                 "giving back its share of upload-memory-bytes or download-memory-bytes; 0: "
                 "never; 0-86400");
  app.add_flag("--audit-reads", config.audit_reads, "also audit read-only calls");
  app.add_flag("--reflection,!--no-reflection", config.reflection,
               "gRPC server reflection (on by default; --no-reflection turns it off)");
  app.add_option("--log-level", config.log_level,
                 "trace, debug, info, warn, error, critical or off (logs go to stderr)");
  app.add_option("--log-format", config.log_format,
                 "text (for a terminal) or json (one JSON object per line: time, level, "
                 "logger, message, and for calls service, method, peer, request_id, status, "
                 "latency_ms)");
  app.add_option("--max-receive-message-bytes", config.max_receive_message_bytes,
                 "largest message the server accepts");
  app.add_option("--max-send-message-bytes", config.max_send_message_bytes,
                 "largest message the server sends");
  app.add_option("--max-metadata-bytes", config.max_metadata_bytes,
                 "largest request metadata (headers) accepted");
  app.add_option("--memory-quota-bytes", config.memory_quota_bytes,
                 "memory gRPC may use for calls in flight (ResourceQuota)");
  app.add_option("--executor-threads", config.executor_threads,
                 "threads that run handlers and every blocking step of a stream (PostgreSQL, "
                 "Redis); gRPC's own threads never do");
  app.add_option("--executor-queue", config.executor_queue,
                 "calls that may wait for an executor thread; beyond that new calls fail "
                 "RESOURCE_EXHAUSTED");
  app.add_option("--grpc-max-threads", config.grpc_max_threads,
                 "threads gRPC may start for its synchronous-API service (reflection): "
                 "ResourceQuota max threads");
  app.add_option("--max-concurrent-streams", config.max_concurrent_streams,
                 "calls one client connection may have open at once (HTTP/2 "
                 "MAX_CONCURRENT_STREAMS)");
  app.add_option("--min-ping-seconds", config.min_ping_seconds,
                 "least interval between client keepalive pings accepted, with or without "
                 "calls open; clients' keepalive time must be at least this, or the server "
                 "closes the connection (GOAWAY too_many_pings) and logs the client");
  app.add_option("--handshake-timeout-seconds", config.handshake_timeout_seconds,
                 "a client connection that has not finished its TLS and HTTP/2 handshake by "
                 "then is closed, its descriptor and memory freed; 1-120");
  app.add_option("--max-connection-age-seconds", config.max_connection_age_seconds,
                 "a client connection older than this (+-10 %) is asked to go (GOAWAY) and "
                 "its client reconnects with a new TLS handshake, so an expired client "
                 "certificate or a CA removed from tls-ca ends it; 0: never, at most 2073600 "
                 "(24 days)");
  app.add_option("--max-connection-age-grace-seconds", config.max_connection_age_grace_seconds,
                 "how long calls still open on such a connection (watches, tails, ingest "
                 "streams) may go on before it is closed and they end UNAVAILABLE; "
                 "1-2073600");

  std::vector<std::unique_ptr<CliConfigSection>> sections;
  std::map<std::string, std::shared_ptr<ServiceConfig>> section_values;
  for (const ServiceDescriptor* service : services) {
    if (!service->declare_config) continue;
    sections.push_back(std::make_unique<CliConfigSection>(&app, service->name));
    section_values[service->name] = service->declare_config(*sections.back());
  }

  std::vector<std::string> args;
  std::set<std::string> given_empty;  // the names written `--name=`
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    // `--name=` is the empty value (CLI11 2.1 took the next argument for it; outside
    // testing: `--probe-listen=` read `--postgres-url=…` as its address).
    if (absl::StartsWith(arg, "--") && absl::EndsWith(arg, "=") &&
        arg.find('=') == arg.size() - 1) {
      args.emplace_back(arg.substr(0, arg.size() - 1));
      args.emplace_back();
      given_empty.emplace(arg.substr(2, arg.size() - 3));
    } else {
      args.emplace_back(arg);
    }
  }
  // The options the environment gave, so that a refusal names the variable (outside
  // testing: PLANTMESH_EXECUTOR_THREADS=0x10 was "--executor-threads: ...", a flag the
  // operator never gave).
  std::set<std::string> from_environment;
  auto named_as_given = [&from_environment](std::string message, absl::string_view prefix) {
    for (const std::string& name : from_environment) {
      const std::string given = absl::StrCat(prefix, name);
      if (absl::StartsWith(message, given) && message.size() > given.size() &&
          message[given.size()] == ':') {
        return absl::StrCat(EnvName(name), " (environment)", message.substr(given.size()));
      }
    }
    return message;
  };
  std::vector<CLI::Option*> all_options = app.get_options([](CLI::Option*) { return true; });
  for (const auto& section : sections) {
    all_options.insert(all_options.end(), section->options().begin(), section->options().end());
  }
  std::set<std::string> environment_names;  // PLANTMESH_X of every setting
  for (CLI::Option* option : all_options) {
    if (option->get_lnames().empty() || option->get_lnames().front() == "help" ||
        option->get_lnames().front() == "version") {
      continue;
    }
    const std::string& name = option->get_lnames().front();
    if (option->get_type_name() == "INT" || option->get_type_name() == "UINT") {
      option->transform(DecimalWholeNumber());
    } else if (option->get_type_name() == "FLOAT") {
      option->check(DecimalNumber());
    } else if (option->get_items_expected_max() == 0) {
      // A flag: `--insecure=` is no value at all, and a value is a boolean (outside
      // testing: `--insecure=` started a plaintext server, "0x1" and "-1" read as false).
      // Each of its names: `--no-reflection=` too (re-test: it was taken as given).
      for (const std::string& given : option->get_lnames()) {
        if (given_empty.count(given) == 0) continue;
        return absl::InvalidArgumentError(
            absl::StrCat("--", given, "= has an empty value: write --", given, " (or --", given,
                         "=true), --", given, "=false, or leave it out"));
      }
      option->check(BooleanValue());
      // Given twice (`--no-reflection --reflection`) is refused, not the last one taken
      // (re-test: a drop-in appending a flag undid a hardening choice without a word).
      option->multi_option_policy(CLI::MultiOptionPolicy::Throw);
    }
    const std::string env = EnvName(name);
    option->envname(env);  // shown by --help
    environment_names.insert(env);
    if (GivenOnCommandLine(args, name) ||
        (name == "reflection" && GivenOnCommandLine(args, "no-reflection"))) {
      continue;
    }
    if (const char* value = std::getenv(env.c_str()); value != nullptr && *value != '\0') {
      args.push_back(absl::StrCat("--", name, "=", value));
      from_environment.insert(name);
    }
  }

  if (std::optional<std::string> misspelt = MisspeltEnvironmentVariable(environment_names)) {
    return absl::InvalidArgumentError(*misspelt);
  }

  // "config file <path>", as refusals of the file's values name it.
  auto config_file_name = [&app] {
    std::string file = "config file";
    if (const CLI::Option* config_option = app.get_config_ptr();
        config_option != nullptr && config_option->count() > 0) {
      absl::StrAppend(&file, " ", config_option->as<std::string>());
    }
    return file;
  };
  // `problem` ("key: why") with where its value came from: a value the file gave (no flag
  // or environment variable over it) is named with the file and its line (re-test:
  // `retention-days = 0` was "telemetry.retention-days: must be between 1 and 3650",
  // naming neither), one from the environment with its variable.
  auto with_place = [&](std::string problem) {
    const std::string key = problem.substr(0, problem.find(':'));
    const auto line = file_lines.find(key);
    const char* env = std::getenv(EnvName(key).c_str());
    if (line != file_lines.end() && !GivenOnCommandLine(args, key) &&
        (env == nullptr || *env == '\0')) {
      problem = absl::StrCat(config_file_name(), ", line ", line->second, ": ", problem);
    }
    return named_as_given(std::move(problem), "");
  };
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& help) {
    std::exit(app.exit(help));
  } catch (const CLI::ConfigError& e) {
    // The file by its path (re-test: "config file: config file, line 3").
    const std::string file = config_file_name();
    constexpr absl::string_view kExtras = "INI was not able to parse ";
    absl::string_view what = e.what();
    if (absl::StartsWith(what, kExtras)) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": unknown key '", what.substr(kExtras.size()), "' (see --help for keys)"));
    }
    // SectionedToml's own messages start "config file, line N".
    if (absl::ConsumePrefix(&what, "config file")) {
      return absl::InvalidArgumentError(absl::StrCat(file, what));
    }
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", what));
  } catch (const CLI::ConversionError& e) {
    // A whole number beyond the option's type (DecimalWholeNumber passes what fits 64
    // bits): CLI11's "Could not convert: --postgres-pool-size = 2147483648", named as
    // given, with its line when the file gave it (outside testing).
    constexpr absl::string_view kCouldNot = "Could not convert: --";
    const absl::string_view what = e.what();
    const size_t equals = what.find(" = ");
    if (!absl::StartsWith(what, kCouldNot) || equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(named_as_given(e.what(), "--"));
    }
    const std::string key(what.substr(kCouldNot.size(), equals - kCouldNot.size()));
    return absl::InvalidArgumentError(
        with_place(absl::StrCat(key, ": '", what.substr(equals + 3), "' is out of range")));
  } catch (const CLI::ParseError& e) {
    std::string message = named_as_given(e.what(), "--");
    // CLI11's "--listen: At Most 1 required but received 2", in the operator's words.
    constexpr std::string_view kRepeated = ": At Most 1 required but received ";
    if (const size_t at = message.find(kRepeated); at != std::string::npos) {
      message = absl::StrCat(message.substr(0, at), ": given ",
                             message.substr(at + kRepeated.size()), " times: give it once");
    }
    return absl::InvalidArgumentError(message);
  }

  config.drain_timeout = absl::Seconds(drain_seconds);
  // Blanks around a name are no part of it (outside testing: PLANTMESH_SERVICES='defect,
  // planning' was refused as "unknown service ' planning'").
  for (std::string& name : config.services) absl::StripAsciiWhitespace(&name);
  config.services.erase(std::remove(config.services.begin(), config.services.end(), ""),
                        config.services.end());
  std::vector<std::string> problems;
  // Re-test: `services = [" "]` (or PLANTMESH_SERVICES=' ') started a server that hosted
  // nothing and said it was healthy.
  if (config.services.empty()) {
    problems.push_back("services: names no service (a comma-separated list, or all)");
  } else if (!services.empty()) {
    // Re-test: an unknown service passed the configuration and ended the server with
    // exit 1, as a failure at run time would.
    if (auto selected = SelectServices(config, services); !selected.ok()) {
      problems.emplace_back(selected.status().message());
    }
  }
  for (std::string& problem : Problems(config)) problems.push_back(std::move(problem));
  if (!config.redis_password_file.empty()) {
    absl::StatusOr<std::string> password = ReadPasswordFile(config.redis_password_file);
    if (password.ok()) {
      config.redis_password = *std::move(password);
    } else {
      problems.push_back(absl::StrCat("redis-password-file: ", password.status().message()));
    }
  }
  for (const auto& section : sections) section->Check(&problems);
  for (const ServiceDescriptor* service : services) {
    auto values = section_values.find(service->name);
    if (!service->check_config || values == section_values.end()) continue;
    for (std::string& problem : service->check_config(config, *values->second)) {
      problems.push_back(std::move(problem));
    }
  }
  if (!problems.empty()) {
    for (std::string& problem : problems) problem = with_place(std::move(problem));
    return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
  }
  for (auto& [name, values] : section_values) config.sections[name] = std::move(values);
  return config;
}

absl::StatusOr<std::vector<const ServiceDescriptor*>> SelectServices(
    const ServerConfig& config, const std::vector<const ServiceDescriptor*>& known) {
  std::vector<const ServiceDescriptor*> selected;
  std::vector<std::string> known_names;
  for (const ServiceDescriptor* descriptor : known) known_names.push_back(descriptor->name);
  std::vector<std::string> names = config.services;
  if (std::find(names.begin(), names.end(), "all") != names.end()) names = known_names;
  for (const std::string& name : names) {
    const ServiceDescriptor* found = nullptr;
    for (const ServiceDescriptor* descriptor : known) {
      if (descriptor->name == name) found = descriptor;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("services: unknown service '", name,
                                                     "' (known: ", absl::StrJoin(known_names, ", "),
                                                     ")"));
    }
    if (std::find(selected.begin(), selected.end(), found) != selected.end()) continue;
    if (!found->schema.empty() && config.postgres_url.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("postgres-url: required by service '", name, "'"));
    }
    selected.push_back(found);
  }
  return selected;
}

}  // namespace plantmesh::runtime
