// Tests for mmap(2), munmap(2) and mprotect(2) on anonymous memory.

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

const size_t kPageSize = sysconf(_SC_PAGESIZE);

// Mapping owns an mmap'ed range and unmaps it when destroyed.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t len) : addr_(addr), len_(len) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(MAP_FAILED, 0); }

  // reset unmaps the owned range, if any, and takes ownership of [addr, addr+len).
  void reset(void* addr, size_t len) {
    if (addr_ != MAP_FAILED) munmap(addr_, len_);
    addr_ = addr;
    len_ = len;
  }

  char* ptr() const { return static_cast<char*>(addr_); }
  size_t len() const { return len_; }

 private:
  void* addr_ = MAP_FAILED;
  size_t len_ = 0;
};

// MapAnon maps len bytes of anonymous memory, failing the test on error.
void MapAnon(size_t len, int prot, int flags, Mapping* m) {
  void* addr = mmap(nullptr, len, prot, flags | MAP_ANONYMOUS, -1, 0);
  ASSERT_THAT(addr, SyscallSucceeds());
  m->reset(addr, len);
}

// ReadByte and WriteByte access p through a volatile pointer, so the compiler
// cannot drop an access that is expected to fault.
char ReadByte(const char* p) { return *static_cast<const volatile char*>(p); }
void WriteByte(char* p, char c) { *static_cast<volatile char*>(p) = c; }

TEST(MmapTest, AnonPrivateIsZeroedAndWritable) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(4 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m.ptr()) % kPageSize, 0u);
  for (size_t i = 0; i < m.len(); i++) {
    ASSERT_EQ(m.ptr()[i], 0) << "at offset " << i;
  }
  memset(m.ptr(), 0x5a, m.len());
  EXPECT_EQ(m.ptr()[0], 0x5a);
  EXPECT_EQ(m.ptr()[m.len() - 1], 0x5a);
}

TEST(MmapTest, AnonPrivateIsCopyOnWriteAcrossFork) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
  m.ptr()[0] = 'p';
  char* p = m.ptr();
  EXPECT_THAT(InForkedProcess([p] {
                TEST_CHECK(p[0] == 'p');  // The child starts with a copy...
                p[0] = 'c';
                TEST_CHECK(p[0] == 'c');
              }),
              ExitedWith(0));
  EXPECT_EQ(m.ptr()[0], 'p');  // ...and its writes stay its own.
}

TEST(MmapTest, AnonSharedIsSharedAcrossFork) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, &m));
  m.ptr()[0] = 'p';
  char* p = m.ptr();
  EXPECT_THAT(InForkedProcess([p] {
                TEST_CHECK(p[0] == 'p');
                p[0] = 'c';
                p[kPageSize - 1] = 'e';
              }),
              ExitedWith(0));
  EXPECT_EQ(m.ptr()[0], 'c');
  EXPECT_EQ(m.ptr()[kPageSize - 1], 'e');
}

TEST(MmapTest, MapFixedReplacesExistingPages) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(3 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
  memset(m.ptr(), 'x', m.len());

  char* middle = m.ptr() + kPageSize;
  void* addr = mmap(middle, kPageSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_THAT(addr, SyscallSucceedsWithValue(reinterpret_cast<uintptr_t>(middle)));
  // The new page is fresh zeroed memory; its neighbours are untouched.
  EXPECT_EQ(middle[0], 0);
  EXPECT_EQ(middle[kPageSize - 1], 0);
  EXPECT_EQ(m.ptr()[kPageSize - 1], 'x');
  EXPECT_EQ(m.ptr()[2 * kPageSize], 'x');
}

TEST(MmapTest, MapFixedNoreplaceFailsOnExistingMapping) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
  EXPECT_THAT(mmap(m.ptr(), kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                   -1, 0),
              SyscallFailsWithErrno(EEXIST));
}

TEST(MmapTest, AccessAfterMunmapFaults) {
  void* addr = mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_THAT(addr, SyscallSucceeds());
  char* p = static_cast<char*>(addr);
  p[0] = 'x';
  ASSERT_THAT(munmap(addr, kPageSize), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([p] { ReadByte(p); }), KilledBy(SIGSEGV));
  EXPECT_THAT(InForkedProcess([p] { WriteByte(p, 'y'); }), KilledBy(SIGSEGV));
}

TEST(MmapTest, WriteToReadOnlyPageFaults) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
  m.ptr()[0] = 'r';
  ASSERT_THAT(mprotect(m.ptr(), kPageSize, PROT_READ), SyscallSucceeds());
  EXPECT_EQ(ReadByte(m.ptr()), 'r');  // Reading is still allowed.
  char* p = m.ptr();
  EXPECT_THAT(InForkedProcess([p] { WriteByte(p, 'w'); }), KilledBy(SIGSEGV));
  // Restoring PROT_WRITE makes the page writable again, contents intact.
  ASSERT_THAT(mprotect(m.ptr(), kPageSize, PROT_READ | PROT_WRITE), SyscallSucceeds());
  EXPECT_EQ(m.ptr()[0], 'r');
  m.ptr()[0] = 'w';
  EXPECT_EQ(m.ptr()[0], 'w');
}

TEST(MmapTest, ProtNoneFaultsOnRead) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(kPageSize, PROT_NONE, MAP_PRIVATE, &m));
  char* p = m.ptr();
  EXPECT_THAT(InForkedProcess([p] { ReadByte(p); }), KilledBy(SIGSEGV));
}

TEST(MmapTest, ZeroLengthFailsWithEINVAL) {
  EXPECT_THAT(mmap(nullptr, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              SyscallFailsWithErrno(EINVAL));
}

TEST(MmapTest, UnalignedFixedAddressFailsWithEINVAL) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(2 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
  EXPECT_THAT(mmap(m.ptr() + 1, kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
              SyscallFailsWithErrno(EINVAL));
}

TEST(MmapTest, NeitherPrivateNorSharedFailsWithEINVAL) {
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_ANONYMOUS, -1, 0),
              SyscallFailsWithErrno(EINVAL));
}

TEST(MmapTest, MunmapArgumentErrors) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapAnon(2 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, &m));
  EXPECT_THAT(munmap(m.ptr() + 1, kPageSize), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(munmap(m.ptr(), 0), SyscallFailsWithErrno(EINVAL));
}

}  // namespace
}  // namespace testing
}  // namespace visor
