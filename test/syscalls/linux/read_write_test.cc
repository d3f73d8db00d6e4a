// Tests for read(2), write(2) and their positional and vector forms, lseek(2),
// sendfile(2), copy_file_range(2), truncate(2), ftruncate(2), fallocate(2) and the
// sync calls, on regular files (and pipes where the file type matters).

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/read_write_test_XXXXXX";
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

// OpenTempFile creates a file in dir holding contents and opens it with flags.
void OpenTempFile(const TempDir& dir, const std::string& contents, int flags, FileDescriptor* fd) {
  const std::string path = dir.Child("file");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, contents));
  fd->reset(open(path.c_str(), flags));
  ASSERT_THAT(fd->get(), SyscallSucceeds());
}

TEST(ReadWriteTest, ReadAdvancesOffsetAndStopsAtEOF) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDONLY, &fd));
  char buf[8];
  ASSERT_THAT(read(fd.get(), buf, 4), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "0123");
  ASSERT_THAT(read(fd.get(), buf, 8), SyscallSucceedsWithValue(6));
  EXPECT_EQ(std::string(buf, 6), "456789");
  EXPECT_THAT(read(fd.get(), buf, 8), SyscallSucceedsWithValue(0));
  EXPECT_THAT(read(fd.get(), buf, 0), SyscallSucceedsWithValue(0));
}

TEST(ReadWriteTest, WrongAccessMode) {
  TempDir dir;
  FileDescriptor ro;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "abc", O_RDONLY, &ro));
  EXPECT_THAT(write(ro.get(), "x", 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(pwrite(ro.get(), "x", 1, 0), SyscallFailsWithErrno(EBADF));
  FileDescriptor wo(open(dir.Child("file").c_str(), O_WRONLY));
  ASSERT_THAT(wo.get(), SyscallSucceeds());
  char c;
  EXPECT_THAT(read(wo.get(), &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(pread(wo.get(), &c, 1, 0), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(read(-1, &c, 1), SyscallFailsWithErrno(EBADF));
  EXPECT_THAT(write(12345, &c, 1), SyscallFailsWithErrno(EBADF));
}

TEST(ReadWriteTest, WriteExtendsAndOverwrites) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "aaaa", O_RDWR, &fd));
  ASSERT_THAT(write(fd.get(), "bb", 2), SyscallSucceedsWithValue(2));
  ASSERT_THAT(lseek(fd.get(), 6, SEEK_SET), SyscallSucceedsWithValue(6));
  ASSERT_THAT(write(fd.get(), "cc", 2), SyscallSucceedsWithValue(2));
  char buf[16];
  ASSERT_THAT(pread(fd.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(8));
  // The gap reads as zeros.
  EXPECT_EQ(std::string(buf, 8), std::string("bbaa\0\0cc", 8));
}

TEST(ReadWriteTest, LargeTransfersRoundTrip) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "", O_RDWR, &fd));
  // Larger than any internal buffer, and not a multiple of a page.
  std::string data(3 * 1024 * 1024 + 123, '\0');
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<char>(i * 7 + i / 4096);
  ASSERT_THAT(write(fd.get(), data.data(), data.size()), SyscallSucceedsWithValue(data.size()));
  std::string got(data.size() + 10, '\0');
  ASSERT_THAT(pread(fd.get(), got.data(), got.size(), 0), SyscallSucceedsWithValue(data.size()));
  got.resize(data.size());
  EXPECT_TRUE(got == data);
}

TEST(ReadWriteTest, BadBuffers) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDWR, &fd));
  EXPECT_THAT(read(fd.get(), nullptr, 4), SyscallFailsWithErrno(EFAULT));
  // The failed read delivered nothing, so it did not move the offset.
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(0));
  EXPECT_THAT(write(fd.get(), nullptr, 4), SyscallFailsWithErrno(EFAULT));

  // A buffer that runs into an unmapped page: the transfer stops there.
  const size_t page = sysconf(_SC_PAGESIZE);
  char* m = static_cast<char*>(mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_THAT(m, SyscallSucceeds());
  ASSERT_THAT(munmap(m + page, page), SyscallSucceeds());
  memcpy(m + page - 3, "xyz", 3);
  ASSERT_THAT(pwrite(fd.get(), m + page - 3, 10, 0), SyscallSucceedsWithValue(3));
  char buf[10];
  ASSERT_THAT(pread(fd.get(), buf, 10, 0), SyscallSucceedsWithValue(10));
  EXPECT_EQ(std::string(buf, 10), "xyz3456789");
  ASSERT_THAT(pread(fd.get(), m + page - 4, 10, 0), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(m + page - 4, 4), "xyz3");
  munmap(m, page);
}

