#include "plantmesh/common/toml_settings.h"

#include <toml++/toml.h>

#include <algorithm>
#include <sstream>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace plantmesh::common {
namespace {

absl::Status AtLine(const std::string& source, const toml::source_region& where,
                    absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ", line ", where.begin.line, ": ", what));
}

// The text and kind of a scalar; false for a table or an array.
bool ScalarText(const toml::node& node, std::string* out, TomlKind* kind) {
  if (const auto* s = node.as_string()) {
    *out = s->get();
    *kind = TomlKind::kString;
  } else if (const auto* i = node.as_integer()) {
    *out = absl::StrCat(i->get());
    *kind = TomlKind::kInteger;
  } else if (const auto* f = node.as_floating_point()) {
    *kind = TomlKind::kFloat;
    // Still a float to whoever reads the text (1e3 is no whole number: "1000.0").
    *out = absl::StrFormat("%.17g", f->get());
    if (out->find_first_of(".eni") == std::string::npos) out->append(".0");
  } else if (const auto* b = node.as_boolean()) {
    *out = b->get() ? "true" : "false";
    *kind = TomlKind::kBoolean;
  } else if (node.is_date() || node.is_time() || node.is_date_time()) {
    *kind = TomlKind::kDateTime;
    std::ostringstream text;
    node.visit([&](const auto& value) { text << value; });
    *out = text.str();
  } else {
    return false;
  }
  return true;
}

absl::Status Collect(const toml::table& table, const std::string& table_name,
                     const std::string& source, std::vector<TomlSetting>* out) {
  for (const auto& [key_node, node] : table) {
    const std::string key(key_node.str());
    const std::string name = table_name.empty() ? key : absl::StrCat(table_name, ".", key);
    if (const toml::table* inner = node.as_table()) {
      if (!table_name.empty() || inner->is_inline()) {
        // A setting of kind kTable, which no key takes: the reader names an unknown key as
        // such first (re-test: `tiemout = {a=1}` was told about tables, not its name).
        out->push_back(TomlSetting{table_name,
                                   key,
                                   {""},
                                   false,
                                   static_cast<int>(node.source().begin.line),
                                   {TomlKind::kTable}});
        continue;
      }
      absl::Status nested = Collect(*inner, key, source, out);
      if (!nested.ok()) return nested;
      continue;
    }
    const toml::array* array = node.as_array();
    TomlSetting setting{
        table_name, key, {}, array != nullptr, static_cast<int>(node.source().begin.line), {}};
    // One value, or each element of the array.
    auto take = [&](const toml::node& value) {
      std::string text;
      TomlKind kind = TomlKind::kString;
      if (!ScalarText(value, &text, &kind)) {
        return AtLine(source, value.source(),
                      absl::StrCat("'", name, "': an array of tables or arrays is no setting"));
      }
      // A NUL (TOML's \u0000) ends the value wherever it is read as a C string (re-test:
      // `dbname=plantmesh\u0000 sslmode=require` in postgres-url connected without TLS).
      if (text.find('\0') != std::string::npos) {
        return AtLine(source, value.source(),
                      absl::StrCat("'", name,
                                   "': holds a NUL character (\\u0000), which no setting "
                                   "can carry"));
      }
      setting.values.push_back(std::move(text));
      setting.kinds.push_back(kind);
      return absl::OkStatus();
    };
    if (array == nullptr) {
      if (absl::Status taken = take(node); !taken.ok()) return taken;
    } else {
      for (const toml::node& element : *array) {
        if (absl::Status taken = take(element); !taken.ok()) return taken;
      }
    }
    out->push_back(std::move(setting));
  }
  return absl::OkStatus();
}

}  // namespace

const char* TomlKindName(TomlKind kind) {
  switch (kind) {
    case TomlKind::kString:
      return "a string";
    case TomlKind::kInteger:
      return "an integer";
    case TomlKind::kFloat:
      return "a float";
    case TomlKind::kBoolean:
      return "a boolean";
    case TomlKind::kDateTime:
      return "a date or time";
    case TomlKind::kTable:
      return "a table (sections are one level: [name])";
  }
  return "a value";
}

absl::StatusOr<std::vector<TomlSetting>> ReadTomlSettings(std::istream& input,
                                                          const std::string& source) {
  toml::table document;
  try {
    document = toml::parse(input, std::string_view(source));
  } catch (const toml::parse_error& error) {
    std::string what(error.description());
    if (absl::StrContains(what, "cannot redefine existing")) {
      absl::StrAppend(&what, " (a key or [table] is given twice)");
    }
    return absl::InvalidArgumentError(absl::StrCat(source, ", line ", error.source().begin.line,
                                                   " column ", error.source().begin.column, ": ",
                                                   what));
  }
  std::vector<TomlSetting> settings;
  absl::Status collected = Collect(document, "", source, &settings);
  if (!collected.ok()) return collected;
  std::stable_sort(settings.begin(), settings.end(),
                   [](const TomlSetting& a, const TomlSetting& b) { return a.line < b.line; });
  return settings;
}

}  // namespace plantmesh::common
