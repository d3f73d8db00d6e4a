package tmpfs_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/vfstest"
	"visor.dev/visor/pkg/waiter"
)

func newEnv(t testing.TB) *vfstest.Env {
	return vfstest.New(t, "tmpfs", tmpfs.FilesystemType{})
}

func mustOpen(t testing.TB, e *vfstest.Env, path string, flags uint32) *vfs.FileDescription {
	t.Helper()
	fd, err := e.Open(path, flags, 0o644)
	if err != nil {
		t.Fatalf("open %q: %v", path, err)
	}
	return fd
}

func setStat(e *vfstest.Env, path string, stat linux.Statx) error {
	return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop(path), &vfs.SetStatOptions{Stat: stat})
}

func TestRegularFileIO(t *testing.T) {
	e := newEnv(t)
	fd := mustOpen(t, e, "/f", linux.O_RDWR|linux.O_CREAT)
	defer fd.DecRef()
	ctx := e.Ctx
	if n, err := fd.Write(ctx, []byte("hello, world"), vfs.WriteOptions{}); n != 12 || err != nil {
		t.Fatalf("write = %d, %v", n, err)
	}
	if off, err := fd.Seek(ctx, 7, linux.SEEK_SET); off != 7 || err != nil {
		t.Fatalf("seek = %d, %v", off, err)
	}
	buf := make([]byte, 100)
	if n, _ := fd.Read(ctx, buf, vfs.ReadOptions{}); string(buf[:n]) != "world" {
		t.Errorf("read after seek = %q", buf[:n])
	}
	if n, _ := fd.Read(ctx, buf, vfs.ReadOptions{}); n != 0 {
		t.Errorf("read at EOF = %d", n)
	}
	if n, err := fd.PWrite(ctx, []byte("W"), 7, vfs.WriteOptions{}); n != 1 || err != nil {
		t.Fatalf("pwrite = %d, %v", n, err)
	}
	if n, _ := fd.PRead(ctx, buf, 0, vfs.ReadOptions{}); string(buf[:n]) != "hello, World" {
		t.Errorf("pread = %q", buf[:n])
	}
	if _, err := fd.PRead(ctx, buf, -1, vfs.ReadOptions{}); err != linux.EINVAL {
		t.Errorf("pread at -1: %v, want EINVAL", err)
	}
	// A sparse file reads zeros in its hole and occupies only what was written.
	if _, err := fd.PWrite(ctx, []byte("end"), 1<<20, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	st, _ := fd.Stat(ctx, vfs.StatOptions{})
	if st.Size != 1<<20+3 || st.Blocks != 2*8 {
		t.Errorf("sparse file: size %d blocks %d", st.Size, st.Blocks)
	}
	if n, _ := fd.PRead(ctx, buf[:10], 1<<19, vfs.ReadOptions{}); n != 10 || !bytes.Equal(buf[:10], make([]byte, 10)) {
		t.Errorf("hole reads %v", buf[:n])
	}
	for _, tc := range []struct {
		off    int64
		whence int32
		want   int64
		err    error
	}{
		{0, linux.SEEK_END, 1<<20 + 3, nil},
		{-3, linux.SEEK_CUR, 1 << 20, nil},
		{-1, linux.SEEK_SET, 0, linux.EINVAL},
		{5, linux.SEEK_DATA, 5, nil},
		{5, linux.SEEK_HOLE, 1<<20 + 3, nil},
		{1 << 21, linux.SEEK_DATA, 0, linux.ENXIO},
		{0, 7, 0, linux.EINVAL},
	} {
		if got, err := fd.Seek(ctx, tc.off, tc.whence); got != tc.want && err == nil || err != tc.err {
			t.Errorf("seek(%d, %d) = %d, %v; want %d, %v", tc.off, tc.whence, got, err, tc.want, tc.err)
		}
	}
	// Truncating and growing again shows zeros where the data was.
	for _, size := range []uint64{5, 12} {
		if err := fd.SetStat(ctx, vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE, Size: size}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := fd.PRead(ctx, buf, 0, vfs.ReadOptions{}); string(buf[:n]) != "hello\x00\x00\x00\x00\x00\x00\x00" {
		t.Errorf("after truncate and grow: %q", buf[:n])
	}

	// O_APPEND writes at the end whatever the offset; pwrite too, as in Linux.
	afd := mustOpen(t, e, "/f", linux.O_WRONLY|linux.O_APPEND)
	defer afd.DecRef()
	afd.Write(ctx, []byte("A"), vfs.WriteOptions{})
	afd.PWrite(ctx, []byte("B"), 0, vfs.WriteOptions{})
	if got, _ := e.ReadFile("/f"); got != "hello\x00\x00\x00\x00\x00\x00\x00AB" {
		t.Errorf("after appends: %q", got)
	}
	// Access modes.
	if _, err := afd.Read(ctx, buf, vfs.ReadOptions{}); err != linux.EBADF {
		t.Errorf("read of a write-only file: %v", err)
	}
	rfd := mustOpen(t, e, "/f", linux.O_RDONLY)
	defer rfd.DecRef()
	if _, err := rfd.Write(ctx, buf, vfs.WriteOptions{}); err != linux.EBADF {
		t.Errorf("write of a read-only file: %v", err)
	}
	// O_TRUNC empties the file.
	mustOpen(t, e, "/f", linux.O_WRONLY|linux.O_TRUNC).DecRef()
	if st, _ := e.Stat("/f"); st.Size != 0 {
		t.Errorf("size after O_TRUNC = %d", st.Size)
	}
}

func TestAllocate(t *testing.T) {
	e := newEnv(t)
	fd := mustOpen(t, e, "/f", linux.O_RDWR|linux.O_CREAT)
	defer fd.DecRef()
	ctx := e.Ctx
	if err := fd.Allocate(ctx, 0, 0, 10000); err != nil {
		t.Fatal(err)
	}
	if st, _ := fd.Stat(ctx, vfs.StatOptions{}); st.Size != 10000 || st.Blocks != 3*8 {
		t.Errorf("after fallocate: size %d blocks %d", st.Size, st.Blocks)
	}
	if err := fd.Allocate(ctx, linux.FALLOC_FL_KEEP_SIZE, 10000, 10000); err != nil {
		t.Fatal(err)
	}
	if st, _ := fd.Stat(ctx, vfs.StatOptions{}); st.Size != 10000 || st.Blocks != 5*8 {
		t.Errorf("after KEEP_SIZE: size %d blocks %d", st.Size, st.Blocks)
	}
	fd.PWrite(ctx, bytes.Repeat([]byte{'x'}, 10000), 0, vfs.WriteOptions{})
	if err := fd.Allocate(ctx, linux.FALLOC_FL_PUNCH_HOLE|linux.FALLOC_FL_KEEP_SIZE, 100, 8192); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10000)
	fd.PRead(ctx, buf, 0, vfs.ReadOptions{})
	want := append(append(bytes.Repeat([]byte{'x'}, 100), make([]byte, 8192)...), bytes.Repeat([]byte{'x'}, 10000-8292)...)
	if !bytes.Equal(buf, want) {
		t.Errorf("punched hole reads wrong")
	}
	for _, tc := range []struct {
		mode, off, length uint64
		want              error
	}{
		{linux.FALLOC_FL_PUNCH_HOLE, 0, 1, linux.EOPNOTSUPP},
		{linux.FALLOC_FL_COLLAPSE_RANGE, 0, 4096, linux.EOPNOTSUPP},
		{0, 0, 0, linux.EINVAL},
	} {
		if err := fd.Allocate(ctx, tc.mode, tc.off, tc.length); err != tc.want {
			t.Errorf("fallocate(%#x, %d, %d) = %v, want %v", tc.mode, tc.off, tc.length, err, tc.want)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/d", "/gone")
	e.MustWriteFile("/f", "")
	gone := mustOpen(t, e, "/gone", linux.O_RDONLY)
	defer gone.DecRef()
	if err := e.VFS.RmdirAt(e.Ctx, e.Creds, e.Pop("/gone")); err != nil {
		t.Fatal(err)
	}
	user := e.As(e.User(1000, 1000))
	mknod := func(env *vfstest.Env, p string, mode uint16) error {
		return env.VFS.MknodAt(env.Ctx, env.Creds, env.Pop(p), &vfs.MknodOptions{Mode: mode, DevMajor: 1, DevMinor: 3})
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"mkdir existing", e.Mkdir("/d", 0o755), linux.EEXIST},
		{"mkdir existing file", e.Mkdir("/f", 0o755), linux.EEXIST},
		{"mkdir /", e.Mkdir("/", 0o755), linux.EEXIST},
		{"mkdir d/.", e.Mkdir("/d/.", 0o755), linux.EEXIST},
		{"mkdir d/..", e.Mkdir("/d/..", 0o755), linux.EEXIST},
		{"mkdir empty path", e.Mkdir("", 0o755), linux.ENOENT},
		{"mkdir missing parent", e.Mkdir("/no/d", 0o755), linux.ENOENT},
		{"mkdir under a file", e.Mkdir("/f/d", 0o755), linux.ENOTDIR},
		{"mkdir trailing slash", e.Mkdir("/d2/", 0o755), nil},
		{"mkdir name too long", e.Mkdir("/"+strings.Repeat("n", 256), 0o755), linux.ENAMETOOLONG},
		{"mkdir in removed dir", e.VFS.MkdirAt(e.Ctx, e.Creds, &vfs.PathOperation{Root: e.Root, Start: gone.VirtualDentry(), Path: "x"}, &vfs.MkdirOptions{Mode: 0o755}), linux.ENOENT},
		{"mkdir as user in /", user.Mkdir("/u", 0o755), nil},
		{"mkdir as user in root's dir", user.Mkdir("/d/u", 0o755), linux.EACCES},
		{"mknod trailing slash", mknod(e, "/n/", linux.S_IFREG|0o644), linux.ENOENT},
		{"mknod dir", mknod(e, "/n", linux.S_IFDIR|0o755), linux.EPERM},
		{"mknod bad type", mknod(e, "/n", 0o170000), linux.EINVAL},
		{"mknod chr as user", mknod(user, "/n", linux.S_IFCHR|0o644), linux.EPERM},
		{"mknod chr", mknod(e, "/n", linux.S_IFCHR|0o644), nil},
		{"mknod regular", mknod(e, "/r", 0o644), nil},
		{"symlink empty target", e.Symlink("", "/s"), linux.ENOENT},
		{"symlink over file", e.Symlink("x", "/f"), linux.EEXIST},
		{"symlink target too long", e.Symlink(strings.Repeat("t", 4096), "/s"), linux.ENAMETOOLONG},
	} {
		if tc.err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	for path, want := range map[string]uint16{"/d2": linux.S_IFDIR | 0o755, "/n": linux.S_IFCHR | 0o644, "/r": linux.S_IFREG | 0o644} {
		if st, err := e.Stat(path); err != nil || st.Mode != want {
			t.Errorf("%s: mode %#o, %v; want %#o", path, st.Mode, err, want)
		}
	}
	if st, _ := e.Stat("/u"); st.UID != 1000 || st.GID != 1000 {
		t.Errorf("user's directory owned by %d:%d", st.UID, st.GID)
	}
}

func TestSetgidDirectory(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/sg")
	if err := setStat(e, "/sg", linux.Statx{Mask: linux.STATX_MODE | linux.STATX_GID, Mode: 0o2777, GID: 50}); err != nil {
		t.Fatal(err)
	}
	u := e.As(e.User(1000, 1000))
	if err := u.Mkdir("/sg/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := u.Open("/sg/file", linux.O_CREAT|linux.O_WRONLY, 0o2755)
	if err != nil {
		t.Fatal(err)
	}
	fd.DecRef()
	sub, _ := e.Stat("/sg/sub")
	file, _ := e.Stat("/sg/file")
	if sub.GID != 50 || sub.Mode != linux.S_IFDIR|linux.S_ISGID|0o755 {
		t.Errorf("subdirectory: gid %d mode %#o", sub.GID, sub.Mode)
	}
	// The creator is not in group 50: the new file loses set-group-ID.
	if file.GID != 50 || file.Mode != linux.S_IFREG|0o755 {
		t.Errorf("file: gid %d mode %#o", file.GID, file.Mode)
	}
}

func TestUnlinkRmdir(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/d", "/full", "/full/x", "/sticky", "/ro")
	e.MustWriteFile("/f", "")
	e.MustWriteFile("/ro/f", "")
	setStat(e, "/sticky", linux.Statx{Mask: linux.STATX_MODE, Mode: 0o1777})
	setStat(e, "/ro", linux.Statx{Mask: linux.STATX_MODE, Mode: 0o555})
	e.MustWriteFile("/sticky/roots", "")
	user := e.As(e.User(1000, 1000))
	user.MustWriteFile("/sticky/users", "")
	unlink := func(env *vfstest.Env, p string) error { return env.VFS.UnlinkAt(env.Ctx, env.Creds, env.Pop(p)) }
	rmdir := func(env *vfstest.Env, p string) error { return env.VFS.RmdirAt(env.Ctx, env.Creds, env.Pop(p)) }
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"unlink dir", unlink(e, "/d"), linux.EISDIR},
		{"unlink .", unlink(e, "/d/."), linux.EISDIR},
		{"unlink /", unlink(e, "/"), linux.EISDIR},
		{"unlink missing", unlink(e, "/nothing"), linux.ENOENT},
		{"unlink file/", unlink(e, "/f/"), linux.ENOTDIR},
		{"rmdir file", rmdir(e, "/f"), linux.ENOTDIR},
		{"rmdir nonempty", rmdir(e, "/full"), linux.ENOTEMPTY},
		{"rmdir .", rmdir(e, "/d/."), linux.EINVAL},
		{"rmdir ..", rmdir(e, "/d/.."), linux.ENOTEMPTY},
		{"rmdir /", rmdir(e, "/"), linux.EBUSY},
		{"rmdir missing", rmdir(e, "/nothing"), linux.ENOENT},
		{"unlink in read-only dir", unlink(user, "/ro/f"), linux.EACCES},
		{"unlink other's file in sticky dir", unlink(user, "/sticky/roots"), linux.EPERM},
		{"unlink own file in sticky dir", unlink(user, "/sticky/users"), nil},
		{"unlink file", unlink(e, "/f"), nil},
		{"rmdir dir/", rmdir(e, "/d/"), nil},
	} {
		if tc.err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if st, _ := e.Stat("/"); st.Nlink != 2+3 {
		t.Errorf("root nlink = %d, want 5", st.Nlink)
	}
}

func TestUnlinkWhileOpen(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/m")
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/m"), "tmpfs", &vfs.MountOptions{GetFilesystemOptions: vfs.GetFilesystemOptions{Data: "size=64k"}}); err != nil {
		t.Fatal(err)
	}
	free := func() uint64 {
		st, err := e.VFS.StatFSAt(e.Ctx, e.Creds, e.Pop("/m"))
		if err != nil {
			t.Fatal(err)
		}
		return st.BlocksFree
	}
	if free() != 16 {
		t.Fatalf("free blocks = %d, want 16", free())
	}
	fd := mustOpen(t, e, "/m/f", linux.O_RDWR|linux.O_CREAT)
	fd.Write(e.Ctx, make([]byte, 3*4096), vfs.WriteOptions{})
	if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/m/f")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stat("/m/f"); err != linux.ENOENT {
		t.Errorf("stat after unlink: %v", err)
	}
	// The open file still works, and still holds its space.
	if n, err := fd.PWrite(e.Ctx, []byte("still here"), 0, vfs.WriteOptions{}); n != 10 || err != nil {
		t.Errorf("write after unlink: %d, %v", n, err)
	}
	buf := make([]byte, 10)
	if n, _ := fd.PRead(e.Ctx, buf, 0, vfs.ReadOptions{}); string(buf[:n]) != "still here" {
		t.Errorf("read after unlink: %q", buf[:n])
	}
	if st, _ := fd.Stat(e.Ctx, vfs.StatOptions{}); st.Nlink != 0 {
		t.Errorf("nlink after unlink = %d", st.Nlink)
	}
	if free() != 13 {
		t.Errorf("free blocks with the unlinked file open = %d, want 13", free())
	}
	fd.DecRef()
	if free() != 16 {
		t.Errorf("free blocks after close = %d, want 16", free())
	}
}

func TestSizeLimit(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/small")
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/small"), "tmpfs", &vfs.MountOptions{GetFilesystemOptions: vfs.GetFilesystemOptions{Data: "size=8k"}}); err != nil {
		t.Fatal(err)
	}
	fd := mustOpen(t, e, "/small/f", linux.O_RDWR|linux.O_CREAT)
	defer fd.DecRef()
	if n, err := fd.Write(e.Ctx, make([]byte, 3*4096), vfs.WriteOptions{}); n != 2*4096 || err != nil {
		t.Errorf("write past the limit = %d, %v; want a short write", n, err)
	}
	if n, err := fd.Write(e.Ctx, []byte("x"), vfs.WriteOptions{}); n != 0 || err != linux.ENOSPC {
		t.Errorf("write at the limit = %d, %v; want ENOSPC", n, err)
	}
	if err := fd.Allocate(e.Ctx, 0, 1<<20, 4096); err != linux.ENOSPC {
		t.Errorf("fallocate at the limit = %v; want ENOSPC", err)
	}
	// Rewriting allocated pages and growing sparsely still work.
	if _, err := fd.PWrite(e.Ctx, []byte("y"), 0, vfs.WriteOptions{}); err != nil {
		t.Errorf("rewrite at the limit: %v", err)
	}
	if err := fd.SetStat(e.Ctx, vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE, Size: 1 << 30}}); err != nil {
		t.Errorf("sparse truncate at the limit: %v", err)
	}
	for _, data := range []string{"size=1x", "size=", "bogus=1", "mode=999"} {
		if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/small"), "tmpfs", &vfs.MountOptions{GetFilesystemOptions: vfs.GetFilesystemOptions{Data: data}}); err != linux.EINVAL {
			t.Errorf("mount -o %s: %v, want EINVAL", data, err)
		}
	}
}

