// `plantctl telemetry ingest` against an in-process TelemetryService that stores samples
// in memory (dedup by writer and batch sequence, unknown machines rejected): summary,
// exit codes, a bad row that sends nothing, stdin stopping at a bad row.
#include "cli/telemetry_ingest.h"

#include <gmock/gmock.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/command_tree.h"
#include "cli/contract_catalog.h"
#include "nlohmann/json.hpp"
#include "plantmesh/telemetry/v1/telemetry_service.grpc.pb.h"

namespace plantmesh::cli {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;
using ::testing::HasSubstr;
using ::testing::Not;

class StoringTelemetryService final : public tv1::TelemetryService::Service {
 public:
  grpc::Status IngestSamples(grpc::ServerContext*,
                             grpc::ServerReaderWriter<tv1::IngestSamplesResponse,
                                                      tv1::IngestSamplesRequest>* stream) override {
    tv1::IngestSamplesRequest request;
    while (stream->Read(&request)) {
      if (request.samples_size() > 0 && request.samples(0).machine_id() == "denied") {
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "writer not allowed here");
      }
      tv1::IngestSamplesResponse response;
      response.set_batch_sequence(request.batch_sequence());
      {
        absl::MutexLock lock(&mutex);
        uint64_t& last = last_sequence[request.writer_id()];
        if (request.batch_sequence() <= last) {
          response.set_duplicate_count(request.samples_size());
        } else {
          last = request.batch_sequence();
          for (int i = 0; i < request.samples_size(); ++i) {
            if (request.samples(i).machine_id() == "unknown") {
              tv1::RejectedSample* rejected = response.add_rejected_samples();
              rejected->set_index(i);
              rejected->set_reason(tv1::REJECT_REASON_UNKNOWN_MACHINE);
              rejected->set_message(absl::StrCat("samples[", i, "].machine_id: not registered"));
              response.set_rejected_count(response.rejected_count() + 1);
            } else {
              stored.push_back(request.samples(i));
              response.set_accepted_count(response.accepted_count() + 1);
            }
          }
        }
      }
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  absl::Mutex mutex;
  std::map<std::string, uint64_t> last_sequence ABSL_GUARDED_BY(mutex);
  std::vector<tv1::Sample> stored ABSL_GUARDED_BY(mutex);
};

class TelemetryIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    endpoint_ = absl::StrCat("127.0.0.1:", port);
    auto catalog = ContractCatalog::Embedded();
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = std::move(*catalog);
  }
  void TearDown() override {
    server_->Shutdown(absl::ToChronoTime(absl::Now()));
    for (const std::string& file : files_) std::remove(file.c_str());
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = absl::StrCat(::testing::TempDir(), "/", name);
    std::ofstream(path) << text;
    files_.push_back(path);
    return path;
  }

  // Runs `plantctl telemetry ingest <args>`; stdout and stderr in out_ and err_.
  int Ingest(std::vector<std::string> args, const std::string& stdin_text = "", bool json = false) {
    CLI::App app("plantctl");
    app.require_subcommand(1);
    CommandTree tree(*catalog_, &app);
    TelemetryIngestCommand command(&app);
    args.insert(args.begin(), {"telemetry", "ingest"});
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    app.parse(args);
    EXPECT_TRUE(command.Selected());
    std::istringstream in(stdin_text);
    out_.str("");
    err_.str("");
    IngestRunEnvironment env;
    env.options.insecure = true;
    env.options.endpoint = endpoint_;
    env.stall_seconds = stall_seconds_;
    env.json_summary = json;
    env.stdin_stream = &in;
    env.out = &out_;
    env.err = &err_;
    return command.Run(env);
  }

  size_t Stored() {
    absl::MutexLock lock(&service_.mutex);
    return service_.stored.size();
  }

  StoringTelemetryService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string endpoint_;
  int stall_seconds_ = 30;
  std::unique_ptr<ContractCatalog> catalog_;
  std::vector<std::string> files_;
  std::ostringstream out_;
  std::ostringstream err_;
};

