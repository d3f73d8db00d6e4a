// Tests for /proc/[pid] and /proc/[pid]/task/[tid]: stat, status, cmdline,
// environ, comm, exe, cwd, root, fd, fdinfo, maps, statm, limits, auxv,
// oom_score_adj, mounts and the task directory. They check that the files agree
// with what system calls say of the process, not the host's values.

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// The argument with which the binary, re-executed by a test, only waits for its
// standard input to close, so that the test can look at a process whose argv and
// environment it chose.
constexpr char kWaitArg[] = "--proc-pid-test-wait-for-stdin";

// The process's own argv, saved before main by SaveArgv.
std::vector<std::string>* saved_argv;

// SaveArgv runs before main (glibc passes initializers argc, argv and envp); it
// also turns the process into the waiting child when asked to.
__attribute__((constructor)) void SaveArgv(int argc, char** argv, char** envp) {
  if (argc >= 2 && strcmp(argv[1], kWaitArg) == 0) {
    char c;
    while (read(0, &c, 1) > 0) {
    }
    _exit(0);
  }
  saved_argv = new std::vector<std::string>(argv, argv + argc);
}

// ReadFile returns the contents of path, read in small pieces, or fails the test.
void ReadFile(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds()) << path;
  FileDescriptor f(fd);
  out->clear();
  char buf[13];
  for (;;) {
    ssize_t n = read(f.get(), buf, sizeof(buf));
    ASSERT_THAT(n, SyscallSucceeds()) << path;
    if (n == 0) return;
    out->append(buf, n);
  }
}

// ReadFileInChild is ReadFile for a forked child: it returns "" on failure.
std::string ReadFileInChild(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Field returns the value of the "Name:\tvalue" line of a status file.
std::string Field(const std::string& s, const std::string& name) {
  for (const auto& line : Lines(s)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string v = line.substr(name.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "<no " + name + " line>";
}

std::string Readlink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return "<readlink failed: " + ErrnoName(errno) + ">";
  return std::string(buf, n);
}

std::string SelfDir() { return "/proc/" + std::to_string(getpid()); }

// Stat is /proc/[pid]/stat split: comm, and the other fields, numbered as proc(5)
// numbers them (fields[1] is the pid, fields[3] the state).
struct Stat {
  std::string comm;
  std::vector<std::string> fields;
};

bool ParseStat(const std::string& s, Stat* st) {
  size_t open = s.find('('), close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  st->comm = s.substr(open + 1, close - open - 1);
  st->fields = {"", "", ""};  // 0 unused, 1 pid, 2 comm
  std::istringstream pid(s.substr(0, open));
  pid >> st->fields[1];
  std::istringstream rest(s.substr(close + 1));
  for (std::string f; rest >> f;) st->fields.push_back(f);
  st->fields[2] = st->comm;
  return true;
}

TEST(ProcPidStatTest, MatchesThisProcess) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/stat", &s));
  EXPECT_EQ(s.back(), '\n');
  Stat st;
  ASSERT_TRUE(ParseStat(s, &st)) << s;
  // Linux 3.5 and later: 52 fields.
  ASSERT_GE(st.fields.size(), 53u) << s;
  EXPECT_EQ(st.fields[1], std::to_string(getpid()));
  std::string comm;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/comm", &comm));
  EXPECT_EQ(st.comm + "\n", comm);
  EXPECT_EQ(st.fields[3], "R");  // the reader is running
  EXPECT_EQ(st.fields[4], std::to_string(getppid()));
  EXPECT_EQ(st.fields[5], std::to_string(getpgrp()));
  EXPECT_EQ(st.fields[6], std::to_string(getsid(0)));
  EXPECT_GE(atoi(st.fields[20].c_str()), 1);  // num_threads
  EXPECT_GT(strtoull(st.fields[23].c_str(), nullptr, 10), 0u);  // vsize
  EXPECT_GT(strtoull(st.fields[24].c_str(), nullptr, 10), 0u);  // rss
  EXPECT_EQ(st.fields[38], std::to_string(SIGCHLD));  // exit_signal
  for (size_t i = 4; i < st.fields.size(); i++) {
    EXPECT_THAT(st.fields[i], MatchesRegex("-?[0-9]+")) << "field " << i;
  }
}

TEST(ProcPidStatTest, SleepingChild) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]), wfd(fds[1]);
  pid_t child = fork();
  ASSERT_THAT(child, SyscallSucceeds());
  if (child == 0) {
    wfd.reset();
    char c;
    read(rfd.get(), &c, 1);
    _exit(0);
  }
  rfd.reset();
  // The child goes to sleep in read soon; until then it may be running.
  Stat st;
  for (int i = 0; i < 200; i++) {
    std::string s;
    ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/" + std::to_string(child) + "/stat", &s));
    ASSERT_TRUE(ParseStat(s, &st)) << s;
    if (st.fields[3] == "S") break;
    usleep(10 * 1000);
  }
  EXPECT_EQ(st.fields[1], std::to_string(child));
  EXPECT_EQ(st.fields[3], "S");
  EXPECT_EQ(st.fields[4], std::to_string(getpid()));
  wfd.reset();
  int status;
  ASSERT_THAT(waitpid(child, &status, 0), SyscallSucceedsWithValue(child));
}

