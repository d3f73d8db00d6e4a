// Tests for vfork(2) and clone(2) with CLONE_VFORK: the parent is suspended
// until the child exits or execs, and they share memory meanwhile.

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr char kHelperEnv[] = "VISOR_VFORK_TEST_HELPER_FD";

// When re-executed with kHelperEnv set, the binary reads one byte from that
// descriptor and exits with it, before googletest starts.
__attribute__((constructor)) void ExecHelper() {
  const char* fd_str = getenv(kHelperEnv);
  if (fd_str == nullptr) return;
  unsigned char c = 0;
  ssize_t n;
  do {
    n = read(atoi(fd_str), &c, 1);
  } while (n < 0 && errno == EINTR);
  _exit(n == 1 ? c : 100);
}

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) return std::string(buf, n);
  return program_invocation_name;
}

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

TEST(VforkTest, ParentWaitsForChildExitAndSeesItsWrites) {
  volatile int shared = 0;
  volatile int64_t child_done_ns = 0;
  const int64_t start = MonotonicNs();
  const pid_t pid = vfork();
  if (pid == 0) {
    // Only async-signal-safe work, and no return: we run on the parent's
    // stack until _exit.
    const struct timespec delay = {0, 50 * 1000 * 1000};
    syscall(SYS_nanosleep, &delay, nullptr);
    shared = 42;
    struct timespec now;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
    child_done_ns = now.tv_sec * 1000000000LL + now.tv_nsec;
    _exit(7);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  const int64_t resumed = MonotonicNs();
  // The parent did not run until the child exited...
  EXPECT_GE(resumed - start, 50 * 1000 * 1000);
  EXPECT_GE(resumed, child_done_ns);
  // ...and the child wrote to the parent's memory.
  EXPECT_EQ(shared, 42);
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(7));
}

TEST(VforkTest, ChildHasItsOwnPid) {
  volatile pid_t child_pid = 0;
  volatile pid_t child_ppid = 0;
  const pid_t parent = getpid();
  const pid_t pid = vfork();
  if (pid == 0) {
    child_pid = static_cast<pid_t>(syscall(SYS_getpid));
    child_ppid = static_cast<pid_t>(syscall(SYS_getppid));
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_EQ(child_pid, pid);
  EXPECT_NE(child_pid, parent);
  EXPECT_EQ(child_ppid, parent);
  ASSERT_THAT(waitpid(pid, nullptr, 0), SyscallSucceedsWithValue(pid));
}

TEST(VforkTest, ParentResumesWhenChildExecs) {
  const std::string self = SelfPath();
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);
  const std::string env = std::string(kHelperEnv) + "=" + std::to_string(fds[0]);
  char* const argv[] = {const_cast<char*>(self.c_str()), nullptr};
  char* const envp[] = {const_cast<char*>(env.c_str()), nullptr};

  const pid_t pid = vfork();
  if (pid == 0) {
    execve(self.c_str(), argv, envp);
    _exit(101);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  // We run again while the exec'd child still waits for its byte.
  int status = 0;
  EXPECT_THAT(waitpid(pid, &status, WNOHANG), SyscallSucceedsWithValue(0));
  const unsigned char code = 23;
  ASSERT_THAT(write(wfd.get(), &code, 1), SyscallSucceedsWithValue(1));
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(23));
}

TEST(VforkTest, FailedExecInChildIsReportedThroughSharedMemory) {
  volatile int exec_errno = 0;
  const pid_t pid = vfork();
  if (pid == 0) {
    char* const argv[] = {const_cast<char*>("nonexistent"), nullptr};
    execve("/nonexistent/visor/vfork_test", argv, argv + 1);
    exec_errno = errno;
    _exit(3);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_EQ(exec_errno, ENOENT);
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(3));
}

TEST(VforkTest, ParentResumesWhenChildIsKilled) {
  const pid_t pid = vfork();
  if (pid == 0) {
    syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
    _exit(1);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, KilledBy(SIGKILL));
}

// For the raw clone: the child runs on its own stack, in our memory.
volatile int clone_child_ran = 0;

int CloneVforkChild(void*) {
  const struct timespec delay = {0, 30 * 1000 * 1000};
  syscall(SYS_nanosleep, &delay, nullptr);
  clone_child_ran = 1;
  return 5;
}

TEST(VforkTest, CloneVmVforkSuspendsTheParent) {
  constexpr size_t kStackSize = 64 * 1024;
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  ASSERT_THAT(stack, SyscallSucceeds());
  clone_child_ran = 0;
  const pid_t pid = clone(CloneVforkChild, static_cast<char*>(stack) + kStackSize,
                          CLONE_VM | CLONE_VFORK | SIGCHLD, nullptr);
  ASSERT_THAT(pid, SyscallSucceeds());
  // clone returned only after the child finished.
  EXPECT_EQ(clone_child_ran, 1);
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(5));
  EXPECT_THAT(munmap(stack, kStackSize), SyscallSucceeds());
}

}  // namespace
}  // namespace testing
}  // namespace visor
