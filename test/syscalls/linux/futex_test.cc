// Tests for futex(2): WAIT/WAKE (private and shared), timeouts, bitsets,
// CMP_REQUEUE and WAKE_OP.

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

long Futex(int* uaddr, int op, int val, const struct timespec* timeout = nullptr,
           int* uaddr2 = nullptr, int val3 = 0) {
  return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

// This overload is for the ops that take a count where the timeout goes.
long Futex(int* uaddr, int op, int val, long val2, int* uaddr2, int val3) {
  return syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
}

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// CountWaiters returns how many tasks wait on uaddr (a private futex whose
// value is val), without waking them: FUTEX_CMP_REQUEUE from uaddr to itself
// with nr_wake 0 moves every waiter to where it already was and returns how
// many it moved.
long CountWaiters(int* uaddr, int val, bool is_private = true) {
  return Futex(uaddr, FUTEX_CMP_REQUEUE | (is_private ? FUTEX_PRIVATE_FLAG : 0), 0, INT_MAX,
               uaddr, val);
}

// AwaitWaiters waits (up to 10 s) until n tasks wait on uaddr.
void AwaitWaiters(int* uaddr, int val, long n, bool is_private = true) {
  long got = -1;
  for (int i = 0; i < 10000; i++) {
    got = CountWaiters(uaddr, val, is_private);
    if (got == n) return;
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
  }
  FAIL() << "waiters on futex: " << got << ", want " << n;
}

// Waiter is a thread blocked in one FUTEX_WAIT (or WAIT_BITSET).
class Waiter {
 public:
  Waiter(int* uaddr, int op, int val, int bitset = FUTEX_BITSET_MATCH_ANY)
      : uaddr_(uaddr), op_(op), val_(val), bitset_(bitset) {
    EXPECT_EQ(pthread_create(&thread_, nullptr, Run, this), 0);
  }
  ~Waiter() { Join(); }
  // Join waits for the thread and returns FUTEX_WAIT's result (0 or errno).
  int Join() {
    if (!joined_) {
      pthread_join(thread_, nullptr);
      joined_ = true;
    }
    return result_;
  }
  bool done() const { return done_.load(); }

 private:
  static void* Run(void* arg) {
    auto* w = static_cast<Waiter*>(arg);
    const long r = Futex(w->uaddr_, w->op_, w->val_, nullptr, nullptr, w->bitset_);
    w->result_ = r == 0 ? 0 : errno;
    w->done_ = true;
    return nullptr;
  }
  int* uaddr_;
  int op_;
  int val_;
  int bitset_;
  pthread_t thread_;
  bool joined_ = false;
  int result_ = -1;
  std::atomic<bool> done_{false};
};

TEST(FutexTest, WaitWithWrongValueIsEAGAIN) {
  int word = 1;
  EXPECT_THAT(Futex(&word, FUTEX_WAIT, 2), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(Futex(&word, FUTEX_WAIT_PRIVATE, 0), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(Futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 3, nullptr, nullptr, 1),
              SyscallFailsWithErrno(EAGAIN));
}

TEST(FutexTest, RelativeTimeoutIsETIMEDOUT) {
  int word = 0;
  const struct timespec timeout = {0, 30 * 1000 * 1000};
  const int64_t start = MonotonicNs();
  EXPECT_THAT(Futex(&word, FUTEX_WAIT_PRIVATE, 0, &timeout), SyscallFailsWithErrno(ETIMEDOUT));
  EXPECT_GE(MonotonicNs() - start, 30 * 1000 * 1000);
  const struct timespec zero = {0, 0};
  EXPECT_THAT(Futex(&word, FUTEX_WAIT_PRIVATE, 0, &zero), SyscallFailsWithErrno(ETIMEDOUT));
}

TEST(FutexTest, WaitBitsetTimeoutIsAbsolute) {
  int word = 0;
  for (const bool realtime : {false, true}) {
    SCOPED_TRACE(realtime ? "CLOCK_REALTIME" : "CLOCK_MONOTONIC");
    const clockid_t clock = realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC;
    struct timespec deadline;
    ASSERT_THAT(clock_gettime(clock, &deadline), SyscallSucceeds());
    deadline.tv_nsec += 30 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000;
    }
    const int op = FUTEX_WAIT_BITSET_PRIVATE | (realtime ? FUTEX_CLOCK_REALTIME : 0);
    EXPECT_THAT(Futex(&word, op, 0, &deadline, nullptr, FUTEX_BITSET_MATCH_ANY),
                SyscallFailsWithErrno(ETIMEDOUT));
    struct timespec now;
    ASSERT_THAT(clock_gettime(clock, &now), SyscallSucceeds());
    EXPECT_TRUE(now.tv_sec > deadline.tv_sec ||
                (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec));
    // A deadline in the past times out at once.
    const struct timespec past = {1, 0};
    EXPECT_THAT(Futex(&word, op, 0, &past, nullptr, FUTEX_BITSET_MATCH_ANY),
                SyscallFailsWithErrno(ETIMEDOUT));
  }
}

TEST(FutexTest, InvalidArguments) {
  int word = 0;
  const struct timespec bad = {0, 1000000000};
  EXPECT_THAT(Futex(&word, FUTEX_WAIT_PRIVATE, 0, &bad), SyscallFailsWithErrno(EINVAL));
  // Misaligned address.
  alignas(8) char buf[8] = {};
  EXPECT_THAT(Futex(reinterpret_cast<int*>(buf + 1), FUTEX_WAKE_PRIVATE, 1),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Futex(nullptr, FUTEX_WAIT_PRIVATE, 0), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(Futex(&word, 99, 0), SyscallFailsWithErrno(ENOSYS));
  // An empty bitset matches nothing and is refused.
  EXPECT_THAT(Futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, nullptr, nullptr, 0),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, nullptr, nullptr, 0),
              SyscallFailsWithErrno(EINVAL));
  // FUTEX_CLOCK_REALTIME only goes with the bitset (and LOCK_PI2) waits.
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_PRIVATE | FUTEX_CLOCK_REALTIME, 1),
              SyscallFailsWithErrno(ENOSYS));
}

