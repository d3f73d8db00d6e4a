package proc_test

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/pipefs"
	"visor.dev/visor/pkg/sentry/fsimpl/proc"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/mm"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/platform"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// fakePlatform lets an address space be built without running code: nothing here
// maps it into a host process.
type fakePlatform struct{}

func (fakePlatform) NewAddressSpace() (platform.AddressSpace, error) {
	return nil, errors.New("fake platform has no address spaces")
}
func (fakePlatform) NewContext() (platform.Context, error) {
	return nil, errors.New("fake platform runs no code")
}
func (fakePlatform) MinUserAddress() uintptr { return 0x10000 }
func (fakePlatform) MaxUserAddress() uintptr { return 0x7ffffffff000 }
func (fakePlatform) Release()                {}

const (
	totalMemory = 1 << 30
	argvData    = "prog\x00-v\x00"
	envvData    = "HOME=/\x00"
	fileData    = "hello"
)

// env is a kernel with a process whose root is a tmpfs with /proc mounted, a file
// open as descriptor 0 and a pipe's write end as 1.
type env struct {
	t      *testing.T
	k      *kernel.Kernel
	vfs    *vfs.VirtualFilesystem
	task   *kernel.Task
	root   vfs.VirtualDentry
	pid    kernel.ThreadID
	pipeRd *vfs.FileDescription
}

