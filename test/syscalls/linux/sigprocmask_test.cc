// Tests for sigprocmask(2) / rt_sigprocmask(2) and sigpending(2).

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
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

// SigprocmaskTest saves the mask before each case and restores it after.
class SigprocmaskTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(sigprocmask(SIG_BLOCK, nullptr, &saved_), SyscallSucceeds()); }
  void TearDown() override { sigprocmask(SIG_SETMASK, &saved_, nullptr); }
  sigset_t saved_;
};

sigset_t Set(std::initializer_list<int> sigs) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : sigs) sigaddset(&set, s);
  return set;
}

sigset_t CurrentMask() {
  sigset_t set;
  sigemptyset(&set);
  EXPECT_THAT(sigprocmask(SIG_BLOCK, nullptr, &set), SyscallSucceeds());
  return set;
}

TEST_F(SigprocmaskTest, BlockUnblockAndSetmask) {
  const sigset_t usr1 = Set({SIGUSR1});
  const sigset_t usr2 = Set({SIGUSR2});
  const sigset_t empty = Set({});
  ASSERT_THAT(sigprocmask(SIG_SETMASK, &empty, nullptr), SyscallSucceeds());

  sigset_t old;
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &usr1, &old), SyscallSucceeds());
  EXPECT_EQ(sigismember(&old, SIGUSR1), 0);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &usr2, &old), SyscallSucceeds());
  EXPECT_EQ(sigismember(&old, SIGUSR1), 1);  // old is the mask before the call.
  sigset_t cur = CurrentMask();
  EXPECT_EQ(sigismember(&cur, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&cur, SIGUSR2), 1);

  ASSERT_THAT(sigprocmask(SIG_UNBLOCK, &usr1, nullptr), SyscallSucceeds());
  cur = CurrentMask();
  EXPECT_EQ(sigismember(&cur, SIGUSR1), 0);
  EXPECT_EQ(sigismember(&cur, SIGUSR2), 1);

  ASSERT_THAT(sigprocmask(SIG_SETMASK, &usr1, nullptr), SyscallSucceeds());
  cur = CurrentMask();
  EXPECT_EQ(sigismember(&cur, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&cur, SIGUSR2), 0);
}

TEST_F(SigprocmaskTest, SigkillAndSigstopCannotBeBlocked) {
  sigset_t all;
  sigfillset(&all);
  // Through the raw syscall: glibc's wrapper would quietly drop its own
  // internal signals, but the kernel is what drops SIGKILL and SIGSTOP.
  ASSERT_THAT(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, 8), SyscallSucceeds());
  sigset_t cur;
  ASSERT_THAT(syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &cur, 8), SyscallSucceeds());
  EXPECT_EQ(sigismember(&cur, SIGKILL), 0);
  EXPECT_EQ(sigismember(&cur, SIGSTOP), 0);
  EXPECT_EQ(sigismember(&cur, SIGTERM), 1);
  EXPECT_EQ(sigismember(&cur, SIGRTMAX), 1);
}

TEST_F(SigprocmaskTest, InvalidArguments) {
  const sigset_t usr1 = Set({SIGUSR1});
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, 42, &usr1, nullptr, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &usr1, nullptr, 4),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &usr1, nullptr, 16),
              SyscallFailsWithErrno(EINVAL));
  // how is not checked when there is no new set.
  sigset_t cur;
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, 42, nullptr, &cur, 8), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_rt_sigprocmask, SIG_BLOCK, reinterpret_cast<void*>(8), nullptr, 8),
              SyscallFailsWithErrno(EFAULT));
}

std::atomic<int> handled{0};
void CountHandler(int) { handled.fetch_add(1); }

TEST_F(SigprocmaskTest, BlockedSignalIsPendingAndDeliveredOnUnblock) {
  struct sigaction act = {};
  act.sa_handler = CountHandler;
  ScopedSigaction installed(SIGUSR1, act);
  handled = 0;
  const sigset_t usr1 = Set({SIGUSR1});
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &usr1, nullptr), SyscallSucceeds());

  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 0);

  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(handled.load(), 0);
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 0);

  // Delivered before sigprocmask returns.
  ASSERT_THAT(sigprocmask(SIG_UNBLOCK, &usr1, nullptr), SyscallSucceeds());
  EXPECT_EQ(handled.load(), 1);
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 0);
}

TEST_F(SigprocmaskTest, SigpendingIncludesProcessAndThreadSignals) {
  const sigset_t both = Set({SIGUSR1, SIGUSR2});
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &both, nullptr), SyscallSucceeds());
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());                             // Process-wide.
  ASSERT_THAT(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2), SyscallSucceeds());  // This thread.
  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 1);
  const struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&both, nullptr, &zero), SyscallSucceeds());
  EXPECT_THAT(sigtimedwait(&both, nullptr, &zero), SyscallSucceeds());
  EXPECT_THAT(sigtimedwait(&both, nullptr, &zero), SyscallFailsWithErrno(EAGAIN));
}

std::atomic<pid_t> handler_tid{0};
void RecordTid(int) { handler_tid = static_cast<pid_t>(syscall(SYS_gettid)); }

struct Waiter {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> done{false};
};

void* WaitForHandler(void* arg) {
  auto* w = static_cast<Waiter*>(arg);
  const sigset_t usr1 = Set({SIGUSR1});
  pthread_sigmask(SIG_UNBLOCK, &usr1, nullptr);
  w->tid = static_cast<pid_t>(syscall(SYS_gettid));
  for (int i = 0; i < 10000 && handler_tid.load() == 0; i++) {
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
  }
  w->done = true;
  return nullptr;
}

TEST_F(SigprocmaskTest, ProcessSignalGoesToAThreadThatDoesNotBlockIt) {
  struct sigaction act = {};
  act.sa_handler = RecordTid;
  ScopedSigaction installed(SIGUSR1, act);
  handler_tid = 0;
  const sigset_t usr1 = Set({SIGUSR1});
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &usr1, nullptr), SyscallSucceeds());

  Waiter w;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, WaitForHandler, &w), 0);
  while (w.tid.load() == 0) sched_yield();
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  // Only the other thread could take it.
  EXPECT_EQ(handler_tid.load(), w.tid.load());
  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR1), 0);
}

struct ThreadMasks {
  int usr2_inherited = -1;
  int term_blocked = -1;
};

void* BlockAllAndReport(void* arg) {
  auto* m = static_cast<ThreadMasks*>(arg);
  sigset_t start;
  pthread_sigmask(SIG_BLOCK, nullptr, &start);
  m->usr2_inherited = sigismember(&start, SIGUSR2);
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, nullptr);
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, nullptr, &cur);
  m->term_blocked = sigismember(&cur, SIGTERM);
  return nullptr;
}

TEST_F(SigprocmaskTest, MaskIsPerThreadAndInheritedByNewThreads) {
  const sigset_t usr2 = Set({SIGUSR2});
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &usr2, nullptr), SyscallSucceeds());
  ThreadMasks m;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, BlockAllAndReport, &m), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_EQ(m.usr2_inherited, 1);
  EXPECT_EQ(m.term_blocked, 1);
  sigset_t cur = CurrentMask();
  EXPECT_EQ(sigismember(&cur, SIGTERM), 0);  // The thread's change stayed there.
  EXPECT_EQ(sigismember(&cur, SIGUSR2), 1);
}

}  // namespace
}  // namespace testing
}  // namespace visor
