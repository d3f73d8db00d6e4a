// Tests for threads: clone(2) with CLONE_THREAD (directly and through
// pthreads), thread ids, and how exit, exit_group and execve treat the other
// threads of a process.

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr char kHelperEnv[] = "VISOR_CLONE_THREAD_TEST_HELPER_FD";

// When the test re-executes itself with kHelperEnv set, it reports its pid
// and tid on that descriptor and exits before googletest starts.
__attribute__((constructor)) void ExecHelper() {
  const char* fd_str = getenv(kHelperEnv);
  if (fd_str == nullptr) return;
  const int fd = atoi(fd_str);
  const pid_t ids[2] = {getpid(), static_cast<pid_t>(syscall(SYS_gettid))};
  _exit(write(fd, ids, sizeof(ids)) == sizeof(ids) ? 0 : 1);
}

// SelfPath returns a path that execs this test binary.
std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) return std::string(buf, n);
  return program_invocation_name;
}

void* ReturnArg(void* arg) { return arg; }

TEST(ThreadTest, CreateAndJoinReturnsValue) {
  pthread_t t;
  int token = 0;
  ASSERT_EQ(pthread_create(&t, nullptr, ReturnArg, &token), 0);
  void* ret = nullptr;
  ASSERT_EQ(pthread_join(t, &ret), 0);
  EXPECT_EQ(ret, &token);
}

struct Ids {
  pid_t pid;
  pid_t tid;
  pid_t ppid;
};

void* RecordIds(void* arg) {
  auto* ids = static_cast<Ids*>(arg);
  ids->pid = getpid();
  ids->tid = static_cast<pid_t>(syscall(SYS_gettid));
  ids->ppid = getppid();
  return nullptr;
}

TEST(ThreadTest, TidsDifferPidAndParentAreShared) {
  constexpr int kThreads = 8;
  std::vector<Ids> ids(kThreads);
  std::vector<pthread_t> threads(kThreads);
  for (int i = 0; i < kThreads; i++) {
    ASSERT_EQ(pthread_create(&threads[i], nullptr, RecordIds, &ids[i]), 0);
  }
  for (auto& t : threads) ASSERT_EQ(pthread_join(t, nullptr), 0);

  std::set<pid_t> tids;
  for (const Ids& id : ids) {
    EXPECT_EQ(id.pid, getpid());
    EXPECT_EQ(id.ppid, getppid());
    EXPECT_NE(id.tid, getpid());
    EXPECT_GT(id.tid, 0);
    tids.insert(id.tid);
  }
  // Threads that were all alive at once had distinct tids; these may have
  // been reused after a join, but the main thread's never was.
  EXPECT_EQ(tids.count(getpid()), 0u);
  EXPECT_GE(tids.size(), 1u);
}

void* ExitThread(void*) {
  syscall(SYS_exit, 77);
  return nullptr;  // Not reached.
}

TEST(ThreadTest, ExitFromNonMainThreadLeavesProcessRunning) {
  EXPECT_THAT(InForkedProcess([] {
                pthread_t t;
                TEST_CHECK(pthread_create(&t, nullptr, ExitThread, nullptr) == 0);
                // pthread_join returns once the kernel clears the thread's tid
                // (CLONE_CHILD_CLEARTID), i.e. once it has exited.
                TEST_CHECK(pthread_join(t, nullptr) == 0);
                TEST_PCHECK(kill(getpid(), 0) == 0);
                // The process goes on and its status is the main thread's.
              }),
              ExitedWith(0));
}

void* ExitGroupThread(void*) {
  syscall(SYS_exit_group, 33);
  return nullptr;
}

TEST(ThreadTest, ExitGroupFromThreadEndsAllThreads) {
  EXPECT_THAT(InForkedProcess([] {
                pthread_t t;
                TEST_CHECK(pthread_create(&t, nullptr, ExitGroupThread, nullptr) == 0);
                for (;;) pause();
              }),
              ExitedWith(33));
}

void* OutliveMainThread(void* arg) {
  // pthread_join of the main thread returns once the kernel has cleared its
  // tid (set_tid_address), i.e. once it has exited.
  const int err = pthread_join(*static_cast<pthread_t*>(arg), nullptr);
  syscall(SYS_exit_group, err == 0 ? 5 : 6);
  return nullptr;
}

TEST(ThreadTest, MainThreadExitLeavesOtherThreadsRunning) {
  EXPECT_THAT(InForkedProcess([] {
                static pthread_t main_thread = pthread_self();
                pthread_t t;
                TEST_CHECK(pthread_create(&t, nullptr, OutliveMainThread, &main_thread) == 0);
                syscall(SYS_exit, 0);
              }),
              ExitedWith(5));
}

struct ExecArgs {
  const char* path;
  char** envp;
  int report_fd;
};

void* ExecFromThread(void* arg) {
  auto* a = static_cast<ExecArgs*>(arg);
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  TEST_PCHECK(write(a->report_fd, &tid, sizeof(tid)) == sizeof(tid));
  char* argv[] = {const_cast<char*>(a->path), nullptr};
  execve(a->path, argv, a->envp);
  TEST_PCHECK(false);
  return nullptr;
}

