// Tests for robust futexes: set_robust_list(2), get_robust_list(2), the
// kernel's processing of a dying thread's robust list, and the robust
// pthread mutexes built on them.

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// ScopedRobustMutex makes a robust mutex (optionally process-shared) at
// storage and destroys it at the end of the scope.
class ScopedRobustMutex {
 public:
  ScopedRobustMutex(pthread_mutex_t* m, bool pshared) : m_(m) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    EXPECT_EQ(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST), 0);
    if (pshared) EXPECT_EQ(pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED), 0);
    EXPECT_EQ(pthread_mutex_init(m_, &attr), 0);
    pthread_mutexattr_destroy(&attr);
  }
  ~ScopedRobustMutex() { pthread_mutex_destroy(m_); }
  ScopedRobustMutex(const ScopedRobustMutex&) = delete;
  ScopedRobustMutex& operator=(const ScopedRobustMutex&) = delete;

 private:
  pthread_mutex_t* m_;
};

void* LockAndExit(void* arg) {
  const int err = pthread_mutex_lock(static_cast<pthread_mutex_t*>(arg));
  return reinterpret_cast<void*>(static_cast<intptr_t>(err));
}

TEST(RobustFutexTest, ThreadDyingWithMutexMakesNextLockerOwnerDead) {
  pthread_mutex_t m;
  ScopedRobustMutex scoped(&m, /*pshared=*/false);
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, LockAndExit, &m), 0);
  void* ret = nullptr;
  ASSERT_EQ(pthread_join(t, &ret), 0);
  ASSERT_EQ(ret, nullptr);  // The thread got the lock.

  EXPECT_EQ(pthread_mutex_lock(&m), EOWNERDEAD);
  EXPECT_EQ(pthread_mutex_consistent(&m), 0);
  EXPECT_EQ(pthread_mutex_unlock(&m), 0);
  // Made consistent, the mutex works normally again.
  EXPECT_EQ(pthread_mutex_lock(&m), 0);
  EXPECT_EQ(pthread_mutex_unlock(&m), 0);
}

TEST(RobustFutexTest, NotMadeConsistentBecomesUnrecoverable) {
  pthread_mutex_t m;
  ScopedRobustMutex scoped(&m, /*pshared=*/false);
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, LockAndExit, &m), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_EQ(pthread_mutex_trylock(&m), EOWNERDEAD);
  EXPECT_EQ(pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(pthread_mutex_lock(&m), ENOTRECOVERABLE);
}

TEST(RobustFutexTest, ProcessDyingWithSharedMutexMakesNextLockerOwnerDead) {
  void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_THAT(mem, SyscallSucceeds());
  auto* m = static_cast<pthread_mutex_t*>(mem);
  {
    ScopedRobustMutex scoped(m, /*pshared=*/true);
    EXPECT_THAT(InForkedProcess([m] {
                  TEST_CHECK(pthread_mutex_lock(m) == 0);
                  // _exit with the mutex held.
                }),
                ExitedWith(0));
    EXPECT_EQ(pthread_mutex_lock(m), EOWNERDEAD);
    EXPECT_EQ(pthread_mutex_consistent(m), 0);
    EXPECT_EQ(pthread_mutex_unlock(m), 0);
  }
  EXPECT_THAT(munmap(mem, 4096), SyscallSucceeds());
}

TEST(RobustFutexTest, GetRobustListReturnsWhatWasSet) {
  struct robust_list_head* head = nullptr;
  size_t len = 0;
  // glibc registers a list for every thread.
  ASSERT_THAT(syscall(SYS_get_robust_list, 0, &head, &len), SyscallSucceeds());
  EXPECT_NE(head, nullptr);
  EXPECT_EQ(len, sizeof(struct robust_list_head));
  // Our own pid names the same (main) thread.
  struct robust_list_head* by_pid = nullptr;
  ASSERT_THAT(syscall(SYS_get_robust_list, getpid(), &by_pid, &len), SyscallSucceeds());
  EXPECT_EQ(by_pid, head);

  struct robust_list_head mine = {};
  mine.list.next = &mine.list;
  ASSERT_THAT(syscall(SYS_set_robust_list, &mine, sizeof(mine)), SyscallSucceeds());
  struct robust_list_head* got = nullptr;
  ASSERT_THAT(syscall(SYS_get_robust_list, 0, &got, &len), SyscallSucceeds());
  EXPECT_EQ(got, &mine);
  // Put glibc's back.
  ASSERT_THAT(syscall(SYS_set_robust_list, head, sizeof(*head)), SyscallSucceeds());
}

