#include "server/runtime/pg_url.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "server/runtime/errors.h"

namespace plantmesh::runtime {
namespace {

// The password of `url` as written (percent-encoded as it is in a URI), by a reading that
// needs no valid string (libpq's own parse fails on exactly the strings it quotes), and as
// libpq reads it.
std::vector<std::string> PasswordsIn(const std::string& url) {
  std::vector<std::string> passwords;
  if (absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://")) {
    const size_t start = url.find("://") + 3;
    // Up to the last '@' of the string: a password may hold '/' or '@' unencoded. (A
    // string libpq cannot parse is quoted nowhere: WithoutQuotedText.)
    const size_t at = url.rfind('@');
    if (at != std::string::npos && at > start) {
      const std::string userinfo = url.substr(start, at - start);
      if (size_t colon = userinfo.find(':'); colon != std::string::npos) {
        passwords.push_back(userinfo.substr(colon + 1));
      }
    }
  }
  // As libpq reads it (percent-decoded, unquoted), when it can.
  const std::map<std::string, std::string> settings = ConnectionSettings(url);
  if (auto it = settings.find("password"); it != settings.end()) passwords.push_back(it->second);
  // As written: key=value pairs, and a URI's ?password= parameter.
  for (const char* key : {"password=", "password ="}) {
    for (size_t at = url.find(key); at != std::string::npos; at = url.find(key, at + 1)) {
      size_t value = at + std::string(key).size();
      while (value < url.size() && url[value] == ' ') ++value;
      size_t end = value;
      if (value < url.size() && url[value] == '\'') {
        end = url.find('\'', value + 1);
        end = end == std::string::npos ? url.size() : end + 1;
      } else {
        while (end < url.size() && url[end] != ' ' && url[end] != '&') ++end;
      }
      passwords.push_back(url.substr(value, end - value));
    }
  }
  return passwords;
}

// libpq's parse error with what it quotes of the string left out: any part may be the
// password (re-test: a URI of a scheme libpq does not know, POSTGRESQL:// or
// postgresql+psycopg2://, was quoted whole). Its own one-character syntax ("=", "]")
// stays.
std::string WithoutQuotedText(const std::string& reason) {
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = reason.find('"', at);
    const size_t close = open == std::string::npos ? open : reason.find('"', open + 1);
    if (close == std::string::npos) break;
    const std::string quoted = reason.substr(open + 1, close - open - 1);
    const bool syntax = quoted == "=" || quoted == "]" || quoted == "&";
    absl::StrAppend(&out, reason.substr(at, open - at), "\"", syntax ? quoted : "…", "\"");
    at = close + 1;
  }
  return out + reason.substr(at);
}

// A fault libpq finds only when it connects, in a setting it parses from any text
// (re-test: `sslmode=requir`, `port=99999`, `keepalives=x` started the server, which then
// exited 1 on the first connection, DEPENDENCY_UNAVAILABLE); "" when there is none.
// libpq's own rules (fe-connect.c): whole numbers as strtol reads them (a sign and blanks
// around allowed), the named choices (the TLS versions in any case), numeric host
// addresses, as many ports and addresses as hosts. The values quoted are never the
// password's.
std::string SettingFault(const std::string& key, const std::string& value) {
  struct Choice {
    std::vector<std::string> values;
    bool any_case = false;
  };
  static const auto* const kTlsVersions =
      new Choice{{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}, true};
  static const auto* const kChoices = new std::map<std::string, Choice>{
      {"sslmode", {{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}}},
      {"gssencmode", {{"disable", "prefer", "require"}}},
      {"channel_binding", {{"disable", "prefer", "require"}}},
      {"target_session_attrs",
       {{"any", "read-write", "read-only", "primary", "standby", "prefer-standby"}}},
      {"ssl_min_protocol_version", *kTlsVersions},
      {"ssl_max_protocol_version", *kTlsVersions},
  };
  static const auto* const kWholeNumbers =
      new std::set<std::string>{"connect_timeout",     "keepalives",       "keepalives_idle",
                                "keepalives_interval", "keepalives_count", "tcp_user_timeout"};
  const std::string quoted = QuoteForMessage(value);
  if (auto choice = kChoices->find(key); choice != kChoices->end()) {
    for (const std::string& allowed : choice->second.values) {
      if (choice->second.any_case ? absl::EqualsIgnoreCase(value, allowed) : value == allowed) {
        return "";
      }
    }
    return absl::StrCat(key, " ", quoted, " is none of ",
                        absl::StrJoin(choice->second.values, ", "));
  }
  if (kWholeNumbers->count(key) > 0) {
    int number = 0;
    if (!absl::SimpleAtoi(value, &number)) {
      return absl::StrCat(key, " ", quoted, " is not a whole number");
    }
  }
  if (key == "port") {  // one per host, comma-separated; an empty one is the default
    for (absl::string_view port : absl::StrSplit(value, ',')) {
      int number = 0;
      if (!port.empty() && (!absl::SimpleAtoi(port, &number) || number < 1 || number > 65535)) {
        return absl::StrCat("port ", QuoteForMessage(std::string_view(port.data(), port.size())),
                            " is not a port number 1-65535");
      }
    }
  }
  if (key == "hostaddr") {  // numeric addresses only: no name is looked up
    for (absl::string_view address : absl::StrSplit(value, ',')) {
      const std::string text(absl::StripAsciiWhitespace(address));
      unsigned char parsed[sizeof(in6_addr)];
      if (!text.empty() && inet_pton(AF_INET, text.c_str(), parsed) != 1 &&
          inet_pton(AF_INET6, text.c_str(), parsed) != 1) {
        return absl::StrCat("hostaddr ", QuoteForMessage(text),
                            " is not a numeric IPv4 or IPv6 address (a name goes in host)");
      }
    }
  }
  return "";
}

// libpq's counts: as many hostaddr values as host names, and one port or one per host.
std::string CountFault(const std::map<std::string, std::string>& settings) {
  auto count = [&](const char* key) -> size_t {
    auto it = settings.find(key);
    return it == settings.end() ? 0 : std::count(it->second.begin(), it->second.end(), ',') + 1;
  };
  const size_t names = count("host"), addresses = count("hostaddr"), ports = count("port");
  if (names > 0 && addresses > 0 && names != addresses) {
    return absl::StrCat(addresses, " hostaddr values for ", names, " host names");
  }
  const size_t hosts = std::max<size_t>({names, addresses, 1});
  if (ports > 1 && ports != hosts) return absl::StrCat(ports, " ports for ", hosts, " hosts");
  return "";
}

// libpq's reading of `url`; nullopt with libpq's reason in `*error` when it cannot.
std::optional<std::map<std::string, std::string>> ParseSettings(const std::string& url,
                                                                std::string* error) {
  char* message = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &message);
  if (options == nullptr) {
    *error = message != nullptr ? message : "out of memory";
    PQfreemem(message);
    return std::nullopt;
  }
  std::map<std::string, std::string> settings;
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && *o->val != '\0') settings[o->keyword] = o->val;
  }
  PQconninfoFree(options);
  return settings;
}

}  // namespace

