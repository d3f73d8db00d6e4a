package overlay

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
	"visor.dev/visor/pkg/sentry/fsimpl/gofer"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/vfstest"
	"visor.dev/visor/pkg/waiter"
	"visor.dev/visor/runsc/fsgofer"
)

// env is a VFS rooted in an overlay of a tmpfs over a gofer mount of a host
// directory, mounted as the boot code does it.
type env struct {
	*vfstest.Env
	// host is the lower layer's host directory.
	host string
	// upper is the root of the upper tmpfs.
	upper vfs.VirtualDentry
}

func newEnv(t testing.TB, host string) *env {
	t.Helper()
	g, err := fsgofer.New(host, fsgofer.Options{ReadOnly: true})
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
		client.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		g.Close()
	})

	vfsObj := vfs.New()
	vfsObj.MustRegisterFilesystemType(gofer.Name, gofer.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{})
	vfsObj.MustRegisterFilesystemType(tmpfs.Name, tmpfs.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserMount: true})
	vfsObj.MustRegisterFilesystemType(Name, FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{})
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	ctx := vfs.NewContext(creds, waiter.UninterruptibleBlocker{})
	lower, err := vfsObj.MountDisconnected(ctx, creds, "", gofer.Name, &vfs.MountOptions{
		ReadOnly:             true,
		InternalMount:        true,
		GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &gofer.FilesystemOpts{Client: client}},
	})
	if err != nil {
		t.Fatal(err)
	}
	upper, err := vfsObj.MountDisconnected(ctx, creds, "", tmpfs.Name, &vfs.MountOptions{InternalMount: true})
	if err != nil {
		t.Fatal(err)
	}
	upperVD := vfs.MakeVirtualDentry(upper, upper.Root())
	mntns, err := vfsObj.NewMountNamespace(ctx, creds, "", Name, &vfs.MountOptions{
		InternalMount: true,
		GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &FilesystemOpts{
			Lower: vfs.MakeVirtualDentry(lower, lower.Root()),
			Upper: upperVD,
		}},
	})
	if err != nil {
		t.Fatalf("NewMountNamespace: %v", err)
	}
	lower.DecRef()
	// The test keeps the upper's mount reference, to look at the upper layer.
	return &env{
		Env:   &vfstest.Env{T: t, VFS: vfsObj, Ctx: ctx, Creds: creds, MntNS: mntns, Root: mntns.Root()},
		host:  host,
		upper: upperVD,
	}
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

