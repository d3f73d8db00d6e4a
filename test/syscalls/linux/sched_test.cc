// Tests for CPU affinity (sched_getaffinity(2), sched_setaffinity(2)),
// scheduling policy and parameters, sched_yield(2), and nice values
// (getpriority(2), setpriority(2), nice(2)).

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr uid_t kNobody = 65534;

TEST(SchedAffinityTest, CountIsWithinConfiguredProcessors) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_THAT(sched_getaffinity(0, sizeof(set), &set), SyscallSucceeds());
  const int count = CPU_COUNT(&set);
  EXPECT_GE(count, 1);
  const long conf = sysconf(_SC_NPROCESSORS_CONF);
  ASSERT_GE(conf, 1);
  EXPECT_LE(count, conf);
  // Every allowed CPU is below the configured count.
  for (int cpu = conf; cpu < CPU_SETSIZE; cpu++) EXPECT_FALSE(CPU_ISSET(cpu, &set)) << cpu;
  // The CPU we run on is one of them.
  const int cur = sched_getcpu();
  ASSERT_THAT(cur, SyscallSucceeds());
  EXPECT_TRUE(CPU_ISSET(cur, &set)) << cur;
}

TEST(SchedAffinityTest, RawSyscallReturnsMaskSize) {
  unsigned long mask[CPU_SETSIZE / (8 * sizeof(unsigned long))] = {};
  const long n = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
  ASSERT_THAT(n, SyscallSucceeds());
  // The kernel copies out its cpumask size: a whole number of longs.
  EXPECT_GT(n, 0);
  EXPECT_EQ(n % sizeof(unsigned long), 0u);
  EXPECT_LE(static_cast<size_t>(n), sizeof(mask));
  // A buffer that is not a multiple of a long is refused.
  EXPECT_THAT(syscall(SYS_sched_getaffinity, 0, 3, mask), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_sched_getaffinity, INT_MAX, sizeof(mask), mask),
              SyscallFailsWithErrno(ESRCH));
}

TEST(SchedAffinityTest, SetAffinityToOneCpuIsObeyed) {
  cpu_set_t set;
  ASSERT_THAT(sched_getaffinity(0, sizeof(set), &set), SyscallSucceeds());
  int first = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && first < 0; cpu++) {
    if (CPU_ISSET(cpu, &set)) first = cpu;
  }
  ASSERT_GE(first, 0);
  EXPECT_THAT(InForkedProcess([first] {
                cpu_set_t one;
                CPU_ZERO(&one);
                CPU_SET(first, &one);
                TEST_PCHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
                cpu_set_t got;
                TEST_PCHECK(sched_getaffinity(0, sizeof(got), &got) == 0);
                TEST_CHECK(CPU_EQUAL(&got, &one));
                for (int i = 0; i < 10; i++) {
                  sched_yield();
                  TEST_CHECK(sched_getcpu() == first);
                }
                // An empty set is refused.
                cpu_set_t none;
                CPU_ZERO(&none);
                TEST_CHECK(sched_setaffinity(0, sizeof(none), &none) == -1 && errno == EINVAL);
              }),
              ExitedWith(0));
}

TEST(SchedTest, YieldSucceeds) {
  for (int i = 0; i < 100; i++) ASSERT_THAT(sched_yield(), SyscallSucceeds());
}

TEST(SchedTest, PolicyIsSchedOtherWithPriorityZero) {
  EXPECT_THAT(sched_getscheduler(0), SyscallSucceedsWithValue(SCHED_OTHER));
  EXPECT_THAT(sched_getscheduler(getpid()), SyscallSucceedsWithValue(SCHED_OTHER));
  struct sched_param param = {.sched_priority = -1};
  ASSERT_THAT(sched_getparam(0, &param), SyscallSucceeds());
  EXPECT_EQ(param.sched_priority, 0);
  EXPECT_THAT(sched_get_priority_min(SCHED_OTHER), SyscallSucceedsWithValue(0));
  EXPECT_THAT(sched_get_priority_max(SCHED_OTHER), SyscallSucceedsWithValue(0));
  EXPECT_THAT(sched_get_priority_min(SCHED_FIFO), SyscallSucceedsWithValue(1));
  EXPECT_THAT(sched_get_priority_max(SCHED_FIFO), SyscallSucceedsWithValue(99));
  EXPECT_THAT(sched_get_priority_max(SCHED_RR), SyscallSucceedsWithValue(99));
  EXPECT_THAT(sched_get_priority_max(42), SyscallFailsWithErrno(EINVAL));
  struct timespec quantum;
  EXPECT_THAT(sched_rr_get_interval(0, &quantum), SyscallSucceeds());
}

