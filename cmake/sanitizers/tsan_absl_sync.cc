// ThreadSanitizer builds only (PLANTMESH_SANITIZE=thread): makes abseil's locks visible
// to ThreadSanitizer although Debian's libabsl is not built with it (and gRPC's
// gpr_once_init, an absl::call_once inside libgpr).
//
// Without this, absl::Mutex, absl::CondVar and absl::Notification synchronize through
// futexes and atomics inside an uninstrumented library, so ThreadSanitizer sees no
// happens-before edge and reports every access guarded by them as a race (ours, and
// gRPC's own, whose grpc_core::Mutex is an absl::Mutex). Linked into every executable
// and exported from it, these definitions come first in symbol lookup for our code, gRPC
// and abseil itself (their calls go through the PLT); each one calls abseil's own
// function (dlsym RTLD_NEXT) between the same __tsan_mutex_* annotations abseil's
// mutex.cc makes when it is built with ThreadSanitizer. Accesses made while abseil
// holds the real lock on another thread's behalf (conditions evaluated by the
// unlocking thread) fall between pre_* and post_*, which ThreadSanitizer ignores.
//
// Assumptions, checked where possible: CondVar::Wait and Mutex::Await are called with
// the mutex held exclusively (true for our code and gRPC); the Notification layout is
// {Mutex, std::atomic<bool>} (static_assert below).
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/config.h"
#include "absl/base/internal/spinlock_wait.h"
#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#ifndef ABSL_HAVE_THREAD_SANITIZER
#error "tsan_absl_sync.cc belongs in ThreadSanitizer builds only"
#endif

namespace {

#define PM_TSAN_STRINGIFY_INNER(x) #x
#define PM_TSAN_STRINGIFY(x) PM_TSAN_STRINGIFY_INNER(x)

// abseil's definition of `name`, i.e. the next one after this executable's. In the
// mangled `name`, "@" stands for the namespace (4absl7debian3 for absl::debian3) and
// "#" for the index of its substitution (S0_ is absl::debian3, S_ plain absl).
void* Resolve(const char* name) {
#if ABSL_OPTION_USE_INLINE_NAMESPACE
  std::string inline_namespace = PM_TSAN_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  std::string prefix = "4absl" + std::to_string(inline_namespace.size()) + inline_namespace;
  std::string index = "0";
#else
  std::string prefix = "4absl";
  std::string index = "";
#endif
  std::string mangled(name);
  if (size_t at = mangled.find('@'); at != std::string::npos) mangled.replace(at, 1, prefix);
  for (size_t at = mangled.find('#'); at != std::string::npos; at = mangled.find('#')) {
    mangled.replace(at, 1, index);
  }
  void* address = dlsym(RTLD_NEXT, mangled.c_str());
  if (address == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in abseil (%s)\n", mangled.c_str(),
                 dlerror());
    std::abort();
  }
  return address;
}

// Looked up on first use. Not a function-local static: its initialization guard
// would be a release/acquire pair that ThreadSanitizer sees, joining every caller to
// the first one and hiding real races; a relaxed atomic adds no such edge.
template <typename Function>
class Real {
 public:
  constexpr explicit Real(const char* name) : name_(name) {}
  Function operator*() {
    void* address = address_.load(std::memory_order_relaxed);
    if (address == nullptr) {
      address = Resolve(name_);
      address_.store(address, std::memory_order_relaxed);
    }
    return reinterpret_cast<Function>(address);
  }

 private:
  const char* name_;
  std::atomic<void*> address_{nullptr};
};

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

constexpr unsigned kReader = __tsan_mutex_read_lock;

// Depth of our definitions on this thread. abseil calls its own entry points through
// the PLT too (AwaitWithTimeout calls AwaitWithDeadline, Notify calls Lock): only the
// outermost call is annotated, or TSan would see the same lock taken or released twice.
thread_local int depth = 0;

struct Outermost {
  Outermost() : outermost(depth++ == 0) {}
  ~Outermost() { --depth; }
  const bool outermost;
};

