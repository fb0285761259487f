// TelemetryBatchWriter: the piece a shop-floor adapter (MTConnect, Modbus/TCP) writes
// machine samples through. It buffers samples, cuts them into batches, sends the
// batches on one TelemetryService.IngestSamples stream, keeps every batch until the
// server acknowledges it, and re-sends the unacknowledged ones after a broken stream.
//
// Guarantees an adapter author can rely on
// ----------------------------------------
// - Exactly once for what is acknowledged. A batch is kept (and counted in the buffer)
//   until the server's answer for it arrives; the answer is sent after the batch is
//   committed. When the stream breaks (server restart or crash, GOAWAY, network cut,
//   UNAVAILABLE from a server whose database is away) the writer opens a new stream and
//   sends every unacknowledged batch again, in order, with its ORIGINAL batch_sequence.
//   The server answers a batch re-sent with the sequence and samples of one it committed
//   as a duplicate (counted in samples_duplicate), so a batch committed just before
//   the break is not stored twice: at-least-once sending + the server's dedup = each
//   sample of an acknowledged batch stored exactly once.
// - Order. Batches are numbered and sent in the order their samples were added, and
//   re-sent in that order; samples keep their Add order inside a batch. (The server
//   stores samples by their own `time`; order matters for the dedup watermark.)
// - Partial success. A batch's invalid samples are rejected one by one (unknown machine
//   or data item, wrong value kind, NaN, time out of range, bad text), the rest is
//   stored. Rejects are counted by reason (Stats) and handed to on_rejected with the
//   sample itself. A rejected sample is final: it is not sent again.
// - Nothing is dropped silently. Add either takes the sample (OK) or says why not
//   (RESOURCE_EXHAUSTED when the buffer stays full, FAILED_PRECONDITION after Close,
//   the writer's permanent error). Close reports what was not acknowledged by its
//   deadline (samples_abandoned); those samples may or may not have been stored (sent
//   but unanswered) and the writer forgets them.
// - Permanent errors stop the writer: a stream that ends with INVALID_ARGUMENT,
//   PERMISSION_DENIED, UNAUTHENTICATED (e.g. a refused client certificate, but not a
//   connection closed in the TLS handshake without an alert: IsUnconfirmedTlsRefusal),
//   UNIMPLEMENTED, FAILED_PRECONDITION, NOT_FOUND, ALREADY_EXISTS, OUT_OF_RANGE or
//   DATA_LOSS, or RESOURCE_EXHAUSTED for a batch over the server's
//   max-receive-message-bytes (keep max_batch_bytes below it), is not retried; Add,
//   Flush and Close then return that status and the unacknowledged samples stay counted
//   as buffered until Close, which abandons them (samples_abandoned) and says how many.
//   Every other ending (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
//   ABORTED, INTERNAL, UNKNOWN, CANCELLED by the peer, or the server ending the stream
//   while batches are unanswered) is retried forever, with backoff, until Close.
//
// Batch sequences across process restarts
// ---------------------------------------
// writer_id is the caller's and must be stable across restarts of the same source
// (e.g. `mtconnect-cnc07`) and unique to it: two live writers sharing an id get each
// other's sequences refused. The server's dedup is a watermark per writer (a batch
// below it is a duplicate only when it is a re-send, the same samples under a sequence
// on record; otherwise it is refused: FAILED_PRECONDITION or ALREADY_EXISTS, which stop
// the writer), so the first batch after a restart must be numbered above every batch the
// writer sent before. By default the writer starts at the current time in microseconds
// since the Unix epoch (about 1.7e15 today) and counts up by one per batch: a process
// restarted later starts above anything an earlier one can have reached unless it cut
// more than one batch per microsecond on average (500 M samples/s). This needs no
// storage on the adapter, which is why it is the default. Its one weakness is a host
// clock stepped backwards across the restart: the first batch cut before the clock
// catches up with the old sequences would be refused and the writer stopped. An adapter
// that cannot rule that out persists a sequence above every batch the writer can number
// before the next persist — next_batch_sequence() plus more batches than are cut between
// two persists, e.g. + 1,000,000 with every flush — and passes it back as
// first_batch_sequence; the writer then starts at the larger of that and the clock.
// next_batch_sequence() alone is not enough (outside testing: batches cut after it was
// persisted committed before a crash, and the restarted writer's first batch reused a
// sequence: ALREADY_EXISTS, the writer stopped).
//
// What an adapter restart keeps, and what it may store twice
// ----------------------------------------------------------
// Samples are acknowledged in Add order: the first Stats().samples_acknowledged() samples
// an adapter added are stored (or rejected) for good, so an adapter that checkpoints that
// number with its source's position resumes after a restart at the first sample not
// acknowledged. What was in flight when the process died (sent, maybe committed, not yet
// answered) is sent again by the new process under new batch sequences, and what of it
// had committed is stored twice: exactly once holds within one writer process,
// at-least-once across its restarts (outside testing: 2,500 samples in flight at a kill
// were stored twice). Keep the in-flight window small where that matters
// (max_samples_in_flight), and give samples the source's own sequence (source_sequence,
// e.g. MTConnect's `sequence`), by which a reader can tell a repeat.
//
// Flow control and units
// -----------------------
// The buffer holds every sample not yet acknowledged: the batch being filled, sealed
// batches waiting for the window and batches in flight. Its size is counted in samples
// and in bytes (the samples' protobuf wire size, as they travel in the batch). When
// either limit would be exceeded Add blocks up to block_timeout, or fails at once, as
// `when_full` says; in both cases a sample that does not fit is not taken and Add
// returns RESOURCE_EXHAUSTED. A batch is cut when it reaches max_batch_samples or
// max_batch_bytes, or `linger` after its first sample was added, or on Flush/Close.
// Batches are sent ahead of their answers up to a window of max_batches_in_flight
// batches holding at most max_samples_in_flight samples (a batch larger than that goes
// alone). The window is in samples because the server commits the batches waiting for it
// in one transaction, whose cost is mostly per transaction: small batches need more of
// them in flight to fill one (measured: bench/README.md, B2).
//
// Reconnecting
// ------------
// With Create(ClientOptions, ...) the writer has its own channel (MakeChannel): gRPC's
// reconnect backoff is ClientOptions::reconnect's (short after a working connection)
// and opening a stream waits for the connection (wait-for-ready), so a server that is
// back after 0.2 s is used after about 0.2 s. That channel has no gRPC retry policy
// (ClientOptions::retry is ignored): gRPC 1.51 retrying the stream itself was seen to
// deliver a later batch before an earlier one, and the server then refuses the earlier
// one as out of order. Re-sending is the writer's, by sequence. A stream the server
// ends with an error on a working connection is reopened after `initial_backoff`, doubling to
// `max_backoff` while no answer arrives; after a stream that was answered, at once; never
// sooner than the delay the server asked for (RetryDelay in status.h: a draining server
// asks for a second).
//
// Threads
// -------
// Add, Flush, Stats and next_batch_sequence may be called from any number of threads
// at once; Close from any thread (once; later calls return the first result). The
// writer runs two threads of its own while a stream is open (one sends, one reads the
// answers). on_rejected runs on the reading thread: it must return quickly and must
// not call Add, Flush or Close (they may wait for that very thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plantmesh/sdk/call_options.h"
#include "plantmesh/sdk/client_options.h"
#include "plantmesh/telemetry/v1/telemetry_service.pm_client.h"

