package vfs_test

import (
	"fmt"
	"strings"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/vfstest"
)

// newTree returns an Env holding:
//
//	/a/b/c/file        "data"
//	/a/linkb -> b      /abs -> /a/b      /dangling -> /nowhere
//	/loop1 -> loop2    /loop2 -> loop1   /self -> self
//	/file              /private (0700) /private/x
//	/chainN -> chainN+1 for N < 45, /chain45 -> /file
//	/mnt               with a tmpfs mounted holding /mnt/inner
func newTree(t testing.TB) *vfstest.Env {
	e := vfstest.New(t, "tmpfs", tmpfs.FilesystemType{})
	e.MustMkdirAll("/a", "/a/b", "/a/b/c", "/private", "/mnt")
	e.MustWriteFile("/a/b/c/file", "data")
	e.MustWriteFile("/file", "top")
	e.MustWriteFile("/private/x", "x")
	if err := e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/private"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o700}}); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{
		{"b", "/a/linkb"}, {"/a/b", "/abs"}, {"/nowhere", "/dangling"},
		{"loop2", "/loop1"}, {"loop1", "/loop2"}, {"self", "/self"},
	} {
		if err := e.Symlink(l[0], l[1]); err != nil {
			t.Fatalf("symlink %v: %v", l, err)
		}
	}
	for i := 0; i < 45; i++ {
		if err := e.Symlink(fmt.Sprintf("chain%d", i+1), fmt.Sprintf("/chain%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Symlink("/file", "/chain45"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/mnt"), "tmpfs", &vfs.MountOptions{}); err != nil {
		t.Fatalf("mount: %v", err)
	}
	e.MustWriteFile("/mnt/inner", "inner")
	return e
}

func ino(t *testing.T, e *vfstest.Env, path string) uint64 {
	t.Helper()
	st, err := e.Lstat(path)
	if err != nil {
		t.Fatalf("lstat %q: %v", path, err)
	}
	return st.Ino
}

func TestPathResolution(t *testing.T) {
	e := newTree(t)
	fileIno := ino(t, e, "/a/b/c/file")
	bIno := ino(t, e, "/a/b")
	rootIno := ino(t, e, "/")
	innerIno := ino(t, e, "/mnt/inner")
	// chainPath(n) is a path through n symlinks, the last /chain45 -> /file.
	chainPath := func(n int) string { return fmt.Sprintf("/chain%d", 45-n+1) }
	for _, tc := range []struct {
		path     string
		nofollow bool
		wantIno  uint64
		wantErr  error
	}{
		{path: "/a/b/c/file", wantIno: fileIno},
		{path: "a/b/c/file", wantIno: fileIno},
		{path: "//a///b/./c/../c/file", wantIno: fileIno},
		{path: "/..", wantIno: rootIno},
		{path: "/../../a/b", wantIno: bIno},
		{path: "/a/linkb/c/file", wantIno: fileIno},
		{path: "/abs/c/file", wantIno: fileIno},
		{path: "/abs/", nofollow: true, wantIno: bIno},
		{path: "/a/linkb/", nofollow: true, wantIno: bIno},
		{path: "/loop1", wantErr: linux.ELOOP},
		{path: "/loop1/x", nofollow: true, wantErr: linux.ELOOP},
		{path: "/self", wantErr: linux.ELOOP},
		{path: "/dangling", wantErr: linux.ENOENT},
		{path: "/nonexistent/x", wantErr: linux.ENOENT},
		{path: "/file/", wantErr: linux.ENOTDIR},
		{path: "/file/.", wantErr: linux.ENOTDIR},
		{path: "/a/b/c/file/x", wantErr: linux.ENOTDIR},
		{path: "/dangling/", nofollow: true, wantErr: linux.ENOENT},
		{path: "/" + strings.Repeat("x", 255), wantErr: linux.ENOENT},
		{path: "/" + strings.Repeat("x", 256), wantErr: linux.ENAMETOOLONG},
		{path: strings.Repeat("/x", 2047) + "/", wantErr: linux.ENOENT},
		{path: strings.Repeat("/x", 2048), wantErr: linux.ENAMETOOLONG},
		{path: chainPath(40), wantIno: ino(t, e, "/file")},
		{path: chainPath(41), wantErr: linux.ELOOP},
		{path: "/mnt/inner", wantIno: innerIno},
		{path: "/mnt/..", wantIno: rootIno},
		{path: "/mnt/../a/b", wantIno: bIno},
		{path: "/mnt/./../mnt/inner", wantIno: innerIno},
		{path: "", wantIno: rootIno},
	} {
		pop := e.Pop(tc.path)
		if tc.nofollow {
			pop = e.PopNoFollow(tc.path)
		}
		st, err := e.VFS.StatAt(e.Ctx, e.Creds, pop, &vfs.StatOptions{})
		name := tc.path
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if err != tc.wantErr {
			t.Errorf("stat %q (nofollow %v): err %v, want %v", name, tc.nofollow, err, tc.wantErr)
			continue
		}
		if err == nil && st.Ino != tc.wantIno {
			t.Errorf("stat %q: ino %d, want %d", name, st.Ino, tc.wantIno)
		}
	}
	// The mounted filesystem is another device.
	if mnt, _ := e.Stat("/mnt"); mnt.DevMinor == (func() uint32 { s, _ := e.Stat("/"); return s.DevMinor })() {
		t.Errorf("/mnt has the root's device")
	}
	// Symlinks themselves.
	for _, p := range []string{"/loop1", "/dangling", "/self"} {
		if st, err := e.Lstat(p); err != nil || st.Mode&linux.S_IFMT != linux.S_IFLNK {
			t.Errorf("lstat %q = %#o, %v", p, st.Mode, err)
		}
	}
}