std::string CsvRows(int n, int first = 0) {
  std::string text;
  for (int i = first; i < first + n; ++i) {
    absl::StrAppend(&text, "cnc07,Xload,2024-05-01T10:00:", 10 + i % 50, "Z,", i, "\n");
  }
  return text;
}

TEST_F(TelemetryIngestTest, CsvFileIsStoredAndSummarised) {
  const std::string path =
      WriteFile("ingest_ok.csv", "machine_id,data_item_id,time,value\n" + CsvRows(1234));
  EXPECT_EQ(Ingest({path, "--batch-size", "100"}), 0) << err_.str();
  EXPECT_EQ(Stored(), 1234u);
  EXPECT_THAT(out_.str(), HasSubstr("read        1,234 samples from " + path));
  EXPECT_THAT(out_.str(), HasSubstr("accepted    1,234"));
  EXPECT_THAT(out_.str(), HasSubstr("duplicates  0"));
  EXPECT_THAT(out_.str(), HasSubstr("rejected    0"));
  EXPECT_THAT(out_.str(), HasSubstr("samples/s, 13 batches"));
}

// --import-id: batches numbered from 1 under plantctl-import-<ID>, cut by count only, so
// the same file sent again is the same batches (answered as duplicates).
// Outside testing: without a kind, a PROGRAM event `0012` was stored as the number 12,
// and read from the catalog instead, a category changed during the ingest was not seen.
// A value without a kind is sent as written; the server reads it by the item's category.
TEST_F(TelemetryIngestTest, AValueWithoutAKindIsSentAsWritten) {
  const std::string path = WriteFile("ingest_written.csv",
                                     "machine_id,data_item_id,time,value,kind\n"
                                     "cnc07,program,2024-05-01T10:00:00Z,0012,\n"
                                     "cnc07,program,2024-05-01T10:00:01Z,0012,number\n"
                                     "cnc07,servo,2024-05-01T10:00:02Z,fault:SV0401:ALARM,\n");
  EXPECT_EQ(Ingest({path}), 0) << err_.str();
  absl::MutexLock lock(&service_.mutex);
  ASSERT_EQ(service_.stored.size(), 3u);
  EXPECT_EQ(service_.stored[0].written(), "0012");
  EXPECT_EQ(service_.stored[1].number(), 12);  // the kind said number
  EXPECT_EQ(service_.stored[2].written(), "fault:SV0401:ALARM");
}

TEST_F(TelemetryIngestTest, AnImportIdNumbersTheBatchesFromOne) {
  const std::string path =
      WriteFile("ingest_import.csv", "machine_id,data_item_id,time,value\n" + CsvRows(1234));
  EXPECT_EQ(Ingest({path, "--batch-size", "100", "--import-id", "line-3.2024-05-01"}), 0)
      << err_.str();
  {
    absl::MutexLock lock(&service_.mutex);
    EXPECT_EQ(service_.last_sequence["plantctl-import-line-3.2024-05-01"], 13u);
  }
  EXPECT_EQ(Ingest({path, "--batch-size", "100", "--import-id", "line-3.2024-05-01"}), 0)
      << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("duplicates  1,234"));
  EXPECT_EQ(Stored(), 1234u);
  EXPECT_THAT(
      [&] {
        return Ingest({path, "--import-id", std::string(101, 'x')});
      },
      ::testing::Throws<CLI::ValidationError>());
}

TEST_F(TelemetryIngestTest, RejectsAreCountedByReasonAndExitWith13) {
  const std::string path = WriteFile(
      "ingest_rejects.jsonl",
      "{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\",\"time\":\"2024-05-01T10:00:00Z\","
      "\"number\":1}\n"
      "{\"machineId\":\"unknown\",\"dataItemId\":\"Xload\",\"time\":\"2024-05-01T10:00:01Z\","
      "\"number\":2}\n");
  EXPECT_EQ(Ingest({path}, "", /*json=*/true), 13) << err_.str();
  const nlohmann::json summary = nlohmann::json::parse(out_.str());
  EXPECT_EQ(summary["read"], 2);
  EXPECT_EQ(summary["accepted"], 1);
  EXPECT_EQ(summary["rejected"], 1);
  EXPECT_EQ(summary["rejected_by_reason"]["unknown_machine"], 1);
  EXPECT_THAT(err_.str(),
              HasSubstr("rejected (unknown_machine) " + path + ":2: machine_id: not registered"));
}

