// Tests for clock_gettime(2), clock_getres(2), nanosleep(2) and
// clock_nanosleep(2).

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr int64_t kNsPerSec = 1000000000;
constexpr int64_t kNsPerMs = 1000000;

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

struct timespec FromNs(int64_t ns) {
  return {static_cast<time_t>(ns / kNsPerSec), static_cast<long>(ns % kNsPerSec)};
}

// ClockNs reads clock through libc (usually the vDSO), failing the test on error.
void ClockNs(clockid_t clock, int64_t* ns) {
  struct timespec ts;
  ASSERT_THAT(clock_gettime(clock, &ts), SyscallSucceeds());
  ASSERT_GE(ts.tv_nsec, 0);
  ASSERT_LT(ts.tv_nsec, kNsPerSec);
  *ns = ToNs(ts);
}

// RawClockNs reads clock through the syscall itself, bypassing the vDSO.
void RawClockNs(clockid_t clock, int64_t* ns) {
  struct timespec ts;
  ASSERT_THAT(syscall(SYS_clock_gettime, clock, &ts), SyscallSucceeds());
  ASSERT_GE(ts.tv_nsec, 0);
  ASSERT_LT(ts.tv_nsec, kNsPerSec);
  *ns = ToNs(ts);
}

TEST(ClockGettimeTest, MonotonicNeverGoesBackwards) {
  // Alternate the vDSO and the syscall: both must read one clock.
  int64_t prev = 0;
  for (int i = 0; i < 10000; i++) {
    int64_t now;
    if (i % 2 == 0) {
      ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &now));
    } else {
      ASSERT_NO_FATAL_FAILURE(RawClockNs(CLOCK_MONOTONIC, &now));
    }
    ASSERT_GE(now, prev) << "sample " << i;
    prev = now;
  }
}

TEST(ClockGettimeTest, MonotonicAdvances) {
  int64_t start;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &start));
  int64_t now = start;
  // Bounded so a frozen clock fails the test instead of hanging it.
  for (int i = 0; i < 100000000; i++) {
    ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &now));
    if (now > start) break;
  }
  EXPECT_GT(now, start);
}

TEST(ClockGettimeTest, BoottimeIsAtLeastMonotonic) {
  int64_t mono, boot;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &mono));
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_BOOTTIME, &boot));
  // Boot time is monotonic time plus time spent suspended.
  EXPECT_GE(boot, mono);
}

TEST(ClockGettimeTest, RealtimeAgreesWithTimeAndGettimeofday) {
  const time_t before = time(nullptr);
  int64_t real;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_REALTIME, &real));
  struct timeval tv;
  ASSERT_THAT(gettimeofday(&tv, nullptr), SyscallSucceeds());
  const time_t after = time(nullptr);

  // time() may lag CLOCK_REALTIME slightly (it may be read from the coarse
  // clock), hence the one second of slack on either side.
  EXPECT_GE(real / kNsPerSec, before - 1);
  EXPECT_LE(real / kNsPerSec, after + 1);
  EXPECT_GE(static_cast<int64_t>(tv.tv_sec) * kNsPerSec + tv.tv_usec * 1000, real - kNsPerSec);
  EXPECT_LE(tv.tv_sec, after + 1);
  // And it is the present: after 2020-01-01, before 2100-01-01.
  EXPECT_GT(real / kNsPerSec, 1577836800);
  EXPECT_LT(real / kNsPerSec, 4102444800);
}

// CPUTimeAdvancesUnderBusyLoop spins until clock has advanced by 10ms of CPU
// time, failing if that takes more than 10s of real time.
void CPUTimeAdvancesUnderBusyLoop(clockid_t clock) {
  int64_t cpu_start, wall_start;
  ASSERT_NO_FATAL_FAILURE(ClockNs(clock, &cpu_start));
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &wall_start));
  int64_t cpu = cpu_start, wall = wall_start;
  while (cpu - cpu_start < 10 * kNsPerMs && wall - wall_start < 10 * kNsPerSec) {
    ASSERT_NO_FATAL_FAILURE(ClockNs(clock, &cpu));
    ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &wall));
  }
  EXPECT_GE(cpu - cpu_start, 10 * kNsPerMs) << "after " << (wall - wall_start) << "ns of wall time";
}

TEST(ClockGettimeTest, ProcessCPUTimeAdvancesUnderBusyLoop) {
  CPUTimeAdvancesUnderBusyLoop(CLOCK_PROCESS_CPUTIME_ID);
}

TEST(ClockGettimeTest, ThreadCPUTimeAdvancesUnderBusyLoop) {
  CPUTimeAdvancesUnderBusyLoop(CLOCK_THREAD_CPUTIME_ID);
}

