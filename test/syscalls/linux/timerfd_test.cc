// Tests for timerfd_create(2), timerfd_settime(2) and timerfd_gettime(2).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

int64_t NowNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct itimerspec Spec(int64_t value_ns, int64_t interval_ns) {
  struct itimerspec v = {};
  v.it_value.tv_sec = value_ns / 1000000000;
  v.it_value.tv_nsec = value_ns % 1000000000;
  v.it_interval.tv_sec = interval_ns / 1000000000;
  v.it_interval.tv_nsec = interval_ns % 1000000000;
  return v;
}

TEST(TimerfdTest, CreateFlagsAndClocks) {
  EXPECT_THAT(timerfd_create(CLOCK_MONOTONIC, 0x10), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_create(CLOCK_MONOTONIC_RAW, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_create(-1, 0), SyscallFailsWithErrno(EINVAL));

  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  FileDescriptor fd2(timerfd_create(CLOCK_BOOTTIME, 0));
  ASSERT_THAT(fd2.get(), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd2.get(), F_GETFD), SyscallSucceedsWithValue(0));
  EXPECT_EQ(fcntl(fd2.get(), F_GETFL) & O_NONBLOCK, 0);
  FileDescriptor fd3(timerfd_create(CLOCK_REALTIME, 0));
  ASSERT_THAT(fd3.get(), SyscallSucceeds());
}

TEST(TimerfdTest, DisarmedReadIsEAGAIN) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  uint64_t v;
  EXPECT_THAT(read(fd.get(), &v, sizeof(v)), SyscallFailsWithErrno(EAGAIN));
  struct itimerspec cur;
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_EQ(cur.it_value.tv_nsec, 0);
  EXPECT_EQ(cur.it_interval.tv_sec, 0);
  EXPECT_EQ(cur.it_interval.tv_nsec, 0);
}

TEST(TimerfdTest, SettimeReturnsOldAndGettimeRemaining) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct itimerspec v = Spec(10000000000LL, 2000000000LL), old, cur;
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, &old), SyscallSucceeds());
  EXPECT_EQ(old.it_value.tv_sec, 0);
  EXPECT_EQ(old.it_value.tv_nsec, 0);
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_TRUE(cur.it_value.tv_sec == 9 || (cur.it_value.tv_sec == 10 && cur.it_value.tv_nsec == 0));
  EXPECT_EQ(cur.it_interval.tv_sec, 2);
  struct itimerspec zero = {};
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &zero, &old), SyscallSucceeds());
  EXPECT_EQ(old.it_value.tv_sec, 9);
  EXPECT_EQ(old.it_interval.tv_sec, 2);
  ASSERT_THAT(timerfd_gettime(fd.get(), &cur), SyscallSucceeds());
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_EQ(cur.it_value.tv_nsec, 0);
}

TEST(TimerfdTest, InvalidSettime) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, 0));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct itimerspec v = Spec(1000000, 0);
  EXPECT_THAT(timerfd_settime(fd.get(), 0x100, &v, nullptr), SyscallFailsWithErrno(EINVAL));
  v.it_value.tv_nsec = 1000000000;
  EXPECT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallFailsWithErrno(EINVAL));
  v = Spec(1000000, 0);
  EXPECT_THAT(timerfd_settime(-1, 0, &v, nullptr), SyscallFailsWithErrno(EBADF));
  FileDescriptor efd(eventfd(0, 0));
  ASSERT_THAT(efd.get(), SyscallSucceeds());
  EXPECT_THAT(timerfd_settime(efd.get(), 0, &v, nullptr), SyscallFailsWithErrno(EINVAL));
  struct itimerspec cur;
  EXPECT_THAT(timerfd_gettime(efd.get(), &cur), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(timerfd_gettime(-1, &cur), SyscallFailsWithErrno(EBADF));
}

TEST(TimerfdTest, PeriodicReadCountsExpirations) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct itimerspec v = Spec(1000000, 1000000);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallSucceeds());
  usleep(50000);
  uint64_t n = 0;
  ASSERT_THAT(read(fd.get(), &n, sizeof(n)), SyscallSucceedsWithValue(8));
  EXPECT_GE(n, 20u);
  EXPECT_LE(n, 200u);
  // The count was reset by the read.
  uint64_t m = 0;
  ssize_t r = read(fd.get(), &m, sizeof(m));
  if (r == 8) EXPECT_LT(m, n);
  v = Spec(0, 0);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallSucceeds());
  EXPECT_THAT(read(fd.get(), &m, sizeof(m)), SyscallFailsWithErrno(EAGAIN));
}

TEST(TimerfdTest, ShortReadIsEINVAL) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct itimerspec v = Spec(1000000, 0);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallSucceeds());
  usleep(20000);
  uint32_t small;
  EXPECT_THAT(read(fd.get(), &small, sizeof(small)), SyscallFailsWithErrno(EINVAL));
  uint64_t n;
  ASSERT_THAT(read(fd.get(), &n, sizeof(n)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(n, 1u);
}

TEST(TimerfdTest, BlockingReadWaitsForExpiry) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, 0));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct itimerspec v = Spec(30000000, 0);
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallSucceeds());
  uint64_t n = 0;
  ASSERT_THAT(read(fd.get(), &n, sizeof(n)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(n, 1u);
  EXPECT_GE(NowNs(CLOCK_MONOTONIC) - start, 30000000);
}

TEST(TimerfdTest, AbsoluteTime) {
  FileDescriptor fd(timerfd_create(CLOCK_REALTIME, 0));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  const int64_t start = NowNs(CLOCK_REALTIME);
  struct itimerspec v = Spec(start + 30000000, 0);
  ASSERT_THAT(timerfd_settime(fd.get(), TFD_TIMER_ABSTIME, &v, nullptr), SyscallSucceeds());
  uint64_t n = 0;
  ASSERT_THAT(read(fd.get(), &n, sizeof(n)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(n, 1u);
  EXPECT_GE(NowNs(CLOCK_REALTIME) - start, 25000000);
  // Periods already past count at once.
  FileDescriptor mfd(timerfd_create(CLOCK_MONOTONIC, 0));
  ASSERT_THAT(mfd.get(), SyscallSucceeds());
  v = Spec(NowNs(CLOCK_MONOTONIC) - 1000000000, 100000000);
  ASSERT_THAT(timerfd_settime(mfd.get(), TFD_TIMER_ABSTIME, &v, nullptr), SyscallSucceeds());
  ASSERT_THAT(read(mfd.get(), &n, sizeof(n)), SyscallSucceedsWithValue(8));
  EXPECT_GE(n, 10u);
  EXPECT_LE(n, 13u);
}

TEST(TimerfdTest, PollReadable) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct pollfd pfd = {fd.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  struct itimerspec v = Spec(20000000, 0);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallSucceeds());
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  ASSERT_THAT(poll(&pfd, 1, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
  EXPECT_GE(NowNs(CLOCK_MONOTONIC) - start, 15000000);
  uint64_t n;
  ASSERT_THAT(read(fd.get(), &n, sizeof(n)), SyscallSucceedsWithValue(8));
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(TimerfdTest, RearmDropsUnreadExpirations) {
  FileDescriptor fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct itimerspec v = Spec(1000000, 0);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallSucceeds());
  usleep(20000);
  v = Spec(10000000000LL, 0);
  ASSERT_THAT(timerfd_settime(fd.get(), 0, &v, nullptr), SyscallSucceeds());
  uint64_t n;
  EXPECT_THAT(read(fd.get(), &n, sizeof(n)), SyscallFailsWithErrno(EAGAIN));
}

}  // namespace
}  // namespace testing
}  // namespace visor
