package sys

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/vfstest"
)

func read(t *testing.T, e *vfstest.Env, path string) string {
	t.Helper()
	fd, err := e.Open(path, linux.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("open(%q): %v", path, err)
	}
	defer fd.DecRef()
	buf := make([]byte, 4096)
	n, err := fd.Read(e.Ctx, buf, vfs.ReadOptions{})
	if err != nil {
		t.Fatalf("read(%q): %v", path, err)
	}
	return string(buf[:n])
}

func TestFiles(t *testing.T) {
	e := vfstest.New(t, Name, FilesystemType{})
	cpus := fmt.Sprintf("0-%d\n", runtime.NumCPU()-1)
	if runtime.NumCPU() == 1 {
		cpus = "0\n"
	}
	for _, tc := range []struct{ path, want string }{
		{"/devices/system/cpu/online", cpus},
		{"/devices/system/cpu/possible", cpus},
		{"/devices/system/cpu/present", cpus},
		{"/kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n"},
	} {
		if got := read(t, e, tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
	for _, dir := range []string{"/fs/cgroup", fmt.Sprintf("/devices/system/cpu/cpu%d", runtime.NumCPU()-1)} {
		if st, err := e.Stat(dir); err != nil || st.Mode&linux.S_IFMT != linux.S_IFDIR {
			t.Errorf("stat(%s) = %#o, %v; want a directory", dir, st.Mode, err)
		}
	}
	if _, err := e.Stat(fmt.Sprintf("/devices/system/cpu/cpu%d", runtime.NumCPU())); !errors.Is(err, linux.ENOENT) {
		t.Errorf("stat of a CPU past the last: %v, want ENOENT", err)
	}
}

func TestReadOnly(t *testing.T) {
	e := vfstest.New(t, Name, FilesystemType{})
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"mkdir", e.Mkdir("/fs/cgroup/x", 0o755), linux.EPERM},
		{"mkdir existing", e.Mkdir("/fs/cgroup", 0o755), linux.EEXIST},
		{"symlink", e.Symlink("x", "/y"), linux.EPERM},
		{"unlink", e.VFS.UnlinkAt(e.Ctx, e.Creds, e.PopNoFollow("/devices/system/cpu/online")), linux.EPERM},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, err := e.Open("/devices/system/cpu/online", linux.O_WRONLY, 0); !errors.Is(err, linux.EACCES) {
		// Root passes the 0444 permission check; the file itself takes no writes.
		t.Errorf("open for writing: %v, want EACCES", err)
	}
	st, err := e.VFS.StatFSAt(e.Ctx, e.Creds, e.Pop("/"))
	if err != nil || st.Type != linux.SYSFS_MAGIC {
		t.Errorf("statfs = %#x, %v", st.Type, err)
	}
	var names []string
	fd, err := e.Open("/", linux.O_RDONLY|linux.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.DecRef()
	if err := fd.IterDirents(e.Ctx, vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error { names = append(names, d.Name); return nil })); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, " "); got != ". .. block bus class dev devices firmware fs kernel module" {
		t.Errorf("/sys lists %q", got)
	}
}
