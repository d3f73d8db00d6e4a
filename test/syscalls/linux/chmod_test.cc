// Tests for chmod(2), fchmod(2), fchmodat(2), fchmodat2(2), chown(2) and its
// variants, and the extended attribute calls.

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/chmod_test_XXXXXX";
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

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

mode_t ModeOf(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) return ~0u;
  return st.st_mode & 07777;
}

TEST(ChmodTest, ChangesPermissionBits) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  ASSERT_THAT(chmod(path.c_str(), 0712), SyscallSucceeds());
  EXPECT_EQ(ModeOf(path), 0712u);
  // Only permission bits; the type bits of the argument are ignored.
  ASSERT_THAT(chmod(path.c_str(), S_IFDIR | 04755), SyscallSucceeds());
  EXPECT_EQ(ModeOf(path), 04755u);
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(fchmod(fd.get(), 0600), SyscallSucceeds());
  EXPECT_EQ(ModeOf(path), 0600u);
  FileDescriptor dfd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(fchmodat(dfd.get(), "f", 0644, 0), SyscallSucceeds());
  EXPECT_EQ(ModeOf(path), 0644u);
  EXPECT_THAT(chmod(dir.Child("nope").c_str(), 0644), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(fchmod(-1, 0644), SyscallFailsWithErrno(EBADF));
}