TEST(SchedTest, InvalidArguments) {
  EXPECT_THAT(sched_getscheduler(-1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sched_getscheduler(INT_MAX), SyscallFailsWithErrno(ESRCH));
  struct sched_param param = {.sched_priority = 5};
  // SCHED_OTHER takes priority 0 only.
  EXPECT_THAT(sched_setscheduler(0, SCHED_OTHER, &param), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sched_setscheduler(0, 42, &param), SyscallFailsWithErrno(EINVAL));
  param.sched_priority = 0;
  EXPECT_THAT(sched_setscheduler(0, SCHED_OTHER, &param), SyscallSucceeds());
}

TEST(SchedTest, UnprivilegedCannotUseRealtimePolicies) {
  EXPECT_THAT(InForkedProcess([] {
                if (getuid() == 0) TEST_PCHECK(setresuid(kNobody, kNobody, kNobody) == 0);
                // Needs CAP_SYS_NICE (or an RLIMIT_RTPRIO allowance).
                const struct rlimit no_rt = {0, 0};
                TEST_PCHECK(setrlimit(RLIMIT_RTPRIO, &no_rt) == 0);
                struct sched_param param = {.sched_priority = 1};
                TEST_CHECK(sched_setscheduler(0, SCHED_FIFO, &param) == -1 && errno == EPERM);
                TEST_CHECK(sched_getscheduler(0) == SCHED_OTHER);
              }),
              ExitedWith(0));
}

TEST(PriorityTest, LoweringWorksRaisingNeedsPrivilege) {
  errno = 0;
  const int start = getpriority(PRIO_PROCESS, 0);
  ASSERT_EQ(errno, 0);
  EXPECT_GE(start, -20);
  EXPECT_LE(start, 19);
  if (start > 15) GTEST_SKIP() << "already at nice " << start << ", too high to lower";
  EXPECT_THAT(InForkedProcess([start] {
                if (getuid() == 0) TEST_PCHECK(setresuid(kNobody, kNobody, kNobody) == 0);
                TEST_PCHECK(setpriority(PRIO_PROCESS, 0, start + 2) == 0);
                errno = 0;
                TEST_CHECK(getpriority(PRIO_PROCESS, 0) == start + 2 && errno == 0);
                // nice() adds and returns the new value.
                errno = 0;
                TEST_CHECK(nice(1) == start + 3 && errno == 0);
                TEST_CHECK(getpriority(PRIO_PROCESS, getpid()) == start + 3);
                // Going back up is refused without CAP_SYS_NICE (and with
                // RLIMIT_NICE at 0).
                const struct rlimit no_nice = {0, 0};
                TEST_PCHECK(setrlimit(RLIMIT_NICE, &no_nice) == 0);
                TEST_CHECK(setpriority(PRIO_PROCESS, 0, start) == -1 && errno == EACCES);
                TEST_CHECK(getpriority(PRIO_PROCESS, 0) == start + 3);
                // Values beyond 19 are clamped.
                TEST_PCHECK(setpriority(PRIO_PROCESS, 0, 100) == 0);
                TEST_CHECK(getpriority(PRIO_PROCESS, 0) == 19);
              }),
              ExitedWith(0));
}

TEST(PriorityTest, InvalidArguments) {
  EXPECT_THAT(getpriority(static_cast<__priority_which>(42), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(setpriority(PRIO_PROCESS, INT_MAX, 0), SyscallFailsWithErrno(ESRCH));
}

}  // namespace
}  // namespace testing
}  // namespace visor
