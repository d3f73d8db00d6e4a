// Tests for nanosleep(2) and clock_nanosleep(2): relative and absolute
// sleeps, argument checks, and interruption by a signal.

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr int64_t kMs = 1000 * 1000;

int64_t NowNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct timespec Ns(int64_t ns) {
  return {static_cast<time_t>(ns / 1000000000LL), static_cast<long>(ns % 1000000000LL)};
}

TEST(NanosleepTest, SleepsAtLeastTheRequestedTime) {
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  const struct timespec req = Ns(30 * kMs);
  struct timespec rem = {99, 99};
  ASSERT_THAT(nanosleep(&req, &rem), SyscallSucceeds());
  const int64_t elapsed = NowNs(CLOCK_MONOTONIC) - start;
  EXPECT_GE(elapsed, 30 * kMs);
  EXPECT_LT(elapsed, 10000 * kMs);  // Not absurdly long either.
}

TEST(NanosleepTest, ZeroSleepReturnsAtOnce) {
  const struct timespec zero = {0, 0};
  EXPECT_THAT(nanosleep(&zero, nullptr), SyscallSucceeds());
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, nullptr), 0);
}

TEST(NanosleepTest, InvalidTimesAreEINVAL) {
  struct timespec bad = {0, 1000000000};
  EXPECT_THAT(nanosleep(&bad, nullptr), SyscallFailsWithErrno(EINVAL));
  bad = {0, -1};
  EXPECT_THAT(nanosleep(&bad, nullptr), SyscallFailsWithErrno(EINVAL));
  bad = {-1, 0};
  EXPECT_THAT(nanosleep(&bad, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_nanosleep, reinterpret_cast<void*>(8), nullptr),
              SyscallFailsWithErrno(EFAULT));
}

TEST(ClockNanosleepTest, ReturnsErrorNumbersNotErrno) {
  // clock_nanosleep returns the error instead of setting errno.
  struct timespec bad = {0, 1000000000};
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr), EINVAL);
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &bad, nullptr), EINVAL);
  const struct timespec ok = {0, 1000};
  // Sleeping on a thread's CPU clock is not supported.
  EXPECT_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ok, nullptr), EINVAL);
  EXPECT_EQ(clock_nanosleep(static_cast<clockid_t>(100), 0, &ok, nullptr), EINVAL);
}

TEST(ClockNanosleepTest, RelativeOnEachClock) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME}) {
    SCOPED_TRACE(clock);
    const int64_t start = NowNs(clock);
    const struct timespec req = Ns(20 * kMs);
    ASSERT_EQ(clock_nanosleep(clock, 0, &req, nullptr), 0);
    EXPECT_GE(NowNs(clock) - start, 20 * kMs);
  }
}

TEST(ClockNanosleepTest, AbsoluteDeadline) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    SCOPED_TRACE(clock);
    const int64_t deadline = NowNs(clock) + 30 * kMs;
    const struct timespec when = Ns(deadline);
    ASSERT_EQ(clock_nanosleep(clock, TIMER_ABSTIME, &when, nullptr), 0);
    EXPECT_GE(NowNs(clock), deadline);
    // A deadline in the past returns at once.
    const int64_t start = NowNs(CLOCK_MONOTONIC);
    const struct timespec past = {1, 0};
    ASSERT_EQ(clock_nanosleep(clock, TIMER_ABSTIME, &past, nullptr), 0);
    EXPECT_LT(NowNs(CLOCK_MONOTONIC) - start, 1000 * kMs);
  }
}

TEST(ClockNanosleepTest, ProcessCpuClockSleepsForCpuTime) {
  // Sleeping on our own process CPU clock: another thread burns CPU so it
  // advances.
  std::atomic<bool> stop{false};
  pthread_t t;
  ASSERT_EQ(pthread_create(
                &t, nullptr,
                [](void* arg) -> void* {
                  auto* stop = static_cast<std::atomic<bool>*>(arg);
                  while (!stop->load()) {
                  }
                  return nullptr;
                },
                &stop),
            0);
  const int64_t start = NowNs(CLOCK_PROCESS_CPUTIME_ID);
  const struct timespec req = Ns(20 * kMs);
  EXPECT_EQ(clock_nanosleep(CLOCK_PROCESS_CPUTIME_ID, 0, &req, nullptr), 0);
  EXPECT_GE(NowNs(CLOCK_PROCESS_CPUTIME_ID) - start, 20 * kMs);
  stop = true;
  ASSERT_EQ(pthread_join(t, nullptr), 0);
}

std::atomic<int> handled{0};
void CountHandler(int) { handled.fetch_add(1); }

// Interrupter signals target with SIGUSR1 every 10 ms until stopped.
struct Interrupter {
  pid_t tid;
  std::atomic<bool> stop{false};
  pthread_t thread;

  static void* Run(void* arg) {
    auto* in = static_cast<Interrupter*>(arg);
    for (int i = 0; i < 1000 && !in->stop.load(); i++) {
      const struct timespec delay = Ns(10 * kMs);
      nanosleep(&delay, nullptr);
      syscall(SYS_tgkill, getpid(), in->tid, SIGUSR1);
    }
    return nullptr;
  }
};

class InterruptedSleepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction act = {};
    act.sa_handler = CountHandler;
    act.sa_flags = SA_RESTART;  // Sleeps are never restarted regardless.
    ASSERT_THAT(sigaction(SIGUSR1, &act, &old_), SyscallSucceeds());
    handled = 0;
    in_.tid = static_cast<pid_t>(syscall(SYS_gettid));
    ASSERT_EQ(pthread_create(&in_.thread, nullptr, Interrupter::Run, &in_), 0);
  }
  void TearDown() override {
    in_.stop = true;
    pthread_join(in_.thread, nullptr);
    sigaction(SIGUSR1, &old_, nullptr);
  }
  struct sigaction old_;
  Interrupter in_;
};

TEST_F(InterruptedSleepTest, NanosleepFailsWithEINTRAndRemainingTime) {
  const struct timespec req = {10, 0};
  struct timespec rem = {0, 0};
  EXPECT_THAT(nanosleep(&req, &rem), SyscallFailsWithErrno(EINTR));
  EXPECT_GE(handled.load(), 1);
  const int64_t remaining = rem.tv_sec * 1000000000LL + rem.tv_nsec;
  EXPECT_GT(remaining, 0);
  EXPECT_LE(remaining, 10000 * kMs);
  EXPECT_GE(rem.tv_nsec, 0);
  EXPECT_LT(rem.tv_nsec, 1000000000);
}

TEST_F(InterruptedSleepTest, ClockNanosleepRelativeReturnsEINTRAndRemainingTime) {
  const struct timespec req = {10, 0};
  struct timespec rem = {0, 0};
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem), EINTR);
  const int64_t remaining = rem.tv_sec * 1000000000LL + rem.tv_nsec;
  EXPECT_GT(remaining, 0);
  EXPECT_LE(remaining, 10000 * kMs);
}

TEST_F(InterruptedSleepTest, ClockNanosleepAbsoluteReturnsEINTRWithoutTouchingRem) {
  const struct timespec when = Ns(NowNs(CLOCK_MONOTONIC) + 10000 * kMs);
  struct timespec rem = {123, 456};
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, &rem), EINTR);
  EXPECT_EQ(rem.tv_sec, 123);
  EXPECT_EQ(rem.tv_nsec, 456);
}

}  // namespace
}  // namespace testing
}  // namespace visor
