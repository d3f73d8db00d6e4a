package gofer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/vfstest"
	"visor.dev/visor/pkg/waiter"
	"visor.dev/visor/runsc/fsgofer"
)

// Dial connects a new lisafs client to an in-process Gofer serving dir, which stops
// when the test ends.
func Dial(t testing.TB, dir string, opts fsgofer.Options) *lisafs.Client {
	t.Helper()
	g, err := fsgofer.New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfd, sfd, err := lisafs.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Serve(sfd) }()
	client, err := lisafs.NewClient(cfd, lisafs.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The filesystem owns the client, but tests end without unmounting.
		client.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		g.Close()
	})
	return client
}

// testOpts are the options of a test mount.
type testOpts struct {
	goferReadOnly bool
	mountReadOnly bool
	fsOpts        FilesystemOpts
}

// newEnv returns a VFS whose root is a gofer mount of dir, acting as root.
func newEnv(t testing.TB, dir string, o testOpts) *vfstest.Env {
	t.Helper()
	fo := o.fsOpts
	fo.Client = Dial(t, dir, fsgofer.Options{ReadOnly: o.goferReadOnly})
	vfsObj := vfs.New()
	vfsObj.MustRegisterFilesystemType(Name, FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{})
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	ctx := vfs.NewContext(creds, waiter.UninterruptibleBlocker{})
	mntns, err := vfsObj.NewMountNamespace(ctx, creds, "", Name, &vfs.MountOptions{
		ReadOnly:             o.mountReadOnly,
		InternalMount:        true,
		GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &fo},
	})
	if err != nil {
		t.Fatalf("NewMountNamespace: %v", err)
	}
	return &vfstest.Env{T: t, VFS: vfsObj, Ctx: ctx, Creds: creds, MntNS: mntns, Root: mntns.Root()}
}