// Outside testing: a rejected sample was named "samples[99]", its place in a batch, for
// file line 1,101. It is named by its line, across batches and blank lines.
TEST_F(TelemetryIngestTest, ARejectedSampleIsNamedByItsLine) {
  const std::string path =
      WriteFile("ingest_reject_line.csv",
                "machine_id,data_item_id,time,value\n" + CsvRows(7) + "\n\n" + CsvRows(4, 7) +
                    "unknown,Xload,2024-05-01T10:00:00Z,1\n" + CsvRows(2, 11));
  EXPECT_EQ(Ingest({path, "--batch-size", "3"}), 13) << err_.str();
  // Header 1, rows 2-8, blank 9-10, rows 11-14, the unknown machine on 15.
  EXPECT_THAT(err_.str(),
              HasSubstr("rejected (unknown_machine) " + path + ":15: machine_id: not registered"));
}

// Outside testing: the line quoted the sample's JSON, cut at 80 characters before its
// value, so "abc", "1,5" and 12.5 were told alike. The value is what is shown.
TEST_F(TelemetryIngestTest, ARejectedSampleShowsItsValue) {
  const std::string path = WriteFile("ingest_reject_value.csv",
                                     "machine_id,data_item_id,time,value,kind\n"
                                     "unknown,Xload,2024-05-01T10:00:00Z,\"1,5\",text\n"
                                     "unknown,Xload,2024-05-01T10:00:01Z,12.5,number\n"
                                     "unknown,Xload,2024-05-01T10:00:02Z,2.1,number\n"
                                     "unknown,Xload,2024-05-01T10:00:03Z, 0012 ,\n");
  EXPECT_EQ(Ingest({path}), 13) << err_.str();
  EXPECT_THAT(err_.str(), HasSubstr(":2: machine_id: not registered: value \"1,5\"\n"));
  EXPECT_THAT(err_.str(), HasSubstr(":3: machine_id: not registered: value 12.5\n"));
  // Re-test: 2.1 was shown as 2.1000000000000001; numbers have their fewest digits.
  EXPECT_THAT(err_.str(), HasSubstr(":4: machine_id: not registered: value 2.1\n"));
  // A value without a kind is shown as written, quoted (re-test: `0012` was told as 12).
  EXPECT_THAT(err_.str(), HasSubstr(":5: machine_id: not registered: value \" 0012 \"\n"));
}

TEST_F(TelemetryIngestTest, ABadRowInAFileSendsNothing) {
  const std::string path =
      WriteFile("ingest_bad.csv", "machine_id,data_item_id,time,value\n" + CsvRows(5) +
                                      "cnc07,Xload,yesterday,1\n" + CsvRows(5, 5));
  EXPECT_EQ(Ingest({path}), 2);
  EXPECT_THAT(err_.str(), HasSubstr(path + ":7: time: \"yesterday\" is not an RFC 3339 time"));
  EXPECT_THAT(err_.str(), HasSubstr("1 bad row in " + path + "; nothing was sent"));
  EXPECT_EQ(Stored(), 0u);
}

