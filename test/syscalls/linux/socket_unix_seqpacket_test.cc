// Tests for AF_UNIX SOCK_SEQPACKET sockets.

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

TEST(UnixSeqpacketTest, KeepsBoundaries) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  ASSERT_THAT(send(a.get(), "abc", 3, 0), SyscallSucceeds());
  ASSERT_THAT(send(a.get(), "defgh", 5, 0), SyscallSucceeds());
  char buf[16];
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(3));
  // A short read drops the rest of the record and says so.
  struct iovec iov = {buf, 2};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  EXPECT_THAT(recvmsg(b.get(), &msg, 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(msg.msg_flags & MSG_TRUNC, MSG_TRUNC);
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(send(a.get(), "0123456789", 10, 0), SyscallSucceeds());
  EXPECT_THAT(recv(b.get(), buf, 4, MSG_TRUNC), SyscallSucceedsWithValue(10));
}

TEST(UnixSeqpacketTest, ListenConnectAndEOF) {
  std::string name = "visor-seqpacket-" + std::to_string(getpid());
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path + 1, name.data(), name.size());
  socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 + name.size();
  FileDescriptor l(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  ASSERT_THAT(l.get(), SyscallSucceeds());
  ASSERT_THAT(bind(l.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallSucceeds());
  ASSERT_THAT(listen(l.get(), 4), SyscallSucceeds());
  FileDescriptor c(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  char buf[8];
  EXPECT_THAT(recv(c.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(send(c.get(), "x", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(ENOTCONN));
  ASSERT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallSucceeds());
  EXPECT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(EISCONN));
  FileDescriptor s(accept(l.get(), nullptr, nullptr));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  int v;
  socklen_t vlen = sizeof(v);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_TYPE, &v, &vlen), SyscallSucceeds());
  EXPECT_EQ(v, SOCK_SEQPACKET);
  ASSERT_THAT(send(s.get(), "hi", 2, 0), SyscallSucceeds());
  s.reset();
  EXPECT_THAT(recv(c.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(2));
  EXPECT_THAT(recv(c.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(0));
  struct pollfd pfd = {c.get(), POLLIN, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents & (POLLIN | POLLHUP), POLLIN | POLLHUP);
}

}  // namespace
}  // namespace testing
}  // namespace visor
