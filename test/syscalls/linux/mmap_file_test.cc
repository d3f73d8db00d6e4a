// Tests for mmap(2) of files and of the mmap argument checks that involve a
// file, and for msync(2), mincore(2), madvise(2) and mlock(2).

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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/mmap_file_test_XXXXXX";
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

// Mapping unmaps its range when destroyed.
class Mapping {
 public:
  Mapping(void* addr, size_t len) : addr_(addr), len_(len) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr_ != MAP_FAILED) munmap(addr_, len_);
  }
  char* ptr() const { return static_cast<char*>(addr_); }
  bool ok() const { return addr_ != MAP_FAILED; }

 private:
  void* addr_;
  size_t len_;
};

// MakeFile creates a file of n bytes, byte i being 'a' + i % 26.
void MakeFile(const TempDir& dir, size_t n, std::string* path) {
  *path = dir.Child("file");
  std::string data(n, '\0');
  for (size_t i = 0; i < n; i++) data[i] = 'a' + i % 26;
  ASSERT_NO_FATAL_FAILURE(WriteFile(*path, data));
}

TEST(MmapFileTest, PrivateReadSeesContents) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, 3 * kPageSize + 100, &path));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  Mapping m(mmap(nullptr, 4 * kPageSize, PROT_READ, MAP_PRIVATE, fd.get(), 0), 4 * kPageSize);
  ASSERT_THAT(m.ptr(), SyscallSucceeds());
  for (size_t i = 0; i < 3 * kPageSize + 100; i += 997) {
    ASSERT_EQ(m.ptr()[i], static_cast<char>('a' + i % 26)) << "at " << i;
  }
  // The rest of the last page reads as zeros.
  EXPECT_EQ(m.ptr()[3 * kPageSize + 100], 0);
  EXPECT_EQ(m.ptr()[4 * kPageSize - 1], 0);
}

TEST(MmapFileTest, Offset) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, 2 * kPageSize, &path));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  Mapping m(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, fd.get(), kPageSize), kPageSize);
  ASSERT_THAT(m.ptr(), SyscallSucceeds());
  EXPECT_EQ(m.ptr()[0], static_cast<char>('a' + kPageSize % 26));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, fd.get(), 100), SyscallFailsWithErrno(EINVAL));
}

TEST(MmapFileTest, PrivateWritesStayPrivate) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, kPageSize, &path));
  // A read-only descriptor may be mapped private and writable.
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  Mapping m(mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.get(), 0), kPageSize);
  ASSERT_THAT(m.ptr(), SyscallSucceeds());
  m.ptr()[0] = 'Z';
  char c;
  ASSERT_THAT(pread(fd.get(), &c, 1, 0), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, 'a');
  EXPECT_EQ(m.ptr()[0], 'Z');
}

TEST(MmapFileTest, SharedReadOnly) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, kPageSize, &path));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  Mapping m(mmap(nullptr, kPageSize, PROT_READ, MAP_SHARED, fd.get(), 0), kPageSize);
  ASSERT_THAT(m.ptr(), SyscallSucceeds());
  EXPECT_EQ(m.ptr()[1], 'b');
  // A read-only descriptor can never make the shared mapping writable.
  EXPECT_THAT(mprotect(m.ptr(), kPageSize, PROT_READ | PROT_WRITE), SyscallFailsWithErrno(EACCES));
}

TEST(MmapFileTest, AccessModeChecks) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, kPageSize, &path));
  FileDescriptor ro(open(path.c_str(), O_RDONLY));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, ro.get(), 0), SyscallFailsWithErrno(EACCES));
  // Mapping needs a readable descriptor, whatever the protection.
  FileDescriptor wo(open(path.c_str(), O_WRONLY));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_WRITE, MAP_SHARED, wo.get(), 0), SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, wo.get(), 0), SyscallFailsWithErrno(EACCES));
}

