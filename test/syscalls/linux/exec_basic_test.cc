// Tests for execve(2): what the new program receives (arguments,
// environment, descriptors, signal state, ids), interpreter scripts, and
// errors. The binary re-executes itself; a constructor recognizes the helper
// environment variable and runs the requested check before googletest.

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr char kModeEnv[] = "VISOR_EXEC_TEST_MODE";
constexpr char kFdEnv[] = "VISOR_EXEC_TEST_FD";
constexpr char kCloexecFdEnv[] = "VISOR_EXEC_TEST_CLOEXEC_FD";

int EnvInt(const char* name) {
  const char* v = getenv(name);
  return v ? atoi(v) : -1;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n <= 0) _exit(99);
    off += n;
  }
}

// Helper modes, run in the exec'd program. Each exits; their findings go to
// the descriptor in kFdEnv or into the exit code.
__attribute__((constructor)) void ExecHelper(int argc, char** argv, char** envp) {
  const char* mode = getenv(kModeEnv);
  if (mode == nullptr) return;
  const int fd = EnvInt(kFdEnv);
  if (strcmp(mode, "args") == 0) {
    // Arguments one per line, "--", then the environment.
    std::string out;
    for (int i = 0; i < argc; i++) out += std::string(argv[i]) + "\n";
    out += "--\n";
    for (char** e = envp; *e; e++) out += std::string(*e) + "\n";
    WriteAll(fd, out);
    _exit(0);
  }
  if (strcmp(mode, "ids") == 0) {
    const pid_t ids[3] = {getpid(), getppid(), static_cast<pid_t>(syscall(SYS_gettid))};
    WriteAll(fd, std::string(reinterpret_cast<const char*>(ids), sizeof(ids)));
    _exit(0);
  }
  if (strcmp(mode, "fds") == 0) {
    int code = 0;
    if (fcntl(fd, F_GETFD) != 0) code |= 1;  // Kept, and without FD_CLOEXEC.
    const int cloexec_fd = EnvInt(kCloexecFdEnv);
    if (fcntl(cloexec_fd, F_GETFD) != -1 || errno != EBADF) code |= 2;  // Closed.
    _exit(code);
  }
  if (strcmp(mode, "wait") == 0) {
    // Exit with the one byte read from the descriptor.
    unsigned char c = 0;
    ssize_t n;
    do {
      n = read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    _exit(n == 1 ? c : 96);
  }
  if (strcmp(mode, "signals") == 0) {
    int code = 0;
    struct sigaction act;
    sigaction(SIGUSR1, nullptr, &act);
    if (act.sa_handler != SIG_DFL) code |= 1;  // A handler is reset.
    sigaction(SIGUSR2, nullptr, &act);
    if (act.sa_handler != SIG_IGN) code |= 2;  // Ignoring is kept.
    sigset_t mask;
    sigprocmask(SIG_BLOCK, nullptr, &mask);
    if (sigismember(&mask, SIGINT) != 1) code |= 4;  // The mask is kept.
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGINT) != 1) code |= 8;  // Pending signals are kept.
    stack_t ss;
    sigaltstack(nullptr, &ss);
    if (ss.ss_flags != SS_DISABLE) code |= 16;  // The alternate stack is not.
    _exit(code);
  }
  _exit(98);
}

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) return std::string(buf, n);
  return program_invocation_name;
}

std::string TempDir() {
  const char* d = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(d && *d ? d : "/tmp") + "/exec_basic_test.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << ErrnoName(errno);
    return "";
  }
  return tmpl;
}

// Exec runs path with argv and envp in a forked child (prepare runs first,
// in the child) and returns the wait status; output collects whatever the
// helper wrote to kFdEnv (which Exec adds to envp).
int Exec(const std::string& path, std::vector<std::string> argv, std::vector<std::string> envp,
         std::string* output, const std::function<void()>& prepare = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << ErrnoName(errno);
    return -1;
  }
  envp.push_back(std::string(kFdEnv) + "=" + std::to_string(fds[1]));
  std::vector<char*> av, ev;
  for (auto& a : argv) av.push_back(a.data());
  av.push_back(nullptr);
  for (auto& e : envp) ev.push_back(e.data());
  ev.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (prepare) prepare();
    execve(path.c_str(), av.data(), ev.data());
    TEST_PCHECK(false && "execve");
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) out.append(buf, n);
  }
  close(fds[0]);
  if (output) *output = out;
  int status = -1;
  EXPECT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  return status;
}