namespace plantmesh::sdk {

// A sample the server refused, with the sample itself.
struct RejectedSampleReport {
  ::plantmesh::telemetry::v1::Sample sample;
  ::plantmesh::telemetry::v1::RejectReason reason =
      ::plantmesh::telemetry::v1::REJECT_REASON_UNSPECIFIED;
  std::string message;          // the server's words, naming the field
  uint64_t batch_sequence = 0;  // the batch it travelled in
  int index = 0;                // its index in that batch, from 0
  int64_t added_index = 0;      // its place among the samples Add took, from 0 (a file row)
};

// A batch about to be sent for the first time (TelemetryBatchWriterOptions
// .on_batch_sending).
struct BatchSending {
  uint64_t batch_sequence = 0;
  int64_t first_added_index = 0;  // its first sample's place among the samples Add took, from 0
  int sample_count = 0;           // its samples: Add's [first_added_index, + sample_count)
};

struct TelemetryBatchWriterOptions {
  // The writer's stable id (see "Batch sequences across process restarts"); 1-128
  // characters, no control characters. Required.
  std::string writer_id;
  // Sequence of the first batch; 0 (the default): microseconds since the Unix epoch
  // now. When set, the writer starts at the larger of it and that clock value...
  uint64_t first_batch_sequence = 0;
  // ...or, with this set, at first_batch_sequence itself (>= 1): for an input sent again
  // whole (a file an import sends once more after a failure). With linger infinite the
  // batches are then the same as the first time — cut by count and size only, numbered
  // alike — and the server answers those it committed as duplicates (within its
  // [telemetry] batch-record-hours; after that it refuses them: FAILED_PRECONDITION)
  // instead of storing them twice; other samples under a committed sequence are refused
  // (ALREADY_EXISTS). Both stop the writer.
  bool exact_first_batch_sequence = false;