func TestHardLinks(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/d")
	e.MustWriteFile("/f", "linked")
	link := func(from, to string) error {
		return e.VFS.LinkAt(e.Ctx, e.Creds, e.PopNoFollow(from), e.PopNoFollow(to))
	}
	for _, tc := range []struct {
		from, to string
		want     error
	}{
		{"/f", "/g", nil},
		{"/f", "/d/h", nil},
		{"/f", "/g", linux.EEXIST},
		{"/d", "/d2", linux.EPERM},
		{"/missing", "/m", linux.ENOENT},
		{"/f", "/x/", linux.ENOENT},
	} {
		if err := link(tc.from, tc.to); err != tc.want {
			t.Errorf("link %s %s: %v, want %v", tc.from, tc.to, err, tc.want)
		}
	}
	if st, _ := e.Stat("/g"); st.Nlink != 3 || st.Ino != func() uint64 { s, _ := e.Stat("/f"); return s.Ino }() {
		t.Errorf("/g: nlink %d", st.Nlink)
	}
	e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/f"))
	if got, err := e.ReadFile("/d/h"); got != "linked" || err != nil {
		t.Errorf("read through remaining link: %q, %v", got, err)
	}
	if st, _ := e.Stat("/g"); st.Nlink != 2 {
		t.Errorf("nlink after unlink = %d", st.Nlink)
	}
}

