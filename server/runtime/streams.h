// What a streaming handler gives the runtime instead of looping over a gRPC reader or
// writer. The generated bases (<file>.pm_server.h) drive these from gRPC callback
// reactors (call_reactors.h): one read and one write outstanding per call, every call of
// these interfaces on the runtime's Executor, one at a time per call — so a stream holds
// no thread while it waits for its client or for data, and a slow client never makes the
// server buffer more than kStreamBuffer messages.
//
// Server streams: Handle<M>(call, request) returns a StreamSource; the runtime pulls
//   messages from it whenever the stream has room.
// Client streams: Handle<M>(call) returns a StreamSink; the runtime hands it each
//   message as it arrives, then asks it for the response.
// Bidirectional streams: Handle<M>(call) returns a BidiStream (both).
//
// A source that has nothing to send yet (a watch between events) returns kPending from
// Next and calls StreamControl::Wake when it has: see StreamSource. Watches and tails
// build on WatchSource (watch.h), which does this over an event hub subscription.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace grpc {
class ByteBuffer;
}

namespace plantmesh::runtime {

// Messages a server stream keeps queued, the one being written included.
inline constexpr size_t kStreamBuffer = 2;
// The same for a SharedMessageSource (below): its queued messages are references to
// bytes shared with other streams, not copies, so it may run further ahead of a slow
// writer, and each run of the stream on the executor takes what is there at once.
inline constexpr size_t kSharedStreamBuffer = 16;

// What the reactor of one call exposes to its source. Internal; see StreamControl.
class StreamTarget {
 public:
  virtual void Wake() = 0;
  virtual bool TryRef() = 0;  // false once the call's resources are being released
  virtual void Unref() = 0;
  virtual size_t MessagesWaiting() { return 0; }
  // Ends the call with `status` (OK counts as an error: the stream did not complete).
  virtual void EndWith(absl::Status status) = 0;

 protected:
  ~StreamTarget() = default;
};

// A copyable handle on one stream call, valid (as a no-op) after the call ended.
class StreamControl {
 public:
  // The call's reactor; cleared (under mu) when the reactor is released.
  struct Handle {
    std::mutex mu;
    StreamTarget* target = nullptr;
  };
  explicit StreamControl(std::shared_ptr<Handle> handle) : handle_(std::move(handle)) {}

  // Makes the runtime call Next again after it returned kPending — or, while the
  // stream has no room (its client reads slowly), EndWithoutRoom. Cheap, non-blocking,
  // from any thread, any number of times; does nothing once the call ended.
  void Wake() const;
  // Messages read from the client and not yet handed to OnMessages (a bidi stream that
  // reads ahead; 0 for other streams and once the call ended). From any thread.
  size_t MessagesWaiting() const;
  // Ends the call with `status` now, from any thread, as the drain window's end does
  // (the handler's work in flight finds CallContext::Cancelled()); nothing once it ended.
  void End(absl::Status status) const;

 private:
  std::shared_ptr<Handle> handle_;
};

enum class Pull {
  kMessage,  // *message is filled and will be sent
  kPending,  // nothing now: Next runs again after StreamControl::Wake
  kEnd,      // the stream ends with *end (OK: complete), after the messages queued
};

// The producer of a server stream's messages.
template <class Message>
class StreamSource {
 public:
  virtual ~StreamSource() = default;

  // Once, on the executor, before the first Next. Keep `control` to wake the stream.
  virtual void Start(StreamControl control) { (void)control; }

  // The next message. On the executor, one call at a time, whenever fewer than
  // kStreamBuffer messages wait to be written. Must not wait for data (return kPending
  // and Wake later): a waiting Next holds an executor thread.
  virtual Pull Next(Message* message, absl::Status* end) = 0;

  // Asked instead of Next after a Wake that came while the stream had no room (its
  // client has not taken what was written): true with `*end` to end the stream now
  // rather than when the client makes room — Next is not called again and the client
  // gets the messages already returned, then `*end`. On the executor, like Next. For
  // sources whose end must not wait for a slow client (a watch that fell behind, a
  // drain); the default waits.
  virtual bool EndWithoutRoom(absl::Status* end) {
    (void)end;
    return false;
  }

  // The server began draining. Any thread, possibly during Start or Next; must not
  // block. Finite sources (downloads, exports) ignore it (the default) and have the
  // drain window to finish. Long-lived sources (watches, tails) end now: Wake, then
  // return kEnd from Next with UNAVAILABLE and the cursor to resume from.
  virtual void OnDrain() {}

