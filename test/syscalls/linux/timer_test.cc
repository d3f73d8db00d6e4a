// Tests for the POSIX timers: timer_create(2), timer_settime(2),
// timer_gettime(2), timer_getoverrun(2) and timer_delete(2), called directly so
// that the timer IDs are the kernel's. The test binary is also the program a
// test execs, to check that execve deletes them.

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr char kChildEnv[] = "VISOR_TIMER_TEST_CHILD";

long TimerCreate(clockid_t clock, struct sigevent* sev, int* id) {
  return syscall(SYS_timer_create, clock, sev, id);
}
long TimerSettime(int id, int flags, const struct itimerspec* v, struct itimerspec* old) {
  return syscall(SYS_timer_settime, id, flags, v, old);
}
long TimerGettime(int id, struct itimerspec* v) { return syscall(SYS_timer_gettime, id, v); }
long TimerGetoverrun(int id) { return syscall(SYS_timer_getoverrun, id); }
long TimerDelete(int id) { return syscall(SYS_timer_delete, id); }

// Runs before gtest's main: after execve, timer argv-given ID is gone.
__attribute__((constructor)) void MaybeRunAsChild(int, char**) {
  const char* id = getenv(kChildEnv);
  if (id == nullptr) return;
  struct itimerspec v;
  if (TimerGettime(atoi(id), &v) != -1 || errno != EINVAL) _exit(10);
  _exit(0);
}

std::string SelfPath() {
  char buf[PATH_MAX];
  if (realpath(program_invocation_name, buf) == nullptr) return program_invocation_name;
  return buf;
}

int64_t NowNs(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct sigevent SignalEvent(int sig, int value) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = sig;
  sev.sigev_value.sival_int = value;
  return sev;
}

struct itimerspec Spec(int64_t value_ns, int64_t interval_ns) {
  struct itimerspec v = {};
  v.it_value.tv_sec = value_ns / 1000000000;
  v.it_value.tv_nsec = value_ns % 1000000000;
  v.it_interval.tv_sec = interval_ns / 1000000000;
  v.it_interval.tv_nsec = interval_ns % 1000000000;
  return v;
}

// TimerTest blocks SIGUSR1, SIGUSR2 and SIGALRM for each case and restores
// the mask after it, consuming what it left pending.
class TimerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sigemptyset(&set_);
    sigaddset(&set_, SIGUSR1);
    sigaddset(&set_, SIGUSR2);
    sigaddset(&set_, SIGALRM);
    ASSERT_THAT(sigprocmask(SIG_BLOCK, &set_, &saved_), SyscallSucceeds());
  }
  void TearDown() override {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    sigprocmask(SIG_SETMASK, &saved_, nullptr);
  }
  // Wait waits up to 5 s for sig.
  int Wait(int sig, siginfo_t* info) {
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    const struct timespec timeout = {5, 0};
    return sigtimedwait(&one, info, &timeout);
  }
  sigset_t set_, saved_;
};