TEST(ProcPidStatTest, ZombieAndThenGone) {
  pid_t child = fork();
  ASSERT_THAT(child, SyscallSucceeds());
  if (child == 0) _exit(0);
  const std::string path = "/proc/" + std::to_string(child) + "/stat";
  siginfo_t info;
  ASSERT_THAT(waitid(P_PID, child, &info, WEXITED | WNOWAIT), SyscallSucceeds());
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds());
  FileDescriptor f(fd);
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile(path, &s));
  Stat st;
  ASSERT_TRUE(ParseStat(s, &st)) << s;
  EXPECT_EQ(st.fields[3], "Z");
  int status;
  ASSERT_THAT(waitpid(child, &status, 0), SyscallSucceedsWithValue(child));
  // A file of a reaped process reads as ESRCH; its directory is gone.
  char buf[64];
  EXPECT_THAT(pread(f.get(), buf, sizeof(buf), 0), SyscallFailsWithErrno(ESRCH));
  EXPECT_THAT(open(path.c_str(), O_RDONLY), SyscallFailsWithErrno(ENOENT));
}

TEST(ProcPidStatusTest, MatchesThisProcess) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/status", &s));
  std::string comm;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/comm", &comm));
  EXPECT_EQ(Field(s, "Name") + "\n", comm);
  EXPECT_EQ(Field(s, "State"), "R (running)");
  EXPECT_EQ(Field(s, "Tgid"), std::to_string(getpid()));
  EXPECT_EQ(Field(s, "Pid"), std::to_string(getpid()));
  EXPECT_EQ(Field(s, "PPid"), std::to_string(getppid()));
  EXPECT_EQ(Field(s, "TracerPid"), "0");
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  ASSERT_THAT(getresuid(&ruid, &euid, &suid), SyscallSucceeds());
  ASSERT_THAT(getresgid(&rgid, &egid, &sgid), SyscallSucceeds());
  EXPECT_EQ(Field(s, "Uid"), std::to_string(ruid) + "\t" + std::to_string(euid) + "\t" + std::to_string(suid) +
                                 "\t" + std::to_string(euid));
  EXPECT_EQ(Field(s, "Gid"), std::to_string(rgid) + "\t" + std::to_string(egid) + "\t" + std::to_string(sgid) +
                                 "\t" + std::to_string(egid));
  mode_t mask = umask(0);
  umask(mask);
  char want_umask[8];
  snprintf(want_umask, sizeof(want_umask), "%04o", mask);
  EXPECT_EQ(Field(s, "Umask"), want_umask);
  EXPECT_THAT(Field(s, "VmRSS"), MatchesRegex("[0-9]+ kB"));
  EXPECT_THAT(Field(s, "SigQ"), MatchesRegex("[0-9]+/[0-9]+"));
  for (const char* name : {"SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff",
                           "CapBnd", "CapAmb"}) {
    EXPECT_THAT(Field(s, name), MatchesRegex("[0-9a-f]{16}")) << name;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(Field(s, "Cpus_allowed_list"), ncpu == 1 ? "0" : "0-" + std::to_string(ncpu - 1));
}

