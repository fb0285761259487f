// ThreadSanitizer builds only (PLANTMESH_SANITIZE=thread): the happens-before edge from
// a thread that starts a gRPC batch to the callback-API reaction its completion runs.
//
// A reactor's StartWrite, StartRead or Finish fills its operations (serializing the
// message: our generated code reading our Response) on the calling thread and hands
// them to libgrpc through grpc_call_start_batch; the completion runs the reaction
// (OnWriteDone, OnReadDone, OnDone) on another thread. libgrpc orders the two with its
// own atomics (call combiner, closure queues), which TSan cannot see in Debian's
// uninstrumented library, so it reported the reaction's accesses (a written response
// destroyed, a read message decoded) as racing with the thread that started the batch.
//
// This definition, linked into every executable and exported from it (libgrpc++'s call
// through the PLT reaches it first), releases on the call's send or receive sync address
// (server/runtime/tsan_handoff.h) once the batch's operations are filled, just before
// libgrpc takes them; the reactions acquire the same address (call_reactors.h). A batch
// libgrpc refuses completes nothing, so the extra release orders nothing wrongly.
//
// It also defines libgrpc++'s grpc::internal::ServerCallbackCall::ScheduleOnDone, called
// (from gRPC's header code in our binaries, and from libgrpc++) once the last of a
// server call's callbacks dropped its reference: it releases the reactor's OnDone sync
// address (TsanOnDoneOf) and goes on to libgrpc++'s definition, which runs OnDone inline
// or hands it to another thread (acquiring first what every instrumented drop of a
// reference released, which the last drop may not have done visibly). Without it, a callback tag's
// std::function read by the thread that ran the call's last callback (the finish tag's, which runs
// no code of ours) looked unordered with its destruction after OnDone on gRPC's executor thread.
// And it orders the batch's callback tag (CallbackWithSuccessTag, the client's
// CallbackWithStatusTag): the tag is Set (its std::function) by the starting thread, and
// its Run reads it on the completing thread before any code of ours runs there. A tag
// of this executable gets a run function that acquires on the tag's address, released
// here, before calling gRPC's (OrderTagRun).
#include <dlfcn.h>
#include <grpc/grpc.h>
#include <grpcpp/support/callback_common.h>
#include <grpcpp/support/server_callback.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "server/runtime/tsan_handoff.h"

#ifndef PM_TSAN_ENABLED
#error "tsan_grpc_batch.cc belongs in ThreadSanitizer builds only"
#endif

// The tags' run functions (below) refer to libgrpc++'s g_core_codegen_interface, which executables
// without gRPC do not link: weak there (null), where no tag ever runs.
namespace grpc {
extern CoreCodegenInterface* g_core_codegen_interface __attribute__((weak));
}

namespace {

using StartBatch = grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*, void*);

// libgrpc's definition (the next one after this executable's). A relaxed atomic, not a
// function-local static, for the reason given in tsan_absl_sync.cc.
std::atomic<void*> real_start_batch{nullptr};
std::atomic<void*> real_schedule_on_done{nullptr};

// The next definition of `symbol` after this executable's (the library's).
void* Next(std::atomic<void*>& cache, const char* symbol) {
  void* address = cache.load(std::memory_order_relaxed);
  if (address == nullptr) {
    address = dlsym(RTLD_NEXT, symbol);
    if (address == nullptr) {
      std::fprintf(stderr, "tsan_grpc_batch: %s not found (%s)\n", symbol, dlerror());
      std::abort();
    }
    cache.store(address, std::memory_order_relaxed);
  }
  return address;
}

StartBatch Real() {
  return reinterpret_cast<StartBatch>(Next(real_start_batch, "grpc_call_start_batch"));
}

