#include "cli/command_suggestions.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "plantmesh/common/edit_distance.h"

namespace plantmesh::cli {
namespace {

std::string Normalized(absl::string_view name) {
  std::string out;
  for (char c : name) {
    if (c != '-' && c != '_') out += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  return out;
}

// The option `token` names on `app` or a parent (CLI11 lets them fall through), or null.
const CLI::Option* FindOption(CLI::App* app, const std::string& token) {
  for (CLI::App* at = app; at != nullptr; at = at->get_parent()) {
    for (const CLI::Option* option : at->get_options()) {
      if (option->check_name(token)) return option;
    }
  }
  return nullptr;
}

// "unknown flag" with the closest flags of `app` and the commands above it (CLI11 alone
// says "The following arguments were not expected: 1 --idd").
std::string UnknownFlag(CLI::App* app, const std::string& path, const std::string& flag) {
  std::vector<std::string> names;
  for (CLI::App* at = app; at != nullptr; at = at->get_parent()) {
    for (const CLI::Option* option : at->get_options()) {
      for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    }
  }
  std::string message = absl::StrCat("plantctl: unknown flag \"", flag, "\" for \"", path, "\"");
  std::vector<std::string> close = ClosestNames(flag, names);
  if (close.size() > 3) close.resize(3);
  if (!close.empty()) {
    absl::StrAppend(&message, "; did you mean \"", absl::StrJoin(close, "\" or \""), "\"?");
  }
  absl::StrAppend(&message, "\nRun '", path, " --help' for its flags.\n");
  return message;
}

// A value after a command's flags where it takes none (CLI11 alone says "The following
// argument was not expected: CNC-08"): after a flag's value, the likely slips are a second
// value for a repeated flag and a value with spaces not quoted.
std::string StrayValue(const std::string& path, const std::string& value,
                       const CLI::Option* last_flag, const std::string& flag_name,
                       const std::string& flag_value) {
  std::string message =
      absl::StrCat("plantctl: unexpected value \"", value, "\" for \"", path, "\"");
  if (last_flag != nullptr) {
    absl::StrAppend(&message, " after ", flag_name, " ", flag_value);
    if (last_flag->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll) {
      absl::StrAppend(&message, ": give each value its own flag (", flag_name, " ", flag_value, " ",
                      flag_name, " ", value, ")");
    } else {
      absl::StrAppend(&message, ": a value with spaces goes in quotes (", flag_name, " \"",
                      flag_value, " ", value, "\")");
    }
  } else {
    absl::StrAppend(&message, ": it takes its values as flags");
  }
  absl::StrAppend(&message, "\nRun '", path, " --help' for its flags.\n");
  return message;
}

}  // namespace

std::vector<std::string> ClosestNames(absl::string_view word,
                                      const std::vector<std::string>& candidates) {
  const std::string wanted = Normalized(word);
  if (wanted.empty()) return {};
  // A word of one or two letters is mostly edits away from anything (re-test: `-x` was
  // told "did you mean --ca?"): fewer edits for it.
  const size_t limit =
      wanted.size() < 3 ? wanted.size() - 1 : std::max<size_t>(2, wanted.size() / 3);
  std::vector<std::pair<size_t, std::string>> scored;  // (rank, name)
  for (const std::string& candidate : candidates) {
    const std::string name = Normalized(candidate);
    const size_t distance = common::EditDistance(wanted, name);
    if (distance == 0 || (wanted.size() >= 3 && absl::StrContains(name, wanted))) {
      scored.emplace_back(distance == 0 ? 0 : 1, candidate);
    } else if (distance <= limit) {
      scored.emplace_back(1 + distance, candidate);
    }
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> names;
  for (auto& [rank, name] : scored) {
    // Only spelt differently (create_defect): that one alone.
    if (rank > 0 && !scored.empty() && scored.front().first == 0) break;
    names.push_back(std::move(name));
  }
  return names;
}

namespace {

// Whether `token` is one of the flags of `app` (or above it), as `--name` or `--name=value`.
bool NamesAFlag(CLI::App* app, const std::string& token) {
  double number;
  if (!absl::StartsWith(token, "-") || absl::SimpleAtod(token, &number)) return false;
  return FindOption(app, token.substr(0, token.find('='))) != nullptr;
}

// The subcommand of `app` called `name`, or null.
CLI::App* SubcommandNamed(CLI::App* app, const std::string& name) {
  for (CLI::App* subcommand : app->get_subcommands([](CLI::App*) { return true; })) {
    if (subcommand->check_name(name)) return subcommand;
  }
  return nullptr;
}

// Whether args[at] starts a command below `app` (a service and one of its methods, say):
// then it is no value of the flag before it (re-test: `--timeout defect list-defects` was
// told "unknown command list-defects").
bool StartsACommand(CLI::App* app, const std::vector<std::string>& args, size_t at) {
  CLI::App* command = SubcommandNamed(app, args[at]);
  if (command == nullptr) return false;
  return at + 1 < args.size() && SubcommandNamed(command, args[at + 1]) != nullptr;
}

// The walk of the messages below: `all` reports every slip it finds, otherwise only a flag
// without its value. `empty_values`, when given, gets the place of each `--name=` of a flag
// that takes one value per use.
std::string WalkCommandLine(CLI::App& root, const std::vector<std::string>& args, bool all,
                            std::vector<size_t>* empty_values = nullptr) {
  CLI::App* app = &root;
  std::string path = root.get_name().empty() ? "plantctl" : root.get_name();
  const CLI::Option* last_flag = nullptr;  // the last flag given a value, and how
  std::string last_flag_name;
  std::string last_flag_value;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& token = args[i];
    if (token == "--") return "";
    if (absl::StartsWith(token, "-")) {
      double number;
      if (absl::SimpleAtod(token, &number)) continue;  // a negative value, not a flag
      const std::string name = token.substr(0, token.find('='));
      const CLI::Option* option = FindOption(app, name);
      // A short flag with its value attached ("-ojson"), as CLI11 reads it.
      if (option == nullptr && !absl::StartsWith(token, "--") && token.size() > 2) {
        const CLI::Option* short_flag = FindOption(app, token.substr(0, 2));
        if (short_flag != nullptr && short_flag->get_items_expected_max() > 0) continue;
      }
      if (option == nullptr) return all ? UnknownFlag(app, path, name) : "";
      last_flag = nullptr;
      const bool empty_value = name.size() + 1 == token.size();  // `--name=`
      if (option->get_items_expected_max() == 0) {               // a flag without a value
        // CLI11 reads `--create_drafts=` as given (outside testing: an unset variable in
        // `--create_drafts=$FLAG` wrote draft plans).
        if (!empty_value) continue;
        return absl::StrCat("plantctl: flag ", name, "= has an empty value: write ", name, " (or ",
                            name, "=true), ", name, "=false, or leave it out\nRun '", path,
                            " --help' for its flags.\n");
      }
      if (option->get_items_expected_max() > 1) {
        // A value after '=' is the flag's own; an empty one is "" (`--data-item=` took the
        // next word). Without '=', a flag of one value per use takes the next word;
        // another's values are not counted here.
        if (name.size() < token.size()) {
          if (empty_value && empty_values != nullptr) empty_values->push_back(i);
          continue;
        }
        if (option->get_allow_extra_args()) return "";
        ++i;
        continue;
      }
      last_flag = option;
      last_flag_name = name;
      if (name.size() < token.size()) {
        last_flag_value = token.substr(name.size() + 1);
        if (last_flag_value.empty() && empty_values != nullptr) empty_values->push_back(i);
      } else if (i + 1 < args.size()) {
        const bool flag = NamesAFlag(app, args[i + 1]);
        if (flag || StartsACommand(app, args, i + 1)) {
          return absl::StrCat("plantctl: flag ", name, " needs a value, and \"", args[i + 1],
                              "\" after it is a ", flag ? "flag" : "command", " of \"", path,
                              "\": give the value (", name, " VALUE), or write ", name, "=",
                              args[i + 1], " if that is the value\nRun '", path,
                              " --help' for its flags.\n");
        }
        last_flag_value = args[++i];
      }
      continue;
    }
    std::vector<CLI::App*> subcommands = app->get_subcommands([](CLI::App*) { return true; });
    if (subcommands.empty()) {
      // A positional value of a command that takes some (a file), not a command; the flags
      // after it are still checked (outside testing: `telemetry ingest f.csv --import_id x`
      // got CLI11's bare "not expected: x --import_id", no suggestion).
      if (!app->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) {
        last_flag = nullptr;
        continue;
      }
      return all ? StrayValue(path, token, last_flag, last_flag_name, last_flag_value) : "";
    }
    last_flag = nullptr;
    std::vector<std::string> names;
    CLI::App* next = nullptr;
    for (CLI::App* subcommand : subcommands) {
      names.push_back(subcommand->get_name());
      if (subcommand->check_name(token)) next = subcommand;
    }
    if (next == nullptr) {
      if (!all) return "";
      std::string message =
          absl::StrCat("plantctl: unknown command \"", token, "\" for \"", path, "\"");
      std::vector<std::string> close = ClosestNames(token, names);
      if (close.size() > 3) close.resize(3);
      if (!close.empty()) {
        absl::StrAppend(&message, "; did you mean \"", absl::StrJoin(close, "\" or \""), "\"?");
      }
      absl::StrAppend(&message, "\nRun '", path, " --help' for its commands.\n");
      return message;
    }
    app = next;
    absl::StrAppend(&path, " ", next->get_name());
  }
  return "";
}

// The command the words of `args` name ("plantctl defect get-defect"), flags skipped.
std::string CommandPathOf(CLI::App& root, const std::vector<std::string>& args) {
  std::string path = "plantctl";
  CLI::App* app = &root;
  for (const std::string& token : args) {
    if (token.empty() || token[0] == '-') continue;
    for (CLI::App* subcommand : app->get_subcommands([](CLI::App*) { return true; })) {
      if (subcommand->check_name(token)) {
        app = subcommand;
        absl::StrAppend(&path, " ", subcommand->get_name());
        break;
      }
    }
  }
  return path;
}

}  // namespace

std::string ParseErrorText(const CLI::ParseError& error) {
  const std::string text = error.what();
  // "--id: At Most 1 required but received 2"
  const size_t colon = text.find(": At Most 1 required but received ");
  if (colon != std::string::npos) {
    return absl::StrCat("flag ", text.substr(0, colon), " is given ",
                        text.substr(colon + std::strlen(": At Most 1 required but received ")),
                        " times: give it once");
  }
  // "--id: 1 required STRING missing": the flag ended the command line.
  const size_t required = text.find(": 1 required ");
  if (required != std::string::npos && absl::EndsWith(text, " missing")) {
    return absl::StrCat("flag ", text.substr(0, required),
                        " needs a value, and nothing follows it");
  }
  // "--output: yaml not in {table,wide,json,csv}"
  const size_t set = text.find(" not in {");
  if (set != std::string::npos && text.back() == '}') {
    const size_t name_end = text.find(": ");
    if (name_end != std::string::npos && name_end < set) {
      const std::string allowed = text.substr(set + 9, text.size() - set - 10);
      return absl::StrCat(text.substr(0, name_end), ": \"",
                          text.substr(name_end + 2, set - name_end - 2), "\" is not one of ",
                          absl::StrJoin(absl::StrSplit(allowed, ','), ", "));
    }
  }
  return text;
}

std::string ParseErrorMessage(CLI::App& root, const std::vector<std::string>& args,
                              const CLI::ParseError& error) {
  const std::string path = CommandPathOf(root, args);
  return absl::StrCat("plantctl: ", ParseErrorText(error), " (", path, ")\nRun '", path,
                      " --help' for its flags.\n");
}

std::string UnknownCommandMessage(CLI::App& root, const std::vector<std::string>& args) {
  return WalkCommandLine(root, args, /*all=*/true);
}

std::string FlagWithoutValueMessage(CLI::App& root, const std::vector<std::string>& args) {
  return WalkCommandLine(root, args, /*all=*/false);
}

std::vector<std::string> EmptyValuesSeparated(CLI::App& root, std::vector<std::string> args) {
  std::vector<size_t> empty_values;
  WalkCommandLine(root, args, /*all=*/false, &empty_values);
  for (auto at = empty_values.rbegin(); at != empty_values.rend(); ++at) {
    args[*at].pop_back();  // the '='
    args.insert(args.begin() + static_cast<std::ptrdiff_t>(*at) + 1, "");
  }
  return args;
}

}  // namespace plantmesh::cli
