// Tests for sigaction(2) / rt_sigaction(2): installing and querying actions,
// siginfo contents, and the SA_RESETHAND, SA_NODEFER and sa_mask semantics.

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

void NopHandler(int) {}

TEST(SigactionTest, InstallAndQuery) {
  struct sigaction act = {};
  act.sa_handler = NopHandler;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, SIGUSR2);
  sigaddset(&act.sa_mask, SIGRTMIN + 3);
  act.sa_flags = SA_RESTART;
  ScopedSigaction installed(SIGUSR1, act);

  struct sigaction got = {};
  ASSERT_THAT(sigaction(SIGUSR1, nullptr, &got), SyscallSucceeds());
  EXPECT_EQ(got.sa_handler, NopHandler);
  EXPECT_TRUE(got.sa_flags & SA_RESTART);
  EXPECT_FALSE(got.sa_flags & SA_SIGINFO);
  EXPECT_EQ(sigismember(&got.sa_mask, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&got.sa_mask, SIGRTMIN + 3), 1);
  EXPECT_EQ(sigismember(&got.sa_mask, SIGTERM), 0);

  // Replacing returns the previous action.
  struct sigaction ign = {};
  ign.sa_handler = SIG_IGN;
  struct sigaction prev = {};
  ASSERT_THAT(sigaction(SIGUSR1, &ign, &prev), SyscallSucceeds());
  EXPECT_EQ(prev.sa_handler, NopHandler);
  ASSERT_THAT(sigaction(SIGUSR1, nullptr, &got), SyscallSucceeds());
  EXPECT_EQ(got.sa_handler, SIG_IGN);
}

TEST(SigactionTest, SigkillAndSigstopCannotBeChanged) {
  struct sigaction act = {};
  act.sa_handler = SIG_IGN;
  for (int sig : {SIGKILL, SIGSTOP}) {
    SCOPED_TRACE(SignalName(sig));
    EXPECT_THAT(sigaction(sig, &act, nullptr), SyscallFailsWithErrno(EINVAL));
    // They may be queried: always the default.
    struct sigaction got = {};
    EXPECT_THAT(sigaction(sig, nullptr, &got), SyscallSucceeds());
    EXPECT_EQ(got.sa_handler, SIG_DFL);
  }
}

TEST(SigactionTest, InvalidSignalNumbersAreEINVAL) {
  struct sigaction got;
  EXPECT_THAT(syscall(SYS_rt_sigaction, 0, nullptr, &got, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigaction, 65, nullptr, &got, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigaction, -1, nullptr, &got, 8), SyscallFailsWithErrno(EINVAL));
  // rt_sigaction insists on the kernel's sigset size.
  EXPECT_THAT(syscall(SYS_rt_sigaction, SIGUSR1, nullptr, &got, 4),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_rt_sigaction, SIGUSR1, nullptr, &got, 8), SyscallSucceeds());
}

siginfo_t last_info;
volatile sig_atomic_t info_count;

void RecordInfo(int, siginfo_t* info, void*) {
  last_info = *info;
  info_count = info_count + 1;
}

TEST(SigactionTest, SiginfoHandlerGetsSenderDetails) {
  struct sigaction act = {};
  act.sa_sigaction = RecordInfo;
  act.sa_flags = SA_SIGINFO;
  ScopedSigaction installed(SIGUSR1, act);

  // kill: SI_USER with the sender's pid and uid.
  info_count = 0;
  memset(&last_info, 0, sizeof(last_info));
  ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
  ASSERT_EQ(info_count, 1);
  EXPECT_EQ(last_info.si_signo, SIGUSR1);
  EXPECT_EQ(last_info.si_code, SI_USER);
  EXPECT_EQ(last_info.si_pid, getpid());
  EXPECT_EQ(last_info.si_uid, getuid());

  // tgkill: SI_TKILL.
  ASSERT_THAT(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1), SyscallSucceeds());
  ASSERT_EQ(info_count, 2);
  EXPECT_EQ(last_info.si_code, SI_TKILL);
  EXPECT_EQ(last_info.si_pid, getpid());

  // sigqueue: SI_QUEUE with the value.
  ASSERT_THAT(sigqueue(getpid(), SIGUSR1, sigval{.sival_int = 1234}), SyscallSucceeds());
  ASSERT_EQ(info_count, 3);
  EXPECT_EQ(last_info.si_code, SI_QUEUE);
  EXPECT_EQ(last_info.si_value.sival_int, 1234);

  // From another process.
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    TEST_PCHECK(kill(parent, SIGUSR1) == 0);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  pid_t waited;
  do {
    waited = waitpid(pid, &status, 0);  // No SA_RESTART: the signal may interrupt it.
  } while (waited < 0 && errno == EINTR);
  ASSERT_EQ(waited, pid);
  EXPECT_THAT(status, ExitedWith(0));
  // The signal may have interrupted waitpid or arrived just before; either
  // way it is handled by now.
  ASSERT_EQ(info_count, 4);
  EXPECT_EQ(last_info.si_code, SI_USER);
  EXPECT_EQ(last_info.si_pid, pid);
}