// The real call takes the lock (or keeps it): annotate it as abseil built with
// ThreadSanitizer does. `call` returns the real function's result (0 for void).
template <typename Call>
auto Locking(Mutex* mu, unsigned flags, Call call) {
  Outermost scope;
  if (!scope.outermost) return call();
  __tsan_mutex_pre_lock(mu, flags);
  auto result = call();
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

// TryLock, ReaderTryLock: the lock is held when the call returns true.
template <typename Call>
bool TryLocking(Mutex* mu, unsigned flags, Call call) {
  Outermost scope;
  if (!scope.outermost) return call();
  flags |= __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(mu, flags);
  bool locked = call();
  __tsan_mutex_post_lock(mu, locked ? flags : flags | __tsan_mutex_try_lock_failed, 0);
  return locked;
}

template <typename Call>
void Unlocking(Mutex* mu, unsigned flags, Call call) {
  Outermost scope;
  if (!scope.outermost) return (void)call();
  __tsan_mutex_pre_unlock(mu, flags);
  call();
  __tsan_mutex_post_unlock(mu, flags);
}

// The real call releases the lock, waits and takes it again (CondVar::Wait,
// Mutex::Await).
template <typename Call>
auto Waiting(Mutex* mu, Call call) {
  Outermost scope;
  if (!scope.outermost) return call();
  __tsan_mutex_pre_unlock(mu, 0);
  auto result = call();
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  __tsan_mutex_post_lock(mu, 0, 0);
  return result;
}

// notified_yet_, the atomic that Notify stores and HasBeenNotified (inline, so
// instrumented in our code) loads with acquire.
static_assert(sizeof(Notification) == 2 * sizeof(Mutex),
              "absl::Notification is no longer {Mutex, std::atomic<bool>}");
void* NotifiedFlag(const Notification* n) {
  return const_cast<char*>(reinterpret_cast<const char*>(n) + sizeof(Mutex));
}

// gpr_once_init (gRPC's one-time initialization, absl::call_once inside libgpr): the
// thread that ran the function releases when it is done; every caller acquires after.
thread_local void (*once_function)() = nullptr;
thread_local void* once_flag = nullptr;

void RunOnceFunctionAndRelease() {
  once_function();
  __tsan_release(once_flag);
}

}  // namespace

extern "C" void gpr_once_init(void* once, void (*init_function)()) {
  static Real<void (*)(void*, void (*)())> real("gpr_once_init");
  // Saved and restored: an init function may run another gpr_once_init.
  void (*outer_function)() = once_function;
  void* outer_flag = once_flag;
  once_function = init_function;
  once_flag = once;
  (*real)(once, &RunOnceFunctionAndRelease);
  once_function = outer_function;
  once_flag = outer_flag;
  __tsan_acquire(once);
}

