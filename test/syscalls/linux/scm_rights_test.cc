// Tests for passing file descriptions (SCM_RIGHTS) and credentials
// (SCM_CREDENTIALS, SO_PASSCRED) over AF_UNIX sockets.

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// SendFDs sends one byte with the descriptors fds in an SCM_RIGHTS message.
ssize_t SendFDs(int sock, const std::vector<int>& fds) {
  char byte = 'F';
  struct iovec iov = {&byte, 1};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  return sendmsg(sock, &msg, 0);
}

// RecvFDs receives one message with a control buffer of controllen bytes and
// returns the descriptors it carried.
std::vector<int> RecvFDs(int sock, size_t controllen, int flags, int* msg_flags) {
  char byte;
  struct iovec iov = {&byte, 1};
  std::vector<char> control(controllen);
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = controllen ? control.data() : nullptr;
  msg.msg_controllen = controllen;
  std::vector<int> fds;
  if (recvmsg(sock, &msg, flags) != 1) {
    ADD_FAILURE() << "recvmsg: " << ErrnoName(errno);
    return fds;
  }
  *msg_flags = msg.msg_flags;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds.push_back(fd);
      }
    }
  }
  return fds;
}

TEST(ScmRightsTest, PassAPipe) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  int p[2];
  ASSERT_THAT(pipe2(p, O_CLOEXEC), SyscallSucceeds());
  FileDescriptor pr(p[0]), pw(p[1]);
  ASSERT_THAT(SendFDs(a.get(), {p[1]}), SyscallSucceedsWithValue(1));
  // The sender's copy can go: the message holds the file.
  pw.reset();
  int flags = 0;
  std::vector<int> got = RecvFDs(b.get(), CMSG_SPACE(sizeof(int)), MSG_CMSG_CLOEXEC, &flags);
  ASSERT_EQ(got.size(), 1u);
  FileDescriptor w(got[0]);
  EXPECT_EQ(flags & MSG_CTRUNC, 0);
  EXPECT_THAT(fcntl(w.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  ASSERT_THAT(write(w.get(), "via", 3), SyscallSucceedsWithValue(3));
  char buf[4];
  ASSERT_THAT(read(pr.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "via");
}

TEST(ScmRightsTest, SameFileDescription) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  FileDescriptor f(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  ASSERT_THAT(f.get(), SyscallSucceeds());
  ASSERT_THAT(lseek(f.get(), 7, SEEK_SET), SyscallSucceeds());
  ASSERT_THAT(SendFDs(a.get(), {f.get(), f.get()}), SyscallSucceedsWithValue(1));
  int flags = 0;
  std::vector<int> got = RecvFDs(b.get(), CMSG_SPACE(2 * sizeof(int)), 0, &flags);
  ASSERT_EQ(got.size(), 2u);
  FileDescriptor g0(got[0]), g1(got[1]);
  EXPECT_THAT(fcntl(g0.get(), F_GETFD), SyscallSucceedsWithValue(0));
  // The offset is shared: it is the same open file.
  EXPECT_THAT(lseek(g0.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(7));
  ASSERT_THAT(lseek(g1.get(), 11, SEEK_SET), SyscallSucceeds());
  EXPECT_THAT(lseek(f.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(11));
}

TEST(ScmRightsTest, ShortControlBufferTruncates) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  ASSERT_THAT(SendFDs(a.get(), {0, 1, 2}), SyscallSucceedsWithValue(1));
  int flags = 0;
  // Room for one descriptor: Linux fits (controllen - sizeof(cmsghdr)) / 4.
  std::vector<int> got = RecvFDs(b.get(), CMSG_LEN(sizeof(int)), 0, &flags);
  EXPECT_EQ(flags & MSG_CTRUNC, MSG_CTRUNC);
  ASSERT_EQ(got.size(), 1u);
  close(got[0]);
  // No control buffer at all: the files are dropped.
  ASSERT_THAT(SendFDs(a.get(), {0}), SyscallSucceedsWithValue(1));
  got = RecvFDs(b.get(), 0, 0, &flags);
  EXPECT_EQ(flags & MSG_CTRUNC, MSG_CTRUNC);
  EXPECT_TRUE(got.empty());
}

TEST(ScmRightsTest, BadDescriptorsAndCmsgs) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  EXPECT_THAT(SendFDs(a.get(), {12345}), SyscallFailsWithErrno(EBADF));
  // A control message of an unknown SOL_SOCKET type.
  char byte = 'x';
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = 77;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  EXPECT_THAT(sendmsg(a.get(), &msg, 0), SyscallFailsWithErrno(EINVAL));
  cmsg->cmsg_len = 4;
  EXPECT_THAT(sendmsg(a.get(), &msg, 0), SyscallFailsWithErrno(EINVAL));
}

TEST(ScmRightsTest, StreamReadStopsAfterRights) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  ASSERT_THAT(write(a.get(), "ab", 2), SyscallSucceeds());
  ASSERT_THAT(SendFDs(a.get(), {0}), SyscallSucceedsWithValue(1));
  ASSERT_THAT(write(a.get(), "cd", 2), SyscallSucceeds());
  char buf[8];
  // A read takes the bytes up to and including those that carried files (read
  // has nowhere to put the files: they are closed), then stops.
  EXPECT_THAT(read(b.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "abF");
  EXPECT_THAT(read(b.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  // With recvmsg the files arrive.
  ASSERT_THAT(write(a.get(), "x", 1), SyscallSucceeds());
  ASSERT_THAT(SendFDs(a.get(), {0}), SyscallSucceedsWithValue(1));
  int flags = 0;
  EXPECT_THAT(recv(b.get(), buf, 1, 0), SyscallSucceedsWithValue(1));
  std::vector<int> got = RecvFDs(b.get(), CMSG_SPACE(sizeof(int)), 0, &flags);
  ASSERT_EQ(got.size(), 1u);
  close(got[0]);
}

TEST(ScmCredentialsTest, PassCred) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  int one = 1;
  ASSERT_THAT(setsockopt(b.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), SyscallSucceeds());
  int v = 0;
  socklen_t vlen = sizeof(v);
  ASSERT_THAT(getsockopt(b.get(), SOL_SOCKET, SO_PASSCRED, &v, &vlen), SyscallSucceeds());
  EXPECT_EQ(v, 1);
  ASSERT_THAT(send(a.get(), "c", 1, 0), SyscallSucceeds());
  char byte;
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(struct ucred))];
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ASSERT_THAT(recvmsg(b.get(), &msg, 0), SyscallSucceedsWithValue(1));
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(cmsg, nullptr);
  EXPECT_EQ(cmsg->cmsg_level, SOL_SOCKET);
  EXPECT_EQ(cmsg->cmsg_type, SCM_CREDENTIALS);
  EXPECT_EQ(cmsg->cmsg_len, CMSG_LEN(sizeof(struct ucred)));
  struct ucred cred;
  memcpy(&cred, CMSG_DATA(cmsg), sizeof(cred));
  EXPECT_EQ(cred.pid, getpid());
  EXPECT_EQ(cred.uid, geteuid());
  EXPECT_EQ(cred.gid, getegid());
}

TEST(ScmCredentialsTest, ExplicitCredentials) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  int one = 1;
  ASSERT_THAT(setsockopt(b.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), SyscallSucceeds());
  char byte = 'e';
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(struct ucred))] = {};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_CREDENTIALS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(struct ucred));
  struct ucred cred = {getpid(), getuid(), getgid()};
  memcpy(CMSG_DATA(cmsg), &cred, sizeof(cred));
  ASSERT_THAT(sendmsg(a.get(), &msg, 0), SyscallSucceedsWithValue(1));
  memset(control, 0, sizeof(control));
  ASSERT_THAT(recvmsg(b.get(), &msg, 0), SyscallSucceedsWithValue(1));
  cmsg = CMSG_FIRSTHDR(&msg);
  ASSERT_NE(cmsg, nullptr);
  struct ucred got;
  memcpy(&got, CMSG_DATA(cmsg), sizeof(got));
  EXPECT_EQ(got.pid, getpid());
  EXPECT_EQ(got.uid, getuid());
}

}  // namespace
}  // namespace testing
}  // namespace visor
