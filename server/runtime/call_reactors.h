// gRPC callback-API reactors for every method kind, used by the generated server bases
// (<file>.pm_server.cc): each entry point is one call to StartUnaryCall,
// StartServerStream, StartClientStream or StartBidiStream.
//
// Every kind runs the same steps: CallPolicy::Begin on gRPC's thread (identity,
// authorization; a refusal finishes the call there), the handler and every step of a
// stream on the Executor (never on gRPC's threads), then CallPolicy::End (audit,
// metrics, log line, the one absl -> gRPC status mapping) with the status the call ends
// with, whatever ended it: the handler, the client leaving, or the drain. The one
// exception is a unary method whose service declared its handler non-blocking
// (MethodBinding::run_inline, e.g. SystemService.WhoAmI): the same steps, in the same
// order, run on gRPC's thread — the executor's two thread switches per call were most
// of what our runtime added to a no-op call (bench/README.md, B4).
//
// Requests arrive as bytes (the generated bases register them so) and are decoded and
// checked against the contract's input rules by DecodeRequest (request_decoding.h) on
// the executor: a unary request before its handler, a server stream's request before
// its handler opens the stream, each message of a client or bidirectional stream just
// before the stream's OnMessage. A refused request ends the call with that
// INVALID_ARGUMENT and is audited with what was sent (RefusedRequestAuditJson); the
// handler never sees it, and the rest of the stream is not read. A bidirectional stream
// first sends what its source has at hand (the answers to the messages before it), as
// it does when OnMessages fails.
//
// Streams keep one read and one write outstanding. A server stream pulls from its
// StreamSource while fewer than kStreamBuffer messages are queued (kSharedStreamBuffer
// for a SharedMessageSource), then writes the first; a client stream reads its next
// message when the StreamSink has taken the previous one, and so does a bidi stream
// unless it reads ahead (BidiStream::ReadAhead): then reading goes on while its
// messages are handled, and those that arrived meanwhile are handed over together. A
// stream that waits (for its client, or a source that said kPending) holds no thread.
//
// Responses are written as bytes (the generated bases register them so): a typed message
// is serialized on the executor when the source returns it; a SharedMessageSource's
// bytes, serialized once for every stream that sends them, are written as they are. A
// message with more queued behind it is written with gRPC's buffer hint (the transport
// may hold its bytes until a later write: fewer frames, TLS records and syscalls); the
// last one queued never is, so nothing is held back.
//
// Drain (shutdown.h): when draining begins, each stream's source hears OnDrain (long-
// lived sources end themselves with UNAVAILABLE and a resume cursor; finite ones carry
// on); when the drain window is over, every stream still open ends with UNAVAILABLE
// (after the write in progress, if any) and its CallContext turns Cancelled(). Unary
// calls are never finished before their handler returned (it uses the request and
// response); past the window gRPC's Server::Shutdown deadline cancels them.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "plantmesh/common/status_macros.h"
#include "server/runtime/call_context.h"
#include "server/runtime/call_policy.h"
#include "server/runtime/errors.h"
#include "server/runtime/executor.h"
#include "server/runtime/request_decoding.h"
#include "server/runtime/shutdown.h"
#include "server/runtime/streams.h"
#include "server/runtime/tsan_handoff.h"

namespace plantmesh::runtime {

// What a generated entry point passes about its method. Pointers outlive the server.
struct MethodBinding {
  CallPolicy* policy;
  Executor* executor;
  const char* method;  // fully qualified, e.g. "plantmesh.defect.v1.DefectService.GetDefect"
  // Unary only: the handler runs on gRPC's callback thread right after Begin instead of
  // on the executor (the generated base's Run<Method>Inline). For handlers that never
  // block and whose requests are small: it saves two thread switches per call, and a
  // handler that blocked would stall every connection that thread serves.
  bool run_inline = false;
};

namespace internal {

// A unary call's reactor in TSan builds only: gRPC's default one (nothing to do on
// cancellation) plus the mark that orders the handler's response, written and
// serialized on the executor, before gRPC destroys it after OnDone on its own thread
// (tsan_handoff.h). Deletes itself. Other builds keep gRPC's default reactor (no
// allocation per call).
class UnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit UnaryReactor(grpc_call* c_call) : c_call_(c_call) {}
  void OnDone() override {
    TsanAcquire(TsanOnDoneOf(this));
    TsanAcquire(TsanSendsOf(c_call_));
    TsanAcquire(TsanReceivesOf(c_call_));
    delete this;
  }
  // OnDone may run on the thread that completed the call, as the default reactor's.
  bool InternalInlineable() override { return true; }

