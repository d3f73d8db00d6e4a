// Tests for terminal ioctls on a pseudo-terminal: termios, window size, the
// foreground process group and the controlling terminal. The suite skips when
// the system offers no pseudo-terminals.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

class TTYTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 && (errno == ENOENT || errno == EACCES || errno == ENODEV)) {
      GTEST_SKIP() << "no pseudo-terminals: " << ErrnoName(errno);
    }
    ASSERT_THAT(m, SyscallSucceeds());
    master_.reset(m);
    ASSERT_THAT(grantpt(m), SyscallSucceeds());
    ASSERT_THAT(unlockpt(m), SyscallSucceeds());
    char* name = ptsname(m);
    ASSERT_NE(name, nullptr);
    slave_name_ = name;
    int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_THAT(s, SyscallSucceeds());
    slave_.reset(s);
  }

  FileDescriptor master_;
  FileDescriptor slave_;
  std::string slave_name_;
};

TEST_F(TTYTest, IsATerminal) {
  EXPECT_EQ(isatty(slave_.get()), 1);
  struct stat st;
  ASSERT_THAT(fstat(slave_.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(TTYTest, TermiosRoundTrip) {
  struct termios t;
  ASSERT_THAT(ioctl(slave_.get(), TCGETS, &t), SyscallSucceeds());
  t.c_lflag &= ~(ECHO | ICANON);
  t.c_cc[VMIN] = 1;
  for (unsigned long req : {TCSETS, TCSETSW, TCSETSF}) {
    ASSERT_THAT(ioctl(slave_.get(), req, &t), SyscallSucceeds());
    struct termios got;
    ASSERT_THAT(ioctl(slave_.get(), TCGETS, &got), SyscallSucceeds());
    EXPECT_EQ(got.c_lflag & (ECHO | ICANON), 0u);
    EXPECT_EQ(got.c_cc[VMIN], 1);
  }
}

TEST_F(TTYTest, CanonicalModeDeliversLines) {
  struct termios t;
  ASSERT_THAT(tcgetattr(slave_.get(), &t), SyscallSucceeds());
  t.c_lflag |= ICANON;
  t.c_lflag &= ~ECHO;
  ASSERT_THAT(tcsetattr(slave_.get(), TCSANOW, &t), SyscallSucceeds());
  ASSERT_THAT(write(master_.get(), "ab", 2), SyscallSucceeds());
  struct pollfd pfd = {slave_.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 50), SyscallSucceedsWithValue(0));
  ASSERT_THAT(write(master_.get(), "\n", 1), SyscallSucceeds());
  ASSERT_THAT(poll(&pfd, 1, 10000), SyscallSucceedsWithValue(1));
  int n = 0;
  ASSERT_THAT(ioctl(slave_.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 3);
  char buf[8];
  EXPECT_THAT(read(slave_.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
}

TEST_F(TTYTest, WindowSizeRoundTrip) {
  struct winsize ws = {};
  ws.ws_row = 42;
  ws.ws_col = 132;
  ASSERT_THAT(ioctl(slave_.get(), TIOCSWINSZ, &ws), SyscallSucceeds());
  struct winsize got = {};
  ASSERT_THAT(ioctl(slave_.get(), TIOCGWINSZ, &got), SyscallSucceeds());
  EXPECT_EQ(got.ws_row, 42);
  EXPECT_EQ(got.ws_col, 132);
}

TEST_F(TTYTest, ForegroundGroupNeedsControllingTerminal) {
  pid_t pgrp;
  EXPECT_THAT(ioctl(slave_.get(), TIOCGPGRP, &pgrp), SyscallFailsWithErrno(ENOTTY));
  EXPECT_THAT(ioctl(slave_.get(), TIOCSPGRP, &pgrp), SyscallFailsWithErrno(ENOTTY));
}

TEST_F(TTYTest, ControllingTerminalInNewSession) {
  const std::string name = slave_name_;
  EXPECT_THAT(InForkedProcess([&] {
                TEST_PCHECK(setsid() >= 0);
                int fd = open(name.c_str(), O_RDWR | O_NOCTTY);
                TEST_PCHECK(fd >= 0);
                TEST_PCHECK(ioctl(fd, TIOCSCTTY, 0) == 0);
                pid_t pgrp = -1;
                TEST_PCHECK(ioctl(fd, TIOCGPGRP, &pgrp) == 0);
                TEST_CHECK(pgrp == getpgrp());
                pid_t sid = -1;
                TEST_PCHECK(ioctl(fd, TIOCGSID, &sid) == 0);
                TEST_CHECK(sid == getsid(0));
                TEST_PCHECK(ioctl(fd, TIOCSPGRP, &pgrp) == 0);
                pid_t bad = -1;
                TEST_CHECK(ioctl(fd, TIOCSPGRP, &bad) == -1 && errno == EINVAL);
                // A process group that does not exist.
                pid_t missing = 0x3ffffff0;
                TEST_CHECK(ioctl(fd, TIOCSPGRP, &missing) == -1 && errno == ESRCH);
                TEST_CHECK(tcgetpgrp(fd) == getpgrp());
                // Giving it up: it is nobody's controlling terminal any more.
                signal(SIGHUP, SIG_IGN);
                TEST_PCHECK(ioctl(fd, TIOCNOTTY) == 0);
                TEST_CHECK(ioctl(fd, TIOCGPGRP, &pgrp) == -1 && errno == ENOTTY);
              }),
              ExitedWith(0));
}

TEST_F(TTYTest, OnlySessionLeadersTakeATerminal) {
  const int fd = slave_.get();
  EXPECT_THAT(InForkedProcess([&] {
                // Not a session leader (the test's session is its parent's).
                if (getsid(0) == getpid()) {
                  return;
                }
                TEST_CHECK(ioctl(fd, TIOCSCTTY, 0) == -1 && errno == EPERM);
              }),
              ExitedWith(0));
}

TEST(TTYIoctlTest, PipeIsNotATerminal) {
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_CLOEXEC), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  struct termios t;
  EXPECT_THAT(ioctl(fds[0], TCGETS, &t), SyscallFailsWithErrno(ENOTTY));
  struct winsize ws;
  EXPECT_THAT(ioctl(fds[0], TIOCGWINSZ, &ws), SyscallFailsWithErrno(ENOTTY));
  EXPECT_EQ(isatty(fds[0]), 0);
}

}  // namespace
}  // namespace testing
}  // namespace visor
