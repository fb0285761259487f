// The JSON plantctl sends (`--<field>-json` flags, `--request-json`, JSON-lines sample
// files), checked for what protobuf's JSON parser takes without a word (outside testing):
// - numbers, read as strictly as ParseDecimal reads them elsewhere: the parser reads a
//   number written as a string ("quantity": "0x10", proto3 JSON allows quoted numbers)
//   with strtod, so hexadecimal was taken (16), and one that underflows ("1e-400") became 0;
// - times: "2026-12-4T4:00:00Z" and "+2:00" were taken;
// - a field (or map key) given twice ("machineId" and "machine_id"): the parser keeps one.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace google::protobuf {
class Descriptor;
}

namespace plantmesh::cli {

// OK, or INVALID_ARGUMENT naming the first field (its JSON path, e.g.
// "demand[2].quantity") whose value is not a decimal number (a JSON number beyond a
// double's range or one that is not 0 but would read as 0, or a string in a numeric field
// that ParseDecimal refuses; floating-point fields also take "NaN", "Infinity" and
// "-Infinity", as proto3's JSON mapping says), whose Timestamp is not RFC 3339, or that
// is given twice in one object (by either of its names; a map's key twice). `json` is for
// a message of type `type`; JSON that is not well formed is OK here (protobuf's parser
// names what is wrong).
absl::Status CheckJsonInput(absl::string_view json, const google::protobuf::Descriptor* type);

}  // namespace plantmesh::cli
