// Tests for sigtimedwait(2) / rt_sigtimedwait(2) and sigwaitinfo(2).

#include <errno.h>
#include <pthread.h>
#include <signal.h>
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

// ScopedSigaction installs act for sig and restores the old action when
// destroyed.
class ScopedSigaction {
 public:
  ScopedSigaction(int sig, const struct sigaction& act) : sig_(sig) {
    ok_ = sigaction(sig, &act, &old_) == 0;
    EXPECT_TRUE(ok_) << "sigaction(" << SignalName(sig) << "): " << ErrnoName(errno);
  }
  ~ScopedSigaction() {
    if (ok_) sigaction(sig_, &old_, nullptr);
  }
  ScopedSigaction(const ScopedSigaction&) = delete;
  ScopedSigaction& operator=(const ScopedSigaction&) = delete;

 private:
  int sig_;
  bool ok_;
  struct sigaction old_;
};

// SigtimedwaitTest blocks SIGUSR1 and SIGUSR2 for each case and restores the
// mask after it, consuming whatever it left pending.
class SigtimedwaitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sigemptyset(&usr1_);
    sigaddset(&usr1_, SIGUSR1);
    sigemptyset(&both_);
    sigaddset(&both_, SIGUSR1);
    sigaddset(&both_, SIGUSR2);
    ASSERT_THAT(sigprocmask(SIG_BLOCK, &both_, &saved_), SyscallSucceeds());
  }
  void TearDown() override {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&both_, nullptr, &zero) > 0) {
    }
    sigprocmask(SIG_SETMASK, &saved_, nullptr);
  }
  sigset_t usr1_, both_, saved_;
};

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

TEST_F(SigtimedwaitTest, TimeoutIsEAGAIN) {
  const struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&usr1_, nullptr, &zero), SyscallFailsWithErrno(EAGAIN));
  const struct timespec timeout = {0, 30 * 1000 * 1000};
  const int64_t start = MonotonicNs();
  siginfo_t info;
  EXPECT_THAT(sigtimedwait(&usr1_, &info, &timeout), SyscallFailsWithErrno(EAGAIN));
  EXPECT_GE(MonotonicNs() - start, 30 * 1000 * 1000);
}

TEST_F(SigtimedwaitTest, ReturnsPendingBlockedSignalAndConsumesIt) {
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  siginfo_t info = {};
  const struct timespec timeout = {5, 0};
  ASSERT_THAT(sigtimedwait(&usr1_, &info, &timeout), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_EQ(info.si_signo, SIGUSR1);
  EXPECT_EQ(info.si_code, SI_USER);
  EXPECT_EQ(info.si_pid, getpid());
  EXPECT_EQ(info.si_uid, getuid());
  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 0);
  const struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&usr1_, nullptr, &zero), SyscallFailsWithErrno(EAGAIN));
}

TEST_F(SigtimedwaitTest, OnlySignalsInTheSetAreTaken) {
  ASSERT_THAT(kill(getpid(), SIGUSR2), SyscallSucceeds());
  const struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&usr1_, nullptr, &zero), SyscallFailsWithErrno(EAGAIN));
  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 1);
  EXPECT_THAT(sigtimedwait(&both_, nullptr, &zero), SyscallSucceedsWithValue(SIGUSR2));
}

TEST_F(SigtimedwaitTest, LowestNumberedSignalFirst) {
  ASSERT_THAT(kill(getpid(), SIGUSR2), SyscallSucceeds());
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  const struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&both_, nullptr, &zero), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_THAT(sigtimedwait(&both_, nullptr, &zero), SyscallSucceedsWithValue(SIGUSR2));
}

TEST_F(SigtimedwaitTest, WaitsForSignalFromAnotherProcess) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    const struct timespec delay = {0, 20 * 1000 * 1000};
    nanosleep(&delay, nullptr);
    TEST_PCHECK(sigqueue(parent, SIGUSR1, sigval{.sival_int = 99}) == 0);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  const struct timespec timeout = {10, 0};
  EXPECT_THAT(sigtimedwait(&usr1_, &info, &timeout), SyscallSucceedsWithValue(SIGUSR1));
  EXPECT_EQ(info.si_pid, pid);
  EXPECT_EQ(info.si_code, SI_QUEUE);
  EXPECT_EQ(info.si_value.sival_int, 99);
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(0));
}

TEST_F(SigtimedwaitTest, WithoutTimeout) {
  ASSERT_THAT(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2), SyscallSucceeds());
  siginfo_t info = {};
  // The raw call: glibc's sigwaitinfo rewrites SI_TKILL to SI_USER.
  EXPECT_THAT(syscall(SYS_rt_sigtimedwait, &both_, &info, nullptr, 8),
              SyscallSucceedsWithValue(SIGUSR2));
  EXPECT_EQ(info.si_code, SI_TKILL);
  EXPECT_EQ(info.si_pid, getpid());
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  EXPECT_THAT(sigwaitinfo(&both_, &info), SyscallSucceedsWithValue(SIGUSR1));
}

TEST_F(SigtimedwaitTest, InvalidArguments) {
  struct timespec bad = {0, 1000000000};
  EXPECT_THAT(sigtimedwait(&usr1_, nullptr, &bad), SyscallFailsWithErrno(EINVAL));
  bad = {0, -1};
  EXPECT_THAT(sigtimedwait(&usr1_, nullptr, &bad), SyscallFailsWithErrno(EINVAL));
  const struct timespec zero = {0, 0};
  EXPECT_THAT(syscall(SYS_rt_sigtimedwait, &usr1_, nullptr, &zero, 4),
              SyscallFailsWithErrno(EINVAL));
}

std::atomic<int> usr2_handled{0};
void CountUsr2(int) { usr2_handled.fetch_add(1); }

struct Interrupter {
  pid_t tid;
  std::atomic<bool> stop{false};
};

void* SendUsr2UntilStopped(void* arg) {
  auto* in = static_cast<Interrupter*>(arg);
  for (int i = 0; i < 1000 && !in->stop.load(); i++) {
    const struct timespec delay = {0, 10 * 1000 * 1000};
    nanosleep(&delay, nullptr);
    syscall(SYS_tgkill, getpid(), in->tid, SIGUSR2);
  }
  return nullptr;
}

TEST_F(SigtimedwaitTest, HandledSignalOutsideTheSetInterrupts) {
  struct sigaction act = {};
  act.sa_handler = CountUsr2;
  act.sa_flags = SA_RESTART;  // sigtimedwait is never restarted.
  ScopedSigaction installed(SIGUSR2, act);
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_UNBLOCK, &usr2, nullptr), SyscallSucceeds());
  usr2_handled = 0;

  Interrupter in;
  in.tid = static_cast<pid_t>(syscall(SYS_gettid));
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, SendUsr2UntilStopped, &in), 0);
  const struct timespec timeout = {10, 0};
  EXPECT_THAT(sigtimedwait(&usr1_, nullptr, &timeout), SyscallFailsWithErrno(EINTR));
  in.stop = true;
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_GE(usr2_handled.load(), 1);
}

}  // namespace
}  // namespace testing
}  // namespace visor