 private:
  grpc_call* const c_call_;
};

// The reactor of a unary call: gRPC's default, or in a TSan build our own.
inline grpc::ServerUnaryReactor* NewUnaryReactor(grpc::CallbackServerContext* context) {
  if constexpr (kTsanBuild) return new UnaryReactor(context->c_call());
  return context->DefaultReactor();
}

// A unary call whose request message never came: the client cancelled (reset) the call
// before sending it, or half-closed without one. Which, gRPC says only through OnCancel,
// and only while the call is not finished (it counts a call the server answered as not
// cancelled), so the reactor waits for OnCancel up to kNoRequestWait, then answers
// INVALID_ARGUMENT (the client half-closed). The call is recorded as its client ended it
// (outside testing: 909 of 2,000 calls cancelled after their headers were audited and
// counted as the client's INVALID_ARGUMENT). Deletes itself once OnDone and the alarm's
// callback both ran.
inline constexpr absl::Duration kNoRequestWait = absl::Seconds(5);

class NoRequestReactor final : public grpc::ServerUnaryReactor {
 public:
  NoRequestReactor(grpc::CallbackServerContext* context, CallPolicy* policy,
                   std::shared_ptr<CallContext> call, absl::Status no_message)
      : c_call_(context->c_call()),
        policy_(policy),
        call_(std::move(call)),
        no_message_(std::move(no_message)) {
    TsanRelease(&tsan_created_);  // before OnCancel and the alarm's callback
    alarm_.Set(absl::ToChronoTime(absl::Now() + kNoRequestWait), [this](bool fired) {
      TsanAcquire(&tsan_created_);
      if (fired) End(no_message_);
      Unref();
    });
  }
  void OnCancel() override {
    TsanAcquire(&tsan_created_);
    End(absl::CancelledError("the call was cancelled before its request came"));
  }
  void OnDone() override {
    TsanAcquire(TsanOnDoneOf(this));
    TsanAcquire(TsanSendsOf(c_call_));
    TsanAcquire(TsanReceivesOf(c_call_));
    alarm_.Cancel();  // its callback runs (not fired) and drops its reference
    Unref();
  }

 private:
  // Records and finishes the call once, with `status`.
  void End(const absl::Status& status) {
    if (ended_.exchange(true)) return;
    Finish(policy_->End(*call_, status, nullptr));
  }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  grpc_call* const c_call_;
  CallPolicy* const policy_;
  const std::shared_ptr<CallContext> call_;
  const absl::Status no_message_;
  std::atomic<bool> ended_{false};
  std::atomic<int> refs_{2};  // OnDone's, the alarm callback's
  char tsan_created_ = 0;     // a sync address only (tsan_handoff.h)
  grpc::Alarm alarm_;
};

}  // namespace internal

namespace internal {

// A unary call's steps after Begin admitted it: decode and check the request, run the
// handler (unless the call already ended), End, Finish.
template <class Request, class Response, class Handler>
void RunUnaryCall(CallContext& call, CallPolicy* policy, grpc::ServerUnaryReactor* reactor,
                  const grpc::ByteBuffer* request_bytes, Response* response, Handler& handler) {
  Request request;
  absl::Status decoded = DecodeRequest(*request_bytes, &request);
  call.NoteRequestId(request);
  if (!decoded.ok()) {
    if (call.audited) call.AuditRefusedRequest(RefusedRequestAuditJson(*request_bytes, request));
    reactor->Finish(policy->End(call, decoded, nullptr));
    return;
  }
  absl::Status status = call.Cancelled() ? call.EndedStatus("the call ended before it started")
                                         : handler(call, request, response);
  if (status.ok() && response->ByteSizeLong() > policy->MaxResponseBytes()) {
    const size_t bytes = response->ByteSizeLong();
    response->Clear();
    status = ResponseTooLarge(bytes, policy->MaxResponseBytes());
  }
  reactor->Finish(policy->End(call, status, &request));
}

}  // namespace internal

// Unary: `handler(CallContext&, const Request&, Response*) -> absl::Status` runs on the
// executor with the request decoded from `request_bytes`; RESOURCE_EXHAUSTED without
// running it when the executor's queue is full. With binding.run_inline the same steps
// run on gRPC's thread, in this call, and the executor is not involved.
template <class Request, class Response, class Handler>
grpc::ServerUnaryReactor* StartUnaryCall(grpc::CallbackServerContext* context,
                                         const MethodBinding& binding,
                                         const grpc::ByteBuffer* request_bytes, Response* response,
                                         Handler handler) {
  CallPolicy* policy = binding.policy;
  grpc::ServerUnaryReactor* reactor;
  if (!request_bytes->Valid()) {
    auto call = std::make_shared<CallContext>();
    grpc::Status begun = policy->Begin(context, binding.method, call.get());
    if (!begun.ok()) {
      reactor = internal::NewUnaryReactor(context);
      reactor->Finish(begun);
      return reactor;
    }
    return new internal::NoRequestReactor(
        context, policy, std::move(call),
        absl::InvalidArgumentError(
            absl::StrCat("the call carries no ", Request::descriptor()->full_name(), " message")));
  }
  reactor = internal::NewUnaryReactor(context);
  if (binding.run_inline) {
    CallContext call;  // ends with this function: the call is finished by then
    grpc::Status begun = policy->Begin(context, binding.method, &call);
    if (!begun.ok()) {
      reactor->Finish(begun);
      return reactor;
    }
    internal::RunUnaryCall<Request>(call, policy, reactor, request_bytes, response, handler);
    return reactor;
  }
  auto call = std::make_shared<CallContext>();
  grpc::Status begun = policy->Begin(context, binding.method, call.get());
  if (!begun.ok()) {
    reactor->Finish(begun);
    return reactor;
  }
  absl::Status queued = binding.executor->Submit(
      [call, policy, reactor, request_bytes, response, handler = std::move(handler)]() mutable {
        internal::RunUnaryCall<Request>(*call, policy, reactor, request_bytes, response, handler);
      });
  // Not decoded yet: audited without the request.
  if (!queued.ok()) reactor->Finish(policy->End(*call, queued, nullptr));
  return reactor;
}