func newEnv(t *testing.T) *env {
	t.Helper()
	vfsObj := vfs.New()
	vfsObj.MustRegisterFilesystemType(tmpfs.Name, tmpfs.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserMount: true, AllowUserList: true})
	mf, err := pgalloc.NewMemoryFile(pgalloc.Options{MaxSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mf.Destroy)
	k, err := kernel.New(kernel.Config{Syscalls: &kernel.SyscallTable{}, VFS: vfsObj, MemoryFile: mf, TotalMemory: totalMemory})
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Register(vfsObj, k); err != nil {
		t.Fatal(err)
	}
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	kctx := vfs.NewContext(creds, waiter.UninterruptibleBlocker{})
	mntns, err := vfsObj.NewMountNamespace(kctx, creds, "", tmpfs.Name, &vfs.MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	root := mntns.Root()
	pop := func(p string) *vfs.PathOperation {
		return &vfs.PathOperation{Root: root, Start: root, Path: p, FollowFinalSymlink: true}
	}
	for _, dir := range []string{"proc", "dir"} {
		if err := vfsObj.MkdirAt(kctx, creds, pop(dir), &vfs.MkdirOptions{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := vfsObj.MountAt(kctx, creds, "proc", pop("/proc"), proc.Name, &vfs.MountOptions{}); err != nil {
		t.Fatalf("mounting proc: %v", err)
	}
	file, err := vfsObj.OpenAt(kctx, creds, pop("/file"), &vfs.OpenOptions{Flags: linux.O_RDWR | linux.O_CREAT, Mode: 0o644})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write(kctx, []byte(fileData), vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	pipeRd, pipeWr, err := pipefs.NewConnectedPipeFDs(kctx, pipefs.NewMount(vfsObj), 0)
	if err != nil {
		t.Fatal(err)
	}
	fdt := kernel.NewFDTable()
	for i, f := range []*vfs.FileDescription{file, pipeWr} {
		if fd, err := fdt.NewFD(int32(i), f, kernel.FDFlags{CloseOnExec: i == 1}, 1024); err != nil || fd != int32(i) {
			t.Fatalf("NewFD: %d, %v", fd, err)
		}
		f.DecRef()
	}

	m := mm.NewMemoryManager(fakePlatform{}, mf)
	addr, err := m.MMap(memmap.MMapOpts{Length: 4096, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess, Private: true, Name: "[stack]"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CopyOut(addr, []byte(argvData+envvData)); err != nil {
		t.Fatal(err)
	}
	m.SetArgv(mm.AddrRange{Start: addr, End: addr + uintptr(len(argvData))})
	m.SetEnvv(mm.AddrRange{Start: addr + uintptr(len(argvData)), End: addr + uintptr(len(argvData)+len(envvData))})
	m.SetAuxv([]mm.AuxEntry{{Key: linux.AT_PAGESZ, Value: 4096}})
	m.SetExecutable("/bin/prog")

	task, err := k.NewTestProcess(creds, fdt, kernel.NewFSContext(root, root, 0o022), m, "prog")
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, k: k, vfs: vfsObj, task: task, root: root, pid: task.ThreadGroupID(), pipeRd: pipeRd}
}

func (e *env) pop(path string, follow bool) *vfs.PathOperation {
	return &vfs.PathOperation{Root: e.root, Start: e.root, Path: path, FollowFinalSymlink: follow}
}

// open opens path as the test process.
func (e *env) open(path string, flags uint32) (*vfs.FileDescription, error) {
	return e.vfs.OpenAt(e.task, e.task.Credentials(), e.pop(path, true), &vfs.OpenOptions{Flags: flags})
}

// read returns the contents of path, read as the test process in small pieces,
// as programs that read /proc with small buffers do.
func (e *env) read(path string) string {
	e.t.Helper()
	fd, err := e.open(path, linux.O_RDONLY)
	if err != nil {
		e.t.Fatalf("open(%q): %v", path, err)
	}
	defer fd.DecRef()
	var sb strings.Builder
	buf := make([]byte, 7)
	for {
		n, err := fd.Read(e.task, buf, vfs.ReadOptions{})
		sb.Write(buf[:n])
		if err != nil && err != io.EOF {
			e.t.Fatalf("read(%q): %v", path, err)
		}
		if n == 0 {
			return sb.String()
		}
	}
}

func (e *env) readlink(path string) (string, error) {
	return e.vfs.ReadlinkAt(e.task, e.task.Credentials(), e.pop(path, false))
}

func (e *env) list(path string) []string {
	e.t.Helper()
	fd, err := e.open(path, linux.O_RDONLY|linux.O_DIRECTORY)
	if err != nil {
		e.t.Fatalf("open(%q): %v", path, err)
	}
	defer fd.DecRef()
	var names []string
	if err := fd.IterDirents(e.task, vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error {
		names = append(names, d.Name)
		return nil
	})); err != nil {
		e.t.Fatalf("getdents(%q): %v", path, err)
	}
	return names
}

// statusField returns the value of a "Name:\tvalue" line of /proc/self/status.
func statusField(t *testing.T, status, name string) string {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("status has no %s line:\n%s", name, status)
	return ""
}

func TestSelfLinks(t *testing.T) {
	e := newEnv(t)
	pid := strconv.Itoa(int(e.pid))
	for _, tc := range []struct{ path, want string }{
		{"/proc/self", pid},
		{"/proc/thread-self", pid + "/task/" + pid},
		{"/proc/self/cwd", "/"},
		{"/proc/self/root", "/"},
		{"/proc/self/exe", "/bin/prog"},
		{"/proc/self/fd/0", "/file"},
		{"/proc/mounts", "self/mounts"},
	} {
		got, err := e.readlink(tc.path)
		if err != nil || got != tc.want {
			t.Errorf("readlink(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	// The pipe's name is made up from its inode number.
	stat, err := e.pipeRd.Stat(e.task, vfs.StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustReadlink(t, e, "/proc/self/fd/1"), fmt.Sprintf("pipe:[%d]", stat.Ino); got != want {
		t.Errorf("readlink(fd/1) = %q, want %q", got, want)
	}
}

func mustReadlink(t *testing.T, e *env, path string) string {
	t.Helper()
	s, err := e.readlink(path)
	if err != nil {
		t.Fatalf("readlink(%q): %v", path, err)
	}
	return s
}

func TestMagicLinksLeadToTheFile(t *testing.T) {
	e := newEnv(t)
	if got := e.read("/proc/self/fd/0"); got != fileData {
		t.Errorf("reading through fd/0 = %q, want %q", got, fileData)
	}
	// A path through cwd continues in the directory itself.
	fsc := e.task.FSContext()
	dirVD, err := e.vfs.GetDentryAt(e.task, e.task.Credentials(), e.pop("/dir", true), &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		t.Fatal(err)
	}
	fsc.SetWorkingDirectory(dirVD)
	dirVD.DecRef()
	if got := mustReadlink(t, e, "/proc/self/cwd"); got != "/dir" {
		t.Errorf("readlink(cwd) after chdir = %q, want /dir", got)
	}
	if got := e.read("/proc/self/cwd/../file"); got != fileData {
		t.Errorf("reading cwd/../file = %q, want %q", got, fileData)
	}
	// Writing through the pipe's link reaches the pipe.
	fd, err := e.open("/proc/self/fd/1", linux.O_WRONLY)
	if err != nil {
		t.Fatalf("open(fd/1): %v", err)
	}
	defer fd.DecRef()
	if _, err := fd.Write(e.task, []byte("x"), vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if n, err := e.pipeRd.Read(e.task, buf, vfs.ReadOptions{}); n != 1 || buf[0] != 'x' {
		t.Errorf("pipe read = %d %q, %v", n, buf, err)
	}
}

func TestStat(t *testing.T) {
	e := newEnv(t)
	stat := e.read("/proc/self/stat")
	if !strings.HasSuffix(stat, "\n") {
		t.Errorf("stat %q does not end with a newline", stat)
	}
	open, close := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || close < open {
		t.Fatalf("stat %q has no (comm)", stat)
	}
	if comm := stat[open+1 : close]; comm != "prog" {
		t.Errorf("comm = %q, want prog", comm)
	}
	fields := append(strings.Fields(stat[:open]), strings.Fields(stat[close+1:])...)
	if len(fields) != 51 { // 52 with comm
		t.Fatalf("stat has %d fields besides comm, want 51: %q", len(fields), stat)
	}
	for i, f := range fields {
		if i == 1 {
			continue // state
		}
		if _, err := strconv.ParseInt(f, 10, 64); err != nil && !isUint(f) {
			t.Errorf("field %d (%q) is not a number", i+1, f)
		}
	}
	for _, tc := range []struct {
		field int // 1-based, as proc(5) numbers them, comm counted
		want  string
	}{
		{1, strconv.Itoa(int(e.pid))},
		{3, "R"},
		{4, "0"},                          // ppid
		{5, strconv.Itoa(int(e.pid))},     // pgrp
		{6, strconv.Itoa(int(e.pid))},     // session
		{20, "1"},                         // num_threads
		{23, "4096"},                      // vsize
		{38, strconv.Itoa(linux.SIGCHLD)}, // exit_signal
	} {
		i := tc.field - 2 // comm removed
		if tc.field == 1 {
			i = 0
		}
		if fields[i] != tc.want {
			t.Errorf("stat field %d = %q, want %q", tc.field, fields[i], tc.want)
		}
	}
}

func isUint(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	status := e.read("/proc/self/status")
	pid := strconv.Itoa(int(e.pid))
	for _, tc := range []struct{ name, want string }{
		{"Name", "prog"},
		{"Umask", "0022"},
		{"State", "R (running)"},
		{"Tgid", pid},
		{"Pid", pid},
		{"PPid", "0"},
		{"TracerPid", "0"},
		{"Uid", "0\t0\t0\t0"},
		{"Gid", "0\t0\t0\t0"},
		{"FDSize", "64"},
		{"VmSize", "4 kB"},
		{"Threads", "1"},
		{"SigQ", "0/63936"},
		{"SigBlk", "0000000000000000"},
		{"CapEff", fmt.Sprintf("%016x", uint64(auth.AllCapabilities))},
		{"NoNewPrivs", "0"},
		{"Cpus_allowed_list", fmt.Sprintf("0-%d", runtime.NumCPU()-1)},
	} {
		if tc.name == "Cpus_allowed_list" && runtime.NumCPU() == 1 {
			tc.want = "0"
		}
		if got := statusField(t, status, tc.name); got != tc.want {
			t.Errorf("status %s = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTaskFiles(t *testing.T) {
	e := newEnv(t)
	auxv := e.read("/proc/self/auxv")
	for _, tc := range []struct{ path, want string }{
		{"/proc/self/cmdline", argvData},
		{"/proc/self/environ", envvData},
		{"/proc/self/comm", "prog\n"},
		{"/proc/self/statm", "1 1 0 0 0 0 0\n"}, // the page of argv is resident
		{"/proc/self/oom_score_adj", "0\n"},
		{"/proc/self/uid_map", "         0          0 4294967295\n"},
		{"/proc/self/fdinfo/1", fmt.Sprintf("pos:\t0\nflags:\t0%o\nmnt_id:\t%s\nino:\t%s\n", linux.O_WRONLY|linux.O_CLOEXEC,
			statusField(t, e.read("/proc/self/fdinfo/1"), "mnt_id"), statusField(t, e.read("/proc/self/fdinfo/1"), "ino"))},
	} {
		if got := e.read(tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
	if len(auxv) != 32 {
		t.Errorf("auxv is %d bytes, want 2 pairs of words", len(auxv))
	}
	if maps := e.read("/proc/self/maps"); !strings.Contains(maps, "rw-p") || !strings.HasSuffix(maps, "[stack]\n") {
		t.Errorf("maps = %q", maps)
	}
	limits := e.read("/proc/self/limits")
	if !strings.HasPrefix(limits, "Limit                     Soft Limit           Hard Limit           Units     \n") ||
		!strings.Contains(limits, "\nMax open files            1024                 1048576              files     \n") {
		t.Errorf("limits = %q", limits)
	}
	if mounts := e.read("/proc/self/mounts"); mounts != "tmpfs / tmpfs rw,relatime 0 0\n" {
		t.Errorf("mounts = %q", mounts)
	}
	if got, want := e.list("/proc/self/fd"), []string{".", "..", "0", "1"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fd lists %q, want %q", got, want)
	}
	pid := strconv.Itoa(int(e.pid))
	if got := e.list("/proc/self/task"); strings.Join(got, " ") != ". .. "+pid {
		t.Errorf("task lists %q", got)
	}
	if got := e.read("/proc/self/task/" + pid + "/comm"); got != "prog\n" {
		t.Errorf("task/%s/comm = %q", pid, got)
	}
}

func TestWrites(t *testing.T) {
	e := newEnv(t)
	write := func(path, data string) error {
		fd, err := e.open(path, linux.O_WRONLY|linux.O_TRUNC)
		if err != nil {
			return err
		}
		defer fd.DecRef()
		_, err = fd.Write(e.task, []byte(data), vfs.WriteOptions{})
		return err
	}
	for _, tc := range []struct {
		path, data string
		wantErr    error
		read, want string
	}{
		{path: "/proc/self/comm", data: "renamed-to-a-long-name\n", read: "/proc/self/comm", want: "renamed-to-a-lo\n"},
		{path: "/proc/self/oom_score_adj", data: "500\n", read: "/proc/self/oom_score_adj", want: "500\n"},
		{path: "/proc/self/oom_score_adj", data: "1001", wantErr: linux.EINVAL, read: "/proc/self/oom_score_adj", want: "500\n"},
		{path: "/proc/sys/kernel/hostname", data: "sandbox\n", read: "/proc/sys/kernel/hostname", want: "sandbox\n"},
		{path: "/proc/self/status", data: "x", wantErr: linux.EACCES},
		{path: "/proc/cpuinfo", data: "x", wantErr: linux.EACCES},
	} {
		if err := write(tc.path, tc.data); !errors.Is(err, tc.wantErr) {
			t.Errorf("write(%s, %q) = %v, want %v", tc.path, tc.data, err, tc.wantErr)
		}
		if tc.read != "" {
			if got := e.read(tc.read); got != tc.want {
				t.Errorf("after writing %q to %s: %s = %q, want %q", tc.data, tc.path, tc.read, got, tc.want)
			}
		}
	}
	if h, _ := e.k.UTSNames(); h != "sandbox" {
		t.Errorf("hostname = %q after writing it", h)
	}
}

func TestNamesCannotBeMade(t *testing.T) {
	e := newEnv(t)
	creds := e.task.Credentials()
	for _, tc := range []struct {
		name string
		op   func() error
		want error
	}{
		{"mkdir new", func() error {
			return e.vfs.MkdirAt(e.task, creds, e.pop("/proc/new", false), &vfs.MkdirOptions{Mode: 0o755})
		}, linux.ENOENT},
		{"mkdir existing", func() error {
			return e.vfs.MkdirAt(e.task, creds, e.pop("/proc/self", false), &vfs.MkdirOptions{Mode: 0o755})
		}, linux.EEXIST},
		{"creat", func() error {
			_, err := e.vfs.OpenAt(e.task, creds, e.pop("/proc/new", true), &vfs.OpenOptions{Flags: linux.O_CREAT | linux.O_WRONLY, Mode: 0o644})
			return err
		}, linux.ENOENT},
		{"creat existing dir", func() error {
			_, err := e.vfs.OpenAt(e.task, creds, e.pop("/proc/self", true), &vfs.OpenOptions{Flags: linux.O_CREAT | linux.O_RDONLY})
			return err
		}, linux.EISDIR},
		{"unlink", func() error { return e.vfs.UnlinkAt(e.task, creds, e.pop("/proc/cpuinfo", false)) }, linux.EPERM},
		{"rmdir", func() error { return e.vfs.RmdirAt(e.task, creds, e.pop("/proc/sys", false)) }, linux.EPERM},
		{"missing pid", func() error { _, err := e.open("/proc/99999/stat", linux.O_RDONLY); return err }, linux.ENOENT},
		{"missing fd", func() error { _, err := e.open("/proc/self/fd/7", linux.O_RDONLY); return err }, linux.ENOENT},
		{"file as dir", func() error { _, err := e.open("/proc/cpuinfo/x", linux.O_RDONLY); return err }, linux.ENOTDIR},
	} {
		if err := tc.op(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestRootListing(t *testing.T) {
	e := newEnv(t)
	names := e.list("/proc")
	want := map[string]bool{"self": false, "thread-self": false, "cpuinfo": false, "sys": false, strconv.Itoa(int(e.pid)): false}
	for _, n := range names {
		if _, ok := want[n]; ok {
			want[n] = true
		}
	}
	for n, found := range want {
		if !found {
			t.Errorf("/proc does not list %q: %q", n, names)
		}
	}
	// A process's directory keeps its inode from lookup to lookup.
	stat := func() uint64 {
		s, err := e.vfs.StatAt(e.task, e.task.Credentials(), e.pop("/proc/self", true), &vfs.StatOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Mode&linux.S_IFMT != linux.S_IFDIR {
			t.Errorf("/proc/self mode %#o is not a directory", s.Mode)
		}
		return s.Ino
	}
	if a, b := stat(), stat(); a != b {
		t.Errorf("/proc/self's inode changed from %d to %d", a, b)
	}
	st, err := e.vfs.StatFSAt(e.task, e.task.Credentials(), e.pop("/proc", true))
	if err != nil || st.Type != linux.PROC_SUPER_MAGIC {
		t.Errorf("statfs(/proc) = %#x, %v", st.Type, err)
	}
}

func TestSystemFiles(t *testing.T) {
	e := newEnv(t)
	if got := strings.Count(e.read("/proc/cpuinfo"), "processor\t: "); got != runtime.NumCPU() {
		t.Errorf("cpuinfo lists %d processors, want %d", got, runtime.NumCPU())
	}
	meminfo := e.read("/proc/meminfo")
	if !strings.HasPrefix(meminfo, fmt.Sprintf("MemTotal:       %8d kB\n", totalMemory/1024)) {
		t.Errorf("meminfo = %q", meminfo)
	}
	for _, name := range []string{"MemFree", "MemAvailable", "SwapTotal", "Cached"} {
		if !strings.Contains(meminfo, "\n"+name+":") {
			t.Errorf("meminfo has no %s", name)
		}
	}
	var up, idle float64
	if n, err := fmt.Sscanf(e.read("/proc/uptime"), "%f %f\n", &up, &idle); n != 2 {
		t.Errorf("uptime does not parse: %v", err)
	}
	if v := e.read("/proc/version"); !strings.HasPrefix(v, "Linux version "+kernel.Release+" ") {
		t.Errorf("version = %q", v)
	}
	if fs := e.read("/proc/filesystems"); !strings.Contains(fs, "nodev\tproc\n") || !strings.Contains(fs, "nodev\ttmpfs\n") {
		t.Errorf("filesystems = %q", fs)
	}
	stat := e.read("/proc/stat")
	for _, prefix := range []string{"cpu ", "cpu0 ", "btime ", "processes ", "procs_running "} {
		if !strings.HasPrefix(stat, prefix) && !strings.Contains(stat, "\n"+prefix) {
			t.Errorf("stat has no %q line: %q", prefix, stat)
		}
	}
	loadavg := strings.Fields(e.read("/proc/loadavg"))
	if len(loadavg) != 5 || loadavg[3] != "1/1" || loadavg[4] != strconv.Itoa(int(e.pid)) {
		t.Errorf("loadavg = %q", loadavg)
	}
	for _, tc := range []struct{ path, want string }{
		{"/proc/sys/kernel/osrelease", kernel.Release + "\n"},
		{"/proc/sys/kernel/ostype", "Linux\n"},
		{"/proc/sys/kernel/pid_max", "4194304\n"},
		{"/proc/sys/kernel/cap_last_cap", strconv.Itoa(linux.CAP_LAST_CAP) + "\n"},
		{"/proc/sys/kernel/yama/ptrace_scope", "1\n"},
		{"/proc/sys/fs/nr_open", "1048576\n"},
		{"/proc/sys/vm/overcommit_memory", "0\n"},
		{"/proc/sys/net/core/somaxconn", "4096\n"},
		{"/proc/sys/kernel/hostname", "localhost\n"},
	} {
		if got := e.read(tc.path); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.path, got, tc.want)
		}
	}
	bootID := e.read("/proc/sys/kernel/random/boot_id")
	if len(bootID) != 37 || bootID != e.read("/proc/sys/kernel/random/boot_id") {
		t.Errorf("boot_id = %q, not a stable UUID", bootID)
	}
	if a, b := e.read("/proc/sys/kernel/random/uuid"), e.read("/proc/sys/kernel/random/uuid"); a == b || len(a) != 37 {
		t.Errorf("random/uuid = %q then %q", a, b)
	}
}
