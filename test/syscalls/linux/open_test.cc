// Tests for open(2), openat(2), openat2(2), creat(2), close(2), close_range(2),
// umask(2), access(2) and faccessat2(2), and the working and root directories:
// chdir(2), fchdir(2), getcwd(2), chroot(2).

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/open_test_XXXXXX";
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

TEST(OpenTest, CreateExclusive) {
  TempDir dir;
  const std::string path = dir.Child("f");
  mode_t old = umask(022);
  FileDescriptor fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0666));
  umask(old);
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);  // 0666 less the umask
  EXPECT_EQ(st.st_size, 0);
  EXPECT_THAT(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0666), SyscallFailsWithErrno(EEXIST));
  // Without O_EXCL the existing file opens.
  FileDescriptor again(open(path.c_str(), O_RDWR | O_CREAT, 0600));
  EXPECT_THAT(again.get(), SyscallSucceeds());
}

TEST(OpenTest, MissingFiles) {
  TempDir dir;
  EXPECT_THAT(open(dir.Child("nope").c_str(), O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open(dir.Child("nope/f").c_str(), O_RDWR | O_CREAT, 0644),
              SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(open("", O_RDONLY), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(syscall(SYS_open, nullptr, O_RDONLY), SyscallFailsWithErrno(EFAULT));
  std::string long_name(NAME_MAX + 1, 'x');
  EXPECT_THAT(open(dir.Child(long_name).c_str(), O_RDWR | O_CREAT, 0644),
              SyscallFailsWithErrno(ENAMETOOLONG));
  std::string long_path(PATH_MAX + 10, '/');
  EXPECT_THAT(open(long_path.c_str(), O_RDONLY), SyscallFailsWithErrno(ENAMETOOLONG));
}

TEST(OpenTest, DirectoryFlags) {
  TempDir dir;
  const std::string file = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(file, "x"));
  EXPECT_THAT(open(file.c_str(), O_RDONLY | O_DIRECTORY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(open(dir.path().c_str(), O_WRONLY), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(dir.path().c_str(), O_RDWR), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open(dir.path().c_str(), O_WRONLY | O_CREAT, 0644), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(open((file + "/").c_str(), O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  EXPECT_THAT(d.get(), SyscallSucceeds());
  char c;
  EXPECT_THAT(read(d.get(), &c, 1), SyscallFailsWithErrno(EISDIR));
}

TEST(OpenTest, TruncAndAppend) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "hello world"));
  {
    FileDescriptor fd(open(path.c_str(), O_WRONLY | O_TRUNC));
    ASSERT_THAT(fd.get(), SyscallSucceeds());
    struct stat st;
    ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
    EXPECT_EQ(st.st_size, 0);
    ASSERT_THAT(write(fd.get(), "abc", 3), SyscallSucceedsWithValue(3));
  }
  FileDescriptor fd(open(path.c_str(), O_RDWR | O_APPEND));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceedsWithValue(0));
  // O_APPEND writes at the end wherever the offset is.
  ASSERT_THAT(write(fd.get(), "def", 3), SyscallSucceedsWithValue(3));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(6));
  char buf[16] = {};
  ASSERT_THAT(pread(fd.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(6));
  EXPECT_STREQ(buf, "abcdef");
  EXPECT_THAT(fcntl(fd.get(), F_GETFL) & (O_ACCMODE | O_APPEND), O_RDWR | O_APPEND);
}

TEST(OpenTest, CloseOnExecFlag) {
  TempDir dir;
  FileDescriptor a(open(dir.path().c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_THAT(a.get(), SyscallSucceeds());
  EXPECT_THAT(fcntl(a.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  FileDescriptor b(open(dir.path().c_str(), O_RDONLY));
  ASSERT_THAT(b.get(), SyscallSucceeds());
  EXPECT_THAT(fcntl(b.get(), F_GETFD), SyscallSucceedsWithValue(0));
  // O_CLOEXEC is a descriptor flag, not a status flag.
  EXPECT_EQ(fcntl(a.get(), F_GETFL) & O_CLOEXEC, 0);
}

TEST(OpenTest, SymlinksAndONofollow) {
  TempDir dir;
  const std::string file = dir.Child("target");
  const std::string link = dir.Child("link");
  ASSERT_NO_FATAL_FAILURE(WriteFile(file, "data"));
  ASSERT_THAT(symlink("target", link.c_str()), SyscallSucceeds());
  FileDescriptor fd(open(link.c_str(), O_RDONLY));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  char buf[8] = {};
  EXPECT_THAT(read(fd.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(4));
  EXPECT_THAT(open(link.c_str(), O_RDONLY | O_NOFOLLOW), SyscallFailsWithErrno(ELOOP));
  // O_CREAT|O_EXCL never follows a final symlink.
  EXPECT_THAT(open(link.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644), SyscallFailsWithErrno(EEXIST));
  // O_CREAT through a dangling symlink creates its target.
  const std::string dangling = dir.Child("dangling");
  ASSERT_THAT(symlink("created", dangling.c_str()), SyscallSucceeds());
  FileDescriptor created(open(dangling.c_str(), O_RDWR | O_CREAT, 0644));
  EXPECT_THAT(created.get(), SyscallSucceeds());
  struct stat st;
  EXPECT_THAT(stat(dir.Child("created").c_str(), &st), SyscallSucceeds());
}

TEST(OpenTest, OPath) {
  TempDir dir;
  const std::string file = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(file, "data"));
  FileDescriptor fd(open(file.c_str(), O_PATH | O_RDWR | O_CREAT | O_TRUNC, 0644));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  char c;
  EXPECT_THAT(read(fd.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(write(fd.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(pread(fd.get(), &c, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fchmod(fd.get(), 0600), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(ftruncate(fd.get(), 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(fd.get(), F_SETFL, O_NONBLOCK), SyscallFailsWithErrno(EBADF));
  // O_PATH ignores everything but O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW: the
  // file was not truncated.
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 4);
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & (O_PATH | O_ACCMODE), O_PATH);

  // An O_PATH directory works as a dirfd and for fchdir.
  FileDescriptor d(open(dir.path().c_str(), O_PATH | O_DIRECTORY));
  ASSERT_THAT(d.get(), SyscallSucceeds());
  FileDescriptor f(openat(d.get(), "f", O_RDONLY));
  EXPECT_THAT(f.get(), SyscallSucceeds());

  // O_PATH|O_NOFOLLOW opens a symlink itself.
  ASSERT_THAT(symlink("f", dir.Child("l").c_str()), SyscallSucceeds());
  FileDescriptor l(open(dir.Child("l").c_str(), O_PATH | O_NOFOLLOW));
  ASSERT_THAT(l.get(), SyscallSucceeds());
  ASSERT_THAT(fstat(l.get(), &st), SyscallSucceeds());
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST(OpenTest, Openat) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "x"));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(d.get(), SyscallSucceeds());
  FileDescriptor f(openat(d.get(), "f", O_RDONLY));
  EXPECT_THAT(f.get(), SyscallSucceeds());
  // A file is not a directory to start from.
  EXPECT_THAT(openat(f.get(), "x", O_RDONLY), SyscallFailsWithErrno(ENOTDIR));
  EXPECT_THAT(openat(-5, "f", O_RDONLY), SyscallFailsWithErrno(EBADF));
  // An absolute path ignores dirfd, even a bad one.
  FileDescriptor abs(openat(-5, dir.Child("f").c_str(), O_RDONLY));
  EXPECT_THAT(abs.get(), SyscallSucceeds());
}

TEST(OpenTest, LowestFreeDescriptor) {
  TempDir dir;
  FileDescriptor a(open(dir.path().c_str(), O_RDONLY));
  FileDescriptor b(open(dir.path().c_str(), O_RDONLY));
  ASSERT_THAT(a.get(), SyscallSucceeds());
  ASSERT_THAT(b.get(), SyscallSucceeds());
  const int freed = a.get();
  a.reset();
  FileDescriptor c(open(dir.path().c_str(), O_RDONLY));
  EXPECT_EQ(c.get(), freed);
}

TEST(OpenTest, NofileLimitGivesEMFILE) {
  TempDir dir;
  const std::string path = dir.path();
  EXPECT_THAT(InForkedProcess([&] {
                struct rlimit rl = {16, 16};
                TEST_PCHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
                int fd;
                while ((fd = open(path.c_str(), O_RDONLY)) >= 0) {
                  TEST_CHECK(fd < 16);
                }
                TEST_CHECK(errno == EMFILE);
                // dup2 above the limit fails with EBADF; F_DUPFD with EINVAL.
                TEST_CHECK(dup2(0, 16) < 0 && errno == EBADF);
                TEST_CHECK(fcntl(0, F_DUPFD, 16) < 0 && errno == EINVAL);
              }),
              ExitedWith(0));
}

TEST(OpenTest, Creat) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "old contents"));
  FileDescriptor fd(creat(path.c_str(), 0600));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 0);
  char c;
  EXPECT_THAT(read(fd.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(write(fd.get(), "new", 3), SyscallSucceedsWithValue(3));
}

int Openat2(int dirfd, const char* path, struct open_how* how, size_t size) {
  return syscall(SYS_openat2, dirfd, path, how, size);
}

TEST(OpenTest, Openat2) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "x"));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_THAT(d.get(), SyscallSucceeds());

  struct open_how how = {};
  how.flags = O_RDONLY;
  FileDescriptor f(Openat2(d.get(), "f", &how, sizeof(how)));
  EXPECT_THAT(f.get(), SyscallSucceeds());

  EXPECT_THAT(Openat2(d.get(), "f", &how, 8), SyscallFailsWithErrno(EINVAL));
  struct {
    struct open_how how;
    uint64_t extra;
  } big = {how, 1};
  EXPECT_THAT(Openat2(d.get(), "f", &big.how, sizeof(big)), SyscallFailsWithErrno(E2BIG));
  big.extra = 0;
  FileDescriptor f2(Openat2(d.get(), "f", &big.how, sizeof(big)));
  EXPECT_THAT(f2.get(), SyscallSucceeds());

  how.mode = 0644;  // a mode without O_CREAT
  EXPECT_THAT(Openat2(d.get(), "f", &how, sizeof(how)), SyscallFailsWithErrno(EINVAL));
  how.mode = 0;
  how.flags = 1ULL << 40;  // unknown flags are errors, unlike open(2)
  EXPECT_THAT(Openat2(d.get(), "f", &how, sizeof(how)), SyscallFailsWithErrno(EINVAL));

  // RESOLVE_IN_ROOT: "/f" and "../f" are inside the directory.
  how.flags = O_RDONLY;
  how.resolve = RESOLVE_IN_ROOT;
  FileDescriptor in_root(Openat2(d.get(), "/f", &how, sizeof(how)));
  EXPECT_THAT(in_root.get(), SyscallSucceeds());
  FileDescriptor dotdot(Openat2(d.get(), "../../f", &how, sizeof(how)));
  EXPECT_THAT(dotdot.get(), SyscallSucceeds());
  // RESOLVE_BENEATH refuses to leave the directory.
  how.resolve = RESOLVE_BENEATH;
  EXPECT_THAT(Openat2(d.get(), "/f", &how, sizeof(how)), SyscallFailsWithErrno(EXDEV));
  EXPECT_THAT(Openat2(d.get(), "../f", &how, sizeof(how)), SyscallFailsWithErrno(EXDEV));
  FileDescriptor beneath(Openat2(d.get(), "f", &how, sizeof(how)));
  EXPECT_THAT(beneath.get(), SyscallSucceeds());
}

TEST(CloseTest, Close) {
  TempDir dir;
  int fd = open(dir.path().c_str(), O_RDONLY);
  ASSERT_THAT(fd, SyscallSucceeds());
  EXPECT_THAT(close(fd), SyscallSucceeds());
  EXPECT_THAT(close(fd), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(close(-1), SyscallFailsWithErrno(EBADF));
}

TEST(CloseTest, CloseRange) {
  TempDir dir;
  int fds[4];
  for (int& fd : fds) {
    fd = open(dir.path().c_str(), O_RDONLY);
    ASSERT_THAT(fd, SyscallSucceeds());
  }
  // Close the middle two.
  ASSERT_THAT(syscall(SYS_close_range, fds[1], fds[2], 0), SyscallSucceeds());
  EXPECT_THAT(fcntl(fds[0], F_GETFD), SyscallSucceeds());
  EXPECT_THAT(fcntl(fds[1], F_GETFD), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(fds[2], F_GETFD), SyscallFailsWithErrno(EBADF));
  // CLOSE_RANGE_CLOEXEC marks instead of closing; ~0U is "to the end".
  ASSERT_THAT(syscall(SYS_close_range, fds[3], ~0U, CLOSE_RANGE_CLOEXEC), SyscallSucceeds());
  EXPECT_THAT(fcntl(fds[3], F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(syscall(SYS_close_range, 5, 4, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_close_range, 0, 1, 0x80), SyscallFailsWithErrno(EINVAL));
  close(fds[0]);
  close(fds[3]);
}

TEST(UmaskTest, ReturnsOldMaskAndApplies) {
  TempDir dir;
  mode_t old = umask(077);
  EXPECT_EQ(umask(027), 077u);
  FileDescriptor fd(open(dir.Child("f").c_str(), O_RDWR | O_CREAT, 0777));
  ASSERT_THAT(mkdir(dir.Child("d").c_str(), 0777), SyscallSucceeds());
  umask(old);
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  ASSERT_THAT(stat(dir.Child("d").c_str(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_mode & 0777, 0750u);
}

TEST(AccessTest, Modes) {
  TempDir dir;
  const std::string file = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(file, "x", 0644));
  EXPECT_THAT(access(file.c_str(), F_OK), SyscallSucceeds());
  EXPECT_THAT(access(file.c_str(), R_OK | W_OK), SyscallSucceeds());
  // Even root needs an execute bit to execute.
  EXPECT_THAT(access(file.c_str(), X_OK), SyscallFailsWithErrno(EACCES));
  EXPECT_THAT(access(dir.Child("nope").c_str(), F_OK), SyscallFailsWithErrno(ENOENT));
  EXPECT_THAT(access(file.c_str(), 0x10), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_faccessat2, AT_FDCWD, file.c_str(), R_OK, 0x10000),
              SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(syscall(SYS_faccessat2, AT_FDCWD, file.c_str(), R_OK, AT_EACCESS), SyscallSucceeds());
  // AT_EMPTY_PATH checks the dirfd's file.
  FileDescriptor fd(open(file.c_str(), O_PATH));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_faccessat2, fd.get(), "", R_OK, AT_EMPTY_PATH), SyscallSucceeds());
  EXPECT_THAT(syscall(SYS_faccessat2, fd.get(), "", R_OK, 0), SyscallFailsWithErrno(ENOENT));

  const std::string path = file;
  EXPECT_THAT(InForkedProcess([&] {
                DropToNobody();
                TEST_CHECK(access(path.c_str(), R_OK) == 0);
                TEST_CHECK(access(path.c_str(), W_OK) < 0 && errno == EACCES);
              }),
              ExitedWith(0));
}

TEST(AccessTest, UsesRealIDs) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to set a different real user ID";
  TempDir dir;
  const std::string file = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(file, "x", 0600));
  const std::string path = file;
  EXPECT_THAT(InForkedProcess([&] {
                // Real user nobody, effective root: access checks as nobody,
                // open and AT_EACCESS as root.
                TEST_PCHECK(setresuid(65534, 0, 0) == 0);
                TEST_CHECK(access(path.c_str(), R_OK) < 0 && errno == EACCES);
                TEST_CHECK(faccessat(AT_FDCWD, path.c_str(), R_OK, AT_EACCESS) == 0);
                int fd = open(path.c_str(), O_RDONLY);
                TEST_PCHECK(fd >= 0);
              }),
              ExitedWith(0));
}

TEST(CwdTest, ChdirGetcwd) {
  TempDir dir;
  char real[PATH_MAX];
  ASSERT_NE(realpath(dir.path().c_str(), real), nullptr);
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "x"));
  const std::string want = real;
  EXPECT_THAT(InForkedProcess([&] {
                TEST_PCHECK(chdir(want.c_str()) == 0);
                char buf[PATH_MAX];
                TEST_PCHECK(getcwd(buf, sizeof(buf)) != nullptr);
                TEST_CHECK(want == buf);
                // The raw call returns the length with the NUL.
                TEST_CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) == long(want.size() + 1));
                TEST_CHECK(syscall(SYS_getcwd, buf, want.size()) < 0 && errno == ERANGE);
                // Relative paths now start here.
                int fd = open("f", O_RDONLY);
                TEST_PCHECK(fd >= 0);
                TEST_CHECK(chdir("f") < 0 && errno == ENOTDIR);
                TEST_CHECK(chdir("nope") < 0 && errno == ENOENT);
                TEST_PCHECK(chdir("/") == 0);
                // fchdir back.
                int d = open(want.c_str(), O_RDONLY | O_DIRECTORY);
                TEST_PCHECK(d >= 0);
                TEST_PCHECK(fchdir(d) == 0);
                TEST_PCHECK(getcwd(buf, sizeof(buf)) != nullptr);
                TEST_CHECK(want == buf);
                TEST_CHECK(fchdir(fd) < 0 && errno == ENOTDIR);
                TEST_CHECK(fchdir(-1) < 0 && errno == EBADF);
              }),
              ExitedWith(0));
}

TEST(CwdTest, GetcwdOfRemovedDirectory) {
  TempDir dir;
  const std::string sub = dir.Child("sub");
  ASSERT_THAT(mkdir(sub.c_str(), 0755), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([&] {
                TEST_PCHECK(chdir(sub.c_str()) == 0);
                TEST_PCHECK(rmdir(sub.c_str()) == 0);
                char buf[PATH_MAX];
                TEST_CHECK(syscall(SYS_getcwd, buf, sizeof(buf)) < 0 && errno == ENOENT);
              }),
              ExitedWith(0));
}

TEST(ChrootTest, ChangesRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "chroot needs CAP_SYS_CHROOT";
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("inside"), "x"));
  const std::string path = dir.path();
  EXPECT_THAT(InForkedProcess([&] {
                TEST_PCHECK(chroot(path.c_str()) == 0);
                TEST_PCHECK(chdir("/") == 0);
                int fd = open("/inside", O_RDONLY);
                TEST_PCHECK(fd >= 0);
                // ".." at the new root stays there.
                fd = open("/../../inside", O_RDONLY);
                TEST_PCHECK(fd >= 0);
                char buf[16];
                TEST_PCHECK(getcwd(buf, sizeof(buf)) != nullptr);
                TEST_CHECK(strcmp(buf, "/") == 0);
              }),
              ExitedWith(0));
  EXPECT_THAT(InForkedProcess([&] {
                DropToNobody();
                TEST_CHECK(chroot(path.c_str()) < 0 && errno == EPERM);
              }),
              ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