namespace internal {

enum class StreamShape { kServer, kClient, kBidi };

// gRPC's reactor base of each shape (requests read as bytes), its reactions forwarded to
// Impl::ReadDone and Impl::WriteDone (only the shapes that have them).
template <class Impl, StreamShape kShape, class Request, class Response>
class ReactorOf;

template <class Impl, class Request, class Response>
class ReactorOf<Impl, StreamShape::kServer, Request, Response>
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  void OnWriteDone(bool ok) override { static_cast<Impl*>(this)->WriteDone(ok); }
};

template <class Impl, class Request, class Response>
class ReactorOf<Impl, StreamShape::kClient, Request, Response>
    : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  void OnReadDone(bool ok) override { static_cast<Impl*>(this)->ReadDone(ok); }
};

template <class Impl, class Request, class Response>
class ReactorOf<Impl, StreamShape::kBidi, Request, Response>
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  void OnReadDone(bool ok) override { static_cast<Impl*>(this)->ReadDone(ok); }
  void OnWriteDone(bool ok) override { static_cast<Impl*>(this)->WriteDone(ok); }
};

// A message queued for writing: serialized for this stream, or shared with others.
struct Outgoing {
  grpc::ByteBuffer own;
  std::shared_ptr<const grpc::ByteBuffer> shared;
  const grpc::ByteBuffer* bytes() const { return shared != nullptr ? shared.get() : &own; }
};

// What a stream handler returned.
template <class Request, class Response>
struct StreamParts {
  std::unique_ptr<StreamSource<Response>> source;       // server streams
  std::unique_ptr<StreamSink<Request, Response>> sink;  // client streams
  std::unique_ptr<BidiStream<Request, Response>> bidi;  // bidirectional
};

