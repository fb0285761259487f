// Opening a file plantctl reads (a config file, an ingest or demand file, a --from-file),
// with the reason it cannot be: outside testing saw an unreadable config file reported as
// missing, a directory read as an empty file, and "cannot read x.csv" without a reason.
#pragma once

#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plantmesh::cli {

// What messages call the file at `path`: "standard input" for /dev/stdin (what a file flag's
// "-" reads; re-test: `--from-file -` was reported as "cannot read /dev/stdin"), else the
// path.
std::string InputName(const std::string& path);

// The open file, or a LocalFailure (exit_codes.h) "cannot read PATH: <why>", the why
// being the system's ("No such file or directory", "Permission denied") or "it is a
// directory".
absl::StatusOr<std::unique_ptr<std::ifstream>> OpenInputFile(const std::string& path);

// `text` from an input file as an error message quotes it: in double quotes, at most
// kQuotedInputChars characters (cut at a character boundary, then `…" (N bytes)`), so
// that a message stays a line (outside testing: a 100 MB first line was printed whole,
// and plantctl took 507 MB).
inline constexpr size_t kQuotedInputChars = 80;
// Controls and characters that show nothing but the space are written \uXXXX, bytes that
// are no UTF-8 \xXX.
std::string QuoteInput(absl::string_view text);

// A file's id or date with a blank or invisible character around it (what an ASCII strip
// leaves, e.g. U+00A0), as a bad row names it: "\"X\u00A0\" ends with U+00A0 (NO-BREAK
// SPACE) (the server refuses it)"; "" when it has none.
std::string BlankAroundRefusal(absl::string_view value);

}  // namespace plantmesh::cli
