// Tests for dup(2), dup2(2), dup3(2), fcntl(2) (descriptor and status flags,
// pipe sizes, POSIX and OFD record locks), flock(2) and the generic ioctl(2)
// requests.

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/dup_fcntl_test_XXXXXX";
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

TEST(DupTest, DupSharesTheFileDescription) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "0123456789"));
  FileDescriptor a(open(dir.Child("f").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_THAT(a.get(), SyscallSucceeds());
  FileDescriptor b(dup(a.get()));
  ASSERT_THAT(b.get(), SyscallSucceeds());
  EXPECT_NE(a.get(), b.get());
  // The offset is shared; FD_CLOEXEC is not copied.
  char c;
  ASSERT_THAT(read(a.get(), &c, 1), SyscallSucceedsWithValue(1));
  ASSERT_THAT(read(b.get(), &c, 1), SyscallSucceedsWithValue(1));
  EXPECT_EQ(c, '1');
  EXPECT_THAT(fcntl(b.get(), F_GETFD), SyscallSucceedsWithValue(0));
  EXPECT_THAT(dup(-1), SyscallFailsWithErrno(EBADF));
}

TEST(DupTest, Dup2AndDup3) {
  TempDir dir;
  FileDescriptor a(open(dir.path().c_str(), O_RDONLY));
  FileDescriptor b(open(dir.path().c_str(), O_RDONLY));
  ASSERT_THAT(a.get(), SyscallSucceeds());
  ASSERT_THAT(b.get(), SyscallSucceeds());
  // dup2 onto itself checks the descriptor and does nothing.
  EXPECT_THAT(dup2(a.get(), a.get()), SyscallSucceedsWithValue(a.get()));
  EXPECT_THAT(dup2(1000, 1000), SyscallFailsWithErrno(EBADF));
  // dup2 replaces what was at the target.
  ASSERT_THAT(fcntl(b.get(), F_SETFD, FD_CLOEXEC), SyscallSucceeds());
  EXPECT_THAT(dup2(a.get(), b.get()), SyscallSucceedsWithValue(b.get()));
  EXPECT_THAT(fcntl(b.get(), F_GETFD), SyscallSucceedsWithValue(0));
  struct stat sa, sb;
  ASSERT_THAT(fstat(a.get(), &sa), SyscallSucceeds());
  ASSERT_THAT(fstat(b.get(), &sb), SyscallSucceeds());
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  // dup3 rejects the same descriptor and unknown flags, and takes O_CLOEXEC.
  EXPECT_THAT(dup3(a.get(), a.get(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(dup3(a.get(), b.get(), O_NONBLOCK), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(dup3(a.get(), b.get(), O_CLOEXEC), SyscallSucceedsWithValue(b.get()));
  EXPECT_THAT(fcntl(b.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(dup2(a.get(), -1), SyscallFailsWithErrno(EBADF));
  // A target that was not open is simply used.
  EXPECT_THAT(dup2(a.get(), 900), SyscallSucceedsWithValue(900));
  EXPECT_THAT(close(900), SyscallSucceeds());
}

TEST(FcntlTest, DupFD) {
  TempDir dir;
  FileDescriptor a(open(dir.path().c_str(), O_RDONLY));
  FileDescriptor b(fcntl(a.get(), F_DUPFD, 100));
  EXPECT_THAT(b.get(), SyscallSucceedsWithValue(::testing::Ge(100)));
  EXPECT_THAT(fcntl(b.get(), F_GETFD), SyscallSucceedsWithValue(0));
  FileDescriptor c(fcntl(a.get(), F_DUPFD_CLOEXEC, 100));
  EXPECT_THAT(c.get(), SyscallSucceedsWithValue(::testing::Gt(100)));
  EXPECT_THAT(fcntl(c.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  EXPECT_THAT(fcntl(a.get(), F_DUPFD, -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(a.get(), F_DUPFD, 1 << 30), SyscallFailsWithErrno(EINVAL));
}

TEST(FcntlTest, FDFlags) {
  TempDir dir;
  FileDescriptor a(open(dir.path().c_str(), O_RDONLY));
  EXPECT_THAT(fcntl(a.get(), F_GETFD), SyscallSucceedsWithValue(0));
  ASSERT_THAT(fcntl(a.get(), F_SETFD, FD_CLOEXEC), SyscallSucceeds());
  EXPECT_THAT(fcntl(a.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  ASSERT_THAT(fcntl(a.get(), F_SETFD, 0), SyscallSucceeds());
  EXPECT_THAT(fcntl(a.get(), F_GETFD), SyscallSucceedsWithValue(0));
  EXPECT_THAT(fcntl(-1, F_GETFD), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(fcntl(a.get(), 0x7fff), SyscallFailsWithErrno(EINVAL));
}

TEST(FcntlTest, StatusFlags) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "x"));
  FileDescriptor fd(open(dir.Child("f").c_str(), O_WRONLY));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd.get(), F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK), O_WRONLY);
  // Only the settable flags change: the access mode and O_CREAT-like flags stay.
  ASSERT_THAT(fcntl(fd.get(), F_SETFL, O_RDWR | O_APPEND | O_NONBLOCK | O_TRUNC), SyscallSucceeds());
  int flags = fcntl(fd.get(), F_GETFL);
  EXPECT_EQ(flags & O_ACCMODE, O_WRONLY);
  EXPECT_NE(flags & O_APPEND, 0);
  EXPECT_NE(flags & O_NONBLOCK, 0);
  EXPECT_EQ(flags & O_TRUNC, 0);
  ASSERT_THAT(fcntl(fd.get(), F_SETFL, 0), SyscallSucceeds());
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & (O_APPEND | O_NONBLOCK), 0);
  // The status flags belong to the file description, shared by dups.
  FileDescriptor d(dup(fd.get()));
  ASSERT_THAT(fcntl(fd.get(), F_SETFL, O_APPEND), SyscallSucceeds());
  EXPECT_NE(fcntl(d.get(), F_GETFL) & O_APPEND, 0);
}

TEST(FcntlTest, PipeSize) {
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  FileDescriptor r(p[0]), w(p[1]);
  EXPECT_THAT(fcntl(r.get(), F_GETPIPE_SZ), SyscallSucceedsWithValue(65536));
  EXPECT_THAT(fcntl(w.get(), F_SETPIPE_SZ, 8192), SyscallSucceedsWithValue(8192));
  EXPECT_THAT(fcntl(r.get(), F_GETPIPE_SZ), SyscallSucceedsWithValue(8192));
  TempDir dir;
  FileDescriptor f(open(dir.path().c_str(), O_RDONLY));
  EXPECT_THAT(fcntl(f.get(), F_GETPIPE_SZ), SyscallFailsWithErrno(EBADF));
}

TEST(IoctlTest, GenericRequests) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(WriteFile(dir.Child("f"), "0123456789"));
  FileDescriptor fd(open(dir.Child("f").c_str(), O_RDONLY));
  ASSERT_THAT(fd.get(), SyscallSucceeds());
  int on = 1, off = 0;
  ASSERT_THAT(ioctl(fd.get(), FIONBIO, &on), SyscallSucceeds());
  EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  ASSERT_THAT(ioctl(fd.get(), FIONBIO, &off), SyscallSucceeds());
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  ASSERT_THAT(ioctl(fd.get(), FIOCLEX), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(FD_CLOEXEC));
  ASSERT_THAT(ioctl(fd.get(), FIONCLEX), SyscallSucceeds());
  EXPECT_THAT(fcntl(fd.get(), F_GETFD), SyscallSucceedsWithValue(0));
  // FIONREAD of a regular file: the bytes past the offset.
  ASSERT_THAT(lseek(fd.get(), 3, SEEK_SET), SyscallSucceeds());
  int n = -1;
  ASSERT_THAT(ioctl(fd.get(), FIONREAD, &n), SyscallSucceeds());
  EXPECT_EQ(n, 7);
  EXPECT_THAT(ioctl(fd.get(), TCGETS, &n), SyscallFailsWithErrno(ENOTTY));
  EXPECT_THAT(ioctl(fd.get(), FIONBIO, nullptr), SyscallFailsWithErrno(EFAULT));
  EXPECT_THAT(ioctl(-1, FIONBIO, &on), SyscallFailsWithErrno(EBADF));
  FileDescriptor p(open(dir.Child("f").c_str(), O_PATH));
  EXPECT_THAT(ioctl(p.get(), FIOCLEX), SyscallFailsWithErrno(EBADF));
}

// SetLock runs fcntl(cmd) with a struct flock for [start, start+len).
int SetLock(int fd, int cmd, short type, off_t start, off_t len) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = len;
  return fcntl(fd, cmd, &fl);
}

TEST(RecordLockTest, ConflictsBetweenProcesses) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "0123456789"));
  FileDescriptor fd(open(path.c_str(), O_RDWR));
  ASSERT_THAT(SetLock(fd.get(), F_SETLK, F_WRLCK, 0, 5), SyscallSucceeds());
  ASSERT_THAT(SetLock(fd.get(), F_SETLK, F_RDLCK, 5, 0), SyscallSucceeds());
  const pid_t parent = getpid();
  const int pfd = fd.get();
  EXPECT_THAT(InForkedProcess([&] {
                int cfd = open(path.c_str(), O_RDWR);
                TEST_PCHECK(cfd >= 0);
                // Another process sees the write lock...
                TEST_CHECK(SetLock(cfd, F_SETLK, F_RDLCK, 2, 1) < 0 && (errno == EAGAIN || errno == EACCES));
                struct flock fl = {};
                fl.l_type = F_RDLCK;
                fl.l_whence = SEEK_SET;
                fl.l_start = 3;
                fl.l_len = 1;
                TEST_PCHECK(fcntl(cfd, F_GETLK, &fl) == 0);
                TEST_CHECK(fl.l_type == F_WRLCK);
                TEST_CHECK(fl.l_start == 0 && fl.l_len == 5);
                TEST_CHECK(fl.l_pid == parent);
                // ...can share the read lock, which runs to EOF...
                TEST_PCHECK(SetLock(cfd, F_SETLK, F_RDLCK, 100, 10) == 0);
                // ...but not write there.
                TEST_CHECK(SetLock(cfd, F_SETLK, F_WRLCK, 100, 10) < 0);
                // The read lock runs to EOF: F_GETLK of a write lock far past
                // the end reports it.
                fl.l_type = F_WRLCK;
                fl.l_start = 1000;
                fl.l_len = 1;
                TEST_PCHECK(fcntl(cfd, F_GETLK, &fl) == 0);
                TEST_CHECK(fl.l_type == F_RDLCK && fl.l_start == 5 && fl.l_len == 0);
                // The inherited descriptor is the same file, but the child is
                // another owner.
                TEST_CHECK(SetLock(pfd, F_SETLK, F_WRLCK, 0, 1) < 0);
              }),
              ExitedWith(0));
  // The parent's own locks never conflict with it.
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_len = 0;
  ASSERT_THAT(fcntl(fd.get(), F_GETLK, &fl), SyscallSucceeds());
  EXPECT_EQ(fl.l_type, F_UNLCK);
}

TEST(RecordLockTest, CloseOfAnyDescriptorReleases) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  FileDescriptor fd(open(path.c_str(), O_RDWR));
  ASSERT_THAT(SetLock(fd.get(), F_SETLK, F_WRLCK, 0, 0), SyscallSucceeds());
  // Opening and closing the file through another descriptor drops the lock.
  int other = open(path.c_str(), O_RDONLY);
  ASSERT_THAT(other, SyscallSucceeds());
  ASSERT_THAT(close(other), SyscallSucceeds());
  EXPECT_THAT(InForkedProcess([&] {
                int cfd = open(path.c_str(), O_RDWR);
                TEST_PCHECK(cfd >= 0);
                TEST_PCHECK(SetLock(cfd, F_SETLK, F_WRLCK, 0, 0) == 0);
              }),
              ExitedWith(0));
}

TEST(RecordLockTest, SetlkwWaitsForRelease) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  int ready[2], release[2];
  ASSERT_THAT(pipe(ready), SyscallSucceeds());
  ASSERT_THAT(pipe(release), SyscallSucceeds());
  pid_t child = fork();
  ASSERT_THAT(child, SyscallSucceeds());
  if (child == 0) {
    int cfd = open(path.c_str(), O_RDWR);
    TEST_PCHECK(cfd >= 0);
    TEST_PCHECK(SetLock(cfd, F_SETLK, F_WRLCK, 0, 0) == 0);
    TEST_PCHECK(write(ready[1], "r", 1) == 1);
    char c;
    TEST_PCHECK(read(release[0], &c, 1) == 1);
    usleep(50000);
    _exit(0);  // exiting releases the lock
  }
  char c;
  ASSERT_THAT(read(ready[0], &c, 1), SyscallSucceedsWithValue(1));
  FileDescriptor fd(open(path.c_str(), O_RDWR));
  EXPECT_THAT(SetLock(fd.get(), F_SETLK, F_WRLCK, 0, 0), SyscallFails());
  ASSERT_THAT(write(release[1], "go", 1), SyscallSucceedsWithValue(1));
  EXPECT_THAT(SetLock(fd.get(), F_SETLKW, F_WRLCK, 0, 0), SyscallSucceeds());
  int status;
  ASSERT_THAT(waitpid(child, &status, 0), SyscallSucceedsWithValue(child));
  EXPECT_THAT(status, ExitedWith(0));
  for (int f : {ready[0], ready[1], release[0], release[1]}) close(f);
}