// hostTree returns what the host directory holds, as tree would describe it, so
// that tests can assert the lower layer never changes.
func hostTree(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		switch m := info.Mode(); {
		case m.IsDir():
			out = append(out, rel+"/")
		case m&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+"="+string(b)+"@"+info.Mode().Perm().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// names lists a directory through the overlay, sorted, without "." and "..".
func (e *env) names(path string) []string {
	e.T.Helper()
	fd, err := e.Open(path, linux.O_RDONLY|linux.O_DIRECTORY, 0)
	if err != nil {
		e.T.Fatalf("open %q: %v", path, err)
	}
	defer fd.DecRef()
	names, err := vfstest.Dirents(e.Ctx, fd)
	if err != nil {
		e.T.Fatalf("getdents %q: %v", path, err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == "." || n == ".." })
	slices.Sort(names)
	if len(names) == 0 {
		return nil
	}
	return names
}

func (e *env) ino(path string) uint64 {
	e.T.Helper()
	st, err := e.Lstat(path)
	if err != nil {
		e.T.Fatalf("stat %q: %v", path, err)
	}
	return st.Ino
}

func (e *env) hostIno(path string) uint64 {
	e.T.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(e.host, path), &st); err != nil {
		e.T.Fatal(err)
	}
	return st.Ino
}

func (e *env) pop(path string) *vfs.PathOperation { return e.PopNoFollow(path) }

var lowerTree = []string{"etc/", "etc/passwd", "etc/hosts", "bin/", "bin/sh", "lib -> bin", "d/", "d/a", "d/b", "d/c", "d/sub/", "d/sub/x", "empty/"}

func TestReadLower(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	e := newEnv(t, host)
	for _, tc := range []struct{ path, want string }{
		{"/etc/passwd", "etc/passwd"},
		{"/lib/sh", "bin/sh"},
		{"/d/sub/../a", "d/a"},
	} {
		if got, err := e.ReadFile(tc.path); err != nil || got != tc.want {
			t.Errorf("read %q: %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	st, err := e.Stat("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := e.Stat("/")
	if st.Ino != e.hostIno("etc/passwd") || st.Mode != linux.S_IFREG|0o644 || st.Size != uint64(len("etc/passwd")) || st.DevMinor != root.DevMinor {
		t.Errorf("stat: %+v", st)
	}
	if target, err := e.VFS.ReadlinkAt(e.Ctx, e.Creds, e.pop("/lib")); err != nil || target != "bin" {
		t.Errorf("readlink: %q, %v", target, err)
	}
	if diff := cmp.Diff([]string{"bin", "d", "empty", "etc", "lib"}, e.names("/")); diff != "" {
		t.Errorf("root listing: -want +got:\n%s", diff)
	}
	sfs, err := e.VFS.StatFSAt(e.Ctx, e.Creds, e.Pop("/"))
	if err != nil || sfs.Type != overlayfsSuperMagic {
		t.Errorf("statfs: %#x, %v", sfs.Type, err)
	}
}

// TestWritesNeverReachHost changes lower files in every way and checks, each time,
// what the overlay shows and that the host directory is exactly as it was.
func TestWritesNeverReachHost(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	before := hostTree(t, host)
	e := newEnv(t, host)
	ino := e.ino("/etc/passwd")
	steps := []struct {
		name  string
		do    func() error
		check func() error
	}{
		{"write", func() error {
			fd, err := e.Open("/etc/passwd", linux.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer fd.DecRef()
			_, err = fd.PWrite(e.Ctx, []byte("ROOT"), 0, vfs.WriteOptions{})
			return err
		}, func() error { return e.expect("/etc/passwd", "ROOTpasswd") }},
		{"append", func() error {
			fd, err := e.Open("/etc/passwd", linux.O_WRONLY|linux.O_APPEND, 0)
			if err != nil {
				return err
			}
			defer fd.DecRef()
			_, err = fd.Write(e.Ctx, []byte("+"), vfs.WriteOptions{})
			return err
		}, func() error { return e.expect("/etc/passwd", "ROOTpasswd+") }},
		{"O_TRUNC", func() error {
			fd, err := e.Open("/etc/hosts", linux.O_WRONLY|linux.O_TRUNC, 0)
			if err == nil {
				fd.DecRef()
			}
			return err
		}, func() error { return e.expect("/etc/hosts", "") }},
		{"truncate", func() error {
			return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/d/a"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE, Size: 1}})
		}, func() error { return e.expect("/d/a", "d") }},
		{"chmod", func() error {
			return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/bin/sh"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o4755}})
		}, func() error { return e.expectMode("/bin/sh", linux.S_IFREG|0o4755) }},
		{"chmod dir", func() error {
			return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/d/sub"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o700}})
		}, func() error { return e.expectMode("/d/sub", linux.S_IFDIR|0o700) }},
		{"chown", func() error {
			return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/d/b"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_UID | linux.STATX_GID, UID: 1000, GID: 1000}})
		}, func() error {
			st, err := e.Stat("/d/b")
			if err != nil || st.UID != 1000 || st.GID != 1000 {
				return errors.New("owner not changed")
			}
			return nil
		}},
		{"utimens", func() error {
			return e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop("/d/c"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MTIME, Mtime: linux.StatxTimestamp{Sec: 42}}})
		}, func() error {
			if st, err := e.Stat("/d/c"); err != nil || st.Mtime.Sec != 42 {
				return errors.New("mtime not changed")
			}
			return nil
		}},
		{"setxattr", func() error {
			return e.VFS.SetXattrAt(e.Ctx, e.Creds, e.Pop("/d/sub/x"), &vfs.SetXattrOptions{Name: "user.k", Value: "v"})
		}, func() error {
			if v, err := e.VFS.GetXattrAt(e.Ctx, e.Creds, e.Pop("/d/sub/x"), &vfs.GetXattrOptions{Name: "user.k"}); err != nil || v != "v" {
				return errors.New("xattr not set")
			}
			return nil
		}},
		{"unlink", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop("/etc/hosts")) }, func() error {
			if _, err := e.Stat("/etc/hosts"); err != linux.ENOENT {
				return errors.New("still there")
			}
			return nil
		}},
		{"symlink replaced", func() error {
			if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop("/lib")); err != nil {
				return err
			}
			return e.Symlink("etc", "/lib")
		}, func() error { return e.expect("/lib/passwd", "ROOTpasswd+") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := s.check(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(before, hostTree(t, host)); diff != "" {
			t.Fatalf("%s changed the host: -before +after:\n%s", s.name, diff)
		}
	}
	if got := e.ino("/etc/passwd"); got != ino {
		t.Errorf("inode number changed by copy-up: %d, was %d", got, ino)
	}
	if got := e.ino("/d/sub"); got != e.hostIno("d/sub") {
		t.Errorf("copied-up directory has inode %d, want the lower %d", got, e.hostIno("d/sub"))
	}
}

func (e *env) expect(path, want string) error {
	got, err := e.ReadFile(path)
	if err != nil {
		return err
	}
	if got != want {
		return errors.New("read " + path + ": " + got + ", want " + want)
	}
	return nil
}

func (e *env) expectMode(path string, want uint16) error {
	st, err := e.Lstat(path)
	if err != nil {
		return err
	}
	if st.Mode != want {
		return errors.New("mode of " + path + " not as expected")
	}
	return nil
}

func TestDeleteAndRecreate(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	before := hostTree(t, host)
	e := newEnv(t, host)
	steps := []struct {
		name  string
		do    func() error
		err   string
		dir   string
		names []string
	}{
		{"unlink lower", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop("/d/a")) }, "", "/d", []string{"b", "c", "sub"}},
		{"unlink again", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop("/d/a")) }, "ENOENT", "/d", []string{"b", "c", "sub"}},
		{"recreate", func() error { return e.WriteFile("/d/a", "new a") }, "", "/d", []string{"a", "b", "c", "sub"}},
		{"unlink recreated", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop("/d/a")) }, "", "/d", []string{"b", "c", "sub"}},
		{"rmdir non-empty", func() error { return e.VFS.RmdirAt(e.Ctx, e.Creds, e.pop("/d/sub")) }, "ENOTEMPTY", "/d/sub", []string{"x"}},
		{"empty it", func() error { return e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop("/d/sub/x")) }, "", "/d/sub", nil},
		{"rmdir emptied", func() error { return e.VFS.RmdirAt(e.Ctx, e.Creds, e.pop("/d/sub")) }, "", "/d", []string{"b", "c"}},
		{"mkdir again: opaque", func() error { return e.Mkdir("/d/sub", 0o755) }, "", "/d/sub", nil},
		{"fill it", func() error { return e.WriteFile("/d/sub/y", "y") }, "", "/d/sub", []string{"y"}},
		{"rmdir lower empty dir", func() error { return e.VFS.RmdirAt(e.Ctx, e.Creds, e.pop("/empty")) }, "", "/", []string{"bin", "d", "etc", "lib"}},
		{"file where a dir was", func() error { return e.WriteFile("/empty", "now a file") }, "", "/", []string{"bin", "d", "empty", "etc", "lib"}},
	}
	for _, s := range steps {
		if got := errOf(s.do()); got != s.err {
			t.Fatalf("%s: error %q, want %q", s.name, got, s.err)
		}
		if diff := cmp.Diff(s.names, e.names(s.dir)); diff != "" {
			t.Errorf("%s: listing of %s: -want +got:\n%s", s.name, s.dir, diff)
		}
	}
	if err := e.expect("/empty", "now a file"); err != nil {
		t.Error(err)
	}
	if diff := cmp.Diff(before, hostTree(t, host)); diff != "" {
		t.Errorf("host changed: -before +after:\n%s", diff)
	}
	// The whiteouts are the upper layer's business: the overlay never shows one.
	st, err := e.VFS.StatAt(e.Ctx, e.Creds, &vfs.PathOperation{Root: e.upper, Start: e.upper, Path: "d/a"}, &vfs.StatOptions{})
	if err != nil || st.Mode&linux.S_IFMT != linux.S_IFCHR {
		t.Errorf("upper d/a: %#o, %v; want a whiteout", st.Mode, err)
	}
	if _, err := e.VFS.GetXattrAt(e.Ctx, e.Creds, e.Pop("/d/sub"), &vfs.GetXattrOptions{Name: opaqueXattr}); err != linux.EOPNOTSUPP {
		t.Errorf("opaque xattr through the overlay: %v, want EOPNOTSUPP", err)
	}
	if names, err := e.VFS.ListXattrAt(e.Ctx, e.Creds, e.Pop("/d/sub"), 0); err != nil || len(names) != 0 {
		t.Errorf("listxattr of an opaque directory: %v, %v", names, err)
	}
}

