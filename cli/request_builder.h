// Turns plantctl's flag text into request fields, by reflection (any contract).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "cli/contract_catalog.h"
#include "google/protobuf/message.h"

namespace plantmesh::cli {

// Sets the field `flag` names from its values (several only for repeated fields; a
// singular field takes the last). INVALID_ARGUMENT naming the flag when a value does
// not parse.
absl::Status ApplyFlag(const FlagSpec& flag, const std::vector<std::string>& values,
                       google::protobuf::Message* request);

// Merges a JSON object (proto3 JSON mapping; field names as in the .proto or camelCase)
// into `message`.
absl::Status MergeJson(absl::string_view json, google::protobuf::Message* message);

// Sets a singular scalar field from text: numbers, bool (true/false/yes/no/1/0),
// enums by full or short name in any case or by number, bytes as base64.
absl::Status SetScalarFromText(const google::protobuf::FieldDescriptor* field,
                               absl::string_view text, google::protobuf::Message* message);

// The message holding the last field of a dotted path ("metadata.size_bytes"), created
// on the way; nullptr with an error when a segment is not a singular message field.
absl::StatusOr<google::protobuf::Message*> MutableParentOf(
    absl::string_view dotted_path, google::protobuf::Message* root,
    const google::protobuf::FieldDescriptor** leaf);

}  // namespace plantmesh::cli