std::map<std::string, std::string> ConnectionSettings(const std::string& url) {
  std::string ignored;
  return ParseSettings(url, &ignored).value_or(std::map<std::string, std::string>());
}

std::string WithoutPassword(const std::string& url, std::string text) {
  for (std::string password : PasswordsIn(url)) {
    if (absl::StartsWith(password, "'") && absl::EndsWith(password, "'") && password.size() > 1) {
      text = absl::StrReplaceAll(text, {{password, "***"}});
      password = password.substr(1, password.size() - 2);
    }
    if (!password.empty()) text = absl::StrReplaceAll(text, {{password, "***"}});
  }
  return text;
}

absl::Status CheckPostgresUrl(const std::string& url) {
  std::string reason;
  if (const std::optional<std::map<std::string, std::string>> settings =
          ParseSettings(url, &reason)) {
    for (const auto& [key, value] : *settings) {
      if (std::string fault = SettingFault(key, value); !fault.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("postgres-url: ", fault));
      }
    }
    if (std::string fault = CountFault(*settings); !fault.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("postgres-url: ", fault));
    }
    return absl::OkStatus();
  }
  reason = WithoutQuotedText(std::string(absl::StripAsciiWhitespace(reason)));
  std::string scheme_hint;
  if (const size_t scheme = url.find("://"); scheme != std::string::npos &&
                                             !absl::StartsWith(url, "postgresql://") &&
                                             !absl::StartsWith(url, "postgres://")) {
    scheme_hint = "; a URI must begin postgresql:// or postgres:// (lower case, nothing before it)";
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "postgres-url: not a libpq connection string (postgresql://USER:PASSWORD@HOST:PORT/DB, "
      "with '%', '@', '/' and ':' in the password written %25, %40, %2F and %3A, or "
      "key=value pairs, a value with blanks in single quotes): ",
      WithoutPassword(url, reason), scheme_hint));
}

}  // namespace plantmesh::runtime
