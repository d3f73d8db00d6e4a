// Tests for getpid(2), getppid(2) and gettid(2).

#include <pthread.h>
#include <signal.h>
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

TEST(GetpidTest, LibcMatchesRawSyscall) {
  // glibc >= 2.25 no longer caches the pid, but the raw syscall is the ground
  // truth either way.
  EXPECT_EQ(getpid(), syscall(SYS_getpid));
  EXPECT_EQ(getppid(), syscall(SYS_getppid));
}

TEST(GetpidTest, IsPositiveAndStable) {
  const pid_t pid = getpid();
  EXPECT_GT(pid, 0);
  EXPECT_EQ(getpid(), pid);
  if (pid == 1) {
    // The first process of a PID namespace (a container's init) has no parent
    // in it: Linux reports 0.
    EXPECT_EQ(getppid(), 0);
  } else {
    EXPECT_GT(getppid(), 0);
    EXPECT_NE(getppid(), pid);
  }
}

TEST(GetpidTest, NamesThisProcess) {
  // Signal 0 checks that the pid names a live process we may signal.
  EXPECT_THAT(kill(getpid(), 0), SyscallSucceeds());
}

TEST(GettidTest, MainThreadTidIsPid) {
  // gtest runs test bodies on the process's initial thread, whose tid is the
  // thread group id.
  EXPECT_EQ(gettid(), getpid());
  EXPECT_EQ(syscall(SYS_gettid), getpid());
}

struct ThreadIds {
  pid_t pid;
  pid_t tid;
};

void* RecordIds(void* arg) {
  auto* ids = static_cast<ThreadIds*>(arg);
  ids->pid = getpid();
  ids->tid = gettid();
  return nullptr;
}

TEST(GettidTest, OtherThreadHasOwnTidAndSamePid) {
  ThreadIds ids = {};
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, RecordIds, &ids), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  EXPECT_EQ(ids.pid, getpid());
  EXPECT_GT(ids.tid, 0);
  EXPECT_NE(ids.tid, gettid());
}

TEST(GetpidTest, ForkedChildPidIsForkReturnValue) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);

  const pid_t parent = getpid();
  const pid_t child = fork();
  ASSERT_THAT(child, SyscallSucceeds());
  if (child == 0) {
    const pid_t self = getpid();
    TEST_PCHECK(write(wfd.get(), &self, sizeof(self)) == sizeof(self));
    _exit(0);
  }
  wfd.reset();

  pid_t reported = 0;
  EXPECT_THAT(read(rfd.get(), &reported, sizeof(reported)),
              SyscallSucceedsWithValue(sizeof(reported)));
  int status;
  ASSERT_THAT(waitpid(child, &status, 0), SyscallSucceedsWithValue(child));
  EXPECT_THAT(status, ExitedWith(0));

  EXPECT_EQ(reported, child);
  EXPECT_NE(reported, parent);
}

TEST(GetpidTest, ForkedChildIdentity) {
  const pid_t parent = getpid();
  EXPECT_THAT(InForkedProcess([parent] {
                TEST_CHECK(getpid() != parent);
                TEST_CHECK(getppid() == parent);
                // A forked child is a single-threaded process: tid == pid.
                TEST_CHECK(gettid() == getpid());
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
