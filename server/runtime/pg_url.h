// postgres-url as libpq reads it (a URI postgresql://… or key=value pairs), and the
// password it carries kept out of every message: libpq quotes the text it cannot parse,
// password and all (outside testing: `S3CRET%PW`, a password with a literal `%`, reached
// the log in "invalid percent-encoded token").
#pragma once

#include <map>
#include <string>

#include "absl/status/status.h"

namespace plantmesh::runtime {

// The settings of `url` as libpq reads them (URI or key=value form; percent-decoded,
// unquoted); none when it cannot.
std::map<std::string, std::string> ConnectionSettings(const std::string& url);

// OK when libpq can parse `url` and would take its settings; otherwise INVALID_ARGUMENT
// "postgres-url: …" with libpq's reason, without the password, or naming the setting
// libpq would refuse only when it connects: sslmode, gssencmode, channel_binding,
// target_session_attrs, ssl_min/max_protocol_version not one of their values; a port
// outside 1-65535; connect_timeout, keepalives*, tcp_user_timeout not a whole number; a
// hostaddr that is no numeric address; host, hostaddr and port lists of other lengths.
absl::Status CheckPostgresUrl(const std::string& url);

// `text` with the password of `url` replaced by "***", also when libpq cannot parse `url`
// (URI user information `user:password@`, or a `password=` pair, quoted or not).
std::string WithoutPassword(const std::string& url, std::string text);

}  // namespace plantmesh::runtime
