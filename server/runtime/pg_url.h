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

// OK when libpq can parse `url`; otherwise INVALID_ARGUMENT "postgres-url: …" with libpq's
// reason, without the password.
absl::Status CheckPostgresUrl(const std::string& url);

// `text` with the password of `url` replaced by "***", also when libpq cannot parse `url`
// (URI user information `user:password@`, or a `password=` pair, quoted or not).
std::string WithoutPassword(const std::string& url, std::string text);

}  // namespace plantmesh::runtime
