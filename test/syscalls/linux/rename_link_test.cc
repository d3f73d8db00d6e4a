// Tests for mkdir(2), rmdir(2), unlink(2), link(2), symlink(2), readlink(2),
// rename(2) and mknod(2), and their *at variants.

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rename_link_test_XXXXXX";
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

// DropToNobody makes a forked child an unprivileged user, so that permission
// checks apply to it even when the test runs as root.
void DropToNobody() {
  if (geteuid() == 0) {
    TEST_PCHECK(setgroups(0, nullptr) == 0);
    TEST_PCHECK(setresgid(65534, 65534, 65534) == 0);
    TEST_PCHECK(setresuid(65534, 65534, 65534) == 0);
  }
}

std::string ReadFileString(const std::string& path) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  if (fd.get() < 0) return "<" + ErrnoName(errno) + ">";
  char buf[256];
  ssize_t n = read(fd.get(), buf, sizeof(buf));
  return n < 0 ? "<read failed>" : std::string(buf, n);
}

TEST(MkdirTest, MkdirRmdir) {
  TempDir dir;
  const std::string d = dir.Child("d");
  ASSERT_THAT(mkdir(d.c_str(), 0750), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(d.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_THAT(mkdir(d.c_str(), 0750), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mkdir(dir.Child("no/d").c_str(), 0750), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(mkdir("", 0750), SyscallFailsWithErrno(ENOENT));
  FileDescriptor dfd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(mkdirat(dfd.get(), "e", 0755), SyscallSucceeds());
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("e/f"), "x"));
  EXPECT_THAT(rmdir(dir.Child("e").c_str()), SyscallFailsWithErrno(ENOTEMPTY));
  EXPECT_THAT(rmdir(dir.Child("e/f").c_str()), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(rmdir(dir.Child("e/.").c_str()), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(rmdir(d.c_str()), SyscallSucceeds());
  EXPECT_THAT(rmdir(d.c_str()), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(unlinkat(dfd.get(), "e/f", 0), SyscallSucceeds());
  EXPECT_THAT(unlinkat(dfd.get(), "e", 0), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(unlinkat(dfd.get(), "e", AT_REMOVEDIR), SyscallSucceeds());
  EXPECT_THAT(unlinkat(dfd.get(), "e", 0x8000), SyscallFailsWithErrno(EINVAL));
}

TEST(UnlinkTest, OpenFileSurvivesUnlink) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "still here"));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(unlink(path.c_str()), SyscallSucceeds());
  EXPECT_THAT(unlink(path.c_str()), SyscallFailsWithErrno(ENOENT));
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_nlink, 0u);
  char buf[16];
  EXPECT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(10));
  EXPECT_THAT(unlink(dir.path().c_str()), SyscallFailsWithErrno(EISDIR));
}

