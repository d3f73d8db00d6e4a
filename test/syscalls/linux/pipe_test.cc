// Tests for pipe(2), pipe2(2) and the pipe file operations.

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// Pipe holds both ends of a new pipe.
struct Pipe {
  FileDescriptor read_end;
  FileDescriptor write_end;
};

// NewPipe creates a pipe with pipe2(flags), failing the test on error.
void NewPipe(int flags, Pipe* p) {
  int fds[2];
  ASSERT_THAT(pipe2(fds, flags), SyscallSucceeds());
  p->read_end.reset(fds[0]);
  p->write_end.reset(fds[1]);
}

TEST(PipeTest, RoundTrip) {
  int fds[2];
  ASSERT_THAT(pipe(fds), SyscallSucceeds());
  FileDescriptor rfd(fds[0]);
  FileDescriptor wfd(fds[1]);
  EXPECT_NE(fds[0], fds[1]);

  const std::string msg = "hello, pipe";
  ASSERT_THAT(write(wfd.get(), msg.data(), msg.size()), SyscallSucceedsWithValue(msg.size()));
  std::string got(msg.size(), '\0');
  ASSERT_THAT(read(rfd.get(), got.data(), got.size()), SyscallSucceedsWithValue(msg.size()));
  EXPECT_EQ(got, msg);
}

TEST(PipeTest, Pipe2RoundTripPreservesOrder) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));
  for (char c = 'a'; c <= 'e'; c++) {
    ASSERT_THAT(write(p.write_end.get(), &c, 1), SyscallSucceedsWithValue(1));
  }
  char buf[8] = {};
  // One read returns everything buffered, in write order.
  ASSERT_THAT(read(p.read_end.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_STREQ(buf, "abcde");
}

TEST(PipeTest, EndsAreOneWay) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));
  char c = 'x';
  EXPECT_THAT(write(p.read_end.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(read(p.write_end.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(p.read_end.get(), F_GETFL), SyscallSucceedsWithValue(O_RDONLY));
  EXPECT_THAT(fcntl(p.write_end.get(), F_GETFL), SyscallSucceedsWithValue(O_WRONLY));
}

TEST(PipeTest, NonblockingReadOfEmptyPipeFailsWithEAGAIN) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(O_NONBLOCK, &p));
  EXPECT_THAT(fcntl(p.read_end.get(), F_GETFL),
              SyscallSucceedsWithValue(O_RDONLY | O_NONBLOCK));
  char c;
  EXPECT_THAT(read(p.read_end.get(), &c, 1), SyscallFailsWithErrno(EAGAIN));
}

TEST(PipeTest, NonblockingWriteToFullPipeFailsWithEAGAIN) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(O_NONBLOCK, &p));
  const int capacity = fcntl(p.write_end.get(), F_GETPIPE_SZ);
  ASSERT_THAT(capacity, SyscallSucceedsWithValue(::testing::Gt(0)));

  // A nonblocking write larger than the free space writes what fits.
  std::vector<char> buf(capacity + 4096, 'z');
  EXPECT_THAT(write(p.write_end.get(), buf.data(), buf.size()),
              SyscallSucceedsWithValue(capacity));
  int queued = 0;
  EXPECT_THAT(ioctl(p.read_end.get(), FIONREAD, &queued), SyscallSucceeds());
  EXPECT_EQ(queued, capacity);
  EXPECT_THAT(write(p.write_end.get(), buf.data(), 1), SyscallFailsWithErrno(EAGAIN));
}

TEST(PipeTest, ReadReturnsEOFAfterWriterCloses) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));
  ASSERT_THAT(write(p.write_end.get(), "ab", 2), SyscallSucceedsWithValue(2));
  p.write_end.reset();

  // Buffered data is still delivered, then end of file, repeatedly.
  char buf[4];
  EXPECT_THAT(read(p.read_end.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(2));
  EXPECT_THAT(read(p.read_end.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(read(p.read_end.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
}

// ScopedSigpipeIgnored ignores SIGPIPE for its lifetime, so a write to a pipe
// without readers returns EPIPE instead of killing the test binary.
class ScopedSigpipeIgnored {
 public:
  ScopedSigpipeIgnored() {
    struct sigaction ignore = {};
    ignore.sa_handler = SIG_IGN;
    ok_ = sigaction(SIGPIPE, &ignore, &old_) == 0;
  }
  ~ScopedSigpipeIgnored() {
    if (ok_) sigaction(SIGPIPE, &old_, nullptr);
  }
  bool ok() const { return ok_; }

 private:
  struct sigaction old_;
  bool ok_;
};

TEST(PipeTest, WriteWithoutReaderFailsWithEPIPE) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));
  p.read_end.reset();
  ScopedSigpipeIgnored ignored;
  ASSERT_TRUE(ignored.ok());
  EXPECT_THAT(write(p.write_end.get(), "x", 1), SyscallFailsWithErrno(EPIPE));
}

TEST(PipeTest, WriteWithoutReaderRaisesSIGPIPE) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));
  p.read_end.reset();
  const int wfd = p.write_end.get();
  // The default disposition of SIGPIPE terminates the writer.
  EXPECT_THAT(InForkedProcess([wfd] {
                struct sigaction dfl = {};
                dfl.sa_handler = SIG_DFL;
                TEST_PCHECK(sigaction(SIGPIPE, &dfl, nullptr) == 0);
                TEST_PCHECK(write(wfd, "x", 1) == 1);  // Not reached.
              }),
              KilledBy(SIGPIPE));
}

