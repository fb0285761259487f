// Graceful shutdown: a process-wide draining flag, the streams in flight that must hear
// about it, and SIGTERM/SIGINT handling on one thread via sigwait.
//
// Drain, as ServerHost::Drain runs it: BeginDraining (new calls refused with UNAVAILABLE;
// long-lived streams — watches, tails — end at once with UNAVAILABLE and a resume
// cursor), then in-flight unary calls and finite streams (uploads, downloads) get the
// drain window to finish normally, then EndDrainWindow ends every stream still open
// with UNAVAILABLE.
#pragma once

#include <string>

namespace plantmesh::runtime {

// True once shutdown began. Calls admitted before keep running (CallContext::Draining
// tells long-lived streams to end; CallContext::Cancelled stays false until the drain
// window is over).
bool Draining();
// Sets the flag and tells every registered listener (OnDrainStart). Idempotent.
void BeginDraining();
// Tells every registered listener that the drain window is over (OnDrainDeadline).
void EndDrainWindow();
// Tests that host several servers in one process start each undrained.
void ResetDrainingForTesting();

// A call in flight that reacts to draining (the stream reactors of call_reactors.h).
// Callbacks run on the draining thread, under the registry's lock: they must not block
// and must not register or unregister listeners.
class DrainListener {
 public:
  virtual ~DrainListener() = default;
  // Draining began.
  virtual void OnDrainStart() = 0;
  // The drain window is over: end the call now (UNAVAILABLE).
  virtual void OnDrainDeadline() = 0;
};
// Registers `listener` until RemoveDrainListener; when draining already began, calls its
// OnDrainStart before returning (and OnDrainDeadline when the window is over already).
void AddDrainListener(DrainListener* listener);
// After it returns no callback runs on `listener` any more.
void RemoveDrainListener(DrainListener* listener);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and every thread it starts later.
// Call first thing in main, before gRPC starts its threads, or a SIGTERM delivered
// to one of them kills the process without draining.
void BlockTerminationSignals();

// Waits (sigwait) until SIGTERM or SIGINT arrives; returns the signal number. A SIGHUP
// meanwhile is logged and ignored: nothing is reloaded by signal.
int WaitForTerminationSignal();

// Stops the process as a SIGTERM would (WaitForTerminationSignal returns, the server
// drains), but as a failure: for a fault it cannot recover from in place, so that it
// exits 1 and its supervisor (systemd's Restart=on-failure, the kubelet) starts it again.
// Logged at once; the first reason is kept. Safe from any thread.
void StopForFailure(const std::string& reason);
// The reason given to StopForFailure; empty when the stop was asked for by a signal.
std::string StopFailure();

}  // namespace plantmesh::runtime