func TestRename(t *testing.T) {
	type step struct {
		from, to string
		flags    uint32
		want     error
	}
	for _, tc := range []struct {
		name  string
		steps []step
		// after maps paths to their contents ("" for a directory, "-" for
		// absent).
		after map[string]string
	}{
		{"file", []step{{"/a/f", "/b/g", 0, nil}}, map[string]string{"/a/f": "-", "/b/g": "af"}},
		{"over file", []step{{"/a/f", "/b/f", 0, nil}}, map[string]string{"/a/f": "-", "/b/f": "af"}},
		{"dir over empty dir", []step{{"/a", "/empty", 0, nil}}, map[string]string{"/a": "-", "/empty/f": "af"}},
		{"dir over nonempty dir", []step{{"/empty", "/b", 0, linux.ENOTEMPTY}}, nil},
		{"file over dir", []step{{"/a/f", "/empty", 0, linux.EISDIR}}, nil},
		{"dir over file", []step{{"/empty", "/a/f", 0, linux.ENOTDIR}}, nil},
		{"noreplace", []step{{"/a/f", "/b/f", linux.RENAME_NOREPLACE, linux.EEXIST}, {"/a/f", "/b/new", linux.RENAME_NOREPLACE, nil}}, map[string]string{"/b/new": "af", "/b/f": "bf"}},
		{"exchange", []step{{"/a/f", "/b/f", linux.RENAME_EXCHANGE, nil}}, map[string]string{"/a/f": "bf", "/b/f": "af"}},
		{"exchange dirs", []step{{"/a", "/b", linux.RENAME_EXCHANGE, nil}}, map[string]string{"/a/f": "bf", "/b/f": "af"}},
		{"exchange file and dir", []step{{"/a/f", "/empty", linux.RENAME_EXCHANGE, nil}}, map[string]string{"/a/f": "", "/empty": "af"}},
		{"exchange missing", []step{{"/a/f", "/b/none", linux.RENAME_EXCHANGE, linux.ENOENT}}, nil},
		{"bad flags", []step{{"/a/f", "/b/f", linux.RENAME_EXCHANGE | linux.RENAME_NOREPLACE, linux.EINVAL}, {"/a/f", "/b/f", 0x10, linux.EINVAL}, {"/a/f", "/b/f", linux.RENAME_WHITEOUT, linux.EINVAL}}, nil},
		{"into own subtree", []step{{"/a", "/a/sub/x", 0, linux.EINVAL}, {"/a", "/a/x", 0, linux.EINVAL}}, nil},
		{"over own ancestor", []step{{"/a/sub/deep", "/a", 0, linux.ENOTEMPTY}}, nil},
		{"to itself", []step{{"/a/f", "/a/f", 0, nil}, {"/a", "/a", 0, nil}}, map[string]string{"/a/f": "af"}},
		{"hard link aliases", []step{{"/a/f", "/a/hl", 0, nil}}, map[string]string{"/a/f": "af", "/a/hl": "af"}},
		{"dots", []step{{"/a/.", "/c", 0, linux.EBUSY}, {"/a/f", "/b/..", 0, linux.EBUSY}, {"/a/f", "/b/.", linux.RENAME_NOREPLACE, linux.EEXIST}, {"/", "/c", 0, linux.EBUSY}}, nil},
		{"trailing slashes", []step{{"/a/f/", "/c", 0, linux.ENOTDIR}, {"/a/f", "/c/", 0, linux.ENOTDIR}, {"/a/", "/c/", 0, nil}}, map[string]string{"/c/f": "af"}},
		{"missing source", []step{{"/a/none", "/c", 0, linux.ENOENT}, {"/none/x", "/c", 0, linux.ENOENT}}, nil},
		{"missing target dir", []step{{"/a/f", "/none/x", 0, linux.ENOENT}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.MustMkdirAll("/a", "/a/sub", "/a/sub/deep", "/b", "/empty")
			e.MustWriteFile("/a/f", "af")
			e.MustWriteFile("/b/f", "bf")
			if err := e.VFS.LinkAt(e.Ctx, e.Creds, e.Pop("/a/f"), e.Pop("/a/hl")); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				err := e.VFS.RenameAt(e.Ctx, e.Creds, e.PopNoFollow(s.from), e.PopNoFollow(s.to), &vfs.RenameOptions{Flags: s.flags})
				if err != s.want {
					t.Errorf("rename(%s, %s, %#x) = %v, want %v", s.from, s.to, s.flags, err, s.want)
				}
			}
			got := make(map[string]string)
			for p := range tc.after {
				st, err := e.Stat(p)
				switch {
				case err == linux.ENOENT:
					got[p] = "-"
				case err != nil:
					t.Fatalf("stat %s: %v", p, err)
				case st.Mode&linux.S_IFMT == linux.S_IFDIR:
					got[p] = ""
				default:
					got[p], _ = e.ReadFile(p)
				}
			}
			if diff := cmp.Diff(tc.after, got, cmp.Comparer(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 || cmp.Equal(a, b) })); tc.after != nil && diff != "" {
				t.Errorf("after renames (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRenameLinkCounts(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/a", "/a/d", "/b")
	nlink := func(p string) uint32 { st, _ := e.Stat(p); return st.Nlink }
	if err := e.VFS.RenameAt(e.Ctx, e.Creds, e.Pop("/a/d"), e.Pop("/b/d"), &vfs.RenameOptions{}); err != nil {
		t.Fatal(err)
	}
	if nlink("/a") != 2 || nlink("/b") != 3 {
		t.Errorf("after moving a directory: /a %d, /b %d", nlink("/a"), nlink("/b"))
	}
	if st, _ := e.Stat("/b/d/.."); st.Ino != func() uint64 { s, _ := e.Stat("/b"); return s.Ino }() {
		t.Errorf("/b/d/.. is not /b")
	}
	// Sticky and permission rules apply to both directories.
	e.MustWriteFile("/a/f", "")
	u := e.As(e.User(1000, 1000))
	if err := u.VFS.RenameAt(u.Ctx, u.Creds, u.Pop("/a/f"), u.Pop("/b/f"), &vfs.RenameOptions{}); err != linux.EACCES {
		t.Errorf("rename in root's directories as a user: %v, want EACCES", err)
	}
}

func TestGetdentsResumption(t *testing.T) {
	e := newEnv(t)
	e.MustMkdirAll("/d")
	var want []string
	for i := 0; i < 100; i++ {
		name := "f" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('0'+i/26))
		e.MustWriteFile("/d/"+name, "")
		want = append(want, name)
	}
	fd := mustOpen(t, e, "/d", linux.O_RDONLY|linux.O_DIRECTORY)
	defer fd.DecRef()
	// A callback that takes 10 entries per call, like a small getdents buffer.
	full := linux.EINVAL
	var got []string
	var offs []int64
	batch := func() int {
		n := 0
		fd.IterDirents(e.Ctx, vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error {
			if n == 10 {
				return full
			}
			n++
			got = append(got, d.Name)
			offs = append(offs, d.NextOff)
			return nil
		}))
		return n
	}
	batch()
	if diff := cmp.Diff(append([]string{".", ".."}, want[:8]...), got); diff != "" {
		t.Fatalf("first batch (-want +got):\n%s", diff)
	}
	// Between calls: remove an entry already returned and one not yet, add one.
	unlink := func(p string) {
		if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop(p)); err != nil {
			t.Fatal(err)
		}
	}
	unlink("/d/" + want[3])
	unlink("/d/" + want[50])
	e.MustWriteFile("/d/late", "")
	for batch() != 0 {
	}
	wantAll := append(append([]string{".", ".."}, want[:50]...), want[51:]...)
	wantAll = append(wantAll, "late")
	if diff := cmp.Diff(wantAll, got); diff != "" {
		t.Errorf("all batches (-want +got):\n%s", diff)
	}
	// Seeking to a returned d_off resumes after that entry.
	if _, err := fd.Seek(e.Ctx, offs[20], linux.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	rest, _ := vfstest.Dirents(e.Ctx, fd)
	if diff := cmp.Diff(got[21:], rest); diff != "" {
		t.Errorf("after seeking to d_off of %q (-want +got):\n%s", got[20], diff)
	}
	// Heavy churn compacts the entries without losing the order.
	for _, n := range want[60:] {
		unlink("/d/" + n)
	}
	fd.Seek(e.Ctx, 0, linux.SEEK_SET)
	all, _ := vfstest.Dirents(e.Ctx, fd)
	if len(all) != 2+58+1 || all[len(all)-1] != "late" {
		t.Errorf("after churn: %d entries, last %q", len(all), all[len(all)-1])
	}
	if _, err := fd.Seek(e.Ctx, -1, linux.SEEK_SET); err != linux.EINVAL {
		t.Errorf("seek to -1: %v", err)
	}
	if _, err := fd.Read(e.Ctx, make([]byte, 1), vfs.ReadOptions{}); err != linux.EISDIR {
		t.Errorf("read of a directory: %v", err)
	}
}

