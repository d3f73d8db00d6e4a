// Tests for getrandom(2).

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

TEST(GetrandomTest, FillsTheBufferWithDistinctData) {
  unsigned char a[64] = {}, b[64] = {};
  ASSERT_THAT(getrandom(a, sizeof(a), 0), SyscallSucceedsWithValue(sizeof(a)));
  ASSERT_THAT(getrandom(b, sizeof(b), 0), SyscallSucceedsWithValue(sizeof(b)));
  // 512 random bits: all zero, or two equal draws, would be astronomically
  // unlikely.
  EXPECT_FALSE(std::all_of(a, a + sizeof(a), [](unsigned char c) { return c == 0; }));
  EXPECT_NE(memcmp(a, b, sizeof(a)), 0);
}

TEST(GetrandomTest, ByteValuesAreSpread) {
  std::vector<unsigned char> buf(4096);
  ASSERT_THAT(getrandom(buf.data(), buf.size(), 0), SyscallSucceedsWithValue(buf.size()));
  int counts[256] = {};
  for (unsigned char c : buf) counts[c]++;
  // Expected 16 of each value; even a poor generator gets most values.
  const int distinct = std::count_if(counts, counts + 256, [](int n) { return n > 0; });
  EXPECT_GT(distinct, 200);
}

TEST(GetrandomTest, AcceptedFlags) {
  unsigned char buf[16];
  EXPECT_THAT(getrandom(buf, sizeof(buf), GRND_NONBLOCK), SyscallSucceedsWithValue(sizeof(buf)));
  // GRND_RANDOM may return fewer bytes, but at least one once initialized.
  EXPECT_THAT(getrandom(buf, sizeof(buf), GRND_RANDOM),
              SyscallSucceedsWithValue(::testing::AllOf(::testing::Gt(0), ::testing::Le(16))));
  EXPECT_THAT(getrandom(buf, sizeof(buf), GRND_RANDOM | GRND_NONBLOCK),
              SyscallSucceedsWithValue(::testing::AllOf(::testing::Gt(0), ::testing::Le(16))));
  EXPECT_THAT(syscall(SYS_getrandom, buf, sizeof(buf), GRND_INSECURE),
              SyscallSucceedsWithValue(sizeof(buf)));
}

TEST(GetrandomTest, InvalidFlagsAreEINVAL) {
  unsigned char buf[16];
  EXPECT_THAT(syscall(SYS_getrandom, buf, sizeof(buf), 0x100), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getrandom, buf, sizeof(buf), -1), SyscallFailsWithErrno(EINVAL));
  // GRND_INSECURE and GRND_RANDOM exclude each other.
  EXPECT_THAT(syscall(SYS_getrandom, buf, sizeof(buf), GRND_INSECURE | GRND_RANDOM),
              SyscallFailsWithErrno(EINVAL));
}

TEST(GetrandomTest, ZeroLengthAndBadBuffer) {
  unsigned char buf[1] = {0x5a};
  EXPECT_THAT(getrandom(buf, 0, 0), SyscallSucceedsWithValue(0));
  EXPECT_EQ(buf[0], 0x5a);
  EXPECT_THAT(syscall(SYS_getrandom, reinterpret_cast<void*>(8), 16, 0),
              SyscallFailsWithErrno(EFAULT));
}

TEST(GetrandomTest, LargeRequestsAreFilled) {
  // Requests up to 256 bytes are never short; larger ones may be, but return
  // something.
  std::vector<unsigned char> buf(1 << 20);
  const long n = syscall(SYS_getrandom, buf.data(), buf.size(), 0);
  ASSERT_THAT(n, SyscallSucceeds());
  EXPECT_GT(n, 256);
  EXPECT_LE(static_cast<size_t>(n), buf.size());
  unsigned char small[256];
  EXPECT_THAT(getrandom(small, sizeof(small), 0), SyscallSucceedsWithValue(sizeof(small)));
}

}  // namespace
}  // namespace testing
}  // namespace visor
