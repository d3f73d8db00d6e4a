package benchmarks

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// An ociRuntime is a runc-compatible CLI driven the way containerd's runc shim
// drives it: create with a pid file, start, reap the pid file's process as a
// subreaper, delete.
type ociRuntime struct {
	name string
	bin  func(b testing.TB, e *env) string
	// args returns the global flags.
	args func(b testing.TB, e *env) []string
	// spec returns the spec of a container running argv.
	spec func(b testing.TB, e *env, argv []string) *specs.Spec
}

var ociRuntimes = []ociRuntime{
	{
		name: "runsc",
		bin:  func(b testing.TB, e *env) string { return e.runscBinary(b) },
		args: func(b testing.TB, e *env) []string {
			return []string{"--platform=" + *flagPlatform, "--root=" + filepath.Join(e.dir, "runsc-state")}
		},
		spec: func(b testing.TB, e *env, argv []string) *specs.Spec { return baseSpec("/", argv) },
	},
	{
		name: "runc",
		bin: func(b testing.TB, e *env) string {
			p, err := exec.LookPath("runc")
			if err != nil {
				b.Skip("runc is not installed")
			}
			return p
		},
		args: func(b testing.TB, e *env) []string { return []string{"--root=" + filepath.Join(e.dir, "runc-state")} },
		spec: func(b testing.TB, e *env, argv []string) *specs.Spec { return runcSpec(e.runcRootfs(b), argv) },
	},
}

// selectedOCI returns the OCI runtimes -runtimes names.
func selectedOCI() []ociRuntime {
	var rs []ociRuntime
	for _, n := range strings.Split(*flagRuntimes, ",") {
		for _, r := range ociRuntimes {
			if r.name == strings.TrimSpace(n) {
				rs = append(rs, r)
			}
		}
	}
	return rs
}

// becomeSubreaper makes this process the reaper of the containers' processes
// once the runtime's create has exited, as containerd's shim is.
func becomeSubreaper(b testing.TB) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		b.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
}

// container is one created container of an ociRuntime.
type container struct {
	rt     ociRuntime
	bin    string
	global []string
	id     string
	pid    int
}

// create runs `create --bundle --pid-file ID` and reads the pid file.
func (r ociRuntime) create(b testing.TB, e *env, bundle string) *container {
	c := &container{rt: r, bin: r.bin(b, e), global: r.args(b, e), id: fmt.Sprintf("visor-bench-%d-%d", os.Getpid(), e.ids.Add(1))}
	pidFile := filepath.Join(e.dir, c.id+".pid")
	c.cmd(b, "create", "--bundle", bundle, "--pid-file", pidFile, c.id)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		b.Fatal(err)
	}
	os.Remove(pidFile)
	if c.pid, err = strconv.Atoi(strings.TrimSpace(string(data))); err != nil {
		b.Fatalf("%s pid file: %v", r.name, err)
	}
	return c
}

// cmd runs a command of the runtime on the container and fails b if it fails.
func (c *container) cmd(b testing.TB, args ...string) {
	b.Helper()
	cmd := exec.Command(c.bin, append(append([]string{}, c.global...), args...)...)
	// create's children inherit stdio: a pipe would keep Run waiting for the
	// container's end, so stderr goes to a file.
	stderr, err := os.CreateTemp("", "visor-bench-stderr-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(stderr.Name())
		b.Fatalf("%s %s: %v\n%s", c.rt.name, strings.Join(args, " "), err, msg)
	}
}

// reap waits for the pid file's process, reparented to this subreaper.
func (c *container) reap(b testing.TB) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(c.pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			b.Fatalf("%s: waiting for pid %d: %v", c.rt.name, c.pid, err)
		}
		return ws
	}
}

// reapStray reaps whatever else has ended below this subreaper (runsc's Gofer
// exits after the Sentry), so that zombies do not pile up over a run.
// Precondition: no exec.Cmd of this process is running.
func reapStray() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 && err != unix.EINTR {
			return
		}
	}
}

// BenchmarkLifecycle is create + start + reap + delete of a container running
// /bin/true, the sequence containerd's runc shim runs for `docker run --rm`.
func BenchmarkLifecycle(b *testing.B) {
	for _, rt := range selectedOCI() {
		b.Run(rt.name, func(b *testing.B) {
			e := getEnv(b)
			becomeSubreaper(b)
			bundle := e.bundle(b, "lifecycle\x00"+rt.name, rt.spec(b, e, []string{"/bin/true"}))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := rt.create(b, e, bundle)
				c.cmd(b, "start", c.id)
				if ws := c.reap(b); ws.ExitStatus() != 0 {
					b.Fatalf("%s: /bin/true ended with %#x", rt.name, ws)
				}
				c.cmd(b, "delete", c.id)
				reapStray()
			}
		})
	}
}

// BenchmarkIdleMemory reports the memory of a started container whose process
// sleeps: the sum of the resident set sizes (rss-bytes/op) and of the
// proportional set sizes (pss-bytes/op, shared pages split among their users)
// of every host process the container consists of (runsc: the Sentry, the
// Gofer and the stubs; runc: the container's process). Its ns/op is meaningless.
func BenchmarkIdleMemory(b *testing.B) {
	for _, rt := range selectedOCI() {
		b.Run(rt.name, func(b *testing.B) {
			e := getEnv(b)
			becomeSubreaper(b)
			bundle := e.bundle(b, "idle\x00"+rt.name, rt.spec(b, e, []string{"/bin/sleep", "1000"}))
			var rss, pss uint64
			for i := 0; i < b.N; i++ {
				c := rt.create(b, e, bundle)
				c.cmd(b, "start", c.id)
				r, p, err := descendantsMemory(os.Getpid())
				c.cmd(b, "delete", "--force", c.id)
				c.reap(b)
				reapStray()
				if err != nil {
					b.Fatal(err)
				}
				rss += r
				pss += p
			}
			b.ReportMetric(float64(rss)/float64(b.N), "rss-bytes/op")
			b.ReportMetric(float64(pss)/float64(b.N), "pss-bytes/op")
		})
	}
}

// descendantsMemory sums Rss and Pss of /proc/PID/smaps_rollup over every
// process below pid.
func descendantsMemory(pid int) (rss, pss uint64, err error) {
	children := map[int][]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	for _, ent := range ents {
		p, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue // gone
		}
		// The field after the parenthesised command name: state, then ppid.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var n int
	queue := append([]int{}, children[pid]...)
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		r, s, err := smapsRollup(p)
		if err != nil {
			continue // gone
		}
		rss += r
		pss += s
		n++
	}
	if n == 0 {
		return 0, 0, fmt.Errorf("no process below pid %d", pid)
	}
	return rss, pss, nil
}

// smapsRollup returns a process's Rss and Pss in bytes.
func smapsRollup(pid int) (rss, pss uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 || fields[2] != "kB" {
			continue
		}
		v, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Rss:":
			rss = v << 10
		case "Pss:":
			pss = v << 10
		}
	}
	return rss, pss, sc.Err()
}
