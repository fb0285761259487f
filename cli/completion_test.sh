#!/usr/bin/env bash
# `plantctl completion bash|zsh` in the shells themselves: the bash script sources, registers
# itself (complete -p), and its function completes methods, flags (no output-only ones) and
# enum values (also after a comma) when called as bash calls it (COMP_WORDS/COMP_CWORD set).
# The zsh script must parse (zsh -n) and, with compadd stubbed, offer the same; skipped with
# a note where zsh is not installed.
#   completion_test.sh <plantctl>
set -euo pipefail
PLANTCTL=$1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/plantctl-completion-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

"$PLANTCTL" completion bash >"$WORK/plantctl.bash"
"$PLANTCTL" completion zsh >"$WORK/plantctl.zsh"
if "$PLANTCTL" completion fish >/dev/null 2>"$WORK/fish.err"; then fail "fish accepted"; fi

# Completions for the words "$@" (the last one is being completed), one per line.
bash_complete() {
  bash --norc --noprofile -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _plantctl
    printf "%s\n" "${COMPREPLY[@]}"' _ "$WORK/plantctl.bash" "$@"
}
# expect_has WHAT LIST WORD...: LIST (lines) holds every WORD.
expect_has() {
  local what=$1 list=$2 word
  shift 2
  for word in "$@"; do
    grep -qxF -- "$word" <<<"$list" || fail "$what: no \"$word\" in: $(echo $list)"
  done
}
expect_lacks() {
  local what=$1 list=$2 word
  shift 2
  for word in "$@"; do
    if grep -qxF -- "$word" <<<"$list"; then fail "$what: offers \"$word\""; fi
  done
}

registered=$(bash --norc --noprofile -c 'source "$1"; complete -p plantctl' _ "$WORK/plantctl.bash")
[[ $registered == "complete -F _plantctl plantctl" ]] || fail "complete -p: $registered"

got=$(bash_complete plantctl de)
expect_has "plantctl de<TAB>" "$got" defect
got=$(bash_complete plantctl defect cre)
expect_has "plantctl defect cre<TAB>" "$got" create-defect create-repair-place create-crew
expect_lacks "plantctl defect cre<TAB>" "$got" list-defects
got=$(bash_complete plantctl defect create-defect --defect.)
expect_has "create-defect --defect.<TAB>" "$got" --defect.vin --defect.severity --defect.shift
expect_lacks "create-defect --defect.<TAB>" "$got" --defect.status --defect.etag --defect.id
got=$(bash_complete plantctl --insecure defect create-defect --defect.severity "")
expect_has "--defect.severity <TAB>" "$got" minor major critical
got=$(bash_complete plantctl defect list-defects --zone PAINT --statuses reported,in)
expect_has "--statuses reported,in<TAB>" "$got" reported,in_repair
got=$(bash_complete plantctl defect list-defects --statuses = re)
expect_has "--statuses=re<TAB>" "$got" reported repaired reopened
got=$(bash_complete plantctl -o "")
expect_has "-o <TAB>" "$got" table json csv
got=$(bash_complete plantctl defect get-defect --)
expect_has "get-defect --<TAB> (the command's and global flags)" "$got" --id --endpoint --output
got=$(bash_complete plantctl system "")
expect_has "plantctl system <TAB>" "$got" who-am-i
got=$(bash_complete plantctl completion "")
expect_has "plantctl completion <TAB>" "$got" bash zsh
# A command's FILE argument completes file names (outside testing: nothing was offered).
mkdir -p "$WORK/files" && touch "$WORK/files/samples.csv" "$WORK/files/demand.csv"
for command in "telemetry ingest" "planning import-demand" "pki show"; do
  # shellcheck disable=SC2086
  got=$(bash_complete plantctl $command "$WORK/files/")
  expect_has "plantctl $command <TAB>" "$got" "$WORK/files/samples.csv" "$WORK/files/demand.csv"
done

if command -v zsh >/dev/null; then
  zsh -n "$WORK/plantctl.zsh" || fail "zsh -n: the zsh script does not parse"
  # The completion function with compadd/compset/_files stubbed: what it would offer.
  zsh_complete() {
    zsh -f -c '
      compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
      compset() { :; }; _files() { :; }
      source "$1"; shift
      words=("$@"); CURRENT=$#
      _plantctl' _ "$WORK/plantctl.zsh" "$@"
  }
  got=$(zsh_complete plantctl defect cre)
  expect_has "zsh: plantctl defect cre<TAB>" "$got" create-defect
  got=$(zsh_complete plantctl defect create-defect --defect.severity "")
  expect_has "zsh: --defect.severity <TAB>" "$got" minor major critical
  got=$(zsh_complete plantctl defect create-defect --)
  expect_lacks "zsh: create-defect --<TAB>" "$got" --defect.status
else
  echo "note: zsh is not installed: the zsh script was not checked (apt-get install zsh)"
fi

if ((failures > 0)); then
  echo "$failures completion check(s) failed"
  exit 1
fi
echo "completion checks passed"
