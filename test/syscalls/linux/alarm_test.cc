// Tests for alarm(2).

#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

TEST(AlarmTest, ReturnsSecondsLeft) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_CHECK(alarm(10) == 0);
                // 10 s less a moment rounds to 10.
                TEST_CHECK(alarm(5) == 10);
                struct itimerval cur;
                TEST_PCHECK(getitimer(ITIMER_REAL, &cur) == 0);
                TEST_CHECK(cur.it_value.tv_sec == 4 || cur.it_value.tv_sec == 5);
                TEST_CHECK(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_usec == 0);
                TEST_CHECK(alarm(0) == 5);
                TEST_CHECK(alarm(0) == 0);
              }),
              ExitedWith(0));
}

TEST(AlarmTest, PendingAlarmNeverReadsZero) {
  EXPECT_THAT(InForkedProcess([] {
                struct itimerval v = {};
                v.it_value.tv_usec = 300000;  // 0.3 s rounds down, but is pending
                TEST_PCHECK(setitimer(ITIMER_REAL, &v, nullptr) == 0);
                TEST_CHECK(alarm(0) == 1);
                v.it_value.tv_sec = 2;
                v.it_value.tv_usec = 700000;  // 2.7 s rounds to 3
                TEST_PCHECK(setitimer(ITIMER_REAL, &v, nullptr) == 0);
                TEST_CHECK(alarm(0) == 3);
              }),
              ExitedWith(0));
}

std::atomic<int> alarms{0};

TEST(AlarmTest, DeliversSIGALRM) {
  EXPECT_THAT(InForkedProcess([] {
                struct sigaction sa = {};
                sa.sa_handler = +[](int) { alarms.fetch_add(1); };
                TEST_PCHECK(sigaction(SIGALRM, &sa, nullptr) == 0);
                struct timespec start, end;
                clock_gettime(CLOCK_MONOTONIC, &start);
                TEST_CHECK(alarm(1) == 0);
                while (alarms.load() == 0) pause();
                clock_gettime(CLOCK_MONOTONIC, &end);
                const double elapsed = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
                TEST_CHECK(elapsed >= 0.95 && elapsed < 5);
                // A one-shot alarm is gone once it fired.
                TEST_CHECK(alarm(0) == 0);
              }),
              ExitedWith(0));
}

TEST(AlarmTest, DefaultActionKills) {
  EXPECT_THAT(InForkedProcess([] {
                alarm(1);
                for (;;) pause();
              }),
              KilledBy(SIGALRM));
}

TEST(AlarmTest, CancelledAlarmDoesNotFire) {
  EXPECT_THAT(InForkedProcess([] {
                alarm(1);
                TEST_CHECK(alarm(0) == 1);
                sleep(2);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
