// The columns a plain `-o table` shows for a resource, as kubectl's default view:
// the few a person scans a list by. `-o wide` shows every column that holds something,
// and CSV and JSON always carry every field.
#pragma once

#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace plantmesh::cli {

// Dotted column names (as ColumnsOf in cli/output.h names them), in display order.
// Resources listed in default_columns.cc get their chosen set; any other message type
// its top-level singular scalar, enum and timestamp fields, at most eight.
std::vector<std::string> DefaultColumnNames(const google::protobuf::Descriptor* type);

}  // namespace plantmesh::cli