TEST(SigactionTest, SigqueueinfoCannotForgeKernelCodesForOthers) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  siginfo_t info = {};
  info.si_signo = SIGUSR1;
  // Non-negative codes and SI_TKILL are the kernel's own: another process
  // may not be sent them.
  info.si_code = SI_KERNEL;
  EXPECT_THAT(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &info), SyscallFailsWithErrno(EPERM));
  info.si_code = SI_USER;
  EXPECT_THAT(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &info), SyscallFailsWithErrno(EPERM));
  info.si_code = SI_TKILL;
  EXPECT_THAT(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &info), SyscallFailsWithErrno(EPERM));
  // A negative code such as SI_QUEUE is allowed: the child dies of it.
  info.si_code = SI_QUEUE;
  EXPECT_THAT(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &info), SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, KilledBy(SIGUSR1));
}

volatile sig_atomic_t resethand_count;

void CountResethand(int) { resethand_count = resethand_count + 1; }

TEST(SigactionTest, SaResethandRestoresDefaultAfterOneDelivery) {
  EXPECT_THAT(InForkedProcess([] {
                struct sigaction act = {};
                act.sa_handler = CountResethand;
                act.sa_flags = SA_RESETHAND;
                TEST_PCHECK(sigaction(SIGUSR1, &act, nullptr) == 0);
                TEST_PCHECK(raise(SIGUSR1) == 0);
                TEST_CHECK(resethand_count == 1);
                struct sigaction got = {};
                TEST_PCHECK(sigaction(SIGUSR1, nullptr, &got) == 0);
                TEST_CHECK(got.sa_handler == SIG_DFL);
                // The second one takes the default action.
                raise(SIGUSR1);
                _exit(2);
              }),
              KilledBy(SIGUSR1));
}

volatile sig_atomic_t depth;
volatile sig_atomic_t max_depth;
volatile sig_atomic_t calls;

void Reentrant(int sig) {
  depth = depth + 1;
  if (depth > max_depth) max_depth = depth;
  calls = calls + 1;
  if (calls == 1) raise(sig);  // Once, from inside the handler.
  depth = depth - 1;
}

TEST(SigactionTest, SignalIsBlockedInItsHandlerUnlessSaNodefer) {
  for (const bool nodefer : {false, true}) {
    SCOPED_TRACE(nodefer ? "SA_NODEFER" : "default");
    struct sigaction act = {};
    act.sa_handler = Reentrant;
    act.sa_flags = nodefer ? SA_NODEFER : 0;
    ScopedSigaction installed(SIGUSR1, act);
    depth = 0;
    max_depth = 0;
    calls = 0;
    ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
    // Both deliveries happen; nested only with SA_NODEFER, otherwise the
    // second waits until the first handler returns.
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(max_depth, nodefer ? 2 : 1);
    EXPECT_EQ(depth, 0);
  }
}

sigset_t mask_in_handler;

void RecordMask(int) { sigprocmask(SIG_BLOCK, nullptr, &mask_in_handler); }

TEST(SigactionTest, HandlerMaskIsSignalPlusSaMaskThenRestored) {
  struct sigaction act = {};
  act.sa_handler = RecordMask;
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, SIGUSR2);
  ScopedSigaction installed(SIGUSR1, act);
  sigemptyset(&mask_in_handler);
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(sigismember(&mask_in_handler, SIGUSR1), 1);
  EXPECT_EQ(sigismember(&mask_in_handler, SIGUSR2), 1);
  EXPECT_EQ(sigismember(&mask_in_handler, SIGTERM), 0);
  sigset_t now;
  ASSERT_THAT(sigprocmask(SIG_BLOCK, nullptr, &now), SyscallSucceeds());
  EXPECT_EQ(sigismember(&now, SIGUSR1), 0);
  EXPECT_EQ(sigismember(&now, SIGUSR2), 0);
}

TEST(SigactionTest, IgnoringDiscardsAPendingSignal) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &set, &old), SyscallSucceeds());
  ASSERT_THAT(raise(SIGUSR2), SyscallSucceeds());
  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 1);
  {
    struct sigaction ign = {};
    ign.sa_handler = SIG_IGN;
    ScopedSigaction ignored(SIGUSR2, ign);
    ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
    EXPECT_EQ(sigismember(&pending, SIGUSR2), 0);
    // But a blocked signal is never ignored on arrival (its action may
    // change before it is unblocked): a new one stays pending.
    ASSERT_THAT(raise(SIGUSR2), SyscallSucceeds());
    ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
    EXPECT_EQ(sigismember(&pending, SIGUSR2), 1);
    const struct timespec zero = {0, 0};
    EXPECT_THAT(sigtimedwait(&set, nullptr, &zero), SyscallSucceedsWithValue(SIGUSR2));
  }
  ASSERT_THAT(sigprocmask(SIG_SETMASK, &old, nullptr), SyscallSucceeds());
}

TEST(SigactionTest, ForkedChildInheritsHandlersButChangesAreItsOwn) {
  struct sigaction act = {};
  act.sa_handler = NopHandler;
  ScopedSigaction installed(SIGUSR1, act);
  // A forked child inherits the handler.
  EXPECT_THAT(InForkedProcess([] {
                struct sigaction got = {};
                TEST_PCHECK(sigaction(SIGUSR1, nullptr, &got) == 0);
                TEST_CHECK(got.sa_handler == NopHandler);
                // Changing it there does not change ours.
                struct sigaction ign = {};
                ign.sa_handler = SIG_IGN;
                TEST_PCHECK(sigaction(SIGUSR1, &ign, nullptr) == 0);
              }),
              ExitedWith(0));
  struct sigaction got = {};
  ASSERT_THAT(sigaction(SIGUSR1, nullptr, &got), SyscallSucceeds());
  EXPECT_EQ(got.sa_handler, NopHandler);
}

}  // namespace
}  // namespace testing
}  // namespace visor