func TestSearchPermission(t *testing.T) {
	e := newTree(t)
	u := e.As(e.User(1000, 1000))
	if _, err := u.Stat("/private/x"); err != linux.EACCES {
		t.Errorf("stat /private/x as a user: %v, want EACCES", err)
	}
	if _, err := u.Stat("/private"); err != nil {
		t.Errorf("stat /private as a user: %v", err)
	}
	if _, err := u.Open("/private/y", linux.O_CREAT|linux.O_WRONLY, 0o644); err != linux.EACCES {
		t.Errorf("create in /private as a user: %v, want EACCES", err)
	}
	if _, err := e.Stat("/private/x"); err != nil {
		t.Errorf("stat /private/x as root: %v", err)
	}
	if _, err := u.VFS.GetDentryAt(u.Ctx, u.Creds, u.Pop("/private"), &vfs.GetDentryOptions{CheckSearchable: true}); err != linux.EACCES {
		t.Errorf("chdir /private as a user: %v, want EACCES", err)
	}
	if _, err := u.VFS.GetDentryAt(u.Ctx, u.Creds, u.Pop("/file"), &vfs.GetDentryOptions{CheckSearchable: true}); err != linux.ENOTDIR {
		t.Errorf("chdir /file: %v, want ENOTDIR", err)
	}
	// access(2) with explicit credentials.
	if err := e.VFS.AccessAt(e.Ctx, u.Creds, auth.MayRead, e.Pop("/private")); err != linux.EACCES {
		t.Errorf("access /private R_OK as a user: %v, want EACCES", err)
	}
}