TEST(ThreadTest, ExecveFromNonLeaderThreadKeepsThePid) {
  const std::string self = SelfPath();
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);
  const std::string env = std::string(kHelperEnv) + "=" + std::to_string(fds[1]);
  char* envp[] = {const_cast<char*>(env.c_str()), nullptr};
  ExecArgs args = {self.c_str(), envp, fds[1]};

  const pid_t pid = fork();
  if (pid == 0) {
    pthread_t t;
    TEST_CHECK(pthread_create(&t, nullptr, ExecFromThread, &args) == 0);
    // The exec from the other thread kills this one.
    for (;;) pause();
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  wfd.reset();

  pid_t thread_tid = 0;
  ASSERT_THAT(read(rfd.get(), &thread_tid, sizeof(thread_tid)),
              SyscallSucceedsWithValue(sizeof(thread_tid)));
  pid_t after[2] = {};
  ASSERT_THAT(read(rfd.get(), after, sizeof(after)), SyscallSucceedsWithValue(sizeof(after)));
  EXPECT_NE(thread_tid, pid);
  // After the exec, the thread has become the leader and has the
  // process's pid as both pid and tid.
  EXPECT_EQ(after[0], pid);
  EXPECT_EQ(after[1], pid);
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(0));
}

void* BlockUsr1(void* arg) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigset_t cur;
  pthread_sigmask(SIG_BLOCK, nullptr, &cur);
  *static_cast<int*>(arg) = sigismember(&cur, SIGUSR1);
  return nullptr;
}

TEST(ThreadTest, SignalMaskIsPerThread) {
  sigset_t before;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &before), 0);
  ASSERT_EQ(sigismember(&before, SIGUSR1), 0);
  int blocked_in_thread = -1;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, BlockUsr1, &blocked_in_thread), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_EQ(blocked_in_thread, 1);
  sigset_t after;
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &after), 0);
  EXPECT_EQ(sigismember(&after, SIGUSR1), 0);
}

// State of the raw CLONE_THREAD test. The child runs without its own TLS, so
// it touches nothing but these globals and raw system calls.
std::atomic<pid_t> raw_child_tid{0};
std::atomic<pid_t> raw_child_pid{0};
pid_t raw_ctid = 0;  // Set by CLONE_PARENT_SETTID, cleared by CLONE_CHILD_CLEARTID.

int RawThread(void*) {
  raw_child_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
  raw_child_pid.store(static_cast<pid_t>(syscall(SYS_getpid)));
  return 0;  // The clone wrapper then calls exit(0) for this thread only.
}

TEST(ThreadTest, RawCloneThreadSetsAndClearsTid) {
  constexpr size_t kStackSize = 64 * 1024;
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  ASSERT_THAT(stack, SyscallSucceeds());
  raw_child_tid = 0;
  raw_child_pid = 0;
  const int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                    CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  const int tid = clone(RawThread, static_cast<char*>(stack) + kStackSize, flags, nullptr,
                        &raw_ctid, nullptr, &raw_ctid);
  ASSERT_THAT(tid, SyscallSucceeds());

  // Wait for the kernel to clear raw_ctid at the thread's exit.
  for (;;) {
    const pid_t cur = __atomic_load_n(&raw_ctid, __ATOMIC_SEQ_CST);
    if (cur == 0) break;
    const struct timespec timeout = {10, 0};
    const long r = syscall(SYS_futex, &raw_ctid, FUTEX_WAIT, cur, &timeout, nullptr, 0);
    ASSERT_TRUE(r == 0 || errno == EAGAIN || errno == EINTR) << ErrnoName(errno);
  }
  EXPECT_EQ(raw_child_tid.load(), tid);
  EXPECT_EQ(raw_child_pid.load(), getpid());
  // A thread is not a child: there is nothing to wait for.
  EXPECT_THAT(waitpid(tid, nullptr, __WALL | WNOHANG), SyscallFailsWithErrno(ECHILD));
  EXPECT_THAT(munmap(stack, kStackSize), SyscallSucceeds());
}

int ExitWith12(void*) { return 12; }

TEST(ThreadTest, CloneWithoutSigchldNeedsWclone) {
  constexpr size_t kStackSize = 64 * 1024;
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  ASSERT_THAT(stack, SyscallSucceeds());
  // A new process (no CLONE_VM) whose exit signal is 0 rather than SIGCHLD.
  const int pid = clone(ExitWith12, static_cast<char*>(stack) + kStackSize, 0, nullptr);
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  // A "clone child" is invisible to a plain wait...
  EXPECT_THAT(waitpid(pid, &status, 0), SyscallFailsWithErrno(ECHILD));
  // ...but __WCLONE (or __WALL) waits for it.
  ASSERT_THAT(waitpid(pid, &status, __WCLONE), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(12));
  EXPECT_THAT(munmap(stack, kStackSize), SyscallSucceeds());
}

int ExitWith13(void*) { return 13; }

TEST(ThreadTest, CloneWithSigchldIsLikeFork) {
  constexpr size_t kStackSize = 64 * 1024;
  void* stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  ASSERT_THAT(stack, SyscallSucceeds());
  const int pid = clone(ExitWith13, static_cast<char*>(stack) + kStackSize, SIGCHLD, nullptr);
  ASSERT_THAT(pid, SyscallSucceeds());
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(13));
  EXPECT_THAT(munmap(stack, kStackSize), SyscallSucceeds());
}

// RawClone calls clone(2) with no new stack; should it wrongly succeed, the
// child ends at once, without running the rest of the test binary.
long RawClone(unsigned long flags) {
  const long r = syscall(SYS_clone, flags, nullptr, nullptr, nullptr, 0);
  if (r == 0) syscall(SYS_exit, 0);
  return r;
}

TEST(ThreadTest, InvalidCloneFlagCombinations) {
  // CLONE_THREAD needs CLONE_SIGHAND, which needs CLONE_VM.
  EXPECT_THAT(RawClone(CLONE_THREAD), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(RawClone(CLONE_SIGHAND), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(RawClone(CLONE_THREAD | CLONE_SIGHAND), SyscallFailsWithErrno(EINVAL));
}

}  // namespace
}  // namespace testing
}  // namespace visor
