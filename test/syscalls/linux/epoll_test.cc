// Tests for epoll_create(2), epoll_create1(2), epoll_ctl(2) and epoll_wait(2),
// epoll_pwait(2), epoll_pwait2(2).

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

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
  TEST_PCHECK(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
  return Pipe{FileDescriptor(fds[0]), FileDescriptor(fds[1])};
}

FileDescriptor NewEpoll() {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  TEST_PCHECK(fd >= 0);
  return FileDescriptor(fd);
}

int Add(int epfd, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int Mod(int epfd, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

std::atomic<int> handled{0};
void Handler(int) { handled++; }

TEST(EpollTest, CreateFlags) {
  EXPECT_THAT(epoll_create(0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(epoll_create(-1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(epoll_create1(O_NONBLOCK), SyscallFailsWithErrno(EINVAL));
  int fd = epoll_create(1);
  ASSERT_THAT(fd, SyscallSucceeds());
  FileDescriptor ep(fd);
  EXPECT_THAT(fcntl(fd, F_GETFD), SyscallSucceedsWithValue(0));
  FileDescriptor ep2 = NewEpoll();
  EXPECT_THAT(fcntl(ep2.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
}

TEST(EpollTest, CtlErrors) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(Mod(ep.get(), p.w.get(), EPOLLOUT, 1), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.w.get(), nullptr), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(Add(ep.get(), ep.get(), EPOLLIN, 1), SyscallFailsWithErrno(EINVAL));
  // The epoll descriptor must be an epoll instance.
  EXPECT_THAT(Add(p.r.get(), p.w.get(), EPOLLOUT, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Add(ep.get(), 12345, EPOLLIN, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(Add(12345, p.r.get(), EPOLLIN, 1), SyscallFailsWithErrno(EBADF));
  struct epoll_event ev = {};
  EXPECT_THAT(epoll_ctl(ep.get(), 42, p.w.get(), &ev), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.w.get(), reinterpret_cast<struct epoll_event*>(8)),
              SyscallFailsWithErrno(EFAULT));
  ASSERT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr), SyscallSucceeds());
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr), SyscallFailsWithErrno(ENOENT));
}

TEST(EpollTest, DirectoryIsNotPollable) {
  FileDescriptor ep = NewEpoll();
  int dir = open("/", O_RDONLY | O_DIRECTORY);
  ASSERT_THAT(dir, SyscallSucceeds());
  FileDescriptor d(dir);
  EXPECT_THAT(Add(ep.get(), dir, EPOLLIN, 1), SyscallFailsWithErrno(EPERM));
}

TEST(EpollTest, Exclusive) {
  FileDescriptor ep = NewEpoll();
  FileDescriptor inner = NewEpoll();
  Pipe p = NewPipe();
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 1),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Add(ep.get(), inner.get(), EPOLLIN | EPOLLEXCLUSIVE, 1), SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE, 1), SyscallSucceeds());
  EXPECT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE, 1), SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  struct epoll_event ev;
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.data.u64, 1u);
}

TEST(EpollTest, CyclesFailWithELOOP) {
  FileDescriptor a = NewEpoll();
  FileDescriptor b = NewEpoll();
  ASSERT_THAT(Add(a.get(), b.get(), EPOLLIN, 1), SyscallSucceeds());
  EXPECT_THAT(Add(b.get(), a.get(), EPOLLIN, 1), SyscallFailsWithErrno(ELOOP));
}

TEST(EpollTest, WaitArgumentErrors) {
  FileDescriptor ep = NewEpoll();
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(epoll_wait(ep.get(), &ev, -1, 0), SyscallFailsWithErrno(EINVAL));
  Pipe p = NewPipe();
  EXPECT_THAT(epoll_wait(p.r.get(), &ev, 1, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(epoll_wait(12345, &ev, 1, 0), SyscallFailsWithErrno(EBADF));
}

TEST(EpollTest, ZeroTimeoutReturnsAtOnce) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(EpollTest, TimeoutExpires) {
  FileDescriptor ep = NewEpoll();
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 50), SyscallSucceedsWithValue(0));
  clock_gettime(CLOCK_MONOTONIC, &end);
  int64_t ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
  EXPECT_GE(ms, 45);
}

TEST(EpollTest, LevelTriggeredReportsUntilDrained) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 0x1234567890abcdefULL), SyscallSucceeds());
  ASSERT_THAT(write(p.w.get(), "xy", 2), SyscallSucceeds());
  struct epoll_event ev;
  for (int i = 0; i < 2; i++) {
    ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
    EXPECT_EQ(ev.events, EPOLLIN);
    EXPECT_EQ(ev.data.u64, 0x1234567890abcdefULL);
  }
  char buf[2];
  ASSERT_THAT(read(p.r.get(), buf, 2), SyscallSucceeds());
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(EpollTest, EdgeTriggeredReportsOncePerChange) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLET, 1), SyscallSucceeds());
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  struct epoll_event ev;
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
}

