// Tests for prctl(2): thread names, the parent-death signal, no_new_privs,
// child subreapers, dumpability and errors.

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

std::string GetName() {
  char name[32] = {};
  EXPECT_THAT(prctl(PR_GET_NAME, name, 0, 0, 0), SyscallSucceeds());
  return name;
}

// ScopedName restores this thread's name when destroyed.
class ScopedName {
 public:
  ScopedName() : saved_(GetName()) {}
  ~ScopedName() { prctl(PR_SET_NAME, saved_.c_str(), 0, 0, 0); }

 private:
  std::string saved_;
};

TEST(PrctlTest, SetAndGetName) {
  ScopedName restore;
  ASSERT_THAT(prctl(PR_SET_NAME, "visor-test", 0, 0, 0), SyscallSucceeds());
  EXPECT_EQ(GetName(), "visor-test");
  // The comm is 16 bytes with the terminator: longer names are truncated to
  // 15 characters.
  ASSERT_THAT(prctl(PR_SET_NAME, "0123456789abcdefghij", 0, 0, 0), SyscallSucceeds());
  EXPECT_EQ(GetName(), "0123456789abcde");
  ASSERT_THAT(prctl(PR_SET_NAME, "", 0, 0, 0), SyscallSucceeds());
  EXPECT_EQ(GetName(), "");
  EXPECT_THAT(prctl(PR_SET_NAME, reinterpret_cast<char*>(8), 0, 0, 0),
              SyscallFailsWithErrno(EFAULT));
}

void* ReportName(void* arg) {
  char* out = static_cast<char*>(arg);
  prctl(PR_GET_NAME, out, 0, 0, 0);
  prctl(PR_SET_NAME, "other-thread", 0, 0, 0);
  return nullptr;
}

TEST(PrctlTest, NameIsPerThreadAndInherited) {
  ScopedName restore;
  ASSERT_THAT(prctl(PR_SET_NAME, "parent-name", 0, 0, 0), SyscallSucceeds());
  char thread_name[32] = {};
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, ReportName, thread_name), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_STREQ(thread_name, "parent-name");  // Inherited at creation.
  EXPECT_EQ(GetName(), "parent-name");       // The thread's rename stayed there.
  EXPECT_THAT(InForkedProcess([] {
                char name[32] = {};
                TEST_PCHECK(prctl(PR_GET_NAME, name, 0, 0, 0) == 0);
                TEST_CHECK(strcmp(name, "parent-name") == 0);
              }),
              ExitedWith(0));
}

TEST(PrctlTest, PdeathsigIsDeliveredWhenTheParentDies) {
  // The forked child is a subreaper, so the grandchild is reparented to it
  // and it can collect the grandchild's status.
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
                int ready[2], grandchild_pipe[2];
                TEST_PCHECK(pipe(ready) == 0);
                TEST_PCHECK(pipe(grandchild_pipe) == 0);
                const pid_t middle = fork();
                TEST_PCHECK(middle >= 0);
                if (middle == 0) {
                  const pid_t me = getpid();
                  const pid_t grandchild = fork();
                  TEST_PCHECK(grandchild >= 0);
                  if (grandchild == 0) {
                    TEST_PCHECK(prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == 0);
                    int sig = 0;
                    TEST_PCHECK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) == 0);
                    TEST_CHECK(sig == SIGTERM);
                    // If the parent already died, the signal will not come.
                    TEST_CHECK(getppid() == me);
                    TEST_PCHECK(write(ready[1], "r", 1) == 1);
                    for (;;) pause();
                  }
                  TEST_PCHECK(write(grandchild_pipe[1], &grandchild, sizeof(grandchild)) ==
                              sizeof(grandchild));
                  char c;
                  TEST_PCHECK(read(ready[0], &c, 1) == 1);
                  _exit(0);  // The grandchild gets SIGTERM now.
                }
                pid_t grandchild = 0;
                TEST_PCHECK(read(grandchild_pipe[0], &grandchild, sizeof(grandchild)) ==
                            sizeof(grandchild));
                int status = 0;
                TEST_PCHECK(waitpid(middle, &status, 0) == middle);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                TEST_PCHECK(waitpid(grandchild, &status, 0) == grandchild);
                TEST_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
              }),
              ExitedWith(0));
}

