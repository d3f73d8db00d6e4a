// Tests for the system-wide files of /proc: /proc/self and /proc/thread-self,
// cpuinfo, meminfo, uptime, stat, loadavg, version, filesystems and /proc/sys.
// They check properties that hold on any Linux, not the host's values.

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
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

constexpr long kProcSuperMagic = 0x9fa0;

// Dirent64 is struct linux_dirent64, which libc does not declare.
struct Dirent64 {
  uint64_t ino;
  int64_t off;
  uint16_t reclen;
  uint8_t type;
  char name[];
};

// ReadFile returns the contents of path, read in small pieces as programs that
// use small buffers read /proc, or fails the test. Linux's /proc/sys files
// return only what the first read got (a numeric sysctl read at a non-zero offset
// is empty), so they are read in one go.
void ReadFile(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds()) << path;
  FileDescriptor f(fd);
  out->clear();
  char buf[4096];
  const size_t chunk = path.rfind("/proc/sys/", 0) == 0 ? sizeof(buf) : 13;
  for (;;) {
    ssize_t n = read(f.get(), buf, chunk);
    ASSERT_THAT(n, SyscallSucceeds()) << path;
    if (n == 0) return;
    out->append(buf, n);
  }
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Field returns the value of the "name<sep>value" line of s, trimmed.
std::string Field(const std::string& s, const std::string& name) {
  for (const auto& line : Lines(s)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key != name) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "";
}

std::string Readlink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return "<readlink failed: " + ErrnoName(errno) + ">";
  return std::string(buf, n);
}

TEST(ProcTest, SelfIsThisProcess) {
  EXPECT_EQ(Readlink("/proc/self"), std::to_string(getpid()));
  struct stat self, pid;
  ASSERT_THAT(stat("/proc/self", &self), SyscallSucceeds());
  ASSERT_THAT(stat(("/proc/" + std::to_string(getpid())).c_str(), &pid), SyscallSucceeds());
  EXPECT_EQ(self.st_ino, pid.st_ino);
  EXPECT_TRUE(S_ISDIR(self.st_mode));
}

TEST(ProcTest, ThreadSelfIsThisThread) {
  EXPECT_EQ(Readlink("/proc/thread-self"),
            std::to_string(getpid()) + "/task/" + std::to_string(gettid()));
}

TEST(ProcTest, SelfInForkedChildIsTheChild) {
  EXPECT_THAT(InForkedProcess([] {
                char buf[32];
                ssize_t n = readlink("/proc/self", buf, sizeof(buf));
                TEST_PCHECK(n > 0);
                TEST_CHECK(std::string(buf, n) == std::to_string(getpid()));
              }),
              ExitedWith(0));
}

TEST(ProcTest, ListsThisProcessAndSelf) {
  int fd = open("/proc", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(fd, SyscallSucceeds());
  FileDescriptor f(fd);
  std::set<std::string> names;
  char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, f.get(), buf, sizeof(buf));
    ASSERT_THAT(n, SyscallSucceeds());
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<Dirent64*>(buf + off);
      names.insert(d->name);
      off += d->reclen;
    }
  }
  EXPECT_TRUE(names.count(std::to_string(getpid())));
  EXPECT_TRUE(names.count("self"));
  EXPECT_TRUE(names.count("thread-self"));
  EXPECT_TRUE(names.count("cpuinfo"));
  EXPECT_TRUE(names.count("sys"));
}

TEST(ProcTest, IsProcfs) {
  struct statfs st;
  ASSERT_THAT(statfs("/proc", &st), SyscallSucceeds());
  EXPECT_EQ(st.f_type, kProcSuperMagic);
}

