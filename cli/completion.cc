#include "cli/completion.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace plantmesh::cli {
namespace {

// The tree as the scripts hold it. Command paths start with the program name ("plantctl",
// "plantctl defect", "plantctl defect create-defect"), so that no key is empty.
struct Table {
  std::map<std::string, std::vector<std::string>> subcommands;  // path → names
  std::map<std::string, std::vector<std::string>> options;      // path → --long and -s names
  std::map<std::string, std::vector<std::string>> values;       // "path|--flag" → values
  std::set<std::string> takes_value;                            // option names
  // Command paths whose positional argument is a file (`telemetry ingest FILE`).
  std::set<std::string> file_arguments;
};

std::string Quote(absl::string_view text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "'\\''"}}), "'");
}

// The choices CLI11 shows for an IsMember check: "TEXT:{table,json,csv}".
std::vector<std::string> ChoicesOf(const CLI::Option* option) {
  const std::string type = option->get_type_name();
  const size_t open = type.find(":{");
  if (open == std::string::npos || type.back() != '}') return {};
  return absl::StrSplit(type.substr(open + 2, type.size() - open - 3), ',', absl::SkipEmpty());
}

std::vector<std::string> NamesOf(const CLI::Option* option) {
  std::vector<std::string> names;
  for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
  for (const std::string& name : option->get_snames()) names.push_back("-" + name);
  return names;
}

void Collect(CLI::App* app, const std::string& path, const CompletionValues& values, Table* table) {
  for (const CLI::Option* option : app->get_options()) {
    const std::vector<std::string> names = NamesOf(option);
    if (names.empty()) {
      // A positional argument with choices (`completion bash|zsh`): offered like commands;
      // one without, a file (outside testing: the FILE of ingest, import-demand and pki
      // show completed nothing).
      const std::vector<std::string> choices = ChoicesOf(option);
      for (const std::string& choice : choices) table->subcommands[path].push_back(choice);
      if (choices.empty()) table->file_arguments.insert(path);
      continue;
    }
    for (const std::string& name : names) {
      table->options[path].push_back(name);
      // Flags (--all, --insecure) expect no value; options at least one.
      if (option->get_items_expected_max() > 0) table->takes_value.insert(name);
      std::vector<std::string> choices = ChoicesOf(option);
      if (auto it = values.find(option); it != values.end()) choices = it->second;
      if (!choices.empty()) table->values[absl::StrCat(path, "|", name)] = choices;
    }
  }
  for (CLI::App* sub : app->get_subcommands([](CLI::App* candidate) {
         return !candidate->get_group().empty();  // an empty group hides a command
       })) {
    table->subcommands[path].push_back(sub->get_name());
    Collect(sub, absl::StrCat(path, " ", sub->get_name()), values, table);
  }
}

// `name=( key value ... )` lines of an associative array, for both shells.
std::string ArrayBody(const std::map<std::string, std::vector<std::string>>& entries) {
  std::string body;
  for (const auto& [key, list] : entries) {
    absl::StrAppend(&body, "  ", Quote(key), " ", Quote(absl::StrJoin(list, " ")), "\n");
  }
  return body;
}

// `name 1` lines: an associative array used as a set.
std::string SetBody(const std::set<std::string>& names) {
  std::string body;
  for (const std::string& name : names) absl::StrAppend(&body, "  ", Quote(name), " 1\n");
  return body;
}

constexpr char kBashFunction[] = R"sh(
# The values of option $2 at command path $1 (the command's own, else a global option's).
_plantctl_values_of() {
  local key="$1|$2"
  if [[ -n ${_plantctl_values[$key]+set} ]]; then
    printf '%s' "${_plantctl_values[$key]}"
  else
    printf '%s' "${_plantctl_values[plantctl|$2]:-}"
  fi
}

_plantctl() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd=plantctl word flag values i skip=0
  # The command path: the words that name a subcommand of the path so far; an option's
  # value (the word after an option that takes one) is not a command.
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word=${COMP_WORDS[i]}
    if (( skip )); then skip=0; [[ $word == = ]] && skip=1; continue; fi
    if [[ $word == -* ]]; then
      [[ $word != *=* && -n ${_plantctl_takes_value[$word]:-} ]] && skip=1
      continue
    fi
    if [[ " ${_plantctl_subcommands[$cmd]:-} " == *" $word "* ]]; then cmd="$cmd $word"; fi
  done
  COMPREPLY=()
  # An option's value: `--flag value`, `--flag=value` (bash splits at '=').
  if (( skip )) || [[ ${COMP_WORDS[COMP_CWORD-1]:-} == = ]]; then
    flag=${COMP_WORDS[COMP_CWORD-1]}
    [[ $flag == = ]] && flag=${COMP_WORDS[COMP_CWORD-2]}
    values=$(_plantctl_values_of "$cmd" "$flag")
    if [[ -z $values ]]; then
      compopt -o filenames 2>/dev/null
      mapfile -t COMPREPLY < <(compgen -f -- "$cur")
      return 0
    fi
    # A list: complete the value after the last comma.
    local prefix=""
    [[ $cur == *,* ]] && prefix=${cur%,*},
    mapfile -t COMPREPLY < <(compgen -P "$prefix" -W "$values" -- "${cur##*,}")
    return 0
  fi
  if [[ $cur == -* ]]; then
    local options="${_plantctl_options[$cmd]:-}"
    [[ $cmd != plantctl ]] && options="$options ${_plantctl_options[plantctl]:-}"
    mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
    return 0
  fi
  if [[ -n ${_plantctl_file_arguments[$cmd]:-} ]]; then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return 0
  fi
  mapfile -t COMPREPLY < <(compgen -W "${_plantctl_subcommands[$cmd]:-}" -- "$cur")
  return 0
}

