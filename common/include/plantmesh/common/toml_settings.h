// Configuration files in TOML v1.0 (https://toml.io/en/v1.0.0), read by toml++ for the
// server and plantctl. A well-kept reader, not our own: CLI11's TOML reader cut a value
// at a `#` inside a quoted string (outside testing: a password with `#` in postgres-url
// lost dbname and sslmode, and the server set up its schemas in another database),
// decoded no escapes, and merged a key given twice on adjacent lines.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace plantmesh::common {

// What a TOML value is written as: `"5"` is a string, `5` an integer, `5.0` a float.
// kTable: a table inside a section or an inline table, which no setting is.
enum class TomlKind { kString, kInteger, kFloat, kBoolean, kDateTime, kTable };

// "a string", "an integer", ... for messages.
const char* TomlKindName(TomlKind kind);

// One `key = value` of a file: top-level (table "") or in a [table].
struct TomlSetting {
  std::string table;
  std::string key;
  // A scalar's text (strings decoded; integers in decimal; floats round-tripping, with
  // a point or an exponent even when whole;
  // booleans "true"/"false"; dates and times in TOML's form), or an array's elements.
  std::vector<std::string> values;
  bool array = false;
  int line = 0;                 // from 1
  std::vector<TomlKind> kinds;  // of each of `values`
};

// Every setting of `input`, in file order (a table inside a table or an inline table as a
// setting of kind kTable, for the reader to refuse by its key). INVALID_ARGUMENT starting
// with `source` and the line and column for a file that is not TOML (a key or table given
// twice, an unclosed string, ...), and naming the key of an array of tables or of arrays.
absl::StatusOr<std::vector<TomlSetting>> ReadTomlSettings(std::istream& input,
                                                          const std::string& source);

}  // namespace plantmesh::common
