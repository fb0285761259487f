#include "cli/json_input_check.h"

#include <google/protobuf/descriptor.h>

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cli/decimal_number.h"
#include "cli/rfc3339.h"

namespace plantmesh::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

bool IsNumeric(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return true;
    default:
      return false;
  }
}

// The field a JSON key names: its JSON name (lowerCamel) or its name, as protobuf reads them.
const FieldDescriptor* FieldNamed(const Descriptor& message, const std::string& name) {
  for (int i = 0; i < message.field_count(); ++i) {
    const FieldDescriptor* field = message.field(i);
    if (field->json_name() == name || field->name() == name) return field;
  }
  return nullptr;
}

// Walks the JSON as protobuf will read it, knowing at each value which field it is for.
class JsonInputChecker final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonInputChecker(const Descriptor* type) : root_(type) {}

  // The first value refused, with its path.
  const std::optional<std::string>& problem() const { return problem_; }

  bool start_object(std::size_t) override {
    if (!Deeper()) return false;
    if (frames_.empty()) {
      frames_.push_back(Frame{root_, nullptr, false, -1, "", -1, {}, {}});
      return true;
    }
    const FieldDescriptor* field = Field();
    // Its path is its parent's key and index now: built only when a refusal names it
    // (re-test: a copy of the whole path per level took memory of depth × line size).
    Frame frame{nullptr, nullptr, false, frames_.back().index, "", -1, {}, {}};
    NextElement();
    // A message field's object (the well-known types with JSON forms of their own, such
    // as Timestamp or Struct, are not objects of fields: left to protobuf).
    if (field != nullptr && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        field->message_type()->well_known_type() == Descriptor::WELLKNOWNTYPE_UNSPECIFIED) {
      frame.message = field->message_type();
      frame.map = field->is_map();
    }
    frames_.push_back(frame);
    return true;
  }
  bool end_object() override {
    --depth_;
    frames_.pop_back();
    return true;
  }
  bool key(string_t& name) override {
    Frame& frame = frames_.back();
    frame.field = nullptr;
    frame.key = name;
    frame.index = -1;
    if (frame.message == nullptr) return true;
    // A field (or map key) given twice: protobuf's parser keeps one of the values without
    // a word, so which one was meant is the writer's guess (outside testing: a sample line
    // with "machineId" and "machine_id" was stored for one of the two machines).
    if (frame.map) {
      frame.field = frame.message->FindFieldByName("value");
      if (!frame.map_keys.insert(name).second) {
        return Refuse("the key is given twice; give it once");
      }
    } else {
      frame.field = FieldNamed(*frame.message, name);
      if (frame.field == nullptr) return true;
      auto [first, added] = frame.named.emplace(frame.field->number(), name);
      if (!added) {
        return Refuse(absl::StrCat("the field is given twice (as \"", first->second, "\" and \"",
                                   name, "\"); give it once"));
      }
    }
    return true;
  }
  bool start_array(std::size_t) override {
    if (!Deeper()) return false;
    if (!frames_.empty()) frames_.back().index = 0;
    return true;
  }
  bool end_array() override {
    --depth_;
    if (!frames_.empty()) frames_.back().index = -1;
    return true;
  }

  bool number_float(number_float_t, const string_t& text) override {
    const FieldDescriptor* field = Field();
    if (field != nullptr && IsNumeric(field) && !ParseDecimal(text)) {
      return Refuse(absl::StrCat(text, " ", NotDecimalReason(text)));
    }
    NextElement();
    return true;
  }
  bool string(string_t& text) override {
    const FieldDescriptor* field = Field();
    // The server's input rules refuse U+0000 in every text (re-test: `--dry-run` called a
    // JSON line holding "\u0000" well-formed, and the server then rejected it).
    if (const size_t nul = text.find('\0'); nul != std::string::npos) {
      return Refuse("a string holds U+0000 (NUL), which no text may hold");
    }
    // A Timestamp as the sample files and flags take it (protobuf's parser takes
    // "2026-12-4T4:00:00Z" and "+2:00", outside testing), its 'T' and 'Z' upper case as
    // protobuf's JSON mapping wants them.
    if (field != nullptr && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        field->message_type()->well_known_type() == Descriptor::WELLKNOWNTYPE_TIMESTAMP &&
        (!IsRfc3339DateTime(text) || text.find_first_of("tz") != std::string::npos)) {
      return Refuse(absl::StrCat("\"", text,
                                 "\" is not an RFC 3339 time such as 2024-05-01T10:00:00Z (T and "
                                 "Z upper case)",
                                 Rfc3339NearMiss(text)));
    }
    // A bool is the JSON literal true or false (outside testing: protobuf's parser took the
    // strings "t", "y" and "yes" as true, and `"create_drafts":"t"` wrote drafts).
    if (field != nullptr && field->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
      return Refuse(
          absl::StrCat("\"", text, "\" is a string: a boolean is true or false, unquoted"));
    }
    if (field != nullptr && IsNumeric(field)) {
      const bool floating = field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ||
                            field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT;
      const bool special = text == "NaN" || text == "Infinity" || text == "-Infinity";
      if (!(floating && special) && !ParseDecimal(text)) {
        return Refuse(absl::StrCat("\"", text, "\" ", NotDecimalReason(text)));
      }
    }
    NextElement();
    return true;
  }
  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;  // not well formed: protobuf's parser says what is wrong
  }

 private:
  struct Frame {
    const Descriptor* message;     // null: not a message's object (its values are not judged)
    const FieldDescriptor* field;  // of the current key
    bool map;                      // a map field's object: its keys are map keys
    int parent_index;              // the parent's element index when this began, or -1
    std::string key;
    int index;  // of the current element when the key's value is an array, else -1
    std::map<int, std::string> named;  // field number -> the key that named it first
    std::set<std::string> map_keys;    // of a map field's object
  };

  const FieldDescriptor* Field() const { return frames_.empty() ? nullptr : frames_.back().field; }
  // `base` extended by `frame`'s current key and element `index` (-1: none).
  static std::string Extend(const std::string& base, const Frame& frame, int index) {
    std::string path = base.empty() ? frame.key : absl::StrCat(base, ".", frame.key);
    if (frame.map) path = absl::StrCat(base, "[\"", frame.key, "\"]");
    if (index >= 0) absl::StrAppend(&path, "[", index, "]");
    return path;
  }
  // The path of the value being read, from every level's key.
  std::string Path() const {
    std::string base;
    for (size_t k = 1; k < frames_.size(); ++k) {
      base = Extend(base, frames_[k - 1], frames_[k].parent_index);
    }
    return Extend(base, frames_.back(), frames_.back().index);
  }
  void NextElement() {
    if (!frames_.empty() && frames_.back().index >= 0) ++frames_.back().index;
  }
  bool Value() {
    NextElement();
    return true;
  }
  // One level more; false (the walk stopped) beyond protobuf's own limit, before each
  // level's path is built (outside testing: 60,000 levels took gigabytes and aborted).
  bool Deeper() {
    if (++depth_ <= kMaxJsonDepth) return true;
    problem_ = absl::StrCat("nested deeper than ", kMaxJsonDepth,
                            " objects and arrays (protobuf reads no deeper)");
    return false;
  }
  bool Refuse(std::string why) {
    problem_ = absl::StrCat(Path(), ": ", why);
    return false;  // stops the walk
  }

  // protobuf's JSON parser's recursion limit (JsonParseOptions: 100).
  static constexpr int kMaxJsonDepth = 100;

  const Descriptor* root_;
  int depth_ = 0;
  std::vector<Frame> frames_;
  std::optional<std::string> problem_;
};

}  // namespace

absl::Status CheckJsonInput(absl::string_view json, const Descriptor* type) {
  JsonInputChecker checker(type);
  nlohmann::json::sax_parse(json.begin(), json.end(), &checker);
  if (checker.problem()) return absl::InvalidArgumentError(*checker.problem());
  return absl::OkStatus();
}

}  // namespace plantmesh::cli
