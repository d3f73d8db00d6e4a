// Tests for /sys: the CPU lists, the per-CPU directories, the cgroup mount point
// and transparent_hugepage/enabled. They check the files' formats and their
// agreement with sysconf, not the host's values.

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

using ::testing::AnyOf;
using ::testing::MatchesRegex;

constexpr long kSysfsMagic = 0x62656572;

void ReadFile(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds()) << path;
  FileDescriptor f(fd);
  char buf[4096];
  ssize_t n = read(f.get(), buf, sizeof(buf));
  ASSERT_THAT(n, SyscallSucceeds()) << path;
  out->assign(buf, n);
}

// ParseCPUList parses a CPU list ("0-3,5,7-8\n") into the CPUs it names.
bool ParseCPUList(const std::string& s, std::set<int>* cpus) {
  if (s.empty() || s.back() != '\n') return false;
  std::istringstream in(s.substr(0, s.size() - 1));
  for (std::string range; std::getline(in, range, ',');) {
    int lo, hi;
    char dash;
    std::istringstream r(range);
    if (!(r >> lo)) return false;
    hi = lo;
    if (r >> dash) {
      if (dash != '-' || !(r >> hi) || hi < lo) return false;
    }
    for (int c = lo; c <= hi; c++) cpus->insert(c);
  }
  return true;
}

TEST(SysfsTest, IsSysfs) {
  struct statfs st;
  ASSERT_THAT(statfs("/sys", &st), SyscallSucceeds());
  EXPECT_EQ(st.f_type, kSysfsMagic);
}

TEST(SysfsCPUTest, OnlineMatchesSysconf) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/sys/devices/system/cpu/online", &s));
  std::set<int> online;
  ASSERT_TRUE(ParseCPUList(s, &online)) << s;
  EXPECT_EQ(static_cast<long>(online.size()), sysconf(_SC_NPROCESSORS_ONLN));
  // Every online CPU has a directory.
  for (int cpu : online) {
    struct stat st;
    std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu);
    ASSERT_THAT(stat(dir.c_str(), &st), SyscallSucceeds()) << dir;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
  }
}

TEST(SysfsCPUTest, OnlineWithinPresentWithinPossible) {
  std::set<int> online, present, possible;
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/sys/devices/system/cpu/online", &s));
  ASSERT_TRUE(ParseCPUList(s, &online)) << s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/sys/devices/system/cpu/present", &s));
  ASSERT_TRUE(ParseCPUList(s, &present)) << s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/sys/devices/system/cpu/possible", &s));
  ASSERT_TRUE(ParseCPUList(s, &possible)) << s;
  for (int cpu : online) EXPECT_TRUE(present.count(cpu)) << cpu;
  for (int cpu : present) EXPECT_TRUE(possible.count(cpu)) << cpu;
  EXPECT_GE(possible.size(), online.size());
}

TEST(SysfsTest, CgroupMountPoint) {
  struct stat st;
  ASSERT_THAT(stat("/sys/fs/cgroup", &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(SysfsTest, TransparentHugepageEnabled) {
  std::string s;
  ASSERT_NO_FATAL_FAILURE(ReadFile("/sys/kernel/mm/transparent_hugepage/enabled", &s));
  // The three choices, the current one in brackets.
  EXPECT_THAT(s, AnyOf("[always] madvise never\n", "always [madvise] never\n", "always madvise [never]\n"));
}

TEST(SysfsTest, ReadOnly) {
  EXPECT_THAT(open("/sys/devices/system/cpu/online", O_WRONLY), SyscallFailsWithErrno(EACCES));
  // EROFS where /sys is mounted read-only, as container runtimes do.
  int rv = mkdir("/sys/visor-new", 0755);
  int e = errno;
  EXPECT_EQ(rv, -1);
  EXPECT_THAT(e, AnyOf(EPERM, EROFS)) << ErrnoName(e);
  rv = unlink("/sys/devices/system/cpu/online");
  e = errno;
  EXPECT_EQ(rv, -1);
  EXPECT_THAT(e, AnyOf(EPERM, EROFS)) << ErrnoName(e);
  EXPECT_THAT(open("/sys/devices/system/cpu/visor-new", O_RDONLY), SyscallFailsWithErrno(ENOENT));
}

}  // namespace
}  // namespace testing
}  // namespace visor