func TestRelativeAndChroot(t *testing.T) {
	e := newTree(t)
	b, err := e.VFS.GetDentryAt(e.Ctx, e.Creds, e.Pop("/a/b"), &vfs.GetDentryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.DecRef()
	fileIno := ino(t, e, "/a/b/c/file")
	st, err := e.VFS.StatAt(e.Ctx, e.Creds, &vfs.PathOperation{Root: e.Root, Start: b, Path: "c/../c/file"}, &vfs.StatOptions{})
	if err != nil || st.Ino != fileIno {
		t.Errorf("relative to /a/b: %v, ino %d want %d", err, st.Ino, fileIno)
	}

	// Chrooted at /a: ".." stops there and absolute symlinks start there.
	a, err := e.VFS.GetDentryAt(e.Ctx, e.Creds, e.Pop("/a"), &vfs.GetDentryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.DecRef()
	if err := e.Symlink("/b/c", "/a/rootabs"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/..", "/a"},
		{"/../../b", "/a/b"},
		{"b/c/../../..", "/a"},
		{"/rootabs/file", "/a/b/c/file"},
	} {
		st, err := e.VFS.StatAt(e.Ctx, e.Creds, &vfs.PathOperation{Root: a, Start: a, Path: tc.path, FollowFinalSymlink: true}, &vfs.StatOptions{})
		if err != nil || st.Ino != ino(t, e, tc.want) {
			t.Errorf("chroot /a: stat %q = ino %d, %v; want %s", tc.path, st.Ino, err, tc.want)
		}
	}
	// The path of the chroot's files as seen from inside, and from outside.
	inside, err := e.VFS.PathnameWithDeleted(e.Ctx, a, b)
	if err != nil || inside != "/b" {
		t.Errorf("path of /a/b chrooted at /a = %q, %v", inside, err)
	}
	cwd, err := e.VFS.PathnameForGetcwd(e.Ctx, b, a)
	if err != nil || cwd != "(unreachable)/a" {
		t.Errorf("getcwd of /a chrooted at /a/b = %q, %v", cwd, err)
	}
}

func TestMounts(t *testing.T) {
	e := newTree(t)
	// A bind mount of /a/b at /a/b/c/.. is seen at /mnt2; ".." from its root
	// leaves the bind mount, not the bound directory.
	e.MustMkdirAll("/mnt2")
	if _, err := e.VFS.BindAt(e.Ctx, e.Creds, e.Pop("/a/b"), e.Pop("/mnt2")); err != nil {
		t.Fatal(err)
	}
	if got, err := e.ReadFile("/mnt2/c/file"); err != nil || got != "data" {
		t.Errorf("read through bind mount = %q, %v", got, err)
	}
	if st, err := e.Stat("/mnt2/.."); err != nil || st.Ino != ino(t, e, "/") {
		t.Errorf("/mnt2/.. = %d, %v; want the root", st.Ino, err)
	}
	// Mounts stack: the newest hides the others, and unmounting reveals them.
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/mnt"), "tmpfs", &vfs.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stat("/mnt/inner"); err != linux.ENOENT {
		t.Errorf("/mnt/inner under a new mount: %v, want ENOENT", err)
	}
	if st, err := e.Stat("/mnt/.."); err != nil || st.Ino != ino(t, e, "/") {
		t.Errorf("/mnt/.. through two mounts = %d, %v", st.Ino, err)
	}
	if err := e.VFS.UmountAt(e.Ctx, e.Creds, e.Pop("/mnt"), &vfs.UmountOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.ReadFile("/mnt/inner"); err != nil || got != "inner" {
		t.Errorf("after umount: %q, %v", got, err)
	}

	// Busy mounts: an open file keeps the mount; MNT_DETACH takes it out of
	// the tree anyway and the file stays usable.
	fd, err := e.Open("/mnt/inner", linux.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.VFS.UmountAt(e.Ctx, e.Creds, e.Pop("/mnt"), &vfs.UmountOptions{}); err != linux.EBUSY {
		t.Errorf("umount with an open file: %v, want EBUSY", err)
	}
	if err := e.VFS.UmountAt(e.Ctx, e.Creds, e.Pop("/mnt/inner"), &vfs.UmountOptions{}); err != linux.EINVAL {
		t.Errorf("umount of a non-root: %v, want EINVAL", err)
	}
	if err := e.VFS.UmountAt(e.Ctx, e.Creds, e.Pop("/mnt"), &vfs.UmountOptions{Flags: linux.MNT_DETACH}); err != nil {
		t.Fatalf("umount -l: %v", err)
	}
	if _, err := e.Stat("/mnt/inner"); err != linux.ENOENT {
		t.Errorf("/mnt/inner after umount -l: %v", err)
	}
	if got, err := vfstest.ReadAll(e.Ctx, fd); err != nil || got != "inner" {
		t.Errorf("reading a file of a detached mount: %q, %v", got, err)
	}
	fd.DecRef()

	// Only CAP_SYS_ADMIN mounts; mountpoints cannot be removed.
	u := e.As(e.User(1000, 1000))
	if _, err := u.VFS.MountAt(u.Ctx, u.Creds, "", u.Pop("/mnt"), "tmpfs", &vfs.MountOptions{}); err != linux.EPERM {
		t.Errorf("mount as a user: %v, want EPERM", err)
	}
	if err := e.VFS.RmdirAt(e.Ctx, e.Creds, e.Pop("/mnt2")); err != linux.EBUSY {
		t.Errorf("rmdir of a mountpoint: %v, want EBUSY", err)
	}
	if err := e.VFS.RenameAt(e.Ctx, e.Creds, e.Pop("/mnt2"), e.Pop("/mnt3"), &vfs.RenameOptions{}); err != linux.EBUSY {
		t.Errorf("rename of a mountpoint: %v, want EBUSY", err)
	}
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/mnt"), "nosuchfs", &vfs.MountOptions{}); err != linux.ENODEV {
		t.Errorf("mount of an unknown type: %v, want ENODEV", err)
	}
	// Renames and links across mounts.
	if err := e.VFS.RenameAt(e.Ctx, e.Creds, e.Pop("/mnt2/c/file"), e.Pop("/a/moved"), &vfs.RenameOptions{}); err != linux.EXDEV {
		t.Errorf("rename across mounts: %v, want EXDEV", err)
	}
	if err := e.VFS.LinkAt(e.Ctx, e.Creds, e.Pop("/mnt2/c/file"), e.Pop("/a/linked")); err != linux.EXDEV {
		t.Errorf("link across mounts: %v, want EXDEV", err)
	}
}

func TestReadOnlyMount(t *testing.T) {
	e := newTree(t)
	e.MustMkdirAll("/ro")
	mnt, err := e.VFS.BindAt(e.Ctx, e.Creds, e.Pop("/a"), e.Pop("/ro"))
	if err != nil {
		t.Fatal(err)
	}
	mnt.SetReadOnly(true)
	for name, err := range map[string]error{
		"mkdir":  e.Mkdir("/ro/new", 0o755),
		"unlink": e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/ro/b/c/file")),
		"chmod":  e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/ro/b"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o700}}),
		"open":   func() error { _, err := e.Open("/ro/b/c/file", linux.O_WRONLY, 0); return err }(),
		"access": e.VFS.AccessAt(e.Ctx, e.Creds, auth.MayWrite, e.Pop("/ro/b")),
	} {
		if err != linux.EROFS {
			t.Errorf("%s on a read-only mount: %v, want EROFS", name, err)
		}
	}
	if got, err := e.ReadFile("/ro/b/c/file"); err != nil || got != "data" {
		t.Errorf("read on a read-only mount: %q, %v", got, err)
	}
	st, err := e.VFS.StatFSAt(e.Ctx, e.Creds, e.Pop("/ro"))
	if err != nil || st.Flags&linux.ST_RDONLY == 0 || st.Type != linux.TMPFS_MAGIC {
		t.Errorf("statfs of a read-only mount: %+v, %v", st, err)
	}
}

func TestOpenFlags(t *testing.T) {
	e := newTree(t)
	for _, tc := range []struct {
		path  string
		flags uint32
		want  error
	}{
		{"/loop1", linux.O_RDONLY, linux.ELOOP},
		{"/a/linkb", linux.O_RDONLY | linux.O_NOFOLLOW, linux.ELOOP},
		{"/a/linkb", linux.O_RDONLY | linux.O_NOFOLLOW | linux.O_DIRECTORY, linux.ENOTDIR},
		{"/a/linkb", linux.O_RDONLY | linux.O_DIRECTORY, nil},
		{"/file", linux.O_RDONLY | linux.O_DIRECTORY, linux.ENOTDIR},
		{"/a", linux.O_WRONLY, linux.EISDIR},
		{"/a", linux.O_RDONLY | linux.O_TRUNC, linux.EISDIR},
		{"/a", linux.O_RDONLY | linux.O_CREAT, linux.EISDIR},
		{"/file", linux.O_RDONLY | linux.O_CREAT | linux.O_EXCL, linux.EEXIST},
		{"/a/linkb", linux.O_RDONLY | linux.O_CREAT | linux.O_EXCL, linux.EEXIST},
		{"/newfile/", linux.O_RDWR | linux.O_CREAT, linux.EISDIR},
		{"/", linux.O_RDONLY | linux.O_CREAT, linux.EISDIR},
		{"/nodir/new", linux.O_RDWR | linux.O_CREAT, linux.ENOENT},
		{"/a", linux.O_RDONLY | linux.O_CREAT | linux.O_DIRECTORY, linux.EINVAL},
		{"/a/linkb", linux.O_PATH | linux.O_NOFOLLOW, nil},
		{"/loop1", linux.O_PATH | linux.O_NOFOLLOW, nil},
		{"/file", linux.O_PATH | linux.O_DIRECTORY, linux.ENOTDIR},
	} {
		fd, err := e.Open(tc.path, tc.flags, 0o644)
		if err != tc.want {
			t.Errorf("open(%q, %#o) = %v, want %v", tc.path, tc.flags, err, tc.want)
		}
		if fd != nil {
			fd.DecRef()
		}
	}

	// O_CREAT through a dangling symlink creates its target.
	fd, err := e.Open("/dangling", linux.O_WRONLY|linux.O_CREAT, 0o600)
	if err != nil {
		t.Fatalf("O_CREAT through a dangling symlink: %v", err)
	}
	fd.DecRef()
	if st, err := e.Stat("/nowhere"); err != nil || st.Mode != linux.S_IFREG|0o600 {
		t.Errorf("/nowhere = %#o, %v", st.Mode, err)
	}

	// O_PATH files stat but do nothing else.
	fd, err = e.Open("/a/linkb", linux.O_PATH|linux.O_NOFOLLOW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef()
	if st, err := fd.Stat(e.Ctx, vfs.StatOptions{}); err != nil || st.Mode&linux.S_IFMT != linux.S_IFLNK {
		t.Errorf("fstat of an O_PATH symlink: %#o, %v", st.Mode, err)
	}
	if _, err := fd.Read(e.Ctx, make([]byte, 1), vfs.ReadOptions{}); err != linux.EBADF {
		t.Errorf("read of an O_PATH file: %v, want EBADF", err)
	}
	if _, err := fd.GetXattr(e.Ctx, &vfs.GetXattrOptions{Name: "user.x"}); err != linux.EBADF {
		t.Errorf("fgetxattr of an O_PATH file: %v, want EBADF", err)
	}
	// An O_PATH directory is a dirfd.
	dfd, err := e.Open("/a", linux.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dfd.DecRef()
	if st, err := e.VFS.StatAt(e.Ctx, e.Creds, &vfs.PathOperation{Root: e.Root, Start: dfd.VirtualDentry(), Path: "b/c/file"}, &vfs.StatOptions{}); err != nil || st.Size != 4 {
		t.Errorf("stat relative to an O_PATH dirfd: %v", err)
	}
}

func TestPathname(t *testing.T) {
	e := newTree(t)
	fd, err := e.Open("/mnt/inner", linux.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef()
	if p, err := e.VFS.PathnameWithDeleted(e.Ctx, e.Root, fd.VirtualDentry()); err != nil || p != "/mnt/inner" {
		t.Errorf("path = %q, %v", p, err)
	}
	if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/mnt/inner")); err != nil {
		t.Fatal(err)
	}
	if p, err := e.VFS.PathnameWithDeleted(e.Ctx, e.Root, fd.VirtualDentry()); err != nil || p != "/mnt/inner (deleted)" {
		t.Errorf("path after unlink = %q, %v", p, err)
	}
	if p, err := e.VFS.PathnameForGetcwd(e.Ctx, e.Root, e.Root); err != nil || p != "/" {
		t.Errorf("getcwd at the root = %q, %v", p, err)
	}
}

func BenchmarkPathWalk(b *testing.B) {
	e := newTree(b)
	e.MustMkdirAll("/a/b/c/d")
	e.MustWriteFile("/a/b/c/d/e", "x")
	pop := e.Pop("/a/b/c/d/e")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vd, err := e.VFS.GetDentryAt(e.Ctx, e.Creds, pop, &vfs.GetDentryOptions{})
		if err != nil {
			b.Fatal(err)
		}
		vd.DecRef()
	}
}

// TestMountTypes: a directory mounts only on a directory and a non-directory only on
// a non-directory (ENOTDIR otherwise), as in Linux; a file bind-mounted over a file
// is what the file shows from then on.
func TestMountTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		// source is bound at target; "" mounts a new tmpfs (a directory root).
		source, target string
		noFollow       bool // the source path's final symlink is not followed
		want           error
	}{
		{name: "file on file", source: "/file", target: "/a/b/c/file"},
		{name: "file on file through a symlink target", source: "/a/b/c/file", target: "/chain45"},
		{name: "directory on directory", source: "/a/b", target: "/private"},
		{name: "new filesystem on directory", target: "/private"},
		{name: "directory on file", source: "/a/b", target: "/file", want: linux.ENOTDIR},
		{name: "file on directory", source: "/file", target: "/a/b", want: linux.ENOTDIR},
		{name: "file on mount root directory", source: "/file", target: "/mnt", want: linux.ENOTDIR},
		{name: "new filesystem on file", target: "/file", want: linux.ENOTDIR},
		{name: "symlink", source: "/abs", target: "/private", noFollow: true, want: linux.EINVAL},
		{name: "missing target", source: "/file", target: "/nowhere", want: linux.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTree(t)
			before, _ := e.ReadFile(tc.target)
			var err error
			if tc.source == "" {
				_, err = e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop(tc.target), "tmpfs", &vfs.MountOptions{})
			} else {
				src := e.Pop(tc.source)
				if tc.noFollow {
					src = e.PopNoFollow(tc.source)
				}
				_, err = e.VFS.BindAt(e.Ctx, e.Creds, src, e.Pop(tc.target))
			}
			if err != tc.want {
				t.Fatalf("mount %q on %q: %v, want %v", tc.source, tc.target, err, tc.want)
			}
			if tc.want != nil {
				// Nothing was mounted: the target shows what it did.
				if after, _ := e.ReadFile(tc.target); after != before {
					t.Errorf("%q reads %q after a failed mount, want %q", tc.target, after, before)
				}
				return
			}
			srcStat, targetStat := linux.Statx{}, linux.Statx{}
			if tc.source != "" {
				if srcStat, err = e.Stat(tc.source); err != nil {
					t.Fatal(err)
				}
			}
			if targetStat, err = e.Stat(tc.target); err != nil {
				t.Fatal(err)
			}
			if tc.source != "" && targetStat.Ino != srcStat.Ino {
				t.Errorf("%q is inode %d after the mount, want the source's %d", tc.target, targetStat.Ino, srcStat.Ino)
			}
		})
	}
}

