// Tests for sigsuspend(2) / rt_sigsuspend(2) and pause(2).

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
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

std::atomic<int> usr1_handled{0};
sigset_t mask_in_handler;

void OnUsr1(int) {
  usr1_handled.fetch_add(1);
  pthread_sigmask(SIG_BLOCK, nullptr, &mask_in_handler);
}

// SigsuspendTest installs OnUsr1 for SIGUSR1, blocks SIGUSR1 (the usual
// pattern: block, check, then sigsuspend to wait), and restores everything
// afterwards.
class SigsuspendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct sigaction act = {};
    act.sa_handler = OnUsr1;
    ASSERT_THAT(sigaction(SIGUSR1, &act, &old_act_), SyscallSucceeds());
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ASSERT_THAT(sigprocmask(SIG_BLOCK, &usr1, &saved_), SyscallSucceeds());
    usr1_handled = 0;
  }
  void TearDown() override {
    sigprocmask(SIG_SETMASK, &saved_, nullptr);
    sigaction(SIGUSR1, &old_act_, nullptr);
  }
  // WaitMask is the current mask without SIGUSR1 (and with extra blocked).
  sigset_t WaitMask(int extra = 0) {
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, nullptr, &m);
    sigdelset(&m, SIGUSR1);
    if (extra) sigaddset(&m, extra);
    return m;
  }
  struct sigaction old_act_;
  sigset_t saved_;
};

TEST_F(SigsuspendTest, PendingSignalIsHandledAndEINTRReturned) {
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(usr1_handled.load(), 0);
  const sigset_t wait = WaitMask();
  EXPECT_THAT(sigsuspend(&wait), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(usr1_handled.load(), 1);
  // The original mask (SIGUSR1 blocked) is back.
  sigset_t now;
  ASSERT_THAT(sigprocmask(SIG_BLOCK, nullptr, &now), SyscallSucceeds());
  EXPECT_EQ(sigismember(&now, SIGUSR1), 1);
}

struct Sender {
  pid_t tid;
  int sig;
  int delay_ms;
};

void* SendAfterDelay(void* arg) {
  auto* s = static_cast<Sender*>(arg);
  const struct timespec delay = {0, s->delay_ms * 1000L * 1000L};
  nanosleep(&delay, nullptr);
  syscall(SYS_tgkill, getpid(), s->tid, s->sig);
  return nullptr;
}

TEST_F(SigsuspendTest, WaitsForASignalFromAnotherThread) {
  // The sender inherits the blocked SIGUSR1, so the signal (directed at this
  // thread) is either pending before sigsuspend or arrives during it; either
  // way sigsuspend handles it and returns.
  Sender s = {static_cast<pid_t>(syscall(SYS_gettid)), SIGUSR1, 30};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, SendAfterDelay, &s), 0);
  const sigset_t wait = WaitMask();
  EXPECT_THAT(sigsuspend(&wait), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(usr1_handled.load(), 1);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
}

TEST_F(SigsuspendTest, HandlerRunsWithTheTemporaryMask) {
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  const sigset_t wait = WaitMask(SIGUSR2);
  EXPECT_THAT(sigsuspend(&wait), SyscallFailsWithErrno(EINTR));
  ASSERT_EQ(usr1_handled.load(), 1);
  // During the handler: sigsuspend's mask plus the signal itself.
  EXPECT_EQ(sigismember(&mask_in_handler, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&mask_in_handler, SIGUSR1), 1);
  // After: the mask from before sigsuspend, without SIGUSR2.
  sigset_t now;
  ASSERT_THAT(sigprocmask(SIG_BLOCK, nullptr, &now), SyscallSucceeds());
  EXPECT_EQ(sigismember(&now, SIGUSR2), 0);
  EXPECT_EQ(sigismember(&now, SIGUSR1), 1);
}

TEST_F(SigsuspendTest, SignalBlockedByTheTemporaryMaskDoesNotWake) {
  // SIGUSR2 is pending but stays blocked during sigsuspend; SIGUSR1, sent
  // later, ends it. SIGUSR2 is still pending afterwards.
  sigset_t usr2;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &usr2, nullptr), SyscallSucceeds());
  ASSERT_THAT(raise(SIGUSR2), SyscallSucceeds());
  Sender s = {static_cast<pid_t>(syscall(SYS_gettid)), SIGUSR1, 30};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, SendAfterDelay, &s), 0);
  const sigset_t wait = WaitMask(SIGUSR2);
  EXPECT_THAT(sigsuspend(&wait), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(usr1_handled.load(), 1);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 1);
  const struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&usr2, nullptr, &zero), SyscallSucceedsWithValue(SIGUSR2));
}

TEST_F(SigsuspendTest, BadSigsetSizeIsEINVAL) {
  const sigset_t wait = WaitMask();
  EXPECT_THAT(syscall(SYS_rt_sigsuspend, &wait, 4), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigsuspend, reinterpret_cast<void*>(8), 8),
              SyscallFailsWithErrno(EFAULT));
}

TEST_F(SigsuspendTest, PauseReturnsEINTRAfterHandler) {
  // pause waits with the current mask, so unblock SIGUSR1 for the sender.
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ASSERT_THAT(sigprocmask(SIG_UNBLOCK, &usr1, nullptr), SyscallSucceeds());
  // Keep signalling until pause has returned: a signal that lands before
  // pause starts is handled then, and the next one ends pause.
  struct Repeater {
    pid_t tid;
    std::atomic<bool> stop{false};
  } r;
  r.tid = static_cast<pid_t>(syscall(SYS_gettid));
  pthread_t t;
  ASSERT_EQ(pthread_create(
                &t, nullptr,
                [](void* arg) -> void* {
                  auto* r = static_cast<Repeater*>(arg);
                  for (int i = 0; i < 1000 && !r->stop.load(); i++) {
                    const struct timespec delay = {0, 10 * 1000 * 1000};
                    nanosleep(&delay, nullptr);
                    syscall(SYS_tgkill, getpid(), r->tid, SIGUSR1);
                  }
                  return nullptr;
                },
                &r),
            0);
  EXPECT_THAT(pause(), SyscallFailsWithErrno(EINTR));
  r.stop = true;
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_GE(usr1_handled.load(), 1);
}

}  // namespace
}  // namespace testing
}  // namespace visor
