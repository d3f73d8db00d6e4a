// Tests for select(2) and pselect6(2).

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
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

std::atomic<int> handled{0};
void Handler(int) { handled++; }

TEST(SelectTest, NothingReadyTimesOutAndZeroesTimeout) {
  Pipe p = NewPipe();
  fd_set rfds;
  FD_ZERO(&rfds);
  FD_SET(p.r.get(), &rfds);
  struct timeval tv = {0, 50000};
  EXPECT_THAT(select(p.r.get() + 1, &rfds, nullptr, nullptr, &tv), SyscallSucceedsWithValue(0));
  EXPECT_FALSE(FD_ISSET(p.r.get(), &rfds));
  // Linux writes the time left back.
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 0);
}

TEST(SelectTest, ReportsReadyDescriptorsOnly) {
  Pipe a = NewPipe();
  Pipe b = NewPipe();
  ASSERT_THAT(write(b.w.get(), "x", 1), SyscallSucceeds());
  fd_set rfds, wfds;
  FD_ZERO(&rfds);
  FD_ZERO(&wfds);
  FD_SET(a.r.get(), &rfds);
  FD_SET(b.r.get(), &rfds);
  FD_SET(a.w.get(), &wfds);
  int nfds = std::max({a.r.get(), b.r.get(), a.w.get()}) + 1;
  struct timeval tv = {10, 0};
  ASSERT_THAT(select(nfds, &rfds, &wfds, nullptr, &tv), SyscallSucceedsWithValue(2));
  EXPECT_FALSE(FD_ISSET(a.r.get(), &rfds));
  EXPECT_TRUE(FD_ISSET(b.r.get(), &rfds));
  EXPECT_TRUE(FD_ISSET(a.w.get(), &wfds));
  EXPECT_GE(tv.tv_sec, 9);
}

TEST(SelectTest, SameFdInTwoSetsCountsTwice) {
  Pipe p = NewPipe();
  fd_set rfds, wfds;
  FD_ZERO(&rfds);
  FD_ZERO(&wfds);
  FD_SET(p.w.get(), &wfds);
  FD_SET(p.w.get(), &rfds);
  p.r.reset();  // the write end is now both "readable" (error) and writable
  struct timeval tv = {0, 0};
  EXPECT_THAT(select(p.w.get() + 1, &rfds, &wfds, nullptr, &tv), SyscallSucceedsWithValue(2));
}

TEST(SelectTest, HangupCountsAsReadable) {
  Pipe p = NewPipe();
  p.w.reset();
  fd_set rfds;
  FD_ZERO(&rfds);
  FD_SET(p.r.get(), &rfds);
  struct timeval tv = {0, 0};
  EXPECT_THAT(select(p.r.get() + 1, &rfds, nullptr, nullptr, &tv), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(FD_ISSET(p.r.get(), &rfds));
}

TEST(SelectTest, ClosedFdFailsWithEBADF) {
  Pipe p = NewPipe();
  int closed = dup(p.r.get());
  ASSERT_THAT(close(closed), SyscallSucceeds());
  fd_set rfds;
  FD_ZERO(&rfds);
  FD_SET(closed, &rfds);
  struct timeval tv = {0, 0};
  EXPECT_THAT(select(closed + 1, &rfds, nullptr, nullptr, &tv), SyscallFailsWithErrno(EBADF));
}

TEST(SelectTest, NegativeNfdsFailsWithEINVAL) {
  struct timeval tv = {0, 0};
  EXPECT_THAT(select(-1, nullptr, nullptr, nullptr, &tv), SyscallFailsWithErrno(EINVAL));
}

TEST(SelectTest, NegativeTimeoutFailsWithEINVAL) {
  struct timeval tv = {-1, 0};
  EXPECT_THAT(select(0, nullptr, nullptr, nullptr, &tv), SyscallFailsWithErrno(EINVAL));
  tv = {0, -1};
  EXPECT_THAT(select(0, nullptr, nullptr, nullptr, &tv), SyscallFailsWithErrno(EINVAL));
}

TEST(SelectTest, WaitsForAWrite) {
  Pipe p = NewPipe();
  std::thread writer([&] {
    usleep(50 * 1000);
    TEST_PCHECK(write(p.w.get(), "x", 1) == 1);
  });
  fd_set rfds;
  FD_ZERO(&rfds);
  FD_SET(p.r.get(), &rfds);
  EXPECT_THAT(select(p.r.get() + 1, &rfds, nullptr, nullptr, nullptr), SyscallSucceedsWithValue(1));
  EXPECT_TRUE(FD_ISSET(p.r.get(), &rfds));
  writer.join();
}

TEST(SelectTest, BadSetAddressFailsWithEFAULT) {
  Pipe p = NewPipe();
  struct timeval tv = {0, 0};
  EXPECT_THAT(select(p.r.get() + 1, reinterpret_cast<fd_set*>(8), nullptr, nullptr, &tv),
              SyscallFailsWithErrno(EFAULT));
}

TEST(SelectTest, SignalInterruptsWithEINTR) {
  struct sigaction sa = {}, old;
  sa.sa_handler = Handler;
  ASSERT_THAT(sigaction(SIGUSR1, &sa, &old), SyscallSucceeds());
  handled = 0;
  pthread_t self = pthread_self();
  std::thread killer([self] {
    usleep(100 * 1000);
    pthread_kill(self, SIGUSR1);
  });
  Pipe p = NewPipe();
  fd_set rfds;
  FD_ZERO(&rfds);
  FD_SET(p.r.get(), &rfds);
  struct timeval tv = {10, 0};
  EXPECT_THAT(select(p.r.get() + 1, &rfds, nullptr, nullptr, &tv), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handled.load(), 1);
  // The time left was written back.
  EXPECT_LT(tv.tv_sec, 10);
  killer.join();
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(Pselect6Test, TimeoutIsATimespec) {
  struct timespec ts = {0, 20 * 1000 * 1000};
  EXPECT_THAT(syscall(SYS_pselect6, 0, nullptr, nullptr, nullptr, &ts, nullptr),
              SyscallSucceedsWithValue(0));
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 0);
  ts = {0, 1000000000};
  EXPECT_THAT(syscall(SYS_pselect6, 0, nullptr, nullptr, nullptr, &ts, nullptr),
              SyscallFailsWithErrno(EINVAL));
}

TEST(Pselect6Test, SigmaskLetsABlockedSignalIn) {
  struct sigaction sa = {}, old;
  sa.sa_handler = Handler;
  ASSERT_THAT(sigaction(SIGUSR1, &sa, &old), SyscallSucceeds());
  sigset_t block, oldmask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &block, &oldmask), SyscallSucceeds());
  handled = 0;
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());

  sigset_t none;
  sigemptyset(&none);
  struct {
    const sigset_t* ss;
    size_t len;
  } arg = {&none, 8};
  struct timespec ts = {10, 0};
  EXPECT_THAT(syscall(SYS_pselect6, 0, nullptr, nullptr, nullptr, &ts, &arg),
              SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handled.load(), 1);

  arg.len = 4;
  EXPECT_THAT(syscall(SYS_pselect6, 0, nullptr, nullptr, nullptr, &ts, &arg),
              SyscallFailsWithErrno(EINVAL));

  sigprocmask(SIG_SETMASK, &oldmask, nullptr);
  sigaction(SIGUSR1, &old, nullptr);
}

}  // namespace
}  // namespace testing
}  // namespace visor
