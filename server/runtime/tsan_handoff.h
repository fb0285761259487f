// Happens-before edges ThreadSanitizer cannot see by itself. gRPC's callback API hands
// a reactor from thread to thread inside libgrpc (its closures and call combiner use
// their own atomics, and Debian's libgrpc is not instrumented), although it guarantees
// the order: the reactor's creation and every StartRead/StartWrite/Finish come before
// the reactions they cause, and every reaction before OnDone. The reactors
// (call_reactors.h) state those guarantees with these marks so that TSan checks our
// code against them instead of reporting gRPC's hand-offs as races. No-ops outside
// TSan builds.
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

namespace plantmesh::runtime {

// What this thread did so far happens before whatever follows a TsanAcquire(`sync`).
inline void TsanRelease(void* sync) {
#if defined(PM_TSAN_ENABLED)
  __tsan_release(sync);
#else
  (void)sync;
#endif
}

// Whatever preceded a TsanRelease(`sync`) happens before what this thread does next.
inline void TsanAcquire(void* sync) {
#if defined(PM_TSAN_ENABLED)
  __tsan_acquire(sync);
#else
  (void)sync;
#endif
}

}  // namespace plantmesh::runtime
