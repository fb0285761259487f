// plantctl: the PlantMesh command line. Its service commands are derived from the
// contracts at run time (cli/contract_catalog.h): a new RPC or field needs no code here.
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/admin_status.h"
#include "cli/command_suggestions.h"
#include "cli/command_tree.h"
#include "cli/completion.h"
#include "cli/connection_flags.h"
#include "cli/contract_catalog.h"
#include "cli/demand_import.h"
#include "cli/exit_codes.h"
#include "cli/list_pages.h"
#include "cli/method_runner.h"
#include "cli/number_check.h"
#include "cli/output.h"
#include "cli/pki_commands.h"
#include "cli/signal_canceller.h"
#include "cli/telemetry_ingest.h"
#include "cli/telemetry_tail.h"
#include "cli/watch_commands.h"
#include "common/build_info/build_info.h"
#include "grpcpp/channel.h"
#include "plantmesh/common/mutex_settings.h"
#include "plantmesh/common/openssl_exit.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/sdk/status.h"

namespace plantmesh::cli {
namespace {

constexpr char kExitCodesFooter[] =
    "Exit codes: 0 OK; 1 local failure (a data file that cannot be read or written: an import\n"
    "or ingest file, --from-file, --to-file, the file config init or pki writes, standard\n"
    "output); 2 usage\n"
    "error (flags, the config file, and the connection settings it or the flags give, such\n"
    "as a --key that cannot be loaded); 3 a list printed one page and more follow (use\n"
    "--all, or the --page_token on stderr);\n"
    "10 + gRPC status code otherwise, e.g. 13 INVALID_ARGUMENT (also: the server rejected\n"
    "some of an ingest's samples or an import's records), 15 NOT_FOUND,\n"
    "16 ALREADY_EXISTS, 17 PERMISSION_DENIED, 19 FAILED_PRECONDITION, 20 ABORTED,\n"
    "24 UNAVAILABLE, 26 UNAUTHENTICATED, 25 DATA_LOSS (a --to-file check failed, an\n"
    "import the server received only in part); 130 Ctrl-C (a second one always stops).\n"
    "Errors are described on stderr (field violations, reason, metadata).";

int Main(int argc, char** argv) {
  plantmesh::common::UseReleaseMutexSettings();
  SignalCanceller canceller;  // before gRPC starts any thread

  absl::StatusOr<std::unique_ptr<ContractCatalog>> catalog = ContractCatalog::Embedded();
  if (!catalog.ok()) {
    std::cerr << "plantctl: " << catalog.status() << "\n";
    return kExitLocalFailure;
  }

  bool explicit_config = false;
  ConnectionSettings settings;
  std::string config_file = ConfigFileFromArgs(argc, argv, &explicit_config);
  if (explicit_config && config_file.empty()) {
    // Outside testing: `--config=` named "the config file  (…)" and advised a command line
    // that did not parse.
    std::cerr << "plantctl: --config names no file: give its path, or leave the flag out for "
                 "the default one (PLANTCTL_CONFIG, else ~/.config/plantmesh/plantctl.toml)\n";
    return kExitUsage;
  }
  if (absl::Status loaded = LoadDefaults(config_file, explicit_config, &settings); !loaded.ok()) {
    std::cerr << "plantctl: " << loaded.message() << "\n";
    return kExitUsage;
  }

  CLI::App app(
      "plantctl: the PlantMesh command line. Service commands and their flags come "
      "from the API contracts.",
      "plantctl");
  app.footer(kExitCodesFooter);
  app.set_version_flag("--version", build_info::VersionText("plantctl"),
                       "Print the version, git revision and contract packages, and exit");
  app.require_subcommand(1);
  // Connection and output options may also follow the subcommands.
  app.fallthrough();
  AddConnectionFlags(&app, &settings);
  std::string output_text = isatty(STDOUT_FILENO) ? "table" : "json";
  app.add_option("--output,-o", output_text,
                 "table (default columns of each resource), wide (every column that holds "
                 "something), json (one object per line, every field; 64-bit integers as "
                 "strings) or csv (RFC 4180, every column); default table on a terminal, json "
                 "otherwise")
      ->check(CLI::IsMember({"table", "wide", "json", "csv"}))
      ->capture_default_str();

  CommandTree tree(**catalog, &app, {"planning import-demand"});
  TelemetryIngestCommand ingest(&app);
  TelemetryTailCommand tail(&app);
  DemandImportCommand import_demand(&app);
  PkiCommands pki(&app);
  AdminCommands admin(&app);
  CLI::App* config = app.add_subcommand("config", "plantctl's own settings");
  config->group("Tools");
  config->require_subcommand(1);
  bool force = false;
  CLI::App* config_init = config->add_subcommand(
      "init", "Write the config file (--config or the default path) from the connection flags");
  config_init->add_flag("--force", force, "Replace an existing file");
  CompletionCommand completion(&app);

  CheckBooleanFlagValues(&app);
  std::vector<std::string> args = EmptyValuesSeparated(app, {argv + 1, argv + argc});
  // CLI11 would take the flag after a flag without its value as that value.
  if (std::string missing = FlagWithoutValueMessage(app, args); !missing.empty()) {
    std::cerr << missing;
    return kExitUsage;
  }
  try {
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() != 0) {
      // CLI11 would say "A subcommand is required" for `plantctl defect nosuch`.
      std::string unknown = UnknownCommandMessage(app, args);
      if (!unknown.empty()) {
        std::cerr << unknown;
        return kExitUsage;
      }
      // Help and version requests are "errors" of exit code 0, printed by CLI11 below.
      std::cerr << ParseErrorMessage(app, args, error);
      return kExitUsage;
    }
    int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }

