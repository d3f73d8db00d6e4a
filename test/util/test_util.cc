#include "test/util/test_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace visor {
namespace testing {

bool IsRunningOnVisor() {
  const char* v = getenv(kOnSandboxEnv);
  return v != nullptr && strcmp(v, "1") == 0;
}

std::string ErrnoName(int e) {
  if (const char* name = strerrorname_np(e)) return name;
  return "errno " + std::to_string(e);
}

std::string SignalName(int sig) {
  if (const char* name = sigabbrev_np(sig)) return std::string("SIG") + name;
  return "signal " + std::to_string(sig);
}

std::string WaitStatusString(int status) {
  if (WIFEXITED(status)) {
    return "exited with " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "killed by " + SignalName(WTERMSIG(status)) +
           (WCOREDUMP(status) ? " (core dumped)" : "");
  }
  if (WIFSTOPPED(status)) {
    return "stopped by " + SignalName(WSTOPSIG(status));
  }
  return "wait status " + std::to_string(status);
}

void FileDescriptor::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

int InForkedProcess(const std::function<void()>& fn) {
  const pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << ErrnoName(errno);
    return -1;
  }
  if (pid == 0) {
    const struct rlimit no_core = {0, 0};
    TEST_PCHECK(setrlimit(RLIMIT_CORE, &no_core) == 0);
    fn();
    // _exit, not exit: the child must not run the parent's atexit handlers or
    // flush stdio buffers it inherited, which gtest would then print twice.
    _exit(0);
  }
  int status;
  pid_t waited;
  do {
    waited = waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited != pid) {
    ADD_FAILURE() << "waitpid(" << pid << "): " << ErrnoName(errno);
    return -1;
  }
  return status;
}

namespace internal {

void TestCheckFailed(const char* file, int line, const char* expr, int saved_errno) {
  // No stdio streams and no malloc: the child of a multithreaded parent must
  // not take a lock that another thread held at fork time.
  char buf[1024];
  int n;
  if (saved_errno != 0) {
    const char* name = strerrorname_np(saved_errno);
    n = snprintf(buf, sizeof(buf), "%s:%d: TEST_CHECK failed: %s: errno %d (%s)\n", file,
                 line, expr, saved_errno, name ? name : "?");
  } else {
    n = snprintf(buf, sizeof(buf), "%s:%d: TEST_CHECK failed: %s\n", file, line, expr);
  }
  if (n > 0) {
    const size_t len = static_cast<size_t>(n) < sizeof(buf) ? n : sizeof(buf) - 1;
    ssize_t unused = write(STDERR_FILENO, buf, len);
    (void)unused;
  }
  _exit(kTestCheckFailedExitCode);
}

}  // namespace internal

}  // namespace testing
}  // namespace visor