  // A batch is cut at this many samples (1-10,000, the contract's limit per batch)...
  int max_batch_samples = 500;
  // ...or before it would grow past this many bytes (64 KiB - 3 MiB; a sample larger
  // than this is refused by Add; below the server's max-receive-message-bytes, 4 MiB by
  // default, which refuses a larger message unread: the writer then stops)...
  int64_t max_batch_bytes = 1024 * 1024;
  // ...or this long after its first sample was added (>= 0; 0: at once, the batch
  // holds what was added before the sending thread looked).
  absl::Duration linger = absl::Milliseconds(50);
  // Batches sent and not yet answered, at most (1-1,000)...
  int max_batches_in_flight = 64;
  // ...holding at most this many samples (>= 1; the first batch in flight may hold more).
  int64_t max_samples_in_flight = 16'000;

  // Buffer limits (see "Flow control"): samples (>= max_batch_samples) and bytes
  // (>= max_batch_bytes).
  int64_t max_buffered_samples = 200'000;
  int64_t max_buffered_bytes = 64 * 1024 * 1024;
  // What Add does when a sample does not fit.
  enum class WhenFull {
    kBlock,     // wait for room up to block_timeout, then RESOURCE_EXHAUSTED
    kFailFast,  // RESOURCE_EXHAUSTED at once
  };
  WhenFull when_full = WhenFull::kBlock;
  absl::Duration block_timeout = absl::Seconds(10);

  // Wait before reopening a stream the server ended with an error, doubling up to
  // max_backoff while no answer arrives (see "Reconnecting").
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);

  // Metadata for each stream (e.g. an x-request-id); its deadline must be left unset.
  CallOptions call_options;
  // Called for every rejected sample (optional; see "Threads").
  std::function<void(const RejectedSampleReport&)> on_rejected;
  // Called on the sending thread just before each batch is sent for the first time (not
  // for its re-sends), optional. An adapter that must send nothing twice across its own
  // restart records here, durably, the batch's sequence with its source's position after
  // the batch's last sample. After a restart, TelemetryClient::ResumeIngestWriter with
  // the highest sequence recorded as the fence gives the last batch the server committed
  // (every batch up to it committed, none after, and none of the earlier run's commits
  // later); the adapter resumes at the position it recorded for that batch, with
  // first_batch_sequence above the fence (README: "Exactly once across an adapter's
  // restart"). While it runs the batch and those after it wait; it must not call Add,
  // Flush or Close.
  std::function<void(const BatchSending&)> on_batch_sending;

  // INVALID_ARGUMENT naming the first bad option.
  absl::Status Validate() const;
};

// What a writer did so far. Counters only grow; the buffer figures are current.
struct TelemetryBatchWriterStats {
  int64_t samples_added = 0;         // taken by Add
  int64_t batches_sent = 0;          // batches handed to a stream for the first time (gRPC
                                     // may still be waiting for a connection)
  int64_t samples_sent = 0;          // their samples
  int64_t batches_resent = 0;        // writes of a batch again, on a new stream
  int64_t batches_acknowledged = 0;  // answered by the server
  int64_t samples_accepted = 0;      // stored now
  int64_t samples_duplicate = 0;     // recognised as stored before (a re-sent batch)
  int64_t samples_rejected = 0;      // refused, see rejected_by_reason
  // Of samples_accepted, state samples (EXECUTION, AVAILABILITY, EMERGENCY_STOP, CONDITION)
  // older than the time their machine's state timeline had reached when they arrived
  // (IngestSamplesResponse.late_state_count): stored, but the timeline settled before them
  // is not rewritten, so ListStateIntervals, GetUtilization and ListDowntimes do not show
  // them at their own time. Non-zero: another source of the machine's states ran ahead of
  // this one by more than the server's state-reorder-seconds (README, Telemetry: machine
  // states).
  int64_t samples_late_for_state = 0;
  std::map<::plantmesh::telemetry::v1::RejectReason, int64_t> rejected_by_reason;
  int64_t stream_errors = 0;      // streams that ended before every batch was answered
  int64_t reconnects = 0;         // streams answered again after such an error
  std::string last_stream_error;  // StatusLine of the latest one; empty if none
  // Answers that named another batch than the first one in flight (the stream is then
  // ended and re-opened). Never expected: the server commits a stream's batches in
  // order; a non-zero figure means the server and the writer disagree on the order.
  int64_t answers_out_of_order = 0;
  int64_t buffered_samples = 0;   // not yet acknowledged (open, waiting and in flight)
  int64_t buffered_bytes = 0;     // their wire size
  int64_t batches_in_flight = 0;  // sent on the current stream, not yet answered
  // Given up by Close: those not acknowledged by its deadline, or, after a permanent
  // error, those it left unacknowledged (Close's status says how many).
  int64_t samples_abandoned = 0;
  // The writer's own channel (Create with ClientOptions) never connected: nothing reached
  // the server, whatever samples_sent says. False with a channel of the caller's.
  bool server_never_reached = false;

