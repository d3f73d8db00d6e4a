package devfs_test

import (
	"bytes"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/devfs"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/vfstest"
)

func newEnv(t *testing.T) *vfstest.Env {
	e := vfstest.New(t, "tmpfs", tmpfs.FilesystemType{})
	if err := devfs.Register(e.VFS); err != nil {
		t.Fatal(err)
	}
	e.MustMkdirAll("/dev")
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "none", e.Pop("/dev"), devfs.Name, &vfs.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNodes(t *testing.T) {
	e := newEnv(t)
	fd, err := e.Open("/dev", linux.O_RDONLY|linux.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := vfstest.Dirents(e.Ctx, fd)
	fd.DecRef()
	got := make(map[string]bool)
	for _, n := range names {
		got[n] = true
	}
	for _, want := range []string{"null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout", "stderr", "pts", "shm", "ptmx"} {
		if !got[want] {
			t.Errorf("/dev lacks %s (has %v)", want, names)
		}
	}
	for _, tc := range []struct {
		path         string
		mode         uint16
		major, minor uint32
	}{
		{"/dev/null", linux.S_IFCHR | 0o666, 1, 3},
		{"/dev/zero", linux.S_IFCHR | 0o666, 1, 5},
		{"/dev/full", linux.S_IFCHR | 0o666, 1, 7},
		{"/dev/random", linux.S_IFCHR | 0o666, 1, 8},
		{"/dev/urandom", linux.S_IFCHR | 0o666, 1, 9},
		{"/dev/tty", linux.S_IFCHR | 0o666, 5, 0},
		{"/dev/shm", linux.S_IFDIR | 0o1777, 0, 0},
		{"/dev", linux.S_IFDIR | 0o755, 0, 0},
	} {
		st, err := e.Stat(tc.path)
		if err != nil || st.Mode != tc.mode || st.RdevMajor != tc.major || st.RdevMinor != tc.minor {
			t.Errorf("%s: mode %#o rdev %d:%d, %v; want %#o %d:%d", tc.path, st.Mode, st.RdevMajor, st.RdevMinor, err, tc.mode, tc.major, tc.minor)
		}
	}
	for link, target := range map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stderr": "/proc/self/fd/2"} {
		if got, err := e.VFS.ReadlinkAt(e.Ctx, e.Creds, e.Pop(link)); got != target || err != nil {
			t.Errorf("readlink %s = %q, %v", link, got, err)
		}
	}
}

func TestMemoryDevices(t *testing.T) {
	e := newEnv(t)
	u := e.As(e.User(1000, 1000))
	open := func(p string, flags uint32) *vfs.FileDescription {
		fd, err := u.Open(p, flags, 0)
		if err != nil {
			t.Fatalf("open %s: %v", p, err)
		}
		return fd
	}
	buf := bytes.Repeat([]byte{0xff}, 64)
	null := open("/dev/null", linux.O_RDWR)
	defer null.DecRef()
	if n, err := null.Read(e.Ctx, buf, vfs.ReadOptions{}); n != 0 || err != nil {
		t.Errorf("read /dev/null = %d, %v", n, err)
	}
	if n, err := null.Write(e.Ctx, buf, vfs.WriteOptions{}); n != 64 || err != nil {
		t.Errorf("write /dev/null = %d, %v", n, err)
	}
	if st, err := null.Stat(e.Ctx, vfs.StatOptions{}); err != nil || st.RdevMinor != 3 {
		t.Errorf("fstat /dev/null = %+v, %v", st, err)
	}
	zero := open("/dev/zero", linux.O_RDWR)
	defer zero.DecRef()
	if n, _ := zero.PRead(e.Ctx, buf, 100, vfs.ReadOptions{}); n != 64 || !bytes.Equal(buf, make([]byte, 64)) {
		t.Errorf("read /dev/zero = %d, %v", n, buf)
	}
	opts := memmap.MMapOpts{Private: true, Length: 4096}
	if err := zero.ConfigureMMap(e.Ctx, &opts); err != nil || opts.Mappable != nil {
		t.Errorf("mmap /dev/zero: %v, %v", opts.Mappable, err)
	}
	full := open("/dev/full", linux.O_RDWR)
	defer full.DecRef()
	if _, err := full.Write(e.Ctx, buf, vfs.WriteOptions{}); err != linux.ENOSPC {
		t.Errorf("write /dev/full: %v, want ENOSPC", err)
	}
	for _, p := range []string{"/dev/urandom", "/dev/random"} {
		fd := open(p, linux.O_RDONLY)
		a, b := make([]byte, 32), make([]byte, 32)
		fd.Read(e.Ctx, a, vfs.ReadOptions{})
		fd.Read(e.Ctx, b, vfs.ReadOptions{})
		if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 32)) {
			t.Errorf("%s is not random: %x %x", p, a, b)
		}
		if off, err := fd.Seek(e.Ctx, 10, linux.SEEK_SET); off != 0 || err != nil {
			t.Errorf("lseek %s = %d, %v", p, off, err)
		}
		fd.DecRef()
	}
	if _, err := u.Open("/dev/tty", linux.O_RDWR, 0); err != linux.ENXIO {
		t.Errorf("open /dev/tty without a terminal: %v, want ENXIO", err)
	}
	// Device nodes made anywhere reach the devices, except on nodev mounts.
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.Pop("/mynull"), &vfs.MknodOptions{Mode: linux.S_IFCHR | 0o666, DevMajor: 1, DevMinor: 3}); err != nil {
		t.Fatal(err)
	}
	fd := open("/mynull", linux.O_WRONLY)
	fd.DecRef()
	if err := e.VFS.MknodAt(e.Ctx, e.Creds, e.Pop("/nodev"), &vfs.MknodOptions{Mode: linux.S_IFCHR | 0o666, DevMajor: 99, DevMinor: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Open("/nodev", linux.O_RDONLY, 0); err != linux.ENXIO {
		t.Errorf("open of an unregistered device: %v, want ENXIO", err)
	}
	e.MustMkdirAll("/nd")
	if _, err := e.VFS.MountAt(e.Ctx, e.Creds, "", e.Pop("/nd"), devfs.Name, &vfs.MountOptions{Flags: vfs.MountFlags{NoDev: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Open("/nd/null", linux.O_RDONLY, 0); err != linux.EACCES {
		t.Errorf("open of a device on a nodev mount: %v, want EACCES", err)
	}
	// Registering a number twice fails.
	if err := devfs.Register(e.VFS); err != linux.EEXIST {
		t.Errorf("second Register: %v, want EEXIST", err)
	}
}