TEST(ClockGettimeTest, CPUTimeDoesNotAdvanceWhileSleeping) {
  int64_t before, after;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_THREAD_CPUTIME_ID, &before));
  const struct timespec req = FromNs(100 * kNsPerMs);
  ASSERT_THAT(nanosleep(&req, nullptr), SyscallSucceeds());
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_THREAD_CPUTIME_ID, &after));
  // Entering and leaving the sleep costs some CPU, but nowhere near 100ms.
  EXPECT_LT(after - before, 50 * kNsPerMs);
}

TEST(ClockGettimeTest, InvalidClockFailsWithEINVAL) {
  struct timespec ts;
  EXPECT_THAT(clock_gettime(12345, &ts), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_clock_gettime, 12345, &ts), SyscallFailsWithErrno(EINVAL));
}

TEST(ClockGettimeTest, BadAddressFailsWithEFAULT) {
  EXPECT_THAT(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(ClockGetresTest, HighResolutionClocks) {
  for (clockid_t clock : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME}) {
    struct timespec res;
    ASSERT_THAT(clock_getres(clock, &res), SyscallSucceeds()) << "clock " << clock;
    // Linux with high-resolution timers reports 1ns; anything coarser than a
    // jiffy at the lowest HZ (10ms) is wrong.
    EXPECT_EQ(res.tv_sec, 0) << "clock " << clock;
    EXPECT_GT(res.tv_nsec, 0) << "clock " << clock;
    EXPECT_LE(res.tv_nsec, 10 * kNsPerMs) << "clock " << clock;
  }
}

TEST(ClockGetresTest, CoarseClockIsNoFinerThanFineClock) {
  struct timespec fine, coarse;
  ASSERT_THAT(clock_getres(CLOCK_MONOTONIC, &fine), SyscallSucceeds());
  ASSERT_THAT(clock_getres(CLOCK_MONOTONIC_COARSE, &coarse), SyscallSucceeds());
  EXPECT_GE(ToNs(coarse), ToNs(fine));
}

TEST(ClockGetresTest, NullResultIsAllowed) {
  EXPECT_THAT(clock_getres(CLOCK_MONOTONIC, nullptr), SyscallSucceeds());
}

TEST(ClockGetresTest, InvalidClockFailsWithEINVAL) {
  struct timespec res;
  EXPECT_THAT(clock_getres(12345, &res), SyscallFailsWithErrno(EINVAL));
}

TEST(NanosleepTest, SleepsAtLeastTheTimeAsked) {
  for (int64_t ms : {1, 20, 100}) {
    int64_t start, end;
    ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &start));
    const struct timespec req = FromNs(ms * kNsPerMs);
    ASSERT_THAT(nanosleep(&req, nullptr), SyscallSucceeds());
    ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &end));
    EXPECT_GE(end - start, ms * kNsPerMs) << "asked for " << ms << "ms";
  }
}

TEST(NanosleepTest, ZeroSleepReturnsImmediately) {
  const struct timespec req = {0, 0};
  EXPECT_THAT(nanosleep(&req, nullptr), SyscallSucceeds());
}

TEST(NanosleepTest, InvalidTimespecFailsWithEINVAL) {
  const struct timespec too_many_ns = {0, kNsPerSec};
  EXPECT_THAT(nanosleep(&too_many_ns, nullptr), SyscallFailsWithErrno(EINVAL));
  const struct timespec negative_ns = {0, -1};
  EXPECT_THAT(nanosleep(&negative_ns, nullptr), SyscallFailsWithErrno(EINVAL));
  const struct timespec negative_sec = {-1, 0};
  EXPECT_THAT(nanosleep(&negative_sec, nullptr), SyscallFailsWithErrno(EINVAL));
}

TEST(ClockNanosleepTest, AbsoluteSleepWakesAfterDeadline) {
  int64_t start;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &start));
  const int64_t deadline = start + 50 * kNsPerMs;
  const struct timespec req = FromNs(deadline);
  // clock_nanosleep returns the error number instead of setting errno.
  ASSERT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &req, nullptr), 0);
  int64_t end;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &end));
  EXPECT_GE(end, deadline);
}

TEST(ClockNanosleepTest, AbsoluteDeadlineInThePastReturnsImmediately) {
  int64_t start;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &start));
  const struct timespec req = FromNs(start - kNsPerSec);
  ASSERT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &req, nullptr), 0);
  int64_t end;
  ASSERT_NO_FATAL_FAILURE(ClockNs(CLOCK_MONOTONIC, &end));
  EXPECT_LT(end - start, 500 * kNsPerMs);
}

}  // namespace
}  // namespace testing
}  // namespace visor