// tree makes files under dir: a name ending in "/" is a directory, "name -> target"
// a symlink, anything else a file holding its own name.
func tree(t testing.TB, dir string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		var err error
		switch {
		case strings.Contains(e, " -> "):
			name, target, _ := strings.Cut(e, " -> ")
			err = os.Symlink(target, filepath.Join(dir, name))
		case strings.HasSuffix(e, "/"):
			err = os.MkdirAll(filepath.Join(dir, e), 0o755)
		default:
			err = os.WriteFile(filepath.Join(dir, e), []byte(e), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func hostRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hostLstat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func hostExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func errOf(err error) string {
	if err == nil {
		return ""
	}
	var errno linux.Errno
	if errors.As(err, &errno) {
		return errno.Name()
	}
	return err.Error()
}

func TestWalkStat(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "a/b/", "a/b/c", "a/f", "abs -> /a/b", "rel -> a/b/c", "loop -> loop", "dangling -> nope")
	e := newEnv(t, dir, testOpts{})
	type result struct {
		Mode uint16
		Size uint64
		Ino  uint64
		Err  string
	}
	host := func(p string) result {
		st := hostLstat(t, filepath.Join(dir, p))
		return result{Mode: uint16(st.Mode), Size: uint64(st.Size), Ino: st.Ino}
	}
	for _, tc := range []struct {
		path   string
		follow bool
		want   result
	}{
		{path: "/", follow: true, want: host(".")},
		{path: "/a/b/c", follow: true, want: host("a/b/c")},
		{path: "a/./b/../f", follow: true, want: host("a/f")},
		{path: "/../../a/f", follow: true, want: host("a/f")},
		{path: "/abs/c", follow: true, want: host("a/b/c")},
		{path: "/rel", follow: true, want: host("a/b/c")},
		{path: "/rel", want: host("rel")},
		{path: "/a/b/c/", follow: true, want: result{Err: "ENOTDIR"}},
		{path: "/a/nope", follow: true, want: result{Err: "ENOENT"}},
		{path: "/a/f/x", follow: true, want: result{Err: "ENOTDIR"}},
		{path: "/loop", follow: true, want: result{Err: "ELOOP"}},
		{path: "/dangling", follow: true, want: result{Err: "ENOENT"}},
		{path: "/" + strings.Repeat("x", 300), follow: true, want: result{Err: "ENAMETOOLONG"}},
	} {
		// Twice: the second time from the cache.
		for range 2 {
			pop := e.PopNoFollow(tc.path)
			pop.FollowFinalSymlink = tc.follow
			st, err := e.VFS.StatAt(e.Ctx, e.Creds, pop, &vfs.StatOptions{Mask: linux.STATX_BASIC_STATS})
			got := result{Err: errOf(err)}
			if err == nil {
				got = result{Mode: st.Mode, Size: st.Size, Ino: st.Ino}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stat %q (follow %v): -want +got:\n%s", tc.path, tc.follow, diff)
			}
		}
	}
}

func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	e := newEnv(t, dir, testOpts{})
	if got, err := e.ReadFile("/f"); err != nil || got != "f" {
		t.Fatalf("read /f: %q, %v", got, err)
	}
	fd, err := e.Open("/f", linux.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef()
	steps := []struct {
		name string
		do   func() (int64, error)
		host string
		size uint64
	}{
		{"write", func() (int64, error) { return fd.Write(e.Ctx, []byte("hello"), vfs.WriteOptions{}) }, "hello", 5},
		{"pwrite past end", func() (int64, error) { return fd.PWrite(e.Ctx, []byte("!"), 7, vfs.WriteOptions{}) }, "hello\x00\x00!", 8},
		{"append", func() (int64, error) {
			if err := fd.SetStatusFlags(e.Ctx, e.Creds, linux.O_APPEND); err != nil {
				return 0, err
			}
			return fd.PWrite(e.Ctx, []byte("++"), 0, vfs.WriteOptions{})
		}, "hello\x00\x00!++", 10},
	}
	for _, s := range steps {
		if _, err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := hostRead(t, filepath.Join(dir, "f")); got != s.host {
			t.Errorf("%s: host has %q, want %q", s.name, got, s.host)
		}
		st, err := fd.Stat(e.Ctx, vfs.StatOptions{})
		if err != nil || st.Size != s.size {
			t.Errorf("%s: size %d, %v; want %d", s.name, st.Size, err, s.size)
		}
	}
	buf := make([]byte, 4)
	if n, err := fd.PRead(e.Ctx, buf, 1, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "ello" {
		t.Errorf("pread: %q, %v", buf[:n], err)
	}
	if off, err := fd.Seek(e.Ctx, -2, linux.SEEK_END); err != nil || off != 8 {
		t.Errorf("seek end: %d, %v", off, err)
	}
	ro, err := e.Open("/f", linux.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.DecRef()
	if _, err := ro.Write(e.Ctx, []byte("x"), vfs.WriteOptions{}); err != linux.EBADF {
		t.Errorf("write to O_RDONLY: %v, want EBADF", err)
	}
}

func TestOpenCreate(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "exists", "d/", "link -> made-by-link")
	e := newEnv(t, dir, testOpts{})
	for _, tc := range []struct {
		path     string
		flags    uint32
		wantErr  string
		hostPath string
		wantHost string
	}{
		{path: "/new", flags: linux.O_CREAT | linux.O_WRONLY, hostPath: "new", wantHost: ""},
		{path: "/exists", flags: linux.O_CREAT | linux.O_EXCL | linux.O_WRONLY, wantErr: "EEXIST", hostPath: "exists", wantHost: "exists"},
		{path: "/exists", flags: linux.O_CREAT | linux.O_RDONLY, hostPath: "exists", wantHost: "exists"},
		{path: "/exists", flags: linux.O_CREAT | linux.O_TRUNC | linux.O_WRONLY, hostPath: "exists", wantHost: ""},
		{path: "/d", flags: linux.O_CREAT | linux.O_RDONLY, wantErr: "EISDIR"},
		{path: "/d/", flags: linux.O_CREAT | linux.O_RDONLY, wantErr: "EISDIR"},
		{path: "/nodir/x", flags: linux.O_CREAT | linux.O_RDONLY, wantErr: "ENOENT"},
		{path: "/link", flags: linux.O_CREAT | linux.O_WRONLY, hostPath: "made-by-link", wantHost: ""},
		{path: "/link", flags: linux.O_CREAT | linux.O_EXCL | linux.O_WRONLY, wantErr: "EEXIST"},
	} {
		fd, err := e.Open(tc.path, tc.flags, 0o640)
		if got := errOf(err); got != tc.wantErr {
			t.Errorf("open %q %#o: error %q, want %q", tc.path, tc.flags, got, tc.wantErr)
		}
		if fd != nil {
			fd.DecRef()
		}
		if tc.hostPath != "" {
			if got := hostRead(t, filepath.Join(dir, tc.hostPath)); got != tc.wantHost {
				t.Errorf("open %q: host %s holds %q, want %q", tc.path, tc.hostPath, got, tc.wantHost)
			}
		}
	}
	if st := hostLstat(t, filepath.Join(dir, "new")); st.Mode != unix.S_IFREG|0o640 {
		t.Errorf("created file has mode %#o, want %#o", st.Mode, unix.S_IFREG|0o640)
	}
	// Written through the description the create returned.
	fd, err := e.Open("/new2", linux.O_CREAT|linux.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(e.Ctx, []byte("data"), vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	fd.DecRef()
	if got := hostRead(t, filepath.Join(dir, "new2")); got != "data" {
		t.Errorf("host new2 = %q", got)
	}
}

func TestNamespaceOps(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "a/", "a/f", "b/", "c/", "c/x", "g")
	e := newEnv(t, dir, testOpts{})
	root := func(p string) *vfs.PathOperation { return e.PopNoFollow(p) }
	steps := []struct {
		name string
		do   func() error
		err  string
	}{
		{"mkdir", func() error { return e.Mkdir("/m", 0o750) }, ""},
		{"mkdir exists", func() error { return e.Mkdir("/m", 0o750) }, "EEXIST"},
		{"mkdir in missing", func() error { return e.Mkdir("/zz/m", 0o750) }, "ENOENT"},
		{"symlink", func() error { return e.Symlink("a/f", "/s") }, ""},
		{"link", func() error { return e.VFS.LinkAt(e.Ctx, e.Creds, root("/a/f"), root("/hl")) }, ""},
		{"link dir", func() error { return e.VFS.LinkAt(e.Ctx, e.Creds, root("/a"), root("/hl2")) }, "EPERM"},
		{"rename file", func() error { return e.VFS.RenameAt(e.Ctx, e.Creds, root("/g"), root("/b/g2"), &vfs.RenameOptions{}) }, ""},
		{"rename dir", func() error { return e.VFS.RenameAt(e.Ctx, e.Creds, root("/b"), root("/m/b"), &vfs.RenameOptions{}) }, ""},
		{"rename into self", func() error { return e.VFS.RenameAt(e.Ctx, e.Creds, root("/m"), root("/m/b/m"), &vfs.RenameOptions{}) }, "EINVAL"},
		{"rename noreplace", func() error {
			return e.VFS.RenameAt(e.Ctx, e.Creds, root("/hl"), root("/s"), &vfs.RenameOptions{Flags: linux.RENAME_NOREPLACE})
		}, "EEXIST"},
		{"rename exchange", func() error {
			return e.VFS.RenameAt(e.Ctx, e.Creds, root("/s"), root("/a"), &vfs.RenameOptions{Flags: linux.RENAME_EXCHANGE})
		}, ""},
		{"unlink", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, root("/hl")) }, ""},
		{"unlink dir", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, root("/c")) }, "EISDIR"},
		{"rmdir nonempty", func() error { return e.VFS.RmdirAt(e.Ctx, e.Creds, root("/c")) }, "ENOTEMPTY"},
		{"rmdir file", func() error { return e.VFS.RmdirAt(e.Ctx, e.Creds, root("/c/x")) }, "ENOTDIR"},
		{"unlink c/x", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, root("/c/x")) }, ""},
		{"rmdir", func() error { return e.VFS.RmdirAt(e.Ctx, e.Creds, root("/c")) }, ""},
		{"mknod fifo", func() error {
			return e.VFS.MknodAt(e.Ctx, e.Creds, root("/fifo"), &vfs.MknodOptions{Mode: linux.S_IFIFO | 0o600})
		}, ""},
		{"mknod chr", func() error {
			return e.VFS.MknodAt(e.Ctx, e.Creds, root("/null"), &vfs.MknodOptions{Mode: linux.S_IFCHR | 0o600, DevMajor: 1, DevMinor: 3})
		}, "EPERM"},
	}
	for _, s := range steps {
		if got := errOf(s.do()); got != s.err {
			t.Fatalf("%s: error %q, want %q", s.name, got, s.err)
		}
	}
	// What the host has, and what the Sentry sees, must be the same tree.
	want := map[string]string{
		"a":      "symlink a/f", // exchanged with /s
		"s":      "dir",
		"s/f":    "file a/f",
		"m":      "dir",
		"m/b":    "dir",
		"m/b/g2": "file g",
		"fifo":   "fifo",
	}
	got := map[string]string{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		switch m := info.Mode(); {
		case m.IsDir():
			got[rel] = "dir"
		case m&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got[rel] = "symlink " + target
		case m&os.ModeNamedPipe != 0:
			got[rel] = "fifo"
		default:
			got[rel] = "file " + hostRead(t, p)
		}
		return nil
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("host tree: -want +got:\n%s", diff)
	}
	sentry := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		fd, err := e.Open(p, linux.O_RDONLY|linux.O_DIRECTORY, 0)
		if err != nil {
			t.Fatalf("open %q: %v", p, err)
		}
		defer fd.DecRef()
		err = fd.IterDirents(e.Ctx, vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error {
			if d.Name == "." || d.Name == ".." {
				return nil
			}
			child := strings.TrimPrefix(p+"/"+d.Name, "/")
			switch d.Type {
			case linux.DT_DIR:
				sentry[child] = "dir"
				walk("/" + child)
			case linux.DT_LNK:
				target, err := e.VFS.ReadlinkAt(e.Ctx, e.Creds, root("/"+child))
				if err != nil {
					t.Errorf("readlink %q: %v", child, err)
				}
				sentry[child] = "symlink " + target
			case linux.DT_FIFO:
				sentry[child] = "fifo"
			default:
				data, err := e.ReadFile("/" + child)
				if err != nil {
					t.Errorf("read %q: %v", child, err)
				}
				sentry[child] = "file " + data
			}
			return nil
		}))
		if err != nil {
			t.Fatalf("getdents %q: %v", p, err)
		}
	}
	walk("")
	if diff := cmp.Diff(want, sentry); diff != "" {
		t.Errorf("sentry tree: -want +got:\n%s", diff)
	}
}

