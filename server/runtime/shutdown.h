// Graceful shutdown: a process-wide draining flag that handlers and streams observe
// (CallContext::Cancelled), and SIGTERM/SIGINT handling on one thread via sigwait.
#pragma once

namespace plantmesh::runtime {

// True once shutdown began: new calls are refused with UNAVAILABLE and streams end
// with UNAVAILABLE so that clients resume on another replica.
bool Draining();
void BeginDraining();
// Tests that host several servers in one process start each undrained.
void ResetDrainingForTesting();

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later.
// Call first thing in main, before gRPC starts its threads, or a SIGTERM delivered
// to one of them kills the process without draining.
void BlockTerminationSignals();

// Waits (sigwait) until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

}  // namespace plantmesh::runtime
