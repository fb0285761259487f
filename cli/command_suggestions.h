// "unknown command" (or flag) with the closest known name, for a command line that names a
// service, method or flag plantctl does not have (CLI11 alone says "A subcommand is
// required", or "The following arguments were not expected: 1 --idd").
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"

namespace plantmesh::cli {

// The candidates closest to `word` (case, '-' and '_' ignored, so "CreateDefect" and
// "create_defect" find "create-defect"), best first: those it is a prefix or part of,
// then those within an edit distance of max(2, length / 3). Empty when none is close.
std::vector<std::string> ClosestNames(absl::string_view word,
                                      const std::vector<std::string>& candidates);

// When the command words of `args` (argv without the program name) name a subcommand
// `root` does not have, at any level, e.g. `defect nosuch` or `defekt list-defects`:
//   plantctl: unknown command "nosuch" for "plantctl defect"; did you mean "..."?
//   Run 'plantctl defect --help' for its commands.
// Likewise for a flag that the command (and those above it) does not have:
//   plantctl: unknown flag "--idd" for "plantctl defect get-defect"; did you mean "--id"?
//   Run 'plantctl defect get-defect --help' for its flags.
// And for a value where the command takes none, e.g. a second value after a repeated flag:
//   plantctl: unexpected value "CNC-08" for "plantctl telemetry get-latest-values" after
//   --machine_ids CNC-07: give each value its own flag (--machine_ids CNC-07 --machine_ids
//   CNC-08)
// Otherwise empty. Known flags (and their values) before and between the words are skipped.
std::string UnknownCommandMessage(CLI::App& root, const std::vector<std::string>& args);

// Asked before the command line is parsed: a flag that takes a value followed by another
// of the command's flags instead of one (`--shift --all`), which CLI11 would take as the
// value "--all" (outside testing: `list-defects --shift $SHIFT --watch` with SHIFT empty
// listed shift "--watch", found nothing, exited 0 and never watched), or followed by a
// command and its subcommand (`--timeout defect list-defects`):
//   plantctl: flag --shift needs a value, and "--all" after it is a flag of
//   "plantctl defect list-defects": give the value (--shift VALUE), or write
//   --shift=--all if that is the value
// Otherwise empty.
std::string FlagWithoutValueMessage(CLI::App& root, const std::vector<std::string>& args);

// `args` with each `--name=` of a flag that takes one value per use (repeatable ones too)
// split into `--name` and "": the empty value, as the server's own flags read it (CLI11
// takes the word after `--name=` as its value; outside testing: `plantctl --output= defect
// list-defects` was told "defect" is not an output format).
std::vector<std::string> EmptyValuesSeparated(CLI::App& root, std::vector<std::string> args);

// CLI11's text of `error` in plantctl's words where it has a form of its own ("flag --id is
// given 2 times: give it once", "flag --id needs a value, and nothing follows it", "--output:
// \"yaml\" is not one of table, wide, json, csv"), else CLI11's text; for plantmesh-ingest too.
std::string ParseErrorText(const CLI::ParseError& error);

// Any other usage error of the parser, in plantctl's words and naming the command's help
// (outside testing: CLI11's "--id: At Most 1 required but received 2" and "--output: yaml
// not in {table,wide,json,csv}", with no "plantctl:" and no command):
//   plantctl: flag --id is given 2 times: give it once (plantctl defect get-defect)
//   Run 'plantctl defect get-defect --help' for its flags.
std::string ParseErrorMessage(CLI::App& root, const std::vector<std::string>& args,
                              const CLI::ParseError& error);

}  // namespace plantmesh::cli
