// Tests for execve(2) and execveat(2). The test binary is also the program the
// tests run: with VISOR_EXEC_TEST_CHILD set it checks what it inherited and
// exits before gtest starts.

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// TempDir is a fresh directory under $TEST_TMPDIR (or /tmp), removed with
// everything in it when destroyed.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/exec_test_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << ErrnoName(errno);
    }
    path_ = tmpl;
    // Searchable by everyone, for the cases that drop privileges.
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  const std::string& path() const { return path_; }
  std::string Child(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// WriteFile creates path with contents, failing the test on error.
void WriteFile(const std::string& path, const std::string& contents, mode_t mode = 0644) {
  FileDescriptor fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  ASSERT_THAT(write(fd.get(), contents.data(), contents.size()),
              SyscallSucceedsWithValue(contents.size()));
}

// The environment variable that makes this binary, run by execve from a test,
// act as the new program instead of running the tests.
constexpr char kChildEnv[] = "VISOR_EXEC_TEST_CHILD";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// ChildMain is the new program. It exits 0 when what it checks holds, and with
// a distinct code per failed check otherwise.
[[noreturn]] void ChildMain(const std::string& mode, int argc, char** argv) {
  if (mode.rfind("exit:", 0) == 0) _exit(atoi(mode.c_str() + 5));
  if (mode == "args") {
    if (argc != 3) _exit(10);
    if (strcmp(argv[1], "one") != 0 || strcmp(argv[2], "two") != 0) _exit(11);
    const char* foo = getenv("FOO");
    if (foo == nullptr || strcmp(foo, "bar") != 0) _exit(12);
    if (getenv("NOT_PASSED") != nullptr) _exit(13);
    _exit(0);
  }
  if (mode.rfind("cloexec:", 0) == 0) {
    int closed = -1, open_fd = -1;
    if (sscanf(mode.c_str(), "cloexec:%d:%d", &closed, &open_fd) != 2) _exit(20);
    if (fcntl(closed, F_GETFD) != -1 || errno != EBADF) _exit(21);
    if (fcntl(open_fd, F_GETFD) != 0) _exit(22);
    _exit(0);
  }
  if (mode == "script") {
    // argv: interpreter, its argument, the script as execve named it, then
    // execve's argv without its argv[0].
    if (argc != 4) _exit(30);
    if (strcmp(argv[1], "interp-arg") != 0) _exit(31);
    if (!EndsWith(argv[2], "/script")) _exit(32);
    if (strcmp(argv[3], "x") != 0) _exit(33);
    _exit(0);
  }
  if (mode == "signals") {
    struct sigaction sa;
    if (sigaction(SIGUSR1, nullptr, &sa) != 0 || sa.sa_handler != SIG_DFL) _exit(40);
    if (sigaction(SIGUSR2, nullptr, &sa) != 0 || sa.sa_handler != SIG_IGN) _exit(41);
    sigset_t mask;
    if (sigprocmask(SIG_BLOCK, nullptr, &mask) != 0 || !sigismember(&mask, SIGHUP)) _exit(42);
    _exit(0);
  }
  if (mode == "comm") {
    char name[16] = {};
    if (prctl(PR_GET_NAME, name) != 0) _exit(50);
    if (argc < 2 || strncmp(name, argv[1], 15) != 0) _exit(51);
    _exit(0);
  }
  _exit(99);
}

// Runs before gtest's main: a test execs this binary as the new program.
__attribute__((constructor)) void MaybeRunAsChild(int argc, char** argv) {
  if (const char* mode = getenv(kChildEnv)) ChildMain(mode, argc, argv);
}

// SelfPath returns this binary's absolute path.
std::string SelfPath() {
  char buf[PATH_MAX];
  if (realpath(program_invocation_name, buf) == nullptr) return program_invocation_name;
  return buf;
}

// Exec runs path with argv and the child mode in its environment, in a child
// process, and returns the wait status.
int ExecInChild(const std::string& path, std::vector<std::string> args, const std::string& mode,
                std::vector<std::string> env = {}) {
  env.push_back(std::string(kChildEnv) + "=" + mode);
  return InForkedProcess([&] {
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    execve(path.c_str(), argv.data(), envp.data());
    TEST_PCHECK(false);
  });
}

TEST(ExecTest, RunsTheNewProgramWithItsArgsAndEnvironment) {
  const std::string self = SelfPath();
  setenv("NOT_PASSED", "1", 1);
  EXPECT_THAT(ExecInChild(self, {"prog", "one", "two"}, "args", {"FOO=bar"}), ExitedWith(0));
  unsetenv("NOT_PASSED");
  EXPECT_THAT(ExecInChild(self, {"prog"}, "exit:42"), ExitedWith(42));
}

TEST(ExecTest, NameIsTheFilesBaseName) {
  const std::string self = SelfPath();
  std::string base = self.substr(self.rfind('/') + 1);
  EXPECT_THAT(ExecInChild(self, {"whatever", base}, "comm"), ExitedWith(0));
}

TEST(ExecTest, CloseOnExecDescriptorsAreClosed) {
  TempDir dir;
  FileDescriptor closed(open(dir.path().c_str(), O_RDONLY | O_CLOEXEC));
  FileDescriptor kept(open(dir.path().c_str(), O_RDONLY));
  ASSERT_THAT(closed.get(), SyscallSucceeds());
  ASSERT_THAT(kept.get(), SyscallSucceeds());
  EXPECT_THAT(ExecInChild(SelfPath(), {"prog"}, "cloexec:" + std::to_string(closed.get()) + ":" + std::to_string(kept.get())),
              ExitedWith(0));
}

TEST(ExecTest, SignalDispositionsAndMask) {
  EXPECT_THAT(InForkedProcess([] {
                struct sigaction sa = {};
                sa.sa_handler = +[](int) {};
                TEST_PCHECK(sigaction(SIGUSR1, &sa, nullptr) == 0);
                signal(SIGUSR2, SIG_IGN);
                sigset_t mask;
                sigemptyset(&mask);
                sigaddset(&mask, SIGHUP);
                TEST_PCHECK(sigprocmask(SIG_BLOCK, &mask, nullptr) == 0);
                std::string self = SelfPath();
                std::string env = std::string(kChildEnv) + "=signals";
                char* argv[] = {self.data(), nullptr};
                char* envp[] = {env.data(), nullptr};
                execve(self.c_str(), argv, envp);
                TEST_PCHECK(false);
              }),
              ExitedWith(0));
}

TEST(ExecTest, FromAThreadedProcess) {
  EXPECT_THAT(InForkedProcess([] {
                pthread_t th;
                TEST_CHECK(pthread_create(&th, nullptr, [](void*) -> void* {
                  for (;;) pause();
                }, nullptr) == 0);
                std::string self = SelfPath();
                std::string env = std::string(kChildEnv) + "=exit:5";
                char* argv[] = {self.data(), nullptr};
                char* envp[] = {env.data(), nullptr};
                execve(self.c_str(), argv, envp);
                TEST_PCHECK(false);
              }),
              ExitedWith(5));
}

TEST(ExecTest, Interpreter) {
  TempDir dir;
  const std::string script = dir.Child("script");
  ASSERT_NO_FATAL_FAILURE(WriteFile(script, "#!" + SelfPath() + " interp-arg\nnot run\n", 0755));
  ASSERT_THAT(chmod(script.c_str(), 0755), SyscallSucceeds());
  EXPECT_THAT(ExecInChild(script, {"script", "x"}, "script"), ExitedWith(0));
}

// ExecFails checks, in a child in case it wrongly succeeds, that execve fails
// with errno e.
void ExecFails(const char* path, char* const* argv, int e) {
  EXPECT_THAT(InForkedProcess([&] {
                char* envp[] = {nullptr};
                TEST_CHECK(syscall(SYS_execve, path, argv, envp) < 0);
                TEST_CHECK(errno == e);
              }),
              ExitedWith(0))
      << path << ": want " << ErrnoName(e);
}

TEST(ExecTest, Errors) {
  TempDir dir;
  char arg0[] = "prog";
  char* argv[] = {arg0, nullptr};
  ExecFails(dir.Child("nope").c_str(), argv, ENOENT);
  ExecFails("", argv, ENOENT);
  ExecFails(dir.path().c_str(), argv, EACCES);
  const std::string plain = dir.Child("plain");
  ASSERT_NO_FATAL_FAILURE(WriteFile(plain, "data", 0644));
  ExecFails(plain.c_str(), argv, EACCES);
  const std::string garbage = dir.Child("garbage");
  ASSERT_NO_FATAL_FAILURE(WriteFile(garbage, std::string(256, 'g'), 0755));
  ASSERT_THAT(chmod(garbage.c_str(), 0755), SyscallSucceeds());
  ExecFails(garbage.c_str(), argv, ENOEXEC);
  ExecFails((plain + "/x").c_str(), argv, ENOTDIR);
  const std::string self = SelfPath();
  ExecFails(self.c_str(), reinterpret_cast<char* const*>(8), EFAULT);
}

int Execveat(int dirfd, const char* path, char* const* argv, char* const* envp, int flags) {
  return syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

TEST(ExecveatTest, EmptyPathAndDirfd) {
  const std::string self = SelfPath();
  const std::string dirname = self.substr(0, self.rfind('/'));
  const std::string base = self.substr(self.rfind('/') + 1);
  EXPECT_THAT(InForkedProcess([&] {
                int fd = open(self.c_str(), O_RDONLY);
                TEST_PCHECK(fd >= 0);
                std::string env = std::string(kChildEnv) + "=exit:7";
                char* argv[] = {const_cast<char*>("prog"), nullptr};
                char* envp[] = {env.data(), nullptr};
                Execveat(fd, "", argv, envp, AT_EMPTY_PATH);
                TEST_PCHECK(false);
              }),
              ExitedWith(7));
  EXPECT_THAT(InForkedProcess([&] {
                int d = open(dirname.c_str(), O_RDONLY | O_DIRECTORY);
                TEST_PCHECK(d >= 0);
                std::string env = std::string(kChildEnv) + "=exit:8";
                char* argv[] = {const_cast<char*>("prog"), nullptr};
                char* envp[] = {env.data(), nullptr};
                Execveat(d, base.c_str(), argv, envp, 0);
                TEST_PCHECK(false);
              }),
              ExitedWith(8));
}

TEST(ExecveatTest, Errors) {
  TempDir dir;
  const std::string link = dir.Child("link");
  ASSERT_THAT(symlink(SelfPath().c_str(), link.c_str()), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([&] {
                char* argv[] = {const_cast<char*>("prog"), nullptr};
                char* envp[] = {nullptr};
                TEST_CHECK(Execveat(AT_FDCWD, link.c_str(), argv, envp, AT_SYMLINK_NOFOLLOW) < 0 && errno == ELOOP);
                TEST_CHECK(Execveat(AT_FDCWD, link.c_str(), argv, envp, 0x8000) < 0 && errno == EINVAL);
                TEST_CHECK(Execveat(AT_FDCWD, "", argv, envp, 0) < 0 && errno == ENOENT);
                TEST_CHECK(Execveat(-1, "relative", argv, envp, 0) < 0 && errno == EBADF);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