func TestDirent64(t *testing.T) {
	buf := vfs.AppendDirent64(nil, vfs.Dirent{Name: "abc", Type: linux.DT_REG, Ino: 0x0102, NextOff: 7})
	want := []byte{
		0x02, 0x01, 0, 0, 0, 0, 0, 0, // d_ino
		7, 0, 0, 0, 0, 0, 0, 0, // d_off
		24, 0, // d_reclen
		linux.DT_REG,
		'a', 'b', 'c', 0, 0,
	}
	if diff := cmp.Diff(want, buf); diff != "" {
		t.Errorf("dirent64 (-want +got):\n%s", diff)
	}
	if vfs.Dirent64Size("12345") != 32 || vfs.DTFromMode(linux.S_IFDIR|0o755) != linux.DT_DIR {
		t.Errorf("Dirent64Size or DTFromMode wrong")
	}
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestTimestamps(t *testing.T) {
	e := newEnv(t)
	clk := &fakeClock{now: time.Unix(1000, 0)}
	e.MustMkdirAll("/t")
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/t"), "tmpfs", &vfs.MountOptions{GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &tmpfs.FilesystemOpts{Clock: clk.Now}}}); err != nil {
		t.Fatal(err)
	}
	type times struct{ A, M, C int64 }
	get := func(p string) times {
		st, err := e.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return times{st.Atime.Sec, st.Mtime.Sec, st.Ctime.Sec}
	}
	tick := func() { clk.now = clk.now.Add(time.Second) }
	check := func(what, p string, want times) {
		t.Helper()
		if diff := cmp.Diff(want, get(p)); diff != "" {
			t.Errorf("%s: %s times (-want +got):\n%s", what, p, diff)
		}
	}
	e.MustWriteFile("/t/f", "data")
	check("create", "/t/f", times{1000, 1000, 1000})
	check("create", "/t", times{1000, 1000, 1000})
	tick()
	fd := mustOpen(t, e, "/t/f", linux.O_RDWR)
	fd.Write(e.Ctx, []byte("x"), vfs.WriteOptions{})
	check("write", "/t/f", times{1000, 1001, 1001})
	tick()
	fd.PRead(e.Ctx, make([]byte, 1), 0, vfs.ReadOptions{})
	check("read", "/t/f", times{1002, 1001, 1001})
	tick()
	fd.PRead(e.Ctx, make([]byte, 1), 0, vfs.ReadOptions{})
	check("read again (relatime)", "/t/f", times{1002, 1001, 1001})
	fd.DecRef()
	setStat(e, "/t/f", linux.Statx{Mask: linux.STATX_MODE, Mode: 0o600})
	check("chmod", "/t/f", times{1002, 1001, 1003})
	tick()
	setStat(e, "/t/f", linux.Statx{Mask: linux.STATX_ATIME | linux.STATX_MTIME, Atime: linux.StatxTimestamp{Sec: 5}, Mtime: linux.StatxTimestamp{Nsec: linux.UTIME_OMIT}})
	check("utimes", "/t/f", times{5, 1001, 1004})
	tick()
	e.MustWriteFile("/t/g", "")
	check("create in dir", "/t", times{1000, 1005, 1005})
	tick()
	if err := e.VFS.RenameAt(e.Ctx, e.Creds, e.Pop("/t/g"), e.Pop("/t/h"), &vfs.RenameOptions{}); err != nil {
		t.Fatalf("rename: %v", err)
	}
	check("rename in dir", "/t", times{1000, 1006, 1006})
	check("rename", "/t/h", times{1005, 1005, 1006})

	// Only the owner sets explicit times; write permission allows "now".
	e.MustWriteFile("/t/shared", "")
	setStat(e, "/t/shared", linux.Statx{Mask: linux.STATX_MODE, Mode: 0o666})
	u := e.As(e.User(1000, 1000))
	now := linux.StatxTimestamp{Nsec: linux.UTIME_NOW}
	if err := setStat(u, "/t/shared", linux.Statx{Mask: linux.STATX_ATIME | linux.STATX_MTIME, Atime: linux.StatxTimestamp{Sec: 1}, Mtime: linux.StatxTimestamp{Sec: 1}}); err != linux.EPERM {
		t.Errorf("explicit times by a non-owner: %v, want EPERM", err)
	}
	if err := setStat(u, "/t/shared", linux.Statx{Mask: linux.STATX_ATIME | linux.STATX_MTIME, Atime: now, Mtime: now}); err != nil {
		t.Errorf("times set to now by a writer: %v", err)
	}
	if err := setStat(u, "/t/f", linux.Statx{Mask: linux.STATX_ATIME | linux.STATX_MTIME, Atime: now, Mtime: now}); err != linux.EACCES {
		t.Errorf("times set to now by a non-writer: %v, want EACCES", err)
	}
}