// TestFileMount: a file mounted over a file reads and writes the source, cannot be
// walked into, removed or renamed over while mounted, and unmounting reveals the
// file beneath.
func TestFileMount(t *testing.T) {
	e := newTree(t)
	if _, err := e.VFS.BindAt(e.Ctx, e.Creds, e.Pop("/a/b/c/file"), e.Pop("/file")); err != nil {
		t.Fatal(err)
	}
	if got, err := e.ReadFile("/file"); err != nil || got != "data" {
		t.Errorf("/file reads %q, %v; want the source's %q", got, err, "data")
	}
	if err := e.WriteFile("/file", "new"); err != nil {
		t.Fatal(err)
	}
	if got, err := e.ReadFile("/a/b/c/file"); err != nil || got != "new" {
		t.Errorf("source reads %q, %v after a write to the mount; want %q", got, err, "new")
	}
	for name, err := range map[string]error{
		"stat beneath":   func() error { _, err := e.Stat("/file/x"); return err }(),
		"trailing slash": func() error { _, err := e.Stat("/file/"); return err }(),
		"mkdir beneath":  e.Mkdir("/file/x", 0o755),
	} {
		if err != linux.ENOTDIR {
			t.Errorf("%s: %v, want ENOTDIR", name, err)
		}
	}
	if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/file")); err != linux.EBUSY {
		t.Errorf("unlink of a file mountpoint: %v, want EBUSY", err)
	}
	if err := e.VFS.RenameAt(e.Ctx, e.Creds, e.Pop("/private/x"), e.Pop("/file"), &vfs.RenameOptions{}); err != linux.EBUSY {
		t.Errorf("rename over a file mountpoint: %v, want EBUSY", err)
	}
	if err := e.VFS.UmountAt(e.Ctx, e.Creds, e.Pop("/file"), &vfs.UmountOptions{}); err != nil {
		t.Fatalf("umount: %v", err)
	}
	if got, err := e.ReadFile("/file"); err != nil || got != "top" {
		t.Errorf("/file reads %q, %v after umount; want %q", got, err, "top")
	}
}
