// Tests for eventfd(2) and eventfd2(2): counter and semaphore semantics, flags,
// blocking and readiness.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

FileDescriptor NewEventfd(unsigned int init, int flags) {
  int fd = eventfd(init, flags);
  TEST_PCHECK(fd >= 0);
  return FileDescriptor(fd);
}

TEST(EventfdTest, ReadReturnsAndResetsCounter) {
  FileDescriptor efd = NewEventfd(5, EFD_NONBLOCK);
  uint64_t v = 3;
  ASSERT_THAT(write(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  ASSERT_THAT(read(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(v, 8u);
  EXPECT_THAT(read(efd.get(), &v, sizeof(v)), SyscallFailsWithErrno(EAGAIN));
}

TEST(EventfdTest, SemaphoreReadsOneAtATime) {
  FileDescriptor efd = NewEventfd(2, EFD_NONBLOCK | EFD_SEMAPHORE);
  uint64_t v = 0;
  for (int i = 0; i < 2; i++) {
    ASSERT_THAT(read(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
    EXPECT_EQ(v, 1u);
  }
  EXPECT_THAT(read(efd.get(), &v, sizeof(v)), SyscallFailsWithErrno(EAGAIN));
}

TEST(EventfdTest, ShortBuffersFailWithEINVAL) {
  FileDescriptor efd = NewEventfd(1, EFD_NONBLOCK);
  uint32_t small = 1;
  EXPECT_THAT(read(efd.get(), &small, sizeof(small)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(write(efd.get(), &small, sizeof(small)), SyscallFailsWithErrno(EINVAL));
  // A longer buffer is fine: 8 bytes move.
  char big[16] = {};
  EXPECT_THAT(read(efd.get(), big, sizeof(big)), SyscallSucceedsWithValue(8));
}

TEST(EventfdTest, WriteOfMaxValueFailsWithEINVAL) {
  FileDescriptor efd = NewEventfd(0, EFD_NONBLOCK);
  uint64_t v = UINT64_MAX;
  EXPECT_THAT(write(efd.get(), &v, sizeof(v)), SyscallFailsWithErrno(EINVAL));
}

TEST(EventfdTest, OverflowWouldBlock) {
  FileDescriptor efd = NewEventfd(0, EFD_NONBLOCK);
  uint64_t v = UINT64_MAX - 1;
  ASSERT_THAT(write(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  v = 1;
  EXPECT_THAT(write(efd.get(), &v, sizeof(v)), SyscallFailsWithErrno(EAGAIN));
  struct pollfd pfd = {efd.get(), POLLIN | POLLOUT, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
}

TEST(EventfdTest, BlockingWriteWaitsForRead) {
  FileDescriptor efd = NewEventfd(0, 0);
  uint64_t v = UINT64_MAX - 1;
  ASSERT_THAT(write(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  std::thread reader([&] {
    usleep(50 * 1000);
    uint64_t got;
    TEST_PCHECK(read(efd.get(), &got, sizeof(got)) == 8);
  });
  v = 7;
  EXPECT_THAT(write(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  reader.join();
  ASSERT_THAT(read(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(v, 7u);
}

TEST(EventfdTest, BlockingReadWaitsForWrite) {
  FileDescriptor efd = NewEventfd(0, 0);
  std::thread writer([&] {
    usleep(50 * 1000);
    uint64_t v = 42;
    TEST_PCHECK(write(efd.get(), &v, sizeof(v)) == 8);
  });
  uint64_t v = 0;
  EXPECT_THAT(read(efd.get(), &v, sizeof(v)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(v, 42u);
  writer.join();
}

TEST(EventfdTest, Readiness) {
  FileDescriptor efd = NewEventfd(0, EFD_NONBLOCK);
  struct pollfd pfd = {efd.get(), POLLIN | POLLOUT, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLOUT);
  uint64_t v = 1;
  ASSERT_THAT(write(efd.get(), &v, sizeof(v)), SyscallSucceeds());
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN | POLLOUT);
}

TEST(EventfdTest, Flags) {
  FileDescriptor efd = NewEventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  EXPECT_THAT(fcntl(efd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  int fl = fcntl(efd.get(), F_GETFL);
  EXPECT_EQ(fl & O_NONBLOCK, O_NONBLOCK);
  EXPECT_EQ(fl & O_ACCMODE, O_RDWR);
  FileDescriptor plain = NewEventfd(0, 0);
  EXPECT_THAT(fcntl(plain.get(), F_GETFD), SyscallSucceedsWithValue(0));
  EXPECT_EQ(fcntl(plain.get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(EventfdTest, UnknownFlagsFailWithEINVAL) {
  EXPECT_THAT(eventfd(0, 0x4), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(eventfd(0, O_APPEND), SyscallFailsWithErrno(EINVAL));
}

TEST(EventfdTest, LegacyEventfdSyscall) {
  int fd = syscall(SYS_eventfd, 3);
  ASSERT_THAT(fd, SyscallSucceeds());
  FileDescriptor efd(fd);
  EXPECT_THAT(fcntl(fd, F_GETFD), SyscallSucceedsWithValue(0));
  uint64_t v = 0;
  ASSERT_THAT(read(fd, &v, sizeof(v)), SyscallSucceedsWithValue(8));
  EXPECT_EQ(v, 3u);
}

TEST(EventfdTest, IsNotSeekable) {
  FileDescriptor efd = NewEventfd(1, 0);
  uint64_t v;
  EXPECT_THAT(pread(efd.get(), &v, sizeof(v), 0), SyscallFailsWithErrno(ESPIPE));
  // lseek does nothing and succeeds (noop_llseek).
  EXPECT_THAT(lseek(efd.get(), 5, SEEK_SET), SyscallSucceedsWithValue(0));
}

TEST(EventfdTest, FstatShowsAnonymousInode) {
  FileDescriptor efd = NewEventfd(0, 0);
  struct stat st;
  ASSERT_THAT(fstat(efd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & S_IFMT, 0u);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace testing
}  // namespace visor
