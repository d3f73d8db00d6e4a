// Tests for changing user and group ids (setuid(2), setresuid(2),
// setgroups(2)...) and how that changes capabilities. Every change happens in
// a forked child that starts as root.

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

constexpr uid_t kNobody = 65534;
constexpr uid_t kOther = 65533;

struct Caps {
  uint64_t effective;
  uint64_t permitted;
  uint64_t inheritable;
};

// GetCaps reads this thread's capability sets with the raw capget(2).
bool GetCaps(Caps* caps) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  caps->effective = data[0].effective | (static_cast<uint64_t>(data[1].effective) << 32);
  caps->permitted = data[0].permitted | (static_cast<uint64_t>(data[1].permitted) << 32);
  caps->inheritable = data[0].inheritable | (static_cast<uint64_t>(data[1].inheritable) << 32);
  return true;
}

constexpr uint64_t Bit(int cap) { return uint64_t{1} << cap; }

// SetuidTest skips unless the test runs as root with CAP_SETUID and
// CAP_SETGID, which every case needs to switch identities.
class SetuidTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Caps caps;
    ASSERT_TRUE(GetCaps(&caps)) << ErrnoName(errno);
    if (getuid() != 0 || !(caps.effective & Bit(CAP_SETUID)) ||
        !(caps.effective & Bit(CAP_SETGID))) {
      GTEST_SKIP() << "needs root with CAP_SETUID and CAP_SETGID";
    }
  }
};

TEST_F(SetuidTest, DroppingAllUidsCannotBeUndone) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(setresuid(kNobody, kNobody, kNobody) == 0);
                uid_t r, e, s;
                TEST_PCHECK(getresuid(&r, &e, &s) == 0);
                TEST_CHECK(r == kNobody && e == kNobody && s == kNobody);
                TEST_CHECK(setresuid(0, 0, 0) == -1 && errno == EPERM);
                TEST_CHECK(setuid(0) == -1 && errno == EPERM);
                TEST_CHECK(seteuid(0) == -1 && errno == EPERM);
                TEST_CHECK(setresuid(kOther, -1, -1) == -1 && errno == EPERM);
                // Unchanged by the failures.
                TEST_PCHECK(getresuid(&r, &e, &s) == 0);
                TEST_CHECK(r == kNobody && e == kNobody && s == kNobody);
              }),
              ExitedWith(0));
}

TEST_F(SetuidTest, RootSetuidSetsAllThree) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(setuid(kNobody) == 0);
                uid_t r, e, s;
                TEST_PCHECK(getresuid(&r, &e, &s) == 0);
                TEST_CHECK(r == kNobody && e == kNobody && s == kNobody);
                TEST_CHECK(setfsuid(-1) == static_cast<int>(kNobody));
              }),
              ExitedWith(0));
}

TEST_F(SetuidTest, SavedUidAllowsTemporaryDrop) {
  EXPECT_THAT(InForkedProcess([] {
                // Drop the effective uid only: the saved uid stays root.
                TEST_PCHECK(seteuid(kNobody) == 0);
                uid_t r, e, s;
                TEST_PCHECK(getresuid(&r, &e, &s) == 0);
                TEST_CHECK(r == 0 && e == kNobody && s == 0);
                // Unprivileged now: may only pick among real, effective and
                // saved ids.
                TEST_CHECK(setresuid(-1, kOther, -1) == -1 && errno == EPERM);
                TEST_PCHECK(seteuid(0) == 0);
                TEST_CHECK(geteuid() == 0);
                // And as a non-root real uid, swapping among the three is
                // allowed.
                TEST_PCHECK(setresuid(kNobody, kOther, 0) == 0);
                TEST_PCHECK(setresuid(kOther, kNobody, -1) == 0);
                TEST_PCHECK(getresuid(&r, &e, &s) == 0);
                TEST_CHECK(r == kOther && e == kNobody && s == 0);
                TEST_PCHECK(setresuid(-1, 0, -1) == 0);
              }),
              ExitedWith(0));
}