namespace absl {
ABSL_NAMESPACE_BEGIN

// absl::call_once (header code, instrumented) ends the first call with a release store
// of kOnceDone into its control word; a caller that found the call running waits in
// libabsl's SpinLockWait, whose acquire load of the word TSan does not see, so what the
// first call wrote (e.g. runtime::StreamEvent::Decoded's parsed message) looked racy to
// the waiters (e2e.watch_fanout). The same acquire, stated after the wait.
uint32_t base_internal::SpinLockWait(std::atomic<uint32_t>* word, int n,
                                     const SpinLockWaitTransition trans[],
                                     SchedulingMode scheduling_mode) {
  static Real<uint32_t (*)(std::atomic<uint32_t>*, int, const SpinLockWaitTransition[],
                           SchedulingMode)>
      real(
          "_ZN@13base_internal12SpinLockWaitEPSt6atomicIjEiPKNS1_22SpinLockWaitTransitionENS1_"
          "14SchedulingModeE");
  uint32_t state = (*real)(word, n, trans, scheduling_mode);
  __tsan_acquire(word);
  return state;
}

void Mutex::Lock() {
  static Real<void (*)(Mutex*)> real("_ZN@5Mutex4LockEv");
  Locking(this, 0, [&] { return ((*real)(this), 0); });
}

void Mutex::ReaderLock() {
  static Real<void (*)(Mutex*)> real("_ZN@5Mutex10ReaderLockEv");
  Locking(this, kReader, [&] { return ((*real)(this), 0); });
}

bool Mutex::TryLock() {
  static Real<bool (*)(Mutex*)> real("_ZN@5Mutex7TryLockEv");
  return TryLocking(this, 0, [&] { return (*real)(this); });
}

bool Mutex::ReaderTryLock() {
  static Real<bool (*)(Mutex*)> real("_ZN@5Mutex13ReaderTryLockEv");
  return TryLocking(this, kReader, [&] { return (*real)(this); });
}

void Mutex::Unlock() {
  static Real<void (*)(Mutex*)> real("_ZN@5Mutex6UnlockEv");
  Unlocking(this, 0, [&] { (*real)(this); });
}

void Mutex::ReaderUnlock() {
  static Real<void (*)(Mutex*)> real("_ZN@5Mutex12ReaderUnlockEv");
  Unlocking(this, kReader, [&] { (*real)(this); });
}

void Mutex::LockWhen(const Condition& cond) {
  static Real<void (*)(Mutex*, const Condition&)> real("_ZN@5Mutex8LockWhenERKNS#_9ConditionE");
  Locking(this, 0, [&] { return ((*real)(this, cond), 0); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static Real<void (*)(Mutex*, const Condition&)> real(
      "_ZN@5Mutex14ReaderLockWhenERKNS#_9ConditionE");
  Locking(this, kReader, [&] { return ((*real)(this, cond), 0); });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static Real<bool (*)(Mutex*, const Condition&, Duration)> real(
      "_ZN@5Mutex19LockWhenWithTimeoutERKNS#_9ConditionENS#_8DurationE");
  return Locking(this, 0, [&] { return (*real)(this, cond, timeout); });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static Real<bool (*)(Mutex*, const Condition&, Duration)> real(
      "_ZN@5Mutex25ReaderLockWhenWithTimeoutERKNS#_9ConditionENS#_8DurationE");
  return Locking(this, kReader, [&] { return (*real)(this, cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static Real<bool (*)(Mutex*, const Condition&, Time)> real(
      "_ZN@5Mutex20LockWhenWithDeadlineERKNS#_9ConditionENS#_4TimeE");
  return Locking(this, 0, [&] { return (*real)(this, cond, deadline); });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static Real<bool (*)(Mutex*, const Condition&, Time)> real(
      "_ZN@5Mutex26ReaderLockWhenWithDeadlineERKNS#_9ConditionENS#_4TimeE");
  return Locking(this, kReader, [&] { return (*real)(this, cond, deadline); });
}

void Mutex::Await(const Condition& cond) {
  static Real<void (*)(Mutex*, const Condition&)> real("_ZN@5Mutex5AwaitERKNS#_9ConditionE");
  Waiting(this, [&] { return ((*real)(this, cond), 0); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static Real<bool (*)(Mutex*, const Condition&, Duration)> real(
      "_ZN@5Mutex16AwaitWithTimeoutERKNS#_9ConditionENS#_8DurationE");
  return Waiting(this, [&] { return (*real)(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static Real<bool (*)(Mutex*, const Condition&, Time)> real(
      "_ZN@5Mutex17AwaitWithDeadlineERKNS#_9ConditionENS#_4TimeE");
  return Waiting(this, [&] { return (*real)(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  static Real<void (*)(CondVar*, Mutex*)> real("_ZN@7CondVar4WaitEPNS#_5MutexE");
  Waiting(mu, [&] { return ((*real)(this, mu), 0); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static Real<bool (*)(CondVar*, Mutex*, Duration)> real(
      "_ZN@7CondVar15WaitWithTimeoutEPNS#_5MutexENS#_8DurationE");
  return Waiting(mu, [&] { return (*real)(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static Real<bool (*)(CondVar*, Mutex*, Time)> real(
      "_ZN@7CondVar16WaitWithDeadlineEPNS#_5MutexENS#_4TimeE");
  return Waiting(mu, [&] { return (*real)(this, mu, deadline); });
}

// Notify releases before the flag is set; a waiter that returns notified (or an
// inline HasBeenNotified that reads true) acquires. The fast paths never touch the
// mutex, so its annotations alone would not connect the two threads.
void Notification::Notify() {
  static Real<void (*)(Notification*)> real("_ZN@12Notification6NotifyEv");
  Outermost scope;
  if (scope.outermost) __tsan_release(NotifiedFlag(this));
  (*real)(this);
}

void Notification::WaitForNotification() const {
  static Real<void (*)(const Notification*)> real("_ZNK@12Notification19WaitForNotificationEv");
  Outermost scope;
  (*real)(this);
  if (scope.outermost) __tsan_acquire(NotifiedFlag(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static Real<bool (*)(const Notification*, Duration)> real(
      "_ZNK@12Notification30WaitForNotificationWithTimeoutENS#_8DurationE");
  Outermost scope;
  bool notified = (*real)(this, timeout);
  if (notified && scope.outermost) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static Real<bool (*)(const Notification*, Time)> real(
      "_ZNK@12Notification31WaitForNotificationWithDeadlineENS#_4TimeE");
  Outermost scope;
  bool notified = (*real)(this, deadline);
  if (notified && scope.outermost) __tsan_acquire(NotifiedFlag(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
