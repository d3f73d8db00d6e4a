package e2e

// Isolation seen from the host: an application in a container of the Debian
// rootfs tries to reach what is outside its sandbox (files through symlinks the
// Gofer would follow, fds of other processes, host processes, the host's /proc
// and /sys, modules, mounts, the clock, raw sockets, the runsc binary), and the
// test checks, on the host, that its own sentinels (a file, a process, a
// listening socket, the binary's checksum) are untouched. acceptance_test.go has
// the checks that compare with Linux in a chroot (TestNoEscape and its kin);
// these go where the chroot reference cannot. The cases that fail today are in
// isolation_failing_test.go, behind the e2e_sentry tag.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostFile is a host file's content, mode and modification time: what a write
// through an escape would change.
type hostFile struct {
	data  string
	mode  os.FileMode
	mtime time.Time
}

func snapshotFile(t *testing.T, path string) hostFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return hostFile{string(data), fi.Mode(), fi.ModTime()}
}

// dirNames returns the sorted names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// symlinkScript tries, for each path given, to read, overwrite, append to,
// truncate, chmod, touch, remove, rename over and hard-link the target, and to
// create a file and a directory in it as a directory; one "tried PATH" line each,
// so the test sees every attempt was made. What the shell prints of the files it
// reads goes to stdout, where the test looks for the secret.
const symlinkScript = `
for p in "$@"; do
	cat "$p" 2>/dev/null
	(printf overwritten > "$p") 2>/dev/null
	(printf appended >> "$p") 2>/dev/null
	truncate -s 0 "$p" 2>/dev/null
	chmod 777 "$p" 2>/dev/null
	touch -d 2001-01-01 "$p" 2>/dev/null
	echo new > /tmp/new && mv /tmp/new "$p" 2>/dev/null
	ln "$p" "/tmp/hard$$" 2>/dev/null && cat "/tmp/hard$$" 2>/dev/null
	(echo created > "$p/created") 2>/dev/null
	mkdir "$p/made" 2>/dev/null
	rm -f "$p" 2>/dev/null
	echo "tried $p"
done
cd /data && cat ../sentinel ./dirrel/sentinel /proc/self/cwd/../sentinel /proc/1/cwd/../sentinel /proc/self/root/data/../sentinel 2>/dev/null
cat /data/inside
`