// The callback-API tags' own run functions (private statics of gRPC's header classes,
// this executable's instances), named through explicit instantiation, which ignores
// access.
using RunFn = void (*)(grpc_completion_queue_functor*, int);
RunFn SuccessTagRun();
RunFn StatusTagRun();
template <RunFn kRun>
struct ExposeSuccessTagRun {
  friend RunFn SuccessTagRun() { return kRun; }
};
template <RunFn kRun>
struct ExposeStatusTagRun {
  friend RunFn StatusTagRun() { return kRun; }
};
template struct ExposeSuccessTagRun<&grpc::internal::CallbackWithSuccessTag::StaticRun>;
template struct ExposeStatusTagRun<&grpc::internal::CallbackWithStatusTag::StaticRun>;

// What a tag's run is replaced by: acquire what the thread that started the tag's batch
// released (the tag's Set, its std::function, the batch's operations), then run it.
void RunSuccessTag(grpc_completion_queue_functor* tag, int ok) {
  __tsan_acquire(tag);
  SuccessTagRun()(tag, ok);
}
void RunStatusTag(grpc_completion_queue_functor* tag, int ok) {
  __tsan_acquire(tag);
  StatusTagRun()(tag, ok);
}

// A batch's tag: gRPC's C++ layer always passes an object (a CallOpSet, whose first
// word is its vtable pointer, or a callback tag, whose first word is its run
// function), so reading the first word is safe. A callback tag of this executable gets
// the run above, once per batch: the tag's Set may have put StaticRun back.
void OrderTagRun(void* tag) {
  if (tag == nullptr) return;
  auto* functor = static_cast<grpc_completion_queue_functor*>(tag);
  if (functor->functor_run == SuccessTagRun()) {
    functor->functor_run = &RunSuccessTag;
  } else if (functor->functor_run == StatusTagRun()) {
    functor->functor_run = &RunStatusTag;
  } else if (functor->functor_run != &RunSuccessTag && functor->functor_run != &RunStatusTag) {
    return;
  }
  __tsan_release(tag);
}

}  // namespace

extern "C" grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops,
                                                 void* tag, void* reserved) {
  bool sends = false;
  bool receives = false;
  for (size_t i = 0; i < nops; ++i) {
    switch (ops[i].op) {
      case GRPC_OP_SEND_INITIAL_METADATA:
      case GRPC_OP_SEND_MESSAGE:
      case GRPC_OP_SEND_CLOSE_FROM_CLIENT:
      case GRPC_OP_SEND_STATUS_FROM_SERVER:
        sends = true;
        break;
      case GRPC_OP_RECV_INITIAL_METADATA:
      case GRPC_OP_RECV_MESSAGE:
      case GRPC_OP_RECV_STATUS_ON_CLIENT:
      case GRPC_OP_RECV_CLOSE_ON_SERVER:
        receives = true;
        break;
    }
  }
  if (sends) __tsan_release(plantmesh::runtime::TsanSendsOf(call));
  if (receives) __tsan_release(plantmesh::runtime::TsanReceivesOf(call));
  OrderTagRun(tag);
  return Real()(call, ops, nops, tag, reserved);
}

// A member function of libgrpc++'s (declared in grpcpp/support/server_callback.h),
// defined here to interpose it; the library's is called as a plain function taking
// `this` first (the Itanium ABI of a non-virtual member).
void grpc::internal::ServerCallbackCall::ScheduleOnDone(bool inline_ondone) {
  // Every reference was dropped with an acq_rel fetch_sub on callbacks_outstanding_,
  // but the one dropped after OnCancel runs in libgrpc++ (CallOnCancel's closure), where
  // TSan does not see it: acquire what the instrumented ones released, so that the
  // threads that dropped theirs (e.g. the completion-op callback that read its
  // std::function) come before OnDone whichever thread drops the last.
  __tsan_acquire(&callbacks_outstanding_);
  __tsan_release(plantmesh::runtime::TsanOnDoneOf(reactor()));
  using Schedule = void (*)(ServerCallbackCall*, bool);
  reinterpret_cast<Schedule>(
      Next(real_schedule_on_done, "_ZN4grpc8internal18ServerCallbackCall14ScheduleOnDoneEb"))(
      this, inline_ondone);
}