TEST(FutexTest, WakeWithoutWaitersReturnsZero) {
  int word = 0;
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_PRIVATE, 1), SyscallSucceedsWithValue(0));
  EXPECT_THAT(Futex(&word, FUTEX_WAKE, INT_MAX), SyscallSucceedsWithValue(0));
}

TEST(FutexTest, WakeWakesAtMostN) {
  int word = 0;
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < 4; i++) {
    waiters.push_back(std::make_unique<Waiter>(&word, FUTEX_WAIT_PRIVATE, 0));
  }
  ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&word, 0, 4));
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_PRIVATE, 2), SyscallSucceedsWithValue(2));
  // Exactly two left waiting.
  ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&word, 0, 2));
  int done = 0;
  for (int i = 0; i < 1000 && done != 2; i++) {
    done = 0;
    for (auto& w : waiters) done += w->done();
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
  }
  EXPECT_EQ(done, 2);
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX), SyscallSucceedsWithValue(2));
  for (auto& w : waiters) EXPECT_EQ(w->Join(), 0);
  EXPECT_THAT(CountWaiters(&word, 0), SyscallSucceedsWithValue(0));
}

TEST(FutexTest, WakeOneWakesOne) {
  int word = 0;
  Waiter w(&word, FUTEX_WAIT_PRIVATE, 0);
  ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&word, 0, 1));
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_PRIVATE, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(w.Join(), 0);
}

TEST(FutexTest, SharedFutexWorksAcrossProcessesPrivateDoesNot) {
  void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_THAT(mem, SyscallSucceeds());
  int* word = static_cast<int*>(mem);
  *word = 0;
  const pid_t pid = fork();
  if (pid == 0) {
    const long r = Futex(word, FUTEX_WAIT, 0);
    TEST_PCHECK(r == 0);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_NO_FATAL_FAILURE(AwaitWaiters(word, 0, 1, /*is_private=*/false));
  // A private futex is keyed by address space: ours has no waiter.
  EXPECT_THAT(Futex(word, FUTEX_WAKE_PRIVATE, 1), SyscallSucceedsWithValue(0));
  EXPECT_THAT(Futex(word, FUTEX_WAKE, 1), SyscallSucceedsWithValue(1));
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(0));
  EXPECT_THAT(munmap(mem, 4096), SyscallSucceeds());
}

