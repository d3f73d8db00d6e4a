// Tests for poll(2) and ppoll(2).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

struct Pipe {
  FileDescriptor r, w;
};

Pipe NewPipe() {
  int fds[2];
  TEST_PCHECK(pipe2(fds, O_CLOEXEC) == 0);
  return Pipe{FileDescriptor(fds[0]), FileDescriptor(fds[1])};
}

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

std::atomic<int> handled{0};
void Handler(int) { handled++; }

// SignalSoon sends SIGUSR1 to thread after a delay, with a handler installed
// without SA_RESTART.
class SignalSoon {
 public:
  explicit SignalSoon(pthread_t thread) {
    struct sigaction sa = {};
    sa.sa_handler = Handler;
    TEST_PCHECK(sigaction(SIGUSR1, &sa, &old_) == 0);
    t_ = std::thread([thread] {
      usleep(100 * 1000);
      pthread_kill(thread, SIGUSR1);
    });
  }
  ~SignalSoon() {
    t_.join();
    sigaction(SIGUSR1, &old_, nullptr);
  }

 private:
  struct sigaction old_;
  std::thread t_;
};

TEST(PollTest, NothingToWaitForTimesOut) {
  int64_t start = NowMs();
  EXPECT_THAT(poll(nullptr, 0, 50), SyscallSucceedsWithValue(0));
  EXPECT_GE(NowMs() - start, 45);
}

TEST(PollTest, ZeroTimeoutReturnsAtOnce) {
  Pipe p = NewPipe();
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  EXPECT_EQ(pfd.revents, 0);
}

TEST(PollTest, ReportsReadableAndWritable) {
  Pipe p = NewPipe();
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  struct pollfd pfds[2] = {{p.r.get(), POLLIN | POLLOUT, 0}, {p.w.get(), POLLIN | POLLOUT, 0}};
  ASSERT_THAT(poll(pfds, 2, 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(pfds[0].revents, POLLIN);
  EXPECT_EQ(pfds[1].revents, POLLOUT);
}

TEST(PollTest, OnlyAskedEventsAreReported) {
  Pipe p = NewPipe();
  struct pollfd pfd = {p.w.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  EXPECT_EQ(pfd.revents, 0);
}

TEST(PollTest, NegativeFdIsIgnored) {
  struct pollfd pfd = {-1, POLLIN, 0x7f};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  EXPECT_EQ(pfd.revents, 0);
}

TEST(PollTest, ClosedFdIsPOLLNVAL) {
  Pipe p = NewPipe();
  int closed = dup(p.r.get());
  ASSERT_THAT(close(closed), SyscallSucceeds());
  struct pollfd pfds[2] = {{closed, POLLIN, 0}, {p.r.get(), POLLIN, 0}};
  // An invalid descriptor counts and ends the wait.
  EXPECT_THAT(poll(pfds, 2, 10000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfds[0].revents, POLLNVAL);
  EXPECT_EQ(pfds[1].revents, 0);
}

TEST(PollTest, HangupIsAlwaysReported) {
  Pipe p = NewPipe();
  p.w.reset();
  struct pollfd pfd = {p.r.get(), 0, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLHUP);
}

TEST(PollTest, ErrorWhenReaderIsGone) {
  Pipe p = NewPipe();
  p.r.reset();
  struct pollfd pfd = {p.w.get(), POLLOUT, 0};
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLOUT | POLLERR);
}

TEST(PollTest, WaitsForAWrite) {
  Pipe p = NewPipe();
  std::thread writer([&] {
    usleep(50 * 1000);
    TEST_PCHECK(write(p.w.get(), "x", 1) == 1);
  });
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 10000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
  writer.join();
}

TEST(PollTest, TimesOutWhenNothingHappens) {
  Pipe p = NewPipe();
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  int64_t start = NowMs();
  EXPECT_THAT(poll(&pfd, 1, 50), SyscallSucceedsWithValue(0));
  EXPECT_GE(NowMs() - start, 45);
}

TEST(PollTest, TooManyFdsFailWithEINVAL) {
  struct rlimit rl;
  ASSERT_THAT(getrlimit(RLIMIT_NOFILE, &rl), SyscallSucceeds());
  EXPECT_THAT(poll(nullptr, rl.rlim_cur + 1, 0), SyscallFailsWithErrno(EINVAL));
}

TEST(PollTest, BadAddressFailsWithEFAULT) {
  EXPECT_THAT(poll(reinterpret_cast<struct pollfd*>(8), 1, 0), SyscallFailsWithErrno(EFAULT));
}

TEST(PollTest, SignalInterruptsWithEINTR) {
  Pipe p = NewPipe();
  handled = 0;
  SignalSoon s(pthread_self());
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 10000), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handled.load(), 1);
}

TEST(PpollTest, ZeroTimeoutReturnsAtOnce) {
  Pipe p = NewPipe();
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  struct timespec ts = {0, 0};
  EXPECT_THAT(ppoll(&pfd, 1, &ts, nullptr), SyscallSucceedsWithValue(0));
}

TEST(PpollTest, InvalidTimeoutFailsWithEINVAL) {
  struct timespec ts = {0, 1000000000};
  EXPECT_THAT(ppoll(nullptr, 0, &ts, nullptr), SyscallFailsWithErrno(EINVAL));
  ts = {-1, 0};
  EXPECT_THAT(ppoll(nullptr, 0, &ts, nullptr), SyscallFailsWithErrno(EINVAL));
}

TEST(PpollTest, BadSigsetSizeFailsWithEINVAL) {
  sigset_t set;
  sigemptyset(&set);
  struct timespec ts = {0, 0};
  EXPECT_THAT(syscall(SYS_ppoll, nullptr, 0, &ts, &set, 4), SyscallFailsWithErrno(EINVAL));
}

TEST(PpollTest, WritesBackTimeLeft) {
  Pipe p = NewPipe();
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  struct timespec ts = {10, 0};
  // The raw system call updates the timeout (glibc's wrapper hides it).
  ASSERT_THAT(syscall(SYS_ppoll, &pfd, 1, &ts, nullptr, 8), SyscallSucceedsWithValue(1));
  EXPECT_LE(ts.tv_sec, 10);
  EXPECT_GE(ts.tv_sec, 9);
}

TEST(PpollTest, SigmaskLetsABlockedSignalIn) {
  struct sigaction sa = {}, old;
  sa.sa_handler = Handler;
  ASSERT_THAT(sigaction(SIGUSR1, &sa, &old), SyscallSucceeds());
  sigset_t block, oldmask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &block, &oldmask), SyscallSucceeds());
  handled = 0;
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  EXPECT_EQ(handled.load(), 0);

  Pipe p = NewPipe();
  struct pollfd pfd = {p.r.get(), POLLIN, 0};
  sigset_t none;
  sigemptyset(&none);
  struct timespec ts = {10, 0};
  EXPECT_THAT(ppoll(&pfd, 1, &ts, &none), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handled.load(), 1);
  // The mask is back as it was: SIGUSR1 still blocked.
  sigset_t now;
  ASSERT_THAT(sigprocmask(SIG_SETMASK, nullptr, &now), SyscallSucceeds());
  EXPECT_TRUE(sigismember(&now, SIGUSR1));

  sigprocmask(SIG_SETMASK, &oldmask, nullptr);
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
}  // namespace testing
}  // namespace visor
