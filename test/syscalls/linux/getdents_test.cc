// Tests for getdents64(2) and getdents(2).

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/getdents_test_XXXXXX";
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

// Dirent is one entry as getdents64 returns it.
struct Dirent {
  uint64_t ino;
  int64_t off;
  unsigned char type;
  std::string name;
};

// ParseDirents64 splits a getdents64 buffer of n bytes into entries.
std::vector<Dirent> ParseDirents64(const char* buf, long n) {
  std::vector<Dirent> out;
  for (long pos = 0; pos < n;) {
    auto* d = reinterpret_cast<const struct dirent64*>(buf + pos);
    out.push_back({d->d_ino, d->d_off, d->d_type, d->d_name});
    pos += d->d_reclen;
  }
  return out;
}

// ReadAll reads every entry of fd with getdents64 in buffers of size bytes.
std::vector<Dirent> ReadAll(int fd, size_t size) {
  std::vector<Dirent> all;
  std::vector<char> buf(size);
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.data(), buf.size());
    EXPECT_THAT(n, SyscallSucceeds());
    if (n <= 0) break;
    for (auto& d : ParseDirents64(buf.data(), n)) all.push_back(d);
  }
  return all;
}

std::vector<std::string> Names(const std::vector<Dirent>& ds) {
  std::vector<std::string> names;
  for (auto& d : ds) names.push_back(d.name);
  return names;
}

TEST(GetdentsTest, ListsEntriesWithTypes) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("file"), "x"));
  ASSERT_THAT(mkdir(dir.Child("subdir").c_str(), 0755), SyscallSucceeds());
  ASSERT_THAT(symlink("file", dir.Child("link").c_str()), SyscallSucceeds());
  ASSERT_THAT(mkfifo(dir.Child("fifo").c_str(), 0644), SyscallSucceeds());
  FileDescriptor fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  auto ds = ReadAll(fd.get(), 4096);
  EXPECT_THAT(Names(ds), ::testing::UnorderedElementsAre(".", "..", "file", "subdir", "link", "fifo"));
  for (auto& d : ds) {
    struct stat st;
    ASSERT_THAT(fstatat(fd.get(), d.name.c_str(), &st, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
    EXPECT_EQ(d.ino, st.st_ino) << d.name;
    if (d.type != DT_UNKNOWN) EXPECT_EQ(d.type, IFTODT(st.st_mode)) << d.name;
  }
}

TEST(GetdentsTest, SmallBuffersResumeWhereTheyStopped) {
  TempDir dir;
  std::vector<std::string> want = {".", ".."};
  for (int i = 0; i < 50; i++) {
    std::string name = "entry_with_a_longish_name_" + std::to_string(i);
    ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child(name), ""));
    want.push_back(name);
  }
  FileDescriptor fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  // Room for one or two entries at a time.
  auto ds = ReadAll(fd.get(), 100);
  EXPECT_THAT(Names(ds), ::testing::UnorderedElementsAreArray(want));
  // At the end, getdents returns 0; rewinding starts over.
  char buf[4096];
  EXPECT_THAT(syscall(SYS_getdents64, fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceedsWithValue(0));
  EXPECT_EQ(ReadAll(fd.get(), 8192).size(), want.size());
}

TEST(GetdentsTest, SeekToOffset) {
  TempDir dir;
  for (int i = 0; i < 5; i++) ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f" + std::to_string(i)), ""));
  FileDescriptor fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  auto all = ReadAll(fd.get(), 4096);
  ASSERT_EQ(all.size(), 7u);
  // d_off of an entry is where the next one starts.
  ASSERT_THAT(lseek(fd.get(), all[2].off, SEEK_SET), SyscallSucceeds());
  auto rest = ReadAll(fd.get(), 4096);
  ASSERT_EQ(rest.size(), 4u);
  EXPECT_EQ(rest[0].name, all[3].name);
}

TEST(GetdentsTest, Errors) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("file"), "x"));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  char buf[4096];
  // Too small for the first entry.
  EXPECT_THAT(syscall(SYS_getdents64, d.get(), buf, 8), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_getdents64, d.get(), nullptr, sizeof(buf)), SyscallFailsWithErrno(EFAULT));
  FileDescriptor f(open(dir.Child("file").c_str(), O_RDONLY));
  EXPECT_THAT(syscall(SYS_getdents64, f.get(), buf, sizeof(buf)), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(syscall(SYS_getdents64, -1, buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
  FileDescriptor p(open(dir.path().c_str(), O_PATH));
  EXPECT_THAT(syscall(SYS_getdents64, p.get(), buf, sizeof(buf)), SyscallFailsWithErrno(EBADF));
}

TEST(GetdentsTest, RemovedDirectoryFailsWithENOENT) {
  TempDir dir;
  const std::string sub = dir.Child("sub");
  ASSERT_THAT(mkdir(sub.c_str(), 0755), SyscallSucceeds());
  FileDescriptor fd(open(sub.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(rmdir(sub.c_str()), SyscallSucceeds());
  char buf[4096];
  // A removed directory cannot be listed, not even its "." and "..".
  EXPECT_THAT(syscall(SYS_getdents64, fd.get(), buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
}

// The old getdents(2) puts d_type in the last byte of each record.
struct linux_dirent {
  unsigned long d_ino;
  unsigned long d_off;
  unsigned short d_reclen;
  char d_name[1];
};

TEST(GetdentsTest, OldGetdents) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("file"), "x"));
  ASSERT_THAT(mkdir(dir.Child("sub").c_str(), 0755), SyscallSucceeds());
  FileDescriptor fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  char buf[4096];
  long n = syscall(SYS_getdents, fd.get(), buf, sizeof(buf));
  ASSERT_THAT(n, SyscallSucceeds());
  std::vector<std::string> names;
  for (long pos = 0; pos < n;) {
    auto* d = reinterpret_cast<linux_dirent*>(buf + pos);
    names.push_back(d->d_name);
    char type = buf[pos + d->d_reclen - 1];
    if (names.back() == "file") EXPECT_EQ(type, DT_REG);
    if (names.back() == "sub") EXPECT_EQ(type, DT_DIR);
    EXPECT_EQ(d->d_reclen % 8, 0);
    pos += d->d_reclen;
  }
  EXPECT_THAT(names, ::testing::UnorderedElementsAre(".", "..", "file", "sub"));
}

}  // namespace
}  // namespace testing
}  // namespace visor
