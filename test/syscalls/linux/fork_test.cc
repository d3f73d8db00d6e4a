// Tests for fork(2): return values, what the child inherits and what it does
// not.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// WaitFor reaps pid and returns its wait status (or -1 after a test failure).
int WaitFor(pid_t pid) {
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  EXPECT_EQ(got, pid) << "waitpid: " << ErrnoName(errno);
  return got == pid ? status : -1;
}

TEST(ForkTest, ReturnsChildPidInParentAndZeroInChild) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);

  const pid_t pid = fork();
  if (pid == 0) {
    const pid_t me = getpid();
    TEST_PCHECK(write(fds[1], &me, sizeof(me)) == sizeof(me));
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceedsWithValue(::testing::Gt(0)));
  EXPECT_NE(pid, getpid());
  wfd.reset();

  pid_t reported = 0;
  ASSERT_THAT(read(rfd.get(), &reported, sizeof(reported)),
              SyscallSucceedsWithValue(sizeof(reported)));
  // The value fork returned to the parent is the child's own getpid.
  EXPECT_EQ(reported, pid);
  EXPECT_THAT(WaitFor(pid), ExitedWith(0));
}

TEST(ForkTest, ChildHasOwnIdsAndCallerAsParent) {
  const pid_t parent = getpid();
  EXPECT_THAT(InForkedProcess([parent] {
                TEST_CHECK(getppid() == parent);
                TEST_CHECK(getpid() != parent);
                // A forked child is single-threaded: its tid is its pid.
                TEST_CHECK(syscall(SYS_gettid) == getpid());
                TEST_CHECK(syscall(SYS_getpid) == getpid());
              }),
              ExitedWith(0));
}

int global_value = 1;

TEST(ForkTest, PrivateMemoryIsCopiedSharedMemoryIsShared) {
  void* shared = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_THAT(shared, SyscallSucceeds());
  volatile int* shared_value = static_cast<volatile int*>(shared);
  *shared_value = 1;
  global_value = 1;
  volatile int stack_value = 1;

  EXPECT_THAT(InForkedProcess([&] {
                // The child sees the parent's values at the time of fork...
                TEST_CHECK(global_value == 1);
                TEST_CHECK(stack_value == 1);
                global_value = 2;
                stack_value = 2;
                *shared_value = 2;
                TEST_CHECK(global_value == 2);
              }),
              ExitedWith(0));
  // ...but its writes to private memory are its own, while MAP_SHARED is shared.
  EXPECT_EQ(global_value, 1);
  EXPECT_EQ(stack_value, 1);
  EXPECT_EQ(*shared_value, 2);
  EXPECT_THAT(munmap(shared, 4096), SyscallSucceeds());
}

TEST(ForkTest, FileDescriptorsAreInheritedAndShareTheOffset) {
  const int fd = memfd_create("fork_test", 0);
  ASSERT_THAT(fd, SyscallSucceeds());
  FileDescriptor file(fd);
  ASSERT_THAT(write(fd, "abcdef", 6), SyscallSucceedsWithValue(6));
  ASSERT_THAT(lseek(fd, 1, SEEK_SET), SyscallSucceedsWithValue(1));

  EXPECT_THAT(InForkedProcess([fd] {
                // Same open file description: same offset, and moving it
                // moves the parent's too.
                TEST_PCHECK(lseek(fd, 0, SEEK_CUR) == 1);
                char c;
                TEST_PCHECK(read(fd, &c, 1) == 1);
                TEST_CHECK(c == 'b');
              }),
              ExitedWith(0));
  EXPECT_THAT(lseek(fd, 0, SEEK_CUR), SyscallSucceedsWithValue(2));
  char c;
  ASSERT_THAT(read(fd, &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'c');
}

TEST(ForkTest, ClosingInChildDoesNotCloseInParent) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);
  EXPECT_THAT(InForkedProcess([&] {
                TEST_PCHECK(close(fds[0]) == 0);
                TEST_PCHECK(write(fds[1], "x", 1) == 1);
              }),
              ExitedWith(0));
  char c = 0;
  EXPECT_THAT(read(rfd.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'x');
}