TEST(RecordLockTest, Errors) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  FileDescriptor ro(open(path.c_str(), O_RDONLY));
  FileDescriptor wo(open(path.c_str(), O_WRONLY));
  EXPECT_THAT(SetLock(ro.get(), F_SETLK, F_WRLCK, 0, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(SetLock(wo.get(), F_SETLK, F_RDLCK, 0, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(SetLock(ro.get(), F_SETLK, 42, 0, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(SetLock(ro.get(), F_SETLK, F_RDLCK, -5, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(SetLock(ro.get(), F_GETLK, F_UNLCK, 0, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fcntl(ro.get(), F_SETLK, nullptr), SyscallFailsWithErrno(EFAULT));
}

TEST(RecordLockTest, OFDLocksBelongToTheOpenFile) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  FileDescriptor a(open(path.c_str(), O_RDWR));
  FileDescriptor b(open(path.c_str(), O_RDWR));
  ASSERT_THAT(SetLock(a.get(), F_OFD_SETLK, F_WRLCK, 0, 0), SyscallSucceeds());
  // Another open file of the same process conflicts.
  EXPECT_THAT(SetLock(b.get(), F_OFD_SETLK, F_WRLCK, 0, 1), SyscallFailsWithErrno(EAGAIN));
  struct flock fl = {};
  fl.l_type = F_RDLCK;
  fl.l_whence = SEEK_SET;
  ASSERT_THAT(fcntl(b.get(), F_OFD_GETLK, &fl), SyscallSucceeds());
  EXPECT_EQ(fl.l_type, F_WRLCK);
  EXPECT_EQ(fl.l_pid, -1);
  // A dup of a shares the lock; closing b does not release it.
  FileDescriptor c(dup(a.get()));
  EXPECT_THAT(SetLock(c.get(), F_OFD_SETLK, F_WRLCK, 0, 0), SyscallSucceeds());
  b.reset();
  FileDescriptor d(open(path.c_str(), O_RDWR));
  EXPECT_THAT(SetLock(d.get(), F_OFD_SETLK, F_WRLCK, 0, 1), SyscallFailsWithErrno(EAGAIN));
  // Closing the last descriptor of the open file releases it.
  a.reset();
  c.reset();
  EXPECT_THAT(SetLock(d.get(), F_OFD_SETLK, F_WRLCK, 0, 1), SyscallSucceeds());
  // l_pid must be 0.
  fl.l_type = F_RDLCK;
  fl.l_pid = 1;
  EXPECT_THAT(fcntl(d.get(), F_OFD_SETLK, &fl), SyscallFailsWithErrno(EINVAL));
}

TEST(FlockTest, SharedAndExclusive) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  FileDescriptor a(open(path.c_str(), O_RDONLY));
  FileDescriptor b(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(flock(a.get(), LOCK_SH), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_SH | LOCK_NB), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_EX | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
  ASSERT_THAT(flock(a.get(), LOCK_UN), SyscallSucceeds());
  EXPECT_THAT(flock(b.get(), LOCK_EX | LOCK_NB), SyscallSucceeds());
  EXPECT_THAT(flock(a.get(), LOCK_SH | LOCK_NB), SyscallFailsWithErrno(EWOULDBLOCK));
  // A dup, or the same descriptor in a child, is the same lock holder.
  FileDescriptor c(dup(b.get()));
  EXPECT_THAT(flock(c.get(), LOCK_EX | LOCK_NB), SyscallSucceeds());
  const int bfd = b.get(), afd = a.get();
  EXPECT_THAT(InForkedProcess([&] {
                TEST_PCHECK(flock(bfd, LOCK_EX | LOCK_NB) == 0);
                TEST_CHECK(flock(afd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK);
              }),
              ExitedWith(0));
  // Closing every descriptor of the open file releases its lock.
  b.reset();
  c.reset();
  EXPECT_THAT(flock(a.get(), LOCK_EX | LOCK_NB), SyscallSucceeds());
  EXPECT_THAT(flock(a.get(), 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(flock(-1, LOCK_SH), SyscallFailsWithErrno(EBADF));
}

TEST(FlockTest, BlockingWaitsForUnlock) {
  TempDir dir;
  const std::string path = dir.Child("f");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "x"));
  FileDescriptor a(open(path.c_str(), O_RDONLY));
  ASSERT_THAT(flock(a.get(), LOCK_EX), SyscallSucceeds());
  const int afd = a.get();
  pid_t child = fork();
  ASSERT_THAT(child, SyscallSucceeds());
  if (child == 0) {
    usleep(50000);
    TEST_PCHECK(flock(afd, LOCK_UN) == 0);
    _exit(0);
  }
  FileDescriptor b(open(path.c_str(), O_RDONLY));
  EXPECT_THAT(flock(b.get(), LOCK_EX), SyscallSucceeds());
  int status;
  ASSERT_THAT(waitpid(child, &status, 0), SyscallSucceedsWithValue(child));
  EXPECT_THAT(status, ExitedWith(0));
}

}  // namespace
}  // namespace testing
}  // namespace visor