TEST(FutexTest, WakeBitsetWakesOnlyMatchingWaiters) {
  int word = 0;
  Waiter w1(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, 0x1);
  Waiter w2(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, 0x2);
  ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&word, 0, 2));
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, nullptr, nullptr, 0x4),
              SyscallSucceedsWithValue(0));
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, nullptr, nullptr, 0x2),
              SyscallSucceedsWithValue(1));
  EXPECT_EQ(w2.Join(), 0);
  EXPECT_FALSE(w1.done());
  // A plain FUTEX_WAKE matches any bitset.
  EXPECT_THAT(Futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX), SyscallSucceedsWithValue(1));
  EXPECT_EQ(w1.Join(), 0);
}

TEST(FutexTest, CmpRequeueChecksValueAndCounts) {
  int a = 5;
  int b = 0;
  // Mismatched expected value: nothing happens.
  EXPECT_THAT(Futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &b, 6), SyscallFailsWithErrno(EAGAIN));

  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < 3; i++) {
    waiters.push_back(std::make_unique<Waiter>(&a, FUTEX_WAIT_PRIVATE, 5));
  }
  ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&a, 5, 3));
  EXPECT_THAT(Futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &b, 4), SyscallFailsWithErrno(EAGAIN));
  // Wake one, move one to b: returns both.
  EXPECT_THAT(Futex(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, 1, &b, 5), SyscallSucceedsWithValue(2));
  EXPECT_THAT(CountWaiters(&a, 5), SyscallSucceedsWithValue(1));
  EXPECT_THAT(CountWaiters(&b, 0), SyscallSucceedsWithValue(1));
  // Waking b wakes the moved waiter even though it waited on a.
  EXPECT_THAT(Futex(&b, FUTEX_WAKE_PRIVATE, INT_MAX), SyscallSucceedsWithValue(1));
  EXPECT_THAT(Futex(&a, FUTEX_WAKE_PRIVATE, INT_MAX), SyscallSucceedsWithValue(1));
  for (auto& w : waiters) EXPECT_EQ(w->Join(), 0);
}

TEST(FutexTest, WakeOpModifiesSecondWordAndWakesConditionally) {
  int a = 0;
  int b = 0;
  // No waiters: the operation on b still happens; the return counts wakes.
  EXPECT_THAT(Futex(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b,
                    FUTEX_OP(FUTEX_OP_ADD, 5, FUTEX_OP_CMP_EQ, 0)),
              SyscallSucceedsWithValue(0));
  EXPECT_EQ(b, 5);

  {
    // The comparison (old b == 5) holds: both a's and b's waiters are woken.
    Waiter wa(&a, FUTEX_WAIT_PRIVATE, 0);
    Waiter wb(&b, FUTEX_WAIT_PRIVATE, 5);
    ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&a, 0, 1));
    ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&b, 5, 1));
    EXPECT_THAT(Futex(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b,
                      FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 5)),
                SyscallSucceedsWithValue(2));
    EXPECT_EQ(b, 7);
    EXPECT_EQ(wa.Join(), 0);
    EXPECT_EQ(wb.Join(), 0);
  }
  {
    // The comparison (old b < 3) fails: only a's waiter is woken.
    Waiter wa(&a, FUTEX_WAIT_PRIVATE, 0);
    Waiter wb(&b, FUTEX_WAIT_PRIVATE, 7);
    ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&a, 0, 1));
    ASSERT_NO_FATAL_FAILURE(AwaitWaiters(&b, 7, 1));
    EXPECT_THAT(Futex(&a, FUTEX_WAKE_OP_PRIVATE, 1, 1, &b,
                      FUTEX_OP(FUTEX_OP_OR, 8, FUTEX_OP_CMP_LT, 3)),
                SyscallSucceedsWithValue(1));
    EXPECT_EQ(b, 15);
    EXPECT_EQ(wa.Join(), 0);
    EXPECT_FALSE(wb.done());
    EXPECT_THAT(Futex(&b, FUTEX_WAKE_PRIVATE, 1), SyscallSucceedsWithValue(1));
    EXPECT_EQ(wb.Join(), 0);
  }
}

}  // namespace
}  // namespace testing
}  // namespace visor
