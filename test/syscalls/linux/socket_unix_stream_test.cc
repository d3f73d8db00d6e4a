// Tests for AF_UNIX SOCK_STREAM sockets: bind, listen, connect, accept, names,
// shutdown, SIGPIPE and the SOL_SOCKET options.

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// SocketPath returns a fresh path for a socket file in the test's temporary
// directory.
std::string SocketPath() {
  static int counter = 0;
  const char* dir = getenv("TEST_TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  return d + "/us-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

socklen_t PathAddr(const std::string& path, struct sockaddr_un* addr) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path.data(), path.size());
  return offsetof(struct sockaddr_un, sun_path) + path.size() + 1;
}

socklen_t AbstractAddr(const std::string& name, struct sockaddr_un* addr) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path + 1, name.data(), name.size());
  return offsetof(struct sockaddr_un, sun_path) + 1 + name.size();
}

FileDescriptor NewSocket(int type) {
  int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  EXPECT_THAT(fd, SyscallSucceeds());
  return FileDescriptor(fd);
}

// Listener is a bound, listening stream socket.
struct Listener {
  FileDescriptor fd;
  struct sockaddr_un addr;
  socklen_t len;
};

void NewListener(int backlog, Listener* l) {
  l->fd = NewSocket(SOCK_STREAM);
  l->len = PathAddr(SocketPath(), &l->addr);
  ASSERT_THAT(bind(l->fd.get(), reinterpret_cast<struct sockaddr*>(&l->addr), l->len), SyscallSucceeds());
  ASSERT_THAT(listen(l->fd.get(), backlog), SyscallSucceeds());
}