func TestDirents(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "d/", "d/x", "d/sub/", "d/l -> x")
	e := newEnv(t, dir, testOpts{})
	fd, err := e.Open("/d", linux.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef()
	type ent struct {
		Name string
		Type uint8
		Ino  uint64
	}
	var got []ent
	collect := vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error {
		got = append(got, ent{d.Name, d.Type, d.Ino})
		return nil
	})
	if err := fd.IterDirents(e.Ctx, collect); err != nil {
		t.Fatal(err)
	}
	ino := func(p string) uint64 { return hostLstat(t, filepath.Join(dir, p)).Ino }
	want := []ent{
		{".", linux.DT_DIR, ino("d")},
		{"..", linux.DT_DIR, ino(".")},
		{"l", linux.DT_LNK, ino("d/l")},
		{"sub", linux.DT_DIR, ino("d/sub")},
		{"x", linux.DT_REG, ino("d/x")},
	}
	// The host's order is its filesystem's: compare what follows . and .. as a set.
	slices.SortFunc(got[2:], func(a, b ent) int { return strings.Compare(a.Name, b.Name) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dirents: -want +got:\n%s", diff)
	}
	// At the end nothing more; after a rewind, everything again, with a new file.
	got = nil
	if err := fd.IterDirents(e.Ctx, collect); err != nil || len(got) != 0 {
		t.Errorf("after the end: %v, %v", got, err)
	}
	e.MustWriteFile("/d/y", "")
	if _, err := fd.Seek(e.Ctx, 0, linux.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := fd.IterDirents(e.Ctx, collect); err != nil || len(got) != 6 {
		t.Errorf("after rewind: %v, %v", got, err)
	}
}

func TestSetStat(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	e := newEnv(t, dir, testOpts{})
	pop := e.Pop("/f")
	for _, tc := range []struct {
		name  string
		stat  linux.Statx
		check func(st unix.Stat_t) bool
	}{
		{"chmod", linux.Statx{Mask: linux.STATX_MODE, Mode: 0o604}, func(st unix.Stat_t) bool { return st.Mode&0o7777 == 0o604 }},
		{"truncate", linux.Statx{Mask: linux.STATX_SIZE, Size: 100}, func(st unix.Stat_t) bool { return st.Size == 100 }},
		{"chown", linux.Statx{Mask: linux.STATX_UID | linux.STATX_GID, UID: 1234, GID: 5678}, func(st unix.Stat_t) bool { return st.Uid == 1234 && st.Gid == 5678 }},
		{"utimens", linux.Statx{Mask: linux.STATX_MTIME | linux.STATX_ATIME, Mtime: linux.StatxTimestamp{Sec: 1000}, Atime: linux.StatxTimestamp{Sec: 2000}},
			func(st unix.Stat_t) bool { return st.Mtim.Sec == 1000 && st.Atim.Sec == 2000 }},
	} {
		if err := e.VFS.SetStatAt(e.Ctx, e.Creds, pop, &vfs.SetStatOptions{Stat: tc.stat}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		hst := hostLstat(t, filepath.Join(dir, "f"))
		if !tc.check(hst) {
			t.Errorf("%s: host stat %+v", tc.name, hst)
		}
		st, err := e.Stat("/f")
		if err != nil {
			t.Fatal(err)
		}
		got := [5]int64{int64(st.Mode), int64(st.Size), int64(st.UID), int64(st.GID), st.Mtime.Sec}
		want := [5]int64{int64(hst.Mode), hst.Size, int64(hst.Uid), int64(hst.Gid), hst.Mtim.Sec}
		if got != want {
			t.Errorf("%s: sentry (mode, size, uid, gid, mtime) %v, host %v", tc.name, got, want)
		}
	}
	// An unprivileged user may not chmod another's file.
	u := e.As(e.User(1000, 1000))
	if err := u.VFS.SetStatAt(u.Ctx, u.Creds, u.Pop("/f"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o777}}); err != linux.EPERM {
		t.Errorf("chmod by another user: %v, want EPERM", err)
	}
}

// TestSymlinkStaysInSandbox checks that symlinks are resolved by the VFS within the
// sandbox's root, never by the host: an absolute target and a target that climbs
// above the root both lead to the served tree's own files.
func TestSymlinkStaysInSandbox(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "etc/", "etc/hostname", "abs -> /etc/hostname", "climb -> ../../../../../../../etc/hostname", "d/", "d/up -> ../../../etc")
	e := newEnv(t, dir, testOpts{})
	for _, p := range []string{"/abs", "/climb", "/d/up/hostname"} {
		got, err := e.ReadFile(p)
		if err != nil || got != "etc/hostname" {
			t.Errorf("read %q: %q, %v; want the sandbox's etc/hostname", p, got, err)
		}
	}
	// Creating through a symlink that points outside creates inside.
	tree(t, dir, "tmp/", "out -> /tmp/visor-gofer-escape-test")
	if err := e.WriteFile("/out", "x"); err != nil {
		t.Fatal(err)
	}
	if hostExists("/tmp/visor-gofer-escape-test") {
		os.Remove("/tmp/visor-gofer-escape-test")
		t.Fatal("a symlink's target was created on the host outside the served tree")
	}
	if got := hostRead(t, filepath.Join(dir, "tmp/visor-gofer-escape-test")); got != "x" {
		t.Errorf("inside: %q", got)
	}
}

func TestReadOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    testOpts
	}{
		{"mount", testOpts{mountReadOnly: true}},
		{"gofer", testOpts{goferReadOnly: true}},
		{"both", testOpts{mountReadOnly: true, goferReadOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, "f", "d/")
			e := newEnv(t, dir, tc.o)
			if got, err := e.ReadFile("/f"); err != nil || got != "f" {
				t.Errorf("read: %q, %v", got, err)
			}
			ops := map[string]func() error{
				"open write": func() error {
					fd, err := e.Open("/f", linux.O_WRONLY, 0)
					if err == nil {
						fd.DecRef()
					}
					return err
				},
				"create":  func() error { return e.WriteFile("/new", "") },
				"mkdir":   func() error { return e.Mkdir("/d2", 0o755) },
				"unlink":  func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/f")) },
				"rmdir":   func() error { return e.VFS.RmdirAt(e.Ctx, e.Creds, e.Pop("/d")) },
				"symlink": func() error { return e.Symlink("f", "/s") },
				"chmod": func() error {
					return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/f"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o777}})
				},
				"rename": func() error { return e.VFS.RenameAt(e.Ctx, e.Creds, e.Pop("/f"), e.Pop("/g"), &vfs.RenameOptions{}) },
				"setxattr": func() error {
					return e.VFS.SetXattrAt(e.Ctx, e.Creds, e.Pop("/f"), &vfs.SetXattrOptions{Name: "user.x", Value: "1"})
				},
			}
			for name, op := range ops {
				if err := op(); err != linux.EROFS {
					t.Errorf("%s: %v, want EROFS", name, err)
				}
			}
			if got := hostRead(t, filepath.Join(dir, "f")); got != "f" {
				t.Errorf("host file changed: %q", got)
			}
		})
	}
}

