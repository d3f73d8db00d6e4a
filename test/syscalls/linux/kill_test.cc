// Tests for kill(2), tgkill(2) and tkill(2): targets, permission checks and
// errors.

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

std::atomic<int> handled{0};
void CountHandler(int) { handled.fetch_add(1); }

TEST(KillTest, SignalZeroChecksExistenceOnly) {
  struct sigaction act = {};
  act.sa_handler = CountHandler;
  ScopedSigaction installed(SIGUSR1, act);
  handled = 0;
  EXPECT_THAT(kill(getpid(), 0), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0), SyscallSucceeds());
  EXPECT_EQ(handled.load(), 0);
}

TEST(KillTest, KillSelfDeliversBeforeReturning) {
  struct sigaction act = {};
  act.sa_handler = CountHandler;
  ScopedSigaction installed(SIGUSR1, act);
  handled = 0;
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(handled.load(), 1);
  ASSERT_THAT(syscall(SYS_tkill, syscall(SYS_gettid), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(handled.load(), 2);
}

TEST(KillTest, InvalidSignalIsEINVAL) {
  EXPECT_THAT(kill(getpid(), -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(kill(getpid(), 65), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 65),
              SyscallFailsWithErrno(EINVAL));
  // tgkill and tkill need positive ids.
  EXPECT_THAT(syscall(SYS_tgkill, 0, syscall(SYS_gettid), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tgkill, getpid(), 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_tkill, -1, 0), SyscallFailsWithErrno(EINVAL));
}

TEST(KillTest, ReapedChildIsESRCHZombieIsNot) {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  ASSERT_THAT(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), SyscallSucceeds());
  EXPECT_THAT(kill(pid, 0), SyscallSucceeds());
  EXPECT_THAT(kill(pid, SIGTERM), SyscallSucceeds());  // Signalling a zombie is harmless.
  ASSERT_THAT(waitpid(pid, nullptr, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(kill(pid, 0), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(kill(pid, SIGTERM), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(syscall(SYS_tgkill, pid, pid, 0), SyscallFailsWithErrno(ESRCH));
}

TEST(KillTest, KillChildWithSigterm) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  ASSERT_THAT(kill(pid, SIGTERM), SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, KilledBy(SIGTERM));
}

TEST(KillTest, KillZeroAndNegativePgidSignalTheProcessGroup) {
  for (const bool use_zero : {true, false}) {
    SCOPED_TRACE(use_zero ? "kill(0, sig)" : "kill(-pgid, sig)");
    EXPECT_THAT(InForkedProcess([use_zero] {
                  // A process group of our own, so nothing outside the test
                  // is signalled.
                  TEST_PCHECK(setpgid(0, 0) == 0);
                  pid_t members[2];
                  for (pid_t& m : members) {
                    m = fork();
                    TEST_PCHECK(m >= 0);
                    if (m == 0) {
                      for (;;) pause();
                    }
                  }
                  // A process in another group is not signalled.
                  const pid_t outsider = fork();
                  TEST_PCHECK(outsider >= 0);
                  if (outsider == 0) {
                    setpgid(0, 0);
                    for (;;) pause();
                  }
                  TEST_PCHECK(setpgid(outsider, outsider) == 0 || errno == EACCES);
                  struct sigaction ign = {};
                  ign.sa_handler = SIG_IGN;
                  TEST_PCHECK(sigaction(SIGUSR1, &ign, nullptr) == 0);  // Spare ourselves.
                  TEST_PCHECK(kill(use_zero ? 0 : -getpgrp(), SIGUSR1) == 0);
                  for (pid_t m : members) {
                    int status = 0;
                    TEST_PCHECK(waitpid(m, &status, 0) == m);
                    TEST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1);
                  }
                  int status = 0;
                  TEST_CHECK(waitpid(outsider, &status, WNOHANG) == 0);
                  TEST_PCHECK(kill(outsider, SIGKILL) == 0);
                  TEST_PCHECK(waitpid(outsider, &status, 0) == outsider);
                  TEST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                }),
                ExitedWith(0));
  }
}

TEST(KillTest, NonexistentProcessGroupIsESRCH) {
  // Our own pid is a live process but (in the forked child below) not a
  // process group id once we are in another group.
  EXPECT_THAT(InForkedProcess([] {
                // A fresh child is in its parent's group, so -getpid() names
                // no group.
                TEST_CHECK(getpgrp() != getpid());
                TEST_CHECK(kill(-getpid(), 0) == -1 && errno == ESRCH);
              }),
              ExitedWith(0));
}

std::atomic<pid_t> handler_tid{0};
void RecordTid(int) { handler_tid = static_cast<pid_t>(syscall(SYS_gettid)); }

struct Target {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
};

void* SpinUntilStopped(void* arg) {
  auto* t = static_cast<Target*>(arg);
  t->tid = static_cast<pid_t>(syscall(SYS_gettid));
  while (!t->stop.load()) {
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
  }
  return nullptr;
}

TEST(KillTest, TgkillTargetsOneThread) {
  struct sigaction act = {};
  act.sa_handler = RecordTid;
  ScopedSigaction installed(SIGUSR1, act);
  handler_tid = 0;
  Target target;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, SpinUntilStopped, &target), 0);
  while (target.tid.load() == 0) sched_yield();

  ASSERT_THAT(syscall(SYS_tgkill, getpid(), target.tid.load(), SIGUSR1), SyscallSucceeds());
  for (int i = 0; i < 10000 && handler_tid.load() == 0; i++) {
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
  }
  EXPECT_EQ(handler_tid.load(), target.tid.load());
  EXPECT_NE(handler_tid.load(), syscall(SYS_gettid));

  // The thread id must belong to the named thread group. Another process names
  // it: a child of ours (getppid() would be 0, an invalid tgid, when the test
  // runs as a PID namespace's init).
  const pid_t other = fork();
  if (other == 0) _exit(0);
  ASSERT_THAT(other, SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_tgkill, other, target.tid.load(), 0), SyscallFailsWithErrno(ESRCH));
  int status = 0;
  ASSERT_THAT(waitpid(other, &status, 0), SyscallSucceedsWithValue(other));

  target.stop = true;
  ASSERT_EQ(pthread_join(t, nullptr), 0);
}

TEST(KillTest, UnprivilegedCannotSignalOtherUsers) {
  const pid_t parent = getpid();
  if (getuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  EXPECT_THAT(InForkedProcess([parent] {
                TEST_PCHECK(setresuid(65534, 65534, 65534) == 0);
                // The parent is root's: even signal 0 is refused.
                TEST_CHECK(kill(parent, 0) == -1 && errno == EPERM);
                TEST_CHECK(kill(parent, SIGTERM) == -1 && errno == EPERM);
                // Signalling ourselves is fine.
                TEST_PCHECK(kill(getpid(), 0) == 0);
              }),
              ExitedWith(0));
}

TEST(KillTest, SameUserMaySignalAfterSwitch) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(setresuid(65534, 65534, 65534) == 0);
                const pid_t child = fork();
                TEST_PCHECK(child >= 0);
                if (child == 0) {
                  for (;;) pause();
                }
                // Same real/effective uid: allowed.
                TEST_PCHECK(kill(child, SIGTERM) == 0);
                int status = 0;
                TEST_PCHECK(waitpid(child, &status, 0) == child);
                TEST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