TEST(EpollTest, OneshotNeedsRearming) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLONESHOT, 1), SyscallSucceeds());
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  struct epoll_event ev;
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  // Still registered: ADD fails, MOD re-arms.
  EXPECT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallFailsWithErrno(EEXIST));
  ASSERT_THAT(Mod(ep.get(), p.r.get(), EPOLLIN | EPOLLONESHOT, 2), SyscallSucceeds());
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.data.u64, 2u);
}

TEST(EpollTest, ModChangesEvents) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.w.get(), EPOLLIN, 1), SyscallSucceeds());
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(Mod(ep.get(), p.w.get(), EPOLLOUT, 2), SyscallSucceeds());
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.events, EPOLLOUT);
  EXPECT_EQ(ev.data.u64, 2u);
}

TEST(EpollTest, HangupAndErrorAreAlwaysReported) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.r.get(), 0, 1), SyscallSucceeds());
  ASSERT_THAT(Add(ep.get(), p.w.get(), 0, 2), SyscallSucceeds());
  struct epoll_event ev[2];
  EXPECT_THAT(epoll_wait(ep.get(), ev, 2, 0), SyscallSucceedsWithValue(0));
  p.w.reset();
  ASSERT_THAT(epoll_wait(ep.get(), ev, 2, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev[0].events, EPOLLHUP);
  EXPECT_EQ(ev[0].data.u64, 1u);
}

TEST(EpollTest, RdhupOnPeerShutdown) {
  int sv[2];
  ASSERT_THAT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), SyscallSucceeds());
  FileDescriptor a(sv[0]), b(sv[1]);
  FileDescriptor ep = NewEpoll();
  ASSERT_THAT(Add(ep.get(), sv[0], EPOLLIN | EPOLLRDHUP, 1), SyscallSucceeds());
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(shutdown(sv[1], SHUT_WR), SyscallSucceeds());
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.events, EPOLLIN | EPOLLRDHUP);
}

TEST(EpollTest, ClosingTheOnlyDescriptorRemovesTheInterest) {
  FileDescriptor ep = NewEpoll();
  int efd = eventfd(1, EFD_CLOEXEC);
  ASSERT_THAT(efd, SyscallSucceeds());
  ASSERT_THAT(Add(ep.get(), efd, EPOLLIN, 1), SyscallSucceeds());
  ASSERT_THAT(close(efd), SyscallSucceeds());
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(EpollTest, InterestLivesWhileADuplicateIsOpen) {
  FileDescriptor ep = NewEpoll();
  int efd = eventfd(1, EFD_CLOEXEC);
  ASSERT_THAT(efd, SyscallSucceeds());
  int dupfd = dup(efd);
  ASSERT_THAT(dupfd, SyscallSucceeds());
  FileDescriptor keep(dupfd);
  ASSERT_THAT(Add(ep.get(), efd, EPOLLIN, 7), SyscallSucceeds());
  ASSERT_THAT(close(efd), SyscallSucceeds());
  struct epoll_event ev;
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.data.u64, 7u);
  // The interest is keyed by the closed number: it cannot be named any more.
  EXPECT_THAT(epoll_ctl(ep.get(), EPOLL_CTL_DEL, efd, nullptr), SyscallFailsWithErrno(EBADF));
}

TEST(EpollTest, SameFileUnderTwoNumbers) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  int dupfd = dup(p.r.get());
  ASSERT_THAT(dupfd, SyscallSucceeds());
  FileDescriptor d(dupfd);
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  ASSERT_THAT(Add(ep.get(), dupfd, EPOLLIN, 2), SyscallSucceeds());
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  struct epoll_event ev[4];
  EXPECT_THAT(epoll_wait(ep.get(), ev, 4, 0), SyscallSucceedsWithValue(2));
}

TEST(EpollTest, MaxEventsLimitsAndRotates) {
  FileDescriptor ep = NewEpoll();
  std::vector<FileDescriptor> fds;
  for (int i = 0; i < 3; i++) {
    int efd = eventfd(1, EFD_CLOEXEC);
    ASSERT_THAT(efd, SyscallSucceeds());
    fds.emplace_back(efd);
    ASSERT_THAT(Add(ep.get(), efd, EPOLLIN, i), SyscallSucceeds());
  }
  uint64_t seen = 0;
  for (int i = 0; i < 3; i++) {
    struct epoll_event ev;
    ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, 0), SyscallSucceedsWithValue(1));
    seen |= 1 << ev.data.u64;
  }
  EXPECT_EQ(seen, 7u);
}

