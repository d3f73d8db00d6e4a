// Tests for arch_prctl(2) on x86-64: the FS and GS base registers.

#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

#if defined(__x86_64__)

long ArchPrctl(int code, uintptr_t addr) { return syscall(SYS_arch_prctl, code, addr); }

// FsSelf reads the first word of the thread control block through %fs,
// which for glibc's x86-64 TLS is the TCB's own address: the FS base.
uintptr_t FsSelf() {
  uintptr_t v;
  asm volatile("mov %%fs:0, %0" : "=r"(v));
  return v;
}

TEST(ArchPrctlTest, GetFsIsTheThreadPointer) {
  uintptr_t fs = 0;
  ASSERT_THAT(ArchPrctl(ARCH_GET_FS, reinterpret_cast<uintptr_t>(&fs)), SyscallSucceeds());
  EXPECT_NE(fs, 0u);
  EXPECT_EQ(fs, FsSelf());
  EXPECT_EQ(fs, reinterpret_cast<uintptr_t>(__builtin_thread_pointer()));
  // pthread_self is the TCB too.
  EXPECT_EQ(fs, static_cast<uintptr_t>(pthread_self()));
}

void* RecordFs(void* arg) {
  ArchPrctl(ARCH_GET_FS, reinterpret_cast<uintptr_t>(arg));
  return nullptr;
}

TEST(ArchPrctlTest, EachThreadHasItsOwnFs) {
  uintptr_t mine = 0, theirs = 0;
  ASSERT_THAT(ArchPrctl(ARCH_GET_FS, reinterpret_cast<uintptr_t>(&mine)), SyscallSucceeds());
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, RecordFs, &theirs), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_NE(theirs, 0u);
  EXPECT_NE(theirs, mine);
  EXPECT_EQ(theirs, static_cast<uintptr_t>(t));
}

TEST(ArchPrctlTest, SetFsChangesWhatFsAddresses) {
  // Done in a child: while FS points elsewhere, nothing may touch TLS
  // (errno included), so only raw syscalls run until it is restored.
  EXPECT_THAT(InForkedProcess([] {
                uintptr_t saved = 0;
                TEST_PCHECK(ArchPrctl(ARCH_GET_FS, reinterpret_cast<uintptr_t>(&saved)) == 0);
                // Big enough for whatever reads %fs meanwhile, with the stack
                // protector's canary (%fs:0x28) copied over.
                static uintptr_t fake_tcb[64];
                fake_tcb[0] = 0x1234;
                fake_tcb[5] = reinterpret_cast<uintptr_t*>(saved)[5];
                const long set = ArchPrctl(ARCH_SET_FS, reinterpret_cast<uintptr_t>(fake_tcb));
                const uintptr_t seen = FsSelf();
                uintptr_t got = 0;
                const long get = ArchPrctl(ARCH_GET_FS, reinterpret_cast<uintptr_t>(&got));
                const long restore = ArchPrctl(ARCH_SET_FS, saved);
                TEST_CHECK(set == 0 && get == 0 && restore == 0);
                TEST_CHECK(seen == 0x1234);
                TEST_CHECK(got == reinterpret_cast<uintptr_t>(fake_tcb));
                TEST_CHECK(FsSelf() == saved);
              }),
              ExitedWith(0));
}

TEST(ArchPrctlTest, GsBaseRoundTrips) {
  EXPECT_THAT(InForkedProcess([] {
                uintptr_t gs = 1;
                TEST_PCHECK(ArchPrctl(ARCH_GET_GS, reinterpret_cast<uintptr_t>(&gs)) == 0);
                TEST_CHECK(gs == 0);  // Unused by glibc on x86-64.
                static uint64_t block[2] = {0xfeedface, 0};
                TEST_PCHECK(ArchPrctl(ARCH_SET_GS, reinterpret_cast<uintptr_t>(block)) == 0);
                uint64_t via_gs;
                asm volatile("mov %%gs:0, %0" : "=r"(via_gs));
                TEST_CHECK(via_gs == 0xfeedface);
                TEST_PCHECK(ArchPrctl(ARCH_GET_GS, reinterpret_cast<uintptr_t>(&gs)) == 0);
                TEST_CHECK(gs == reinterpret_cast<uintptr_t>(block));
              }),
              ExitedWith(0));
}

TEST(ArchPrctlTest, ForkedChildInheritsFs) {
  uintptr_t fs = 0;
  ASSERT_THAT(ArchPrctl(ARCH_GET_FS, reinterpret_cast<uintptr_t>(&fs)), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([fs] {
                uintptr_t child_fs = 0;
                TEST_PCHECK(ArchPrctl(ARCH_GET_FS, reinterpret_cast<uintptr_t>(&child_fs)) == 0);
                TEST_CHECK(child_fs == fs);
              }),
              ExitedWith(0));
}

TEST(ArchPrctlTest, InvalidArguments) {
  EXPECT_THAT(ArchPrctl(0x9999, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(ArchPrctl(ARCH_GET_FS, 8), SyscallFailsWithErrno(EFAULT));
  // A non-canonical base is refused.
  EXPECT_THAT(ArchPrctl(ARCH_SET_GS, 0x8000000000000000ULL), SyscallFailsWithErrno(EPERM));
}

#else

TEST(ArchPrctlTest, NotX86_64) { GTEST_SKIP() << "arch_prctl is x86-64 only"; }

#endif

}  // namespace
}  // namespace testing
}  // namespace visor