  // Samples answered (accepted + duplicate + rejected).
  int64_t samples_acknowledged() const {
    return samples_accepted + samples_duplicate + samples_rejected;
  }
};

class TelemetryBatchWriter {
 public:
  // A writer with its own channel to options' endpoint (MakeChannel); INVALID_ARGUMENT
  // for bad client or writer options.
  static absl::StatusOr<std::unique_ptr<TelemetryBatchWriter>> Create(
      const ClientOptions& client_options, TelemetryBatchWriterOptions options);
  // A writer over `client` (any connection, e.g. a mock in an adapter's unit test); the
  // connection decides how a stream waits for a connection. Its channel must not retry
  // IngestSamples by gRPC policy (one from MakeChannel does: see "Reconnecting").
  static absl::StatusOr<std::unique_ptr<TelemetryBatchWriter>> Create(
      TelemetryClient client, TelemetryBatchWriterOptions options);

  // Close(absl::Now()) if Close was not called: unacknowledged samples are abandoned.
  ~TelemetryBatchWriter();
  TelemetryBatchWriter(const TelemetryBatchWriter&) = delete;
  TelemetryBatchWriter& operator=(const TelemetryBatchWriter&) = delete;

  // Takes one sample into the buffer. OK: the writer owns it and will deliver it (or
  // report it rejected, or abandoned by Close). RESOURCE_EXHAUSTED: the buffer is full
  // (at once, or after block_timeout, as when_full says). INVALID_ARGUMENT: the sample
  // alone is larger than max_batch_bytes (no batch could carry it; the contract's
  // longest sample is a few kilobytes). FAILED_PRECONDITION: after Close began.
  // The writer's permanent error, once it has one. The sample is not validated here:
  // the server judges it.
  absl::Status Add(::plantmesh::telemetry::v1::Sample sample);

  // Sends what is buffered now without waiting for linger and waits until every
  // sample added before the call is acknowledged. OK; DEADLINE_EXCEEDED at `deadline`
  // (nothing is lost: the writer keeps sending); the permanent error; or
  // FAILED_PRECONDITION once Close has given up.
  absl::Status Flush(absl::Time deadline);

  // Stops taking samples, sends what is buffered, waits until everything is
  // acknowledged or `deadline`, then ends the stream and the writer's threads: with
  // everything acknowledged by a half-close the server answers (its call ends OK), else
  // (and past `deadline`) by cancelling the call. OK when
  // everything was acknowledged; DEADLINE_EXCEEDED naming how many samples (and how
  // many of them were sent) were abandoned, also counted in samples_abandoned; or the
  // permanent error. Returns by `deadline` (a stream still waiting for a connection is
  // cancelled then).
  absl::Status Close(absl::Time deadline);

  // Close without sealing the batch being filled (so a batch is only ever sent whole, as
  // count and size cut it: an input sent again with exact_first_batch_sequence finds the
  // same batches): the whole batches are sent and waited for until `deadline` (by
  // default none: at once), then what is unanswered is abandoned as by Close, and the
  // batch being filled with it (its samples never sent, counted in samples_abandoned and
  // named apart in the DEADLINE_EXCEEDED message).
  absl::Status Stop(absl::Time deadline = absl::InfinitePast());

  TelemetryBatchWriterStats Stats() const;

  // The sequence the next batch will get. Not a value to persist as it is: batches cut
  // after reading it get higher ones. To restart above every batch this writer numbers
  // before your next persist, persist this plus more batches than are cut between two
  // persists (e.g. + 1,000,000) and pass that back as first_batch_sequence ("Batch
  // sequences across process restarts" above; outside testing: this value persisted
  // alone made the restarted writer reuse a sequence, ALREADY_EXISTS).
  uint64_t next_batch_sequence() const;

  const std::string& writer_id() const;

 private:
  class Core;
  explicit TelemetryBatchWriter(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace plantmesh::sdk