func TestXattr(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	e := newEnv(t, dir, testOpts{})
	if err := e.VFS.SetXattrAt(e.Ctx, e.Creds, e.Pop("/f"), &vfs.SetXattrOptions{Name: "user.k", Value: "v"}); err != nil {
		if err == linux.EOPNOTSUPP {
			t.Skip("host filesystem has no user xattrs")
		}
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "f"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("host xattr: %q, %v", buf[:n], err)
	}
	if v, err := e.VFS.GetXattrAt(e.Ctx, e.Creds, e.Pop("/f"), &vfs.GetXattrOptions{Name: "user.k"}); err != nil || v != "v" {
		t.Errorf("getxattr: %q, %v", v, err)
	}
	if names, err := e.VFS.ListXattrAt(e.Ctx, e.Creds, e.Pop("/f"), 0); err != nil || !cmp.Equal(names, []string{"user.k"}) {
		t.Errorf("listxattr: %v, %v", names, err)
	}
	if err := e.VFS.RemoveXattrAt(e.Ctx, e.Creds, e.Pop("/f"), "user.k"); err != nil {
		t.Error(err)
	}
	if _, err := e.VFS.GetXattrAt(e.Ctx, e.Creds, e.Pop("/f"), &vfs.GetXattrOptions{Name: "user.k"}); err != linux.ENODATA {
		t.Errorf("getxattr after remove: %v, want ENODATA", err)
	}
}

