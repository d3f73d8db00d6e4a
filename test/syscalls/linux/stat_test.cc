// Tests for stat(2), lstat(2), fstat(2), newfstatat(2), statx(2), statfs(2),
// fstatfs(2) and the calls that set file times: utimensat(2), utimes(2),
// futimesat(2), utime(2).

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>

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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/stat_test_XXXXXX";
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

TEST(StatTest, RegularFile) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "hello", 0640));
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_nlink, 1u);
  EXPECT_EQ(st.st_uid, geteuid());
  EXPECT_EQ(st.st_gid, getegid());
  EXPECT_GT(st.st_blksize, 0);
  EXPECT_NE(st.st_ino, 0u);
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  struct stat fst;
  ASSERT_THAT(fstat(fd.get(), &fst), SyscallSucceeds());
  EXPECT_EQ(fst.st_ino, st.st_ino);
  EXPECT_EQ(fst.st_dev, st.st_dev);
  EXPECT_THAT(stat(dir.Child("nope").c_str(), &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(stat((path + "/x").c_str(), &st), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(stat("", &st), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(fstat(-1, &st), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fstat(fd.get(), nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(StatTest, Directory) {
  TempDir dir;
  ASSERT_THAT(mkdir(dir.Child("sub").c_str(), 0755), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(dir.path().c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  // "." , ".." of sub, and sub's own entry.
  EXPECT_EQ(st.st_nlink, 3u);
}

TEST(StatTest, LstatAndSymlinks) {
  TempDir dir;
  const std::string file = dir.Child("f");
  const std::string link = dir.Child("l");
  ASSERT_NO_FATAL_FAILURE(WriteFile(file, "abc"));
  ASSERT_THAT(symlink("f", link.c_str()), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(lstat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(st.st_size, 1);  // the target's length
  ASSERT_THAT(stat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 3);
  ASSERT_THAT(fstatat(AT_FDCWD, link.c_str(), &st, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_THAT(fstatat(AT_FDCWD, link.c_str(), &st, 0x8000000), SyscallFailsWithErrno(EINVAL));
}

TEST(StatTest, FstatatRelativeAndEmptyPath) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "abcd"));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  struct stat st;
  ASSERT_THAT(fstatat(d.get(), "f", &st, 0), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 4);
  FileDescriptor f(open(dir.Child("f").c_str(), O_PATH));
  ASSERT_THAT(fstatat(f.get(), "", &st, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 4);
  EXPECT_THAT(fstatat(f.get(), "", &st, 0), SyscallFailsWithErrno(ENOENT));
  // A pipe has no path, but AT_EMPTY_PATH still reaches it.
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  FileDescriptor r(p[0]), w(p[1]);
  ASSERT_THAT(fstatat(r.get(), "", &st, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(StatxTest, Basic) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "0123456789"));
  struct statx sx;
  memset(&sx, 0xff, sizeof(sx));
  ASSERT_THAT(statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS, &sx), SyscallSucceeds());
  EXPECT_EQ(sx.stx_mask & STATX_BASIC_STATS, static_cast<unsigned>(STATX_BASIC_STATS));
  EXPECT_EQ(sx.stx_size, 10u);
  EXPECT_TRUE(S_ISREG(sx.stx_mode));
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(sx.stx_ino, st.st_ino);
  EXPECT_EQ(makedev(sx.stx_dev_major, sx.stx_dev_minor), st.st_dev);
  EXPECT_EQ(sx.stx_mtime.tv_sec, st.st_mtim.tv_sec);
  EXPECT_EQ(sx.stx_mtime.tv_nsec, static_cast<uint32_t>(st.st_mtim.tv_nsec));
}

TEST(StatxTest, FlagsAndMask) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  struct statx sx;
  EXPECT_THAT(statx(AT_FDCWD, path.c_str(), AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC, STATX_BASIC_STATS, &sx),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(statx(AT_FDCWD, path.c_str(), 0, 0x80000000u, &sx), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(statx(AT_FDCWD, path.c_str(), AT_REMOVEDIR, STATX_BASIC_STATS, &sx), SyscallFailsWithErrno(EINVAL));
  ASSERT_THAT(statx(AT_FDCWD, path.c_str(), AT_STATX_DONT_SYNC, STATX_SIZE, &sx), SyscallSucceeds());
  EXPECT_NE(sx.stx_mask & STATX_SIZE, 0u);
  // AT_EMPTY_PATH on a descriptor.
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(statx(fd.get(), "", AT_EMPTY_PATH, STATX_SIZE, &sx), SyscallSucceeds());
  EXPECT_EQ(sx.stx_size, 1u);
  EXPECT_THAT(statx(AT_FDCWD, "", 0, STATX_SIZE, &sx), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(statx(AT_FDCWD, path.c_str(), 0, STATX_SIZE, nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(StatfsTest, PathAndFD) {
  TempDir dir;
  struct statfs a, b;
  ASSERT_THAT(statfs(dir.path().c_str(), &a), SyscallSucceeds());
  FileDescriptor fd(open(dir.path().c_str(), O_RDONLY));
  ASSERT_THAT(fstatfs(fd.get(), &b), SyscallSucceeds());
  EXPECT_EQ(a.f_type, b.f_type);
  EXPECT_GT(a.f_bsize, 0);
  EXPECT_GT(a.f_namelen, 0);
  EXPECT_THAT(statfs(dir.Child("nope").c_str(), &a), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(fstatfs(-1, &a), SyscallFailsWithErrno(EBADF));
}

TEST(UtimesTest, Utimensat) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  struct timespec ts[2] = {{1000, 1}, {2000, 2}};
  ASSERT_THAT(utimensat(AT_FDCWD, path.c_str(), ts, 0), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_atim.tv_nsec, 1);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 2);
  // UTIME_OMIT leaves a time alone; UTIME_NOW sets it to now.
  struct timespec ts2[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  ASSERT_THAT(utimensat(AT_FDCWD, path.c_str(), ts2, 0), SyscallSucceeds());
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_GT(st.st_mtim.tv_sec, 2000);
  struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
  EXPECT_THAT(utimensat(AT_FDCWD, path.c_str(), bad, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(utimensat(AT_FDCWD, path.c_str(), ts, 0x8000), SyscallFailsWithErrno(EINVAL));
  // A NULL path sets the times of dirfd's file (futimens).
  FileDescriptor fd(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(syscall(SYS_utimensat, fd.get(), nullptr, ts, 0), SyscallSucceeds());
  ASSERT_THAT(futimens(fd.get(), ts), SyscallSucceeds());
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_THAT(utimensat(AT_FDCWD, dir.Child("nope").c_str(), nullptr, 0), SyscallFailsWithErrno(ENOENT));
}

TEST(UtimesTest, SymlinkNofollow) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "x"));
  const std::string link = dir.Child("l");
  ASSERT_THAT(symlink("f", link.c_str()), SyscallSucceeds());
  struct timespec ts[2] = {{5, 0}, {6, 0}};
  ASSERT_THAT(utimensat(AT_FDCWD, link.c_str(), ts, AT_SYMLINK_NOFOLLOW), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(lstat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mtim.tv_sec, 6);
  ASSERT_THAT(stat(link.c_str(), &st), SyscallSucceeds());
  EXPECT_NE(st.st_mtim.tv_sec, 6);
}

TEST(UtimesTest, UtimesAndUtime) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  struct timeval tv[2] = {{100, 5}, {200, 7}};
  ASSERT_THAT(utimes(path.c_str(), tv), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_atim.tv_sec, 100);
  EXPECT_EQ(st.st_atim.tv_nsec, 5000);
  EXPECT_EQ(st.st_mtim.tv_sec, 200);
  struct timeval badtv[2] = {{0, 1000000}, {0, 0}};
  EXPECT_THAT(utimes(path.c_str(), badtv), SyscallFailsWithErrno(EINVAL));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(syscall(SYS_futimesat, d.get(), "f", tv), SyscallSucceeds());
  struct utimbuf ub = {300, 400};
  ASSERT_THAT(utime(path.c_str(), &ub), SyscallSucceeds());
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_atim.tv_sec, 300);
  EXPECT_EQ(st.st_mtim.tv_sec, 400);
  EXPECT_EQ(st.st_mtim.tv_nsec, 0);
  // NULL times mean now.
  ASSERT_THAT(utime(path.c_str(), nullptr), SyscallSucceeds());
  ASSERT_THAT(stat(path.c_str(), &st), SyscallSucceeds());
  EXPECT_GT(st.st_mtim.tv_sec, 400);
}

TEST(UtimesTest, PermissionChecks) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  ASSERT_THAT(chmod(path.c_str(), 0666), SyscallSucceeds());
  if (geteuid() != 0) GTEST_SKIP() << "needs a file owned by someone else";
  EXPECT_THAT(InForkedProcess([&] {
                DropToNobody();
                // Anyone who may write may set both times to now...
                TEST_PCHECK(utimensat(AT_FDCWD, path.c_str(), nullptr, 0) == 0);
                // ...but only the owner may set explicit times.
                struct timespec ts[2] = {{1, 0}, {1, 0}};
                TEST_CHECK(utimensat(AT_FDCWD, path.c_str(), ts, 0) < 0 && errno == EPERM);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