// TestPlantedSymlinks plants symlinks pointing out of the container on the host,
// where the Gofer serves them, in a bind mount and in the rootfs: absolute (the
// host path of a sentinel file and of its directory) and relative (.. far enough
// to climb out on the host). The container follows each every way it can; on the
// host the sentinel must keep its content, mode and time and its directory gain
// nothing, and the container must never print the sentinel's secret.
func TestPlantedSymlinks(t *testing.T) {
	rootfs := debianRootfs(t)
	hostDir := t.TempDir()
	secret := fmt.Sprintf("visor-e2e-planted-%d-%d", os.Getpid(), time.Now().UnixNano())
	sentinel := filepath.Join(hostDir, "sentinel")
	if err := os.WriteFile(sentinel, []byte(secret+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	bindDir := filepath.Join(hostDir, "bind")
	if err := os.Mkdir(bindDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bindDir, "inside"), []byte("bind mount works\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// In the shared rootfs, a directory of the test's own (in /var/tmp: no other
	// test lists it), removed when the test ends.
	plantDir := filepath.Join(rootfs, "var/tmp", fmt.Sprintf("visor-e2e-plant-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(plantDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(plantDir) })
	up := strings.Repeat("../", 20)
	for dir, links := range map[string]map[string]string{
		bindDir: {
			"abs": sentinel, "rel": "../sentinel", "relfar": up + sentinel[1:],
			"dirabs": hostDir, "dirrel": "..", "root": "/",
		},
		plantDir: {
			"abs": sentinel, "relfar": up + sentinel[1:],
			"dirabs": hostDir, "dirrelfar": up + hostDir[1:],
		},
	} {
		for name, target := range links {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := snapshotFile(t, sentinel)
	inRoot := "/var/tmp/" + filepath.Base(plantDir)
	paths := []string{
		"/data/abs", "/data/rel", "/data/relfar", "/data/dirabs", "/data/dirabs/sentinel",
		"/data/dirrel/sentinel", "/data/root" + sentinel, "/data/root" + hostDir,
		inRoot + "/abs", inRoot + "/relfar", inRoot + "/dirabs", inRoot + "/dirabs/sentinel",
		inRoot + "/dirrelfar/sentinel",
	}
	res := runDebian(t, "", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: bindDir, Options: []string{"rbind", "rw"}})
	}, append([]string{"sh", "-c", symlinkScript, "sh"}, paths...)...)
	t.Logf("container: status %d\nstdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	if strings.Contains(res.stdout, secret) {
		t.Errorf("the container read the host file %s through a planted symlink:\n%s", sentinel, res.stdout)
	}
	for _, p := range paths {
		if !strings.Contains(res.stdout, "tried "+p+"\n") {
			t.Errorf("the script did not get to %s (status %d, stderr %q)", p, res.status, res.stderr)
		}
	}
	if !strings.HasSuffix(res.stdout, "bind mount works\n") {
		t.Errorf("the bind mount's own file was not read: the test did not run as meant:\n%s", res.stdout)
	}
	if after := snapshotFile(t, sentinel); after != before {
		t.Errorf("the host file %s changed: %+v, was %+v", sentinel, after, before)
	}
	if got := dirNames(t, hostDir); !slices.Equal(got, []string{"bind", "sentinel"}) {
		t.Errorf("the host directory %s holds %q now, want only [bind sentinel]", hostDir, got)
	}
}

// fdScript: the fds a process can pass over a unix socket are its own. It tries to
// send every fd number below 1024 it does not have (the Sentry's and the Gofer's
// host fds live in that range) and counts the outcomes; passes a file it opened
// between two processes and reads it back; and connects to the host's listening
// unix sockets, by a path in a bind mount and by an abstract name.
const fdScript = `
import array, errno, os, socket, sys
a, b = socket.socketpair()
mine = {int(x) for x in os.listdir("/proc/self/fd")}
outcomes = {}
for fd in range(1024):
    if fd in mine:
        continue
    try:
        a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        k = "sent"
    except OSError as e:
        k = errno.errorcode[e.errno]
    outcomes[k] = outcomes.get(k, 0) + 1
print("unowned fds:", sorted(outcomes), sum(outcomes.values()) > 1000)
pid = os.fork()
if pid == 0:
    f = os.open("/etc/hostname", os.O_RDONLY)
    socket.send_fds(a, [b"f"], [f])
    os._exit(0)
os.waitpid(pid, 0)
while True:
    msg, fds, _, _ = socket.recv_fds(b, 16, 8)
    if fds:
        break
print("received:", os.readlink("/proc/self/fd/%d" % fds[0]), os.read(fds[0], 100))
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path.replace("@", "\0", 1))
        print("connected to", path)
        msg, fds, _, _ = socket.recv_fds(s, 16, 8)
        print("got", fds, [os.read(f, 100) for f in fds])
    except OSError as e:
        print("connect", path, errno.errorcode[e.errno])
`

// TestFdPassing checks that an fd a container receives over a unix socket is one
// the sandbox had: no fd number the process does not own can be sent (EBADF for
// every one), a file passed between two of its processes arrives, and the host's
// unix sockets (a listener in a bind-mounted directory and one with an abstract
// name, each ready to hand over an fd of a host file) cannot be connected to: they
// never see a connection.
func TestFdPassing(t *testing.T) {
	hostDir := t.TempDir()
	secret := filepath.Join(hostDir, "secret")
	if err := os.WriteFile(secret, []byte("visor-e2e-fd-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bindDir := filepath.Join(hostDir, "bind")
	if err := os.Mkdir(bindDir, 0o755); err != nil {
		t.Fatal(err)
	}
	abstract := fmt.Sprintf("@visor-e2e-fd-%d-%d", os.Getpid(), time.Now().UnixNano())
	accepted := make(chan string, 2)
	for _, addr := range []string{filepath.Join(bindDir, "host.sock"), abstract} {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			c, err := l.AcceptUnix()
			if err != nil {
				return // closed at the end of the test
			}
			defer c.Close()
			accepted <- addr
			// What an escape would get: an fd of a host file.
			if f, err := os.Open(secret); err == nil {
				c.WriteMsgUnix([]byte("f"), unix.UnixRights(int(f.Fd())), nil)
				f.Close()
			}
		}()
	}
	res := runDebian(t, "", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: bindDir, Options: []string{"rbind"}})
	}, "python3", "-c", fdScript, "/data/host.sock", abstract)
	want := fmt.Sprintf(`unowned fds: ['EBADF'] True
received: /etc/hostname b'%s'
connect /data/host.sock ECONNREFUSED
connect %s ECONNREFUSED
`, bytesRepr(t, filepath.Join(debianRootfs(t), "etc/hostname")), abstract)
	if res.status != 0 || res.stdout != want {
		t.Errorf("container: status %d, stdout %q, stderr %q; want 0, %q", res.status, res.stdout, res.stderr, want)
	}
	select {
	case addr := <-accepted:
		t.Errorf("the host's socket %s accepted a connection from the container", addr)
	default:
	}
}

// bytesRepr returns a file's content as Python's repr of bytes shows it, quotes left out
// (enough for plain text with newlines).
func bytesRepr(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(data), "\n", `\n`)
}

// hostPidScript gets host PIDs on stdin and, for each, looks for it in /proc and
// calls what takes a PID: kill (signal 0, and SIGKILL for the first, the
// sentinel's; SIGURG, ignored by default, for the others, which a leak must not
// kill: the test, runsc, the Sentry, the Gofer), tgkill, getpgid, getsid,
// sched_getaffinity, prlimit.
const hostPidScript = `
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
pids = [int(p) for p in sys.stdin.readline().split()]
for i, pid in enumerate(pids):
    sig = 9 if i == 0 else 23
    print(pid in [int(p) for p in os.listdir("/proc") if p.isdigit()], os.path.exists("/proc/%d" % pid),
        "kill0", call(62, pid, 0), "kill", call(62, pid, sig), "tgkill", call(234, pid, pid, sig),
        "getpgid", call(121, pid), "getsid", call(124, pid),
        "sched_getaffinity", call(204, pid, 0, None), "prlimit", call(302, pid, 7, None, None))
`

// TestHostProcessesUnreachable gives the container the host PIDs of a sentinel
// (sleep), of the test, of runsc run, of the Sentry and of the Gofer, and checks
// that it can neither see them in /proc nor signal or query them: ESRCH for each
// call, as for a PID that does not exist; on the host, all of them live on.
func TestHostProcessesUnreachable(t *testing.T) {
	sentinel := startSentinel(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	stdin, feed := io.Pipe()
	pids := make(chan []int, 1)
	go func() {
		// Once the pid file is there, the Sentry runs; its parent is runsc run,
		// whose other child is the Gofer.
		defer feed.Close()
		sentry := 0
		for deadline := time.Now().Add(runTimeout); sentry == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if data, err := os.ReadFile(pidFile); err == nil {
				sentry, _ = strconv.Atoi(string(data))
			}
		}
		all := []int{sentinel.Process.Pid, os.Getpid(), ppid(sentry), sentry, 0}
		for _, c := range children(ppid(sentry)) {
			if c != sentry {
				all[4] = c
			}
		}
		pids <- all
		fmt.Fprintln(feed, strings.Trim(fmt.Sprint(all), "[]"))
	}()
	res := runDebianReader(t, stdin, nil, []string{"--pid-file", pidFile}, "python3", "-c", hostPidScript)
	all := <-pids
	t.Logf("host pids: sentinel, test, runsc, sentry, gofer: %v", all)
	if slices.Contains(all, 0) {
		t.Fatalf("could not find every host PID (%v): the test did not run as meant; container: %q %q", all, res.stdout, res.stderr)
	}
	line := "False False kill0 ESRCH kill ESRCH tgkill ESRCH getpgid ESRCH getsid ESRCH sched_getaffinity ESRCH prlimit ESRCH\n"
	if want := strings.Repeat(line, len(all)); res.status != 0 || res.stdout != want {
		t.Errorf("container: status %d, stdout %q, stderr %q; want 0, %q", res.status, res.stdout, res.stderr, want)
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(sentinel.Process.Pid) {
		t.Errorf("the host sentinel %d died", sentinel.Process.Pid)
	}
}

// ppid returns pid's parent, 0 if unknown.
func ppid(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// children returns pid's child processes.
func children(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		data, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(data)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// runDebianReader is runDebianFlags with the container's stdin read from r, which
// may block: the test feeds the container what it learns while it runs.
func runDebianReader(t *testing.T, r io.Reader, modify func(*specs.Spec), flags []string, args ...string) result {
	t.Helper()
	spec := newSpec(debianRootfs(t), args...)
	if modify != nil {
		modify(spec)
	}
	bundle := writeBundle(t, spec, "")
	return runsc(t, r, append(append([]string{"run", "--bundle", bundle}, flags...), containerID(t))...)
}

// privilegedScript makes the calls a container must not get through to the host,
// one "name result" line each (result "ok" or the errno's name): loading and
// removing modules; mounting and unmounting; setting the clock (to what it reads
// at that moment, so that the call would not move a host clock it reached);
// raw and packet sockets.
const privilegedScript = `
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
fd = os.open("/usr/bin/true", os.O_RDONLY)
print("init_module", call(175, b"\x7fELF", 4, b""))
print("finit_module", call(313, fd, b"", 0))
print("delete_module", call(176, b"ext4", 0))
for name, src, typ, flags in [("tmpfs", b"tmpfs", b"tmpfs", 0), ("bind", b"/", None, 0x1000 | 0x4000),
                              ("proc", b"proc", b"proc", 0), ("sysfs", b"sysfs", b"sysfs", 0)]:
    print("mount_" + name, call(165, src, b"/mnt", typ, flags, None))
print("umount2", call(166, b"/tmp", 2))
class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]
ts = Timespec()
libc.clock_gettime(0, ctypes.byref(ts))
print("clock_settime", call(227, 0, ctypes.byref(ts)))
tv = Timespec(ts.sec, ts.nsec // 1000)
print("settimeofday", call(164, ctypes.byref(tv), None))
for name, fam, typ, proto in [("packet_raw", 17, socket.SOCK_RAW, 0x0300), ("packet_dgram", 17, socket.SOCK_DGRAM, 0x0300),
                              ("inet_raw", 2, socket.SOCK_RAW, 255), ("inet_raw_icmp", 2, socket.SOCK_RAW, 1),
                              ("inet6_raw", 10, socket.SOCK_RAW, 58)]:
    try:
        socket.socket(fam, typ, proto).close()
        print("socket_" + name, "ok")
    except OSError as e:
        print("socket_" + name, errno.errorcode[e.errno])
`

// privilegedResults runs privilegedScript and returns its results by name.
func privilegedResults(t *testing.T) map[string]string {
	t.Helper()
	res := runDebian(t, "", nil, "python3", "-c", privilegedScript)
	if res.status != 0 {
		t.Fatalf("container: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		name, result, _ := strings.Cut(line, " ")
		got[name] = result
	}
	t.Logf("results: %v", got)
	return got
}

// clockOffset is CLOCK_REALTIME minus CLOCK_MONOTONIC: it moves only when
// someone sets the clock.
func clockOffset(t *testing.T) time.Duration {
	t.Helper()
	var rt, mono unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &rt); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		t.Fatal(err)
	}
	return time.Duration(rt.Nano() - mono.Nano())
}

// hostMounts returns the lines of the host's mountinfo (this test's mount
// namespace) that a mount by the container could add: any under the rootfs, or on
// /mnt.
func hostMounts(t *testing.T, rootfs string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (strings.HasPrefix(f[4], rootfs) || f[4] == "/mnt") {
			lines = append(lines, line)
		}
	}
	return lines
}

// hostModules returns the host's loaded modules.
func hostModules(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/modules")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if name, _, _ := strings.Cut(line, " "); name != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// TestPrivilegedCallsFail checks that the container cannot load or remove
// modules (EPERM, as for a container without CAP_SYS_MODULE, and the host's module
// list stays the same), mount anything the host sees (a mount may fail or stay in
// the sandbox; no new mount under the rootfs or on /mnt on the host), set the
// clock (the calls fail; the host clock does not jump), or open raw or packet
// sockets. That the clock calls fail with EPERM, as on Linux, is checked by
// TestClockEPERM (isolation_failing_test.go).
func TestPrivilegedCallsFail(t *testing.T) {
	rootfs := debianRootfs(t)
	modules, mounts, offset := hostModules(t), hostMounts(t, rootfs), clockOffset(t)
	got := privilegedResults(t)
	for name, want := range map[string]string{"init_module": "EPERM", "finit_module": "EPERM", "delete_module": "EPERM"} {
		if got[name] != want {
			t.Errorf("%s in the container: %q, want %s", name, got[name], want)
		}
	}
	for _, name := range []string{"clock_settime", "settimeofday", "socket_packet_raw", "socket_packet_dgram", "socket_inet_raw", "socket_inet_raw_icmp", "socket_inet6_raw"} {
		if r, ok := got[name]; !ok || r == "ok" {
			t.Errorf("%s in the container: %q, want an error", name, r)
		}
	}
	for _, name := range []string{"mount_tmpfs", "mount_bind", "mount_proc", "mount_sysfs", "umount2"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s was not tried", name)
		}
	}
	if after := hostModules(t); after != modules {
		t.Errorf("the host's modules changed: %q, were %q", after, modules)
	}
	if after := hostMounts(t, rootfs); !slices.Equal(after, mounts) {
		t.Errorf("the host's mounts under %s or on /mnt changed: %q, were %q", rootfs, after, mounts)
	}
	if d := clockOffset(t) - offset; d > 500*time.Millisecond || d < -500*time.Millisecond {
		t.Errorf("the host clock jumped by %v while the container ran", d)
	}
}

// procSysScript looks at the container's /proc and /sys: init's command line,
// whether the mount tables name a host path (argv[1:]), the files of /sys and of
// /proc/sys that open for writing; then it sets its hostname through
// /proc/sys/kernel/hostname and sethostname.
const procSysScript = `
import os, socket, sys
print("init", open("/proc/1/cmdline").read().split("\0")[:2])
tables = open("/proc/mounts").read() + open("/proc/self/mountinfo").read()
print("host paths in mount tables", [p for p in sys.argv[1:] if p in tables])
def writable(top):
    found, total = [], 0
    for d, _, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            total += 1
            try:
                os.close(os.open(p, os.O_WRONLY))
                found.append(p)
            except OSError:
                pass
    return found, total > 0
print("writable in /sys", writable("/sys"))
print("writable in /proc/sys", writable("/proc/sys")[0], file=sys.stderr)
try:
    with open("/proc/sys/kernel/hostname", "w") as f:
        f.write("visor-e2e-procsys")
except OSError as e:
    print("procsys hostname:", e.strerror, file=sys.stderr)
try:
    socket.sethostname("visor-e2e-sethostname")
except OSError as e:
    print("sethostname:", e.strerror, file=sys.stderr)
print("hostname now", socket.gethostname(), file=sys.stderr)
`

// TestHostProcSysUnreachable checks that the container's /proc and /sys are the
// sandbox's: /proc/1 is the container's init, the mount tables name no host path,
// no file under /sys opens for writing (runc mounts /sys read-only; the Sentry's
// is its own), and setting the hostname by /proc/sys/kernel/hostname or
// sethostname leaves the host's as it was.
func TestHostProcSysUnreachable(t *testing.T) {
	rootfs := debianRootfs(t)
	hostName, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	procHostname, err := os.ReadFile("/proc/sys/kernel/hostname")
	if err != nil {
		t.Fatal(err)
	}
	hostDir := t.TempDir()
	bundleMarker := filepath.Join(hostDir, "bind")
	if err := os.Mkdir(bundleMarker, 0o755); err != nil {
		t.Fatal(err)
	}
	res := runDebian(t, "", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: bundleMarker, Options: []string{"rbind"}})
	}, "python3", "-c", procSysScript, rootfs, hostDir, "/sys/fs/cgroup", "/var/lib")
	t.Logf("container stderr:\n%s", res.stderr)
	want := "init ['python3', '-c']\nhost paths in mount tables []\nwritable in /sys ([], True)\n"
	if res.status != 0 || res.stdout != want {
		t.Errorf("container: status %d, stdout %q, stderr %q; want 0, %q", res.status, res.stdout, res.stderr, want)
	}
	if now, err := os.Hostname(); err != nil || now != hostName {
		t.Errorf("the host's hostname is %q (%v) after the container ran, was %q", now, err, hostName)
	}
	if now, err := os.ReadFile("/proc/sys/kernel/hostname"); err != nil || string(now) != string(procHostname) {
		t.Errorf("the host's /proc/sys/kernel/hostname is %q (%v), was %q", now, err, procHostname)
	}
}

