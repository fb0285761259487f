// Happens-before edges ThreadSanitizer cannot see by itself. gRPC's callback API hands
// a call from thread to thread inside libgrpc (its closures and call combiner use their
// own atomics, and Debian's libgrpc is not instrumented), although it guarantees the
// order: a reactor's creation comes before its reactions, each StartRead/StartWrite/
// Finish before the reaction it causes, and every reaction before OnDone. The reactors
// (call_reactors.h) state those guarantees with these marks so that TSan checks our code
// against them instead of reporting gRPC's hand-offs as races. No-ops outside TSan
// builds.
//
// Two edges come from interposed libgrpc/libgrpc++ entry points (tsan_grpc_batch.cc):
//
// The edge from a started operation to its reaction: in TSan builds every executable
// carries its own grpc_call_start_batch (cmake/sanitizers/tsan_grpc_batch.cc), which
// releases TsanSendsOf(call) for a batch that sends (message, metadata, status) and
// TsanReceivesOf(call) for one that receives, after the batch was filled (the message
// serialized) and before libgrpc takes it. A reaction acquires the one it follows
// (OnWriteDone: sends, OnReadDone: receives, OnDone: both).
#pragma once

#if defined(__SANITIZE_THREAD__)
#define PM_TSAN_ENABLED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PM_TSAN_ENABLED 1
#endif
#endif

#if defined(PM_TSAN_ENABLED)
#include <sanitizer/tsan_interface.h>
#endif

struct grpc_call;
namespace grpc::internal {
class ServerReactor;
}

namespace plantmesh::runtime {

// Whether this is a ThreadSanitizer build: code that exists only for TSan's sake (a
// reactor that carries marks) is chosen with `if constexpr`, so both paths compile in
// every build.
#if defined(PM_TSAN_ENABLED)
inline constexpr bool kTsanBuild = true;
#else
inline constexpr bool kTsanBuild = false;
#endif

// What this thread did so far happens before whatever follows a TsanAcquire(`sync`).
inline void TsanRelease(const void* sync) {
#if defined(PM_TSAN_ENABLED)
  __tsan_release(const_cast<void*>(sync));
#else
  (void)sync;
#endif
}

// Whatever preceded a TsanRelease(`sync`) happens before what this thread does next.
inline void TsanAcquire(const void* sync) {
#if defined(PM_TSAN_ENABLED)
  __tsan_acquire(const_cast<void*>(sync));
#else
  (void)sync;
#endif
}

// The sync addresses of a call's batches (above): two distinct addresses inside the
// call's own memory (it outlives every reaction), never accessed as data.
inline void* TsanSendsOf(grpc_call* call) { return call; }
inline void* TsanReceivesOf(grpc_call* call) { return reinterpret_cast<char*>(call) + 1; }

// The sync address of a reactor's OnDone: released when gRPC schedules it
// (ServerCallbackCall::ScheduleOnDone, interposed in tsan_grpc_batch.cc, after the last
// of the call's callbacks dropped its reference), acquired by OnDone. gRPC destroys the
// call's state (its callback tags) and frees its context right after OnDone on the same
// thread; the hand-off to that thread is libgrpc++'s. The reactor's own address: sync
// only, never accessed as data through this.
inline void* TsanOnDoneOf(grpc::internal::ServerReactor* reactor) { return reactor; }

}  // namespace plantmesh::runtime