  if (completion.Selected()) {
    absl::Status status = completion.Run(tree.EnumValues(), std::cout);
    if (!status.ok()) std::cerr << "plantctl: " << status.message() << "\n";
    return status.ok() ? 0 : kExitUsage;
  }
  if (settings.config_missing && !config_init->parsed()) {
    std::cerr << "plantctl: the config file " << settings.config_file
              << " (named by --config or PLANTCTL_CONFIG) does not exist; write it with\n"
                 "  plantctl --endpoint HOST:PORT --ca CA.crt --cert USER.crt --key USER.key "
                 "--config "
              << settings.config_file << " config init\n";
    return kExitUsage;
  }
  {
    std::vector<std::string> services;
    for (const ServiceCommand& service : (*catalog)->services()) services.push_back(service.name);
    absl::Status resolved =
        ResolveServiceEndpoints(services, app.get_option("--endpoint")->count() > 0, &settings);
    if (!resolved.ok()) {
      std::cerr << "plantctl: " << resolved.message() << "\n";
      // A flag's fault (not the config file's): where the flags are explained.
      if (absl::StartsWith(resolved.message(), "--")) {
        std::cerr << "Run 'plantctl --help' for the connection flags.\n";
      }
      return kExitUsage;
    }
  }
  if (pki.Selected()) {
    absl::Status status = pki.Run(std::cout);
    if (!status.ok()) {
      std::cerr << "plantctl: " << status.message() << "\n";
      return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitLocalFailure;
    }
    return 0;
  }
  if (config_init->parsed()) {
    absl::Status status = WriteConfigFile(settings, settings.config_file, force);
    if (!status.ok()) {
      std::cerr << "plantctl: " << status.message() << "\n";
      return kExitLocalFailure;
    }
    std::cout << "wrote " << settings.config_file << "\n";
    return 0;
  }

  if (admin.Selected()) {
    if (absl::Status complete = CheckConnectionSettings(settings); !complete.ok()) {
      std::cerr << "plantctl: " << complete.message() << "\n";
      return kExitUsage;
    }
    absl::StatusOr<std::vector<ServiceStatus>> rows = CollectStatus(**catalog, settings);
    if (!rows.ok()) {
      std::cerr << "plantctl: " << sdk::DescribeStatus(InFlagTerms(rows.status())) << "\n";
      return rows.status().code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                        : kExitLocalFailure;
    }
    PrintStatus(*rows, *ParseOutputFormat(output_text), absl::Now(), std::cout);
    std::cout.flush();
    for (const ServiceStatus& row : *rows) {
      if (!row.error.ok()) {
        std::cerr << "plantctl: " << row.service << " at " << row.endpoint << ": "
                  << absl::StatusCodeToString(row.error.code()) << ": " << ErrorText(row.error)
                  << "\n";
      }
    }
    return StatusExitCode(*rows);
  }