TEST(RobustFutexTest, InvalidArguments) {
  struct robust_list_head head = {};
  head.list.next = &head.list;
  EXPECT_THAT(syscall(SYS_set_robust_list, &head, sizeof(head) - 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_set_robust_list, &head, 0), SyscallFailsWithErrno(EINVAL));
  struct robust_list_head* got;
  size_t len;
  EXPECT_THAT(syscall(SYS_get_robust_list, INT_MAX, &got, &len), SyscallFailsWithErrno(ESRCH));
}

// A raw robust lock, laid out the way the kernel's robust list walk expects:
// a list entry and, futex_offset bytes after it, the lock word.
struct RawRobustLock {
  struct robust_list list;
  uint32_t word;
};

struct Owner {
  RawRobustLock* held;       // Locked by the owner, and on its list.
  RawRobustLock* not_owned;  // On its list with another tid: left alone.
  std::atomic<pid_t> tid{0};
  std::atomic<int> go{0};
};

void* OwnAndDie(void* arg) {
  auto* o = static_cast<Owner*>(arg);
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  static thread_local struct robust_list_head head;
  head.list.next = &o->held->list;
  o->held->list.next = &o->not_owned->list;
  o->not_owned->list.next = &head.list;
  head.futex_offset = offsetof(RawRobustLock, word) - offsetof(RawRobustLock, list);
  head.list_op_pending = nullptr;
  if (syscall(SYS_set_robust_list, &head, sizeof(head)) != 0) return nullptr;
  __atomic_store_n(&o->held->word, static_cast<uint32_t>(tid) | FUTEX_WAITERS,
                   __ATOMIC_SEQ_CST);
  o->tid = tid;
  while (o->go.load() == 0) {
    syscall(SYS_futex, &o->go, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  }
  // Exit the thread alone, with the lock held: the kernel walks the list.
  syscall(SYS_exit, 0);
  return nullptr;
}

struct LockWaiter {
  uint32_t* word;
  uint32_t val;
  long result;
};

void* WaitOnLock(void* arg) {
  auto* w = static_cast<LockWaiter*>(arg);
  w->result = syscall(SYS_futex, w->word, FUTEX_WAIT, w->val, nullptr, nullptr, 0);
  if (w->result != 0) w->result = -errno;
  return nullptr;
}

TEST(RobustFutexTest, KernelMarksLocksOfDeadThreadAndWakesAWaiter) {
  RawRobustLock held = {};
  RawRobustLock not_owned = {};
  not_owned.word = 1;  // tid 1 is never one of our threads.
  Owner o;
  o.held = &held;
  o.not_owned = &not_owned;
  pthread_t owner;
  ASSERT_EQ(pthread_create(&owner, nullptr, OwnAndDie, &o), 0);
  while (o.tid.load() == 0) sched_yield();
  const uint32_t locked = static_cast<uint32_t>(o.tid.load()) | FUTEX_WAITERS;
  ASSERT_EQ(__atomic_load_n(&held.word, __ATOMIC_SEQ_CST), locked);

  // A (shared-futex) waiter on the held lock.
  LockWaiter w = {&held.word, locked, 1};
  pthread_t waiter;
  ASSERT_EQ(pthread_create(&waiter, nullptr, WaitOnLock, &w), 0);
  long waiting = 0;
  for (int i = 0; i < 10000 && waiting != 1; i++) {
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
    // Count waiters without waking them (requeue to the same word).
    waiting = syscall(SYS_futex, &held.word, FUTEX_CMP_REQUEUE, 0, INT_MAX, &held.word, locked);
  }
  EXPECT_EQ(waiting, 1);

  o.go = 1;
  syscall(SYS_futex, &o.go, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  ASSERT_EQ(pthread_join(owner, nullptr), 0);  // Done when the kernel cleared its tid.
  ASSERT_EQ(pthread_join(waiter, nullptr), 0);
  EXPECT_EQ(w.result, 0);  // Woken, not EAGAIN: it was waiting.
  // The owner's tid is gone and OWNER_DIED is set; FUTEX_WAITERS is kept.
  EXPECT_EQ(__atomic_load_n(&held.word, __ATOMIC_SEQ_CST), FUTEX_OWNER_DIED | FUTEX_WAITERS);
  // A lock on the list that the thread did not own is untouched.
  EXPECT_EQ(not_owned.word, 1u);
}

}  // namespace
}  // namespace testing
}  // namespace visor