TEST(ExecTest, PassesArgvAndEnvpExactly) {
  const std::string self = SelfPath();
  std::string out;
  const int status = Exec(self, {"first", "", "with space", "last"},
                          {std::string(kModeEnv) + "=args", "FOO=bar", "EMPTY="}, &out);
  EXPECT_THAT(status, ExitedWith(0));
  const std::string fd_env = std::string(kFdEnv) + "=";
  const size_t fd_pos = out.find(fd_env);
  ASSERT_NE(fd_pos, std::string::npos) << out;
  const std::string fd_line = out.substr(fd_pos, out.find('\n', fd_pos) - fd_pos + 1);
  EXPECT_EQ(out, "first\n\nwith space\nlast\n--\n" + std::string(kModeEnv) +
                     "=args\nFOO=bar\nEMPTY=\n" + fd_line);
}

TEST(ExecTest, PidAndParentArePreserved) {
  const std::string self = SelfPath();
  std::string out;
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  const int status = Exec(self, {self}, {std::string(kModeEnv) + "=ids"}, &out, [&] {
    const pid_t before[2] = {getpid(), getppid()};
    TEST_PCHECK(write(fds[1], before, sizeof(before)) == sizeof(before));
  });
  close(fds[1]);
  EXPECT_THAT(status, ExitedWith(0));
  pid_t before[2] = {};
  ASSERT_THAT(read(rfd.get(), before, sizeof(before)), SyscallSucceedsWithValue(sizeof(before)));
  ASSERT_EQ(out.size(), 3 * sizeof(pid_t));
  pid_t after[3];
  memcpy(after, out.data(), sizeof(after));
  EXPECT_EQ(after[0], before[0]);
  EXPECT_EQ(after[1], before[1]);
  EXPECT_EQ(after[1], getpid());
  EXPECT_EQ(after[2], after[0]);
}

TEST(ExecTest, CloexecDescriptorsAreClosedOthersKept) {
  const std::string self = SelfPath();
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_CLOEXEC), SyscallSucceeds());
  FileDescriptor a(fds[0]);
  FileDescriptor b(fds[1]);
  const int status =
      Exec(self, {self},
           {std::string(kModeEnv) + "=fds", std::string(kCloexecFdEnv) + "=" + std::to_string(fds[0])},
           nullptr);
  EXPECT_THAT(status, ExitedWith(0));
}

void NopHandler(int) {}

TEST(ExecTest, SignalStateAcrossExec) {
  const std::string self = SelfPath();
  const int status = Exec(self, {self}, {std::string(kModeEnv) + "=signals"}, nullptr, [] {
    struct sigaction act = {};
    act.sa_handler = NopHandler;
    TEST_PCHECK(sigaction(SIGUSR1, &act, nullptr) == 0);
    act.sa_handler = SIG_IGN;
    TEST_PCHECK(sigaction(SIGUSR2, &act, nullptr) == 0);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    TEST_PCHECK(sigprocmask(SIG_BLOCK, &mask, nullptr) == 0);
    TEST_PCHECK(raise(SIGINT) == 0);
    static char alt[64 * 1024];
    stack_t ss = {};
    ss.ss_sp = alt;
    ss.ss_size = sizeof(alt);
    TEST_PCHECK(sigaltstack(&ss, nullptr) == 0);
  });
  // The exit code has a bit set for each check that failed.
  EXPECT_THAT(status, ExitedWith(0));
}

