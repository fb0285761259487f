// TelemetryBatchWriter (plantmesh/sdk/telemetry_batch_writer.h): the buffer, the
// sending thread (batches, window, reconnects) and a reading thread per stream (answers).
#include "plantmesh/sdk/telemetry_batch_writer.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpc/grpc.h>
#include <grpcpp/channel.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "plantmesh/common/blank_text.h"
#include "plantmesh/common/utf8.h"
#include "plantmesh/sdk/internal/calls.h"
#include "plantmesh/sdk/internal/connection.h"
#include "plantmesh/sdk/status.h"

namespace plantmesh::sdk {
namespace {

namespace tv1 = ::plantmesh::telemetry::v1;
using IngestStream = ReadWriteStream<tv1::IngestSamplesRequest, tv1::IngestSamplesResponse>;

constexpr int kMaxSamplesPerBatch = 10'000;  // the contract's limit
constexpr int64_t kMinBatchBytes = 64 * 1024;
constexpr int64_t kMaxBatchBytes = 3 * 1024 * 1024;  // below the server's 4 MiB default
// How often a writer that waits for its channel to connect checks whether it is closed.
constexpr absl::Duration kConnectPollInterval = absl::Milliseconds(100);

// Bytes a sample adds to IngestSamplesRequest: tag of field 3, length, the sample.
int64_t WireBytes(const tv1::Sample& sample) {
  const size_t size = sample.ByteSizeLong();
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) +
         static_cast<int64_t>(size);
}

// gRPC's own refusal of a message over the server's max-receive-message-bytes: the
// batch was not read, and sending it again cannot fit (outside testing: it was re-sent
// forever, and everything behind it waited).
bool IsOversizeRefusal(const absl::Status& status) {
  return status.code() == absl::StatusCode::kResourceExhausted &&
         absl::StrContains(status.message(), "Received message larger than max");
}

// Endings a new stream cannot fix (see the header's "Permanent errors").
bool IsPermanent(const absl::Status& status) {
  if (IsUnconfirmedTlsRefusal(status)) return false;
  if (IsOversizeRefusal(status)) return true;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

uint64_t MicrosNow() { return static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())); }

}  // namespace

absl::Status TelemetryBatchWriterOptions::Validate() const {
  // The contract's rule for it (single-line text of 1-128 characters, required), as the
  // server applies it: refused here, not after samples were taken (outside testing: a
  // blank id was created and refused by the first stream; 60 CJK characters were refused
  // by counting bytes).
  if (const size_t bad = common::FirstNotUtf8(writer_id); bad != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("writer_id: not UTF-8 at byte ", bad));
  }
  if (common::IsBlankText(writer_id)) {
    return absl::InvalidArgumentError(
        writer_id.empty() ? "writer_id: required"
                          : "writer_id: required: only white space or invisible characters given");
  }
  size_t characters = 0;
  for (size_t at = 0; at < writer_id.size(); ++characters) {
    const common::Utf8Char c = common::DecodeUtf8At(writer_id, at);
    const char32_t code = c.code_point;
    if (common::IsControlOrLineBreak(code)) {
      return absl::InvalidArgumentError(
          absl::StrCat("writer_id: control characters and line breaks are not allowed (character ",
                       characters + 1, ")"));
    }
    at += c.length;
  }
  if (characters > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("writer_id: 1-128 characters are required (", characters, " given)"));
  }
  if (max_batch_samples < 1 || max_batch_samples > kMaxSamplesPerBatch) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_samples: ", max_batch_samples, " is not in 1-10000"));
  }
  if (max_batch_bytes < kMinBatchBytes || max_batch_bytes > kMaxBatchBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch_bytes: ", max_batch_bytes, " is not in 65536-3145728"));
  }
  if (linger < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("linger: must not be negative");
  }
  if (max_batches_in_flight < 1 || max_batches_in_flight > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batches_in_flight: ", max_batches_in_flight, " is not in 1-1000"));
  }
  if (max_samples_in_flight < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_samples_in_flight: ", max_samples_in_flight, " is below 1"));
  }
  if (max_buffered_samples < max_batch_samples) {
    return absl::InvalidArgumentError(absl::StrCat("max_buffered_samples: ", max_buffered_samples,
                                                   " is below max_batch_samples (",
                                                   max_batch_samples, ")"));
  }
  if (max_buffered_bytes < max_batch_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("max_buffered_bytes: ", max_buffered_bytes,
                                                   " is below max_batch_bytes (", max_batch_bytes,
                                                   ")"));
  }
  if (block_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("block_timeout: must not be negative");
  }
  if (initial_backoff <= absl::ZeroDuration() || max_backoff < initial_backoff) {
    return absl::InvalidArgumentError(
        "initial_backoff, max_backoff: need 0 < initial_backoff <= max_backoff");
  }
  if (first_batch_sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_batch_sequence: ", first_batch_sequence,
                     " is past the contract's batch_sequence range (1-9223372036854775807)"));
  }
  if (exact_first_batch_sequence && first_batch_sequence == 0) {
    return absl::InvalidArgumentError(
        "first_batch_sequence: must be set (>= 1) with exact_first_batch_sequence");
  }
  if (call_options.deadline != absl::InfiniteFuture()) {
    return absl::InvalidArgumentError(
        "call_options.deadline: must be unset (the stream lives as long as the writer)");
  }
  // The metadata keys and values gRPC can carry (else the first Flush would fail).
  return internal::CheckCallMetadata(call_options);
}

