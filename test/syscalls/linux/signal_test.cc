// Tests of signal delivery: faults (SIGSEGV, SIGFPE), default actions,
// coalescing of standard signals and queueing of real-time ones, and
// interrupted system calls with and without SA_RESTART.

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <utility>
#include <vector>

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

// ScopedMask blocks or unblocks sigs for its lifetime (this thread).
class ScopedMask {
 public:
  ScopedMask(int how, std::initializer_list<int> sigs) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : sigs) sigaddset(&set, s);
    EXPECT_THAT(pthread_sigmask(how, &set, &old_), 0);
  }
  ~ScopedMask() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  ScopedMask(const ScopedMask&) = delete;
  ScopedMask& operator=(const ScopedMask&) = delete;

 private:
  sigset_t old_;
};

void SleepMs(int ms) {
  const struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

// --- Faults -----------------------------------------------------------------

sigjmp_buf fault_jmp;
volatile sig_atomic_t fault_signo;
volatile sig_atomic_t fault_code;
void* volatile fault_addr;

void FaultHandler(int sig, siginfo_t* info, void*) {
  fault_signo = sig;
  fault_code = info->si_code;
  fault_addr = info->si_addr;
  siglongjmp(fault_jmp, 1);
}

void InstallFaultHandler(int sig) {
  struct sigaction act = {};
  act.sa_sigaction = FaultHandler;
  act.sa_flags = SA_SIGINFO;
  TEST_PCHECK(sigaction(sig, &act, nullptr) == 0);
}

TEST(SignalTest, SigsegvHandlerSeesFaultAndEscapesWithSiglongjmp) {
  EXPECT_THAT(InForkedProcess([] {
                InstallFaultHandler(SIGSEGV);
                const long page = sysconf(_SC_PAGESIZE);
                char* p = static_cast<char*>(mmap(nullptr, 2 * page, PROT_READ,
                                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
                TEST_PCHECK(p != MAP_FAILED);
                TEST_PCHECK(munmap(p + page, page) == 0);

                // A write to a read-only page: SEGV_ACCERR.
                if (sigsetjmp(fault_jmp, 1) == 0) {
                  *static_cast<volatile char*>(p + 16) = 1;
                  TEST_CHECK(false && "write to read-only page did not fault");
                }
                TEST_CHECK(fault_signo == SIGSEGV);
                TEST_CHECK(fault_code == SEGV_ACCERR);
                TEST_CHECK(fault_addr == p + 16);

                // A read of an unmapped page: SEGV_MAPERR.
                fault_signo = 0;
                if (sigsetjmp(fault_jmp, 1) == 0) {
                  (void)*static_cast<volatile char*>(p + page + 8);
                  TEST_CHECK(false && "read of unmapped page did not fault");
                }
                TEST_CHECK(fault_signo == SIGSEGV);
                TEST_CHECK(fault_code == SEGV_MAPERR);
                TEST_CHECK(fault_addr == p + page + 8);

                // siglongjmp with savesigs restored the mask: SIGSEGV is
                // deliverable again, not left blocked by the handler.
                sigset_t mask;
                TEST_PCHECK(sigprocmask(SIG_BLOCK, nullptr, &mask) == 0);
                TEST_CHECK(sigismember(&mask, SIGSEGV) == 0);
              }),
              ExitedWith(0));
}

TEST(SignalTest, SigfpeOnIntegerDivideByZero) {
  EXPECT_THAT(InForkedProcess([] {
                InstallFaultHandler(SIGFPE);
                volatile int zero = 0;
                volatile int seven = 7;
                volatile int result = 0;
                if (sigsetjmp(fault_jmp, 1) == 0) {
                  // (Not 1 / zero, which compilers turn into a comparison.)
                  result = seven / zero;
                  TEST_CHECK(false && "division by zero did not fault");
                }
                (void)result;
                TEST_CHECK(fault_signo == SIGFPE);
                TEST_CHECK(fault_code == FPE_INTDIV);
              }),
              ExitedWith(0));
}

TEST(SignalTest, UnhandledFaultsKill) {
  EXPECT_THAT(InForkedProcess([] {
                volatile int zero = 0;
                volatile int seven = 7;
                volatile int result = seven / zero;
                (void)result;
              }),
              KilledBy(SIGFPE));
  EXPECT_THAT(InForkedProcess([] { *static_cast<volatile int*>(nullptr) = 1; }),
              KilledBy(SIGSEGV));
}

TEST(SignalTest, FaultWhileSigsegvBlockedKills) {
  // A synchronous fault that cannot be delivered (blocked) kills even though
  // a handler is installed.
  EXPECT_THAT(InForkedProcess([] {
                InstallFaultHandler(SIGSEGV);
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, SIGSEGV);
                TEST_PCHECK(sigprocmask(SIG_BLOCK, &set, nullptr) == 0);
                *static_cast<volatile int*>(nullptr) = 1;
              }),
              KilledBy(SIGSEGV));
}

// --- Default actions --------------------------------------------------------

TEST(SignalTest, DefaultActionTerminates) {
  for (int sig : {SIGTERM, SIGUSR1, SIGHUP, SIGALRM}) {
    SCOPED_TRACE(SignalName(sig));
    EXPECT_THAT(InForkedProcess([sig] {
                  raise(sig);
                  _exit(1);
                }),
                KilledBy(sig));
  }
  EXPECT_THAT(InForkedProcess([] { abort(); }), KilledBy(SIGABRT));
}

TEST(SignalTest, DefaultActionIgnores) {
  for (int sig : {SIGCHLD, SIGURG, SIGWINCH}) {
    SCOPED_TRACE(SignalName(sig));
    EXPECT_THAT(InForkedProcess([sig] {
                  TEST_PCHECK(raise(sig) == 0);
                  // Ignored, not left pending.
                  sigset_t pending;
                  TEST_PCHECK(sigpending(&pending) == 0);
                  TEST_CHECK(sigismember(&pending, sig) == 0);
                  _exit(4);
                }),
                ExitedWith(4));
  }
}

TEST(SignalTest, SigpipeOnWriteToPipeWithoutReaders) {
  EXPECT_THAT(InForkedProcess([] {
                int fds[2];
                TEST_PCHECK(pipe(fds) == 0);
                TEST_PCHECK(close(fds[0]) == 0);
                const ssize_t unused = write(fds[1], "x", 1);
                (void)unused;
                _exit(1);
              }),
              KilledBy(SIGPIPE));
}

volatile sig_atomic_t sigcont_seen;

void OnSigcont(int) { sigcont_seen = 1; }

TEST(SignalTest, SigstopStopsAndSigcontResumes) {
  const pid_t pid = fork();
  if (pid == 0) {
    struct sigaction act = {};
    act.sa_handler = OnSigcont;
    TEST_PCHECK(sigaction(SIGCONT, &act, nullptr) == 0);
    TEST_PCHECK(raise(SIGSTOP) == 0);
    // Running again: SIGCONT both resumed us and ran its handler.
    TEST_CHECK(sigcont_seen == 1);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, WUNTRACED), SyscallSucceedsWithValue(pid));
  ASSERT_TRUE(WIFSTOPPED(status)) << WaitStatusString(status);
  EXPECT_EQ(WSTOPSIG(status), SIGSTOP);
  ASSERT_THAT(kill(pid, SIGCONT), SyscallSucceeds());
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(0));
}

