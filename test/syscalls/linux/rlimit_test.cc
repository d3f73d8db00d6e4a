// Tests for getrlimit(2), setrlimit(2) and prlimit(2), and for the
// enforcement of RLIMIT_NOFILE, RLIMIT_FSIZE and RLIMIT_AS. Limits are only
// changed in forked children.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

constexpr uid_t kNobody = 65534;

TEST(RlimitTest, SoftIsAtMostHardForEveryResource) {
  for (int r = 0; r < RLIMIT_NLIMITS; r++) {
    SCOPED_TRACE(r);
    struct rlimit lim;
    ASSERT_THAT(getrlimit(static_cast<__rlimit_resource>(r), &lim), SyscallSucceeds());
    EXPECT_LE(lim.rlim_cur, lim.rlim_max);
    // prlimit on ourselves reports the same.
    struct rlimit via_prlimit;
    ASSERT_THAT(prlimit(0, static_cast<__rlimit_resource>(r), nullptr, &via_prlimit),
                SyscallSucceeds());
    EXPECT_EQ(via_prlimit.rlim_cur, lim.rlim_cur);
    EXPECT_EQ(via_prlimit.rlim_max, lim.rlim_max);
  }
}

TEST(RlimitTest, InvalidArguments) {
  struct rlimit lim;
  EXPECT_THAT(syscall(SYS_getrlimit, RLIMIT_NLIMITS, &lim), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getrlimit, 100, &lim), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getrlimit, RLIMIT_NOFILE, reinterpret_cast<void*>(8)),
              SyscallFailsWithErrno(EFAULT));
  ASSERT_THAT(getrlimit(RLIMIT_NOFILE, &lim), SyscallSucceeds());
  // A soft limit above the hard one is refused (and changes nothing).
  if (lim.rlim_max != RLIM_INFINITY) {
    struct rlimit bad = {lim.rlim_max + 1, lim.rlim_max};
    EXPECT_THAT(setrlimit(RLIMIT_NOFILE, &bad), SyscallFailsWithErrno(EINVAL));
  }
  struct rlimit inverted = {2, 1};
  EXPECT_THAT(setrlimit(RLIMIT_CORE, &inverted), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(prlimit(0, static_cast<__rlimit_resource>(100), nullptr, &lim),
              SyscallFailsWithErrno(EINVAL));
}

TEST(RlimitTest, LoweredLimitsAreReportedAndInherited) {
  EXPECT_THAT(InForkedProcess([] {
                struct rlimit lim;
                TEST_PCHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
                const struct rlimit lower = {lim.rlim_cur / 2, lim.rlim_cur};
                TEST_PCHECK(setrlimit(RLIMIT_NOFILE, &lower) == 0);
                struct rlimit got;
                TEST_PCHECK(getrlimit(RLIMIT_NOFILE, &got) == 0);
                TEST_CHECK(got.rlim_cur == lower.rlim_cur && got.rlim_max == lower.rlim_max);
                // prlimit sets and returns the old value atomically.
                const struct rlimit lower2 = {lim.rlim_cur / 4, lim.rlim_cur};
                struct rlimit old;
                TEST_PCHECK(prlimit(0, RLIMIT_NOFILE, &lower2, &old) == 0);
                TEST_CHECK(old.rlim_cur == lower.rlim_cur);
                const pid_t child = fork();
                TEST_PCHECK(child >= 0);
                if (child == 0) {
                  struct rlimit inherited;
                  TEST_PCHECK(getrlimit(RLIMIT_NOFILE, &inherited) == 0);
                  TEST_CHECK(inherited.rlim_cur == lower2.rlim_cur);
                  _exit(0);
                }
                int status = 0;
                TEST_PCHECK(waitpid(child, &status, 0) == child);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
              }),
              ExitedWith(0));
}

