// A signal handler may use the floating-point and vector registers: the kernel
// saves them in the signal frame and sigreturn restores them, so the interrupted
// code finds its registers as it left them.
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

volatile sig_atomic_t handled = 0;

void ClobberingHandler(int) {
  // Zero the registers the test keeps its pattern in.
  asm volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm7, %%xmm7" ::: "xmm0", "xmm7");
  handled = 1;
}

TEST(SignalFpuTest, HandlerDoesNotClobberInterruptedVectorRegisters) {
  struct sigaction sa = {};
  sa.sa_handler = ClobberingHandler;
  ASSERT_THAT(sigaction(SIGUSR1, &sa, nullptr), SyscallSucceeds());

  alignas(16) uint64_t in[4] = {0x1122334455667788ull, 0x99aabbccddeeff00ull,
                                0x0123456789abcdefull, 0xfedcba9876543210ull};
  alignas(16) uint64_t out[4] = {};
  const long pid = getpid();
  // Load the pattern, send ourselves the signal (delivered on the way back from
  // kill), then read the registers back, all without the compiler in between.
  asm volatile(
      "movdqu (%[in]), %%xmm0\n\t"
      "movdqu 16(%[in]), %%xmm7\n\t"
      "mov %[nr], %%eax\n\t"
      "mov %[pid], %%rdi\n\t"
      "mov %[sig], %%esi\n\t"
      "syscall\n\t"
      "movdqu %%xmm0, (%[out])\n\t"
      "movdqu %%xmm7, 16(%[out])\n\t"
      :
      : [in] "r"(in), [out] "r"(out), [nr] "i"(SYS_kill), [pid] "r"(pid),
        [sig] "i"(SIGUSR1)
      : "rax", "rdi", "rsi", "rcx", "r11", "xmm0", "xmm7", "memory");
  EXPECT_EQ(handled, 1);
  EXPECT_EQ(memcmp(in, out, sizeof(in)), 0)
      << std::hex << "xmm0 = " << out[0] << ":" << out[1] << " xmm7 = " << out[2]
      << ":" << out[3];
}

}  // namespace
}  // namespace testing
}  // namespace visor