TEST(UnixStreamTest, ConnectAcceptRoundTrip) {
  Listener l;
  ASSERT_NO_FATAL_FAILURE(NewListener(5, &l));
  FileDescriptor c = NewSocket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
  struct sockaddr_un peer;
  socklen_t plen = sizeof(peer);
  int s = accept4(l.fd.get(), reinterpret_cast<struct sockaddr*>(&peer), &plen, SOCK_CLOEXEC);
  ASSERT_THAT(s, SyscallSucceeds());
  FileDescriptor sfd(s);
  // The client is unnamed: just the family.
  EXPECT_EQ(plen, sizeof(sa_family_t));
  ASSERT_THAT(write(c.get(), "hello", 5), SyscallSucceedsWithValue(5));
  char buf[16] = {};
  ASSERT_THAT(read(sfd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_STREQ(buf, "hello");
  ASSERT_THAT(send(sfd.get(), "world!", 6, 0), SyscallSucceedsWithValue(6));
  ASSERT_THAT(recv(c.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(buf, 6), "world!");
}

TEST(UnixStreamTest, Names) {
  Listener l;
  ASSERT_NO_FATAL_FAILURE(NewListener(5, &l));
  struct sockaddr_un got;
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(l.fd.get(), reinterpret_cast<struct sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, l.len);
  EXPECT_STREQ(got.sun_path, l.addr.sun_path);

  FileDescriptor c = NewSocket(SOCK_STREAM);
  len = sizeof(got);
  ASSERT_THAT(getpeername(c.get(), reinterpret_cast<struct sockaddr*>(&got), &len), SyscallFailsWithErrno(ENOTCONN));
  len = sizeof(got);
  ASSERT_THAT(getsockname(c.get(), reinterpret_cast<struct sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(sa_family_t));
  ASSERT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
  len = sizeof(got);
  ASSERT_THAT(getpeername(c.get(), reinterpret_cast<struct sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, l.len);
  EXPECT_STREQ(got.sun_path, l.addr.sun_path);
  // A short buffer is filled and the full length reported.
  len = 4;
  memset(&got, 0, sizeof(got));
  ASSERT_THAT(getpeername(c.get(), reinterpret_cast<struct sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, l.len);
  EXPECT_EQ(got.sun_path[2], 0);
}

TEST(UnixStreamTest, BindMakesASocketFile) {
  FileDescriptor s = NewSocket(SOCK_STREAM);
  struct sockaddr_un addr;
  std::string path = SocketPath();
  socklen_t len = PathAddr(path, &addr);
  ASSERT_THAT(bind(s.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  // Binding again fails: an existing path first, then the socket being bound.
  EXPECT_THAT(bind(s.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(EADDRINUSE));
  struct sockaddr_un other;
  std::string other_path = SocketPath();
  socklen_t other_len = PathAddr(other_path, &other);
  EXPECT_THAT(bind(s.get(), reinterpret_cast<struct sockaddr*>(&other), other_len), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(access(other_path.c_str(), F_OK), SyscallFailsWithErrno(ENOENT));
  FileDescriptor s2 = NewSocket(SOCK_STREAM);
  EXPECT_THAT(bind(s2.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(EADDRINUSE));
  // Opening the socket file fails.
  EXPECT_THAT(open(path.c_str(), O_RDONLY), SyscallFailsWithErrno(ENXIO));
  ASSERT_THAT(unlink(path.c_str()), SyscallSucceeds());
}

TEST(UnixStreamTest, ConnectErrors) {
  FileDescriptor c = NewSocket(SOCK_STREAM);
  struct sockaddr_un addr;
  socklen_t len = PathAddr(SocketPath(), &addr);
  EXPECT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(ENOENT));
  // Bound but not listening.
  FileDescriptor b = NewSocket(SOCK_STREAM);
  ASSERT_THAT(bind(b.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallSucceeds());
  EXPECT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(ECONNREFUSED));
  // A datagram socket there is the wrong type.
  FileDescriptor d = NewSocket(SOCK_DGRAM);
  struct sockaddr_un daddr;
  socklen_t dlen = PathAddr(SocketPath(), &daddr);
  ASSERT_THAT(bind(d.get(), reinterpret_cast<struct sockaddr*>(&daddr), dlen), SyscallSucceeds());
  EXPECT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&daddr), dlen), SyscallFailsWithErrno(EPROTOTYPE));
  // A regular file is not a socket.
  std::string file = SocketPath();
  FileDescriptor f(open(file.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644));
  ASSERT_THAT(f.get(), SyscallSucceeds());
  len = PathAddr(file, &addr);
  EXPECT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(ECONNREFUSED));
  // Bad addresses.
  addr.sun_family = AF_INET;
  EXPECT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(listen(c.get(), 1), SyscallFailsWithErrno(EINVAL));
}

TEST(UnixStreamTest, AbstractNamespace) {
  std::string name = "visor-abstract-" + std::to_string(getpid());
  struct sockaddr_un addr;
  socklen_t len = AbstractAddr(name, &addr);
  FileDescriptor l = NewSocket(SOCK_STREAM);
  ASSERT_THAT(bind(l.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallSucceeds());
  FileDescriptor l2 = NewSocket(SOCK_STREAM);
  EXPECT_THAT(bind(l2.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(EADDRINUSE));
  ASSERT_THAT(listen(l.get(), 1), SyscallSucceeds());
  struct sockaddr_un got;
  socklen_t glen = sizeof(got);
  ASSERT_THAT(getsockname(l.get(), reinterpret_cast<struct sockaddr*>(&got), &glen), SyscallSucceeds());
  EXPECT_EQ(glen, len);
  EXPECT_EQ(got.sun_path[0], 0);
  EXPECT_EQ(std::string(got.sun_path + 1, name.size()), name);
  FileDescriptor c = NewSocket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallSucceeds());
  // Closing the listener frees the name.
  l.reset();
  l2 = NewSocket(SOCK_STREAM);
  EXPECT_THAT(bind(l2.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallSucceeds());
  // A name nobody holds refuses connections.
  len = AbstractAddr(name + "-nobody", &addr);
  FileDescriptor c2 = NewSocket(SOCK_STREAM);
  EXPECT_THAT(connect(c2.get(), reinterpret_cast<struct sockaddr*>(&addr), len), SyscallFailsWithErrno(ECONNREFUSED));
}

TEST(UnixStreamTest, Autobind) {
  FileDescriptor s = NewSocket(SOCK_STREAM);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_THAT(bind(s.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(sa_family_t)), SyscallSucceeds());
  struct sockaddr_un got;
  socklen_t len = sizeof(got);
  ASSERT_THAT(getsockname(s.get(), reinterpret_cast<struct sockaddr*>(&got), &len), SyscallSucceeds());
  EXPECT_EQ(len, offsetof(struct sockaddr_un, sun_path) + 6);
  EXPECT_EQ(got.sun_path[0], 0);
  for (int i = 1; i < 6; i++) {
    EXPECT_TRUE(isxdigit(got.sun_path[i])) << i;
  }
}

TEST(UnixStreamTest, BacklogFullNonBlockingConnect) {
  Listener l;
  ASSERT_NO_FATAL_FAILURE(NewListener(0, &l));
  // Linux queues backlog+1 connections.
  FileDescriptor c1 = NewSocket(SOCK_STREAM | SOCK_NONBLOCK);
  ASSERT_THAT(connect(c1.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
  FileDescriptor c2 = NewSocket(SOCK_STREAM | SOCK_NONBLOCK);
  EXPECT_THAT(connect(c2.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallFailsWithErrno(EAGAIN));
  // Accepting makes room.
  FileDescriptor a(accept(l.fd.get(), nullptr, nullptr));
  ASSERT_THAT(a.get(), SyscallSucceeds());
  EXPECT_THAT(connect(c2.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
}

TEST(UnixStreamTest, BlockingConnectWaitsForRoom) {
  Listener l;
  ASSERT_NO_FATAL_FAILURE(NewListener(0, &l));
  FileDescriptor c1 = NewSocket(SOCK_STREAM);
  ASSERT_THAT(connect(c1.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
  pid_t pid = fork();
  if (pid == 0) {
    usleep(100000);
    int a = accept(l.fd.get(), nullptr, nullptr);
    TEST_PCHECK(a >= 0);
    _exit(0);
  }
  ASSERT_THAT(pid, SyscallSucceeds());
  FileDescriptor c2 = NewSocket(SOCK_STREAM);
  EXPECT_THAT(connect(c2.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
  int status;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << WaitStatusString(status);
}

TEST(UnixStreamTest, AcceptNonBlockingAndFlags) {
  Listener l;
  ASSERT_NO_FATAL_FAILURE(NewListener(5, &l));
  ASSERT_THAT(fcntl(l.fd.get(), F_SETFL, O_NONBLOCK), SyscallSucceeds());
  EXPECT_THAT(accept(l.fd.get(), nullptr, nullptr), SyscallFailsWithErrno(EAGAIN));
  EXPECT_THAT(accept4(l.fd.get(), nullptr, nullptr, 0x1234), SyscallFailsWithErrno(EINVAL));
  struct pollfd pfd = {l.fd.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  FileDescriptor c = NewSocket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  FileDescriptor a(accept4(l.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  ASSERT_THAT(a.get(), SyscallSucceeds());
  EXPECT_THAT(fcntl(a.get(), F_GETFL), SyscallSucceedsWithValue(O_RDWR | O_NONBLOCK));
  EXPECT_THAT(fcntl(a.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  char buf[4];
  EXPECT_THAT(read(a.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EAGAIN));
  // Accepting on a socket that does not listen.
  EXPECT_THAT(accept(c.get(), nullptr, nullptr), SyscallFailsWithErrno(EINVAL));
  FileDescriptor null(open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_THAT(null.get(), SyscallSucceeds());
  EXPECT_THAT(accept(null.get(), nullptr, nullptr), SyscallFailsWithErrno(ENOTSOCK));
}

TEST(UnixStreamTest, ShutdownWriteGivesEOFAndRdhup) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  ASSERT_THAT(write(a.get(), "x", 1), SyscallSucceeds());
  ASSERT_THAT(shutdown(a.get(), SHUT_WR), SyscallSucceeds());
  struct pollfd pfd = {b.get(), POLLIN | POLLRDHUP, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN | POLLRDHUP);
  char buf[4];
  EXPECT_THAT(read(b.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  EXPECT_THAT(read(b.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  // The other direction still works.
  EXPECT_THAT(write(b.get(), "y", 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(read(a.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(1));
  EXPECT_THAT(send(a.get(), "z", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
  EXPECT_THAT(shutdown(a.get(), 7), SyscallFailsWithErrno(EINVAL));
}

TEST(UnixStreamTest, PeerCloseHangsUp) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  b.reset();
  struct pollfd pfd = {a.get(), POLLIN | POLLOUT | POLLRDHUP, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents & (POLLIN | POLLHUP | POLLRDHUP), POLLIN | POLLHUP | POLLRDHUP);
  char buf[4];
  EXPECT_THAT(read(a.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(send(a.get(), "z", 1, MSG_NOSIGNAL), SyscallFailsWithErrno(EPIPE));
}

TEST(UnixStreamTest, EpipeRaisesSigpipe) {
  EXPECT_THAT(InForkedProcess([] {
                int sv[2];
                TEST_PCHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
                TEST_PCHECK(shutdown(sv[0], SHUT_WR) == 0);
                write(sv[0], "x", 1);
                _exit(3);
              }),
              KilledBy(SIGPIPE));
  EXPECT_THAT(InForkedProcess([] {
                signal(SIGPIPE, SIG_IGN);
                int sv[2];
                TEST_PCHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
                TEST_PCHECK(close(sv[1]) == 0);
                TEST_CHECK(write(sv[0], "x", 1) == -1 && errno == EPIPE);
                _exit(0);
              }),
              ExitedWith(0));
}

TEST(UnixStreamTest, WaitallPeekAndDontwait) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  char buf[16];
  EXPECT_THAT(recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT), SyscallFailsWithErrno(EAGAIN));
  ASSERT_THAT(write(a.get(), "abc", 3), SyscallSucceeds());
  ASSERT_THAT(write(a.get(), "def", 3), SyscallSucceeds());
  EXPECT_THAT(recv(b.get(), buf, 4, MSG_PEEK), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "abcd");
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    TEST_PCHECK(write(sv[0], "ghij", 4) == 4);
    _exit(0);
  }
  EXPECT_THAT(recv(b.get(), buf, 10, MSG_WAITALL), SyscallSucceedsWithValue(10));
  EXPECT_EQ(std::string(buf, 10), "abcdefghij");
  int status;
  ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
}

TEST(UnixStreamTest, FillsAndBlocks) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  std::string chunk(4096, 'q');
  long total = 0;
  for (;;) {
    ssize_t n = write(a.get(), chunk.data(), chunk.size());
    if (n < 0) {
      EXPECT_EQ(errno, EAGAIN);
      break;
    }
    total += n;
    ASSERT_LT(total, 64 << 20);
  }
  EXPECT_GT(total, 0);
  struct pollfd pfd = {a.get(), POLLOUT, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  std::string sink(total, 0);
  long got = 0;
  while (got < total) {
    ssize_t n = read(b.get(), &sink[got], total - got);
    ASSERT_THAT(n, SyscallSucceeds());
    got += n;
  }
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
}

TEST(UnixStreamTest, SocketOptions) {
  FileDescriptor s = NewSocket(SOCK_STREAM);
  int v;
  socklen_t len = sizeof(v);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_TYPE, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, SOCK_STREAM);
  EXPECT_EQ(len, sizeof(int));
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_DOMAIN, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, AF_UNIX);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_PROTOCOL, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 0);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 0);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_ACCEPTCONN, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 0);
  v = 16384;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 32768);
  v = 20000;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), SyscallSucceeds());
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 40000);
  v = 1;
  ASSERT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), SyscallSucceeds());
  v = 0;
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  EXPECT_THAT(setsockopt(s.get(), SOL_SOCKET, SO_SNDBUF, &v, 2), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(getsockopt(s.get(), SOL_SOCKET, 9999, &v, &len), SyscallFailsWithErrno(ENOPROTOOPT));
  // Unconnected: no peer credentials.
  struct ucred cred;
  len = sizeof(cred);
  ASSERT_THAT(getsockopt(s.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len), SyscallSucceeds());
  EXPECT_EQ(cred.pid, 0);
  EXPECT_EQ(cred.uid, static_cast<uid_t>(-1));

  Listener l;
  ASSERT_NO_FATAL_FAILURE(NewListener(5, &l));
  len = sizeof(v);
  ASSERT_THAT(getsockopt(l.fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &v, &len), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  FileDescriptor c = NewSocket(SOCK_STREAM);
  ASSERT_THAT(connect(c.get(), reinterpret_cast<struct sockaddr*>(&l.addr), l.len), SyscallSucceeds());
  len = sizeof(cred);
  ASSERT_THAT(getsockopt(c.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len), SyscallSucceeds());
  EXPECT_EQ(len, sizeof(cred));
  EXPECT_EQ(cred.pid, getpid());
  EXPECT_EQ(cred.uid, geteuid());
  EXPECT_EQ(cred.gid, getegid());
}

TEST(UnixStreamTest, FstatAndProcFd) {
  FileDescriptor s = NewSocket(SOCK_STREAM);
  struct stat st;
  ASSERT_THAT(fstat(s.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  char link[64], target[64] = {};
  snprintf(link, sizeof(link), "/proc/self/fd/%d", s.get());
  ASSERT_THAT(readlink(link, target, sizeof(target) - 1), SyscallSucceeds());
  EXPECT_EQ(std::string(target), "socket:[" + std::to_string(st.st_ino) + "]");
  EXPECT_THAT(lseek(s.get(), 0, SEEK_SET), SyscallFailsWithErrno(ESPIPE));
}

TEST(SocketTest, Families) {
  EXPECT_THAT(socket(AF_UNIX, SOCK_STREAM | 0x100000, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(socket(AF_UNIX, SOCK_STREAM, 7), SyscallFailsWithErrno(EPROTONOSUPPORT));
  EXPECT_THAT(socket(AF_UNIX, 9, 0), SyscallFailsWithErrno(ESOCKTNOSUPPORT));
  EXPECT_THAT(socket(12345, SOCK_STREAM, 0), SyscallFailsWithErrno(EAFNOSUPPORT));
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 9 /* NETLINK_AUDIT */);
  if (fd >= 0) {
    close(fd);
  } else {
    // Visor, and hosts without audit, refuse the protocol.
    EXPECT_EQ(errno, EPROTONOSUPPORT);
  }
}

}  // namespace
}  // namespace testing
}  // namespace visor
