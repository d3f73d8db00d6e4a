// Tests for brk(2).

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test/util/test_util.h"

namespace visor {
namespace testing {
namespace {

// TempDir is a fresh directory under $TEST_TMPDIR (or /tmp), removed with
// everything in it when destroyed.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/brk_test_XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp: " << ErrnoName(errno);
    }
    path_ = tmpl;
    // Searchable by everyone, for the cases that drop privileges.
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  const std::string& path() const { return path_; }
  std::string Child(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// WriteFile creates path with contents, failing the test on error.
void WriteFile(const std::string& path, const std::string& contents, mode_t mode = 0644) {
  FileDescriptor fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  ASSERT_THAT(write(fd.get(), contents.data(), contents.size()),
              SyscallSucceedsWithValue(contents.size()));
}

uintptr_t Brk(uintptr_t addr) { return syscall(SYS_brk, addr); }

TEST(BrkTest, ZeroReadsTheBreak) {
  uintptr_t cur = Brk(0);
  EXPECT_NE(cur, 0u);
  EXPECT_EQ(Brk(0), cur);
}

TEST(BrkTest, GrowWriteShrink) {
  const uintptr_t start = Brk(0);
  const uintptr_t want = start + 3 * 4096 + 17;
  ASSERT_EQ(Brk(want), want);
  EXPECT_EQ(Brk(0), want);
  // The new heap is zeroed and writable up to the break.
  char* p = reinterpret_cast<char*>(start);
  for (uintptr_t a = start; a < want; a += 512) EXPECT_EQ(reinterpret_cast<char*>(a)[0], 0);
  memset(p, 0x5a, want - start);
  // Shrinking gives the memory back; growing again gives zeroes.
  ASSERT_EQ(Brk(start), start);
  ASSERT_EQ(Brk(want), want);
  EXPECT_EQ(p[want - start - 1 - 4096 * 2], 0);
  ASSERT_EQ(Brk(start), start);
}

TEST(BrkTest, FailureReturnsTheOldBreak) {
  const uintptr_t start = Brk(0);
  // Into the kernel's half of the address space.
  EXPECT_EQ(Brk(~uintptr_t{0} - 4096), start);
  // Onto an existing mapping above the heap.
  void* m = mmap(reinterpret_cast<void*>((start + (64 << 20)) & ~uintptr_t{4095}), 4096, PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m != MAP_FAILED) {
    EXPECT_EQ(Brk(reinterpret_cast<uintptr_t>(m) + 8192), start);
    munmap(m, 4096);
  }
  EXPECT_EQ(Brk(0), start);
}

TEST(BrkTest, SbrkWorks) {
  void* before = sbrk(0);
  ASSERT_NE(before, reinterpret_cast<void*>(-1));
  void* got = sbrk(8192);
  ASSERT_EQ(got, before);
  static_cast<char*>(got)[8191] = 1;
  EXPECT_EQ(sbrk(0), static_cast<char*>(before) + 8192);
  ASSERT_NE(sbrk(-8192), reinterpret_cast<void*>(-1));
  EXPECT_EQ(sbrk(0), before);
}

TEST(BrkTest, HeapIsInheritedByFork) {
  const uintptr_t start = Brk(0);
  ASSERT_EQ(Brk(start + 4096), start + 4096);
  char* p = reinterpret_cast<char*>(start);
  p[0] = 'p';
  EXPECT_THAT(InForkedProcess([&] {
                TEST_CHECK(Brk(0) == start + 4096);
                TEST_CHECK(p[0] == 'p');
                p[0] = 'c';
              }),
              ExitedWith(0));
  EXPECT_EQ(p[0], 'p');
  Brk(start);
}

}  // namespace
}  // namespace testing
}  // namespace visor