TEST(PipeTest, WriteWithoutReaderQueuesSIGPIPEWhenBlocked) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));
  p.read_end.reset();
  const int wfd = p.write_end.get();
  // With SIGPIPE blocked, write fails with EPIPE and the signal stays pending.
  EXPECT_THAT(InForkedProcess([wfd] {
                sigset_t set;
                sigemptyset(&set);
                sigaddset(&set, SIGPIPE);
                TEST_PCHECK(sigprocmask(SIG_BLOCK, &set, nullptr) == 0);
                TEST_CHECK(write(wfd, "x", 1) == -1 && errno == EPIPE);
                sigset_t pending;
                TEST_PCHECK(sigpending(&pending) == 0);
                TEST_CHECK(sigismember(&pending, SIGPIPE) == 1);
              }),
              ExitedWith(0));
}

TEST(PipeTest, CloexecFlag) {
  Pipe plain;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &plain));
  EXPECT_THAT(fcntl(plain.read_end.get(), F_GETFD), SyscallSucceedsWithValue(0));
  EXPECT_THAT(fcntl(plain.write_end.get(), F_GETFD), SyscallSucceedsWithValue(0));

  Pipe cloexec;
  ASSERT_NO_FATAL_FAILURE(NewPipe(O_CLOEXEC, &cloexec));
  EXPECT_THAT(fcntl(cloexec.read_end.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(fcntl(cloexec.write_end.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  // O_CLOEXEC is a descriptor flag, not a file status flag.
  EXPECT_THAT(fcntl(cloexec.read_end.get(), F_GETFL), SyscallSucceedsWithValue(O_RDONLY));
}

TEST(PipeTest, Pipe2RejectsUnknownFlags) {
  int fds[2];
  EXPECT_THAT(pipe2(fds, O_NOATIME), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pipe2(fds, 0x40000000), SyscallFailsWithErrno(EINVAL));
}

TEST(PipeTest, BadAddressFails) {
  // Through syscall(2): glibc's pipe() is declared nonnull.
  EXPECT_THAT(syscall(SYS_pipe2, nullptr, 0), SyscallFailsWithErrno(EFAULT));
}

TEST(PipeTest, FIONREADCountsQueuedBytes) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));
  int n = -1;
  ASSERT_THAT(ioctl(p.read_end.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 0);

  ASSERT_THAT(write(p.write_end.get(), "0123456789", 10), SyscallSucceedsWithValue(10));
  ASSERT_THAT(write(p.write_end.get(), "abc", 3), SyscallSucceedsWithValue(3));
  ASSERT_THAT(ioctl(p.read_end.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 13);

  char buf[4];
  ASSERT_THAT(read(p.read_end.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  ASSERT_THAT(ioctl(p.read_end.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 9);
  // Linux answers FIONREAD on the write end too.
  ASSERT_THAT(ioctl(p.write_end.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 9);
}

TEST(PipeTest, WritesUpToPipeBufAreAtomic) {
  Pipe p;
  ASSERT_NO_FATAL_FAILURE(NewPipe(0, &p));

  // Several writers race PIPE_BUF-sized writes, each filled with its own byte.
  // POSIX requires writes of at most PIPE_BUF bytes not to interleave, so the
  // reader must see whole, uniform PIPE_BUF chunks. The writers write far
  // more than the pipe holds, so they block and resume while the reader
  // drains it: atomicity must hold across those wakeups too.
  constexpr int kWriters = 4;
  constexpr int kWritesEach = 64;
  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; w++) {
    const pid_t pid = fork();
    ASSERT_THAT(pid, SyscallSucceeds());
    if (pid == 0) {
      p.read_end.reset();
      std::vector<char> chunk(PIPE_BUF, static_cast<char>('A' + w));
      for (int i = 0; i < kWritesEach; i++) {
        TEST_PCHECK(write(p.write_end.get(), chunk.data(), chunk.size()) == PIPE_BUF);
      }
      _exit(0);
    }
    children.push_back(pid);
  }
  p.write_end.reset();

  std::string data;
  char buf[4096];
  ssize_t n;
  while ((n = read(p.read_end.get(), buf, sizeof(buf))) > 0) data.append(buf, n);
  EXPECT_THAT(n, SyscallSucceedsWithValue(0));

  for (pid_t pid : children) {
    int status;
    ASSERT_THAT(waitpid(pid, &status, 0), SyscallSucceedsWithValue(pid));
    EXPECT_THAT(status, ExitedWith(0));
  }

  ASSERT_EQ(data.size(), static_cast<size_t>(kWriters * kWritesEach * PIPE_BUF));
  int per_writer[kWriters] = {};
  for (size_t off = 0; off < data.size(); off += PIPE_BUF) {
    const std::string chunk = data.substr(off, PIPE_BUF);
    ASSERT_EQ(chunk.find_first_not_of(chunk[0]), std::string::npos)
        << "write interleaved in the chunk at offset " << off;
    const int w = chunk[0] - 'A';
    ASSERT_TRUE(w >= 0 && w < kWriters) << "unexpected byte " << chunk[0];
    per_writer[w]++;
  }
  for (int w = 0; w < kWriters; w++) EXPECT_EQ(per_writer[w], kWritesEach) << "writer " << w;
}

}  // namespace
}  // namespace testing
}  // namespace visor