TEST(RlimitTest, RaisingTheHardLimitNeedsPrivilege) {
  EXPECT_THAT(InForkedProcess([] {
                // As root, become an unprivileged user first (that drops
                // CAP_SYS_RESOURCE).
                if (getuid() == 0) TEST_PCHECK(setresuid(kNobody, kNobody, kNobody) == 0);
                struct rlimit lim;
                TEST_PCHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0);
                TEST_CHECK(lim.rlim_max > 64);
                const struct rlimit lower = {32, 64};
                TEST_PCHECK(setrlimit(RLIMIT_NOFILE, &lower) == 0);
                // Within the hard limit the soft one moves freely.
                const struct rlimit soft_up = {64, 64};
                TEST_PCHECK(setrlimit(RLIMIT_NOFILE, &soft_up) == 0);
                const struct rlimit hard_up = {64, 65};
                TEST_CHECK(setrlimit(RLIMIT_NOFILE, &hard_up) == -1 && errno == EPERM);
                struct rlimit got;
                TEST_PCHECK(getrlimit(RLIMIT_NOFILE, &got) == 0);
                TEST_CHECK(got.rlim_cur == 64 && got.rlim_max == 64);
              }),
              ExitedWith(0));
}

TEST(RlimitTest, NofileIsEnforced) {
  EXPECT_THAT(InForkedProcess([] {
                constexpr int kLimit = 16;
                int fds[2];
                TEST_PCHECK(pipe(fds) == 0);
                // Lower the limit below any descriptor we will need.
                const struct rlimit lim = {kLimit, kLimit};
                TEST_PCHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
                int last = -1;
                for (int i = 0; i < 2 * kLimit; i++) {
                  const int fd = dup(fds[0]);
                  if (fd < 0) {
                    TEST_CHECK(errno == EMFILE);
                    break;
                  }
                  TEST_CHECK(fd < kLimit);
                  last = fd;
                }
                TEST_CHECK(last == kLimit - 1);
                TEST_CHECK(dup(fds[0]) == -1 && errno == EMFILE);
                int more[2];
                TEST_CHECK(pipe(more) == -1 && errno == EMFILE);
                // Descriptors at or beyond the limit cannot be named.
                TEST_CHECK(dup2(fds[0], kLimit) == -1 && errno == EBADF);
                TEST_CHECK(dup2(fds[0], kLimit + 100) == -1 && errno == EBADF);
                TEST_CHECK(fcntl(fds[0], F_DUPFD, kLimit) == -1 && errno == EINVAL);
                // Closing one makes room again; dup2 below the limit works.
                TEST_PCHECK(close(kLimit - 1) == 0);
                TEST_PCHECK(dup(fds[0]) == kLimit - 1);
                TEST_PCHECK(dup2(fds[0], kLimit - 1) == kLimit - 1);
              }),
              ExitedWith(0));
}

TEST(RlimitTest, FsizeIsEnforced) {
  // With SIGXFSZ ignored, the write stops at the limit, then fails EFBIG.
  EXPECT_THAT(InForkedProcess([] {
                const int fd = memfd_create("rlimit_test", 0);
                TEST_PCHECK(fd >= 0);
                struct sigaction ign = {};
                ign.sa_handler = SIG_IGN;
                TEST_PCHECK(sigaction(SIGXFSZ, &ign, nullptr) == 0);
                const struct rlimit lim = {4096, 4096};
                TEST_PCHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
                static char buf[8192];
                TEST_PCHECK(write(fd, buf, sizeof(buf)) == 4096);
                TEST_CHECK(write(fd, buf, 1) == -1 && errno == EFBIG);
                // Writes below the limit still work.
                TEST_PCHECK(pwrite(fd, buf, 100, 0) == 100);
              }),
              ExitedWith(0));
  // By default, SIGXFSZ kills.
  EXPECT_THAT(InForkedProcess([] {
                const int fd = memfd_create("rlimit_test", 0);
                TEST_PCHECK(fd >= 0);
                const struct rlimit lim = {4096, 4096};
                TEST_PCHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
                static char buf[8192];
                TEST_PCHECK(write(fd, buf, 4096) == 4096);
                const ssize_t unused = write(fd, buf, 1);
                (void)unused;
              }),
              KilledBy(SIGXFSZ));
}

TEST(RlimitTest, AddressSpaceIsEnforced) {
  EXPECT_THAT(InForkedProcess([] {
                constexpr size_t kGiB = size_t{1} << 30;
                const struct rlimit lim = {kGiB, kGiB};
                TEST_PCHECK(setrlimit(RLIMIT_AS, &lim) == 0);
                void* p = mmap(nullptr, 2 * kGiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                TEST_CHECK(p == MAP_FAILED && errno == ENOMEM);
                // Small mappings still work.
                p = mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
                TEST_PCHECK(p != MAP_FAILED);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