func TestChmodChown(t *testing.T) {
	e := newEnv(t)
	u := e.As(auth.NewUserCredentials(1000, 1000, []auth.KGID{60}, nil, e.Creds.UserNamespace))
	u.MustWriteFile("/tmpf", "")
	for _, tc := range []struct {
		name string
		env  *vfstest.Env
		stat linux.Statx
		want error
		mode uint16
		uid  uint32
		gid  uint32
	}{
		{"owner chmod", u, linux.Statx{Mask: linux.STATX_MODE, Mode: 0o4755}, nil, 0o4755, 1000, 1000},
		{"owner chgrp to a supplementary group", u, linux.Statx{Mask: linux.STATX_GID, GID: 60}, nil, 0o755, 1000, 60},
		{"owner chgrp to another group", u, linux.Statx{Mask: linux.STATX_GID, GID: 70}, linux.EPERM, 0o755, 1000, 60},
		{"owner chown away", u, linux.Statx{Mask: linux.STATX_UID, UID: 0}, linux.EPERM, 0o755, 1000, 60},
		{"owner chown to itself", u, linux.Statx{Mask: linux.STATX_UID, UID: 1000}, nil, 0o755, 1000, 60},
		{"setgid kept by a member", u, linux.Statx{Mask: linux.STATX_MODE, Mode: 0o2755}, nil, 0o2755, 1000, 60},
		{"root chgrp clears setgid of an executable", e, linux.Statx{Mask: linux.STATX_GID, GID: 80}, nil, 0o755, 1000, 80},
		{"setgid dropped for a non-member", u, linux.Statx{Mask: linux.STATX_MODE, Mode: 0o2755}, nil, 0o755, 1000, 80},
		{"root chown", e, linux.Statx{Mask: linux.STATX_UID | linux.STATX_GID, UID: 5, GID: 5}, nil, 0o755, 5, 5},
		{"non-owner chmod", u, linux.Statx{Mask: linux.STATX_MODE, Mode: 0o777}, linux.EPERM, 0o755, 5, 5},
		{"size of a directory", e, linux.Statx{Mask: linux.STATX_SIZE}, nil, 0o755, 5, 5},
	} {
		path := "/tmpf"
		if tc.name == "size of a directory" {
			if err := setStat(tc.env, "/", tc.stat); err != linux.EISDIR {
				t.Errorf("%s: %v, want EISDIR", tc.name, err)
			}
			continue
		}
		if err := setStat(tc.env, path, tc.stat); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		st, _ := e.Stat(path)
		if st.Mode&linux.PermissionsMask != tc.mode || st.UID != tc.uid || st.GID != tc.gid {
			t.Errorf("%s: mode %#o uid %d gid %d; want %#o %d %d", tc.name, st.Mode&linux.PermissionsMask, st.UID, st.GID, tc.mode, tc.uid, tc.gid)
		}
	}

	// An unprivileged write clears set-user-ID.
	e.MustWriteFile("/suid", "")
	setStat(e, "/suid", linux.Statx{Mask: linux.STATX_MODE, Mode: 0o4777})
	if err := u.WriteFile("/suid", "x"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.Stat("/suid"); st.Mode&linux.S_ISUID != 0 {
		t.Errorf("write by a user kept set-user-ID: %#o", st.Mode)
	}
	// truncate(2) needs write permission; the caller says so.
	if err := u.VFS.SetStatAt(u.Ctx, u.Creds, u.Pop("/"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE}, NeedWritePerm: true}); err != linux.EISDIR {
		t.Errorf("truncate of a directory: %v, want EISDIR", err)
	}
	setStat(e, "/suid", linux.Statx{Mask: linux.STATX_MODE, Mode: 0o644})
	if err := u.VFS.SetStatAt(u.Ctx, u.Creds, u.Pop("/suid"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE}, NeedWritePerm: true}); err != linux.EACCES {
		t.Errorf("truncate without write permission: %v, want EACCES", err)
	}
}