// One streaming call. Owned by itself: one reference for gRPC (dropped in OnDone), one
// while a step is queued or running on the executor, one during each StreamControl::Wake.
template <StreamShape kShape, class Request, class Response>
class StreamCall final
    : public ReactorOf<StreamCall<kShape, Request, Response>, kShape, Request, Response>,
      public DrainListener,
      public StreamTarget {
 public:
  static constexpr bool kReads = kShape != StreamShape::kServer;
  static constexpr bool kWrites = kShape != StreamShape::kClient;
  using Parts = StreamParts<Request, Response>;
  // Runs the handler; gets the server stream's decoded request (else an empty one).
  using Opener = std::function<absl::Status(CallContext&, const Request&, Parts&)>;

  // `request_bytes`: the server stream's request (else null); `response`: the client
  // stream's response (else null). Both owned by gRPC until OnDone.
  StreamCall(grpc::CallbackServerContext* context, const MethodBinding& binding,
             const grpc::ByteBuffer* request_bytes, Response* response, Opener opener)
      : binding_(binding),
        c_call_(context->c_call()),
        request_bytes_(request_bytes),
        response_(response),
        opener_(std::move(opener)),
        handle_(std::make_shared<StreamControl::Handle>()) {
    handle_->target = this;
    grpc::Status begun = binding_.policy->Begin(context, binding_.method, &call_);
    if (!begun.ok()) {
      finish_requested_ = finish_issued_ = true;
      this->Finish(begun);
      return;
    }
    admitted_ = true;
    call_.end_stream = [control = StreamControl(handle_)](absl::Status status) {
      control.End(std::move(status));
    };
    // The strand's step is counted before the drain can see the call: a drain
    // deadline that ends it at once must find the step scheduled (under mu_, as it reads
    // it), not finish the call under it.
    refs_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(mu_);
      strand_scheduled_ = true;
    }
    AddDrainListener(this);
    absl::Status queued = binding_.executor->Submit([this] { RunStrand(); });
    if (!queued.ok()) {
      FinishOps ops;
      {
        std::lock_guard<std::mutex> lock(mu_);
        strand_scheduled_ = false;
        RequestFinishLocked(queued);
        ops = TakeFinishLocked();
      }
      Execute(ops);
      Unref();
      return;
    }
    TsanRelease(&tsan_created_);  // before OnCancel
  }

  // gRPC's reactions (gRPC's threads; never block). ReadDone and WriteDone arrive
  // through ReactorOf, for the shapes that read or write. Each acquires what it follows
  // and releases for OnDone: gRPC orders them inside libgrpc, where TSan does not see
  // it (tsan_handoff.h).
  void ReadDone(bool ok) {
    TsanAcquire(TsanReceivesOf(c_call_));  // the StartRead
    if constexpr (kReads) {
      bool schedule;
      bool read_more = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (ok) {
          read_ahead_bytes_ += read_buffer_.Length();
          read_ahead_.emplace_back();
          read_ahead_.back().Swap(&read_buffer_);
          // A stream that reads ahead reads on while the strand is busy with the
          // messages before (ReadAhead, streams.h); the others wait for the strand.
          read_more = !finish_requested_ && !read_failed_ && read_ahead_.size() < max_read_ahead_ &&
                      read_ahead_bytes_ < max_read_ahead_bytes_;
        } else {
          reads_done_ = true;  // half-close, or cancellation (OnCancel follows)
        }
        read_outstanding_ = read_more;
        read_starting_ = read_more;  // no Finish until StartRead returned
        schedule = MaybeScheduleLocked();
      }
      if (read_more) {
        this->StartRead(&read_buffer_);
        FinishOps ops;
        {
          std::lock_guard<std::mutex> lock(mu_);
          read_starting_ = false;
          ops = TakeFinishLocked();
        }
        Execute(ops);
      }
      if (schedule) ScheduleStrand();
    }
    TsanRelease(&tsan_reacted_);
  }

  void WriteDone(bool ok) {
    TsanAcquire(TsanSendsOf(c_call_));  // the StartWrite (its message serialized)
    if constexpr (kWrites) {
      const Outgoing* next = nullptr;
      bool more_follow = false;
      bool schedule = false;
      FinishOps ops;
      {
        std::lock_guard<std::mutex> lock(mu_);
        write_outstanding_ = false;
        wrote_once_ = true;
        queue_.pop_front();
        if (!ok) {
          call_.EndByServer();
          RequestFinishLocked(absl::CancelledError("the client left before the stream ended"));
        } else if (!finish_requested_ && !queue_.empty()) {
          write_outstanding_ = true;
          next = &queue_.front();  // deque: stays put while the strand appends
          more_follow = MoreFollowLocked();
        } else if (!finish_requested_ && source_ended_) {
          RequestFinishLocked(end_status_);
        }
        schedule = MaybeScheduleLocked();
        ops = TakeFinishLocked();
      }
      if (next != nullptr) StartWriteOf(*next, more_follow);
      if (schedule) ScheduleStrand();
      Execute(ops);
    }
    TsanRelease(&tsan_reacted_);
  }

  void OnCancel() override {
    TsanAcquire(&tsan_created_);
    FinishOps ops;
    {
      std::lock_guard<std::mutex> lock(mu_);
      call_.EndByServer();
      RequestFinishLocked(call_.EndedStatus("the client cancelled the call or left"));
      ops = TakeFinishLocked();
    }
    Execute(ops);
    TsanRelease(&tsan_reacted_);
  }

  void OnDone() override {
    // After every reaction, operation and Finish, and every callback of gRPC's for
    // this call (its finish tag's included).
    TsanAcquire(TsanOnDoneOf(this));
    TsanAcquire(&tsan_reacted_);
    TsanAcquire(TsanSendsOf(c_call_));
    TsanAcquire(TsanReceivesOf(c_call_));
    {
      // gRPC frees the call's context after this returns: EndWith no longer cancels it.
      std::lock_guard<std::recursive_mutex> lock(context_mu_);
      context_alive_ = false;
    }
    if (admitted_) RemoveDrainListener(this);
    Unref();
  }

  // DrainListener (the draining thread).
  void OnDrainStart() override {
    StreamSource<Response>* source = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      drain_started_ = true;
      if (source_ != nullptr && !drain_delivered_) {
        drain_delivered_ = true;
        source = source_;
      }
    }
    if (source != nullptr) source->OnDrain();
  }

  void OnDrainDeadline() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A client stream's last step (its commit) decides the outcome: the window's end
      // does not answer for it, the step does when it returns (re-test: an import told
      // "retry on another replica" committed 8 s later, over the newer data of that
      // retry). A step still running when gRPC ends the calls makes the process exit
      // (main.cc), so that it never commits after its client was answered.
      if (final_step_running_) return;
    }
    EndWith(absl::UnavailableError(
        "server shut down before this stream completed (the drain window, drain-seconds, "
        "is over); retry on another replica"));
  }

  // StreamTarget (any thread).
  void Wake() override {
    bool schedule;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++wakes_;
      source_pending_ = false;
      end_check_ = true;  // if there is no room, the source may end without it
      schedule = MaybeScheduleLocked();
    }
    if (schedule) ScheduleStrand();
  }
  size_t MessagesWaiting() override {
    std::lock_guard<std::mutex> lock(mu_);
    return read_ahead_.size();
  }
  void EndWith(absl::Status status) override {
    FinishOps ops;
    bool write_stuck = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      RequestFinishLocked(std::move(status));
      ops = TakeFinishLocked();
      // A write its client does not read (a stalled download) holds the finish for as long
      // as the connection lives. The first end leaves a client that reads on the status
      // (the drain window's end); asked again with the write still outstanding (the
      // transfer watchdog's next round), the call is cancelled at the transport: the write
      // completes and the call finishes (its client sees CANCELLED; the log and the audit
      // the status above).
      write_stuck = !ops.finish && write_outstanding_ && end_asked_;
      end_asked_ = true;
    }
    Execute(ops);
    if (write_stuck) {
      std::lock_guard<std::recursive_mutex> lock(context_mu_);
      if (context_alive_ && call_.server_context != nullptr) call_.server_context->TryCancel();
    }
  }
  bool TryRef() override {
    int refs = refs_.load();
    while (refs > 0) {
      if (refs_.compare_exchange_weak(refs, refs + 1)) return true;
    }
    return false;
  }
  void Unref() override {
    if (refs_.fetch_sub(1) != 1) return;
    {
      std::lock_guard<std::mutex> lock(handle_->mu);
      handle_->target = nullptr;
    }
    delete this;
  }

 private:
  struct FinishOps {
    bool finish = false;
    absl::Status status;
    StreamSource<Response>* source = nullptr;  // told OnCallEnd
    const google::protobuf::Message* audited = nullptr;
  };

  ~StreamCall() override = default;

  void RequestFinishLocked(absl::Status status) {
    if (finish_requested_) return;
    call_.EndByServer();  // whatever still runs for this call (a thread's body) stops
    finish_requested_ = true;
    finish_status_ = std::move(status);
  }

  // The call finishes once nothing of it runs on the executor, no write is in flight and
  // no read is being started (a read may be in flight: it completes with ok = false).
  FinishOps TakeFinishLocked() {
    FinishOps ops;
    if (finish_requested_ && !finish_issued_ && !strand_scheduled_ && !write_outstanding_ &&
        !read_starting_) {
      finish_issued_ = true;
      ops.finish = true;
      ops.status = finish_status_;
      ops.source = source_;
      // A server stream's request once it passed the input rules; client streams'
      // messages are not audited.
      if (request_decoded_) ops.audited = &request_;
    }
    return ops;
  }

  void Execute(const FinishOps& ops) {
    if (!ops.finish) return;
    if (ops.source != nullptr) ops.source->OnCallEnd();
    this->Finish(binding_.policy->End(call_, ops.status, ops.audited));
  }

  bool HasWorkLocked() const {
    if constexpr (kReads) {
      if (!read_failed_ &&
          ((!read_ahead_.empty() && !AnswersOwedLocked() && !AnswersEndedLocked()) ||
           (reads_done_ && !reads_done_delivered_))) {
        return true;
      }
    }
    if constexpr (kWrites) {
      if (source_ != nullptr && !source_ended_ &&
          ((!source_pending_ && queue_.size() < queue_capacity_) || end_check_)) {
        return true;
      }
    }
    return false;
  }

  // Whether a bidi stream's source may still have answers to the messages it took (it
  // did not say kPending since): the next messages wait until they are all queued for
  // writing. A client that reads no answers thus stops the stream from taking, then
  // from reading, more (its writes wait: HTTP/2 flow control), and what the server
  // holds for it stays bounded: one group's answers and a full queue.
  bool AnswersOwedLocked() const {
    if constexpr (kShape == StreamShape::kBidi) {
      return source_ != nullptr && !source_ended_ && !source_pending_;
    }
    return false;
  }

  // Whether a bidi stream's source has ended (the drain, a failure): messages read ahead
  // are not taken then, since nothing would answer them (re-test: a draining ingest
  // committed the batches it had read ahead and never answered them).
  bool AnswersEndedLocked() const {
    if constexpr (kShape == StreamShape::kBidi) return source_ended_;
    return false;
  }

  bool MaybeScheduleLocked() {
    if (strand_scheduled_ || finish_requested_ || !opened_ || !HasWorkLocked()) return false;
    strand_scheduled_ = true;
    refs_.fetch_add(1);
    return true;
  }

  void ScheduleStrand() {
    if (binding_.executor->Continue([this] { RunStrand(); })) return;
    FinishOps ops;
    {
      std::lock_guard<std::mutex> lock(mu_);
      strand_scheduled_ = false;
      RequestFinishLocked(
          WithErrorInfo(absl::UnavailableError("server is shutting down"), "SERVER_DRAINING"));
      ops = TakeFinishLocked();
    }
    Execute(ops);
    Unref();
  }

  // On the strand: decodes a server stream's request, then runs the handler.
  absl::Status Open() {
    if constexpr (kShape == StreamShape::kServer) {
      absl::Status decoded = DecodeRequest(*request_bytes_, &request_);
      call_.NoteRequestId(request_);
      if (!decoded.ok()) {
        if (call_.audited) {
          call_.AuditRefusedRequest(RefusedRequestAuditJson(*request_bytes_, request_));
        }
        return decoded;
      }
      std::lock_guard<std::mutex> lock(mu_);
      request_decoded_ = true;
    }
    absl::Status opened = opener_(call_, request_, parts_);
    opener_ = nullptr;
    if (!opened.ok()) return opened;
    if constexpr (kShape == StreamShape::kServer) {
      if (parts_.source == nullptr) return absl::InternalError("the handler returned no source");
    } else if constexpr (kShape == StreamShape::kClient) {
      if (parts_.sink == nullptr) return absl::InternalError("the handler returned no sink");
    } else {
      if (parts_.bidi == nullptr) return absl::InternalError("the handler returned no stream");
    }
    return absl::OkStatus();
  }

  StreamSource<Response>* SourceOfParts() {
    if constexpr (kShape == StreamShape::kServer) return parts_.source.get();
    if constexpr (kShape == StreamShape::kBidi) return parts_.bidi.get();
    return nullptr;
  }

  // The next message from the source (not under mu_): shared bytes, or a typed message
  // serialized here, on the executor.
  Pull PullMessage(Outgoing* out, absl::Status* end) {
    if (shared_source_ != nullptr) {
      const Pull pulled = shared_source_->NextShared(&out->shared, end);
      if (pulled == Pull::kMessage && out->shared->Length() > binding_.policy->MaxResponseBytes()) {
        *end = ResponseTooLarge(out->shared->Length(), binding_.policy->MaxResponseBytes());
        return Pull::kEnd;
      }
      return pulled;
    }
    Response message;
    const Pull pulled = source_->Next(&message, end);
    if (pulled != Pull::kMessage) return pulled;
    if (message.ByteSizeLong() > binding_.policy->MaxResponseBytes()) {
      *end = ResponseTooLarge(message.ByteSizeLong(), binding_.policy->MaxResponseBytes());
      return Pull::kEnd;
    }
    bool own_buffer = false;
    grpc::Status serialized =
        grpc::SerializationTraits<Response>::Serialize(message, &out->own, &own_buffer);
    if (!serialized.ok()) {
      *end = absl::InternalError(absl::StrCat("the stream's message could not be serialized: ",
                                              serialized.error_message()));
      return Pull::kEnd;
    }
    return Pull::kMessage;
  }

  // Whether the message about to be written (queue_.front()) gets the buffer hint, which
  // lets gRPC hold its bytes until a later write without it: only when another queued
  // message follows (written next, after this one's WriteDone), and never on the first
  // write, which carries the initial metadata: gRPC then holds the metadata too and
  // completes the write only once it is sent, so WriteDone would wait for a flush that
  // nothing makes.
  bool MoreFollowLocked() const { return wrote_once_ && queue_.size() > 1; }

  void StartWriteOf(const Outgoing& message, bool more_follow) {
    if (more_follow) {
      this->StartWrite(message.bytes(), grpc::WriteOptions().set_buffer_hint());
    } else {
      this->StartWrite(message.bytes());
    }
  }

  // The messages read, decoded and checked, to the sink or stream, in order. A refused
  // message ends the call with its INVALID_ARGUMENT; the handler never sees it (nor
  // those after it), but gets those before it.
  absl::Status Consume(std::vector<grpc::ByteBuffer>& read) {
    if constexpr (kShape == StreamShape::kClient) {
      for (grpc::ByteBuffer& bytes : read) {
        absl::Status decoded = DecodeRequest(bytes, &message_, parts_.sink->JudgedElementsSoFar(),
                                             ++messages_decoded_);
        if (messages_decoded_ == 1) call_.NoteRequestId(message_);
        if (!decoded.ok()) {
          if (call_.audited) {
            call_.AuditRefusedRequest(RefusedRequestAuditJson(bytes, message_), messages_decoded_);
          }
          return decoded;
        }
        bytes.Clear();
        PM_RETURN_IF_ERROR(parts_.sink->OnMessage(message_));
      }
    }
    if constexpr (kShape == StreamShape::kBidi) {
      absl::Status refused;
      for (grpc::ByteBuffer& bytes : read) {
        Request& message = messages_.emplace_back();
        refused = DecodeRequest(bytes, &message, 0, ++messages_decoded_);
        if (!refused.ok()) {
          if (call_.audited) {
            call_.AuditRefusedRequest(RefusedRequestAuditJson(bytes, message), messages_decoded_);
          }
          bytes.Clear();
          messages_.pop_back();
          break;
        }
        bytes.Clear();
      }
      absl::Status taken =
          messages_.empty() ? absl::OkStatus() : parts_.bidi->OnMessages(messages_);
      messages_.clear();
      PM_RETURN_IF_ERROR(taken);
      return refused;
    }
    return absl::OkStatus();
  }

  // The call's steps on the executor, one task at a time.
  void RunStrand() {
    FinishOps ops;
    std::unique_ptr<StreamSink<Request, Response>> finished_sink;
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!finish_requested_) {
        if (!opened_) {
          lock.unlock();
          absl::Status opened = Open();
          lock.lock();
          if (!opened.ok()) {
            RequestFinishLocked(std::move(opened));
            break;
          }
          // No Finish can be issued while the strand runs, and nothing was written yet;
          // unlocked, as every Start* (a reaction may run inline when it returns).
          binding_.policy->StreamOpened(call_);
          lock.unlock();
          this->StartSendInitialMetadata();
          lock.lock();
          StreamSource<Response>* source = SourceOfParts();
          if (source != nullptr) {
            lock.unlock();
            source->Start(StreamControl(handle_));
            lock.lock();
          }
          opened_ = true;
          source_ = source;
          if constexpr (kWrites) {
            shared_source_ = dynamic_cast<SharedMessageSource*>(source);
            queue_capacity_ = shared_source_ != nullptr ? kSharedStreamBuffer : kStreamBuffer;
          }
          if (source_ != nullptr && drain_started_ && !drain_delivered_) {
            drain_delivered_ = true;
            lock.unlock();
            source_->OnDrain();
            lock.lock();
          }
          if constexpr (kReads) {
            if constexpr (kShape == StreamShape::kBidi) {
              lock.unlock();
              const auto ahead = parts_.bidi->read_ahead();
              lock.lock();
              max_read_ahead_ = std::max<size_t>(ahead.messages, 1);
              max_read_ahead_bytes_ = ahead.bytes;
              // The answers to a group of messages go out together, written one after
              // the other by WriteDone while the strand handles the next group: an
              // answer left with the source would wait for that group (its client
              // holding the batch unacknowledged), and the client would send no
              // faster than one group's answers per group.
              queue_capacity_ = std::max(queue_capacity_, max_read_ahead_ + 1);
            }
            if (!finish_requested_) {
              read_outstanding_ = true;
              lock.unlock();
              this->StartRead(&read_buffer_);
              lock.lock();
            }
          }
          continue;
        }
        if constexpr (kReads) {
          // A bidi stream queues the answers it has before it takes the next message:
          // the next one may take long (an ingest batch's commit), and an answer held
          // behind it is one the client must keep unacknowledged meanwhile.
          if (!read_ahead_.empty() && !read_failed_ && !AnswersOwedLocked() &&
              !AnswersEndedLocked()) {
            std::vector<grpc::ByteBuffer> read;
            read.swap(read_ahead_);
            read_ahead_bytes_ = 0;
            // The next read: now, for a stream that reads ahead (it runs while these are
            // handled); otherwise once they were taken (one message in memory at a time).
            const bool read_next = !read_outstanding_ && !reads_done_ && !read_failed_;
            const bool read_now = read_next && max_read_ahead_ > 1 && !finish_requested_;
            read_outstanding_ = read_now;
            lock.unlock();
            if (read_now) this->StartRead(&read_buffer_);
            absl::Status consumed = Consume(read);
            lock.lock();
            if constexpr (kShape == StreamShape::kBidi) {
              source_pending_ = false;
              if (!consumed.ok()) {
                // The stream sends the answers it has (to the messages before the one
                // that failed), then ends with the failure; nothing more is read.
                read_failed_ = true;
                read_failure_ = std::move(consumed);
                continue;
              }
            }
            if (!consumed.ok()) {
              RequestFinishLocked(std::move(consumed));
              break;
            }
            if (read_next && !read_now && !finish_requested_) {
              read_outstanding_ = true;
              lock.unlock();
              this->StartRead(&read_buffer_);
              lock.lock();
            }
            continue;
          }
          // After every message read before it (a stream that reads ahead may have
          // messages waiting while its answers go first).
          if (reads_done_ && !reads_done_delivered_ && !read_failed_ && read_ahead_.empty()) {
            reads_done_delivered_ = true;
            if constexpr (kShape == StreamShape::kClient) {
              final_step_running_ = true;
              lock.unlock();
              absl::Status done = call_.Cancelled() ? call_.EndedStatus("the call was cancelled")
                                                    : parts_.sink->OnReadsDone(response_);
              lock.lock();
              final_step_running_ = false;
              RequestFinishLocked(std::move(done));
              break;
            } else {
              lock.unlock();
              parts_.bidi->OnReadsDone();
              lock.lock();
              source_pending_ = false;  // Next may have its end now
              continue;
            }
          }
        }
        if constexpr (kWrites) {
          if (!source_ended_ && !source_pending_ && queue_.size() < queue_capacity_) {
            Outgoing message;
            absl::Status end;
            const uint64_t wakes_before = wakes_;
            end_check_ = false;  // Next sees whatever the Wakes so far were about
            lock.unlock();
            const Pull pulled = PullMessage(&message, &end);
            lock.lock();
            if (pulled == Pull::kMessage) {
              queue_.push_back(std::move(message));
              // A typed source's next message may take a while (a download's next chunk
              // read from the database): write this one now. A shared source's are at
              // hand: take them all first and write them in one go, below.
              if (shared_source_ == nullptr && !write_outstanding_ && !finish_requested_) {
                write_outstanding_ = true;
                const Outgoing* next = &queue_.front();
                const bool more_follow = MoreFollowLocked();
                lock.unlock();
                StartWriteOf(*next, more_follow);
                lock.lock();
              }
            } else if (pulled == Pull::kPending && read_failed_) {
              source_ended_ = true;  // all it had is queued: now the failure
              end_status_ = read_failure_;
              if (queue_.empty() && !write_outstanding_) RequestFinishLocked(end_status_);
            } else if (pulled == Pull::kPending) {
              // A Wake while Next ran means there may be something already: ask again.
              source_pending_ = wakes_ == wakes_before;
            } else {
              source_ended_ = true;
              end_status_ = std::move(end);
              if (queue_.empty() && !write_outstanding_) RequestFinishLocked(end_status_);
            }
            continue;
          }
          if (!source_ended_ && end_check_) {
            end_check_ = false;
            if (queue_.size() >= queue_capacity_) {  // else Next runs next time round
              absl::Status end;
              lock.unlock();
              const bool ends = source_->EndWithoutRoom(&end);
              lock.lock();
              if (ends) {
                source_ended_ = true;
                end_status_ = std::move(end);
                if (queue_.empty() && !write_outstanding_) RequestFinishLocked(end_status_);
              }
            }
            continue;
          }
          // The source has nothing more now, or the queue is full: write the first queued
          // message, with the buffer hint when more follow it.
          if (!write_outstanding_ && !queue_.empty() && !finish_requested_) {
            write_outstanding_ = true;
            const Outgoing* next = &queue_.front();
            const bool more_follow = MoreFollowLocked();
            lock.unlock();
            StartWriteOf(*next, more_follow);
            lock.lock();
            continue;
          }
        }
        break;
      }
      strand_scheduled_ = false;
      if constexpr (kShape == StreamShape::kClient) {
        // The outcome is decided: what the sink holds (an upload's bytes and their memory
        // budget) goes now, before the client learns the outcome, not when gRPC releases
        // the call. Only the strand touches the sink, and it is ending here.
        if (finish_requested_) finished_sink = std::move(parts_.sink);
      }
      ops = TakeFinishLocked();
    }
    finished_sink.reset();
    Execute(ops);
    Unref();
  }

  const MethodBinding binding_;
  grpc_call* const c_call_;  // names the call's sync addresses (tsan_handoff.h)
  const grpc::ByteBuffer* const request_bytes_;
  Response* const response_;
  Request request_;               // a server stream's, decoded by Open
  bool request_decoded_ = false;  // under mu_: request_ passed the input rules
  Opener opener_;                 // run once, on the executor
  CallContext call_;
  Parts parts_;
  const std::shared_ptr<StreamControl::Handle> handle_;
  std::atomic<int> refs_{1};  // gRPC's, until OnDone
  bool admitted_ = false;     // Begin let the call in (set before any concurrency)
  // Sync addresses only (tsan_handoff.h): the constructor's end for OnCancel, the
  // reactions' ends for OnDone.
  char tsan_created_ = 0;
  char tsan_reacted_ = 0;

  std::mutex mu_;
  // Guards the use of the call's gRPC context from other threads (EndWith) against OnDone;
  // recursive: gRPC may run a reaction inline within TryCancel.
  std::recursive_mutex context_mu_;
  bool context_alive_ = true;
  bool opened_ = false;  // the handler returned its parts
  StreamSource<Response>* source_ = nullptr;
  bool strand_scheduled_ = false;  // a step is queued or running on the executor
  bool finish_requested_ = false;
  bool finish_issued_ = false;
  absl::Status finish_status_;
  bool drain_started_ = false;
  bool drain_delivered_ = false;
  // Reads: the bytes of the read in progress (when read_outstanding_); the messages read
  // and not yet taken by the strand, their bytes, and how far this stream reads ahead
  // (BidiStream::ReadAhead; else one message at a time).
  grpc::ByteBuffer read_buffer_;
  bool read_outstanding_ = false;
  bool read_starting_ = false;  // ReadDone is starting the next read (outside mu_)
  std::vector<grpc::ByteBuffer> read_ahead_;
  size_t read_ahead_bytes_ = 0;
  size_t max_read_ahead_ = 1;
  size_t max_read_ahead_bytes_ = 0;
  // A bidi stream's message was refused (by the input rules or OnMessages): nothing more
  // is read, and the call ends with this once the source has nothing more at hand.
  bool read_failed_ = false;
  absl::Status read_failure_;
  // On the strand: a client stream's message, a bidi stream's messages, decoded.
  Request message_;
  std::vector<Request> messages_;
  int64_t messages_decoded_ = 0;  // of the stream so far: a refused one is named by its place
  bool reads_done_ = false;
  bool reads_done_delivered_ = false;
  bool final_step_running_ = false;  // a client stream's OnReadsDone (its commit) runs
  // Writes: queue_.front() is being written when write_outstanding_.
  SharedMessageSource* shared_source_ = nullptr;  // source_, when it is one
  size_t queue_capacity_ = kStreamBuffer;
  std::deque<Outgoing> queue_;
  bool wrote_once_ = false;  // a WriteDone came (the initial metadata went with the first)
  bool write_outstanding_ = false;
  bool source_pending_ = false;
  uint64_t wakes_ = 0;      // Wake calls so far
  bool end_asked_ = false;  // EndWith ran before (a second one cancels a stuck write)
  bool end_check_ = false;  // a Wake since Next last ran: with no room, ask EndWithoutRoom
  bool source_ended_ = false;
  absl::Status end_status_;
};

}  // namespace internal