TEST_F(SetuidTest, UnprivilegedCannotChangeGroups) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(setgroups(0, nullptr) == 0);
                TEST_PCHECK(setresgid(kNobody, kNobody, kNobody) == 0);
                TEST_PCHECK(setresuid(kNobody, kNobody, kNobody) == 0);
                const gid_t g = 0;
                TEST_CHECK(setgroups(1, &g) == -1 && errno == EPERM);
                TEST_CHECK(setgid(0) == -1 && errno == EPERM);
                TEST_CHECK(setresgid(-1, kOther, -1) == -1 && errno == EPERM);
                // Setting to the current gid is allowed.
                TEST_PCHECK(setgid(kNobody) == 0);
              }),
              ExitedWith(0));
}

TEST_F(SetuidTest, SetuidFromRootClearsCapabilitiesButNotTheBoundingSet) {
  EXPECT_THAT(InForkedProcess([] {
                Caps caps;
                TEST_PCHECK(GetCaps(&caps));
                TEST_CHECK(caps.effective & Bit(CAP_SETUID));
                TEST_CHECK(caps.permitted & Bit(CAP_SETUID));
                TEST_PCHECK(prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0) == 1);

                TEST_PCHECK(setresuid(kNobody, kNobody, kNobody) == 0);
                TEST_PCHECK(GetCaps(&caps));
                TEST_CHECK(caps.effective == 0);
                TEST_CHECK(caps.permitted == 0);
                // The bounding set is not a capability set of the process's
                // current powers: it is unchanged.
                TEST_PCHECK(prctl(PR_CAPBSET_READ, CAP_SETUID, 0, 0, 0) == 1);
                // Without CAP_SETPCAP, it cannot be reduced either.
                TEST_CHECK(prctl(PR_CAPBSET_DROP, CAP_SETUID, 0, 0, 0) == -1 && errno == EPERM);
              }),
              ExitedWith(0));
}

TEST_F(SetuidTest, EffectiveUidChangeTogglesEffectiveCapabilities) {
  EXPECT_THAT(InForkedProcess([] {
                Caps before;
                TEST_PCHECK(GetCaps(&before));
                TEST_PCHECK(seteuid(kNobody) == 0);
                Caps caps;
                TEST_PCHECK(GetCaps(&caps));
                // Effective set cleared, permitted kept (the saved uid is 0).
                TEST_CHECK(caps.effective == 0);
                TEST_CHECK(caps.permitted == before.permitted);
                TEST_PCHECK(seteuid(0) == 0);
                TEST_PCHECK(GetCaps(&caps));
                TEST_CHECK(caps.effective == before.permitted);
              }),
              ExitedWith(0));
}

TEST_F(SetuidTest, KeepCapsKeepsPermittedAcrossSetuid) {
  EXPECT_THAT(InForkedProcess([] {
                Caps before;
                TEST_PCHECK(GetCaps(&before));
                TEST_PCHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0);
                TEST_PCHECK(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 1);
                TEST_PCHECK(setresuid(kNobody, kNobody, kNobody) == 0);
                Caps caps;
                TEST_PCHECK(GetCaps(&caps));
                TEST_CHECK(caps.effective == 0);
                TEST_CHECK(caps.permitted == before.permitted);
              }),
              ExitedWith(0));
}

TEST(CapgetTest, BadVersionIsEINVALAndReportsPreferred) {
  struct __user_cap_header_struct header = {0x12345678, 0};
  struct __user_cap_data_struct data[2] = {};
  EXPECT_THAT(syscall(SYS_capget, &header, data), SyscallFailsWithErrno(EINVAL));
  EXPECT_EQ(header.version, static_cast<uint32_t>(_LINUX_CAPABILITY_VERSION_3));
  // A null data pointer just queries the version.
  header.version = 0;
  EXPECT_THAT(syscall(SYS_capget, &header, nullptr), SyscallSucceeds());
  EXPECT_EQ(header.version, static_cast<uint32_t>(_LINUX_CAPABILITY_VERSION_3));
}

}  // namespace
}  // namespace testing
}  // namespace visor
