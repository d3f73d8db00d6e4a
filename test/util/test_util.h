// Helpers shared by the syscall tests in test/syscalls/linux.
//
// Every test binary runs twice: natively on the host (proving the test is right
// about Linux) and inside runsc (proving Visor matches). These helpers keep the
// tests short and their failure messages precise: a failed syscall assertion
// always names the errno that Linux or Visor actually returned.

#ifndef VISOR_TEST_UTIL_TEST_UTIL_H_
#define VISOR_TEST_UTIL_TEST_UTIL_H_

#include <errno.h>
#include <sys/wait.h>

#include <cstdint>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace visor {
namespace testing {

// The environment variable test/runner sets to "1" when a test binary runs
// inside the sandbox.
inline constexpr char kOnSandboxEnv[] = "VISOR_ON_SANDBOX";

// IsRunningOnVisor reports whether this binary runs inside runsc. Tests use it
// only to note a known, documented difference from Linux; a test that passes
// natively but not on Visor is a Visor bug, not a reason to branch.
bool IsRunningOnVisor();

// ErrnoName returns the symbolic name of errno value e ("EAGAIN"), or its
// number if it has none, so failures read "failed with EINVAL" rather than
// "failed with 22".
std::string ErrnoName(int e);

// SignalName returns the symbolic name of signal sig ("SIGSEGV").
std::string SignalName(int sig);

// WaitStatusString describes a wait(2) status: "exited with 0",
// "killed by SIGSEGV" and so on.
std::string WaitStatusString(int status);

namespace internal {

// A syscall wrapper reports failure by returning -1, or MAP_FAILED (which is
// (void*)-1) for mmap-like calls that return a pointer.
template <typename T>
bool IsSyscallFailure(const T& rv) {
  if constexpr (std::is_pointer_v<T>) {
    return rv == reinterpret_cast<T>(-1);
  } else {
    return rv == static_cast<T>(-1);
  }
}

// SyscallResultMatcher is the implementation behind SyscallSucceeds and
// friends. errno is read at the start of MatchAndExplain, which gtest runs
// right after the expression under test, before anything else can clobber it.
class SyscallResultMatcher {
 public:
  // want_errno == 0 means "must succeed"; value_matcher (optional) then
  // constrains the returned value. want_errno != 0 means "must fail with it";
  // want_errno == -1 accepts any errno.
  SyscallResultMatcher(int want_errno,
                       std::function<bool(long long, std::ostream*)> value_matcher,
                       std::string value_description)
      : want_errno_(want_errno),
        value_matcher_(std::move(value_matcher)),
        value_description_(std::move(value_description)) {}

  template <typename T>
  bool MatchAndExplain(const T& rv, ::testing::MatchResultListener* listener) const {
    const int got_errno = errno;
    if (IsSyscallFailure(rv)) {
      if (want_errno_ == 0) {
        *listener << "failed with " << ErrnoName(got_errno);
        return false;
      }
      if (want_errno_ != -1 && got_errno != want_errno_) {
        *listener << "failed with " << ErrnoName(got_errno);
        return false;
      }
      return true;
    }
    if (want_errno_ != 0) {
      *listener << "succeeded";
      return false;
    }
    if (value_matcher_) {
      long long value;
      if constexpr (std::is_pointer_v<T>) {
        value = static_cast<long long>(reinterpret_cast<uintptr_t>(rv));
      } else {
        value = static_cast<long long>(rv);
      }
      return value_matcher_(value, listener->stream());
    }
    return true;
  }

  void DescribeTo(std::ostream* os) const {
    if (want_errno_ == 0) {
      *os << "succeeds" << value_description_;
    } else if (want_errno_ == -1) {
      *os << "fails";
    } else {
      *os << "fails with " << ErrnoName(want_errno_);
    }
  }

  void DescribeNegationTo(std::ostream* os) const {
    *os << "not (";
    DescribeTo(os);
    *os << ")";
  }