TEST(LinkTest, HardLinks) {
  TempDir dir;
  const std::string a = dir.Child("a"), b = dir.Child("b");
  ASSERT_NO_FATAL_FAILURE(WriteFile(a, "shared"));
  ASSERT_THAT(link(a.c_str(), b.c_str()), SyscallSucceeds());
  struct stat sa, sb;
  ASSERT_THAT(stat(a.c_str(), &sa), SyscallSucceeds());
  ASSERT_THAT(stat(b.c_str(), &sb), SyscallSucceeds());
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_EQ(sa.st_nlink, 2u);
  EXPECT_THAT(link(a.c_str(), b.c_str()), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(link(dir.Child("nope").c_str(), dir.Child("c").c_str()), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(link(dir.path().c_str(), dir.Child("dirlink").c_str()), SyscallFailsWithErrno(EPERM));
  ASSERT_THAT(unlink(a.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFileString(b), "shared");
}

TEST(LinkTest, LinkatSymlinkFollow) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("target"), "t"));
  ASSERT_THAT(symlink("target", dir.Child("sym").c_str()), SyscallSucceeds());
  FileDescriptor dfd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  // Without AT_SYMLINK_FOLLOW the new name is another link to the symlink.
  ASSERT_THAT(linkat(dfd.get(), "sym", dfd.get(), "l1", 0), SyscallSucceeds());
  ASSERT_THAT(linkat(dfd.get(), "sym", dfd.get(), "l2", AT_SYMLINK_FOLLOW), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(lstat(dir.Child("l1").c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_THAT(lstat(dir.Child("l2").c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_THAT(linkat(dfd.get(), "sym", dfd.get(), "l3", 0x8000), SyscallFailsWithErrno(EINVAL));
}

TEST(SymlinkTest, SymlinkReadlink) {
  TempDir dir;
  const std::string link = dir.Child("l");
  ASSERT_THAT(symlink("some/target/path", link.c_str()), SyscallSucceeds());
  char buf[64];
  ASSERT_THAT(readlink(link.c_str(), buf, sizeof(buf)), SyscallSucceedsWithValue(16));
  EXPECT_EQ(std::string(buf, 16), "some/target/path");
  // A short buffer truncates, without a NUL.
  memset(buf, 'x', sizeof(buf));
  ASSERT_THAT(readlink(link.c_str(), buf, 4), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 5), "somex");
  EXPECT_THAT(readlink(link.c_str(), buf, 0), SyscallFailsWithErrno(EINVAL));
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "x"));
  EXPECT_THAT(readlink(dir.Child("f").c_str(), buf, sizeof(buf)), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readlink(dir.Child("nope").c_str(), buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(symlink("x", link.c_str()), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(symlink("", dir.Child("empty").c_str()), SyscallFailsWithErrno(ENOENT));
  // readlinkat with an empty path reads an O_PATH|O_NOFOLLOW symlink itself.
  FileDescriptor fd(open(link.c_str(), O_PATH | O_NOFOLLOW));
  ASSERT_THAT(readlinkat(fd.get(), "", buf, sizeof(buf)), SyscallSucceedsWithValue(16));
  FileDescriptor dfd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(readlinkat(dfd.get(), "", buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(symlinkat("/abs", dfd.get(), "l2"), SyscallSucceeds());
  ASSERT_THAT(readlinkat(dfd.get(), "l2", buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  // A dangling symlink is still a symlink.
  struct stat st;
  EXPECT_THAT(stat(link.c_str(), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(lstat(link.c_str(), &st), SyscallSucceeds());
}

TEST(SymlinkTest, Loops) {
  TempDir dir;
  ASSERT_THAT(symlink("b", dir.Child("a").c_str()), SyscallSucceeds());
  ASSERT_THAT(symlink("a", dir.Child("b").c_str()), SyscallSucceeds());
  EXPECT_THAT(open(dir.Child("a").c_str(), O_RDONLY), SyscallFailsWithErrno(ELOOP));
}

TEST(RenameTest, Files) {
  TempDir dir;
  const std::string a = dir.Child("a"), b = dir.Child("b");
  ASSERT_NO_FATAL_FAILURE(WriteFile(a, "A"));
  ASSERT_THAT(rename(a.c_str(), b.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFileString(b), "A");
  struct stat st;
  EXPECT_THAT(stat(a.c_str(), &st), SyscallFailsWithErrno(ENOENT));
  // Replacing an existing file.
  ASSERT_NO_FATAL_FAILURE(WriteFile(a, "new"));
  ASSERT_THAT(rename(a.c_str(), b.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFileString(b), "new");
  // Renaming onto itself does nothing.
  EXPECT_THAT(rename(b.c_str(), b.c_str()), SyscallSucceeds());
  EXPECT_THAT(rename(a.c_str(), b.c_str()), SyscallFailsWithErrno(ENOENT));
  ASSERT_THAT(mkdir(dir.Child("d").c_str(), 0755), SyscallSucceeds());
  EXPECT_THAT(rename(b.c_str(), dir.Child("d").c_str()), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(rename(dir.Child("d").c_str(), b.c_str()), SyscallFailsWithErrno(ENOTDIR));
  // Into another directory, with renameat.
  FileDescriptor d(open(dir.Child("d").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(renameat(AT_FDCWD, b.c_str(), d.get(), "moved"), SyscallSucceeds());
  EXPECT_EQ(ReadFileString(dir.Child("d/moved")), "new");
}

TEST(RenameTest, Directories) {
  TempDir dir;
  const std::string a = dir.Child("a"), b = dir.Child("b");
  ASSERT_THAT(mkdir(a.c_str(), 0755), SyscallSucceeds());
  ASSERT_NO_FATAL_FAILURE(WriteFile(a + "/f", "in a"));
  ASSERT_THAT(mkdir(b.c_str(), 0755), SyscallSucceeds());
  // Over an empty directory.
  ASSERT_THAT(rename(a.c_str(), b.c_str()), SyscallSucceeds());
  EXPECT_EQ(ReadFileString(b + "/f"), "in a");
  // Over a non-empty one.
  ASSERT_THAT(mkdir(a.c_str(), 0755), SyscallSucceeds());
  EXPECT_THAT(rename(a.c_str(), b.c_str()), SyscallFailsWithErrno(ENOTEMPTY));
  // Into itself.
  EXPECT_THAT(rename(b.c_str(), (b + "/sub").c_str()), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(rename((b + "/.").c_str(), dir.Child("c").c_str()), SyscallFailsWithErrno(EBUSY));
}

TEST(RenameTest, Renameat2Flags) {
  TempDir dir;
  const std::string a = dir.Child("a"), b = dir.Child("b");
  ASSERT_NO_FATAL_FAILURE(WriteFile(a, "A"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(b, "B"));
  EXPECT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_NOREPLACE), SyscallFailsWithErrno(EEXIST));
  ASSERT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE), SyscallSucceeds());
  EXPECT_EQ(ReadFileString(a), "B");
  EXPECT_EQ(ReadFileString(b), "A");
  EXPECT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, dir.Child("c").c_str(), RENAME_EXCHANGE),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE | RENAME_NOREPLACE),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), 0x100), SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, dir.Child("c").c_str(), RENAME_NOREPLACE), SyscallSucceeds());
}

TEST(RenameTest, StickyDirectory) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own files as different users";
  TempDir dir;
  const std::string sticky = dir.Child("sticky");
  ASSERT_THAT(mkdir(sticky.c_str(), 0777), SyscallSucceeds());
  ASSERT_THAT(chmod(sticky.c_str(), 01777), SyscallSucceeds());
  ASSERT_NO_FATAL_FAILURE(WriteFile(sticky + "/roots", "x"));
  EXPECT_THAT(InForkedProcess([&] {
                DropToNobody();
                // nobody may create here, but not remove root's file.
                int fd = open((sticky + "/mine").c_str(), O_RDWR | O_CREAT, 0644);
                TEST_PCHECK(fd >= 0);
                TEST_CHECK(unlink((sticky + "/roots").c_str()) < 0 && errno == EPERM);
                TEST_CHECK(rename((sticky + "/roots").c_str(), (sticky + "/x").c_str()) < 0 && errno == EPERM);
                TEST_PCHECK(unlink((sticky + "/mine").c_str()) == 0);
              }),
              ExitedWith(0));
}

TEST(MknodTest, FifoAndRegular) {
  TempDir dir;
  ASSERT_THAT(mknod(dir.Child("fifo").c_str(), S_IFIFO | 0644, 0), SyscallSucceeds());
  ASSERT_THAT(mknod(dir.Child("reg").c_str(), S_IFREG | 0644, 0), SyscallSucceeds());
  ASSERT_THAT(mknod(dir.Child("reg0").c_str(), 0644, 0), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(dir.Child("fifo").c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  ASSERT_THAT(stat(dir.Child("reg0").c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_THAT(mknod(dir.Child("fifo").c_str(), S_IFIFO | 0644, 0), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(mknod(dir.Child("dir").c_str(), S_IFDIR | 0755, 0), SyscallFailsWithErrno(EPERM));
  FileDescriptor dfd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(mknodat(dfd.get(), "fifo2", S_IFIFO | 0600, 0), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([&] {
                DropToNobody();
                TEST_CHECK(mknod("/tmp/visor_mknod_never", S_IFCHR | 0600, makedev(1, 3)) < 0 && errno == EPERM);
              }),
              ExitedWith(0));
}

TEST(MknodTest, CharDeviceAsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "mknod of a device needs CAP_MKNOD";
  TempDir dir;
  const std::string path = dir.Child("null");
  int ret = mknod(path.c_str(), S_IFCHR | 0666, makedev(1, 3));
  if (ret < 0 && errno == EPERM) GTEST_SKIP() << "CAP_MKNOD is not held in this environment";
  ASSERT_THAT(ret, SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 3u);
}

}  // namespace
}  // namespace testing
}  // namespace visor