complete -F _plantctl plantctl
)sh";

constexpr char kZshFunction[] = R"sh(
_plantctl() {
  local cmd=plantctl word flag values cur=${words[CURRENT]} i skip=0
  for (( i = 2; i < CURRENT; i++ )); do
    word=${words[i]}
    if (( skip )); then skip=0; continue; fi
    if [[ $word == -* ]]; then
      [[ $word != *=* && -n ${_plantctl_takes_value[$word]} ]] && skip=1
      continue
    fi
    if [[ " ${_plantctl_subcommands[$cmd]} " == *" $word "* ]]; then cmd="$cmd $word"; fi
  done
  if (( skip )) || [[ $cur == -*=* ]]; then
    if (( skip )); then flag=${words[CURRENT-1]}; else flag=${cur%%=*}; compset -P '*='; fi
    values=${_plantctl_values[$cmd|$flag]:-${_plantctl_values[plantctl|$flag]}}
    if [[ -z $values ]]; then
      _files
      return
    fi
    # A list: complete the value after the last comma.
    compset -P '*,'
    compadd -- ${=values}
    return
  fi
  if [[ $cur == -* ]]; then
    values=${_plantctl_options[$cmd]}
    [[ $cmd != plantctl ]] && values="$values ${_plantctl_options[plantctl]}"
    compadd -- ${=values}
    return
  fi
  if [[ -n ${_plantctl_file_arguments[$cmd]} ]]; then
    _files
    return
  fi
  compadd -- ${=_plantctl_subcommands[$cmd]}
}

# Loaded from $fpath as `_plantctl`: complete now; sourced: register.
if [[ ${funcstack[1]:-} == _plantctl ]]; then
  _plantctl "$@"
else
  compdef _plantctl plantctl
fi
)sh";

}  // namespace

absl::StatusOr<std::string> CompletionScript(CLI::App* root, absl::string_view shell,
                                             const CompletionValues& values) {
  if (shell != "bash" && shell != "zsh") {
    return absl::InvalidArgumentError(
        absl::StrCat("completion: unknown shell \"", shell, "\" (bash or zsh)"));
  }
  Table table;
  Collect(root, "plantctl", values, &table);
  const bool bash = shell == "bash";
  std::string script =
      bash ? "# bash completion for plantctl, made by `plantctl completion bash` from its command\n"
             "# tree (the contracts' services, methods, flags and enum values). Load it with\n"
             "#   source <(plantctl completion bash)\n"
             "# or save it as ~/.local/share/bash-completion/completions/plantctl.\n"
           : "#compdef plantctl\n"
             "# zsh completion for plantctl, made by `plantctl completion zsh` from its command\n"
             "# tree (the contracts' services, methods, flags and enum values). Save it as\n"
             "# _plantctl in a directory of $fpath before compinit runs, or, after compinit:\n"
             "#   source <(plantctl completion zsh)\n";
  const char* declare = bash ? "declare -gA" : "typeset -gA";
  for (const auto& [name, body] : std::vector<std::pair<const char*, std::string>>{
           {"_plantctl_subcommands", ArrayBody(table.subcommands)},
           {"_plantctl_options", ArrayBody(table.options)},
           {"_plantctl_values", ArrayBody(table.values)},
           {"_plantctl_takes_value", SetBody(table.takes_value)},
           {"_plantctl_file_arguments", SetBody(table.file_arguments)}}) {
    absl::StrAppend(&script, declare, " ", name, "\n", name, "=(\n", body, ")\n");
  }
  absl::StrAppend(&script, bash ? kBashFunction : kZshFunction);
  return script;
}

CompletionCommand::CompletionCommand(CLI::App* root) : root_(root) {
  command_ = root->add_subcommand(
      "completion",
      "Print a shell completion script (services, methods, flags, enum values):\n"
      "  bash: source <(plantctl completion bash)\n"
      "  zsh:  source <(plantctl completion zsh)   (after compinit)");
  command_->group("Tools");
  command_->add_option("shell", shell_, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));
}

bool CompletionCommand::Selected() const { return command_->parsed(); }

absl::Status CompletionCommand::Run(const CompletionValues& values, std::ostream& out) const {
  absl::StatusOr<std::string> script = CompletionScript(root_, shell_, values);
  if (!script.ok()) return script.status();
  out << *script;
  return absl::OkStatus();
}

}  // namespace plantmesh::cli