TEST(ExecTest, InterpreterScript) {
  const std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  const std::string self = SelfPath();
  const std::string script = dir + "/script";
  {
    const int fd = open(script.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    ASSERT_THAT(fd, SyscallSucceeds());
    FileDescriptor f(fd);
    const std::string text = "#!" + self + " optional-arg\nnot read by anyone\n";
    ASSERT_THAT(write(fd, text.data(), text.size()), SyscallSucceedsWithValue(text.size()));
  }
  std::string out;
  const int status = Exec(script, {"ignored-argv0", "x", "y"}, {std::string(kModeEnv) + "=args"}, &out);
  EXPECT_THAT(status, ExitedWith(0));
  // The interpreter gets: itself, the optional argument, the script's path,
  // then the original arguments after argv[0].
  const std::string want_args = self + "\noptional-arg\n" + script + "\nx\ny\n--\n";
  EXPECT_EQ(out.substr(0, want_args.size()), want_args);
  unlink(script.c_str());
  rmdir(dir.c_str());
}

TEST(ExecTest, Errors) {
  const std::string dir = TempDir();
  ASSERT_FALSE(dir.empty());
  char* const argv[] = {const_cast<char*>("x"), nullptr};
  char* const envp[] = {nullptr};

  EXPECT_THAT(execve((dir + "/missing").c_str(), argv, envp), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(execve(dir.c_str(), argv, envp), SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(execve((dir + "/missing/x").c_str(), argv, envp), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(syscall(SYS_execve, reinterpret_cast<char*>(8), argv, envp),
              SyscallFailsWithErrno(EFAULT));
  const std::string long_name(PATH_MAX + 10, 'a');
  EXPECT_THAT(execve(long_name.c_str(), argv, envp), SyscallFailsWithErrno(ENAMETOOLONG));

  // A regular file without any execute bit: EACCES, even for root.
  const std::string noexec = dir + "/noexec";
  int fd = open(noexec.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_THAT(fd, SyscallSucceeds());
  close(fd);
  EXPECT_THAT(execve(noexec.c_str(), argv, envp), SyscallFailsWithErrno(EACCES));

  // An executable file in no known format: ENOEXEC.
  const std::string garbage = dir + "/garbage";
  fd = open(garbage.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  ASSERT_THAT(fd, SyscallSucceeds());
  const char junk[] = "\x01\x02\x03 this is not a program\n";
  EXPECT_THAT(write(fd, junk, sizeof(junk)), SyscallSucceedsWithValue(sizeof(junk)));
  close(fd);
  EXPECT_THAT(execve(garbage.c_str(), argv, envp), SyscallFailsWithErrno(ENOEXEC));

  // A script whose interpreter does not exist: ENOENT.
  const std::string bad_script = dir + "/bad_script";
  fd = open(bad_script.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  ASSERT_THAT(fd, SyscallSucceeds());
  const std::string text = "#!" + dir + "/no-such-interpreter\n";
  EXPECT_THAT(write(fd, text.data(), text.size()), SyscallSucceedsWithValue(text.size()));
  close(fd);
  EXPECT_THAT(execve(bad_script.c_str(), argv, envp), SyscallFailsWithErrno(ENOENT));

  unlink(noexec.c_str());
  unlink(garbage.c_str());
  unlink(bad_script.c_str());
  rmdir(dir.c_str());
}

TEST(ExecTest, SetpgidOnAChildAfterItExecsIsEACCES) {
  const std::string self = SelfPath();
  int go[2];
  ASSERT_THAT(pipe(go), SyscallSucceeds());
  FileDescriptor go_r(go[0]);
  FileDescriptor go_w(go[1]);
  int started[2];
  ASSERT_THAT(pipe2(started, O_CLOEXEC), SyscallSucceeds());
  FileDescriptor started_r(started[0]);
  FileDescriptor started_w(started[1]);
  const std::string mode = std::string(kModeEnv) + "=wait";
  const std::string fd_env = std::string(kFdEnv) + "=" + std::to_string(go[0]);
  char* const argv[] = {const_cast<char*>(self.c_str()), nullptr};
  char* const envp[] = {const_cast<char*>(mode.c_str()), const_cast<char*>(fd_env.c_str()),
                        nullptr};
  const pid_t pid = fork();
  if (pid == 0) {
    execve(self.c_str(), argv, envp);
    _exit(97);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  started_w.reset();
  // EOF once the child's exec has closed its copy of the CLOEXEC write end.
  char c;
  ASSERT_THAT(read(started_r.get(), &c, 1), SyscallSucceedsWithValue(0));
  // The helper now waits for a byte: it is alive, and it has exec'd.
  EXPECT_THAT(setpgid(pid, pid), SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(getpgid(pid), SyscallSucceedsWithValue(getpgrp()));
  const unsigned char code = 12;
  ASSERT_THAT(write(go_w.get(), &code, 1), SyscallSucceedsWithValue(1));
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(12));
}

TEST(ExecTest, SetpgidOnAChildBeforeItExecsWorks) {
  int go[2];
  ASSERT_THAT(pipe(go), SyscallSucceeds());
  FileDescriptor go_r(go[0]);
  FileDescriptor go_w(go[1]);
  const pid_t pid = fork();
  if (pid == 0) {
    char c;
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(getpgrp() == getpid() ? 0 : 1);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  EXPECT_THAT(setpgid(pid, pid), SyscallSucceeds());
  ASSERT_THAT(write(go_w.get(), "g", 1), SyscallSucceedsWithValue(1));
  int status = 0;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_THAT(status, ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
