// Tests for AF_UNIX SOCK_DGRAM sockets.

#include <errno.h>
#include <fcntl.h>
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

std::string SocketPath() {
  static int counter = 0;
  const char* dir = getenv("TEST_TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  return d + "/ud-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

socklen_t PathAddr(const std::string& path, struct sockaddr_un* addr) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path.data(), path.size());
  return offsetof(struct sockaddr_un, sun_path) + path.size() + 1;
}

FileDescriptor NewBound(struct sockaddr_un* addr, socklen_t* len) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  EXPECT_THAT(fd, SyscallSucceeds());
  *len = PathAddr(SocketPath(), addr);
  EXPECT_THAT(bind(fd, reinterpret_cast<struct sockaddr*>(addr), *len), SyscallSucceeds());
  return FileDescriptor(fd);
}

TEST(UnixDgramTest, SendtoRecvfrom) {
  struct sockaddr_un raddr, saddr;
  socklen_t rlen, slen;
  FileDescriptor r = NewBound(&raddr, &rlen);
  FileDescriptor s = NewBound(&saddr, &slen);
  ASSERT_THAT(sendto(s.get(), "one", 3, 0, reinterpret_cast<struct sockaddr*>(&raddr), rlen), SyscallSucceedsWithValue(3));
  ASSERT_THAT(sendto(s.get(), "second", 6, 0, reinterpret_cast<struct sockaddr*>(&raddr), rlen), SyscallSucceedsWithValue(6));
  char buf[32];
  struct sockaddr_un from;
  socklen_t flen = sizeof(from);
  ASSERT_THAT(recvfrom(r.get(), buf, sizeof(buf), 0, reinterpret_cast<struct sockaddr*>(&from), &flen), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "one");
  EXPECT_EQ(flen, slen);
  EXPECT_STREQ(from.sun_path, saddr.sun_path);
  // Boundaries are kept, and a short buffer truncates.
  ASSERT_THAT(recv(r.get(), buf, 2, 0), SyscallSucceedsWithValue(2));
  EXPECT_THAT(recv(r.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixDgramTest, TruncAndPeek) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  ASSERT_THAT(send(a.get(), "0123456789", 10, 0), SyscallSucceeds());
  char buf[16];
  EXPECT_THAT(recv(b.get(), buf, 4, MSG_PEEK | MSG_TRUNC), SyscallSucceedsWithValue(10));
  struct iovec iov = {buf, 4};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ASSERT_THAT(recvmsg(b.get(), &msg, 0), SyscallSucceedsWithValue(4));
  EXPECT_EQ(msg.msg_flags & MSG_TRUNC, MSG_TRUNC);
  EXPECT_EQ(std::string(buf, 4), "0123");
  // Empty datagrams are messages too.
  ASSERT_THAT(send(a.get(), "", 0, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallSucceedsWithValue(0));
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
}

TEST(UnixDgramTest, ConnectAndErrors) {
  struct sockaddr_un raddr;
  socklen_t rlen;
  FileDescriptor r = NewBound(&raddr, &rlen);
  FileDescriptor s(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_THAT(s.get(), SyscallSucceeds());
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
  EXPECT_THAT(listen(s.get(), 1), SyscallFailsWithErrno(EOPNOTSUPP));
  ASSERT_THAT(connect(s.get(), reinterpret_cast<struct sockaddr*>(&raddr), rlen), SyscallSucceeds());
  ASSERT_THAT(write(s.get(), "x", 1), SyscallSucceedsWithValue(1));
  char buf[4];
  ASSERT_THAT(read(r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  struct sockaddr_un peer;
  socklen_t plen = sizeof(peer);
  ASSERT_THAT(getpeername(s.get(), reinterpret_cast<struct sockaddr*>(&peer), &plen), SyscallSucceeds());
  EXPECT_EQ(plen, rlen);
  // Disconnect with AF_UNSPEC.
  struct sockaddr unspec = {};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_THAT(connect(s.get(), &unspec, sizeof(unspec)), SyscallSucceeds());
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ENOTCONN));
  // A receiver that is gone.
  ASSERT_THAT(connect(s.get(), reinterpret_cast<struct sockaddr*>(&raddr), rlen), SyscallSucceeds());
  r.reset();
  EXPECT_THAT(send(s.get(), "x", 1, 0), SyscallFailsWithErrno(ECONNREFUSED));
  // Too big for the send buffer.
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  std::string big(1 << 20, 'b');
  EXPECT_THAT(send(a.get(), big.data(), big.size(), 0), SyscallFailsWithErrno(EMSGSIZE));
}

TEST(UnixDgramTest, ConnectedReceiverRefusesOthers) {
  struct sockaddr_un aaddr, baddr;
  socklen_t alen, blen;
  FileDescriptor a = NewBound(&aaddr, &alen);
  FileDescriptor b = NewBound(&baddr, &blen);
  FileDescriptor c(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  // a only talks to b.
  ASSERT_THAT(connect(a.get(), reinterpret_cast<struct sockaddr*>(&baddr), blen), SyscallSucceeds());
  EXPECT_THAT(sendto(c.get(), "x", 1, 0, reinterpret_cast<struct sockaddr*>(&aaddr), alen), SyscallFailsWithErrno(EPERM));
  EXPECT_THAT(sendto(b.get(), "x", 1, 0, reinterpret_cast<struct sockaddr*>(&aaddr), alen), SyscallSucceeds());
}

TEST(UnixDgramTest, FullQueueWouldBlock) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  std::string msg(1024, 'm');
  int sent = 0;
  for (;;) {
    ssize_t n = send(a.get(), msg.data(), msg.size(), 0);
    if (n < 0) {
      EXPECT_EQ(errno, EAGAIN);
      break;
    }
    ASSERT_LT(++sent, 100000);
  }
  EXPECT_GT(sent, 0);
  char buf[2048];
  ASSERT_THAT(recv(b.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(1024));
  // Shut down: the reader sees end of file once the queue is drained.
  ASSERT_THAT(shutdown(b.get(), SHUT_RD), SyscallSucceeds());
  struct pollfd pfd = {b.get(), POLLIN | POLLRDHUP, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents & POLLRDHUP, POLLRDHUP);
}

}  // namespace
}  // namespace testing
}  // namespace visor
