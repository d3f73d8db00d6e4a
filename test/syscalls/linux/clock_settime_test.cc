// Tests for the calls that set or steer the clock: settimeofday(2),
// clock_settime(2), adjtimex(2) and clock_adjtime(2), for a caller without
// CAP_SYS_TIME (what a container is). Each set-call fails, so no test moves the
// clock; the times passed are the clock's own value, in case one did not.

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// The kernel's modes bits for adjtime(3)'s path (glibc's ADJ_OFFSET_SINGLESHOT
// and ADJ_OFFSET_SS_READ include ADJ_ADJTIME).
constexpr unsigned kAdjAdjtime = 0x8000;

// A CPU clock of the calling process, as MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_SCHED).
constexpr clockid_t kOwnProcessCPUClock = -8 | 2;

// DropSysTime removes CAP_SYS_TIME from the effective set (tests run as root
// natively), so the calls fail as they do in a container.
class ClockSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {};
    ASSERT_THAT(syscall(SYS_capget, &hdr, data), SyscallSucceeds());
    data[CAP_TO_INDEX(CAP_SYS_TIME)].effective &= ~CAP_TO_MASK(CAP_SYS_TIME);
    ASSERT_THAT(syscall(SYS_capset, &hdr, data), SyscallSucceeds());
    ASSERT_THAT(syscall(SYS_capget, &hdr, data), SyscallSucceeds());
    ASSERT_EQ(data[CAP_TO_INDEX(CAP_SYS_TIME)].effective & CAP_TO_MASK(CAP_SYS_TIME), 0u);
  }
};

TEST_F(ClockSetTest, SettimeofdayEPERM) {
  struct timeval tv;
  ASSERT_THAT(gettimeofday(&tv, nullptr), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_settimeofday, &tv, nullptr), SyscallFailsWithErrno(EPERM));
  // Nothing to set is still a request to set the clock.
  EXPECT_THAT(syscall(SYS_settimeofday, nullptr, nullptr), SyscallFailsWithErrno(EPERM));
  struct timezone tz = {};
  EXPECT_THAT(syscall(SYS_settimeofday, nullptr, &tz), SyscallFailsWithErrno(EPERM));
}

TEST_F(ClockSetTest, SettimeofdayChecksArgumentsFirst) {
  struct timeval tv;
  ASSERT_THAT(gettimeofday(&tv, nullptr), SyscallSucceeds());
  tv.tv_usec = -1;
  EXPECT_THAT(syscall(SYS_settimeofday, &tv, nullptr), SyscallFailsWithErrno(EINVAL));
  tv.tv_usec = 1000000;
  EXPECT_THAT(syscall(SYS_settimeofday, &tv, nullptr), SyscallFailsWithErrno(EINVAL));
  tv.tv_sec = -1;
  tv.tv_usec = 0;
  EXPECT_THAT(syscall(SYS_settimeofday, &tv, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_settimeofday, reinterpret_cast<void*>(8), nullptr),
              SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_settimeofday, nullptr, reinterpret_cast<void*>(8)),
              SyscallFailsWithErrno(EFAULT));
}

TEST_F(ClockSetTest, ClockSettimeRealtimeEPERM) {
  struct timespec ts;
  ASSERT_THAT(clock_gettime(CLOCK_REALTIME, &ts), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_clock_settime, CLOCK_REALTIME, &ts), SyscallFailsWithErrno(EPERM));
  // A CPU clock is never reset.
  EXPECT_THAT(syscall(SYS_clock_settime, kOwnProcessCPUClock, &ts),
              SyscallFailsWithErrno(EPERM));
}

