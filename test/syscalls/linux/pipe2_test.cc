// Tests for pipe(2) and pipe2(2) themselves: flags, descriptor numbers and
// failures that must leave no descriptor behind.

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// LowestFreeFD returns the descriptor the next open would get.
int LowestFreeFD() {
  int fd = dup(0);
  if (fd < 0) {
    fd = open("/", O_RDONLY);
  }
  TEST_PCHECK(fd >= 0);
  close(fd);
  return fd;
}

TEST(Pipe2Test, FlagsApplyToBothEnds) {
  struct {
    int flags;
    bool cloexec;
    bool nonblock;
  } cases[] = {
      {0, false, false},
      {O_CLOEXEC, true, false},
      {O_NONBLOCK, false, true},
      {O_CLOEXEC | O_NONBLOCK, true, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flags);
    int fds[2];
    ASSERT_THAT(pipe2(fds, c.flags), SyscallSucceeds());
    FileDescriptor r(fds[0]), w(fds[1]);
    for (int fd : fds) {
      EXPECT_THAT(fcntl(fd, F_GETFD), SyscallSucceedsWithValue(c.cloexec ? FD_CLOEXEC : 0));
      EXPECT_EQ((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, c.nonblock);
    }
    EXPECT_EQ(fcntl(fds[0], F_GETFL) & O_ACCMODE, O_RDONLY);
    EXPECT_EQ(fcntl(fds[1], F_GETFL) & O_ACCMODE, O_WRONLY);
  }
}

TEST(Pipe2Test, UnknownFlagsFailWithEINVAL) {
  int fds[2];
  EXPECT_THAT(pipe2(fds, O_APPEND), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pipe2(fds, O_CREAT), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pipe2(fds, 0x40000000), SyscallFailsWithErrno(EINVAL));
}

TEST(Pipe2Test, PacketModeIsSupportedOrRefused) {
  int fds[2];
  int ret = pipe2(fds, O_DIRECT);
  if (IsRunningOnVisor()) {
    // Visor's pipes have no packet mode; pipe2 says so rather than ignore it.
    EXPECT_THAT(ret, SyscallFailsWithErrno(EINVAL));
    return;
  }
  ASSERT_THAT(ret, SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  // In packet mode each write is one read.
  ASSERT_THAT(write(fds[1], "ab", 2), SyscallSucceedsWithValue(2));
  ASSERT_THAT(write(fds[1], "cde", 3), SyscallSucceedsWithValue(3));
  char buf[16];
  EXPECT_THAT(read(fds[0], buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_THAT(read(fds[0], buf, sizeof(buf)), SyscallSucceedsWithValue(3));
}

TEST(Pipe2Test, UsesLowestFreeDescriptors) {
  int lowest = LowestFreeFD();
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  EXPECT_EQ(fds[0], lowest);
  EXPECT_GT(fds[1], fds[0]);
}

TEST(Pipe2Test, BadAddressLeaksNoDescriptor) {
  int before = LowestFreeFD();
  EXPECT_THAT(syscall(SYS_pipe2, reinterpret_cast<int*>(8), 0), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(syscall(SYS_pipe, reinterpret_cast<int*>(8)), SyscallFailsWithErrno(EFAULT));
  EXPECT_EQ(LowestFreeFD(), before);
}

TEST(Pipe2Test, ReadOnlyAddressFailsWithEFAULT) {
  void* page = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  int before = LowestFreeFD();
  EXPECT_THAT(syscall(SYS_pipe2, page, 0), SyscallFailsWithErrno(EFAULT));
  EXPECT_EQ(LowestFreeFD(), before);
  munmap(page, 4096);
}

TEST(Pipe2Test, EndsAreFIFOs) {
  int fds[2];
  ASSERT_THAT(pipe2(fds, 0), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  struct stat rs, ws;
  ASSERT_THAT(fstat(fds[0], &rs), SyscallSucceeds());
  ASSERT_THAT(fstat(fds[1], &ws), SyscallSucceeds());
  EXPECT_TRUE(S_ISFIFO(rs.st_mode));
  EXPECT_EQ(rs.st_ino, ws.st_ino);
  EXPECT_EQ(rs.st_dev, ws.st_dev);
}

TEST(Pipe2Test, NonblockingEndsFailWithEAGAIN) {
  int fds[2];
  ASSERT_THAT(pipe2(fds, O_NONBLOCK), SyscallSucceeds());
  FileDescriptor r(fds[0]), w(fds[1]);
  char c;
  EXPECT_THAT(read(fds[0], &c, 1), SyscallFailsWithErrno(EAGAIN));
}

}  // namespace
}  // namespace testing
}  // namespace visor