TEST(ProcPidStatusTest, SignalMasks) {
  EXPECT_THAT(InForkedProcess([] {
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, SIGUSR1);
                TEST_PCHECK(sigprocmask(SIG_BLOCK, &set, nullptr) == 0);
                TEST_PCHECK(signal(SIGUSR2, SIG_IGN) != SIG_ERR);
                TEST_PCHECK(signal(SIGHUP, [](int) {}) != SIG_ERR);
                TEST_PCHECK(kill(getpid(), SIGUSR1) == 0);
                std::string s = ReadFileInChild("/proc/self/status");
                auto bit = [](int sig) {
                  char buf[17];
                  snprintf(buf, sizeof(buf), "%016llx", 1ULL << (sig - 1));
                  return std::string(buf);
                };
                TEST_CHECK(Field(s, "SigBlk") == bit(SIGUSR1));
                TEST_CHECK(Field(s, "SigIgn") == bit(SIGUSR2));
                TEST_CHECK(Field(s, "SigCgt") == bit(SIGHUP));
                TEST_CHECK(Field(s, "ShdPnd") == bit(SIGUSR1));
              }),
              ExitedWith(0));
}

void* WaitOnPipe(void* arg) {
  char c;
  read(*static_cast<int*>(arg), &c, 1);
  return nullptr;
}

TEST(ProcPidStatusTest, ThreadsAndTaskDirectory) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/status", &s));
  int before = atoi(Field(s, "Threads").c_str());
  EXPECT_GE(before, 1);
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]), wfd(fds[1]);
  int rd = rfd.get();
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, WaitOnPipe, &rd), 0);
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/status", &s));
  EXPECT_EQ(atoi(Field(s, "Threads").c_str()), before + 1);
  // The task directory lists this thread and the new one.
  std::string task = SelfDir() + "/task/";
  struct stat st;
  EXPECT_THAT(stat((task + std::to_string(gettid())).c_str(), &st), SyscallSucceeds());
  std::string comm;
  ASSERT_NO_FATAL_FAILURE(ReadFile(task + std::to_string(gettid()) + "/comm", &comm));
  EXPECT_FALSE(comm.empty());
  wfd.reset();
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  // pthread_join returns once the thread's TID is cleared, which the kernel does
  // on the thread's way out, a moment before it leaves the process.
  for (int i = 0; i < 100; i++) {
    ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/status", &s));
    if (atoi(Field(s, "Threads").c_str()) == before) break;
    usleep(10 * 1000);
  }
  EXPECT_EQ(atoi(Field(s, "Threads").c_str()), before);
}

TEST(ProcPidCmdlineTest, MatchesArgv) {
  ASSERT_NE(saved_argv, nullptr);
  std::string want;
  for (const auto& arg : *saved_argv) want += arg + '\0';
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/cmdline", &s));
  EXPECT_EQ(s, want);
}