class TelemetryBatchWriter::Core {
 public:
  Core(TelemetryClient client, std::shared_ptr<grpc::Channel> channel,
       TelemetryBatchWriterOptions options)
      : client_(std::move(client)), channel_(std::move(channel)), options_(std::move(options)) {
    next_sequence_ = options_.exact_first_batch_sequence
                         ? options_.first_batch_sequence
                         : std::max(options_.first_batch_sequence, MicrosNow());
    if (next_sequence_ == 0) next_sequence_ = 1;
  }

  void Start() {
    thread_ = std::thread([this] {
      Run();
      absl::MutexLock lock(&mu_);
      run_ended_ = true;
    });
  }

  const std::string& writer_id() const { return options_.writer_id; }

  absl::Status Add(tv1::Sample sample) {
    const int64_t bytes = WireBytes(sample);
    absl::MutexLock lock(&mu_);
    if (closing_) return absl::FailedPreconditionError("the writer is closed");
    if (!fatal_.ok()) return fatal_;
    // A batch of its own that large would be refused by the server, and sent again after
    // every reconnection (outside testing: a 5 MB text value held the writer until its
    // deadline). max_buffered_bytes is at least max_batch_bytes.
    if (bytes > options_.max_batch_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("sample: ", bytes,
                                                     " bytes is more than max_batch_bytes (",
                                                     options_.max_batch_bytes, ")"));
    }
    // A sample that would push the open batch past its byte limit starts the next one,
    // before room is looked for: the sealed batch can then be sent and make room
    // (outside testing: with an infinite linger and max_buffered_bytes = max_batch_bytes,
    // the open batch alone filled the buffer, and Add was refused for ever). The cut
    // depends on the samples only, never on timing.
    if (open_samples_ > 0 && open_bytes_ + bytes > options_.max_batch_bytes) SealLocked();
    auto fits = [this, bytes] {
      return buffered_samples_ < options_.max_buffered_samples &&
             buffered_bytes_ + bytes <= options_.max_buffered_bytes;
    };
    if (!fits()) {
      if (options_.when_full == TelemetryBatchWriterOptions::WhenFull::kFailFast) {
        return Full(bytes, absl::ZeroDuration());
      }
      auto room_or_end = [this, &fits] { return fits() || closing_ || !fatal_.ok(); };
      mu_.AwaitWithTimeout(absl::Condition(&room_or_end), options_.block_timeout);
      if (closing_) return absl::FailedPreconditionError("the writer is closed");
      if (!fatal_.ok()) return fatal_;
      if (!fits()) return Full(bytes, options_.block_timeout);
    }
    if (open_samples_ == 0) open_since_ = absl::Now();
    *open_.add_samples() = std::move(sample);
    ++open_samples_;
    open_bytes_ += bytes;
    buffered_samples_ += 1;
    buffered_bytes_ += bytes;
    ++stats_.samples_added;
    if (open_samples_ >= options_.max_batch_samples) SealLocked();
    return absl::OkStatus();
  }

  absl::Status Flush(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    if (given_up_) return absl::FailedPreconditionError("the writer is closed");
    SealLocked();
    if (sealed_.empty()) return fatal_;
    const uint64_t target = sealed_.back()->sequence;
    auto done = [this, target] {
      return sealed_.empty() || sealed_.front()->sequence > target || !fatal_.ok() || given_up_;
    };
    mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
    if (!fatal_.ok()) return fatal_;
    if (sealed_.empty() || sealed_.front()->sequence > target) return absl::OkStatus();
    if (given_up_) return absl::FailedPreconditionError("the writer was closed before the flush");
    return absl::DeadlineExceededError(absl::StrCat(
        "flush: ", buffered_samples_, " samples not yet acknowledged (",
        stats_.last_stream_error.empty() ? "waiting for the server" : stats_.last_stream_error,
        "); the writer keeps sending them"));
  }

  // `seal`: the batch being filled is sent (Close), or dropped with the rest (Stop).
  absl::Status Close(absl::Time deadline, bool seal) {
    std::lock_guard<std::mutex> close_lock(close_mu_);
    if (closed_) return close_result_;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      if (seal) SealLocked();
      auto done = [this] { return sealed_.empty() || !fatal_.ok(); };
      mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
      // Nothing unanswered: the stream is ended by a half-close, which the server answers
      // with OK once it has read it (cancelling a healthy ingest made the server log it as
      // CANCELLED). Otherwise, and for a server that has not answered by the deadline, the
      // stream is cancelled.
      half_close_ = sealed_.empty() && fatal_.ok();
      stopping_.store(true);
      if (half_close_) mu_.AwaitWithDeadline(absl::Condition(&run_ended_), deadline);
    }
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      if (stream_ != nullptr) stream_->Cancel();
    }
    if (thread_.joinable()) thread_.join();

    absl::MutexLock lock(&mu_);
    given_up_ = true;
    int64_t sent = 0;
    int64_t samples = 0;
    for (const auto& batch : sealed_) {
      samples += batch->samples;
      if (batch->written_before) sent += batch->samples;
    }
    const int64_t batches = static_cast<int64_t>(sealed_.size());
    const int64_t unsealed = open_samples_;  // the batch being filled, left so by Stop
    samples += unsealed;
    sealed_.clear();
    open_.Clear();
    open_samples_ = 0;
    open_bytes_ = 0;
    stats_.samples_abandoned += samples;
    buffered_samples_ = 0;
    buffered_bytes_ = 0;
    if (!fatal_.ok()) {
      close_result_ = fatal_;
      // How many the error left unstored (outside testing: Close returned the bare error,
      // and its samples were counted abandoned unsaid). The server answers every batch it
      // commits before it ends a stream with such an error, so what is unanswered was not
      // stored (re-test: "may be stored" beside the server's "were not stored").
      if (samples > 0) {
        close_result_ =
            absl::Status(fatal_.code(),
                         absl::StrCat(fatal_.message(), "; close: ", samples,
                                      " samples not acknowledged before this error are abandoned (",
                                      sent, " of them were sent; none of them was stored)"));
        fatal_.ForEachPayload([this](absl::string_view type_url, const absl::Cord& payload) {
          close_result_.SetPayload(type_url, payload);
        });
      }
    } else if (samples > 0) {
      // A channel that never connected sent nothing, whatever the writer handed to gRPC.
      const std::shared_ptr<internal::ConnectionHistory> history =
          internal::ConnectionHistoryOf(channel_.get());
      const bool never_connected = history != nullptr && !history->connected_before();
      close_result_ = absl::DeadlineExceededError(absl::StrCat(
          "close: ", samples - unsealed, " samples in ", batches,
          " batches were not acknowledged by the deadline and are abandoned (",
          never_connected ? "none was sent: no connection to the server was ever established, "
                            "its TLS handshake included (a refused client certificate ends "
                            "there)"
                          : absl::StrCat(sent, " of them were sent and may be stored"),
          ")",
          unsealed > 0
              ? absl::StrCat(", and ", unsealed, " samples of the batch being filled, never sent")
              : "",
          "; last stream error: ",
          stats_.last_stream_error.empty() ? "none" : stats_.last_stream_error));
    }
    closed_ = true;
    return close_result_;
  }

  TelemetryBatchWriterStats Stats() const {
    const std::shared_ptr<internal::ConnectionHistory> history =
        internal::ConnectionHistoryOf(channel_.get());
    absl::MutexLock lock(&mu_);
    TelemetryBatchWriterStats stats = stats_;
    stats.buffered_samples = buffered_samples_;
    stats.buffered_bytes = buffered_bytes_;
    stats.batches_in_flight = static_cast<int64_t>(written_);
    stats.server_never_reached = history != nullptr && !history->connected_before();
    return stats;
  }

  uint64_t next_batch_sequence() const {
    absl::MutexLock lock(&mu_);
    return next_sequence_;
  }

 private:
  struct Batch {
    uint64_t sequence = 0;
    tv1::IngestSamplesRequest request;  // immutable once sealed: written without the lock
    int samples = 0;
    int64_t bytes = 0;
    int64_t first_added = 0;      // how many samples Add took before its first
    bool written_before = false;  // written on an earlier stream (guarded by mu_)
  };

  struct StreamEnd {
    absl::Status status;
    bool answered = false;  // at least one batch was answered on it
  };

  absl::Status Full(int64_t bytes, absl::Duration waited) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the writer's buffer is full (", buffered_samples_, " of ", options_.max_buffered_samples,
        " samples, ", buffered_bytes_, " + ", bytes, " of ", options_.max_buffered_bytes, " bytes)",
        waited > absl::ZeroDuration() ? absl::StrCat(" for ", absl::FormatDuration(waited))
                                      : std::string(),
        "; the sample was not taken"));
  }

  // Turns the open batch into the next numbered batch.
  void SealLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (open_samples_ == 0) return;
    auto batch = std::make_shared<Batch>();
    batch->sequence = next_sequence_++;
    batch->samples = open_samples_;
    batch->bytes = open_bytes_;
    batch->first_added = stats_.samples_added - open_samples_;
    batch->request = std::move(open_);
    batch->request.set_writer_id(options_.writer_id);
    batch->request.set_batch_sequence(batch->sequence);
    sealed_.push_back(std::move(batch));
    open_.Clear();
    open_samples_ = 0;
    open_bytes_ = 0;
    ++open_generation_;
  }

  void SealIfLingeredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (open_samples_ > 0 && absl::Now() >= open_since_ + options_.linger) SealLocked();
  }

  // Waits until `ready()` or the writer stops, sealing the open batch when its linger
  // is over. False when stopping.
  template <typename Ready>
  bool WaitLocked(const Ready& ready) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (true) {
      SealIfLingeredLocked();
      if (stopping_.load()) return false;
      if (ready()) return true;
      // Wake at the open batch's linger, or when a new open batch begins.
      const bool open = open_samples_ > 0;
      const uint64_t generation = open_generation_;
      const absl::Time due = open ? open_since_ + options_.linger : absl::InfiniteFuture();
      auto wake = [&] {
        return stopping_.load() || ready() ||
               (open_samples_ > 0 && (!open || open_generation_ != generation));
      };
      mu_.AwaitWithDeadline(absl::Condition(&wake), due);
    }
  }

  // The sending thread: idle until a batch is sealed, then streams until the stream
  // ends; reopens it as the header's "Reconnecting" says.
  void Run() {
    absl::Duration backoff = absl::ZeroDuration();
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (!WaitLocked([this] { return !sealed_.empty(); })) return;
      }
      if (backoff > absl::ZeroDuration() && !SleepUnlessStopping(backoff)) return;
      if (!WaitForConnection()) return;
      const StreamEnd end = RunStream();
      if (stopping_.load()) return;
      absl::MutexLock lock(&mu_);
      if (sealed_.empty()) {
        backoff = absl::ZeroDuration();  // an idle stream ended (e.g. a draining server)
        continue;
      }
      ++stats_.stream_errors;
      // gRPC 1.51 ends a stream that meets a server as its shutdown begins with a bare
      // CANCELLED (this writer cancels none it goes on with).
      stats_.last_stream_error =
          end.status.code() == absl::StatusCode::kCancelled && end.status.message() == "CANCELLED"
              ? "CANCELLED: the server ended the stream as its shutdown began (gRPC says only "
                "CANCELLED); the batches it did not answer are sent again"
              : StatusLine(end.status);
      after_error_ = true;
      if (IsPermanent(end.status)) {
        fatal_ = IsOversizeRefusal(end.status)
                     ? absl::ResourceExhaustedError(absl::StrCat(
                           "a batch is larger than the server takes, which refused it unread (",
                           end.status.message(),
                           "): set max_batch_bytes below the server's "
                           "max-receive-message-bytes"))
                     : end.status;
        return;
      }
      backoff = end.answered                      ? absl::ZeroDuration()
                : backoff == absl::ZeroDuration() ? options_.initial_backoff
                                                  : std::min(backoff * 2, options_.max_backoff);
      // At least what the server asked for (a draining server, a full queue).
      backoff = std::max(backoff, RetryDelay(end.status).value_or(absl::ZeroDuration()));
    }
  }

  bool SleepUnlessStopping(absl::Duration duration) {
    absl::MutexLock lock(&mu_);
    auto stopping = [this] { return stopping_.load(); };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), duration);
    return !stopping_.load();
  }

  // With the writer's own channel: waits for it to connect (driving the reconnection),
  // checking for Close, where the SDK's streams would wait (see PrepareStreamContext);
  // elsewhere the stream is opened at once and reports the failure (e.g. TLS). False
  // when stopping.
  bool WaitForConnection() {
    if (channel_ == nullptr) return !stopping_.load();
    const std::shared_ptr<internal::ConnectionHistory> history =
        internal::ConnectionHistoryOf(channel_.get());
    while (!stopping_.load()) {
      const grpc_connectivity_state state = channel_->GetState(/*try_to_connect=*/true);
      if (state == GRPC_CHANNEL_READY || state == GRPC_CHANNEL_SHUTDOWN) return true;
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE &&
          (history == nullptr || !(history->connected_before() ||
                                   history->first_connection_failure() ==
                                       internal::ConnectionHistory::Failure::kUnreachable))) {
        return true;
      }
      channel_->WaitForStateChange(state, absl::ToChronoTime(absl::Now() + kConnectPollInterval));
    }
    return false;
  }

  // One stream: writes batches within the window while a reading thread takes the
  // answers, until the stream ends or the writer stops.
  StreamEnd RunStream() {
    std::unique_ptr<IngestStream> stream = client_.IngestSamples(options_.call_options);
    if (stream == nullptr) {
      // A connection that opens no stream: a mock without an action for IngestSamples
      // (outside testing: the test process ended with SIGSEGV, no message).
      StreamEnd end;
      end.status = absl::FailedPreconditionError(
          "the TelemetryService connection opened no IngestSamples stream (null; a mock "
          "connection without an action for IngestSamples?)");
      return end;
    }
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      stream_ = stream.get();
      if (stopping_.load()) stream->Cancel();
    }
    {
      absl::MutexLock lock(&mu_);
      reader_done_ = false;
      answered_ = false;
      protocol_error_ = absl::OkStatus();
    }
    std::thread reader([this, &stream] { ReadAnswers(stream.get()); });
    while (true) {
      std::shared_ptr<Batch> batch;
      bool first_time = false;
      {
        absl::MutexLock lock(&mu_);
        const bool go = WaitLocked([this] { return reader_done_ || WindowOpenLocked(); });
        if (!go || reader_done_) break;
        batch = sealed_[written_];
        ++written_;
        written_samples_ += batch->samples;
        first_time = !batch->written_before;
        // Counted before the write: its answer may arrive before Write returns.
        if (batch->written_before) {
          ++stats_.batches_resent;
        } else {
          ++stats_.batches_sent;
          stats_.samples_sent += batch->samples;
        }
      }
      if (first_time && options_.on_batch_sending) {
        options_.on_batch_sending({batch->sequence, batch->first_added, batch->samples});
      }
      if (!stream->Write(batch->request)) break;
    }
    // Stopping: end the call so that the reader's Next returns (Close cancels a half-closed
    // stream at its deadline). A failed write means the call has ended: the reader still
    // takes the answers that arrived before its status (cancelling would drop them, and
    // their batches would be sent again).
    if (stopping_.load()) {
      bool half_close = false;
      {
        absl::MutexLock lock(&mu_);
        half_close = half_close_;
      }
      if (half_close) {
        stream->WritesDone();
      } else {
        stream->Cancel();
      }
    }
    reader.join();
    {
      std::lock_guard<std::mutex> lock(stream_mu_);
      stream_ = nullptr;
    }
    StreamEnd end;
    end.status = stream->Finish();
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < written_ && i < sealed_.size(); ++i) sealed_[i]->written_before = true;
    written_ = 0;
    written_samples_ = 0;
    if (!protocol_error_.ok()) end.status = protocol_error_;
    if (end.status.ok()) {
      end.status = absl::UnavailableError("the server ended the stream with batches unanswered");
    }
    end.answered = answered_;
    return end;
  }

  // Whether the next sealed batch may be written: within both limits of the window, or
  // the first in flight whatever its size.
  bool WindowOpenLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (written_ >= sealed_.size()) return false;
    if (written_ == 0) return true;
    return written_ < static_cast<size_t>(options_.max_batches_in_flight) &&
           written_samples_ + sealed_[written_]->samples <= options_.max_samples_in_flight;
  }

  // The reading thread of one stream: matches each answer with the first batch in
  // flight and releases it.
  void ReadAnswers(IngestStream* stream) {
    tv1::IngestSamplesResponse response;
    bool mismatch = false;
    while (!mismatch && stream->Next(&response)) {
      std::vector<RejectedSampleReport> reports;
      std::shared_ptr<Batch> batch;
      {
        absl::MutexLock lock(&mu_);
        if (written_ == 0 || sealed_.empty() ||
            sealed_.front()->sequence != response.batch_sequence()) {
          protocol_error_ = absl::InternalError(absl::StrCat(
              "the server answered batch ", response.batch_sequence(), " while batch ",
              written_ == 0 || sealed_.empty() ? std::string("none")
                                               : absl::StrCat(sealed_.front()->sequence),
              " was the first unanswered one"));
          ++stats_.answers_out_of_order;
          mismatch = true;
          break;
        }
        batch = sealed_.front();
        answered_ = true;
        if (after_error_) {
          after_error_ = false;
          ++stats_.reconnects;
        }
        ++stats_.batches_acknowledged;
        stats_.samples_accepted += response.accepted_count();
        stats_.samples_duplicate += response.duplicate_count();
        stats_.samples_rejected += response.rejected_count();
        stats_.samples_late_for_state += response.late_state_count();
        int64_t reasons_given = 0;
        for (const tv1::RejectedSample& rejected : response.rejected_samples()) {
          ++stats_.rejected_by_reason[rejected.reason()];
          ++reasons_given;
          if (options_.on_rejected && rejected.index() >= 0 &&
              rejected.index() < batch->request.samples_size()) {
            RejectedSampleReport report;
            report.sample = batch->request.samples(rejected.index());
            report.reason = rejected.reason();
            report.message = rejected.message();
            report.batch_sequence = batch->sequence;
            report.index = rejected.index();
            report.added_index = batch->first_added + rejected.index();
            reports.push_back(std::move(report));
          }
        }
        // A count without its list still counts, under "unspecified".
        if (response.rejected_count() > reasons_given) {
          stats_.rejected_by_reason[tv1::REJECT_REASON_UNSPECIFIED] +=
              response.rejected_count() - reasons_given;
        }
      }
      // The batch is released after its reports: a Flush that returns has seen them.
      for (const RejectedSampleReport& report : reports) options_.on_rejected(report);
      absl::MutexLock lock(&mu_);
      sealed_.pop_front();
      --written_;
      written_samples_ -= batch->samples;
      buffered_samples_ -= batch->samples;
      buffered_bytes_ -= batch->bytes;
    }
    if (mismatch) stream->Cancel();
    absl::MutexLock lock(&mu_);
    reader_done_ = true;
  }

  TelemetryClient client_;
  std::shared_ptr<grpc::Channel> channel_;  // null when created over a client
  const TelemetryBatchWriterOptions options_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  // The batch being filled.
  tv1::IngestSamplesRequest open_ ABSL_GUARDED_BY(mu_);
  int open_samples_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t open_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time open_since_ ABSL_GUARDED_BY(mu_);
  uint64_t open_generation_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  // Sealed, unanswered batches by sequence; the first written_ are in flight on the
  // current stream.
  std::deque<std::shared_ptr<Batch>> sealed_ ABSL_GUARDED_BY(mu_);
  size_t written_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t written_samples_ ABSL_GUARDED_BY(mu_) = 0;  // in the first written_
  int64_t buffered_samples_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
  bool after_error_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status protocol_error_ ABSL_GUARDED_BY(mu_);
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool given_up_ ABSL_GUARDED_BY(mu_) = false;
  bool half_close_ ABSL_GUARDED_BY(mu_) = false;  // Close ends the stream by a half-close
  bool run_ended_ ABSL_GUARDED_BY(mu_) = false;   // the sending thread has returned
  // Set under mu_ (so that waiters see it), read without it where no lock is held.
  std::atomic<bool> stopping_{false};
  TelemetryBatchWriterStats stats_ ABSL_GUARDED_BY(mu_);

  std::mutex stream_mu_;
  IngestStream* stream_ = nullptr;  // the open stream, for Close

  std::mutex close_mu_;
  bool closed_ = false;
  absl::Status close_result_;
};