// Server stream: `handler(CallContext&, const Request&) ->
// absl::StatusOr<std::unique_ptr<StreamSource<Response>>>` runs on the executor with the
// request decoded from `request_bytes` (valid until the call ends); an error ends the
// call at once.
template <class Request, class Response, class Handler>
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartServerStream(grpc::CallbackServerContext* context,
                                                              const MethodBinding& binding,
                                                              const grpc::ByteBuffer* request_bytes,
                                                              Handler handler) {
  using Call = internal::StreamCall<internal::StreamShape::kServer, Request, Response>;
  return new Call(
      context, binding, request_bytes, nullptr,
      [handler = std::move(handler)](CallContext& call, const Request& request,
                                     typename Call::Parts& parts) mutable -> absl::Status {
        absl::StatusOr<std::unique_ptr<StreamSource<Response>>> source = handler(call, request);
        if (!source.ok()) return source.status();
        parts.source = *std::move(source);
        return absl::OkStatus();
      });
}

// Client stream: `handler(CallContext&) ->
// absl::StatusOr<std::unique_ptr<StreamSink<Request, Response>>>` runs on the executor
// before the first read.
template <class Request, class Response, class Handler>
grpc::ServerReadReactor<grpc::ByteBuffer>* StartClientStream(grpc::CallbackServerContext* context,
                                                             const MethodBinding& binding,
                                                             Response* response, Handler handler) {
  using Call = internal::StreamCall<internal::StreamShape::kClient, Request, Response>;
  return new Call(
      context, binding, nullptr, response,
      [handler = std::move(handler)](CallContext& call, const Request&,
                                     typename Call::Parts& parts) mutable -> absl::Status {
        absl::StatusOr<std::unique_ptr<StreamSink<Request, Response>>> sink = handler(call);
        if (!sink.ok()) return sink.status();
        parts.sink = *std::move(sink);
        return absl::OkStatus();
      });
}

// Bidirectional stream: `handler(CallContext&) ->
// absl::StatusOr<std::unique_ptr<BidiStream<Request, Response>>>`.
template <class Request, class Response, class Handler>
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StartBidiStream(
    grpc::CallbackServerContext* context, const MethodBinding& binding, Handler handler) {
  using Call = internal::StreamCall<internal::StreamShape::kBidi, Request, Response>;
  return new Call(
      context, binding, nullptr, nullptr,
      [handler = std::move(handler)](CallContext& call, const Request&,
                                     typename Call::Parts& parts) mutable -> absl::Status {
        absl::StatusOr<std::unique_ptr<BidiStream<Request, Response>>> stream = handler(call);
        if (!stream.ok()) return stream.status();
        parts.bidi = *std::move(stream);
        return absl::OkStatus();
      });
}

}  // namespace plantmesh::runtime