TEST(ReadWriteTest, PreadPwriteKeepOffset) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDWR, &fd));
  ASSERT_THAT(lseek(fd.get(), 2, SEEK_SET), SyscallSucceedsWithValue(2));
  char buf[4];
  ASSERT_THAT(pread(fd.get(), buf, 4, 5), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "5678");
  ASSERT_THAT(pwrite(fd.get(), "AB", 2, 8), SyscallSucceedsWithValue(2));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(2));
  EXPECT_THAT(pread(fd.get(), buf, 1, -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pwrite(fd.get(), buf, 1, -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(pread(fd.get(), buf, 4, 100), SyscallSucceedsWithValue(0));
}

TEST(ReadWriteTest, PreadOnPipeIsESPIPE) {
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  FileDescriptor r(p[0]), w(p[1]);
  char c = 'x';
  EXPECT_THAT(pwrite(w.get(), &c, 1, 0), SyscallFailsWithErrno(ESPIPE));
  EXPECT_THAT(pread(r.get(), &c, 1, 0), SyscallFailsWithErrno(ESPIPE));
  EXPECT_THAT(lseek(r.get(), 0, SEEK_CUR), SyscallFailsWithErrno(ESPIPE));
}

TEST(ReadWriteTest, WriteToPipeWithoutReaderRaisesSIGPIPE) {
  EXPECT_THAT(InForkedProcess([] {
                int p[2];
                TEST_PCHECK(pipe(p) == 0);
                close(p[0]);
                TEST_PCHECK(write(p[1], "x", 1) < 0);  // SIGPIPE kills first
              }),
              KilledBy(SIGPIPE));
  EXPECT_THAT(InForkedProcess([] {
                signal(SIGPIPE, SIG_IGN);
                int p[2];
                TEST_PCHECK(pipe(p) == 0);
                close(p[0]);
                TEST_CHECK(write(p[1], "x", 1) < 0 && errno == EPIPE);
              }),
              ExitedWith(0));
}

TEST(ReadWriteTest, ReadvWritev) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "", O_RDWR, &fd));
  char a[] = "hello", b[] = ", ", c[] = "world";
  struct iovec w[] = {{a, 5}, {b, 2}, {nullptr, 0}, {c, 5}};
  ASSERT_THAT(writev(fd.get(), w, 4), SyscallSucceedsWithValue(12));
  ASSERT_THAT(lseek(fd.get(), 0, SEEK_SET), SyscallSucceeds());
  char x[3], y[20];
  struct iovec r[] = {{x, 3}, {y, sizeof(y)}};
  ASSERT_THAT(readv(fd.get(), r, 2), SyscallSucceedsWithValue(12));
  EXPECT_EQ(std::string(x, 3), "hel");
  EXPECT_EQ(std::string(y, 9), "lo, world");
  EXPECT_THAT(readv(fd.get(), r, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(readv(fd.get(), r, -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readv(fd.get(), r, IOV_MAX + 1), SyscallFailsWithErrno(EINVAL));
  struct iovec neg[] = {{x, static_cast<size_t>(-1)}};
  EXPECT_THAT(readv(fd.get(), neg, 1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(readv(fd.get(), nullptr, 1), SyscallFailsWithErrno(EFAULT));
}

TEST(ReadWriteTest, PreadvPwritevAndV2Flags) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDWR, &fd));
  char a[] = "AB", b[] = "CD";
  struct iovec w[] = {{a, 2}, {b, 2}};
  ASSERT_THAT(pwritev(fd.get(), w, 2, 3), SyscallSucceedsWithValue(4));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(0));
  char buf[10];
  struct iovec r[] = {{buf, 10}};
  ASSERT_THAT(preadv(fd.get(), r, 1, 0), SyscallSucceedsWithValue(10));
  EXPECT_EQ(std::string(buf, 10), "012ABCD789");
  EXPECT_THAT(preadv(fd.get(), r, 1, -1), SyscallFailsWithErrno(EINVAL));
  // preadv2 with offset -1 reads at, and moves, the file offset.
  ASSERT_THAT(lseek(fd.get(), 5, SEEK_SET), SyscallSucceeds());
  struct iovec r2[] = {{buf, 2}};
  ASSERT_THAT(preadv2(fd.get(), r2, 1, -1, 0), SyscallSucceedsWithValue(2));
  EXPECT_EQ(std::string(buf, 2), "CD");
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(7));
  EXPECT_THAT(preadv2(fd.get(), r2, 1, 0, 0x10000000), SyscallFailsWithErrno(EOPNOTSUPP));
  ASSERT_THAT(pwritev2(fd.get(), w, 1, 0, RWF_SYNC | RWF_DSYNC | RWF_HIPRI), SyscallSucceedsWithValue(2));
}

