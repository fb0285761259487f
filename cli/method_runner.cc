#include "cli/method_runner.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "cli/atomic_file.h"
#include "cli/exit_codes.h"
#include "cli/generic_call.h"
#include "cli/input_file.h"
#include "cli/list_pages.h"
#include "cli/request_builder.h"
#include "cli/unary_call.h"
#include "plantmesh/common/contract.h"
#include "plantmesh/common/sha256.h"
#include "plantmesh/common/status_macros.h"
#include "plantmesh/sdk/status.h"

namespace plantmesh::cli {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr size_t kChunkBytes = 256 * 1024;

// A --from-file that failed part way, or a --to-file that failed here: exit 1, not a
// call's status. `why`: the system's reason (std::strerror(errno) right after the failed
// write). Opening a file to read is OpenInputFile's.
absl::Status CannotRead(const std::string& path, absl::string_view why) {
  return LocalFailure(absl::StrCat("cannot read ", path, ": ", why));
}
absl::Status CannotWrite(const std::string& path, absl::string_view why) {
  return LocalFailure(absl::StrCat("cannot write ", path, ": ", why));
}

// The text of a dotted field path in a message ("" when unset), without creating it.
std::string TextAt(const Message& message, const std::string& dotted_path) {
  Column column;
  column.name = dotted_path;
  const google::protobuf::Descriptor* type = message.GetDescriptor();
  for (absl::string_view part : absl::StrSplit(dotted_path, '.')) {
    if (type == nullptr) return "";
    const FieldDescriptor* field = type->FindFieldByName(std::string(part));
    if (field == nullptr || field->is_repeated()) return "";
    column.path.push_back(field);
    type = field->message_type();
  }
  return column.path.empty() ? "" : CellText(message, column);
}

// Sets a dotted field path from text (creating the messages on the way).
absl::Status SetAt(Message* root, const std::string& dotted_path, const std::string& text) {
  const FieldDescriptor* leaf = nullptr;
  PM_ASSIGN_OR_RETURN(Message * parent, MutableParentOf(dotted_path, root, &leaf));
  return SetScalarFromText(leaf, text, parent);
}

// The first message of a --from-file upload: `first` with the file's size and SHA-256 in
// the fields the contract's file_chunk annotation names, and its base name in the
// `file_name` beside them when that is empty. A size or SHA-256 the user gave must be
// the file's (INVALID_ARGUMENT naming both), never silently replaced. Read before the
// call starts, so nothing is sent when it fails.
absl::StatusOr<std::unique_ptr<Message>> FileHead(const MethodBinding& binding,
                                                  const Message& first) {
  const auto& annotation = contract::FileChunkOf(binding.command->request_file_chunk);
  absl::StatusOr<std::unique_ptr<std::ifstream>> opened = OpenInputFile(binding.from_file);
  if (!opened.ok()) return opened.status();
  std::ifstream& in = **opened;
  common::Sha256 digest;
  uint64_t size = 0;
  std::string buffer(kChunkBytes, '\0');
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    digest.Update(absl::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
    size += static_cast<uint64_t>(in.gcount());
  }
  const std::string name = InputName(binding.from_file);
  if (in.bad()) return CannotRead(name, "the read failed part way");
  // Outside testing: an empty file was refused by the server as "metadata.size_bytes:
  // required", a field plantctl had filled.
  if (size == 0) return LocalFailure(absl::StrCat(name, " is empty: nothing to send"));
  const std::string sha256 = digest.HexDigest();
  std::unique_ptr<Message> head(first.New());
  head->CopyFrom(first);
  if (const std::string& field = annotation.sha256_field(); !field.empty()) {
    const std::string given = TextAt(*head, field);
    if (!given.empty() && absl::AsciiStrToLower(given) != sha256) {
      return UsageFailure(absl::StrCat("--", field, " ", given, " is not the SHA-256 of ", name,
                                       " (--from-file), which is ", sha256,
                                       "; nothing was sent. Give the file's digest, or leave --",
                                       field, " out and plantctl computes it"));
    }
    PM_RETURN_IF_ERROR(SetAt(head.get(), field, sha256));
  }
  if (const std::string& field = annotation.size_field(); !field.empty()) {
    const std::string given = TextAt(*head, field);
    if (!given.empty() && given != "0" && given != absl::StrCat(size)) {
      return UsageFailure(absl::StrCat("--", field, " ", given, " is not the size of ", name,
                                       " (--from-file), which is ", size,
                                       " bytes; nothing was sent"));
    }
    PM_RETURN_IF_ERROR(SetAt(head.get(), field, absl::StrCat(size)));
  }
  // `file_name` in the message that holds the digest (metadata.file_name).
  const std::string& anchor =
      annotation.sha256_field().empty() ? annotation.size_field() : annotation.sha256_field();
  const size_t dot = anchor.rfind('.');
  const std::string name_field =
      dot == std::string::npos ? "file_name" : anchor.substr(0, dot + 1) + "file_name";
  const FieldDescriptor* name_leaf = nullptr;
  absl::StatusOr<Message*> name_parent = MutableParentOf(name_field, head.get(), &name_leaf);
  // Only a regular file's name says what the file is (a pipe's, "63" of /dev/fd/63, does
  // not: outside testing); nor does standard input's, though it may be a regular file
  // (`< photo.png`: its name was stored as "stdin", outside testing).
  std::error_code no_type;
  if (name_parent.ok() && name_leaf != nullptr &&
      name_leaf->type() == FieldDescriptor::TYPE_STRING && !name_leaf->is_repeated() &&
      TextAt(*head, name_field).empty() && !absl::StartsWith(binding.from_file, "/dev/") &&
      std::filesystem::is_regular_file(binding.from_file, no_type)) {
    PM_RETURN_IF_ERROR(SetAt(head.get(), name_field,
                             std::filesystem::path(binding.from_file).filename().string()));
  }
  return head;
}

// Sends `head` (from FileHead), then the bytes of `path` in chunks.
absl::Status SendFile(GenericCall& call, const MethodBinding& binding,
                      const ContractCatalog& catalog, const Message& head, bool* call_alive) {
  const FieldDescriptor* chunk_field = binding.command->request_file_chunk;
  absl::StatusOr<std::unique_ptr<std::ifstream>> opened = OpenInputFile(binding.from_file);
  if (!opened.ok()) return opened.status();
  std::ifstream& in = **opened;
  if (!call.Write(head)) {
    *call_alive = false;
    return absl::OkStatus();
  }
  std::string buffer(kChunkBytes, '\0');
  std::unique_ptr<Message> chunk = catalog.NewMessage(head.GetDescriptor());
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    chunk->GetReflection()->SetString(chunk.get(), chunk_field,
                                      buffer.substr(0, static_cast<size_t>(in.gcount())));
    if (!call.Write(*chunk)) {
      *call_alive = false;
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// Sends one request per non-empty stdin line (JSON).
absl::Status SendJsonLines(GenericCall& call, std::istream& in, const ContractCatalog& catalog,
                           const google::protobuf::Descriptor* type, bool* call_alive) {
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::unique_ptr<Message> request = catalog.NewMessage(type);
    absl::Status parsed = MergeJson(line, request.get());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stdin line ", number, ": ", parsed.message()));
    }
    if (!call.Write(*request)) {
      *call_alive = false;
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// Receives a file_chunk stream into a temporary file, renamed into place only when
// the size and SHA-256 the stream announced match. A character device or a named pipe
// (/dev/null, a FIFO) is written through instead (pki::ResolveWriteTarget).
// A --to-file download: a file replaced whole once the stream's size and SHA-256 check
// out (pki::AtomicFileWriter), or a device or FIFO written through.
class FileSink {
 public:
  FileSink(const pki::WriteTarget& target, const FieldDescriptor* chunk_field)
      : path_(target.path),
        chunk_field_(chunk_field),
        annotation_(contract::FileChunkOf(chunk_field)) {
    if (target.kind == pki::WriteTarget::kWriteThrough) {
      through_.open(path_, std::ios::binary | std::ios::trunc);
      if (!through_) opened_ = absl::InternalError(std::strerror(errno));
      return;
    }
    absl::StatusOr<pki::AtomicFileWriter> file =
        pki::AtomicFileWriter::Create(target, std::nullopt);
    if (file.ok()) {
      file_.emplace(*std::move(file));
    } else {
      opened_ = file.status();
    }
  }

  // Why the file cannot be written, if it cannot.
  const absl::Status& opened() const { return opened_; }

  // True when the message carried a chunk (written); otherwise remembers the size and
  // digest it announces.
  bool Consume(const Message& message) {
    if (message.GetReflection()->HasField(message, chunk_field_)) {
      const std::string& bytes =
          message.GetReflection()->GetStringReference(message, chunk_field_, nullptr);
      if (file_) {
        if (written_.ok()) written_ = file_->Write(bytes);
      } else {
        through_.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
      digest_.Update(bytes);
      size_ += bytes.size();
      return true;
    }
    std::string size = TextAt(message, annotation_.size_field());
    std::string sha256 = TextAt(message, annotation_.sha256_field());
    if (!size.empty()) expected_size_ = size;
    if (!sha256.empty()) expected_sha256_ = sha256;
    return false;
  }

  absl::Status Commit() {
    if (!file_) through_.close();
    if (!written_.ok() || (!file_ && !through_)) {
      return Fail(CannotWrite(path_, absl::StrCat("writing the received bytes failed",
                                                  written_.ok() ? "" : ": ", written_.message())));
    }
    std::string size = absl::StrCat(size_);
    if (expected_size_.empty() || expected_sha256_.empty()) {
      return Fail(absl::DataLossError("the stream did not announce the file's size and SHA-256"));
    }
    if (size != expected_size_) {
      return Fail(absl::DataLossError(
          absl::StrCat("received ", size, " bytes, the stream announced ", expected_size_)));
    }
    std::string sha256 = digest_.HexDigest();
    if (sha256 != expected_sha256_) {
      return Fail(absl::DataLossError(
          absl::StrCat("SHA-256 ", sha256, " differs from the announced ", expected_sha256_)));
    }
    if (file_) {
      if (absl::Status committed = file_->Commit(); !committed.ok()) {
        return LocalFailure(absl::StrCat("cannot write ", path_, ": ", committed.message()));
      }
    }
    return absl::OkStatus();
  }

  // Removes the partial file (a device or FIFO keeps what was written to it).
  void Discard() {
    if (file_) file_->Discard();
    through_.close();
  }

 private:
  absl::Status Fail(absl::Status status) {
    Discard();
    return status;
  }

  std::string path_;
  const FieldDescriptor* chunk_field_;
  plantmesh::api::v1::FileChunk annotation_;
  absl::Status opened_;
  std::optional<pki::AtomicFileWriter> file_;  // a file replaced whole
  std::ofstream through_;                      // a device or FIFO
  absl::Status written_;                       // the first write to file_ that failed
  common::Sha256 digest_;
  uint64_t size_ = 0;
  std::string expected_size_;
  std::string expected_sha256_;
};

// How a call ended: its one response (when it had one and was not streamed) printed, the
// file written or discarded. `printed_stream`: a server stream printed as it arrived,
// which Ctrl-C ends as it should (OK: what was printed stands). Any other call Ctrl-C
// cancelled is CANCELLED (outside testing: a one-shot call, a create among them, exited
// 0 without a word, and a download to a file wrote nothing).
absl::Status Finished(const grpc::Status& status, const Message* response,
                      const RunEnvironment& env, FileSink* sink, bool printed_stream) {
  if (!status.ok()) {
    if (sink != nullptr) sink->Discard();
    if (status.error_code() == grpc::StatusCode::CANCELLED && env.interrupted != nullptr &&
        env.interrupted->load()) {
      return printed_stream && sink == nullptr ? absl::OkStatus()
                                               : absl::CancelledError("interrupted");
    }
    return sdk::FromGrpcStatus(status, /*mutual_tls=*/!env.options.insecure);
  }
  if (response != nullptr) env.printer->PrintResponse(*response);
  if (sink != nullptr) return sink->Commit();
  return absl::OkStatus();
}

}  // namespace

std::string RerunHint(const MethodCommand& command, const Message& request,
                      const absl::Status& failure) {
  if (command.request_id == nullptr || failure.ok() ||
      command.method->options().idempotency_level() ==
          google::protobuf::MethodOptions::NO_SIDE_EFFECTS) {
    return "";
  }
  const std::string path = command.RequestIdPath();
  const std::string id = TextAt(request, path);
  if (id.empty()) return "";
  // Never sent (the channel never connected: a wrong endpoint, a server not started):
  // nothing was made, and the rerun hint would say it may have been.
  if (sdk::ErrorReason(failure) == sdk::kNotConnectedReason) return "";
  std::string hint;
  if (OutcomeUnknown(failure.code())) {
    hint = "plantctl: the change may have been made before the call failed. ";
  } else if (failure.code() == absl::StatusCode::kResourceExhausted) {
    hint = "plantctl: ";  // not made; the same request may succeed later
  } else {
    // Refused for what it asks (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ABORTED
    // for a stale etag, ...): nothing was made, and the same request would be refused
    // again.
    return "";
  }
  absl::StrAppend(&hint, "The request's ", path, " was ", id,
                  "; to retry it without making the change twice, rerun the same command "
                  "with\n  --",
                  path, " ", id,
                  "\n(the server applies a request_id once per identity and method, and "
                  "answers a repeat with the first result)\n");
  return hint;
}

absl::Status RunMethod(const MethodBinding& binding, const ContractCatalog& catalog,
                       const Message& request, const RunEnvironment& env) {
  const MethodCommand& command = *binding.command;
  if (IsPagedList(command.method)) return RunPagedList(binding, catalog, request, env);
  const bool client_streams =
      command.kind == StreamKind::kClientStreaming || command.kind == StreamKind::kBidiStreaming;
  const bool server_streams =
      command.kind == StreamKind::kServerStreaming || command.kind == StreamKind::kBidiStreaming;
  std::unique_ptr<Message> file_head;
  if (client_streams && !binding.from_file.empty()) {
    PM_ASSIGN_OR_RETURN(file_head, FileHead(binding, request));
  }

  std::unique_ptr<FileSink> sink;
  if (!binding.to_file.empty()) {
    absl::StatusOr<pki::WriteTarget> target = pki::ResolveWriteTarget(binding.to_file);
    if (!target.ok()) return CannotWrite(binding.to_file, target.status().message());
    sink = std::make_unique<FileSink>(*target, command.response_file_chunk);
    if (!sink->opened().ok()) return CannotWrite(binding.to_file, sink->opened().message());
  }

  if (command.kind == StreamKind::kUnary) {
    std::unique_ptr<Message> response = catalog.NewMessage(command.method->output_type());
    bool received = false;
    const grpc::Status status = CallUnary(command, request, env, response.get(), &received);
    return Finished(status, received ? response.get() : nullptr, env, sink.get(),
                    /*printed_stream=*/false);
  }

  grpc::ClientContext context;
  const AttachedToCtrlC attached(env, &context);

  GenericCall call(env.channel, command.grpc_path, &context);
  bool alive = true;
  absl::Status local;
  if (!client_streams) {
    alive = call.Write(request);
  } else if (!binding.from_file.empty()) {
    local = SendFile(call, binding, catalog, *file_head, &alive);
  } else {
    if (CommandTree::AnyRequestInput(binding)) alive = call.Write(request);
    if (alive && env.requests_in != nullptr) {
      local = SendJsonLines(call, *env.requests_in, catalog, command.method->input_type(), &alive);
    }
  }
  if (!local.ok()) {
    context.TryCancel();
    call.Finish();
    if (sink) sink->Discard();
    return local;
  }
  if (alive) call.WritesDone();

  std::unique_ptr<Message> response = catalog.NewMessage(command.method->output_type());
  bool received = false;
  if (server_streams) {
    while (call.Read(response.get())) {
      if (sink && sink->Consume(*response)) continue;
      env.printer->PrintStreamed(*response);
    }
  } else {
    received = call.Read(response.get());
  }
  return Finished(call.Finish(), received ? response.get() : nullptr, env, sink.get(),
                  server_streams);
}

}  // namespace plantmesh::cli