TEST(MmapFileTest, WhatCannotBeMapped) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, kPageSize, &path));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, -1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, 1000, 0), SyscallFailsWithErrno(EBADF));
  FileDescriptor opath(open(path.c_str(), O_PATH));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, opath.get(), 0), SyscallFailsWithErrno(EBADF));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, d.get(), 0), SyscallFailsWithErrno(ENODEV));
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  FileDescriptor r(p[0]), w(p[1]);
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, r.get(), 0), SyscallFailsWithErrno(ENODEV));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  EXPECT_THAT(mmap(nullptr, kPageSize, PROT_READ, MAP_SHARED_VALIDATE | 0x800000, fd.get(), 0),
              SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(mmap(nullptr, 0, PROT_READ, MAP_PRIVATE, fd.get(), 0), SyscallFailsWithErrno(EINVAL));
}

TEST(MmapFileTest, AnonymousIgnoresFD) {
  void* p = mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 12345, 0);
  ASSERT_THAT(p, SyscallSucceeds());
  Mapping m(p, kPageSize);
  EXPECT_EQ(m.ptr()[0], 0);
}

TEST(MmapFileTest, MappingOutlivesDescriptorAndName) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, kPageSize, &path));
  void* p;
  {
    FileDescriptor fd(open(path.c_str(), O_RDONLY));
    p = mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    ASSERT_THAT(p, SyscallSucceeds());
  }
  ASSERT_THAT(unlink(path.c_str()), SyscallSucceeds());
  Mapping m(p, kPageSize);
  EXPECT_EQ(m.ptr()[2], 'c');
}

TEST(MmapFileTest, ReadOnlyMappingFaultsOnWrite) {
  TempDir dir;
  std::string path;
  ASSERT_NO_FATAL_FAILURE(MakeFile(dir, kPageSize, &path));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  Mapping m(mmap(nullptr, kPageSize, PROT_READ, MAP_PRIVATE, fd.get(), 0), kPageSize);
  ASSERT_THAT(m.ptr(), SyscallSucceeds());
  char* ptr = m.ptr();
  EXPECT_THAT(InForkedProcess([ptr] { *static_cast<volatile char*>(ptr) = 'x'; }), KilledBy(SIGSEGV));
}

TEST(MsyncMincoreTest, Basics) {
  void* p = mmap(nullptr, 4 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_THAT(p, SyscallSucceeds());
  Mapping m(p, 4 * kPageSize);
  m.ptr()[0] = 1;
  unsigned char vec[4];
  ASSERT_THAT(mincore(m.ptr(), 4 * kPageSize, vec), SyscallSucceeds());
  EXPECT_EQ(vec[0] & 1, 1);
  EXPECT_THAT(mincore(m.ptr() + 1, kPageSize, vec), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(mincore(m.ptr(), kPageSize, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(msync(m.ptr(), kPageSize, MS_SYNC), SyscallSucceeds());
  EXPECT_THAT(msync(m.ptr(), kPageSize, MS_SYNC | MS_ASYNC), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(madvise(m.ptr(), kPageSize, MADV_DONTNEED), SyscallSucceeds());
  EXPECT_EQ(m.ptr()[0], 0);
  EXPECT_THAT(madvise(m.ptr(), kPageSize, 12345), SyscallFailsWithErrno(EINVAL));
}

TEST(MlockTest, LockAndUnlock) {
  void* p = mmap(nullptr, 2 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_THAT(p, SyscallSucceeds());
  Mapping m(p, 2 * kPageSize);
  int ret = mlock(m.ptr(), kPageSize);
  if (ret < 0 && (errno == EPERM || errno == ENOMEM)) GTEST_SKIP() << "RLIMIT_MEMLOCK forbids locking here";
  ASSERT_THAT(ret, SyscallSucceeds());
  EXPECT_THAT(munlock(m.ptr(), kPageSize), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_mlock2, m.ptr(), kPageSize, MLOCK_ONFAULT), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_mlock2, m.ptr(), kPageSize, 0x10), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(munlock(m.ptr(), 2 * kPageSize), SyscallSucceeds());
  EXPECT_THAT(mlockall(0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(munlockall(), SyscallSucceeds());
}

}  // namespace
}  // namespace testing
}  // namespace visor