func TestFIFO(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, testOpts{})
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.Pop("/p"), &vfs.MknodOptions{Mode: linux.S_IFIFO | 0o600}); err != nil {
		t.Fatal(err)
	}
	if st := hostLstat(t, filepath.Join(dir, "p")); st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("host mode %#o", st.Mode)
	}
	// A non-blocking writer without a reader fails as on Linux.
	if _, err := e.Open("/p", linux.O_WRONLY|linux.O_NONBLOCK, 0); err != linux.ENXIO {
		t.Errorf("open writer without reader: %v, want ENXIO", err)
	}
	r, err := e.Open("/p", linux.O_RDONLY|linux.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	w, err := e.Open("/p", linux.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.DecRef()
	if _, err := w.Write(e.Ctx, []byte("through the sentry"), vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := r.Read(e.Ctx, buf, vfs.ReadOptions{})
	if err != nil || string(buf[:n]) != "through the sentry" {
		t.Errorf("read: %q, %v", buf[:n], err)
	}
	st, err := w.Stat(e.Ctx, vfs.StatOptions{})
	if err != nil || st.Mode&linux.S_IFMT != linux.S_IFIFO {
		t.Errorf("fstat FIFO: %#o, %v", st.Mode, err)
	}
}

func TestHardLinkSharesInode(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	if err := os.Link(filepath.Join(dir, "f"), filepath.Join(dir, "g")); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, dir, testOpts{})
	e.MustWriteFile("/f", "longer contents")
	st, err := e.Stat("/g")
	if err != nil || st.Size != uint64(len("longer contents")) || st.Nlink != 2 {
		t.Errorf("stat of the other link: size %d nlink %d, %v", st.Size, st.Nlink, err)
	}
	if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/f")); err != nil {
		t.Fatal(err)
	}
	if st, err := e.Stat("/g"); err != nil || st.Nlink != 1 {
		t.Errorf("nlink after unlink: %d, %v", st.Nlink, err)
	}
}