// exeScript opens, for writing, the executables of running processes through
// /proc: its own (python3), init's (sh) and a sleep's, directly and by reopening
// an O_PATH fd through /proc/self/fd; what opens, it overwrites. One line each:
// what it tried and the outcome.
const exeScript = `
import errno, os, sys
sleep = sys.argv[1]
def attempt(label, path):
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        print(label, errno.errorcode[e.errno])
        return
    os.write(fd, b"\x7fELF visor-e2e overwrote this")
    os.close(fd)
    print(label, "overwritten")
attempt("self", "/proc/self/exe")
attempt("init", "/proc/1/exe")
attempt("sleep", "/proc/%s/exe" % sleep)
fd = os.open("/proc/self/exe", os.O_PATH)
attempt("self O_PATH reopen", "/proc/self/fd/%d" % fd)
`

// TestExeNotOverwritable runs exeScript and checks, on the host, that the runsc
// binary (which the Sentry and the Gofer run) and the rootfs's binaries the
// container runs have the same SHA-256 as before: whatever the container writes
// through /proc/PID/exe stays in its sandbox. That opening a running executable
// for writing fails (ETXTBSY) as on Linux is TestExeWriteBusy's
// (isolation_failing_test.go).
func TestExeNotOverwritable(t *testing.T) {
	rootfs := debianRootfs(t)
	files := []string{runscPath()}
	for _, bin := range []string{"usr/bin/python3.11", "usr/bin/dash", "usr/bin/sleep"} {
		files = append(files, filepath.Join(rootfs, bin))
	}
	before := map[string]string{}
	for _, f := range files {
		before[f] = sha256File(t, f)
	}
	// The container's status is not checked: an overwritten sh (init) may crash
	// when it runs on; only the four attempts must have been made.
	res := runDebian(t, "", nil, "sh", "-c", `sleep 100 & python3 -c "$0" $!; kill $!`, exeScript)
	t.Logf("container: status %d, stdout:\n%s\nstderr:\n%s", res.status, res.stdout, res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	for i, label := range []string{"self ", "init ", "sleep ", "self O_PATH reopen "} {
		if i >= len(lines) || !strings.HasPrefix(lines[i], label) {
			t.Errorf("attempt %q was not made: stdout %q, stderr %q", label, res.stdout, res.stderr)
		}
	}
	for _, f := range files {
		if after := sha256File(t, f); after != before[f] {
			t.Errorf("%s changed on the host: sha256 %s, was %s", f, after, before[f])
		}
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// exeWatchScript is a container's init that lies in wait for runsc exec, as in
// runc's CVE-2019-5736: it plants /usr/local/bin/evil, a script whose
// interpreter is /proc/self/exe, then for ten seconds opens for writing the
// executable of every new process through /proc/PID/exe and overwrites what
// opens. It prints "ready" first, then one line per process it got at.
const exeWatchScript = `
import os, sys, time
with open("/usr/local/bin/evil", "w") as f:
    f.write("#!/proc/self/exe\n")
os.chmod("/usr/local/bin/evil", 0o755)
print("ready", flush=True)
seen, end = {os.getpid()}, time.time() + 10
while time.time() < end:
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) in seen:
            continue
        seen.add(int(p))
        try:
            fd = os.open("/proc/%s/exe" % p, os.O_WRONLY)
            os.write(fd, b"\x7fELF visor-e2e overwrote this")
            os.close(fd)
            print("overwrote the exe of", p, flush=True)
        except OSError as e:
            print("could not open the exe of", p, e.strerror, flush=True)
    time.sleep(0.005)
`

// TestExecExeNotOverwritable runs exeWatchScript as a container's init and
// `runsc exec`s into it, the script and sleep, while it tries to overwrite
// every new process's executable through /proc/PID/exe: on the host, the runsc
// binary (and the rootfs's binaries) must keep their SHA-256.
func TestExecExeNotOverwritable(t *testing.T) {
	rootfs := debianRootfs(t)
	files := []string{runscPath()}
	for _, bin := range []string{"usr/bin/python3.11", "usr/bin/sleep", "usr/bin/true"} {
		files = append(files, filepath.Join(rootfs, bin))
	}
	before := map[string]string{}
	for _, f := range files {
		before[f] = sha256File(t, f)
	}
	r := newOCIRoot(t)
	const id = "e2e-exec-exe"
	out := r.create(id, rootfs, "python3", "-c", exeWatchScript)
	r.must("start", id)
	r.waitOutput(out, "ready\n", runTimeout)
	for _, args := range [][]string{{"/usr/local/bin/evil"}, {"sleep", "0.5"}, {"/usr/local/bin/evil"}, {"sleep", "0.5"}, {"true"}} {
		res := r.runsc(append([]string{"exec", id}, args...)...)
		t.Logf("runsc exec %q: status %d, stdout %q, stderr %q", args, res.status, res.stdout, res.stderr)
	}
	r.must("kill", id, "KILL")
	r.waitStatus(id, specs.StateStopped, 10*time.Second)
	r.must("delete", id)
	t.Logf("container stdout:\n%s", readString(t, out))
	if !strings.Contains(readString(t, out), "the exe of") {
		t.Errorf("the container saw no exec'd process: the test did not run as meant")
	}
	for _, f := range files {
		if after := sha256File(t, f); after != before[f] {
			t.Errorf("%s changed on the host: sha256 %s, was %s", f, after, before[f])
		}
	}
	r.checkClean()
}

// sandboxProcesses creates and starts a container that sleeps, and returns its
// Sentry's and Gofer's host PIDs, named "sentry" and "gofer".
func sandboxProcesses(t *testing.T) map[string]int {
	t.Helper()
	r := newOCIRoot(t)
	const id = "e2e-confined"
	out := r.create(id, debianRootfs(t), "sh", "-c", "echo ready; sleep 100")
	r.must("start", id)
	r.waitOutput(out, "ready\n", runTimeout)
	sentry, gofer := r.statePids(id)
	return map[string]int{"sentry": sentry, "gofer": gofer}
}

// checkNamespaces checks that pid is in namespaces of its own of each kind in
// kinds, not this test's.
func checkNamespaces(t *testing.T, name string, pid int, kinds ...string) {
	t.Helper()
	for _, ns := range kinds {
		mine, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			t.Errorf("%s (pid %d): %v", name, pid, err)
		} else if theirs == mine {
			t.Errorf("the %s (pid %d) is in the host's %s namespace (%s)", name, pid, ns, mine)
		}
	}
}

// checkRootHidden checks that a host file of the test's own cannot be reached
// under pid's root directory: its file system is not the host's.
func checkRootHidden(t *testing.T, name string, pid int) {
	t.Helper()
	sentinel := filepath.Join(t.TempDir(), "sentinel")
	if err := os.WriteFile(sentinel, []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", pid))
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/root%s", pid, sentinel)); err == nil {
		t.Errorf("the %s (pid %d, root %q) can reach the host file %s: it is not confined to a root of its own", name, pid, root, sentinel)
	}
}

// TestSandboxNamespaces checks, on the host, that the Sentry and the Gofer of a
// running container are in mount, network, IPC and UTS namespaces of their own,
// and that the Gofer's root hides the host's files. The PID namespace is
// TestSandboxPIDNamespace's (isolation_failing_test.go); seccomp, no_new_privs,
// capabilities and the Sentry's empty root are sandboxing_test.go's.
func TestSandboxNamespaces(t *testing.T) {
	procs := sandboxProcesses(t)
	for _, name := range []string{"sentry", "gofer"} {
		checkNamespaces(t, name, procs[name], "mnt", "net", "ipc", "uts")
	}
	checkRootHidden(t, "gofer", procs["gofer"])
}

// TestNoHostDeviceNodes has the container make device nodes in a read-write bind
// mount (/dev/mem's 1:1, /dev/null's 1:3, the first disk's block device 8:0) and
// open them: no character or block device may appear in the host directory,
// which would give whoever opens it the host's memory or disk.
func TestNoHostDeviceNodes(t *testing.T) {
	bindDir := t.TempDir()
	res := runDebian(t, "", func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: bindDir, Options: []string{"rbind", "rw"}})
	}, "python3", "-c", `
import errno, os, stat
for name, kind, dev in [("mem", stat.S_IFCHR, (1, 1)), ("null", stat.S_IFCHR, (1, 3)), ("sda", stat.S_IFBLK, (8, 0))]:
    p = "/data/" + name
    try:
        os.mknod(p, kind | 0o666, os.makedev(*dev))
        made = "made"
    except OSError as e:
        made = errno.errorcode[e.errno]
    try:
        os.close(os.open(p, os.O_RDONLY | os.O_NONBLOCK))
        opened = "opened"
    except OSError as e:
        opened = errno.errorcode[e.errno]
    print(name, made, opened)
`)
	t.Logf("container: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	if res.status != 0 || strings.Count(res.stdout, "\n") != 3 {
		t.Errorf("container: status %d, stdout %q, stderr %q; want 0 and a line per node", res.status, res.stdout, res.stderr)
	}
	entries, err := os.ReadDir(bindDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type()&(os.ModeDevice|os.ModeCharDevice) != 0 {
			t.Errorf("the container made the device node %s on the host (%v)", filepath.Join(bindDir, e.Name()), e.Type())
		}
	}
}