func TestXattrs(t *testing.T) {
	e := newEnv(t)
	e.MustWriteFile("/f", "")
	e.Symlink("f", "/l")
	set := func(env *vfstest.Env, pop *vfs.PathOperation, name, value string, flags uint32) error {
		return env.VFS.SetXattrAt(env.Ctx, env.Creds, pop, &vfs.SetXattrOptions{Name: name, Value: value, Flags: flags})
	}
	get := func(env *vfstest.Env, name string, size uint64) (string, error) {
		return env.VFS.GetXattrAt(env.Ctx, env.Creds, env.Pop("/f"), &vfs.GetXattrOptions{Name: name, Size: size})
	}
	u := e.As(e.User(1000, 1000))
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"set user", set(e, e.Pop("/f"), "user.a", "1", 0), nil},
		{"set trusted", set(e, e.Pop("/f"), "trusted.t", "2", 0), nil},
		{"create existing", set(e, e.Pop("/f"), "user.a", "x", linux.XATTR_CREATE), linux.EEXIST},
		{"replace missing", set(e, e.Pop("/f"), "user.b", "x", linux.XATTR_REPLACE), linux.ENODATA},
		{"both flags, missing", set(e, e.Pop("/f"), "user.b", "x", linux.XATTR_CREATE|linux.XATTR_REPLACE), linux.ENODATA},
		{"both flags, existing", set(e, e.Pop("/f"), "user.a", "x", linux.XATTR_CREATE|linux.XATTR_REPLACE), linux.EEXIST},
		{"unknown flag", set(e, e.Pop("/f"), "user.a", "x", 4), linux.EINVAL},
		{"replace", set(e, e.Pop("/f"), "user.a", "one", linux.XATTR_REPLACE), nil},
		{"unknown namespace", set(e, e.Pop("/f"), "bogus.x", "x", 0), linux.EOPNOTSUPP},
		{"security", set(e, e.Pop("/f"), "security.selinux", "x", 0), linux.EOPNOTSUPP},
		{"empty name", set(e, e.Pop("/f"), "", "x", 0), linux.ERANGE},
		{"long name", set(e, e.Pop("/f"), "user."+strings.Repeat("n", 251), "x", 0), linux.ERANGE},
		{"big value", set(e, e.Pop("/f"), "user.big", strings.Repeat("v", linux.XATTR_SIZE_MAX+1), 0), linux.E2BIG},
		{"user on a symlink", set(e, e.PopNoFollow("/l"), "user.a", "x", 0), linux.EPERM},
		{"trusted as a user", set(u, u.Pop("/f"), "trusted.u", "x", 0), linux.EPERM},
		{"user without write permission", set(u, u.Pop("/f"), "user.u", "x", 0), linux.EACCES},
	} {
		if tc.err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if v, err := get(e, "user.a", 0); v != "one" || err != nil {
		t.Errorf("get user.a = %q, %v", v, err)
	}
	if _, err := get(e, "user.a", 2); err != linux.ERANGE {
		t.Errorf("get into a small buffer: %v, want ERANGE", err)
	}
	if _, err := get(e, "user.none", 0); err != linux.ENODATA {
		t.Errorf("get missing: %v, want ENODATA", err)
	}
	if _, err := get(u, "trusted.t", 0); err != linux.EPERM {
		t.Errorf("get trusted as a user: %v, want EPERM", err)
	}
	if v, err := get(u, "user.a", 0); v != "one" || err != nil {
		t.Errorf("get user.a as a reader: %q, %v", v, err)
	}
	list := func(env *vfstest.Env) []string {
		names, err := env.VFS.ListXattrAt(env.Ctx, env.Creds, env.Pop("/f"), 0)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if diff := cmp.Diff([]string{"trusted.t", "user.a"}, list(e)); diff != "" {
		t.Errorf("list as root (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"user.a"}, list(u)); diff != "" {
		t.Errorf("list as a user (-want +got):\n%s", diff)
	}
	if _, err := e.VFS.ListXattrAt(e.Ctx, e.Creds, e.Pop("/f"), 5); err != linux.ERANGE {
		t.Errorf("list into a small buffer: %v, want ERANGE", err)
	}
	if err := e.VFS.RemoveXattrAt(e.Ctx, e.Creds, e.Pop("/f"), "user.a"); err != nil {
		t.Error(err)
	}
	if err := e.VFS.RemoveXattrAt(e.Ctx, e.Creds, e.Pop("/f"), "user.a"); err != linux.ENODATA {
		t.Errorf("remove missing: %v, want ENODATA", err)
	}
	// Through a file description.
	fd := mustOpen(t, e, "/f", linux.O_RDONLY)
	defer fd.DecRef()
	if err := fd.SetXattr(e.Ctx, &vfs.SetXattrOptions{Name: "user.fd", Value: "v"}); err != nil {
		t.Error(err)
	}
	if v, err := fd.GetXattr(e.Ctx, &vfs.GetXattrOptions{Name: "user.fd"}); v != "v" || err != nil {
		t.Errorf("fgetxattr = %q, %v", v, err)
	}
}

func TestMMap(t *testing.T) {
	e := newEnv(t)
	e.MustWriteFile("/f", "mapped contents")
	for _, tc := range []struct {
		name    string
		flags   uint32
		opts    memmap.MMapOpts
		want    error
		maxPerm platform.AccessType
	}{
		{"private", linux.O_RDONLY, memmap.MMapOpts{Private: true, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess}, nil, platform.AnyAccess},
		{"shared read-only file", linux.O_RDONLY, memmap.MMapOpts{Perms: platform.Read, MaxPerms: platform.AnyAccess}, nil, platform.AccessType{Read: true, Execute: true}},
		{"shared writable", linux.O_RDWR, memmap.MMapOpts{Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess}, linux.ENODEV, platform.AccessType{}},
		{"shared read-only mapping of a writable file", linux.O_RDWR, memmap.MMapOpts{Perms: platform.Read, MaxPerms: platform.AnyAccess}, nil, platform.AccessType{Read: true, Execute: true}},
		{"shared writable of a read-only file", linux.O_RDONLY, memmap.MMapOpts{Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess}, linux.EACCES, platform.AccessType{}},
		{"write-only file", linux.O_WRONLY, memmap.MMapOpts{Private: true, Perms: platform.Read}, linux.EACCES, platform.AccessType{}},
	} {
		fd := mustOpen(t, e, "/f", tc.flags)
		opts := tc.opts
		err := fd.ConfigureMMap(e.Ctx, &opts)
		if err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if err == nil {
			if opts.MaxPerms != tc.maxPerm {
				t.Errorf("%s: MaxPerms %+v, want %+v", tc.name, opts.MaxPerms, tc.maxPerm)
			}
			buf := make([]byte, 32)
			n, _ := opts.Mappable.ReadAt(buf, 7)
			if string(buf[:n]) != "contents" {
				t.Errorf("%s: mapping reads %q", tc.name, buf[:n])
			}
		}
		fd.DecRef()
	}
}

// TestMappingOutlivesFile checks that a mapping's reference keeps a file's pages
// after its last descriptor is closed and its name removed.
func TestMappingOutlivesFile(t *testing.T) {
	e := newEnv(t)
	e.MustWriteFile("/f", "mapped contents")
	fd := mustOpen(t, e, "/f", linux.O_RDONLY)
	opts := memmap.MMapOpts{Private: true, Perms: platform.Read, MaxPerms: platform.AnyAccess}
	if err := fd.ConfigureMMap(e.Ctx, &opts); err != nil {
		t.Fatalf("ConfigureMMap: %v", err)
	}
	m, ok := opts.Mappable.(interface {
		IncRef()
		DecRef()
	})
	if !ok {
		t.Fatalf("the mappable %T takes no references", opts.Mappable)
	}
	m.IncRef()
	fd.DecRef()
	if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/f")); err != nil {
		t.Fatalf("unlink: %v", err)
	}
	buf := make([]byte, 6)
	if n, _ := opts.Mappable.ReadAt(buf, 0); string(buf[:n]) != "mapped" {
		t.Errorf("after close and unlink the mapping reads %q", buf[:n])
	}
	m.DecRef()
}

func TestFIFO(t *testing.T) {
	e := newEnv(t)
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.Pop("/fifo"), &vfs.MknodOptions{Mode: linux.S_IFIFO | 0o644}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Open("/fifo", linux.O_WRONLY|linux.O_NONBLOCK, 0); err != linux.ENXIO {
		t.Errorf("non-blocking write open without readers: %v, want ENXIO", err)
	}
	r := mustOpen(t, e, "/fifo", linux.O_RDONLY|linux.O_NONBLOCK)
	defer r.DecRef()
	// A blocking open for writing now finds the reader.
	w := mustOpen(t, e, "/fifo", linux.O_WRONLY)
	defer w.DecRef()
	w.Write(e.Ctx, []byte("through the fifo"), vfs.WriteOptions{})
	if got, _ := vfstest.ReadAll(e.Ctx, r); got != "through the fifo" {
		// ReadAll stops at EAGAIN from the non-blocking reader.
		t.Errorf("read %q", got)
	}
	if st, err := r.Stat(e.Ctx, vfs.StatOptions{}); err != nil || st.Mode != linux.S_IFIFO|0o644 {
		t.Errorf("fstat of a FIFO = %#o, %v", st.Mode, err)
	}
	if _, err := r.PRead(e.Ctx, make([]byte, 1), 0, vfs.ReadOptions{}); err != linux.ESPIPE {
		t.Errorf("pread of a FIFO: %v, want ESPIPE", err)
	}
	if _, err := r.Seek(e.Ctx, 0, linux.SEEK_SET); err != linux.ESPIPE {
		t.Errorf("lseek of a FIFO: %v, want ESPIPE", err)
	}
	// Blocking opens wait for the other side.
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.Pop("/fifo2"), &vfs.MknodOptions{Mode: linux.S_IFIFO | 0o666}); err != nil {
		t.Fatal(err)
	}
	done := make(chan *vfs.FileDescription, 1)
	go func() {
		fd, err := e.Open("/fifo2", linux.O_RDONLY, 0)
		if err != nil {
			t.Error(err)
		}
		done <- fd
	}()
	select {
	case <-done:
		t.Fatal("open for reading did not wait for a writer")
	case <-time.After(20 * time.Millisecond):
	}
	w2 := mustOpen(t, e, "/fifo2", linux.O_WRONLY)
	r2 := <-done
	r2.DecRef()
	w2.DecRef()
	// A signal interrupts the wait.
	intr := make(chan struct{})
	close(intr)
	ie := *e
	ie.Ctx = vfs.NewContext(e.Creds, waiter.InterruptibleBlocker{Interrupt: intr})
	if _, err := ie.Open("/fifo2", linux.O_WRONLY, 0); err != linux.EINTR {
		t.Errorf("interrupted open: %v, want EINTR", err)
	}
	// Read-write opens never wait.
	mustOpen(t, e, "/fifo2", linux.O_RDWR).DecRef()

	// A reader that opened before any writer sees no hang-up until a writer
	// has come and gone.
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.Pop("/fifo3"), &vfs.MknodOptions{Mode: linux.S_IFIFO | 0o666}); err != nil {
		t.Fatal(err)
	}
	r3 := mustOpen(t, e, "/fifo3", linux.O_RDONLY|linux.O_NONBLOCK)
	defer r3.DecRef()
	if got := r3.Readiness(waiter.EventIn | waiter.EventHUp); got != 0 {
		t.Errorf("readiness before any writer = %#x", got)
	}
	if n, err := r3.Read(e.Ctx, make([]byte, 1), vfs.ReadOptions{}); n != 0 || err != nil {
		t.Errorf("read without writers = %d, %v; want end of file", n, err)
	}
	mustOpen(t, e, "/fifo3", linux.O_WRONLY).DecRef()
	if got := r3.Readiness(waiter.EventIn | waiter.EventHUp); got != waiter.EventHUp {
		t.Errorf("readiness after a writer left = %#x", got)
	}
}