  if (tail.Selected()) return tail.Run(settings, output_text, **catalog, &canceller);
  if (ingest.Selected() || import_demand.Selected()) {
    const bool dry_run = ingest.Selected() ? ingest.DryRun() : import_demand.DryRun();
    if (!dry_run) {
      if (absl::Status complete = CheckConnectionSettings(settings); !complete.ok()) {
        std::cerr << "plantctl: " << complete.message() << "\n";
        return kExitUsage;
      }
    }
    IngestRunEnvironment env;
    env.options = settings.options;
    env.options.endpoint = EndpointFor(settings, ingest.Selected() ? "telemetry" : "planning");
    env.options.default_deadline = absl::Seconds(settings.timeout_seconds);
    env.stall_seconds = settings.timeout_seconds;
    env.json_summary = output_text == "json";
    env.progress = isatty(STDERR_FILENO);
    env.canceller = &canceller;
    env.stdin_stream = &std::cin;
    env.out = &std::cout;
    env.err = &std::cerr;
    return ingest.Selected() ? ingest.Run(env) : import_demand.Run(env);
  }

  const MethodBinding* binding = tree.Selected();
  if (binding == nullptr) {
    std::cerr << app.help();
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> request = tree.BuildRequest(*binding);
  if (!request.ok()) {
    std::cerr << "plantctl: " << request.status().message() << "\n";
    return kExitUsage;
  }

  if (absl::Status complete = CheckConnectionSettings(settings); !complete.ok()) {
    std::cerr << "plantctl: " << complete.message() << "\n";
    return kExitUsage;
  }
  settings.options.default_deadline = absl::Seconds(settings.timeout_seconds);
  settings.options.endpoint = EndpointFor(settings, binding->command->service_command);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = sdk::MakeChannel(settings.options);
  if (!channel.ok()) {
    std::cerr << "plantctl: " << sdk::DescribeStatus(InFlagTerms(channel.status())) << "\n";
    return channel.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : ExitCodeFor(channel.status());
  }

  ResponsePrinter printer(*ParseOutputFormat(output_text), std::cout, std::cerr);
  RunEnvironment env;
  env.channel = *channel;
  env.options = settings.options;
  env.printer = &printer;
  env.requests_in = &std::cin;
  env.on_call = [&canceller](grpc::ClientContext* context) { canceller.SetCall(context); };
  env.interrupted = &canceller.interrupted();
  bool more_pages = false;
  env.list_paging.all = binding->all_pages;
  env.list_paging.progress = isatty(STDERR_FILENO) ? &std::cerr : nullptr;
  env.list_paging.more_pages = &more_pages;
  env.set_stopper = [&canceller](std::function<void()> stop) {
    canceller.SetStopper(std::move(stop));
  };
  absl::Status status;
  if (binding->watch) {
    status = RunListWatch(*binding, **catalog, **request, env);
  } else if (IsResumableWatch(*binding->command) && binding->to_file.empty()) {
    status = RunResumingWatch(*binding, **catalog, **request, env);
  } else {
    status = RunMethod(*binding, **catalog, **request, env);
  }
  std::cout.flush();
  // A call Ctrl-C cancelled ends as the help says (outside testing: a one-shot call to a
  // server that did not answer exited 11, "CANCELLED").
  if (status.code() == absl::StatusCode::kCancelled && canceller.interrupted().load()) {
    std::cerr << "plantctl: interrupted"
              << (binding->to_file.empty()
                      ? ""
                      : absl::StrCat("; nothing was written to ", binding->to_file))
              << "\n"
              << RerunHint(*binding->command, **request, status);
    return kExitInterrupted;
  }
  if (IsLocalFailure(status) || IsUsageFailure(status)) {
    std::cerr << "plantctl: " << status.message() << "\n";
  } else if (!status.ok()) {
    std::cerr << sdk::DescribeStatus(InFlagTerms(status)) << "\n"
              << RerunHint(*binding->command, **request, status);
  }
  if (!status.ok()) return ExitCodeFor(status);
  return more_pages ? kExitMorePages : 0;
}

}  // namespace
}  // namespace plantmesh::cli

int main(int argc, char** argv) {
  plantmesh::common::SkipOpenSslCleanupAtExit();  // why: plantmesh/common/openssl_exit.h
  const int code = plantmesh::cli::Main(argc, argv);
  // What a command printed must have been written: a report sent to a full disk or a
  // closed stdout exited 0, empty (outside testing).
  std::cout.flush();
  if (std::cout.fail() || std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
    // errno is not kept: the write that failed may be long past.
    std::cerr << "plantctl: cannot write standard output (a full disk, a closed stdout?); "
                 "what it printed is incomplete\n";
    return code == 0 ? plantmesh::cli::kExitLocalFailure : code;
  }
  return code;
}