TEST(ChmodTest, Fchmodat2) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  ASSERT_THAT(symlink("f", dir.Child("l").c_str()), SyscallSucceeds());
  FileDescriptor dfd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(syscall(SYS_fchmodat2, dfd.get(), "l", 0640, 0), SyscallSucceeds());
  EXPECT_EQ(ModeOf(path), 0640u);
  // A symlink has no mode of its own to change.
  EXPECT_THAT(syscall(SYS_fchmodat2, dfd.get(), "l", 0600, AT_SYMLINK_NOFOLLOW), SyscallFailsWithErrno(EOPNOTSUPP));
  EXPECT_THAT(syscall(SYS_fchmodat2, dfd.get(), "f", 0600, 0x8000), SyscallFailsWithErrno(EINVAL));
  // AT_EMPTY_PATH changes the file an O_PATH descriptor names.
  FileDescriptor fd(open(path.c_str(), O_PATH));
  ASSERT_THAT(syscall(SYS_fchmodat2, fd.get(), "", 0604, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_EQ(ModeOf(path), 0604u);
}

TEST(ChmodTest, OnlyTheOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to own a file nobody may not change";
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  ASSERT_THAT(chmod(path.c_str(), 0666), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([&] {
                DropToNobody();
                TEST_CHECK(chmod(path.c_str(), 0777) < 0 && errno == EPERM);
              }),
              ExitedWith(0));
}

TEST(ChownTest, AsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "chown to another user needs CAP_CHOWN";
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  ASSERT_THAT(chown(path.c_str(), 65534, 65534), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  // -1 leaves an ID alone.
  ASSERT_THAT(chown(path.c_str(), -1, 0), SyscallSucceeds());
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 0u);
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(fchown(fd.get(), 0, -1), SyscallSucceeds());
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 0u);
  // Changing the owner clears set-user-ID.
  ASSERT_THAT(chmod(path.c_str(), 04755), SyscallSucceeds());
  ASSERT_THAT(chown(path.c_str(), 65534, -1), SyscallSucceeds());
  EXPECT_EQ(ModeOf(path) & S_ISUID, 0u);
  // lchown and AT_SYMLINK_NOFOLLOW change the link, not its target.
  const std::string link = dir.Child("l");
  ASSERT_THAT(symlink("f", link.c_str()), SyscallSucceeds());
  ASSERT_THAT(lchown(link.c_str(), 123, 456), SyscallSucceeds());
  ASSERT_THAT(lstat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 123u);
  ASSERT_THAT(stat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_uid, 65534u);
  ASSERT_THAT(fchownat(AT_FDCWD, link.c_str(), 7, 8, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  ASSERT_THAT(lstat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_gid, 8u);
  EXPECT_THAT(fchownat(AT_FDCWD, link.c_str(), 7, 8, 0x8000), SyscallFailsWithErrno(EINVAL));
}

TEST(ChownTest, Unprivileged) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a file nobody owns";
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  ASSERT_THAT(chown(path.c_str(), 65534, 65534), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([&] {
                DropToNobody();
                // An owner may "change" to itself and to a group it is in...
                TEST_PCHECK(chown(path.c_str(), 65534, 65534) == 0);
                TEST_PCHECK(chown(path.c_str(), -1, -1) == 0);
                // ...but not give the file away or take a foreign group.
                TEST_CHECK(chown(path.c_str(), 0, -1) < 0 && errno == EPERM);
                TEST_CHECK(chown(path.c_str(), -1, 0) < 0 && errno == EPERM);
              }),
              ExitedWith(0));
}

// XattrSupported reports whether dir's filesystem takes user.* attributes.
bool XattrSupported(const std::string& file) {
  if (setxattr(file.c_str(), "user.probe", "1", 1, 0) == 0) {
    removexattr(file.c_str(), "user.probe");
    return true;
  }
  return errno != ENOTSUP;
}

TEST(XattrTest, SetGetListRemove) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  if (!XattrSupported(path)) GTEST_SKIP() << "the temporary directory's filesystem has no user xattrs";
  ASSERT_THAT(setxattr(path.c_str(), "user.a", "value", 5, 0), SyscallSucceeds());
  ASSERT_THAT(setxattr(path.c_str(), "user.bb", "", 0, XATTR_CREATE), SyscallSucceeds());
  char buf[64];
  EXPECT_THAT(getxattr(path.c_str(), "user.a", buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "value");
  EXPECT_THAT(getxattr(path.c_str(), "user.a", nullptr, 0), SyscallSucceedsWithValue(5));
  EXPECT_THAT(getxattr(path.c_str(), "user.a", buf, 2), SyscallFailsWithErrno(ERANGE));
  EXPECT_THAT(getxattr(path.c_str(), "user.bb", buf, sizeof(buf)), SyscallSucceedsWithValue(0));
  EXPECT_THAT(getxattr(path.c_str(), "user.none", buf, sizeof(buf)), SyscallFailsWithErrno(ENODATA));
  EXPECT_THAT(setxattr(path.c_str(), "user.a", "v", 1, XATTR_CREATE), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(setxattr(path.c_str(), "user.none", "v", 1, XATTR_REPLACE), SyscallFailsWithErrno(ENODATA));
  // Both flags together are not an error: XATTR_CREATE wins.
  EXPECT_THAT(setxattr(path.c_str(), "user.a", "v", 1, XATTR_CREATE | XATTR_REPLACE), SyscallFailsWithErrno(EEXIST));
  EXPECT_THAT(setxattr(path.c_str(), "user.a", "v", 1, 4), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(setxattr(path.c_str(), "", "v", 1, 0), SyscallFailsWithErrno(ERANGE));
  std::string long_name = "user." + std::string(300, 'n');
  EXPECT_THAT(setxattr(path.c_str(), long_name.c_str(), "v", 1, 0), SyscallFailsWithErrno(ERANGE));

  ssize_t n = listxattr(path.c_str(), nullptr, 0);
  ASSERT_THAT(n, SyscallSucceeds());
  std::vector<char> list(n);
  ASSERT_THAT(listxattr(path.c_str(), list.data(), list.size()), SyscallSucceedsWithValue(n));
  std::vector<std::string> names;
  for (size_t i = 0; i < list.size(); i += names.back().size() + 1) names.push_back(&list[i]);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"user.a", "user.bb"}));
  if (n > 1) {
    EXPECT_THAT(listxattr(path.c_str(), list.data(), 1), SyscallFailsWithErrno(ERANGE));
  }

  // The f* and l* forms.
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  EXPECT_THAT(fgetxattr(fd.get(), "user.a", buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  ASSERT_THAT(fsetxattr(fd.get(), "user.a", "other", 5, XATTR_REPLACE), SyscallSucceeds());
  EXPECT_THAT(lgetxattr(path.c_str(), "user.a", buf, sizeof(buf)), SyscallSucceedsWithValue(5));
  EXPECT_EQ(std::string(buf, 5), "other");
  ASSERT_THAT(fremovexattr(fd.get(), "user.a"), SyscallSucceeds());
  EXPECT_THAT(removexattr(path.c_str(), "user.a"), SyscallFailsWithErrno(ENODATA));
  ASSERT_THAT(lremovexattr(path.c_str(), "user.bb"), SyscallSucceeds());
  EXPECT_THAT(flistxattr(fd.get(), nullptr, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(getxattr(dir.Child("nope").c_str(), "user.a", buf, sizeof(buf)), SyscallFailsWithErrno(ENOENT));
}

TEST(XattrTest, UserNamespaceOnlyOnFilesAndDirectories) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  if (!XattrSupported(path)) GTEST_SKIP() << "the temporary directory's filesystem has no user xattrs";
  ASSERT_THAT(symlink("f", dir.Child("l").c_str()), SyscallSucceeds());
  EXPECT_THAT(lsetxattr(dir.Child("l").c_str(), "user.a", "v", 1, 0), SyscallFailsWithErrno(EPERM));
  char buf[8];
  EXPECT_THAT(lgetxattr(dir.Child("l").c_str(), "user.a", buf, sizeof(buf)), SyscallFailsWithErrno(ENODATA));
  EXPECT_THAT(setxattr(path.c_str(), "bogus.a", "v", 1, 0), SyscallFailsWithErrno(EOPNOTSUPP));
}

}  // namespace
}  // namespace testing
}  // namespace visor