TEST(ForkTest, SignalDispositionsAndMaskAreInheritedPendingSignalsAreNot) {
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction old_usr1;
  ASSERT_THAT(sigaction(SIGUSR1, &ignore, &old_usr1), SyscallSucceeds());

  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &block, &old_mask), SyscallSucceeds());
  ASSERT_THAT(raise(SIGUSR2), SyscallSucceeds());

  EXPECT_THAT(InForkedProcess([] {
                struct sigaction cur;
                TEST_PCHECK(sigaction(SIGUSR1, nullptr, &cur) == 0);
                TEST_CHECK(cur.sa_handler == SIG_IGN);
                sigset_t mask;
                TEST_PCHECK(sigprocmask(SIG_BLOCK, nullptr, &mask) == 0);
                TEST_CHECK(sigismember(&mask, SIGUSR2) == 1);
                // The parent's pending SIGUSR2 stays with the parent.
                sigset_t pending;
                TEST_PCHECK(sigpending(&pending) == 0);
                TEST_CHECK(sigismember(&pending, SIGUSR2) == 0);
              }),
              ExitedWith(0));

  sigset_t pending;
  ASSERT_THAT(sigpending(&pending), SyscallSucceeds());
  EXPECT_EQ(sigismember(&pending, SIGUSR2), 1);
  const struct timespec zero = {0, 0};
  EXPECT_THAT(sigtimedwait(&block, nullptr, &zero), SyscallSucceedsWithValue(SIGUSR2));

  EXPECT_THAT(sigprocmask(SIG_SETMASK, &old_mask, nullptr), SyscallSucceeds());
  EXPECT_THAT(sigaction(SIGUSR1, &old_usr1, nullptr), SyscallSucceeds());
}

TEST(ForkTest, ManyChildrenEachReapedWithItsOwnStatus) {
  constexpr int kChildren = 16;
  std::map<pid_t, int> want;
  for (int i = 0; i < kChildren; i++) {
    const pid_t pid = fork();
    if (pid == 0) _exit(i + 1);
    ASSERT_THAT(pid, SyscallSucceeds());
    want[pid] = i + 1;
  }
  EXPECT_EQ(want.size(), static_cast<size_t>(kChildren));  // Distinct pids.
  for (int i = 0; i < kChildren; i++) {
    int status = 0;
    const pid_t pid = wait(&status);
    ASSERT_THAT(pid, SyscallSucceeds());
    auto it = want.find(pid);
    ASSERT_NE(it, want.end()) << "reaped unknown pid " << pid;
    EXPECT_THAT(status, ExitedWith(it->second));
    want.erase(it);
  }
  EXPECT_TRUE(want.empty());
  EXPECT_THAT(wait(nullptr), SyscallFailsWithErrno(ECHILD));
}

TEST(ForkTest, GrandchildIsNotOurChild) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);
  const pid_t child = fork();
  if (child == 0) {
    const pid_t grandchild = fork();
    TEST_PCHECK(grandchild >= 0);
    if (grandchild == 0) _exit(0);
    TEST_PCHECK(write(fds[1], &grandchild, sizeof(grandchild)) == sizeof(grandchild));
    TEST_PCHECK(waitpid(grandchild, nullptr, 0) == grandchild);
    _exit(0);
  }
  ASSERT_THAT(child, SyscallSucceeds());
  pid_t grandchild = 0;
  ASSERT_THAT(read(rfd.get(), &grandchild, sizeof(grandchild)),
              SyscallSucceedsWithValue(sizeof(grandchild)));
  // Only the direct parent may wait for a process.
  EXPECT_THAT(waitpid(grandchild, nullptr, WNOHANG), SyscallFailsWithErrno(ECHILD));
  EXPECT_THAT(WaitFor(child), ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
