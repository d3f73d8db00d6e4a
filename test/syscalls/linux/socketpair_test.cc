// Tests for socketpair(2) and plain I/O, poll and the message calls on the pair.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

TEST(SocketpairTest, FlagsAndErrors) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  EXPECT_THAT(fcntl(a.get(), F_GETFL), SyscallSucceedsWithValue(O_RDWR | O_NONBLOCK));
  EXPECT_THAT(fcntl(b.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(socketpair(AF_INET, SOCK_STREAM, 0, sv), SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(socketpair(AF_UNIX, SOCK_STREAM | 0x4000000, 0, sv), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(socketpair(AF_UNIX, SOCK_STREAM, 0, nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(SocketpairTest, ReadvWritevAndNames) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  char p1[] = "ab", p2[] = "cde";
  struct iovec out[2] = {{p1, 2}, {p2, 3}};
  ASSERT_THAT(writev(a.get(), out, 2), SyscallSucceedsWithValue(5));
  char q1[3], q2[2];
  struct iovec in[2] = {{q1, 3}, {q2, 2}};
  ASSERT_THAT(readv(b.get(), in, 2), SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(q1, 3) + std::string(q2, 2), "abcde");
  struct sockaddr_un addr;
  socklen_t len = sizeof(addr);
  ASSERT_THAT(getpeername(a.get(), reinterpret_cast<struct sockaddr*>(&addr), &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(sa_family_t));
  EXPECT_EQ(addr.sun_family, AF_UNIX);
  int n = -1;
  ASSERT_THAT(write(a.get(), "xyz", 3), SyscallSucceeds());
  ASSERT_THAT(ioctl(b.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 3);
  EXPECT_THAT(pwrite(a.get(), "x", 1, 0), SyscallFailsWithErrno(ESPIPE));
}

TEST(SocketpairTest, PollAndEpoll) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  struct pollfd pfd = {b.get(), POLLIN | POLLOUT, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLOUT);
  FileDescriptor ep(epoll_create1(EPOLL_CLOEXEC));
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u32 = 42;
  ASSERT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, b.get(), &ev), SyscallSucceeds());
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    TEST_PCHECK(write(sv[0], "x", 1) == 1);
    _exit(0);
  }
  struct epoll_event got;
  ASSERT_THAT(epoll_wait(ep.get(), &got, 1, 5000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(got.data.u32, 42u);
  EXPECT_EQ(got.events, static_cast<uint32_t>(EPOLLIN));
  int status;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
}

TEST(SocketpairTest, BlockingReadWakesOnWrite) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    TEST_PCHECK(send(sv[0], "ping", 4, 0) == 4);
    _exit(0);
  }
  char buf[8];
  EXPECT_THAT(read(b.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  int status;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
}

TEST(SocketpairTest, SendmmsgRecvmmsg) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  char m1[] = "first", m2[] = "2nd";
  struct iovec iov[2] = {{m1, 5}, {m2, 3}};
  struct mmsghdr msgs[2] = {};
  msgs[0].msg_hdr.msg_iov = &iov[0];
  msgs[0].msg_hdr.msg_iovlen = 1;
  msgs[1].msg_hdr.msg_iov = &iov[1];
  msgs[1].msg_hdr.msg_iovlen = 1;
  ASSERT_THAT(sendmmsg(a.get(), msgs, 2, 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(msgs[0].msg_len, 5u);
  EXPECT_EQ(msgs[1].msg_len, 3u);
  char r1[8], r2[8];
  struct iovec riov[2] = {{r1, 8}, {r2, 8}};
  struct mmsghdr rmsgs[3] = {};
  rmsgs[0].msg_hdr.msg_iov = &riov[0];
  rmsgs[0].msg_hdr.msg_iovlen = 1;
  rmsgs[1].msg_hdr.msg_iov = &riov[1];
  rmsgs[1].msg_hdr.msg_iovlen = 1;
  rmsgs[2].msg_hdr.msg_iov = &riov[1];
  rmsgs[2].msg_hdr.msg_iovlen = 1;
  ASSERT_THAT(recvmmsg(b.get(), rmsgs, 3, MSG_DONTWAIT, nullptr), SyscallSucceedsWithValue(2));
  EXPECT_EQ(rmsgs[0].msg_len, 5u);
  EXPECT_EQ(std::string(r1, 5), "first");
  EXPECT_EQ(std::string(r2, 3), "2nd");
}

TEST(SocketpairTest, PeerCredentials) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  struct ucred cred;
  socklen_t len = sizeof(cred);
  ASSERT_THAT(getsockopt(b.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len), SyscallSucceeds());
  EXPECT_EQ(cred.pid, getpid());
  EXPECT_EQ(cred.uid, geteuid());
  EXPECT_EQ(cred.gid, getegid());
}

}  // namespace
}  // namespace testing
}  // namespace visor