TEST(LseekTest, Whence) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDONLY, &fd));
  EXPECT_THAT(lseek(fd.get(), 3, SEEK_SET), SyscallSucceedsWithValue(3));
  EXPECT_THAT(lseek(fd.get(), 2, SEEK_CUR), SyscallSucceedsWithValue(5));
  EXPECT_THAT(lseek(fd.get(), -1, SEEK_END), SyscallSucceedsWithValue(9));
  EXPECT_THAT(lseek(fd.get(), 100, SEEK_END), SyscallSucceedsWithValue(110));
  ASSERT_THAT(lseek(fd.get(), 5, SEEK_SET), SyscallSucceedsWithValue(5));
  EXPECT_THAT(lseek(fd.get(), -6, SEEK_CUR), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(lseek(fd.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(5));
  EXPECT_THAT(lseek(fd.get(), 0, 42), SyscallFailsWithErrno(EINVAL));
  // The whole file is data, with a hole at its end.
  EXPECT_THAT(lseek(fd.get(), 2, SEEK_DATA), SyscallSucceedsWithValue(2));
  EXPECT_THAT(lseek(fd.get(), 2, SEEK_HOLE), SyscallSucceedsWithValue(10));
  EXPECT_THAT(lseek(fd.get(), 10, SEEK_DATA), SyscallFailsWithErrno(ENXIO));
}

TEST(SendfileTest, FileToFile) {
  TempDir dir;
  FileDescriptor in;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDONLY, &in));
  FileDescriptor out(open(dir.Child("out").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_THAT(out.get(), SyscallSucceeds());
  off_t off = 2;
  ASSERT_THAT(sendfile(out.get(), in.get(), &off, 5), SyscallSucceedsWithValue(5));
  EXPECT_EQ(off, 7);
  // With an offset, in's own offset does not move.
  EXPECT_THAT(lseek(in.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(0));
  ASSERT_THAT(sendfile(out.get(), in.get(), nullptr, 100), SyscallSucceedsWithValue(10));
  EXPECT_THAT(lseek(in.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(10));
  char buf[32];
  ASSERT_THAT(pread(out.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(15));
  EXPECT_EQ(std::string(buf, 15), "234560123456789");
  // out must be writable and in readable.
  EXPECT_THAT(sendfile(in.get(), out.get(), nullptr, 1), SyscallFailsWithErrno(EBADF));
}

TEST(SendfileTest, FileToPipe) {
  TempDir dir;
  FileDescriptor in;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "pipe me", O_RDONLY, &in));
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  FileDescriptor r(p[0]), w(p[1]);
  ASSERT_THAT(sendfile(w.get(), in.get(), nullptr, 100), SyscallSucceedsWithValue(7));
  char buf[16];
  ASSERT_THAT(read(r.get(), buf, sizeof(buf)), SyscallSucceedsWithValue(7));
  EXPECT_EQ(std::string(buf, 7), "pipe me");
}

TEST(CopyFileRangeTest, Copies) {
  TempDir dir;
  FileDescriptor in;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDONLY, &in));
  FileDescriptor out(open(dir.Child("out").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_THAT(out.get(), SyscallSucceeds());
  loff_t off_in = 4, off_out = 1;
  ASSERT_THAT(copy_file_range(in.get(), &off_in, out.get(), &off_out, 3, 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(off_in, 7);
  EXPECT_EQ(off_out, 4);
  // Without offsets the files' offsets are used and moved.
  ASSERT_THAT(copy_file_range(in.get(), nullptr, out.get(), nullptr, 2, 0), SyscallSucceedsWithValue(2));
  EXPECT_THAT(lseek(in.get(), 0, SEEK_CUR), SyscallSucceedsWithValue(2));
  char buf[8];
  ASSERT_THAT(pread(out.get(), buf, sizeof(buf), 0), SyscallSucceedsWithValue(4));
  EXPECT_EQ(std::string(buf, 4), "0156");
  // Copying past the end copies nothing.
  off_in = 100;
  EXPECT_THAT(copy_file_range(in.get(), &off_in, out.get(), nullptr, 5, 0), SyscallSucceedsWithValue(0));
  EXPECT_THAT(copy_file_range(in.get(), nullptr, out.get(), nullptr, 1, 1), SyscallFailsWithErrno(EINVAL));
  FileDescriptor d(open(dir.path().c_str(), O_RDONLY));
  EXPECT_THAT(copy_file_range(d.get(), nullptr, out.get(), nullptr, 1, 0), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(copy_file_range(out.get(), nullptr, in.get(), nullptr, 1, 0), SyscallFailsWithErrno(EBADF));
}

TEST(TruncateTest, TruncateAndFtruncate) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "0123456789", O_RDWR, &fd));
  const std::string path = dir.Child("file");
  ASSERT_THAT(truncate(path.c_str(), 4), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 4);
  ASSERT_THAT(ftruncate(fd.get(), 8), SyscallSucceeds());
  char buf[8];
  ASSERT_THAT(pread(fd.get(), buf, 8, 0), SyscallSucceedsWithValue(8));
  EXPECT_EQ(std::string(buf, 8), std::string("0123\0\0\0\0", 8));
  EXPECT_THAT(ftruncate(fd.get(), -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(truncate(path.c_str(), -1), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(truncate(dir.path().c_str(), 0), SyscallFailsWithErrno(EISDIR));
  EXPECT_THAT(truncate(dir.Child("nope").c_str(), 0), SyscallFailsWithErrno(ENOENT));
  FileDescriptor ro(open(path.c_str(), O_RDONLY));
  EXPECT_THAT(ftruncate(ro.get(), 0), SyscallFailsWithErrno(EINVAL));
}

TEST(FallocateTest, ExtendsFile) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "abc", O_RDWR, &fd));
  ASSERT_THAT(fallocate(fd.get(), 0, 0, 4096), SyscallSucceeds());
  struct stat st;
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 4096);
  ASSERT_THAT(fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, 8192), SyscallSucceeds());
  ASSERT_THAT(fstat(fd.get(), &st), SyscallSucceeds());
  EXPECT_EQ(st.st_size, 4096);
  char buf[3];
  ASSERT_THAT(pread(fd.get(), buf, 3, 0), SyscallSucceedsWithValue(3));
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_THAT(fallocate(fd.get(), 0, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fallocate(fd.get(), 0, -1, 1), SyscallFailsWithErrno(EINVAL));
  FileDescriptor ro(open(dir.Child("file").c_str(), O_RDONLY));
  EXPECT_THAT(fallocate(ro.get(), 0, 0, 1), SyscallFailsWithErrno(EBADF));
}

TEST(SyncTest, Calls) {
  TempDir dir;
  FileDescriptor fd;
  ASSERT_NO_FATAL_FAILURE(OpenTempFile(dir, "abc", O_RDWR, &fd));
  sync();
  EXPECT_THAT(syncfs(fd.get()), SyscallSucceeds());
  EXPECT_THAT(fsync(fd.get()), SyscallSucceeds());
  EXPECT_THAT(fdatasync(fd.get()), SyscallSucceeds());
  EXPECT_THAT(sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE), SyscallSucceeds());
  EXPECT_THAT(sync_file_range(fd.get(), 0, 0, 0x100), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(sync_file_range(fd.get(), -1, 0, 0), SyscallFailsWithErrno(EINVAL));
  EXPECT_THAT(fsync(-1), SyscallFailsWithErrno(EBADF));
  int p[2];
  ASSERT_THAT(pipe(p), SyscallSucceeds());
  FileDescriptor r(p[0]), w(p[1]);
  EXPECT_THAT(sync_file_range(r.get(), 0, 0, 0), SyscallFailsWithErrno(ESPIPE));
  EXPECT_THAT(fsync(r.get()), SyscallFailsWithErrno(EINVAL));
}

}  // namespace
}  // namespace testing
}  // namespace visor