TEST(EpollTest, EpollIsPollable) {
  FileDescriptor ep = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(ep.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  struct pollfd pfd = {ep.get(), POLLIN, 0};
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
  ASSERT_THAT(write(p.w.get(), "x", 1), SyscallSucceeds());
  ASSERT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(pfd.revents, POLLIN);
  // Drained: not readable any more.
  char c;
  ASSERT_THAT(read(p.r.get(), &c, 1), SyscallSucceeds());
  EXPECT_THAT(poll(&pfd, 1, 0), SyscallSucceedsWithValue(0));
}

TEST(EpollTest, Nested) {
  FileDescriptor outer = NewEpoll();
  FileDescriptor inner = NewEpoll();
  Pipe p = NewPipe();
  ASSERT_THAT(Add(inner.get(), p.r.get(), EPOLLIN, 1), SyscallSucceeds());
  ASSERT_THAT(Add(outer.get(), inner.get(), EPOLLIN, 2), SyscallSucceeds());
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(outer.get(), &ev, 1, 0), SyscallSucceedsWithValue(0));
  std::thread writer([&] {
    usleep(50 * 1000);
    TEST_PCHECK(write(p.w.get(), "x", 1) == 1);
  });
  ASSERT_THAT(epoll_wait(outer.get(), &ev, 1, 10000), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.events, EPOLLIN);
  EXPECT_EQ(ev.data.u64, 2u);
  writer.join();
}

TEST(EpollTest, WaitBlocksUntilReady) {
  FileDescriptor ep = NewEpoll();
  int efd = eventfd(0, EFD_CLOEXEC);
  ASSERT_THAT(efd, SyscallSucceeds());
  FileDescriptor e(efd);
  ASSERT_THAT(Add(ep.get(), efd, EPOLLIN, 9), SyscallSucceeds());
  std::thread writer([&] {
    usleep(50 * 1000);
    uint64_t v = 1;
    TEST_PCHECK(write(efd, &v, sizeof(v)) == 8);
  });
  struct epoll_event ev;
  ASSERT_THAT(epoll_wait(ep.get(), &ev, 1, -1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.data.u64, 9u);
  writer.join();
}

TEST(EpollTest, SignalInterruptsWithEINTR) {
  struct sigaction sa = {}, old;
  sa.sa_handler = Handler;
  sa.sa_flags = SA_RESTART;  // epoll_wait is never restarted
  ASSERT_THAT(sigaction(SIGUSR1, &sa, &old), SyscallSucceeds());
  handled = 0;
  pthread_t self = pthread_self();
  std::thread killer([self] {
    usleep(100 * 1000);
    pthread_kill(self, SIGUSR1);
  });
  FileDescriptor ep = NewEpoll();
  struct epoll_event ev;
  EXPECT_THAT(epoll_wait(ep.get(), &ev, 1, 10000), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handled.load(), 1);
  killer.join();
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(EpollTest, PwaitSigmask) {
  struct sigaction sa = {}, old;
  sa.sa_handler = Handler;
  ASSERT_THAT(sigaction(SIGUSR1, &sa, &old), SyscallSucceeds());
  sigset_t block, oldmask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_THAT(sigprocmask(SIG_BLOCK, &block, &oldmask), SyscallSucceeds());
  handled = 0;
  ASSERT_THAT(raise(SIGUSR1), SyscallSucceeds());
  FileDescriptor ep = NewEpoll();
  struct epoll_event ev;
  sigset_t none;
  sigemptyset(&none);
  EXPECT_THAT(epoll_pwait(ep.get(), &ev, 1, 10000, &none), SyscallFailsWithErrno(EINTR));
  EXPECT_EQ(handled.load(), 1);
  EXPECT_THAT(syscall(SYS_epoll_pwait, ep.get(), &ev, 1, 0, &none, 4), SyscallFailsWithErrno(EINVAL));
  sigprocmask(SIG_SETMASK, &oldmask, nullptr);
  sigaction(SIGUSR1, &old, nullptr);
}

#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif

TEST(EpollTest, Pwait2TakesATimespec) {
  FileDescriptor ep = NewEpoll();
  struct epoll_event ev;
  struct timespec ts = {0, 20 * 1000 * 1000};
  EXPECT_THAT(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, &ts, nullptr, 8), SyscallSucceedsWithValue(0));
  ts = {0, 1000000000};
  EXPECT_THAT(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, &ts, nullptr, 8), SyscallFailsWithErrno(EINVAL));
  int efd = eventfd(1, EFD_CLOEXEC);
  ASSERT_THAT(efd, SyscallSucceeds());
  FileDescriptor e(efd);
  ASSERT_THAT(Add(ep.get(), efd, EPOLLIN, 3), SyscallSucceeds());
  ASSERT_THAT(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, nullptr, nullptr, 8), SyscallSucceedsWithValue(1));
  EXPECT_EQ(ev.data.u64, 3u);
}

}  // namespace
}  // namespace testing
}  // namespace visor
