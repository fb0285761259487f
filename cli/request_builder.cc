#include "cli/request_builder.h"

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "cli/decimal_number.h"
#include "cli/json_input_check.h"
#include "cli/rfc3339.h"
#include "google/protobuf/util/json_util.h"
#include "plantmesh/common/boolean_text.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/common/utf8.h"

namespace plantmesh::cli {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status BadValue(const FieldDescriptor* field, absl::string_view text,
                      absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(field->name(), ": \"", text, "\" is not ", expected));
}

// A whole-number field's value: decimal digits only (README, plantctl), in T's range.
template <typename T>
absl::StatusOr<T> ParseWholeNumber(const FieldDescriptor* field, absl::string_view text) {
  T value;
  if (!IsWholeNumberText(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field->name(), ": \"", text, "\" must be a whole number in decimal digits"));
  }
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field->name(), ": \"", text, "\" is out of the field's range, ",
                     std::numeric_limits<T>::min(), " to ", std::numeric_limits<T>::max()));
  }
  return value;
}

absl::StatusOr<const google::protobuf::EnumValueDescriptor*> ParseEnum(const FieldDescriptor* field,
                                                                       absl::string_view text) {
  const google::protobuf::EnumDescriptor* type = field->enum_type();
  std::string upper = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  absl::StrReplaceAll({{"-", "_"}}, &upper);
  for (int i = 0; i < type->value_count(); ++i) {
    const google::protobuf::EnumValueDescriptor* value = type->value(i);
    if (value->name() == upper || ShortEnumName(value) == upper) return value;
  }
  int number = 0;
  if (absl::SimpleAtoi(text, &number) && type->FindValueByNumber(number) != nullptr) {
    return type->FindValueByNumber(number);
  }
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    names.push_back(absl::AsciiStrToLower(ShortEnumName(type->value(i))));
  }
  return BadValue(field, text, absl::StrCat("one of ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<bool> ParseBool(const FieldDescriptor* field, absl::string_view text) {
  if (std::optional<bool> value = common::ParseBooleanText({text.data(), text.size()})) {
    return *value;
  }
  return BadValue(field, text, "a boolean (true/false)");
}

// Adds (repeated) or sets (singular) one scalar value.
absl::Status StoreScalar(const FieldDescriptor* field, absl::string_view text, Message* message) {
  const Reflection* reflection = message->GetReflection();
  const bool add = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      PM_ASSIGN_OR_RETURN(const int32_t v, ParseWholeNumber<int32_t>(field, text));
      add ? reflection->AddInt32(message, field, v) : reflection->SetInt32(message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      PM_ASSIGN_OR_RETURN(const int64_t v, ParseWholeNumber<int64_t>(field, text));
      add ? reflection->AddInt64(message, field, v) : reflection->SetInt64(message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      PM_ASSIGN_OR_RETURN(const uint32_t v, ParseWholeNumber<uint32_t>(field, text));
      add ? reflection->AddUInt32(message, field, v) : reflection->SetUInt32(message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      PM_ASSIGN_OR_RETURN(const uint64_t v, ParseWholeNumber<uint64_t>(field, text));
      add ? reflection->AddUInt64(message, field, v) : reflection->SetUInt64(message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      const std::optional<double> v = ParseDecimal(text);
      if (!v) return BadValue(field, text, "a decimal number");
      add ? reflection->AddDouble(message, field, *v) : reflection->SetDouble(message, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      const std::optional<double> v = ParseDecimal(text);
      if (!v || std::abs(*v) > std::numeric_limits<float>::max()) {
        return BadValue(field, text, "a decimal number within a float's range");
      }
      const auto f = static_cast<float>(*v);
      add ? reflection->AddFloat(message, field, f) : reflection->SetFloat(message, field, f);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      absl::StatusOr<bool> v = ParseBool(field, text);
      if (!v.ok()) return v.status();
      add ? reflection->AddBool(message, field, *v) : reflection->SetBool(message, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      auto v = ParseEnum(field, text);
      if (!v.ok()) return v.status();
      add ? reflection->AddEnum(message, field, *v) : reflection->SetEnum(message, field, *v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string v(text);
      if (field->type() == FieldDescriptor::TYPE_BYTES && !absl::Base64Unescape(text, &v)) {
        return BadValue(field, text, "base64");
      }
      // A protobuf string must be UTF-8 (the server cannot parse a request otherwise).
      if (field->type() == FieldDescriptor::TYPE_STRING &&
          common::FirstNotUtf8(std::string_view(v)) != std::string_view::npos) {
        return BadValue(field, absl::CHexEscape(text), "valid UTF-8");
      }
      add ? reflection->AddString(message, field, v) : reflection->SetString(message, field, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(field->name(), " is not a scalar field"));
}

absl::Status SetTimestamp(const FieldDescriptor* field, absl::string_view text, Message* parent) {
  absl::Time time;
  std::string error;
  if (!IsRfc3339DateTime(text) ||
      !absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) {
    return BadValue(
        field, text,
        absl::StrCat("an RFC 3339 time such as 2026-11-21T06:00:00Z", Rfc3339NearMiss(text)));
  }
  Message* timestamp = parent->GetReflection()->MutableMessage(parent, field);
  const Reflection* reflection = timestamp->GetReflection();
  const google::protobuf::Descriptor* type = timestamp->GetDescriptor();
  int64_t seconds = absl::ToUnixSeconds(time);
  reflection->SetInt64(timestamp, type->FindFieldByName("seconds"), seconds);
  reflection->SetInt32(
      timestamp, type->FindFieldByName("nanos"),
      static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
  return absl::OkStatus();
}

void AddFieldMaskPaths(const FieldDescriptor* field, absl::string_view text, Message* parent) {
  Message* mask = parent->GetReflection()->MutableMessage(parent, field);
  const FieldDescriptor* paths = mask->GetDescriptor()->FindFieldByName("paths");
  for (absl::string_view path : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    mask->GetReflection()->AddString(mask, paths, std::string(absl::StripAsciiWhitespace(path)));
  }
}

Message* MutableParent(const FlagSpec& flag, Message* root) {
  Message* message = root;
  for (size_t i = 0; i + 1 < flag.path.size(); ++i) {
    message = message->GetReflection()->MutableMessage(message, flag.path[i]);
  }
  return message;
}

// For protobuf's "invalid value "X" for type type.googleapis.com/<enum>": the enum's
// values, "; one of: A, B" (outside testing: `"type":"LOAD"` was refused listing none).
std::string EnumValuesHint(const std::string& parse_error,
                           const google::protobuf::Descriptor& message) {
  constexpr std::string_view kTypePrefix = "for type type.googleapis.com/";
  const size_t at = parse_error.find(kTypePrefix);
  if (at == std::string::npos) return "";
  std::string name = parse_error.substr(at + kTypePrefix.size());
  name = name.substr(0, name.find_first_of(" ;,)\n"));
  const google::protobuf::EnumDescriptor* type = message.file()->pool()->FindEnumTypeByName(name);
  if (type == nullptr) return "";
  std::vector<std::string> values;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) values.push_back(type->value(i)->name());
  }
  return absl::StrCat("; one of: ", absl::StrJoin(values, ", "));
}

// For protobuf's "(data_items[0]) kind: Cannot find field.": the fields the message at
// that path has, "; the fields of DataItem: id, display_name, …" (outside testing: a
// guessed `kind` was refused naming no field that exists).
std::string FieldNamesHint(const std::string& parse_error,
                           const google::protobuf::Descriptor& message) {
  if (parse_error.find("Cannot find field") == std::string::npos) return "";
  const google::protobuf::Descriptor* type = &message;
  if (absl::StartsWith(parse_error, "(")) {
    const std::string path = parse_error.substr(1, parse_error.find(')') - 1);
    for (absl::string_view part : absl::StrSplit(path, '.')) {
      const std::string name(part.substr(0, part.find('[')));
      const google::protobuf::FieldDescriptor* field = type->FindFieldByName(name);
      for (int i = 0; field == nullptr && i < type->field_count(); ++i) {
        if (type->field(i)->json_name() == name) field = type->field(i);  // camelCase given
      }
      if (field == nullptr || field->message_type() == nullptr) return "";
      type = field->message_type();
    }
  }
  std::vector<std::string> names;
  for (int i = 0; i < type->field_count(); ++i) names.push_back(type->field(i)->name());
  return absl::StrCat("; the fields of ", type->name(), ": ", absl::StrJoin(names, ", "));
}

}  // namespace

absl::Status SetScalarFromText(const FieldDescriptor* field, absl::string_view text,
                               Message* message) {
  return StoreScalar(field, text, message);
}

absl::Status MergeJson(absl::string_view json, Message* message) {
  if (absl::Status numbers = CheckJsonInput(json, message->GetDescriptor()); !numbers.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON for ", message->GetDescriptor()->name(), ": ", numbers.message()));
  }
  std::unique_ptr<Message> parsed(message->New());
  google::protobuf::util::JsonParseOptions options;
  auto status =
      google::protobuf::util::JsonStringToMessage(std::string(json), parsed.get(), options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JSON for ", message->GetDescriptor()->name(), ": ", status.message().ToString(),
        EnumValuesHint(status.message().ToString(), *message->GetDescriptor()),
        FieldNamesHint(status.message().ToString(), *message->GetDescriptor())));
  }
  message->MergeFrom(*parsed);
  return absl::OkStatus();
}

absl::Status ApplyFlag(const FlagSpec& flag, const std::vector<std::string>& values,
                       Message* request) {
  if (values.empty()) return absl::OkStatus();
  Message* parent = MutableParent(flag, request);
  const FieldDescriptor* field = flag.path.back();
  absl::Status status;
  switch (flag.kind) {
    case FlagKind::kScalar:
      if (field->is_repeated()) {
        for (const std::string& value : values) {
          status.Update(StoreScalar(field, value, parent));
        }
      } else {
        status = StoreScalar(field, values.back(), parent);
      }
      break;
    case FlagKind::kTimestamp:
      status = SetTimestamp(field, values.back(), parent);
      break;
    case FlagKind::kFieldMask:
      for (const std::string& value : values) AddFieldMaskPaths(field, value, parent);
      break;
    case FlagKind::kJson:
      // {"<field>": <value>} merged into the parent: one path for singular messages,
      // repeated ones (a JSON array) and well-known types alike.
      status = MergeJson(absl::StrCat("{\"", field->name(), "\":", values.back(), "}"), parent);
      break;
  }
  if (!status.ok()) {
    // The flag names the field: "--page_size: "x" is not …", not "--page_size: page_size: …".
    absl::string_view why = status.message();
    absl::ConsumePrefix(&why, absl::StrCat(field->name(), ": "));
    return absl::InvalidArgumentError(absl::StrCat("--", flag.name, ": ", why));
  }
  return absl::OkStatus();
}

absl::StatusOr<Message*> MutableParentOf(absl::string_view dotted_path, Message* root,
                                         const FieldDescriptor** leaf) {
  std::vector<std::string> parts = absl::StrSplit(dotted_path, '.');
  Message* message = root;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(parts[i]);
    if (field == nullptr) {
      return absl::InternalError(
          absl::StrCat("no field ", parts[i], " in ", message->GetDescriptor()->full_name()));
    }
    if (i + 1 == parts.size()) {
      *leaf = field;
      return message;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated()) {
      return absl::InternalError(absl::StrCat(parts[i], " is not a singular message field"));
    }
    message = message->GetReflection()->MutableMessage(message, field);
  }
  return absl::InternalError("empty field path");
}

}  // namespace plantmesh::cli