TEST(ProcTest, NamesCannotBeMade) {
  EXPECT_THAT(mkdir("/proc/visor-new", 0755), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open("/proc/visor-new", O_CREAT | O_WRONLY, 0644), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mkdir("/proc/self", 0755), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(open("/proc/2147483647/stat", O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open("/proc/cpuinfo/x", O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
}

TEST(ProcTest, MountsIsSelfMounts) { EXPECT_EQ(Readlink("/proc/mounts"), "self/mounts"); }

TEST(ProcTest, CpuinfoListsOnlineProcessors) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/cpuinfo", &s));
  int processors = 0;
  std::set<std::string> keys;
  for (const auto& line : Lines(s)) {
    if (line.rfind("processor\t:", 0) == 0) processors++;
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string key = line.substr(0, colon);
      key.erase(key.find_last_not_of(" \t") + 1);
      keys.insert(key);
    }
  }
  EXPECT_EQ(processors, sysconf(_SC_NPROCESSORS_ONLN));
  for (const char* key : {"vendor_id", "cpu family", "model", "model name", "flags", "cpu MHz"}) {
    EXPECT_TRUE(keys.count(key)) << "no " << key << " in\n" << s;
  }
  // Every x86-64 CPU has these.
  std::string flags = " " + Field(s, "flags") + " ";
  for (const char* flag : {"fpu", "tsc", "sse2", "lm"}) {
    EXPECT_THAT(flags, HasSubstr(std::string(" ") + flag + " "));
  }
}

TEST(ProcTest, MeminfoMatchesSysinfo) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/meminfo", &s));
  EXPECT_THAT(s, StartsWith("MemTotal:"));
  struct sysinfo si;
  ASSERT_THAT(sysinfo(&si), SyscallSucceeds());
  unsigned long long total_kb = 0, free_kb = 0, avail_kb = 0;
  ASSERT_EQ(sscanf(Field(s, "MemTotal").c_str(), "%llu kB", &total_kb), 1);
  ASSERT_EQ(sscanf(Field(s, "MemFree").c_str(), "%llu kB", &free_kb), 1);
  ASSERT_EQ(sscanf(Field(s, "MemAvailable").c_str(), "%llu kB", &avail_kb), 1);
  EXPECT_EQ(total_kb, static_cast<unsigned long long>(si.totalram) * si.mem_unit / 1024);
  EXPECT_LE(free_kb, total_kb);
  EXPECT_LE(avail_kb, total_kb);
  EXPECT_GT(free_kb, 0u);
  // Every line is "Name:   <n>[ kB]".
  for (const auto& line : Lines(s)) {
    EXPECT_THAT(line, MatchesRegex("[A-Za-z0-9_()]+: +[0-9]+( kB)?")) << line;
  }
}

TEST(ProcTest, UptimeIncreases) {
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/uptime", &a));
  usleep(50 * 1000);
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/uptime", &b));
  double up1, idle1, up2, idle2;
  ASSERT_EQ(sscanf(a.c_str(), "%lf %lf", &up1, &idle1), 2) << a;
  ASSERT_EQ(sscanf(b.c_str(), "%lf %lf", &up2, &idle2), 2) << b;
  EXPECT_THAT(a, MatchesRegex("[0-9]+\\.[0-9][0-9] [0-9]+\\.[0-9][0-9]\n"));
  EXPECT_GT(up2, up1);
  EXPECT_GE(idle1, 0);
}

TEST(ProcTest, UptimeRereadThroughOneDescriptor) {
  // A read at offset 0 regenerates the contents, as seq_file does.
  int fd = open("/proc/uptime", O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds());
  FileDescriptor f(fd);
  char buf[64] = {};
  ASSERT_THAT(pread(f.get(), buf, sizeof(buf) - 1, 0), SyscallSucceeds());
  double up1 = atof(buf);
  usleep(50 * 1000);
  ASSERT_THAT(pread(f.get(), buf, sizeof(buf) - 1, 0), SyscallSucceeds());
  EXPECT_GT(atof(buf), up1);
}

TEST(ProcTest, StatHasCpusAndBootTime) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/stat", &s));
  auto lines = Lines(s);
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines[0], MatchesRegex("cpu  [0-9]+( [0-9]+){9}"));
  int cpus = 0;
  long long btime = -1, processes = -1, running = -1;
  for (const auto& line : lines) {
    if (line.rfind("cpu", 0) == 0 && line.size() > 3 && isdigit(line[3])) cpus++;
    sscanf(line.c_str(), "btime %lld", &btime);
    sscanf(line.c_str(), "processes %lld", &processes);
    sscanf(line.c_str(), "procs_running %lld", &running);
  }
  EXPECT_EQ(cpus, sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GT(btime, 0);
  EXPECT_LE(btime, time(nullptr));
  EXPECT_GE(processes, 1);
  EXPECT_GE(running, 1);
}

