package fsgofer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
)

// served is a Client connected in-process to a Gofer serving a directory.
type served struct {
	*lisafs.Client
	root lisafs.FDID
	dir  string
	// done reports Serve's result once the client hangs up.
	done chan error
}

func serve(t testing.TB, dir string, opts Options) *served {
	t.Helper()
	g, err := New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	cfd, sfd, err := lisafs.SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	s := &served{dir: dir, done: make(chan error, 1)}
	go func() { s.done <- g.Serve(sfd) }()
	s.Client, err = lisafs.NewClient(cfd, lisafs.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if err := <-s.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		g.Close()
	})
	root, err := s.Mount()
	if err != nil {
		t.Fatal(err)
	}
	s.root = root.FD
	return s
}

// tree makes files under dir: a name ending in "/" is a directory, "name -> target"
// a symlink, anything else a file holding its own name.
func tree(t testing.TB, dir string, entries ...string) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(dir, e)
		var err error
		switch {
		case strings.Contains(e, " -> "):
			name, target, _ := strings.Cut(e, " -> ")
			err = os.Symlink(target, filepath.Join(dir, name))
		case strings.HasSuffix(e, "/"):
			err = os.MkdirAll(p, 0o755)
		default:
			err = os.WriteFile(p, []byte(e), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// hostStat is what Stat must say about path, from the host's lstat.
func hostStat(t testing.TB, path string) linux.Statx {
	t.Helper()
	var s unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &s); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	st, err := statFD(fd)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// statFields compares the attributes that identify a file and do not change when
// merely looked at.
var statFields = cmp.Options{
	cmp.AllowUnexported(linux.Statx{}, linux.StatxTimestamp{}),
	cmp.FilterPath(func(p cmp.Path) bool {
		f := p.Last().String()
		return f == ".Atime" || f == ".Btime"
	}, cmp.Ignore()),
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func TestWalkStat(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "a/b/", "a/b/c", "a/f", "a/l -> b/c")
	s := serve(t, dir, Options{})
	tests := []struct {
		names      []string
		wantStatus lisafs.WalkStatus
		wantPaths  []string
		wantErr    error
	}{
		{names: []string{"a"}, wantPaths: []string{"a"}},
		{names: []string{"a", "b", "c"}, wantPaths: []string{"a", "a/b", "a/b/c"}},
		{names: []string{"a", "l"}, wantPaths: []string{"a", "a/l"}},
		{names: []string{"a", "missing", "c"}, wantStatus: lisafs.WalkComponentMissing, wantPaths: []string{"a"}},
		{names: []string{"missing"}, wantStatus: lisafs.WalkComponentMissing},
		{names: []string{"a", "l", "x"}, wantStatus: lisafs.WalkComponentSymlink, wantPaths: []string{"a", "a/l"}},
		{names: []string{"a", "b", "c", "x"}, wantErr: linux.ENOTDIR},
	}
	for _, tc := range tests {
		status, inodes, err := s.Walk(s.root, tc.names)
		if tc.wantErr != nil {
			wantErr(t, fmt.Sprintf("Walk(%q)", tc.names), err, tc.wantErr)
			continue
		}
		if err != nil {
			t.Errorf("Walk(%q): %v", tc.names, err)
			continue
		}
		if status != tc.wantStatus {
			t.Errorf("Walk(%q) status %v, want %v", tc.names, status, tc.wantStatus)
		}
		var got, want []linux.Statx
		for _, in := range inodes {
			got = append(got, in.Stat)
			st, err := s.Stat(in.FD)
			if err != nil {
				t.Errorf("Stat of walked %q: %v", tc.names, err)
			}
			got = append(got, st)
		}
		for _, p := range tc.wantPaths {
			st := hostStat(t, filepath.Join(dir, p))
			want = append(want, st, st)
		}
		if diff := cmp.Diff(want, got, statFields); diff != "" {
			t.Errorf("Walk(%q) stats (-want +got):\n%s", tc.names, diff)
		}
		for _, in := range inodes {
			s.CloseFDs(in.FD)
		}
	}
}

// TestSymlinksNotFollowed: symlinks pointing out of the tree come back as symlinks,
// whatever the client then does with them.
func TestSymlinksNotFollowed(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	tree(t, outside, "secret")
	targets := []string{"/etc", "/etc/passwd", "../../..", "..", "/", outside, outside + "/secret",
		"sub/../../..", "/proc/self/root", "/proc/self/fd/0"}
	for i, target := range targets {
		tree(t, dir, fmt.Sprintf("l%d -> %s", i, target))
	}
	s := serve(t, dir, Options{})
	for i, target := range targets {
		name := fmt.Sprintf("l%d", i)
		status, inodes, err := s.Walk(s.root, []string{name, "passwd"})
		if err != nil || status != lisafs.WalkComponentSymlink || len(inodes) != 1 {
			t.Errorf("Walk(%s -> %s, passwd) = %v, %d inodes, %v; want the symlink alone", name, target, status, len(inodes), err)
			continue
		}
		l := inodes[0]
		if diff := cmp.Diff(hostStat(t, filepath.Join(dir, name)), l.Stat, statFields); diff != "" {
			t.Errorf("%s -> %s: stat is not the symlink's (-want +got):\n%s", name, target, diff)
		}
		if got, err := s.Readlink(l.FD); err != nil || got != target {
			t.Errorf("Readlink(%s) = %q, %v; want %q", name, got, err, target)
		}
		_, _, err = s.Open(l.FD, linux.O_RDONLY)
		wantErr(t, "Open of symlink "+name, err, linux.ELOOP)
		_, err = s.GetXattr(l.FD, "user.x")
		wantErr(t, "GetXattr of symlink "+name, err, linux.EOPNOTSUPP)
		err = s.SetStat(l.FD, lisafs.SetStatRequest{Mask: linux.STATX_MODE, Mode: 0o777})
		wantErr(t, "chmod of symlink "+name, err, linux.EOPNOTSUPP)
		// A hard link to the symlink is a symlink too, not the target.
		h, err := s.Link(s.root, "h"+name, l.FD)
		if err != nil || h.Stat.Mode&linux.S_IFMT != linux.S_IFLNK {
			t.Errorf("Link(%s) = mode %o, %v; want a symlink", name, h.Stat.Mode, err)
		}
		// Walking into the symlink as if it were a directory fails.
		_, _, err = s.Walk(l.FD, []string{"passwd"})
		wantErr(t, "Walk from symlink "+name, err, linux.ENOTDIR)
		s.CloseFDs(l.FD, h.FD)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "secret" {
		t.Errorf("outside file changed: %q, %v", b, err)
	}
}

func TestBadNames(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "d/", "d/f")
	s := serve(t, dir, Options{})
	long := strings.Repeat("x", linux.NAME_MAX+1)
	tests := []struct {
		name string
		want linux.Errno
	}{
		{"", linux.EINVAL},
		{".", linux.EINVAL},
		{"..", linux.EINVAL},
		{"d/f", linux.EINVAL},
		{"/d", linux.EINVAL},
		{"d\x00", linux.EINVAL},
		{long, linux.ENAMETOOLONG},
	}
	for _, tc := range tests {
		ops := map[string]error{}
		_, _, ops["Walk"] = s.Walk(s.root, []string{tc.name})
		_, _, ops["Walk after a good name"] = s.Walk(s.root, []string{"d", tc.name})
		_, ops["Mkdir"] = s.Mkdir(s.root, tc.name, 0o755, lisafs.NoID, lisafs.NoID)
		_, ops["Mknod"] = s.Mknod(s.root, tc.name, linux.S_IFREG|0o644, lisafs.NoID, lisafs.NoID)
		_, ops["Symlink"] = s.Symlink(s.root, tc.name, "x", lisafs.NoID, lisafs.NoID)
		_, _, _, ops["OpenCreate"] = s.OpenCreate(s.root, tc.name, 0o644, lisafs.NoID, lisafs.NoID, linux.O_RDWR)
		ops["UnlinkAt"] = s.UnlinkAt(s.root, tc.name, 0)
		ops["RenameAt from"] = s.RenameAt(s.root, tc.name, s.root, "new", 0)
		ops["RenameAt to"] = s.RenameAt(s.root, "d", s.root, tc.name, 0)
		for op, err := range ops {
			wantErr(t, fmt.Sprintf("%s(%q)", op, tc.name), err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "d", "f")); err != nil {
		t.Errorf("tree changed: %v", err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f", "d/")
	s := serve(t, dir, Options{})
	_, inodes, err := s.Walk(s.root, []string{"f"})
	if err != nil {
		t.Fatal(err)
	}
	f := inodes[0].FD

	ofd, hostFD, err := s.Open(f, linux.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	file := os.NewFile(uintptr(hostFD), "donated")
	if b, err := readAll(file); err != nil || string(b) != "f" {
		t.Errorf("donated FD reads %q, %v; want %q", b, err, "f")
	}
	file.Close()
	if err := s.FSync(ofd); err != nil {
		t.Errorf("FSync: %v", err)
	}

	_, hostFD, err = s.Open(f, linux.O_RDWR|linux.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	file = os.NewFile(uintptr(hostFD), "donated")
	if _, err := file.WriteString("written"); err != nil {
		t.Error(err)
	}
	file.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "written" {
		t.Errorf("file holds %q after write through donated FD", b)
	}

	// A directory opens for Getdents64 but no host FD is donated.
	_, inodes, _ = s.Walk(s.root, []string{"d"})
	_, hostFD, err = s.Open(inodes[0].FD, linux.O_RDONLY)
	if err != nil || hostFD != -1 {
		t.Errorf("Open(dir) = host FD %d, %v; want -1, nil", hostFD, err)
	}
	_, _, err = s.Open(inodes[0].FD, linux.O_RDWR)
	wantErr(t, "Open(dir, O_RDWR)", err, linux.EISDIR)
	_, _, err = s.Open(f, linux.O_RDONLY|linux.O_DIRECTORY)
	wantErr(t, "Open(file, O_DIRECTORY)", err, linux.ENOTDIR)
	_, _, err = s.Open(f, linux.O_RDONLY|linux.O_CREAT)
	wantErr(t, "Open(O_CREAT)", err, linux.EINVAL)
	_, _, err = s.Open(f, linux.O_PATH)
	wantErr(t, "Open(O_PATH)", err, linux.EINVAL)
	_, _, err = s.Open(12345, linux.O_RDONLY)
	wantErr(t, "Open(bad FD ID)", err, linux.EBADF)
}

func readAll(f *os.File) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(f)
	return buf.Bytes(), err
}

func TestDevicesNeverOpened(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	s := serve(t, dir, Options{})
	_, inodes, err := s.Walk(s.root, []string{"null"})
	if err != nil {
		t.Fatal(err)
	}
	if inodes[0].Stat.Mode&linux.S_IFMT != linux.S_IFCHR {
		t.Errorf("null has mode %o", inodes[0].Stat.Mode)
	}
	_, _, err = s.Open(inodes[0].FD, linux.O_RDONLY)
	wantErr(t, "Open(char device)", err, linux.EPERM)
	_, err = s.Mknod(s.root, "zero", linux.S_IFCHR|0o666, lisafs.NoID, lisafs.NoID)
	wantErr(t, "Mknod(char device)", err, linux.EPERM)
	_, err = s.Mknod(s.root, "blk", linux.S_IFBLK|0o666, lisafs.NoID, lisafs.NoID)
	wantErr(t, "Mknod(block device)", err, linux.EPERM)
}

func TestCreateAndChange(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "d/", "d/f", "e/", "x")
	s := serve(t, dir, Options{})
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())

	kind := func(name string) string {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			return "missing"
		}
		return fmt.Sprintf("%v", fi.Mode())
	}
	tests := []struct {
		name string
		op   func() error
		path string
		want string
	}{
		{"Mkdir", func() error { _, err := s.Mkdir(s.root, "m", 0o750, uid, gid); return err }, "m", "drwxr-x---"},
		{"Mkdir exists", func() error { _, err := s.Mkdir(s.root, "d", 0o750, uid, gid); return err }, "d", "drwxr-xr-x"},
		{"Mknod reg", func() error { _, err := s.Mknod(s.root, "r", linux.S_IFREG|0o600, uid, gid); return err }, "r", "-rw-------"},
		{"Mknod fifo", func() error { _, err := s.Mknod(s.root, "p", linux.S_IFIFO|0o644, uid, gid); return err }, "p", "prw-r--r--"},
		{"Mknod socket", func() error { _, err := s.Mknod(s.root, "s", linux.S_IFSOCK|0o644, uid, gid); return err }, "s", "Srw-r--r--"},
		{"Symlink", func() error { _, err := s.Symlink(s.root, "l", "/etc/passwd", uid, gid); return err }, "l", "Lrwxrwxrwx"},
		{"UnlinkAt file", func() error { return s.UnlinkAt(s.root, "x", 0) }, "x", "missing"},
		{"UnlinkAt dir", func() error { return s.UnlinkAt(s.root, "e", linux.AT_REMOVEDIR) }, "e", "missing"},
		{"RenameAt", func() error { return s.RenameAt(s.root, "m", s.root, "m2", 0) }, "m2", "drwxr-x---"},
	}
	for _, tc := range tests {
		err := tc.op()
		if tc.name == "Mkdir exists" {
			wantErr(t, tc.name, err, linux.EEXIST)
		} else if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got := kind(tc.path); got != tc.want {
			t.Errorf("%s: %s is %s, want %s", tc.name, tc.path, got, tc.want)
		}
	}

	wantErr(t, "UnlinkAt(dir) without AT_REMOVEDIR", s.UnlinkAt(s.root, "d", 0), linux.EISDIR)
	wantErr(t, "UnlinkAt(non-empty)", s.UnlinkAt(s.root, "d", linux.AT_REMOVEDIR), linux.ENOTEMPTY)
	wantErr(t, "RenameAt NOREPLACE", s.RenameAt(s.root, "r", s.root, "p", linux.RENAME_NOREPLACE), linux.EEXIST)
	wantErr(t, "Symlink to nothing", func() error { _, err := s.Symlink(s.root, "e", "", uid, gid); return err }(), linux.ENOENT)

	// Link, and the link count it raises.
	_, inodes, _ := s.Walk(s.root, []string{"d", "f"})
	dirD, f := inodes[0].FD, inodes[1].FD
	h, err := s.Link(s.root, "hard", f)
	if err != nil || h.Stat.Nlink != 2 || h.Stat.Ino != inodes[1].Stat.Ino {
		t.Errorf("Link = nlink %d ino %d, %v; want 2, %d", h.Stat.Nlink, h.Stat.Ino, err, inodes[1].Stat.Ino)
	}
	_, err = s.Link(s.root, "hard-dir", dirD)
	wantErr(t, "Link(dir)", err, linux.EPERM)

	// RenameAt across directories, then the old name is gone.
	if err := s.RenameAt(dirD, "f", s.root, "moved", 0); err != nil {
		t.Errorf("RenameAt across dirs: %v", err)
	}
	if kind("moved") != "-rw-r--r--" || kind("d/f") != "missing" {
		t.Errorf("after rename: moved %s, d/f %s", kind("moved"), kind("d/f"))
	}

	// OpenCreate: exclusive, with the exact mode asked (no umask), writable.
	in, ofd, hostFD, err := s.OpenCreate(dirD, "new", 0o640, uid, gid, linux.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	if in.Stat.Mode != linux.S_IFREG|0o640 || in.Stat.UID != uid {
		t.Errorf("OpenCreate: mode %o uid %d, want %o %d", in.Stat.Mode, in.Stat.UID, linux.S_IFREG|0o640, uid)
	}
	file := os.NewFile(uintptr(hostFD), "created")
	file.WriteString("hello")
	file.Close()
	if err := s.FSync(ofd); err != nil {
		t.Errorf("FSync: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d", "new")); string(b) != "hello" {
		t.Errorf("created file holds %q", b)
	}
	_, _, _, err = s.OpenCreate(dirD, "new", 0o640, uid, gid, linux.O_RDWR)
	wantErr(t, "OpenCreate(existing)", err, linux.EEXIST)
	_, _, _, err = s.OpenCreate(in.FD, "x", 0o640, uid, gid, linux.O_RDWR)
	wantErr(t, "OpenCreate in a file", err, linux.ENOTDIR)
}

func TestChown(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	s := serve(t, dir, Options{})
	in, err := s.Mkdir(s.root, "d", 0o755, 1234, 5678)
	if err != nil || in.Stat.UID != 1234 || in.Stat.GID != 5678 {
		t.Errorf("Mkdir owner %d:%d, %v; want 1234:5678", in.Stat.UID, in.Stat.GID, err)
	}
	l, err := s.Symlink(s.root, "l", "/x", 4321, 8765)
	if err != nil || l.Stat.UID != 4321 || l.Stat.GID != 8765 {
		t.Errorf("Symlink owner %d:%d, %v; want 4321:8765", l.Stat.UID, l.Stat.GID, err)
	}
	if err := s.SetStat(in.FD, lisafs.SetStatRequest{Mask: linux.STATX_UID, UID: 42}); err != nil {
		t.Error(err)
	}
	st, _ := s.Stat(in.FD)
	if st.UID != 42 || st.GID != 5678 {
		t.Errorf("after SetStat(uid 42): %d:%d", st.UID, st.GID)
	}
}

func TestSetStat(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	s := serve(t, dir, Options{})
	_, inodes, _ := s.Walk(s.root, []string{"f"})
	f := inodes[0].FD
	ts := func(sec int64, nsec uint32) linux.StatxTimestamp { return linux.StatxTimestamp{Sec: sec, Nsec: nsec} }

	tests := []struct {
		name  string
		req   lisafs.SetStatRequest
		check func(before, after linux.Statx) string
	}{
		{"mode", lisafs.SetStatRequest{Mask: linux.STATX_MODE, Mode: 0o4711}, func(_, a linux.Statx) string {
			return cmp.Diff(uint16(linux.S_IFREG|0o4711), a.Mode)
		}},
		{"size grow", lisafs.SetStatRequest{Mask: linux.STATX_SIZE, Size: 1000}, func(_, a linux.Statx) string {
			return cmp.Diff(uint64(1000), a.Size)
		}},
		{"size shrink", lisafs.SetStatRequest{Mask: linux.STATX_SIZE, Size: 3}, func(_, a linux.Statx) string {
			return cmp.Diff(uint64(3), a.Size)
		}},
		{"both times", lisafs.SetStatRequest{Mask: linux.STATX_ATIME | linux.STATX_MTIME, Atime: ts(1000, 5), Mtime: ts(2000, 123456789)},
			func(_, a linux.Statx) string {
				return cmp.Diff([]linux.StatxTimestamp{ts(1000, 5), ts(2000, 123456789)}, []linux.StatxTimestamp{a.Atime, a.Mtime}, statFields)
			}},
		{"mtime omitted", lisafs.SetStatRequest{Mask: linux.STATX_ATIME | linux.STATX_MTIME, Atime: ts(3000, 0), Mtime: ts(9, linux.UTIME_OMIT)},
			func(b, a linux.Statx) string {
				return cmp.Diff([]linux.StatxTimestamp{ts(3000, 0), b.Mtime}, []linux.StatxTimestamp{a.Atime, a.Mtime}, statFields)
			}},
		{"mtime now", lisafs.SetStatRequest{Mask: linux.STATX_MTIME, Mtime: ts(0, linux.UTIME_NOW)},
			func(b, a linux.Statx) string {
				if d := time.Since(time.Unix(a.Mtime.Sec, int64(a.Mtime.Nsec))); d < 0 || d > time.Minute {
					return fmt.Sprintf("mtime %v ago", d)
				}
				return cmp.Diff(b.Atime, a.Atime, statFields)
			}},
	}
	for _, tc := range tests {
		before, _ := s.Stat(f)
		if err := s.SetStat(f, tc.req); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		after, err := s.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if diff := tc.check(before, after); diff != "" {
			t.Errorf("%s: %s", tc.name, diff)
		}
	}
	wantErr(t, "SetStat(unknown mask)", s.SetStat(f, lisafs.SetStatRequest{Mask: linux.STATX_INO}), linux.EINVAL)
	wantErr(t, "SetStat(size of dir)", s.SetStat(s.root, lisafs.SetStatRequest{Mask: linux.STATX_SIZE}), linux.EISDIR)
}

func TestGetdents(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 200 {
		name := fmt.Sprintf("file-with-a-longish-name-%03d", i)
		tree(t, dir, name)
		want = append(want, name)
	}
	tree(t, dir, "sub/", "link -> /etc")
	want = append(want, "sub", "link")
	slices.Sort(want)
	s := serve(t, dir, Options{})
	ofd, _, err := s.Open(s.root, linux.O_RDONLY|linux.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	// Small batches, each resumed from the last entry's cookie.
	var all []lisafs.Dirent
	var off int64
	for {
		dents, err := s.Getdents64(ofd, off, 512)
		if err != nil {
			t.Fatal(err)
		}
		if len(dents) == 0 {
			break
		}
		all = append(all, dents...)
		off = dents[len(dents)-1].Off
	}
	var names []string
	types := map[string]uint8{}
	for _, d := range all {
		names = append(names, d.Name)
		types[d.Name] = d.Type
	}
	slices.Sort(names)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	wantTypes := map[string]uint8{"sub": linux.DT_DIR, "link": linux.DT_LNK, want[0]: linux.DT_REG}
	for name, typ := range wantTypes {
		if types[name] != typ {
			t.Errorf("%s has type %d, want %d", name, types[name], typ)
		}
	}
	// Resuming from an earlier cookie gives the same entries again; 0 rewinds.
	mid := len(all) / 2
	again, err := s.Getdents64(ofd, all[mid-1].Off, lisafs.MaxGetdentsSize)
	if err != nil || len(again) == 0 || again[0].Name != all[mid].Name {
		t.Errorf("resume from entry %d: %v, %v; want to start at %q", mid, again, err, all[mid].Name)
	}
	first, err := s.Getdents64(ofd, 0, lisafs.MaxGetdentsSize)
	if err != nil || len(first) == 0 || first[0].Name != all[0].Name {
		t.Errorf("rewind: first entry %v, %v; want %q", first, err, all[0].Name)
	}
	// A control FD is not an open directory.
	_, err = s.Getdents64(s.root, 0, 512)
	wantErr(t, "Getdents64(control FD)", err, linux.EBADF)
}

func TestStatFS(t *testing.T) {
	dir := t.TempDir()
	s := serve(t, dir, Options{})
	got, err := s.StatFS(s.root)
	if err != nil {
		t.Fatal(err)
	}
	var want unix.Statfs_t
	unix.Statfs(dir, &want)
	if got.Type != uint64(want.Type) || got.BlockSize != want.Bsize || got.NameLength != uint64(want.Namelen) {
		t.Errorf("StatFS = %+v, host says %+v", got, want)
	}
}

func TestXattr(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	if err := unix.Setxattr(filepath.Join(dir, "f"), "user.probe", []byte("1"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	unix.Removexattr(filepath.Join(dir, "f"), "user.probe")
	s := serve(t, dir, Options{})
	_, inodes, _ := s.Walk(s.root, []string{"f"})
	f := inodes[0].FD
	for _, fd := range []lisafs.FDID{f, s.root} {
		if err := s.SetXattr(fd, "user.a", []byte("value\x00bytes"), linux.XATTR_CREATE); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "SetXattr(XATTR_CREATE) again", s.SetXattr(fd, "user.a", nil, linux.XATTR_CREATE), linux.EEXIST)
		if err := s.SetXattr(fd, "user.b", nil, 0); err != nil {
			t.Fatal(err)
		}
		if v, err := s.GetXattr(fd, "user.a"); err != nil || string(v) != "value\x00bytes" {
			t.Errorf("GetXattr = %q, %v", v, err)
		}
		names, err := s.ListXattr(fd)
		slices.Sort(names)
		if diff := cmp.Diff([]string{"user.a", "user.b"}, names); err != nil || diff != "" {
			t.Errorf("ListXattr: %v (-want +got):\n%s", err, diff)
		}
		if err := s.RemoveXattr(fd, "user.a"); err != nil {
			t.Error(err)
		}
		_, err = s.GetXattr(fd, "user.a")
		wantErr(t, "GetXattr(removed)", err, linux.ENODATA)
	}
	for _, name := range []string{"trusted.a", "security.capability", "system.posix_acl_access", "user."} {
		wantErr(t, "SetXattr("+name+")", s.SetXattr(f, name, []byte("x"), 0), linux.EOPNOTSUPP)
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "d/", "d/f")
	s := serve(t, dir, Options{ReadOnly: true})
	_, inodes, err := s.Walk(s.root, []string{"d", "f"})
	if err != nil {
		t.Fatal(err)
	}
	d, f := inodes[0].FD, inodes[1].FD
	mutations := map[string]func() error{
		"Mkdir":   func() error { _, err := s.Mkdir(d, "x", 0o755, lisafs.NoID, lisafs.NoID); return err },
		"Mknod":   func() error { _, err := s.Mknod(d, "x", linux.S_IFIFO|0o644, lisafs.NoID, lisafs.NoID); return err },
		"Symlink": func() error { _, err := s.Symlink(d, "x", "y", lisafs.NoID, lisafs.NoID); return err },
		"Link":    func() error { _, err := s.Link(d, "x", f); return err },
		"OpenCreate": func() error {
			_, _, _, err := s.OpenCreate(d, "x", 0o644, lisafs.NoID, lisafs.NoID, linux.O_RDONLY)
			return err
		},
		"UnlinkAt":     func() error { return s.UnlinkAt(d, "f", 0) },
		"RenameAt":     func() error { return s.RenameAt(d, "f", d, "g", 0) },
		"SetStat":      func() error { return s.SetStat(f, lisafs.SetStatRequest{Mask: linux.STATX_SIZE}) },
		"SetXattr":     func() error { return s.SetXattr(f, "user.x", nil, 0) },
		"RemoveXattr":  func() error { return s.RemoveXattr(f, "user.x") },
		"Open(WRONLY)": func() error { _, _, err := s.Open(f, linux.O_WRONLY); return err },
		"Open(RDWR)":   func() error { _, _, err := s.Open(f, linux.O_RDWR); return err },
		"Open(TRUNC)":  func() error { _, _, err := s.Open(f, linux.O_RDONLY|linux.O_TRUNC); return err },
	}
	for name, op := range mutations {
		wantErr(t, name, op(), linux.EROFS)
	}
	_, hostFD, err := s.Open(f, linux.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(hostFD)
	fl, err := unix.FcntlInt(uintptr(hostFD), unix.F_GETFL, 0)
	if err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY {
		t.Errorf("donated FD flags %#o, %v; want O_RDONLY", fl, err)
	}
	if _, err := unix.Write(hostFD, []byte("x")); err != unix.EBADF {
		t.Errorf("write to donated FD: %v, want EBADF", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d", "f")); string(b) != "d/f" {
		t.Errorf("file changed: %q", b)
	}
}

func TestConcurrent(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "a/", "a/b/")
	for i := range 8 {
		tree(t, dir, fmt.Sprintf("a/b/f%d", i))
	}
	s := serve(t, dir, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("f%d", g)
			for range 200 {
				_, inodes, err := s.Walk(s.root, []string{"a", "b", name})
				if err != nil || len(inodes) != 3 {
					errs <- fmt.Errorf("goroutine %d: Walk: %d inodes, %v", g, len(inodes), err)
					return
				}
				ofd, hostFD, err := s.Open(inodes[2].FD, linux.O_RDONLY)
				if err != nil {
					errs <- fmt.Errorf("goroutine %d: Open: %w", g, err)
					return
				}
				buf := make([]byte, 16)
				n, _ := unix.Read(hostFD, buf)
				unix.Close(hostFD)
				if got := string(buf[:n]); got != "a/b/"+name {
					errs <- fmt.Errorf("goroutine %d read %q", g, got)
					return
				}
				if err := s.CloseFDs(ofd, inodes[0].FD, inodes[1].FD, inodes[2].FD); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCloseFDs: a closed FD ID is gone, and the others are not.
func TestCloseFDs(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f")
	s := serve(t, dir, Options{})
	_, inodes, _ := s.Walk(s.root, []string{"f"})
	if err := s.CloseFDs(inodes[0].FD, 999999); err != nil {
		t.Fatal(err)
	}
	_, err := s.Stat(inodes[0].FD)
	wantErr(t, "Stat(closed)", err, linux.EBADF)
	if _, err := s.Stat(s.root); err != nil {
		t.Errorf("Stat(root): %v", err)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestHangupFreesFDs: when the client hangs up, every host FD the server held for
// it is closed.
func TestHangupFreesFDs(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "d/", "d/f", "p")
	g, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	run := func(work bool) {
		cfd, sfd, err := lisafs.SocketPair()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- g.Serve(sfd) }()
		c, err := lisafs.NewClient(cfd, lisafs.ClientOptions{Channels: 4})
		if err != nil {
			t.Fatal(err)
		}
		root, _ := c.Mount()
		for i := 0; work && i < 50; i++ {
			_, inodes, err := c.Walk(root.FD, []string{"d", "f"})
			if err != nil {
				t.Fatal(err)
			}
			_, hostFD, err := c.Open(inodes[1].FD, linux.O_RDONLY)
			if err != nil {
				t.Fatal(err)
			}
			unix.Close(hostFD)
			if _, _, err := c.Open(inodes[0].FD, linux.O_RDONLY); err != nil {
				t.Fatal(err)
			}
			c.Mkdir(inodes[0].FD, fmt.Sprintf("m%d", i), 0o755, lisafs.NoID, lisafs.NoID)
		}
		c.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	run(false) // let the runtime open whatever it opens once
	before := openFDs(t)
	run(true)
	if after := openFDs(t); after != before {
		t.Errorf("%d FDs open before the connection, %d after", before, after)
	}
}

// TestMalformed: a raw client that breaks the protocol gets hung up on; the server
// neither panics nor keeps serving it.
func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	hdr := func(size uint32, id uint16) []byte {
		return []byte{byte(size), byte(size >> 8), byte(size >> 16), byte(size >> 24), byte(id), byte(id >> 8)}
	}
	withPayload := func(id uint16, payload ...byte) []byte {
		return append(hdr(uint32(len(payload)), id), payload...)
	}
	tests := []struct {
		name string
		msg  []byte
		fds  bool
	}{
		{"short header", []byte{1, 0, 0}, false},
		{"size larger than message", hdr(100, uint16(lisafs.MsgStat)), false},
		{"size smaller than message", append(hdr(0, uint16(lisafs.MsgMount)), 1, 2, 3), false},
		{"unknown message", withPayload(0x7777), false},
		{"error message as request", withPayload(uint16(lisafs.MsgError), 2, 0, 0, 0), false},
		{"truncated stat", withPayload(uint16(lisafs.MsgStat), 1, 0, 0), false},
		{"walk count lies", withPayload(uint16(lisafs.MsgWalk), 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f), false},
		{"string length lies", withPayload(uint16(lisafs.MsgUnlinkAt), 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff), false},
		{"trailing bytes", withPayload(uint16(lisafs.MsgMount), 0), false},
		{"request with FDs", withPayload(uint16(lisafs.MsgMount)), true},
		{"oversized", make([]byte, lisafs.MaxMessageSize+1), false},
	}
	g, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfd, sfd, err := lisafs.SocketPair()
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(cfd)
			done := make(chan error, 1)
			go func() { done <- g.Serve(sfd) }()
			var oob []byte
			if tc.fds {
				oob = unix.UnixRights(0)
			}
			if err := unix.Sendmsg(cfd, tc.msg, oob, nil, 0); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Error("Serve returned nil for a malformed message")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server still serving after a malformed message")
			}
			buf := make([]byte, 64)
			if n, _, _, _, err := unix.Recvmsg(cfd, buf, nil, 0); n != 0 || err != nil {
				t.Errorf("after hangup: read %d bytes, %v; want EOF", n, err)
			}
		})
	}
}

// TestHangupEndsClient: calls after the client closed fail with ErrClosed.
func TestClientClosed(t *testing.T) {
	s := serve(t, t.TempDir(), Options{})
	s.Close()
	_, err := s.Stat(s.root)
	wantErr(t, "Stat after Close", err, lisafs.ErrClosed)
}

func BenchmarkWalkStat(b *testing.B) {
	dir := b.TempDir()
	tree(b, dir, "a/", "a/f")
	s := serve(b, dir, Options{})
	var fds []lisafs.FDID
	for b.Loop() {
		_, inodes, err := s.Walk(s.root, []string{"a", "f"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Stat(inodes[1].FD); err != nil {
			b.Fatal(err)
		}
		fds = append(fds, inodes[0].FD, inodes[1].FD)
		if len(fds) >= lisafs.MaxCloseBatch {
			s.CloseFDs(fds...)
			fds = fds[:0]
		}
	}
}

func BenchmarkStat(b *testing.B) {
	s := serve(b, b.TempDir(), Options{})
	for b.Loop() {
		if _, err := s.Stat(s.root); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	tree(b, dir, "f")
	s := serve(b, dir, Options{})
	_, inodes, err := s.Walk(s.root, []string{"f"})
	if err != nil {
		b.Fatal(err)
	}
	var fds []lisafs.FDID
	for b.Loop() {
		ofd, hostFD, err := s.Open(inodes[0].FD, linux.O_RDONLY)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(hostFD)
		fds = append(fds, ofd)
		if len(fds) >= lisafs.MaxCloseBatch {
			s.CloseFDs(fds...)
			fds = fds[:0]
		}
	}
}

func BenchmarkParallelStat(b *testing.B) {
	s := serve(b, b.TempDir(), Options{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Stat(s.root); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestFileRoot: a Gofer serving a single regular file (a bind mount of a file) serves
// that file as its root, and nothing beside or beneath it.
func TestFileRoot(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "f", "other", "link -> f")
	path := filepath.Join(dir, "f")
	s := serve(t, path, Options{})

	st, err := s.Stat(s.root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hostStat(t, path), st, statFields); diff != "" {
		t.Errorf("Stat of the root (-want +got):\n%s", diff)
	}
	// Nothing is reached from a file: every operation that names a child fails.
	dirOps := map[string]func() error{
		"Walk":     func() error { _, _, err := s.Walk(s.root, []string{"other"}); return err },
		"Walk(..)": func() error { _, _, err := s.Walk(s.root, []string{".."}); return err },
		"Mkdir":    func() error { _, err := s.Mkdir(s.root, "x", 0o755, lisafs.NoID, lisafs.NoID); return err },
		"Mknod": func() error {
			_, err := s.Mknod(s.root, "x", linux.S_IFREG|0o644, lisafs.NoID, lisafs.NoID)
			return err
		},
		"Symlink":           func() error { _, err := s.Symlink(s.root, "x", "y", lisafs.NoID, lisafs.NoID); return err },
		"Link":              func() error { _, err := s.Link(s.root, "x", s.root); return err },
		"UnlinkAt":          func() error { return s.UnlinkAt(s.root, "x", 0) },
		"RenameAt":          func() error { return s.RenameAt(s.root, "x", s.root, "y", 0) },
		"Open(O_DIRECTORY)": func() error { _, _, err := s.Open(s.root, linux.O_RDONLY|linux.O_DIRECTORY); return err },
		"OpenCreate": func() error {
			_, _, _, err := s.OpenCreate(s.root, "x", 0o644, lisafs.NoID, lisafs.NoID, linux.O_RDWR)
			return err
		},
	}
	for name, op := range dirOps {
		err := op()
		// Walk(..) is refused as a bad name before the file type is looked at.
		want := linux.ENOTDIR
		if name == "Walk(..)" {
			want = linux.EINVAL
		}
		wantErr(t, name+" from a file root", err, want)
	}

	// Reads and writes go to the host file.
	_, hostFD, err := s.Open(s.root, linux.O_RDWR|linux.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	file := os.NewFile(uintptr(hostFD), "donated")
	if _, err := file.WriteString("+more"); err != nil {
		t.Error(err)
	}
	file.Close()
	if b, _ := os.ReadFile(path); string(b) != "f+more" {
		t.Errorf("host file holds %q after an append through the root, want %q", b, "f+more")
	}
	if err := s.SetStat(s.root, lisafs.SetStatRequest{Mask: linux.STATX_SIZE | linux.STATX_MODE, Size: 1, Mode: 0o600}); err != nil {
		t.Errorf("SetStat of the root: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 1 || fi.Mode().Perm() != 0o600 {
		t.Errorf("host file after SetStat: %v, %v; want size 1, mode 0600", fi, err)
	}
	if _, err := s.StatFS(s.root); err != nil {
		t.Errorf("StatFS of the root: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "other")); string(b) != "other" {
		t.Errorf("file beside the root changed: %q", b)
	}
}

// TestFileRootReadOnly: a read-only file root is readable and refuses every change.
func TestFileRootReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	tree(t, filepath.Dir(path), "f")
	s := serve(t, path, Options{ReadOnly: true})
	_, hostFD, err := s.Open(s.root, linux.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	file := os.NewFile(uintptr(hostFD), "donated")
	if b, err := readAll(file); err != nil || string(b) != "f" {
		t.Errorf("root reads %q, %v; want %q", b, err, "f")
	}
	file.Close()
	for name, op := range map[string]func() error{
		"Open(WRONLY)": func() error { _, _, err := s.Open(s.root, linux.O_WRONLY); return err },
		"Open(TRUNC)":  func() error { _, _, err := s.Open(s.root, linux.O_RDONLY|linux.O_TRUNC); return err },
		"SetStat":      func() error { return s.SetStat(s.root, lisafs.SetStatRequest{Mask: linux.STATX_SIZE}) },
		"SetXattr":     func() error { return s.SetXattr(s.root, "user.x", nil, 0) },
	} {
		wantErr(t, name+" of a read-only file root", op(), linux.EROFS)
	}
	if b, _ := os.ReadFile(path); string(b) != "f" {
		t.Errorf("host file changed: %q", b)
	}
}

// TestRootTypes: New serves directories and regular files (following a symlink to
// one, as a bind mount's source is followed) and refuses every other kind of file.
func TestRootTypes(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, "d/", "f", "lf -> f", "ld -> d", "dangling -> missing")
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		wantType uint32 // 0: New fails
		wantErr  error
	}{
		{path: "d", wantType: linux.S_IFDIR},
		{path: "f", wantType: linux.S_IFREG},
		{path: "lf", wantType: linux.S_IFREG},
		{path: "ld", wantType: linux.S_IFDIR},
		{path: "fifo", wantErr: linux.EINVAL},
		{path: "/dev/null", wantErr: linux.EINVAL},
		{path: "dangling", wantErr: unix.ENOENT},
		{path: "missing", wantErr: unix.ENOENT},
	} {
		p := tc.path
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		g, err := New(p, Options{})
		if tc.wantErr != nil {
			if err == nil {
				g.Close()
			}
			wantErr(t, "New("+tc.path+")", err, tc.wantErr)
			continue
		}
		if err != nil {
			t.Errorf("New(%s): %v", tc.path, err)
			continue
		}
		if got := g.ftypeOfRoot(t); got != tc.wantType {
			t.Errorf("New(%s) serves a root of type %#o, want %#o", tc.path, got, tc.wantType)
		}
		g.Close()
	}
}

// ftypeOfRoot returns the file type of the root g serves, as Mount reports it.
func (g *Gofer) ftypeOfRoot(t *testing.T) uint32 {
	t.Helper()
	fd, st, err := g.Mount()
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	fd.Close()
	return uint32(st.Mode) & linux.S_IFMT
}
