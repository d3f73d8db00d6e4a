// Tests for sigaltstack(2) and SA_ONSTACK.

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr size_t kAltStackSize = 64 * 1024;

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

// SigaltstackTest gives each case a mapped stack and leaves the thread with
// no alternate stack afterwards.
class SigaltstackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                0);
    ASSERT_THAT(mem_, SyscallSucceeds());
  }
  void TearDown() override {
    stack_t disable = {};
    disable.ss_flags = SS_DISABLE;
    sigaltstack(&disable, nullptr);
    if (mem_ != MAP_FAILED) munmap(mem_, kAltStackSize);
  }
  stack_t AltStack() const {
    stack_t ss = {};
    ss.ss_sp = mem_;
    ss.ss_size = kAltStackSize;
    ss.ss_flags = 0;
    return ss;
  }
  bool OnAltStack(uintptr_t addr) const {
    const uintptr_t base = reinterpret_cast<uintptr_t>(mem_);
    return addr >= base && addr < base + kAltStackSize;
  }
  void* mem_ = MAP_FAILED;
};

TEST_F(SigaltstackTest, DisabledByDefaultThenSetAndQueried) {
  stack_t cur = {};
  ASSERT_THAT(sigaltstack(nullptr, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.ss_flags, SS_DISABLE);

  const stack_t ss = AltStack();
  stack_t old = {};
  ASSERT_THAT(sigaltstack(&ss, &old), SyscallSucceeds());
  EXPECT_EQ(old.ss_flags, SS_DISABLE);
  ASSERT_THAT(sigaltstack(nullptr, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.ss_sp, mem_);
  EXPECT_EQ(cur.ss_size, kAltStackSize);
  EXPECT_EQ(cur.ss_flags, 0);  // Set, and not on it.

  stack_t disable = {};
  disable.ss_flags = SS_DISABLE;
  ASSERT_THAT(sigaltstack(&disable, &old), SyscallSucceeds());
  EXPECT_EQ(old.ss_sp, mem_);
  ASSERT_THAT(sigaltstack(nullptr, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.ss_flags, SS_DISABLE);
}

TEST_F(SigaltstackTest, InvalidArguments) {
  stack_t ss = AltStack();
  ss.ss_size = 1024;  // Below the kernel's MINSIGSTKSZ (2048 on x86).
  EXPECT_THAT(sigaltstack(&ss, nullptr), SyscallFailsWithErrno(ENOMEM));
  ss = AltStack();
  ss.ss_flags = 0x1234;
  EXPECT_THAT(sigaltstack(&ss, nullptr), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_sigaltstack, reinterpret_cast<void*>(8), nullptr),
              SyscallFailsWithErrno(EFAULT));
  // Nothing was changed by the failures.
  stack_t cur = {};
  ASSERT_THAT(sigaltstack(nullptr, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.ss_flags, SS_DISABLE);
}

volatile uintptr_t handler_local_addr;
volatile int handler_ss_flags;
volatile int handler_change_errno;

void RecordStack(int) {
  volatile char local = 0;
  handler_local_addr = reinterpret_cast<uintptr_t>(&local);
  stack_t cur = {};
  sigaltstack(nullptr, &cur);
  handler_ss_flags = cur.ss_flags;
  // Changing the alternate stack while running on it is refused.
  stack_t disable = {};
  disable.ss_flags = SS_DISABLE;
  handler_change_errno = sigaltstack(&disable, nullptr) == 0 ? 0 : errno;
}

TEST_F(SigaltstackTest, SaOnstackHandlerRunsOnAltStack) {
  const stack_t ss = AltStack();
  ASSERT_THAT(sigaltstack(&ss, nullptr), SyscallSucceeds());
  struct sigaction act = {};
  act.sa_handler = RecordStack;
  act.sa_flags = SA_ONSTACK;
  ScopedSigaction installed(SIGUSR1, act);
  handler_local_addr = 0;
  handler_change_errno = -1;
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  EXPECT_TRUE(OnAltStack(handler_local_addr)) << std::hex << handler_local_addr << " vs " << mem_;
  EXPECT_EQ(handler_ss_flags, SS_ONSTACK);
  EXPECT_EQ(handler_change_errno, EPERM);
  // Back on the normal stack, the alternate stack is still set.
  stack_t cur = {};
  ASSERT_THAT(sigaltstack(nullptr, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.ss_flags, 0);
  EXPECT_EQ(cur.ss_sp, mem_);
}

TEST_F(SigaltstackTest, HandlerWithoutSaOnstackUsesNormalStack) {
  const stack_t ss = AltStack();
  ASSERT_THAT(sigaltstack(&ss, nullptr), SyscallSucceeds());
  struct sigaction act = {};
  act.sa_handler = RecordStack;
  act.sa_flags = 0;
  ScopedSigaction installed(SIGUSR1, act);
  handler_local_addr = 0;
  handler_change_errno = -1;
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  EXPECT_NE(handler_local_addr, 0u);
  EXPECT_FALSE(OnAltStack(handler_local_addr));
  EXPECT_EQ(handler_ss_flags, 0);
  // Not on it, so changing it is allowed: the handler disabled it...
  EXPECT_EQ(handler_change_errno, 0);
  // ...but rt_sigreturn restores the alternate stack saved in the signal
  // frame (uc_stack), undoing the change.
  stack_t cur = {};
  ASSERT_THAT(sigaltstack(nullptr, &cur), SyscallSucceeds());
  EXPECT_EQ(cur.ss_flags, 0);
  EXPECT_EQ(cur.ss_sp, mem_);
}

TEST_F(SigaltstackTest, DisabledStackMeansSaOnstackUsesNormalStack) {
  stack_t ss = AltStack();
  ASSERT_THAT(sigaltstack(&ss, nullptr), SyscallSucceeds());
  stack_t disable = {};
  disable.ss_flags = SS_DISABLE;
  ASSERT_THAT(sigaltstack(&disable, nullptr), SyscallSucceeds());
  struct sigaction act = {};
  act.sa_handler = RecordStack;
  act.sa_flags = SA_ONSTACK;
  ScopedSigaction installed(SIGUSR1, act);
  handler_local_addr = 0;
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  EXPECT_NE(handler_local_addr, 0u);
  EXPECT_FALSE(OnAltStack(handler_local_addr));
  EXPECT_EQ(handler_ss_flags, SS_DISABLE);
}

void* QueryAltStack(void* arg) {
  stack_t cur = {};
  sigaltstack(nullptr, &cur);
  *static_cast<int*>(arg) = cur.ss_flags;
  return nullptr;
}

TEST_F(SigaltstackTest, NewThreadsStartWithoutForkedChildrenKeepIt) {
  const stack_t ss = AltStack();
  ASSERT_THAT(sigaltstack(&ss, nullptr), SyscallSucceeds());
  int flags = -1;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, QueryAltStack, &flags), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_EQ(flags, SS_DISABLE);
  void* const mem = mem_;
  EXPECT_THAT(InForkedProcess([mem] {
                stack_t cur = {};
                TEST_PCHECK(sigaltstack(nullptr, &cur) == 0);
                TEST_CHECK(cur.ss_flags == 0);
                TEST_CHECK(cur.ss_sp == mem);
                TEST_CHECK(cur.ss_size == kAltStackSize);
              }),
              ExitedWith(0));
}

sigjmp_buf overflow_jmp;
volatile uintptr_t overflow_handler_addr;

void OnOverflow(int) {
  volatile char local = 0;
  overflow_handler_addr = reinterpret_cast<uintptr_t>(&local);
  siglongjmp(overflow_jmp, 1);
}

__attribute__((noinline)) int Recurse(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  return Recurse(n + 1) + pad[0];
}

TEST_F(SigaltstackTest, StackOverflowIsCaughtOnAltStack) {
  void* const mem = mem_;
  EXPECT_THAT(InForkedProcess([mem] {
                // A small stack limit keeps the overflow quick.
                const struct rlimit lim = {1 << 20, 1 << 20};
                TEST_PCHECK(setrlimit(RLIMIT_STACK, &lim) == 0);
                stack_t ss = {};
                ss.ss_sp = mem;
                ss.ss_size = kAltStackSize;
                TEST_PCHECK(sigaltstack(&ss, nullptr) == 0);
                struct sigaction act = {};
                act.sa_handler = OnOverflow;
                act.sa_flags = SA_ONSTACK;
                TEST_PCHECK(sigaction(SIGSEGV, &act, nullptr) == 0);
                if (sigsetjmp(overflow_jmp, 1) == 0) {
                  Recurse(0);
                  TEST_CHECK(false && "unbounded recursion returned");
                }
                const uintptr_t base = reinterpret_cast<uintptr_t>(mem);
                TEST_CHECK(overflow_handler_addr >= base &&
                           overflow_handler_addr < base + kAltStackSize);
              }),
              ExitedWith(0));
}

TEST_F(SigaltstackTest, StackOverflowWithoutAltStackKills) {
  EXPECT_THAT(InForkedProcess([] {
                const struct rlimit lim = {1 << 20, 1 << 20};
                TEST_PCHECK(setrlimit(RLIMIT_STACK, &lim) == 0);
                struct sigaction act = {};
                act.sa_handler = OnOverflow;
                act.sa_flags = SA_ONSTACK;  // But there is no alternate stack.
                TEST_PCHECK(sigaction(SIGSEGV, &act, nullptr) == 0);
                Recurse(0);
              }),
              KilledBy(SIGSEGV));
}

}  // namespace
}  // namespace testing
}  // namespace visor
