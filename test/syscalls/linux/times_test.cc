// Tests for times(2) and getrusage(2): the process's own CPU time and that
// of its waited-for children.

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

int64_t CpuNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// BurnCpu spins until this thread has used ms of CPU time.
void BurnCpu(int ms) {
  const int64_t start = CpuNs(CLOCK_THREAD_CPUTIME_ID);
  while (CpuNs(CLOCK_THREAD_CPUTIME_ID) - start < ms * 1000000LL) {
  }
}

int64_t TimevalUs(const struct timeval& tv) { return tv.tv_sec * 1000000LL + tv.tv_usec; }

TEST(TimesTest, ReturnValueAdvancesWithTime) {
  const long hz = sysconf(_SC_CLK_TCK);
  ASSERT_GT(hz, 0);
  struct tms before;
  const clock_t t0 = times(&before);
  ASSERT_NE(t0, static_cast<clock_t>(-1));
  const struct timespec delay = {0, 100 * 1000 * 1000};
  ASSERT_THAT(nanosleep(&delay, nullptr), SyscallSucceeds());
  struct tms after;
  const clock_t t1 = times(&after);
  // 100 ms is 10 ticks at 100 Hz; allow for tick granularity.
  EXPECT_GE(t1 - t0, hz / 10 - 1);
  EXPECT_LT(t1 - t0, hz * 10);
  // Sleeping used (almost) no CPU.
  EXPECT_LE((after.tms_utime + after.tms_stime) - (before.tms_utime + before.tms_stime), hz / 20 + 1);
  // A null buffer is allowed.
  EXPECT_NE(times(nullptr), static_cast<clock_t>(-1));
}

TEST(TimesTest, CpuTimeIsCounted) {
  const long hz = sysconf(_SC_CLK_TCK);
  struct tms before;
  ASSERT_NE(times(&before), static_cast<clock_t>(-1));
  BurnCpu(200);
  struct tms after;
  ASSERT_NE(times(&after), static_cast<clock_t>(-1));
  const clock_t used = (after.tms_utime + after.tms_stime) - (before.tms_utime + before.tms_stime);
  // 200 ms of CPU is 20 ticks at 100 Hz; accept a wide margin.
  EXPECT_GE(used, hz / 10);
  EXPECT_LE(used, hz * 2);
  EXPECT_GE(after.tms_utime, before.tms_utime);
}

TEST(TimesTest, WaitedForChildrenAreCounted) {
  const long hz = sysconf(_SC_CLK_TCK);
  struct tms before;
  ASSERT_NE(times(&before), static_cast<clock_t>(-1));
  struct rusage ru_before;
  ASSERT_THAT(getrusage(RUSAGE_CHILDREN, &ru_before), SyscallSucceeds());

  const pid_t pid = fork();
  if (pid == 0) {
    BurnCpu(200);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  // Not counted until the child is waited for.
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceeds());
  struct tms mid;
  ASSERT_NE(times(&mid), static_cast<clock_t>(-1));
  EXPECT_EQ(mid.tms_cutime, before.tms_cutime);
  ASSERT_THAT(waitpid(pid, nullptr, 0), SyscallSucceedsWithValue(pid));

  struct tms after;
  ASSERT_NE(times(&after), static_cast<clock_t>(-1));
  const clock_t child =
      (after.tms_cutime + after.tms_cstime) - (before.tms_cutime + before.tms_cstime);
  EXPECT_GE(child, hz / 10);
  EXPECT_LE(child, hz * 2);

  struct rusage ru_after;
  ASSERT_THAT(getrusage(RUSAGE_CHILDREN, &ru_after), SyscallSucceeds());
  const int64_t child_us = (TimevalUs(ru_after.ru_utime) + TimevalUs(ru_after.ru_stime)) -
                           (TimevalUs(ru_before.ru_utime) + TimevalUs(ru_before.ru_stime));
  EXPECT_GE(child_us, 100 * 1000);
  EXPECT_LE(child_us, 2000 * 1000);
}

TEST(GetrusageTest, SelfAndThreadCountCpu) {
  struct rusage self_before, thread_before;
  ASSERT_THAT(getrusage(RUSAGE_SELF, &self_before), SyscallSucceeds());
  ASSERT_THAT(getrusage(RUSAGE_THREAD, &thread_before), SyscallSucceeds());
  BurnCpu(100);
  struct rusage self_after, thread_after;
  // The thread first: the process total read afterwards must include it.
  ASSERT_THAT(getrusage(RUSAGE_THREAD, &thread_after), SyscallSucceeds());
  ASSERT_THAT(getrusage(RUSAGE_SELF, &self_after), SyscallSucceeds());
  const int64_t self_us = (TimevalUs(self_after.ru_utime) + TimevalUs(self_after.ru_stime)) -
                          (TimevalUs(self_before.ru_utime) + TimevalUs(self_before.ru_stime));
  const int64_t thread_us =
      (TimevalUs(thread_after.ru_utime) + TimevalUs(thread_after.ru_stime)) -
      (TimevalUs(thread_before.ru_utime) + TimevalUs(thread_before.ru_stime));
  EXPECT_GE(self_us, 50 * 1000);
  EXPECT_GE(thread_us, 50 * 1000);
  EXPECT_GT(self_after.ru_maxrss, 0);
  // The process total includes this thread's.
  EXPECT_GE(TimevalUs(self_after.ru_utime) + TimevalUs(self_after.ru_stime),
            TimevalUs(thread_after.ru_utime) + TimevalUs(thread_after.ru_stime));
}

TEST(GetrusageTest, InvalidWhoIsEINVAL) {
  struct rusage ru;
  EXPECT_THAT(getrusage(static_cast<__rusage_who>(42), &ru), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getrusage, RUSAGE_SELF, reinterpret_cast<void*>(8)),
              SyscallFailsWithErrno(EFAULT));
}

}  // namespace
}  // namespace testing
}  // namespace visor