 private:
  int want_errno_;
  std::function<bool(long long, std::ostream*)> value_matcher_;
  std::string value_description_;
};

}  // namespace internal

// SyscallSucceeds matches a syscall wrapper's return value that is not the
// failure value (-1 or MAP_FAILED):
//   ASSERT_THAT(close(fd), SyscallSucceeds());
inline ::testing::PolymorphicMatcher<internal::SyscallResultMatcher> SyscallSucceeds() {
  return ::testing::MakePolymorphicMatcher(internal::SyscallResultMatcher(0, nullptr, ""));
}

// SyscallSucceedsWithValue matches a successful return whose value matches m
// (a value or any gmock matcher on long long):
//   EXPECT_THAT(write(fd, buf, 3), SyscallSucceedsWithValue(3));
template <typename M>
::testing::PolymorphicMatcher<internal::SyscallResultMatcher> SyscallSucceedsWithValue(M m) {
  ::testing::Matcher<long long> value = ::testing::SafeMatcherCast<long long>(m);
  std::ostringstream description;
  description << " with a value that ";
  value.DescribeTo(&description);
  return ::testing::MakePolymorphicMatcher(internal::SyscallResultMatcher(
      0,
      [value](long long v, std::ostream* os) {
        ::testing::StringMatchResultListener listener;
        if (value.MatchAndExplain(v, &listener)) return true;
        if (os) {
          *os << "returned " << v;
          if (!listener.str().empty()) *os << ", " << listener.str();
        }
        return false;
      },
      description.str()));
}

// SyscallFails matches a failed syscall, whatever the errno.
inline ::testing::PolymorphicMatcher<internal::SyscallResultMatcher> SyscallFails() {
  return ::testing::MakePolymorphicMatcher(internal::SyscallResultMatcher(-1, nullptr, ""));
}

// SyscallFailsWithErrno matches a failed syscall that set errno to e:
//   EXPECT_THAT(read(fd, buf, 1), SyscallFailsWithErrno(EAGAIN));
inline ::testing::PolymorphicMatcher<internal::SyscallResultMatcher> SyscallFailsWithErrno(int e) {
  return ::testing::MakePolymorphicMatcher(internal::SyscallResultMatcher(e, nullptr, ""));
}

// FileDescriptor owns a file descriptor and closes it when destroyed, so an
// ASSERT that returns early from a test does not leak it into the next test.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    reset(other.release());
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  int get() const { return fd_; }

  // release gives up ownership and returns the descriptor.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // reset closes the owned descriptor, if any, and takes ownership of fd.
  // close(2) errors are deliberately ignored: the descriptor is gone either
  // way, and tests that care about close's result call it themselves.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// InForkedProcess runs fn in a forked child and returns the child's wait
// status. The child exits 0 when fn returns; fn reports failure with
// TEST_CHECK, since gtest assertions do not work across fork. Core dumps are
// disabled in the child, because tests often expect it to die of a signal.
// Returns -1 (after recording a test failure) if fork or waitpid fails.
int InForkedProcess(const std::function<void()>& fn);

// ExitedWith matches a wait status of a process that exited with code:
//   EXPECT_THAT(InForkedProcess(fn), ExitedWith(0));
MATCHER_P(ExitedWith, code, "exited with " + ::testing::PrintToString(code)) {
  *result_listener << WaitStatusString(arg);
  return WIFEXITED(arg) && WEXITSTATUS(arg) == code;
}

// KilledBy matches a wait status of a process killed by signal sig.
MATCHER_P(KilledBy, sig, "killed by " + SignalName(sig)) {
  *result_listener << WaitStatusString(arg);
  return WIFSIGNALED(arg) && WTERMSIG(arg) == sig;
}

namespace internal {
// TestCheckFailed reports a failed TEST_CHECK to stderr and exits the child.
[[noreturn]] void TestCheckFailed(const char* file, int line, const char* expr,
                                  int saved_errno);
}  // namespace internal

// The exit code of a child whose TEST_CHECK failed.
inline constexpr int kTestCheckFailedExitCode = 111;

// TEST_CHECK(cond) is the assertion for code running in a forked child: if
// cond is false, it writes the failed expression to stderr and _exits with
// kTestCheckFailedExitCode, which the parent sees in the wait status.
#define TEST_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ::visor::testing::internal::TestCheckFailed(__FILE__, __LINE__,     \
                                                  #cond, 0);               \
    }                                                                      \
  } while (0)

// TEST_PCHECK is TEST_CHECK for a condition on a syscall's result; the
// message also names errno.
#define TEST_PCHECK(cond)                                                  \
  do {                                                                     \
    if (!(cond)) {                                                         \
      ::visor::testing::internal::TestCheckFailed(__FILE__, __LINE__,     \
                                                  #cond, errno);           \
    }                                                                      \
  } while (0)

}  // namespace testing
}  // namespace visor

#endif  // VISOR_TEST_UTIL_TEST_UTIL_H_