  // The call is finishing (ended by the source, the client, or the drain): Next is not
  // called again. Once, from any thread, must not block. The source itself is destroyed
  // later, once nothing of the call runs any more.
  virtual void OnCallEnd() {}
};

// A source whose messages many streams send alike (a watch's response to an event):
// serialized once and shared, by the runtime's own sources (WatchSource, watch.h). The
// reactor of a server stream whose StreamSource is also a SharedMessageSource asks
// NextShared instead of Next (same rules), and writes the bytes as they are.
class SharedMessageSource {
 public:
  // `*bytes`: the serialized message, never changed afterwards (any number of streams may
  // be writing it).
  virtual Pull NextShared(std::shared_ptr<const grpc::ByteBuffer>* bytes, absl::Status* end) = 0;

 protected:
  ~SharedMessageSource() = default;
};

// The consumer of a client stream's messages. Destroyed on the executor as soon as the
// call's outcome is decided (before the client hears it), or once the call is released
// when the client or the drain ended it.
template <class Request, class Response>
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Each message in order, on the executor; the next read starts when it returns, so
  // one message is in memory at a time. Non-OK ends the call with that status (the
  // rest of the stream is not read).
  virtual absl::Status OnMessage(Request& message) = 0;
  // The client sent its last message: the call's final (possibly blocking) work, on
  // the executor. Its status ends the call; `response` is sent when it is OK.
  virtual absl::Status OnReadsDone(Response* response) = 0;
  // How many elements of the request's field that the service judges one by one
  // (elements_judged_by_service) the messages so far carried, when the service numbers
  // them across the stream (ImportDemand's records[i]): the runtime numbers the elements
  // of a next message it refuses (invalid UTF-8) from there. 0: numbered per message.
  virtual size_t JudgedElementsSoFar() const { return 0; }
};

// Both directions: messages in (OnMessage, never concurrently with Next) and out (the
// StreamSource side). The call ends when Next returns kEnd. Messages are handed over
// only once Next said kPending (every response at hand is queued for writing), so the
// responses a stream holds are bounded by what its messages produce: a client that
// reads none stops the stream from taking messages, then from reading them (HTTP/2 flow
// control holds the client's writes); nothing is refused for it.
//
// Read-ahead: by default one message is read at a time, the next once OnMessage took it.
// A stream whose messages are cheaper handled together (an ingest batch each: one
// transaction for the batches waiting instead of one each) raises read_ahead(); the
// runtime then keeps reading while OnMessages runs, up to that many messages and bytes,
// and hands over all that arrived meanwhile in one OnMessages call. Nothing waits for
// more to arrive: a stream whose client sends slowly still gets one message at a time.
// Such a stream also keeps up to `messages` + 1 of its responses queued for writing
// (instead of kStreamBuffer), so that one call's answers leave while the next runs.
template <class Request, class Response>
class BidiStream : public StreamSource<Response> {
 public:
  struct ReadAhead {
    size_t messages = 1;  // the most held for one OnMessages call (at least 1)
    size_t bytes = 0;     // more are read only while fewer bytes than this are held
  };
  // Asked once, after the handler returned the stream.
  virtual ReadAhead read_ahead() const { return {}; }
  // Next runs after it (no Wake needed for what it queued).
  virtual absl::Status OnMessage(Request& message) = 0;
  // The messages read since the last call, in order: one, or more with read_ahead().
  // Non-OK ends the call with that status (the messages after the one that failed were
  // not taken). The default hands each to OnMessage.
  virtual absl::Status OnMessages(std::vector<Request>& messages) {
    for (Request& message : messages) {
      absl::Status taken = OnMessage(message);
      if (!taken.ok()) return taken;
    }
    return absl::OkStatus();
  }
  // The client half-closed. On the executor. Wake is not needed after it: Next runs.
  virtual void OnReadsDone() {}
};

// A finite source from a function: `next` fills a message and returns true, returns
// false at the end, or an error to end the stream with. On the executor.
template <class Message>
std::unique_ptr<StreamSource<Message>> SourceFrom(
    std::function<absl::StatusOr<bool>(Message*)> next) {
  class FunctionSource final : public StreamSource<Message> {
   public:
    explicit FunctionSource(std::function<absl::StatusOr<bool>(Message*)> next)
        : next_(std::move(next)) {}
    Pull Next(Message* message, absl::Status* end) override {
      absl::StatusOr<bool> more = next_(message);
      if (!more.ok()) {
        *end = more.status();
        return Pull::kEnd;
      }
      if (*more) return Pull::kMessage;
      *end = absl::OkStatus();
      return Pull::kEnd;
    }

   private:
    std::function<absl::StatusOr<bool>(Message*)> next_;
  };
  return std::make_unique<FunctionSource>(std::move(next));
}

}  // namespace plantmesh::runtime