TEST(SignalTest, SigkillEndsAStoppedProcess) {
  const pid_t pid = fork();
  if (pid == 0) {
    raise(SIGSTOP);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, WUNTRACED), SyscallSucceedsWithValue(pid));
  ASSERT_TRUE(WIFSTOPPED(status)) << WaitStatusString(status);
  ASSERT_THAT(kill(pid, SIGKILL), SyscallSucceeds());
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, KilledBy(SIGKILL));
}

// --- Coalescing and queueing ------------------------------------------------

std::atomic<int> usr1_count{0};

void CountUsr1(int) { usr1_count.fetch_add(1); }

TEST(SignalTest, StandardSignalsCoalesceWhilePending) {
  struct sigaction act = {};
  act.sa_handler = CountUsr1;
  ScopedSigaction handler(SIGUSR1, act);
  usr1_count = 0;
  {
    ScopedMask block(SIG_BLOCK, {SIGUSR1});
    for (int i = 0; i < 3; i++) ASSERT_THAT(kill(getpid(), SIGUSR1), SyscallSucceeds());
    EXPECT_EQ(usr1_count.load(), 0);
  }  // Unblocking delivers the pending signal before sigprocmask returns.
  EXPECT_EQ(usr1_count.load(), 1);
}

struct Received {
  int signo;
  int value;
  int code;
};
Received received[16];
std::atomic<int> received_count{0};

void RecordRt(int sig, siginfo_t* info, void*) {
  const int i = received_count.fetch_add(1);
  if (i < 16) received[i] = {sig, info->si_value.sival_int, info->si_code};
}