// TestHostNetworkUnreachable listens on the host, on every address, on a TCP
// port of the test's own, and has the container connect to it at 127.0.0.1 and
// at each of the host's own addresses: every connect must fail, and the host
// listener must see no connection (the sandbox's network is its own; with
// --network=sandbox its loopback is not the host's).
func TestHostNetworkUnreachable(t *testing.T) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan string, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c.RemoteAddr().String()
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	addrs := []string{"127.0.0.1"}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ifaddrs {
		if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() {
			addrs = append(addrs, ip.IP.String())
		}
	}
	res := runDebian(t, "", nil, append([]string{"python3", "-c", `
import errno, socket, sys
port = int(sys.argv[1])
for addr in sys.argv[2:]:
    try:
        socket.create_connection((addr, port), timeout=3).close()
        print(addr, "connected")
    except OSError as e:
        print(addr, errno.errorcode.get(e.errno, str(e)))
`, strconv.Itoa(port)}, addrs...)...)
	t.Logf("container: status %d, stdout %q, stderr %q", res.status, res.stdout, res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if res.status != 0 || len(lines) != len(addrs) {
		t.Errorf("container: status %d, stdout %q, stderr %q; want 0 and a line for each of %q", res.status, res.stdout, res.stderr, addrs)
	}
	for _, line := range lines {
		if strings.HasSuffix(line, " connected") {
			t.Errorf("the container connected to the host's listener: %s", line)
		}
	}
	select {
	case from := <-accepted:
		t.Errorf("the host's listener on port %d accepted a connection from %s", port, from)
	case <-time.After(100 * time.Millisecond):
	}
}