TEST(ProcPidCmdlineTest, ChildWithChosenArgvAndEnvironment) {
  int fds[2];
  // Close-on-exec, so that the child's standard input is the only read end it
  // keeps, and it holds no write end that would keep it waiting.
  ASSERT_THAT(pipe2(fds, O_CLOEXEC), SyscallSucceeds());
  FileDescriptor rfd(fds[0]), wfd(fds[1]);
  pid_t child = fork();
  ASSERT_THAT(child, SyscallSucceeds());
  if (child == 0) {
    dup2(rfd.get(), 0);
    char* const argv[] = {const_cast<char*>("chosen argv0"), const_cast<char*>(kWaitArg),
                          const_cast<char*>(""), const_cast<char*>("last"), nullptr};
    char* const envp[] = {const_cast<char*>("A=1"), const_cast<char*>("B=two words"), nullptr};
    execve("/proc/self/exe", argv, envp);
    _exit(errno);
  }
  rfd.reset();
  const std::string dir = "/proc/" + std::to_string(child);
  const std::string want_cmdline = std::string("chosen argv0\0", 13) + kWaitArg + '\0' + '\0' + "last" + '\0';
  const std::string want_environ = std::string("A=1\0B=two words\0", 16);
  std::string cmdline, environ;
  // Until the child has exec'd, it shows its parent's.
  for (int i = 0; i < 200 && cmdline != want_cmdline; i++) {
    usleep(10 * 1000);
    ASSERT_NO_FATAL_FAILURE(ReadFile(dir + "/cmdline", &cmdline));
  }
  EXPECT_EQ(cmdline, want_cmdline);
  ASSERT_NO_FATAL_FAILURE(ReadFile(dir + "/environ", &environ));
  EXPECT_EQ(environ, want_environ);
  // exec names the process after the file it ran, a moment after the new
  // memory (and so cmdline) is in place, on Linux as in the Sentry.
  std::string comm;
  for (int i = 0; i < 200 && comm != "exe\n"; i++) {
    ASSERT_NO_FATAL_FAILURE(ReadFile(dir + "/comm", &comm));
    if (comm != "exe\n") usleep(10 * 1000);
  }
  EXPECT_EQ(comm, "exe\n");
  EXPECT_EQ(Readlink(dir + "/exe"), Readlink("/proc/self/exe"));
  wfd.reset();
  int status;
  ASSERT_THAT(waitpid(child, &status, 0), SyscallSucceedsWithValue(child));
  EXPECT_THAT(status, ExitedWith(0));
}

TEST(ProcPidLinksTest, ExeIsThisBinary) {
  char* real = realpath(program_invocation_name, nullptr);
  ASSERT_NE(real, nullptr);
  EXPECT_EQ(Readlink("/proc/self/exe"), real);
  struct stat a, b;
  ASSERT_THAT(stat("/proc/self/exe", &a), SyscallSucceeds());
  ASSERT_THAT(stat(real, &b), SyscallSucceeds());
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_dev, b.st_dev);
  free(real);
}

TEST(ProcPidLinksTest, CwdAndRoot) {
  EXPECT_EQ(Readlink("/proc/self/root"), "/");
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(chdir("/proc/self") == 0);
                char buf[PATH_MAX];
                ssize_t n = readlink("/proc/self/cwd", buf, sizeof(buf));
                TEST_PCHECK(n > 0);
                TEST_CHECK(std::string(buf, n) == "/proc/" + std::to_string(getpid()));
                // Paths through cwd continue in the directory itself.
                struct stat a, b;
                TEST_PCHECK(stat("/proc/self/cwd/status", &a) == 0);
                TEST_PCHECK(stat("status", &b) == 0);
                TEST_CHECK(a.st_ino == b.st_ino);
                TEST_PCHECK(chdir("/") == 0);
                n = readlink("/proc/self/cwd", buf, sizeof(buf));
                TEST_CHECK(n == 1 && buf[0] == '/');
              }),
              ExitedWith(0));
}