absl::StatusOr<std::unique_ptr<TelemetryBatchWriter>> TelemetryBatchWriter::Create(
    const ClientOptions& client_options, TelemetryBatchWriterOptions options) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  // No gRPC retry policy on the writer's channel: gRPC 1.51 retrying the stream replays
  // its batches out of order (a later batch committed first makes the server's
  // watermark skip the earlier one). The writer re-sends by sequence itself.
  ClientOptions own = client_options;
  own.retry.max_attempts = 1;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeChannel(own);
  if (!channel.ok()) return channel.status();
  TelemetryClient client(*channel, own);
  auto core = std::make_shared<Core>(std::move(client), *channel, std::move(options));
  core->Start();
  return std::unique_ptr<TelemetryBatchWriter>(new TelemetryBatchWriter(std::move(core)));
}

absl::StatusOr<std::unique_ptr<TelemetryBatchWriter>> TelemetryBatchWriter::Create(
    TelemetryClient client, TelemetryBatchWriterOptions options) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  auto core = std::make_shared<Core>(std::move(client), nullptr, std::move(options));
  core->Start();
  return std::unique_ptr<TelemetryBatchWriter>(new TelemetryBatchWriter(std::move(core)));
}

TelemetryBatchWriter::TelemetryBatchWriter(std::shared_ptr<Core> core) : core_(std::move(core)) {}

TelemetryBatchWriter::~TelemetryBatchWriter() {
  core_->Close(absl::InfinitePast(), /*seal=*/true).IgnoreError();
}

absl::Status TelemetryBatchWriter::Add(tv1::Sample sample) { return core_->Add(std::move(sample)); }

absl::Status TelemetryBatchWriter::Flush(absl::Time deadline) { return core_->Flush(deadline); }

absl::Status TelemetryBatchWriter::Close(absl::Time deadline) {
  return core_->Close(deadline, /*seal=*/true);
}

absl::Status TelemetryBatchWriter::Stop(absl::Time deadline) {
  return core_->Close(deadline, /*seal=*/false);
}

TelemetryBatchWriterStats TelemetryBatchWriter::Stats() const { return core_->Stats(); }

uint64_t TelemetryBatchWriter::next_batch_sequence() const { return core_->next_batch_sequence(); }

const std::string& TelemetryBatchWriter::writer_id() const { return core_->writer_id(); }

}  // namespace plantmesh::sdk