// Outside testing: the check stopped at the first bad row (a file with many took a run per
// row), and a time without its zone was only "not RFC 3339".
TEST_F(TelemetryIngestTest, AFileCheckSaysEveryBadRowUpToTwentyThenCountsThem) {
  std::string rows = "machine_id,data_item_id,time,value\n" + CsvRows(2);
  rows += "cnc07,Xload,2024-05-01T10:00:00,1\n";                     // line 4: no zone
  rows += "cnc07,Xload,2024-05-01 10:00:00Z,1\n";                    // line 5: a blank for the T
  for (int i = 0; i < 23; ++i) rows += "cnc07,Xload,yesterday,1\n";  // lines 6-28
  rows += CsvRows(2, 2);
  const std::string path = WriteFile("ingest_many_bad.csv", rows);
  for (const bool dry_run : {true, false}) {
    err_.str("");
    EXPECT_EQ(Ingest(dry_run ? std::vector<std::string>{path, "--dry-run"}
                             : std::vector<std::string>{path}),
              2);
    EXPECT_THAT(err_.str(), HasSubstr(path + ":4: time: \"2024-05-01T10:00:00\" is not an RFC "
                                             "3339 time (e.g. 2024-05-01T10:00:00Z): it has no UTC "
                                             "offset (add Z for UTC, or the offset such as "
                                             "+01:00)\n"));
    EXPECT_THAT(err_.str(), HasSubstr(path + ":5: time: \"2024-05-01 10:00:00Z\" is not an RFC "
                                             "3339 time (e.g. 2024-05-01T10:00:00Z): a blank "
                                             "stands for its T\n"));
    EXPECT_THAT(err_.str(), HasSubstr(path + ":23: time: \"yesterday\""));
    EXPECT_THAT(err_.str(), Not(HasSubstr(path + ":24:")));
    EXPECT_THAT(err_.str(), HasSubstr("plantctl: 25 bad rows in " + path +
                                      " (the first 20 shown above); nothing was sent\n"));
  }
  EXPECT_EQ(Stored(), 0u);
}