func TestMergedReaddir(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	e := newEnv(t, host)
	e.MustWriteFile("/d/new", "new")
	if err := e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop("/d/b")); err != nil {
		t.Fatal(err)
	}
	e.MustWriteFile("/d/c", "changed") // copied up
	e.MustMkdirAll("/d/newdir")
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
	err = fd.IterDirents(e.Ctx, vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error {
		got = append(got, ent{d.Name, d.Type, d.Ino})
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(a, b ent) int { return strings.Compare(a.Name, b.Name) })
	want := []ent{
		{".", linux.DT_DIR, e.ino("/d")},
		{"..", linux.DT_DIR, e.ino("/")},
		{"a", linux.DT_REG, e.ino("/d/a")},
		{"c", linux.DT_REG, e.ino("/d/c")},
		{"new", linux.DT_REG, e.ino("/d/new")},
		{"newdir", linux.DT_DIR, e.ino("/d/newdir")},
		{"sub", linux.DT_DIR, e.ino("/d/sub")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listing: -want +got:\n%s", diff)
	}
	if e.ino("/d/c") != e.hostIno("d/c") {
		t.Error("copied-up file lost its inode number")
	}
	if e.ino("/d/new")&(1<<63) == 0 {
		t.Errorf("upper-only file has inode %#x, want bit 63 set", e.ino("/d/new"))
	}
}

func TestRename(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	before := hostTree(t, host)
	e := newEnv(t, host)
	passwdIno := e.ino("/etc/passwd")
	rename := func(from, to string, flags uint32) func() error {
		return func() error {
			return e.VFS.RenameAt(e.Ctx, e.Creds, e.pop(from), e.pop(to), &vfs.RenameOptions{Flags: flags})
		}
	}
	steps := []struct {
		name string
		do   func() error
		err  string
	}{
		{"lower file to new name", rename("/etc/passwd", "/etc/passwd.bak", 0), ""},
		{"lower file over lower file", rename("/d/a", "/d/b", 0), ""},
		{"lower file into another dir", rename("/d/c", "/etc/c", 0), ""},
		{"lower dir", rename("/d/sub", "/d/sub2", 0), "EXDEV"},
		{"new dir", func() error { return e.Mkdir("/nd", 0o755) }, ""},
		{"fill new dir", func() error { return e.WriteFile("/nd/f", "f") }, ""},
		{"upper-only dir", rename("/nd", "/nd2", 0), ""},
		{"upper dir over an empty lower dir", rename("/nd2", "/empty", 0), ""},
		{"noreplace", rename("/etc/passwd.bak", "/etc/c", linux.RENAME_NOREPLACE), "EEXIST"},
		{"exchange files", rename("/etc/passwd.bak", "/etc/c", linux.RENAME_EXCHANGE), ""},
		{"onto a removed name", rename("/etc/c", "/d/a", 0), ""},
	}
	for _, s := range steps {
		if got := errOf(s.do()); got != s.err {
			t.Fatalf("%s: error %q, want %q", s.name, got, s.err)
		}
	}
	for path, want := range map[string]string{
		"/etc/passwd.bak": "d/c",
		"/d/a":            "etc/passwd",
		"/d/b":            "d/a",
		"/empty/f":        "f",
	} {
		if err := e.expect(path, want); err != nil {
			t.Error(err)
		}
	}
	for dir, want := range map[string][]string{
		"/d":     {"a", "b", "sub"},
		"/etc":   {"hosts", "passwd.bak"},
		"/empty": {"f"},
		"/":      {"bin", "d", "empty", "etc", "lib"},
	} {
		if diff := cmp.Diff(want, e.names(dir)); diff != "" {
			t.Errorf("listing of %s: -want +got:\n%s", dir, diff)
		}
	}
	if got := e.ino("/d/a"); got != passwdIno {
		t.Errorf("renamed file has inode %d, was %d", got, passwdIno)
	}
	if diff := cmp.Diff(before, hostTree(t, host)); diff != "" {
		t.Errorf("host changed: -before +after:\n%s", diff)
	}
}

func TestHardLinks(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	before := hostTree(t, host)
	e := newEnv(t, host)
	ino := e.ino("/etc/passwd")
	if err := e.VFS.LinkAt(e.Ctx, e.Creds, e.pop("/etc/passwd"), e.pop("/d/link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/passwd", "/d/link"} {
		st, err := e.Stat(p)
		if err != nil || st.Ino != ino || st.Nlink != 2 {
			t.Errorf("%s: ino %d nlink %d, %v; want ino %d nlink 2", p, st.Ino, st.Nlink, err, ino)
		}
	}
	e.MustWriteFile("/d/link", "via link")
	if err := e.expect("/etc/passwd", "via link"); err != nil {
		t.Error(err)
	}
	if err := e.VFS.LinkAt(e.Ctx, e.Creds, e.pop("/d"), e.pop("/dlink")); err != linux.EPERM {
		t.Errorf("link to a directory: %v, want EPERM", err)
	}
	if diff := cmp.Diff(before, hostTree(t, host)); diff != "" {
		t.Errorf("host changed: -before +after:\n%s", diff)
	}
}

// TestReaderFollowsCopyUp checks that a description opened on the lower file reads
// the copy once the file is copied up, from where it was.
func TestReaderFollowsCopyUp(t *testing.T) {
	host := t.TempDir()
	tree(t, host, "f")
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, host)
	r, err := e.Open("/f", linux.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	buf := make([]byte, 4)
	if n, err := r.Read(e.Ctx, buf, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "0123" {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	w, err := e.Open("/f", linux.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.PWrite(e.Ctx, []byte("ABCDEFGHIJ"), 0, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.DecRef()
	if n, err := r.Read(e.Ctx, buf, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "EFGH" {
		t.Errorf("read after copy-up: %q, %v; want EFGH", buf[:n], err)
	}
	// fchmod through the read-only description copies up too.
	if err := r.SetStat(e.Ctx, vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o600}}); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Stat(e.Ctx, vfs.StatOptions{}); err != nil || st.Mode != linux.S_IFREG|0o600 {
		t.Errorf("fstat: %#o, %v", st.Mode, err)
	}
	// F_SETFL(O_APPEND) on the overlay's description reaches the layer's.
	a, err := e.Open("/f", linux.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.DecRef()
	if err := a.SetStatusFlags(e.Ctx, e.Creds, linux.O_APPEND); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PWrite(e.Ctx, []byte("+"), 0, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.expect("/f", "ABCDEFGHIJ+"); err != nil {
		t.Error(err)
	}
}

func TestPermissions(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	if err := os.Chmod(filepath.Join(host, "d"), 0o777); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, host)
	u := e.As(e.User(1000, 1000))
	if _, err := u.Open("/etc/passwd", linux.O_WRONLY, 0); err != linux.EACCES {
		t.Errorf("write-open root's 0644 file: %v, want EACCES", err)
	}
	if err := u.VFS.SetStatAt(u.Ctx, u.Creds, u.Pop("/etc/passwd"), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o777}}); err != linux.EPERM {
		t.Errorf("chmod root's file: %v, want EPERM", err)
	}
	if err := u.VFS.UnlinkAt(u.Ctx, u.Creds, u.PopNoFollow("/etc/hosts")); err != linux.EACCES {
		t.Errorf("unlink in root's 0755 dir: %v, want EACCES", err)
	}
	if err := u.WriteFile("/d/mine", "x"); err != nil {
		t.Fatal(err)
	}
	st, err := u.Stat("/d/mine")
	if err != nil || st.UID != 1000 || st.GID != 1000 {
		t.Errorf("new file owned by %d:%d, %v; want 1000:1000", st.UID, st.GID, err)
	}
	// Nothing was copied up by the refused changes.
	if _, err := e.VFS.StatAt(e.Ctx, e.Creds, &vfs.PathOperation{Root: e.upper, Start: e.upper, Path: "etc"}, &vfs.StatOptions{}); err != linux.ENOENT {
		t.Errorf("upper etc after refused changes: %v, want ENOENT", err)
	}
}

func TestSpecialFiles(t *testing.T) {
	host := t.TempDir()
	tree(t, host, "dev/")
	if err := unix.Mkfifo(filepath.Join(host, "dev/fifo"), 0o666); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, host)
	r, err := e.Open("/dev/fifo", linux.O_RDONLY|linux.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	w, err := e.Open("/dev/fifo", linux.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.DecRef()
	if _, err := w.Write(e.Ctx, []byte("hi"), vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, err := r.Read(e.Ctx, buf, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "hi" {
		t.Errorf("fifo read: %q, %v", buf[:n], err)
	}
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.pop("/dev/wh"), &vfs.MknodOptions{Mode: linux.S_IFCHR | 0o600}); err != linux.EPERM {
		t.Errorf("mknod c 0 0: %v, want EPERM", err)
	}
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.pop("/dev/null"), &vfs.MknodOptions{Mode: linux.S_IFCHR | 0o666, DevMajor: 1, DevMinor: 3}); err != nil {
		t.Errorf("mknod c 1 3: %v", err)
	}
	if st, err := e.Lstat("/dev/null"); err != nil || st.RdevMajor != 1 || st.RdevMinor != 3 {
		t.Errorf("stat /dev/null: %+v, %v", st, err)
	}
}

// TestConcurrent races copy-ups, creations and removals; run with -race.
func TestConcurrent(t *testing.T) {
	host := t.TempDir()
	tree(t, host, lowerTree...)
	before := hostTree(t, host)
	e := newEnv(t, host)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				name := []string{"/d/a", "/d/b", "/d/sub/x", "/d/sub/y"}[(i+w)%4]
				switch (i * (w + 1)) % 5 {
				case 0:
					_ = e.WriteFile(name, "x")
				case 1:
					_ = e.VFS.UnlinkAt(e.Ctx, e.Creds, e.pop(name))
				case 2:
					_, _ = e.ReadFile(name)
				case 3:
					_ = e.VFS.RenameAt(e.Ctx, e.Creds, e.pop("/d/a"), e.pop("/d/sub/y"), &vfs.RenameOptions{})
				case 4:
					_ = e.VFS.SetStatAt(e.Ctx, e.Creds, e.Pop(name), &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o600}})
				}
			}
		}()
	}
	wg.Wait()
	// The listing and lookups agree.
	for _, dir := range []string{"/d", "/d/sub"} {
		for _, n := range e.names(dir) {
			if _, err := e.Lstat(dir + "/" + n); err != nil {
				t.Errorf("%s/%s listed but: %v", dir, n, err)
			}
		}
	}
	if diff := cmp.Diff(before, hostTree(t, host)); diff != "" {
		t.Errorf("host changed: -before +after:\n%s", diff)
	}
}