func BenchmarkWrite4K(b *testing.B) {
	e := newEnv(b)
	fd := mustOpen(b, e, "/f", linux.O_RDWR|linux.O_CREAT)
	defer fd.DecRef()
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := fd.PWrite(e.Ctx, buf, int64(i%256)*4096, vfs.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead4K(b *testing.B) {
	e := newEnv(b)
	fd := mustOpen(b, e, "/f", linux.O_RDWR|linux.O_CREAT)
	defer fd.DecRef()
	buf := make([]byte, 4096)
	for i := 0; i < 256; i++ {
		fd.PWrite(e.Ctx, buf, int64(i)*4096, vfs.WriteOptions{})
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := fd.PRead(e.Ctx, buf, int64(i%256)*4096, vfs.ReadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMemfd checks memfd_create's files: readable and writable, with no link,
// and named "/memfd:<name> (deleted)" from anywhere.
func TestMemfd(t *testing.T) {
	e := newEnv(t)
	fd, err := tmpfs.NewMemfd(e.Ctx, e.VFS, e.Creds, "name", 0o777)
	if err != nil {
		t.Fatalf("NewMemfd: %v", err)
	}
	defer fd.DecRef()
	if _, err := fd.Write(e.Ctx, []byte("data"), vfs.WriteOptions{}); err != nil {
		t.Errorf("write: %v", err)
	}
	buf := make([]byte, 8)
	if n, err := fd.PRead(e.Ctx, buf, 0, vfs.ReadOptions{}); string(buf[:n]) != "data" || err != nil {
		t.Errorf("pread = %q, %v", buf[:n], err)
	}
	st, err := fd.Stat(e.Ctx, vfs.StatOptions{Mask: linux.STATX_BASIC_STATS})
	if err != nil || st.Mode != linux.S_IFREG|0o777 || st.Nlink != 0 || st.Size != 4 {
		t.Errorf("stat = mode %#o nlink %d size %d, %v", st.Mode, st.Nlink, st.Size, err)
	}
	if name, err := e.VFS.PathnameWithDeleted(e.Ctx, e.Root, fd.VirtualDentry()); name != "/memfd:name (deleted)" || err != nil {
		t.Errorf("path = %q, %v", name, err)
	}
	other, err := tmpfs.NewMemfd(e.Ctx, e.VFS, e.Creds, "name", 0o777)
	if err != nil {
		t.Fatalf("NewMemfd: %v", err)
	}
	defer other.DecRef()
	if other.Mount() != fd.Mount() {
		t.Errorf("memfds of one VFS are on different mounts")
	}
}

// TestFileSizeLimit checks RLIMIT_FSIZE on writes: cut short at the limit, EFBIG
// at or beyond it, and nothing for writes without a limit.
func TestFileSizeLimit(t *testing.T) {
	e := newEnv(t)
	fd := mustOpen(t, e, "/f", linux.O_RDWR|linux.O_CREAT)
	defer fd.DecRef()
	lim := vfs.WriteOptions{LimitFileSize: true, FileSizeLimit: 10}
	if n, err := fd.Write(e.Ctx, make([]byte, 16), lim); n != 10 || err != nil {
		t.Errorf("write across the limit = %d, %v, want 10", n, err)
	}
	if n, err := fd.Write(e.Ctx, make([]byte, 1), lim); n != 0 || err != linux.EFBIG {
		t.Errorf("write at the limit = %d, %v, want EFBIG", n, err)
	}
	if n, err := fd.PWrite(e.Ctx, make([]byte, 4), 2, lim); n != 4 || err != nil {
		t.Errorf("pwrite below the limit = %d, %v", n, err)
	}
	if n, err := fd.Write(e.Ctx, make([]byte, 4), vfs.WriteOptions{}); n != 4 || err != nil {
		t.Errorf("write without a limit = %d, %v", n, err)
	}
}