TEST(ProcPidFdTest, ListsOpenDescriptors) {
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_NONBLOCK), SyscallSucceeds());
  FileDescriptor rfd(fds[0]), wfd(fds[1]);
  struct stat st;
  ASSERT_THAT(fstat(rfd.get(), &st), SyscallSucceeds());
  const std::string fd_dir = "/proc/self/fd/";
  const std::string pipe_name = "pipe:[" + std::to_string(st.st_ino) + "]";
  EXPECT_EQ(Readlink(fd_dir + std::to_string(rfd.get())), pipe_name);
  EXPECT_EQ(Readlink(fd_dir + std::to_string(wfd.get())), pipe_name);

  // The directory lists exactly the open descriptors, the one listing it included.
  std::set<int> listed;
  int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dfd, SyscallSucceeds());
  FileDescriptor d(dfd);
  char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, d.get(), buf, sizeof(buf));
    ASSERT_THAT(n, SyscallSucceeds());
    if (n == 0) break;
    for (long off = 0; off < n;) {
      uint16_t reclen;
      memcpy(&reclen, buf + off + 16, sizeof(reclen));
      const char* name = buf + off + 19;
      if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) listed.insert(atoi(name));
      off += reclen;
    }
  }
  for (int fd : listed) {
    EXPECT_THAT(fcntl(fd, F_GETFD), SyscallSucceeds()) << fd << " is listed but not open";
  }
  for (int fd = 0; fd < 1024; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) EXPECT_TRUE(listed.count(fd)) << fd << " is open but not listed";
  }
  const std::string rpath = fd_dir + std::to_string(rfd.get());
  rfd.reset();
  EXPECT_THAT(readlink(rpath.c_str(), buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
}

TEST(ProcPidFdTest, OpeningTheLinkOpensTheFile) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]), wfd(fds[1]);
  const std::string path = "/proc/self/fd/" + std::to_string(wfd.get());
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_THAT(fd, SyscallSucceeds());
  FileDescriptor w2(fd);
  ASSERT_THAT(write(w2.get(), "x", 1), SyscallSucceedsWithValue(1));
  char c;
  ASSERT_THAT(read(rfd.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'x');
}

TEST(ProcPidFdTest, Fdinfo) {
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_NONBLOCK | O_CLOEXEC), SyscallSucceeds());
  FileDescriptor rfd(fds[0]), wfd(fds[1]);
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/fdinfo/" + std::to_string(wfd.get()), &s));
  EXPECT_EQ(Field(s, "pos"), "0");
  unsigned flags = strtoul(Field(s, "flags").c_str(), nullptr, 8);
  EXPECT_EQ(flags & O_ACCMODE, static_cast<unsigned>(O_WRONLY));
  EXPECT_TRUE(flags & O_NONBLOCK);
  EXPECT_TRUE(flags & O_CLOEXEC);
  EXPECT_THAT(Field(s, "mnt_id"), MatchesRegex("[0-9]+"));
  struct stat st;
  ASSERT_THAT(fstat(wfd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(Field(s, "ino"), std::to_string(st.st_ino));
}

TEST(ProcPidCommTest, WriteRenamesTheThread) {
  EXPECT_THAT(InForkedProcess([] {
                int fd = open("/proc/self/comm", O_WRONLY);
                TEST_PCHECK(fd >= 0);
                const char name[] = "a-name-longer-than-fifteen\n";
                TEST_PCHECK(write(fd, name, sizeof(name) - 1) == sizeof(name) - 1);
                close(fd);
                char got[16] = {};
                TEST_PCHECK(prctl(PR_GET_NAME, got) == 0);
                TEST_CHECK(std::string(got) == "a-name-longer-t");
                TEST_CHECK(ReadFileInChild("/proc/self/comm") == "a-name-longer-t\n");
                // prctl's name shows in the thread's own comm too.
                TEST_PCHECK(prctl(PR_SET_NAME, "renamed") == 0);
                TEST_CHECK(ReadFileInChild("/proc/thread-self/comm") == "renamed\n");
              }),
              ExitedWith(0));
}

TEST(ProcPidMemoryTest, MapsAndStatm) {
  std::string maps;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/maps", &maps));
  EXPECT_THAT(maps, HasSubstr("[stack]"));
  for (const auto& line : Lines(maps)) {
    EXPECT_THAT(line, MatchesRegex("[0-9a-f]+-[0-9a-f]+ [-r][-w][-x][ps] [0-9a-f]+ [0-9a-f]+:[0-9a-f]+ [0-9]+.*"));
  }
  std::string statm;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/statm", &statm));
  unsigned long size, resident;
  ASSERT_EQ(sscanf(statm.c_str(), "%lu %lu", &size, &resident), 2) << statm;
  EXPECT_GT(size, 0u);
  EXPECT_GT(resident, 0u);
  EXPECT_LE(resident, size);
}

TEST(ProcPidTest, Limits) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/limits", &s));
  auto lines = Lines(s);
  ASSERT_EQ(lines.size(), 17u) << s;
  EXPECT_EQ(lines[0], "Limit                     Soft Limit           Hard Limit           Units     ");
  struct rlimit rl;
  ASSERT_THAT(getrlimit(RLIMIT_NOFILE, &rl), SyscallSucceeds());
  std::ostringstream want;
  want << "Max open files            " << rl.rlim_cur;
  EXPECT_THAT(s, HasSubstr(want.str()));
}

