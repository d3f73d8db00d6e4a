// Tests for mremap(2).

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/mremap_test_XXXXXX";
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

const size_t kPageSize = sysconf(_SC_PAGESIZE);

char* MapAnon(size_t len) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

TEST(MremapTest, ShrinkInPlace) {
  char* p = MapAnon(4 * kPageSize);
  ASSERT_NE(p, nullptr);
  p[0] = 'a';
  void* q = mremap(p, 4 * kPageSize, kPageSize, 0);
  ASSERT_THAT(q, SyscallSucceeds());
  EXPECT_EQ(q, p);
  EXPECT_EQ(p[0], 'a');
  EXPECT_THAT(InForkedProcess([p] { *static_cast<volatile char*>(p + kPageSize) = 1; }), KilledBy(SIGSEGV));
  munmap(p, kPageSize);
}

TEST(MremapTest, GrowMovesContents) {
  // Reserve room, then free the page after the mapping so that it may grow in
  // place, or must move when something sits there.
  char* p = MapAnon(2 * kPageSize);
  ASSERT_NE(p, nullptr);
  ASSERT_THAT(munmap(p + kPageSize, kPageSize), SyscallSucceeds());
  char* blocker = static_cast<char*>(mmap(p + kPageSize, kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
  ASSERT_EQ(blocker, p + kPageSize);
  memset(p, 'x', kPageSize);
  // Without MREMAP_MAYMOVE growing into the blocker fails.
  EXPECT_THAT(mremap(p, kPageSize, 2 * kPageSize, 0), SyscallFailsWithErrno(ENOMEM));
  char* q = static_cast<char*>(mremap(p, kPageSize, 4 * kPageSize, MREMAP_MAYMOVE));
  ASSERT_THAT(q, SyscallSucceeds());
  EXPECT_NE(q, p);
  EXPECT_EQ(q[0], 'x');
  EXPECT_EQ(q[kPageSize - 1], 'x');
  EXPECT_EQ(q[3 * kPageSize], 0);
  q[4 * kPageSize - 1] = 'y';
  // The old range is gone.
  EXPECT_THAT(InForkedProcess([p] { (void)*static_cast<volatile char*>(p); }), KilledBy(SIGSEGV));
  munmap(q, 4 * kPageSize);
  munmap(blocker, kPageSize);
}

TEST(MremapTest, Fixed) {
  char* p = MapAnon(kPageSize);
  char* target = MapAnon(2 * kPageSize);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(target, nullptr);
  p[0] = 'f';
  void* q = mremap(p, kPageSize, kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, target);
  ASSERT_THAT(q, SyscallSucceeds());
  EXPECT_EQ(q, target);
  EXPECT_EQ(target[0], 'f');
  // MREMAP_FIXED needs MREMAP_MAYMOVE, and the ranges must not overlap.
  EXPECT_THAT(mremap(target, kPageSize, kPageSize, MREMAP_FIXED, target + kPageSize), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(mremap(target + kPageSize, kPageSize, 2 * kPageSize, MREMAP_MAYMOVE | MREMAP_FIXED, target),
              SyscallFailsWithErrno(EINVAL));
  munmap(target, 2 * kPageSize);
}

TEST(MremapTest, Errors) {
  char* p = MapAnon(kPageSize);
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(mremap(p + 1, kPageSize, kPageSize, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(mremap(p, kPageSize, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(mremap(p, kPageSize, kPageSize, 0x80), SyscallFailsWithErrno(EINVAL));
  // Growing more than the mapping holds.
  EXPECT_THAT(mremap(p, 2 * kPageSize, 3 * kPageSize, MREMAP_MAYMOVE), SyscallFailsWithErrno(EFAULT));
  ASSERT_THAT(munmap(p, kPageSize), SyscallSucceeds());
  EXPECT_THAT(mremap(p, kPageSize, kPageSize, 0), SyscallFailsWithErrno(EFAULT));
  // Only a shared mapping can be duplicated with an old size of 0.
  char* priv = MapAnon(kPageSize);
  EXPECT_THAT(mremap(priv, 0, kPageSize, MREMAP_MAYMOVE), SyscallFailsWithErrno(EINVAL));
  munmap(priv, kPageSize);
}

TEST(MremapTest, DuplicateShared) {
  char* p = static_cast<char*>(mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_THAT(p, SyscallSucceeds());
  char* q = static_cast<char*>(mremap(p, 0, kPageSize, MREMAP_MAYMOVE));
  ASSERT_THAT(q, SyscallSucceeds());
  EXPECT_NE(q, p);
  p[10] = 's';
  EXPECT_EQ(q[10], 's');
  munmap(p, kPageSize);
  munmap(q, kPageSize);
}

}  // namespace
}  // namespace testing
}  // namespace visor