TEST_F(ClockSetTest, ClockSettimeEINVAL) {
  struct timespec ts;
  ASSERT_THAT(clock_gettime(CLOCK_REALTIME, &ts), SyscallSucceeds());
  struct timespec bad = ts;
  bad.tv_nsec = 1000000000;
  EXPECT_THAT(syscall(SYS_clock_settime, CLOCK_REALTIME, &bad), SyscallFailsWithErrno(EINVAL));
  bad.tv_nsec = -1;
  EXPECT_THAT(syscall(SYS_clock_settime, CLOCK_REALTIME, &bad), SyscallFailsWithErrno(EINVAL));
  // Clocks that cannot be set, and no clock at all.
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_BOOTTIME,
                          CLOCK_REALTIME_COARSE, CLOCK_TAI, CLOCK_PROCESS_CPUTIME_ID,
                          CLOCK_THREAD_CPUTIME_ID, 10, 64}) {
    EXPECT_THAT(syscall(SYS_clock_settime, clock, &ts), SyscallFailsWithErrno(EINVAL))
        << "clock " << clock;
  }
  EXPECT_THAT(syscall(SYS_clock_settime, CLOCK_REALTIME, reinterpret_cast<void*>(8)),
              SyscallFailsWithErrno(EFAULT));
}

TEST_F(ClockSetTest, AdjtimexReadsState) {
  struct timex tx = {};
  struct timeval before, after;
  ASSERT_THAT(gettimeofday(&before, nullptr), SyscallSucceeds());
  int state = syscall(SYS_adjtimex, &tx);
  ASSERT_THAT(gettimeofday(&after, nullptr), SyscallSucceeds());
  ASSERT_GE(state, TIME_OK) << "errno " << errno;
  EXPECT_LE(state, TIME_ERROR);
  // The time is in microseconds unless STA_NANO says nanoseconds.
  int64_t usec = tx.time.tv_sec * 1000000LL +
                 ((tx.status & STA_NANO) ? tx.time.tv_usec / 1000 : tx.time.tv_usec);
  EXPECT_GE(usec, before.tv_sec * 1000000LL + before.tv_usec);
  EXPECT_LE(usec, after.tv_sec * 1000000LL + after.tv_usec);
  // Within ADJ_TICK's bounds, 900000/USER_HZ to 1100000/USER_HZ.
  EXPECT_GE(tx.tick, 9000);
  EXPECT_LE(tx.tick, 11000);
  EXPECT_EQ(tx.precision, 1);

  // adjtime(NULL, &old)'s read-only path.
  struct timex ss = {};
  ss.modes = ADJ_OFFSET_SS_READ;
  EXPECT_THAT(syscall(SYS_adjtimex, &ss), SyscallSucceeds());
}

TEST_F(ClockSetTest, AdjtimexChangesEPERM) {
  for (unsigned modes : {ADJ_OFFSET, ADJ_FREQUENCY, ADJ_MAXERROR, ADJ_STATUS, ADJ_TICK,
                         ADJ_SETOFFSET, ADJ_OFFSET_SINGLESHOT}) {
    struct timex tx = {};
    tx.modes = modes;
    tx.tick = 10000;
    EXPECT_THAT(syscall(SYS_adjtimex, &tx), SyscallFailsWithErrno(EPERM)) << "modes " << modes;
  }
  // ADJ_ADJTIME without the single-shot offset is invalid, whatever the caller.
  struct timex tx = {};
  tx.modes = kAdjAdjtime;
  EXPECT_THAT(syscall(SYS_adjtimex, &tx), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_adjtimex, reinterpret_cast<void*>(8)), SyscallFailsWithErrno(EFAULT));
}

TEST_F(ClockSetTest, ClockAdjtime) {
  struct timex tx = {};
  int state = syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx);
  EXPECT_GE(state, TIME_OK) << "errno " << errno;
  EXPECT_LE(state, TIME_ERROR);
  tx = {};
  tx.modes = ADJ_FREQUENCY;
  EXPECT_THAT(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx), SyscallFailsWithErrno(EPERM));
  tx = {};
  EXPECT_THAT(syscall(SYS_clock_adjtime, CLOCK_MONOTONIC, &tx), SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(syscall(SYS_clock_adjtime, kOwnProcessCPUClock, &tx),
              SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(syscall(SYS_clock_adjtime, 64, &tx), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_clock_adjtime, CLOCK_REALTIME, reinterpret_cast<void*>(8)),
              SyscallFailsWithErrno(EFAULT));
}

}  // namespace
}  // namespace testing
}  // namespace visor