TEST(ProcPidTest, Auxv) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/auxv", &s));
  ASSERT_EQ(s.size() % 16, 0u);
  ASSERT_GE(s.size(), 16u);
  std::vector<unsigned long> words(s.size() / 8);
  memcpy(words.data(), s.data(), s.size());
  EXPECT_EQ(words[words.size() - 2], static_cast<unsigned long>(AT_NULL));
  bool found = false;
  for (size_t i = 0; i + 1 < words.size(); i += 2) {
    if (words[i] == AT_PAGESZ) {
      found = true;
      EXPECT_EQ(words[i + 1], static_cast<unsigned long>(getpagesize()));
    }
  }
  EXPECT_TRUE(found);
}

TEST(ProcPidTest, OomScoreAdj) {
  EXPECT_THAT(InForkedProcess([] {
                int fd = open("/proc/self/oom_score_adj", O_WRONLY);
                TEST_PCHECK(fd >= 0);
                TEST_PCHECK(write(fd, "123\n", 4) == 4);
                errno = 0;
                TEST_CHECK(pwrite(fd, "1001", 4, 0) == -1 && errno == EINVAL);
                close(fd);
                TEST_CHECK(ReadFileInChild("/proc/self/oom_score_adj") == "123\n");
              }),
              ExitedWith(0));
}

TEST(ProcPidTest, MountsShowRoot) {
  std::string mounts, mountinfo;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/mounts", &mounts));
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/self/mountinfo", &mountinfo));
  bool root = false;
  for (const auto& line : Lines(mounts)) {
    std::istringstream in(line);
    std::string source, point, type, opts;
    in >> source >> point >> type >> opts;
    if (point == "/") root = true;
    EXPECT_THAT(opts, MatchesRegex("(rw|ro)(,.*)?")) << line;
  }
  EXPECT_TRUE(root) << mounts;
  for (const auto& line : Lines(mountinfo)) {
    EXPECT_THAT(line, MatchesRegex("[0-9]+ [0-9]+ [0-9]+:[0-9]+ [^ ]+ [^ ]+ [^ ]+.* - [^ ]+ [^ ]+ [^ ]+")) << line;
  }
}

TEST(ProcPidTest, IDMaps) {
  for (const char* path : {"/proc/self/uid_map", "/proc/self/gid_map"}) {
    std::string s;
    ASSERT_NO_FATAL_FAILURE(ReadFile(path, &s));
    ASSERT_FALSE(s.empty()) << path;
    for (const auto& line : Lines(s)) {
      EXPECT_THAT(line, MatchesRegex(" *[0-9]+ +[0-9]+ +[0-9]+")) << path;
    }
  }
}

TEST(ProcPidTest, FilesBelongToTheProcessUser) {
  struct stat st;
  ASSERT_THAT(stat("/proc/self/status", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_EQ(st.st_gid, getegid());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  ASSERT_THAT(lstat("/proc/self/exe", &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_THAT(stat("/proc/self/fd", &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 07777, 0500u);
}

}  // namespace
}  // namespace testing
}  // namespace visor
