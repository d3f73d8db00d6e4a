// Tests for uname(2).

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

using ::testing::MatchesRegex;

// ReadProcSysKernel returns the first line of /proc/sys/kernel/<name>, or
// false if it cannot be read (a sandbox may not mount /proc/sys).
bool ReadProcSysKernel(const std::string& name, std::string* value) {
  std::ifstream f("/proc/sys/kernel/" + name);
  if (!f) return false;
  return static_cast<bool>(std::getline(f, *value));
}

TEST(UnameTest, FieldsAreNulTerminated) {
  struct utsname u;
  // Fill with non-zero bytes so a field the kernel did not terminate shows.
  memset(&u, 'x', sizeof(u));
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  EXPECT_LT(strnlen(u.sysname, sizeof(u.sysname)), sizeof(u.sysname));
  EXPECT_LT(strnlen(u.nodename, sizeof(u.nodename)), sizeof(u.nodename));
  EXPECT_LT(strnlen(u.release, sizeof(u.release)), sizeof(u.release));
  EXPECT_LT(strnlen(u.version, sizeof(u.version)), sizeof(u.version));
  EXPECT_LT(strnlen(u.machine, sizeof(u.machine)), sizeof(u.machine));
  EXPECT_LT(strnlen(u.domainname, sizeof(u.domainname)), sizeof(u.domainname));
}

TEST(UnameTest, SysnameAndMachine) {
  struct utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  EXPECT_STREQ(u.sysname, "Linux");
  EXPECT_STREQ(u.machine, "x86_64");
}

TEST(UnameTest, ReleaseLooksLikeAKernelVersion) {
  struct utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  // Programs (glibc among them) parse "major.minor" out of the release.
  EXPECT_THAT(u.release, MatchesRegex("[0-9]+\\.[0-9]+.*"));
  EXPECT_GT(strlen(u.version), 0u);
}

TEST(UnameTest, NodenameIsHostname) {
  struct utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  char hostname[HOST_NAME_MAX + 1];
  ASSERT_THAT(gethostname(hostname, sizeof(hostname)), SyscallSucceeds());
  EXPECT_STREQ(u.nodename, hostname);
}

TEST(UnameTest, MatchesProcSysKernel) {
  struct utsname u;
  ASSERT_THAT(uname(&u), SyscallSucceeds());
  std::string ostype, osrelease, hostname;
  if (!ReadProcSysKernel("ostype", &ostype) || !ReadProcSysKernel("osrelease", &osrelease) ||
      !ReadProcSysKernel("hostname", &hostname)) {
    GTEST_SKIP() << "/proc/sys/kernel/{ostype,osrelease,hostname} not readable";
  }
  EXPECT_EQ(ostype, u.sysname);
  EXPECT_EQ(osrelease, u.release);
  EXPECT_EQ(hostname, u.nodename);
}

TEST(UnameTest, BadAddressFails) {
  // Through syscall(2): glibc's uname() is declared nonnull.
  EXPECT_THAT(syscall(SYS_uname, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_uname, reinterpret_cast<void*>(1)), SyscallFailsWithErrno(EFAULT));
}

}  // namespace
}  // namespace testing
}  // namespace visor