TEST(ProcTest, LoadavgFormat) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/loadavg", &s));
  EXPECT_THAT(s, MatchesRegex("[0-9]+\\.[0-9]+ [0-9]+\\.[0-9]+ [0-9]+\\.[0-9]+ [0-9]+/[0-9]+ [0-9]+\n"));
}

TEST(ProcTest, VersionNamesTheRelease) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/version", &s));
  struct utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  EXPECT_THAT(s, StartsWith(std::string("Linux version ") + u.release + " "));
}

TEST(ProcTest, FilesystemsListsProc) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/filesystems", &s));
  EXPECT_THAT(s, HasSubstr("nodev\tproc\n"));
  for (const auto& line : Lines(s)) {
    EXPECT_THAT(line, MatchesRegex("(nodev)?\t[a-z0-9_.]+")) << line;
  }
}

TEST(ProcSysTest, KernelMatchesUname) {
  struct utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/osrelease", &s));
  EXPECT_EQ(s, std::string(u.release) + "\n");
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/ostype", &s));
  EXPECT_EQ(s, std::string(u.sysname) + "\n");
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/hostname", &s));
  EXPECT_EQ(s, std::string(u.nodename) + "\n");
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/version", &s));
  EXPECT_EQ(s, std::string(u.version) + "\n");
}

TEST(ProcSysTest, KernelLimits) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/pid_max", &s));
  EXPECT_GT(atol(s.c_str()), getpid());
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/cap_last_cap", &s));
  EXPECT_GE(atoi(s.c_str()), 37);  // CAP_AUDIT_READ, Linux 3.16
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/ngroups_max", &s));
  EXPECT_EQ(atol(s.c_str()), sysconf(_SC_NGROUPS_MAX));
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/fs/nr_open", &s));
  struct rlimit rl;
  ASSERT_THAT(getrlimit(RLIMIT_NOFILE, &rl), SyscallSucceeds());
  EXPECT_GE(static_cast<rlim_t>(atol(s.c_str())), rl.rlim_max);
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/vm/overcommit_memory", &s));
  EXPECT_THAT(s, MatchesRegex("[012]\n"));
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/sem", &s));
  EXPECT_THAT(s, MatchesRegex("[0-9]+\t[0-9]+\t[0-9]+\t[0-9]+\n"));
  for (const char* path : {"/proc/sys/kernel/shmmax", "/proc/sys/kernel/shmall", "/proc/sys/kernel/shmmni",
                           "/proc/sys/kernel/msgmni", "/proc/sys/vm/max_map_count", "/proc/sys/vm/mmap_min_addr",
                           "/proc/sys/fs/file-max", "/proc/sys/fs/pipe-max-size",
                           "/proc/sys/net/core/somaxconn"}) {
    ASSERT_NO_FATAL_FAILURE(ReadFile(path, &s));
    EXPECT_THAT(s, MatchesRegex("[0-9]+\n")) << path;
  }
}

TEST(ProcSysTest, BootIDIsStableUUIDAndUUIDIsNot) {
  const char kUUID[] = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n";
  std::string a, b;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/random/boot_id", &a));
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/random/boot_id", &b));
  EXPECT_THAT(a, MatchesRegex(kUUID));
  EXPECT_EQ(a, b);
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/random/uuid", &a));
  ASSERT_NO_FATAL_FAILURE(ReadFile("/proc/sys/kernel/random/uuid", &b));
  EXPECT_THAT(a, MatchesRegex(kUUID));
  EXPECT_NE(a, b);
}

TEST(ProcSysTest, FilesAreReadOnly) {
  EXPECT_THAT(open("/proc/sys/kernel/osrelease", O_WRONLY), SyscallFails());
  EXPECT_THAT(unlink("/proc/sys/kernel/osrelease"), SyscallFails());
}

}  // namespace
}  // namespace testing
}  // namespace visor
