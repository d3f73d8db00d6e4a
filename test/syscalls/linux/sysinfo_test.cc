// Tests for sysinfo(2).

#include <errno.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

TEST(SysinfoTest, FieldsAreConsistent) {
  struct sysinfo info = {};
  ASSERT_THAT(sysinfo(&info), SyscallSucceeds());
  EXPECT_GT(info.uptime, 0);
  EXPECT_GE(info.procs, 1);
  EXPECT_GE(info.mem_unit, 1u);
  EXPECT_GT(info.totalram, 0u);
  EXPECT_LE(info.freeram, info.totalram);
  EXPECT_LE(info.sharedram, info.totalram);
  EXPECT_LE(info.bufferram, info.totalram);
  EXPECT_LE(info.freeswap, info.totalswap);
  EXPECT_LE(info.freehigh, info.totalhigh);
}

TEST(SysinfoTest, UptimeMatchesBoottime) {
  struct timespec boot;
  ASSERT_THAT(clock_gettime(CLOCK_BOOTTIME, &boot), SyscallSucceeds());
  struct sysinfo info = {};
  ASSERT_THAT(sysinfo(&info), SyscallSucceeds());
  // Uptime is CLOCK_BOOTTIME rounded up to whole seconds.
  EXPECT_GE(info.uptime, boot.tv_sec);
  EXPECT_LE(info.uptime, boot.tv_sec + 2);
}

TEST(SysinfoTest, UptimeAdvances) {
  struct sysinfo a = {}, b = {};
  ASSERT_THAT(sysinfo(&a), SyscallSucceeds());
  const struct timespec delay = {1, 100 * 1000 * 1000};
  ASSERT_THAT(nanosleep(&delay, nullptr), SyscallSucceeds());
  ASSERT_THAT(sysinfo(&b), SyscallSucceeds());
  EXPECT_GE(b.uptime - a.uptime, 1);
  EXPECT_LE(b.uptime - a.uptime, 3);
}

TEST(SysinfoTest, ProcsCountsLiveChildren) {
  // Other processes come and go on the host, so only check that our own
  // children can be seen in the count, i.e. it is at least 1 + children.
  constexpr int kChildren = 4;
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  pid_t pids[kChildren];
  for (pid_t& pid : pids) {
    pid = fork();
    if (pid == 0) {
      close(fds[1]);
      char c;
      while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
    ASSERT_THAT(pid, SyscallSucceeds());
  }
  struct sysinfo info = {};
  EXPECT_THAT(sysinfo(&info), SyscallSucceeds());
  EXPECT_GE(info.procs, 1 + kChildren);
  close(fds[0]);
  close(fds[1]);
  for (pid_t pid : pids) {
    int status = 0;
    EXPECT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
    EXPECT_THAT(status, ExitedWith(0));
  }
}

TEST(SysinfoTest, BadPointerIsEFAULT) {
  EXPECT_THAT(syscall(SYS_sysinfo, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_sysinfo, reinterpret_cast<void*>(8)), SyscallFailsWithErrno(EFAULT));
}

}  // namespace
}  // namespace testing
}  // namespace visor