TEST_F(TimerTest, InvalidArguments) {
  int id;
  struct sigevent sev = SignalEvent(SIGUSR1, 0);
  EXPECT_THAT(TimerCreate(12345, &sev, &id), SyscallFailsWithErrno(EINVAL));
  sev.sigev_notify = 77;
  EXPECT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallFailsWithErrno(EINVAL));
  sev = SignalEvent(0, 0);
  EXPECT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallFailsWithErrno(EINVAL));
  sev = SignalEvent(65, 0);
  EXPECT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallFailsWithErrno(EINVAL));
  sev = SignalEvent(SIGUSR1, 0);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev._sigev_un._tid = 1 << 30;
  EXPECT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallFailsWithErrno(EINVAL));

  struct itimerspec v = Spec(1000000, 0);
  EXPECT_THAT(TimerSettime(9999, 0, &v, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(TimerGettime(9999, &v), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(TimerGetoverrun(9999), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(TimerDelete(9999), SyscallFailsWithErrno(EINVAL));

  sev = SignalEvent(SIGUSR1, 0);
  ASSERT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  v.it_value.tv_nsec = 1000000000;
  EXPECT_THAT(TimerSettime(id, 0, &v, nullptr), SyscallFailsWithErrno(EINVAL));
  v.it_value.tv_nsec = 0;
  v.it_interval.tv_nsec = -1;
  EXPECT_THAT(TimerSettime(id, 0, &v, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(TimerSettime(id, 0, nullptr, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
  EXPECT_THAT(TimerDelete(id), SyscallFailsWithErrno(EINVAL));
}

TEST_F(TimerTest, SettimeReturnsOldAndGettimeRemaining) {
  // Not SIGEV_NONE: Linux reports a disarmed SIGEV_NONE timer's old expiry.
  struct sigevent sev = SignalEvent(SIGUSR1, 0);
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  struct itimerspec v = Spec(10000000000LL, 1500000000LL), old, cur;
  ASSERT_THAT(TimerSettime(id, 0, &v, &old), SyscallSucceeds());
  EXPECT_EQ(old.it_value.tv_sec, 0);
  EXPECT_EQ(old.it_value.tv_nsec, 0);
  ASSERT_THAT(TimerGettime(id, &cur), SyscallSucceeds());
  EXPECT_TRUE(cur.it_value.tv_sec == 9 || (cur.it_value.tv_sec == 10 && cur.it_value.tv_nsec == 0));
  EXPECT_EQ(cur.it_interval.tv_sec, 1);
  EXPECT_EQ(cur.it_interval.tv_nsec, 500000000);
  struct itimerspec zero = {};
  ASSERT_THAT(TimerSettime(id, 0, &zero, &old), SyscallSucceeds());
  EXPECT_EQ(old.it_value.tv_sec, 9);
  EXPECT_EQ(old.it_interval.tv_sec, 1);
  ASSERT_THAT(TimerGettime(id, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_EQ(cur.it_value.tv_nsec, 0);
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, SignalCarriesTimerInfo) {
  struct sigevent sev = SignalEvent(SIGUSR1, 0x1234);
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  struct itimerspec v = Spec(5000000, 0);
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  ASSERT_THAT(TimerSettime(id, 0, &v, nullptr), SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(Wait(SIGUSR1, &info), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_GE(NowNs(CLOCK_MONOTONIC) - start, 5000000);
  EXPECT_EQ(info.si_code, SI_TIMER);
  EXPECT_EQ(info.si_value.sival_int, 0x1234);
  EXPECT_EQ(info.si_timerid, id);
  EXPECT_EQ(info.si_overrun, 0);
  EXPECT_THAT(TimerGetoverrun(id), SyscallSucceedsWithValue(0));
  // A one-shot timer is disarmed once it expired.
  struct itimerspec cur;
  ASSERT_THAT(TimerGettime(id, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_EQ(cur.it_value.tv_nsec, 0);
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, DefaultEventIsSIGALRMWithTimerID) {
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_REALTIME, nullptr, &id), SyscallSucceeds());
  struct itimerspec v = Spec(1000000, 0);
  ASSERT_THAT(TimerSettime(id, 0, &v, nullptr), SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(Wait(SIGALRM, &info), SyscallSucceedsWithValue(SIGALRM));
  EXPECT_EQ(info.si_code, SI_TIMER);
  EXPECT_EQ(info.si_value.sival_int, id);
  EXPECT_EQ(info.si_timerid, id);
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, IDsAreDistinct) {
  int ids[4];
  for (int& id : ids) {
    struct sigevent sev = {};
    sev.sigev_notify = SIGEV_NONE;
    ASSERT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  }
  for (int i = 0; i < 4; i++) {
    for (int j = i + 1; j < 4; j++) EXPECT_NE(ids[i], ids[j]);
  }
  for (int id : ids) EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, AbsoluteTime) {
  struct sigevent sev = SignalEvent(SIGUSR1, 1);
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_REALTIME, &sev, &id), SyscallSucceeds());
  const int64_t start = NowNs(CLOCK_REALTIME);
  struct itimerspec v = Spec(start + 30000000, 0);
  ASSERT_THAT(TimerSettime(id, TIMER_ABSTIME, &v, nullptr), SyscallSucceeds());
  siginfo_t info;
  ASSERT_THAT(Wait(SIGUSR1, &info), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_GE(NowNs(CLOCK_REALTIME) - start, 25000000);
  // An absolute time already past fires at once.
  v = Spec(start - 1000000000, 0);
  ASSERT_THAT(TimerSettime(id, TIMER_ABSTIME, &v, nullptr), SyscallSucceeds());
  ASSERT_THAT(Wait(SIGUSR1, &info), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, OverrunCountsExpirationsWhilePending) {
  struct sigevent sev = SignalEvent(SIGUSR1, 7);
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  struct itimerspec v = Spec(1000000, 1000000);
  ASSERT_THAT(TimerSettime(id, 0, &v, nullptr), SyscallSucceeds());
  usleep(100000);
  siginfo_t info = {};
  ASSERT_THAT(Wait(SIGUSR1, &info), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_EQ(info.si_timerid, id);
  EXPECT_GE(info.si_overrun, 20);
  EXPECT_LE(info.si_overrun, 200);
  EXPECT_THAT(TimerGetoverrun(id), SyscallSucceedsWithValue(info.si_overrun));
  struct itimerspec zero = {};
  ASSERT_THAT(TimerSettime(id, 0, &zero, nullptr), SyscallSucceeds());
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, ThreadIDTargetsThread) {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> go{false};
  siginfo_t info = {};
  int rv = 0;
  std::thread th([&] {
    tid.store(syscall(SYS_gettid));
    while (!go.load()) usleep(1000);
    rv = Wait(SIGUSR2, &info);
  });
  while (tid.load() == 0) usleep(1000);
  struct sigevent sev = SignalEvent(SIGUSR2, 42);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev._sigev_un._tid = tid.load();
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  struct itimerspec v = Spec(5000000, 0);
  ASSERT_THAT(TimerSettime(id, 0, &v, nullptr), SyscallSucceeds());
  go.store(true);
  th.join();
  EXPECT_EQ(rv, SIGUSR2);
  EXPECT_EQ(info.si_code, SI_TIMER);
  EXPECT_EQ(info.si_value.sival_int, 42);
  // It went to the thread: the process has nothing pending.
  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_FALSE(sigismember(&pending, SIGUSR2));
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, ProcessCPUClock) {
  struct sigevent sev = SignalEvent(SIGUSR1, 3);
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_PROCESS_CPUTIME_ID, &sev, &id), SyscallSucceeds());
  const int64_t cpu = NowNs(CLOCK_PROCESS_CPUTIME_ID);
  struct itimerspec v = Spec(30000000, 0);
  ASSERT_THAT(TimerSettime(id, 0, &v, nullptr), SyscallSucceeds());
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  volatile uint64_t x = 0;
  sigset_t pending;
  do {
    for (int i = 0; i < 10000; i++) x = x + i;
    sigpending(&pending);
  } while (!sigismember(&pending, SIGUSR1) && NowNs(CLOCK_MONOTONIC) - start < 5000000000LL);
  EXPECT_TRUE(sigismember(&pending, SIGUSR1));
  EXPECT_GE(NowNs(CLOCK_PROCESS_CPUTIME_ID) - cpu, 25000000);
  siginfo_t info;
  ASSERT_THAT(Wait(SIGUSR1, &info), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_EQ(info.si_timerid, id);
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

// glibc's SIGEV_THREAD runs the function in a helper thread that waits for a
// SIGEV_THREAD_ID signal.
TEST_F(TimerTest, GlibcSigevThread) {
  static std::atomic<int> calls{0};
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_THREAD;
  sev.sigev_notify_function = +[](union sigval v) { calls.fetch_add(v.sival_int); };
  sev.sigev_value.sival_int = 1;
  timer_t timer;
  ASSERT_THAT(timer_create(CLOCK_MONOTONIC, &sev, &timer), SyscallSucceeds());
  struct itimerspec v = Spec(5000000, 5000000);
  ASSERT_THAT(timer_settime(timer, 0, &v, nullptr), SyscallSucceeds());
  const int64_t start = NowNs(CLOCK_MONOTONIC);
  while (calls.load() < 3 && NowNs(CLOCK_MONOTONIC) - start < 5000000000LL) usleep(1000);
  EXPECT_GE(calls.load(), 3);
  EXPECT_THAT(timer_delete(timer), SyscallSucceeds());
}

TEST_F(TimerTest, NotInheritedByFork) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_NONE;
  int id;
  ASSERT_THAT(TimerCreate(CLOCK_MONOTONIC, &sev, &id), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([id] {
                struct itimerspec v;
                TEST_CHECK(TimerGettime(id, &v) == -1 && errno == EINVAL);
              }),
              ExitedWith(0));
  EXPECT_THAT(TimerDelete(id), SyscallSucceeds());
}

TEST_F(TimerTest, DeletedByExec) {
  EXPECT_THAT(InForkedProcess([] {
                struct sigevent sev = {};
                sev.sigev_notify = SIGEV_NONE;
                int id;
                TEST_PCHECK(TimerCreate(CLOCK_MONOTONIC, &sev, &id) == 0);
                struct itimerspec v = Spec(10000000000LL, 0);
                TEST_PCHECK(TimerSettime(id, 0, &v, nullptr) == 0);
                std::string self = SelfPath();
                std::string env = std::string(kChildEnv) + "=" + std::to_string(id);
                char* argv[] = {self.data(), nullptr};
                char* envp[] = {env.data(), nullptr};
                execve(self.c_str(), argv, envp);
                TEST_PCHECK(false);
              }),
              ExitedWith(0));
}

TEST_F(TimerTest, PeriodicSignalsWithHandler) {
  EXPECT_THAT(InForkedProcess([] {
                static std::atomic<int> count{0};
                struct sigaction sa = {};
                sa.sa_handler = +[](int) { count.fetch_add(1); };
                TEST_PCHECK(sigaction(SIGUSR1, &sa, nullptr) == 0);
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, SIGUSR1);
                TEST_PCHECK(sigprocmask(SIG_UNBLOCK, &set, nullptr) == 0);
                struct sigevent sev = SignalEvent(SIGUSR1, 0);
                int id;
                TEST_PCHECK(TimerCreate(CLOCK_MONOTONIC, &sev, &id) == 0);
                struct itimerspec v = Spec(10000000, 10000000);
                TEST_PCHECK(TimerSettime(id, 0, &v, nullptr) == 0);
                const int64_t start = NowNs(CLOCK_MONOTONIC);
                while (count.load() < 5 && NowNs(CLOCK_MONOTONIC) - start < 5000000000LL) usleep(1000);
                TEST_CHECK(count.load() >= 5);
                TEST_PCHECK(TimerDelete(id) == 0);
                const int n = count.load();
                usleep(50000);
                TEST_CHECK(count.load() == n);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