TEST(SignalTest, RealtimeSignalsQueueInOrderWithValues) {
  const int rt0 = SIGRTMIN;
  const int rt1 = SIGRTMIN + 1;
  struct sigaction act = {};
  act.sa_sigaction = RecordRt;
  act.sa_flags = SA_SIGINFO;
  // Block both in either handler, so that handlers run one after the other
  // rather than nesting (which would record them in reverse).
  sigemptyset(&act.sa_mask);
  sigaddset(&act.sa_mask, rt0);
  sigaddset(&act.sa_mask, rt1);
  ScopedSigaction h0(rt0, act);
  ScopedSigaction h1(rt1, act);
  received_count = 0;
  {
    ScopedMask block(SIG_BLOCK, {rt0, rt1});
    for (int v : {10, 11}) {
      ASSERT_THAT(sigqueue(getpid(), rt1, sigval{.sival_int = v}), SyscallSucceeds());
    }
    for (int v : {1, 2, 3}) {
      ASSERT_THAT(sigqueue(getpid(), rt0, sigval{.sival_int = v}), SyscallSucceeds());
    }
    EXPECT_EQ(received_count.load(), 0);
  }
  // Every instance is delivered; lower-numbered signals first, and each
  // signal's instances in the order they were sent.
  ASSERT_EQ(received_count.load(), 5);
  const std::vector<std::pair<int, int>> want = {
      {rt0, 1}, {rt0, 2}, {rt0, 3}, {rt1, 10}, {rt1, 11}};
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(received[i].signo, want[i].first) << i;
    EXPECT_EQ(received[i].value, want[i].second) << i;
    EXPECT_EQ(received[i].code, SI_QUEUE) << i;
  }
}

TEST(SignalTest, RealtimeSignalsQueueForSigtimedwait) {
  const int rt = SIGRTMIN + 2;
  ScopedMask block(SIG_BLOCK, {rt});
  for (int v : {7, 8, 9}) {
    ASSERT_THAT(sigqueue(getpid(), rt, sigval{.sival_int = v}), SyscallSucceeds());
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, rt);
  const struct timespec zero = {0, 0};
  for (int v : {7, 8, 9}) {
    siginfo_t info = {};
    ASSERT_THAT(sigtimedwait(&set, &info, &zero), SyscallSucceedsWithValue(rt));
    EXPECT_EQ(info.si_value.sival_int, v);
    EXPECT_EQ(info.si_pid, getpid());
  }
  EXPECT_THAT(sigtimedwait(&set, nullptr, &zero), SyscallFailsWithErrno(EAGAIN));
}

// --- Interrupted system calls -----------------------------------------------

struct Interrupter {
  pid_t target_tid;
  int signals;            // How many signals to send; 0 means until stop.
  int write_fd;           // Written after the signals, if >= 0.
  std::atomic<bool> stop{false};
};

void* Interrupt(void* arg) {
  auto* in = static_cast<Interrupter*>(arg);
  for (int i = 0; in->signals == 0 ? !in->stop.load() : i < in->signals; i++) {
    SleepMs(10);
    syscall(SYS_tgkill, getpid(), in->target_tid, SIGUSR1);
    if (i > 1000) break;
  }
  if (in->write_fd >= 0) {
    const ssize_t unused = write(in->write_fd, "r", 1);
    (void)unused;
  }
  return nullptr;
}

TEST(SignalTest, SaRestartRestartsBlockingPipeRead) {
  struct sigaction act = {};
  act.sa_handler = CountUsr1;
  act.sa_flags = SA_RESTART;
  ScopedSigaction handler(SIGUSR1, act);
  usr1_count = 0;
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);

  Interrupter in;
  in.target_tid = static_cast<pid_t>(syscall(SYS_gettid));
  in.signals = 5;
  in.write_fd = fds[1];
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, Interrupt, &in), 0);
  char c = 0;
  // The handler runs, and read carries on until the data arrives.
  EXPECT_THAT(read(rfd.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'r');
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  // Signals sent while one is still pending coalesce, so 1 to 5 handler runs.
  EXPECT_GE(usr1_count.load(), 1);
  EXPECT_LE(usr1_count.load(), 5);
}

TEST(SignalTest, WithoutSaRestartBlockingReadFailsWithEINTR) {
  struct sigaction act = {};
  act.sa_handler = CountUsr1;
  act.sa_flags = 0;
  ScopedSigaction handler(SIGUSR1, act);
  usr1_count = 0;
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);

  Interrupter in;
  in.target_tid = static_cast<pid_t>(syscall(SYS_gettid));
  in.signals = 0;  // Until stopped.
  in.write_fd = -1;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, Interrupt, &in), 0);
  char c;
  EXPECT_THAT(read(rfd.get(), &c, 1), SyscallFailsWithErrno(EINTR));
  in.stop = true;
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_GE(usr1_count.load(), 1);
}

}  // namespace
}  // namespace testing
}  // namespace visor