func TestUnlinkedOpenFile(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	e := newEnv(t, dir, testOpts{})
	fd, err := e.Open("/f", linux.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef()
	if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/f")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Stat("/f"); err != linux.ENOENT {
		t.Errorf("stat after unlink: %v", err)
	}
	if _, err := fd.PWrite(e.Ctx, []byte("X"), 0, vfs.WriteOptions{}); err != nil {
		t.Error(err)
	}
	buf := make([]byte, 8)
	if n, err := fd.PRead(e.Ctx, buf, 0, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "X" {
		t.Errorf("read unlinked: %q, %v", buf[:n], err)
	}
	// A new file of the same name is another file.
	e.MustWriteFile("/f", "new")
	if got, _ := e.ReadFile("/f"); got != "new" {
		t.Errorf("new file: %q", got)
	}
}

// TestMappableAfterEviction reads a private mapping's file after its description is
// closed and its idle handle evicted.
func TestMappableAfterEviction(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "a", "b", "c", "m")
	e := newEnv(t, dir, testOpts{fsOpts: FilesystemOpts{MaxIdleHandles: 1}})
	fd, err := e.Open("/m", linux.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts := memmapOpts()
	if err := fd.ConfigureMMap(e.Ctx, &opts); err != nil {
		t.Fatal(err)
	}
	fd.DecRef()
	for _, p := range []string{"/a", "/b", "/c"} {
		if _, err := e.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	fs := e.Root.Mount().Filesystem().Impl().(*filesystem)
	fs.handleLRUMu.Lock()
	idle := fs.handleLRU.Len()
	fs.handleLRUMu.Unlock()
	if idle != 1 {
		t.Errorf("%d idle handles, want 1", idle)
	}
	buf := make([]byte, 8)
	n, err := opts.Mappable.ReadAt(buf, 0)
	if string(buf[:n]) != "m" || err == nil {
		t.Errorf("ReadAt: %q, %v; want \"m\", EOF", buf[:n], err)
	}
}

func TestPermissions(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "private/", "private/f", "pub/")
	if err := os.Chmod(filepath.Join(dir, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "pub"), 0o777); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, dir, testOpts{})
	u := e.As(e.User(1000, 1000))
	if _, err := u.Stat("/private/f"); err != linux.EACCES {
		t.Errorf("stat through a 0700 directory of another: %v, want EACCES", err)
	}
	if err := u.WriteFile("/pub/mine", "x"); err != nil {
		t.Fatal(err)
	}
	if st := hostLstat(t, filepath.Join(dir, "pub/mine")); st.Uid != 1000 || st.Gid != 1000 {
		t.Errorf("created file owned by %d:%d, want 1000:1000", st.Uid, st.Gid)
	}
	if _, err := u.Open("/pub/../private/f", linux.O_RDONLY, 0); err != linux.EACCES {
		t.Errorf("open: %v, want EACCES", err)
	}
}

// TestConcurrent races walks against creations and removals of the same names; run
// with -race.
func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "d/")
	e := newEnv(t, dir, testOpts{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := []string{"/d/a", "/d/b"}[(i+w)%2]
				switch (i + w) % 4 {
				case 0:
					_ = e.WriteFile(name, "x")
				case 1:
					_ = e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop(name))
				case 2:
					_, _ = e.ReadFile(name)
				case 3:
					_ = e.VFS.RenameAt(e.Ctx, e.Creds, e.Pop("/d/a"), e.Pop("/d/b"), &vfs.RenameOptions{})
				}
			}
		}()
	}
	wg.Wait()
	// The Sentry's view and the host's must agree at the end.
	for _, name := range []string{"a", "b"} {
		_, err := e.Stat("/d/" + name)
		if (err == nil) != hostExists(filepath.Join(dir, "d", name)) {
			t.Errorf("%s: sentry says %v, host exists %v", name, err, hostExists(filepath.Join(dir, "d", name)))
		}
	}
}

func memmapOpts() memmap.MMapOpts {
	return memmap.MMapOpts{Length: 4096, Private: true, Perms: platform.Read, MaxPerms: platform.AnyAccess}
}