TEST(PrctlTest, PdeathsigIsClearedInForkedChildrenAndValidated) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_PCHECK(prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0) == 0);
                const pid_t child = fork();
                TEST_PCHECK(child >= 0);
                if (child == 0) {
                  int sig = -1;
                  TEST_PCHECK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) == 0);
                  TEST_CHECK(sig == 0);
                  _exit(0);
                }
                int status = 0;
                TEST_PCHECK(waitpid(child, &status, 0) == child);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                TEST_CHECK(prctl(PR_SET_PDEATHSIG, 65, 0, 0, 0) == -1 && errno == EINVAL);
                TEST_PCHECK(prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) == 0);
                int sig = -1;
                TEST_PCHECK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) == 0);
                TEST_CHECK(sig == 0);
              }),
              ExitedWith(0));
}

TEST(PrctlTest, NoNewPrivsIsOneWayAndInherited) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
                TEST_PCHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
                TEST_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
                // It cannot be cleared; other arguments must be 0.
                TEST_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) == -1 && errno == EINVAL);
                TEST_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0) == -1 && errno == EINVAL);
                TEST_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
                const pid_t child = fork();
                TEST_PCHECK(child >= 0);
                if (child == 0) _exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
                int status = 0;
                TEST_PCHECK(waitpid(child, &status, 0) == child);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
              }),
              ExitedWith(0));
}

TEST(PrctlTest, ChildSubreaperFlag) {
  EXPECT_THAT(InForkedProcess([] {
                int flag = -1;
                TEST_PCHECK(prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) == 0);
                TEST_CHECK(flag == 0);
                TEST_PCHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
                TEST_PCHECK(prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) == 0);
                TEST_CHECK(flag == 1);
                // Not inherited by children.
                const pid_t child = fork();
                TEST_PCHECK(child >= 0);
                if (child == 0) {
                  int f = -1;
                  TEST_PCHECK(prctl(PR_GET_CHILD_SUBREAPER, &f, 0, 0, 0) == 0);
                  _exit(f == 0 ? 0 : 1);
                }
                int status = 0;
                TEST_PCHECK(waitpid(child, &status, 0) == child);
                TEST_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                TEST_PCHECK(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) == 0);
                TEST_PCHECK(prctl(PR_GET_CHILD_SUBREAPER, &flag, 0, 0, 0) == 0);
                TEST_CHECK(flag == 0);
              }),
              ExitedWith(0));
}

TEST(PrctlTest, Dumpable) {
  EXPECT_THAT(InForkedProcess([] {
                TEST_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);
                TEST_PCHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0);
                TEST_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
                // Only 0 and 1 may be set.
                TEST_CHECK(prctl(PR_SET_DUMPABLE, 2, 0, 0, 0) == -1 && errno == EINVAL);
                TEST_PCHECK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0);
                TEST_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);
              }),
              ExitedWith(0));
}

TEST(PrctlTest, CapabilityBoundingSetQueries) {
  // Whatever the set holds, the answer for a valid capability is 0 or 1.
  EXPECT_THAT(prctl(PR_CAPBSET_READ, 0 /* CAP_CHOWN */, 0, 0, 0),
              SyscallSucceedsWithValue(::testing::AnyOf(0, 1)));
  EXPECT_THAT(prctl(PR_CAPBSET_READ, 1000, 0, 0, 0), SyscallFailsWithErrno(EINVAL));
}

TEST(PrctlTest, UnknownOptionIsEINVAL) {
  EXPECT_THAT(prctl(0x7fff1234, 0, 0, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0), SyscallFailsWithErrno(EINVAL));
}

}  // namespace
}  // namespace testing
}  // namespace visor
