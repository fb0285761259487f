// A bridge for a server stream still written as a blocking loop: its body runs on a
// thread of its own (Executor::StartDedicatedThread) and hands messages over one at a
// time; the reactor writes them as the client reads. It costs a thread per stream, so it
// exists only for WatchDefects until the watch moves onto the event hub (a Subscription
// is a non-blocking StreamSource: see the note in call_reactors.h's users). New code
// returns a StreamSource (streams.h) instead.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "server/runtime/call_context.h"
#include "server/runtime/executor.h"
#include "server/runtime/streams.h"

namespace plantmesh::runtime {

template <class Message>
class BlockingWriter {
 public:
  virtual ~BlockingWriter() = default;
  // Hands `message` to the stream, blocking while the previous one is not yet taken.
  // False when the call ended (client left, cancelled, or the server ended it): stop
  // and return.
  virtual bool Write(const Message& message) = 0;
};

// `body(writer)` runs on a dedicated thread with `call` (and whatever else of the call
// it captured by reference: the request) kept valid until it returns; its status ends
// the stream after the messages it wrote. The call does not finish before the body
// returned, so the body must return soon once call.Cancelled() turns true. With
// `ends_when_draining`, draining turns call.Cancelled() true so that the body returns
// its resume status at once; otherwise the body has the drain window.
template <class Message>
std::unique_ptr<StreamSource<Message>> RunBlockingStream(
    Executor* executor, CallContext& call,
    std::function<absl::Status(BlockingWriter<Message>* writer)> body, bool ends_when_draining) {
  struct State {
    std::mutex mu;
    std::condition_variable taken;
    std::deque<Message> ready;  // at most one
    bool done = false;
    absl::Status status;
    bool consumer_gone = false;  // the call finished
  };

  class Writer final : public BlockingWriter<Message> {
   public:
    Writer(std::shared_ptr<State> state, CallContext* call, StreamControl control)
        : state_(std::move(state)), call_(call), control_(std::move(control)) {}
    bool Write(const Message& message) override {
      {
        std::unique_lock<std::mutex> lock(state_->mu);
        // A drain that stops the body still lets it hand over what it has (the stream
        // keeps writing until the body returns its resume status); only the end of the
        // call stops Write. Looked at again every 50 ms besides being notified.
        auto ended = [&] { return state_->consumer_gone || call_->Ended(); };
        while (!state_->ready.empty() && !ended()) {
          state_->taken.wait_for(lock, std::chrono::milliseconds(50));
        }
        if (ended()) return false;
        state_->ready.push_back(message);
      }
      control_.Wake();
      return true;
    }

   private:
    std::shared_ptr<State> state_;
    CallContext* call_;
    StreamControl control_;
  };

  class Source final : public StreamSource<Message> {
   public:
    Source(Executor* executor, CallContext* call,
           std::function<absl::Status(BlockingWriter<Message>*)> body, bool ends_when_draining)
        : executor_(executor),
          call_(call),
          body_(std::move(body)),
          ends_when_draining_(ends_when_draining),
          state_(std::make_shared<State>()) {}
    ~Source() override {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->consumer_gone = true;
      state_->taken.notify_all();
    }

    void Start(StreamControl control) override {
      std::shared_ptr<void> keep = control.KeepCallAlive();
      if (keep == nullptr) {
        std::lock_guard<std::mutex> lock(state_->mu);
        state_->done = true;
        state_->status = absl::CancelledError("the call ended before its stream started");
        return;
      }
      executor_->StartDedicatedThread([state = state_, call = call_, body = std::move(body_),
                                       control, keep = std::move(keep)]() mutable {
        Writer writer(state, call, control);
        absl::Status status = body(&writer);
        {
          std::lock_guard<std::mutex> lock(state->mu);
          state->done = true;
          state->status = std::move(status);
        }
        control.Wake();
        body = nullptr;  // drop what it captured while the call is still held
      });
    }

    Pull Next(Message* message, absl::Status* end) override {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (!state_->ready.empty()) {
        *message = std::move(state_->ready.front());
        state_->ready.pop_front();
        state_->taken.notify_all();
        return Pull::kMessage;
      }
      if (state_->done) {
        *end = state_->status;
        return Pull::kEnd;
      }
      return Pull::kPending;
    }

    void OnDrain() override {
      if (ends_when_draining_) call_->RequestStop();
    }

    void OnCallEnd() override {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->consumer_gone = true;
      state_->taken.notify_all();
    }

   private:
    Executor* executor_;
    CallContext* call_;
    std::function<absl::Status(BlockingWriter<Message>*)> body_;
    const bool ends_when_draining_;
    std::shared_ptr<State> state_;
  };

  return std::make_unique<Source>(executor, &call, std::move(body), ends_when_draining);
}

}  // namespace plantmesh::runtime