// TestFileRoot: a Gofer serving one regular file, mounted over a file of a tmpfs
// root as runsc mounts Docker's /etc/hosts: the mount point shows the host file for
// reading, writing and changing, and nothing lies beneath it.
func TestFileRoot(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    testOpts
		// wantWrite is the error of any change, nil if changes reach the host.
		wantWrite error
	}{
		{name: "read-write"},
		{name: "read-only mount", o: testOpts{mountReadOnly: true}, wantWrite: linux.EROFS},
		{name: "read-only gofer", o: testOpts{goferReadOnly: true}, wantWrite: linux.EROFS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, "hosts", "beside")
			hostPath := filepath.Join(dir, "hosts")
			e := vfstest.New(t, "tmpfs", tmpfs.FilesystemType{})
			e.VFS.MustRegisterFilesystemType(Name, FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{})
			e.MustMkdirAll("/etc")
			e.MustWriteFile("/etc/hosts", "image's own")
			fo := tc.o.fsOpts
			fo.Client = Dial(t, hostPath, fsgofer.Options{ReadOnly: tc.o.goferReadOnly})
			if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "bind", e.Pop("/etc/hosts"), Name, &vfs.MountOptions{
				ReadOnly:             tc.o.mountReadOnly,
				InternalMount:        true,
				GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &fo},
			}); err != nil {
				t.Fatalf("mounting the file: %v", err)
			}

			if got, err := e.ReadFile("/etc/hosts"); err != nil || got != "hosts" {
				t.Errorf("read: %q, %v; want the host file's %q", got, err, "hosts")
			}
			st, err := e.Stat("/etc/hosts")
			if want := hostLstat(t, hostPath); err != nil || st.Mode != uint16(want.Mode) || st.Size != uint64(want.Size) || st.Ino != want.Ino {
				t.Errorf("stat: mode %o size %d ino %d, %v; want the host file's %o %d %d", st.Mode, st.Size, st.Ino, err, want.Mode, want.Size, want.Ino)
			}
			for name, op := range map[string]func() error{
				"stat beneath":  func() error { _, err := e.Stat("/etc/hosts/x"); return err },
				"mkdir beneath": func() error { return e.Mkdir("/etc/hosts/x", 0o755) },
				"open as dir": func() error {
					fd, err := e.Open("/etc/hosts", linux.O_RDONLY|linux.O_DIRECTORY, 0)
					if err == nil {
						fd.DecRef()
					}
					return err
				},
			} {
				if err := op(); err != linux.ENOTDIR {
					t.Errorf("%s: %v, want ENOTDIR", name, err)
				}
			}
			if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.Pop("/etc/hosts")); err != linux.EBUSY {
				t.Errorf("unlink of the mount point: %v, want EBUSY", err)
			}

			appendOp := func() error {
				fd, err := e.Open("/etc/hosts", linux.O_WRONLY|linux.O_APPEND, 0)
				if err != nil {
					return err
				}
				defer fd.DecRef()
				_, err = fd.Write(e.Ctx, []byte("+x"), vfs.WriteOptions{})
				return err
			}
			chmodOp := func() error {
				return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/etc/hosts"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o600}})
			}
			if err := appendOp(); err != tc.wantWrite {
				t.Fatalf("append: %v, want %v", err, tc.wantWrite)
			}
			if err := chmodOp(); err != tc.wantWrite {
				t.Errorf("chmod: %v, want %v", err, tc.wantWrite)
			}
			wantHost, wantMode := "hosts+x", uint32(0o600)
			if tc.wantWrite != nil {
				wantHost, wantMode = "hosts", 0o644
			}
			if got := hostRead(t, hostPath); got != wantHost {
				t.Errorf("host file holds %q, want %q", got, wantHost)
			}
			if got := hostLstat(t, hostPath).Mode & 0o777; got != wantMode {
				t.Errorf("host file mode %o, want %o", got, wantMode)
			}
			if got, err := e.ReadFile("/etc/hosts"); err != nil || got != wantHost {
				t.Errorf("read after the change: %q, %v; want %q", got, err, wantHost)
			}
			if got := hostRead(t, filepath.Join(dir, "beside")); got != "beside" {
				t.Errorf("file beside the served one changed: %q", got)
			}
			if err := e.VFS.UmountAt(e.Ctx, e.Creds, e.Pop("/etc/hosts"), &vfs.UmountOptions{}); err != nil {
				t.Fatalf("umount: %v", err)
			}
			if got, err := e.ReadFile("/etc/hosts"); err != nil || got != "image's own" {
				t.Errorf("after umount: %q, %v; want the tmpfs file back", got, err)
			}
		})
	}
}

// TestFileRootOnDirectory: a file root cannot cover a directory, nor a directory
// root a file.
func TestFileRootOnDirectory(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f", "d/")
	e := vfstest.New(t, "tmpfs", tmpfs.FilesystemType{})
	e.VFS.MustRegisterFilesystemType(Name, FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{})
	e.MustMkdirAll("/dir")
	e.MustWriteFile("/file", "")
	for _, tc := range []struct{ served, target string }{
		{"f", "/dir"},
		{"d", "/file"},
	} {
		fo := FilesystemOpts{Client: Dial(t, filepath.Join(dir, tc.served), fsgofer.Options{})}
		_, err := e.VFS.MountAt(e.Ctx, e.Creds, "bind", e.Pop(tc.target), Name, &vfs.MountOptions{
			InternalMount:        true,
			GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &fo},
		})
		if err != linux.ENOTDIR {
			t.Errorf("mounting served %q on %q: %v, want ENOTDIR", tc.served, tc.target, err)
		}
	}
}