// Outside testing: a pretty-printed JSON file was said to break on every line; a file of
// semicolon-separated columns was told of one unknown column.
TEST_F(TelemetryIngestTest, AFileOfAnotherShapeIsNamedOnce) {
  const std::string pretty = WriteFile(
      "ingest_pretty.jsonl", "{\n  \"machineId\": \"cnc07\",\n  \"dataItemId\": \"Xload\"\n}\n");
  EXPECT_EQ(Ingest({pretty, "--dry-run"}), 2);
  EXPECT_EQ(err_.str(), "plantctl: " + pretty +
                            ":1: this object goes on past its line (pretty-printed JSON?): ingest "
                            "reads JSON lines, one telemetry.v1.Sample object per line (jq -c . "
                            "FILE writes them)\n");
  err_.str("");
  const std::string semicolons =
      WriteFile("ingest_semicolons.csv",
                "machine_id;data_item_id;time;value\ncnc07;Xload;2024-05-01T10:00:00Z;1\n");
  EXPECT_EQ(Ingest({semicolons, "--dry-run"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("columns are separated by commas, and this line has "
                                    "semicolons"));
}

TEST_F(TelemetryIngestTest, StdinStopsAtABadRowAfterSendingWhatCameBefore) {
  const std::string text = "machine_id,data_item_id,time,value\n" + CsvRows(5) +
                           "cnc07,Xload,2024-05-01T10:00:00Z\n" + CsvRows(5, 5);
  EXPECT_EQ(Ingest({"-"}, text), 2);
  EXPECT_THAT(err_.str(), HasSubstr("stdin:7: 3 fields where the header has 4 columns"));
  EXPECT_THAT(err_.str(), HasSubstr("the 5 samples before it were sent"));
  EXPECT_EQ(Stored(), 5u);
}

// With --import-id, stdin stopped at a bad row sends whole batches only: the last part
// of one, sent, would make the fixed input's batch differ from it (refused as another
// input's on the server; the fake takes it for a duplicate and 50 samples were lost).
TEST_F(TelemetryIngestTest, AnImportStoppedAtABadRowGoesOnWhenSentAgain) {
  const std::string header = "machine_id,data_item_id,time,value\n";
  const std::string bad = header + CsvRows(250) + "cnc07,Xload,2024-05-01T10:00:00Z\n";
  EXPECT_EQ(Ingest({"-", "--batch-size", "100", "--import-id", "stdin-1"}, bad), 2);
  EXPECT_THAT(err_.str(), HasSubstr("run the same command again, --import-id stdin-1"));
  EXPECT_EQ(Stored(), 200u);  // the whole batches, waited for (outside testing: abandoned)
  EXPECT_THAT(out_.str(), HasSubstr("accepted    200"));
  EXPECT_EQ(Ingest({"-", "--batch-size", "100", "--import-id", "stdin-1"}, header + CsvRows(300)),
            0)
      << err_.str();
  EXPECT_EQ(Stored(), 300u);
}

TEST_F(TelemetryIngestTest, DryRunChecksWithoutSending) {
  const std::string path =
      WriteFile("ingest_dry.csv", "machine_id,data_item_id,time,value\n" + CsvRows(3));
  EXPECT_EQ(Ingest({path, "--dry-run"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("3 samples in " + path + " are well-formed (CSV)"));
  EXPECT_EQ(Stored(), 0u);
}

// Outside testing: JSON lines with a UTF-8 byte order mark (Notepad's "UTF-8 with BOM")
// were read as CSV from stdin or a file of another extension ("text after the closing
// quote"). The format is guessed after the mark.
TEST_F(TelemetryIngestTest, JsonLinesWithAByteOrderMarkAreJsonLinesFromAnySource) {
  const std::string jsonl =
      "\xEF\xBB\xBF{\"machineId\":\"cnc07\",\"dataItemId\":\"Xload\","
      "\"time\":\"2024-05-01T10:00:10Z\",\"number\":12.5}\n";
  EXPECT_EQ(Ingest({WriteFile("ingest_bom.txt", jsonl), "--dry-run"}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("1 samples in"));
  EXPECT_EQ(Ingest({"-"}, jsonl), 0) << err_.str();
  EXPECT_EQ(Stored(), 1u);
  // A CSV file with the mark keeps its header.
  EXPECT_EQ(Ingest({WriteFile("ingest_bom.dat",
                              "\xEF\xBB\xBFmachine_id,data_item_id,time,value\n" + CsvRows(2)),
                    "--dry-run"}),
            0)
      << err_.str();
}

// Outside testing: one 5 MB row passed --dry-run, then the ingest waited out its timeout
// and exited 24 ("no batch acknowledged"), on every retry. No batch can carry it: it is a
// bad row, named by its line, and nothing is sent.
TEST_F(TelemetryIngestTest, ARowLargerThanABatchIsABadRow) {
  const std::string path =
      WriteFile("ingest_huge.csv", "machine_id,data_item_id,time,value,kind\n" +
                                       std::string("cnc07,Xload,2024-05-01T10:00:00Z,1,\n") +
                                       "cnc07,Xload,2024-05-01T10:00:01Z," +
                                       std::string(5 * 1024 * 1024, 'x') + ",text\n");
  for (const bool dry_run : {true, false}) {
    EXPECT_EQ(Ingest(dry_run ? std::vector<std::string>{path, "--dry-run"}
                             : std::vector<std::string>{path}),
              2);
    EXPECT_THAT(err_.str(), HasSubstr(path + ":3: the sample is 524"));
    EXPECT_THAT(err_.str(), HasSubstr("bytes, more than a batch carries (1048576)"));
    EXPECT_LT(err_.str().size(), 1000u);
  }
  EXPECT_EQ(Stored(), 0u);
}

// Outside testing: an ingest that gave up said nothing of how to go on, and the obvious
// rerun (without --import-id) stored the acknowledged part a second time.
TEST_F(TelemetryIngestTest, GivingUpSaysHowToGoOn) {
  const std::string path =
      WriteFile("ingest_give_up.csv", "machine_id,data_item_id,time,value\n" + CsvRows(3));
  server_->Shutdown(absl::ToChronoTime(absl::Now()));
  server_->Wait();
  stall_seconds_ = 1;
  EXPECT_EQ(Ingest({path}), 24);  // 10 + UNAVAILABLE
  // Re-test: a server never reached was said to maybe hold what was "sent", and the rerun
  // (the right move) was advised against.
  EXPECT_THAT(err_.str(), HasSubstr("the server was never reached, so nothing was sent or "
                                    "stored: run the same command again once it answers"));
  EXPECT_EQ(Ingest({path, "--import-id", "line-3.2024-05-01"}), 24);
  EXPECT_THAT(err_.str(), HasSubstr("run the same command again (the same --import-id "
                                    "line-3.2024-05-01) once the server answers"));
}

// Outside testing: an ingest refused (PERMISSION_DENIED) after a part was stored gave no
// advice, and the obvious rerun stores that part twice.
TEST_F(TelemetryIngestTest, AnyFailureAfterAPartWasStoredSaysHowToGoOn) {
  const std::string path =
      WriteFile("ingest_denied.csv",
                "machine_id,data_item_id,time,value\n" + CsvRows(2) +
                    "denied,Xload,2024-05-01T10:00:30Z,1\ndenied,Xload,2024-05-01T10:00:31Z,2\n");
  EXPECT_EQ(Ingest({path, "--batch-size", "2"}), 17);  // 10 + PERMISSION_DENIED
  EXPECT_EQ(Stored(), 2u);
  EXPECT_THAT(err_.str(), HasSubstr("the 2 acknowledged samples are stored"));
  EXPECT_THAT(err_.str(), HasSubstr("running the same command again stores what is stored a "
                                    "second time"));
}

// Outside testing (sweep 48): after an early stop `read` was one more than the samples
// the summary accounts for (a sample read and refused by the stopped writer).
TEST_F(TelemetryIngestTest, TheSummaryAddsUpAfterAnEarlyStop) {
  std::string rows;
  for (int i = 0; i < 20'000; ++i) {
    absl::StrAppend(&rows, "denied,Xload,2024-05-01T10:00:", 10 + i % 50, "Z,", i, "\n");
  }
  const std::string path =
      WriteFile("ingest_stopped.csv", "machine_id,data_item_id,time,value\n" + CsvRows(2) + rows);
  EXPECT_EQ(Ingest({path, "--batch-size", "2"}, "", /*json=*/true), 17);
  const nlohmann::json summary = nlohmann::json::parse(out_.str());
  EXPECT_EQ(summary["read"].get<int64_t>(),
            summary["accepted"].get<int64_t>() + summary["duplicates"].get<int64_t>() +
                summary["rejected"].get<int64_t>() + summary["not_acknowledged"].get<int64_t>())
      << out_.str();
  EXPECT_EQ(summary["accepted"], 2);
}

// Re-test: samples sent and not answered may be stored too; the advice says so. A server
// that takes the batches and never answers, so that they are surely sent (with the server
// down, whether the writer reached its write before the call failed is a matter of timing:
// CI's ThreadSanitizer run once did not).
TEST_F(TelemetryIngestTest, GivingUpAfterSendingSaysTheUnansweredMayBeStored) {
  class SilentTelemetryService final : public tv1::TelemetryService::Service {
    grpc::Status IngestSamples(
        grpc::ServerContext*,
        grpc::ServerReaderWriter<tv1::IngestSamplesResponse, tv1::IngestSamplesRequest>* stream)
        override {
      tv1::IngestSamplesRequest request;
      while (stream->Read(&request)) {
      }
      return grpc::Status::OK;
    }
  } silent;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&silent);
  const std::unique_ptr<grpc::Server> silent_server = builder.BuildAndStart();
  ASSERT_NE(silent_server, nullptr);
  endpoint_ = absl::StrCat("127.0.0.1:", port);
  const std::string path =
      WriteFile("ingest_unanswered.csv", "machine_id,data_item_id,time,value\n" + CsvRows(3));
  stall_seconds_ = 1;
  EXPECT_EQ(Ingest({path}), 14);  // 10 + DEADLINE_EXCEEDED: nothing failed, nothing answered
  EXPECT_THAT(err_.str(), HasSubstr("the 0 acknowledged samples are stored, and some of the 3 "
                                    "sent after them may be"));
  EXPECT_THAT(err_.str(), HasSubstr("running the same command again stores what is stored a "
                                    "second time"));
  silent_server->Shutdown(absl::ToChronoTime(absl::Now()));
}

// Outside testing: a 100 MB first line was printed whole in the error.
TEST_F(TelemetryIngestTest, AnErrorQuotesALongValueShortened) {
  const std::string path =
      WriteFile("ingest_long_header.csv", std::string(1000000, 'h') + "\n" + CsvRows(1));
  EXPECT_EQ(Ingest({path}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("…\" (1000000 bytes)"));
  EXPECT_LT(err_.str().size(), 1000u);
}

TEST_F(TelemetryIngestTest, AnUnreadableFileIsALocalFailure) {
  EXPECT_EQ(Ingest({"/nonexistent/samples.csv"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("cannot read /nonexistent/samples.csv"));
}

}  // namespace
}  // namespace plantmesh::cli
