package containerd

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"visor.dev/visor/test/engine"
)

const (
	containerdBin = "/usr/bin/containerd"
	ctrBin        = "/usr/bin/ctr"
	// image is the name ctr gives the archive's "visor-test/busybox:latest".
	image = "docker.io/visor-test/busybox:latest"
	ns    = "visor-test"
	// snapshotter: native (plain copies) works on any filesystem, overlay or not.
	snapshotter = "native"
)

// containerd is a containerd the test started.
type containerd struct {
	dir      string
	sock     string
	runcRoot string // the runtimes' --root, given to the shim
	log      string
	cmd      *exec.Cmd
	done     chan struct{}
}

// configTemplate is containerd's configuration: every path of its own under the
// test's directory (%[1]s), CRI off (not needed, and slow to start).
const configTemplate = `version = 2
root = "%[1]s/root"
state = "%[1]s/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "%[1]s/containerd.sock"

[ttrpc]
  address = "%[1]s/containerd.sock.ttrpc"

[debug]
  address = "%[1]s/debug.sock"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "%[1]s/opt"
`

// startContainerd starts containerd and stops it, removing all it made, when the
// test ends.
func startContainerd(t *testing.T) *containerd {
	t.Helper()
	// Under /tmp, not $TMPDIR (Bazel's is deep): the daemon's sockets live in it, and
	// a unix socket's path must fit in 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "visor-containerd-")
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{
		dir:      dir,
		sock:     filepath.Join(dir, "containerd.sock"),
		runcRoot: filepath.Join(dir, "runc-root"),
		log:      filepath.Join(dir, "containerd.log"),
		done:     make(chan struct{}),
	}
	t.Cleanup(func() {
		engine.Unmount(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, configTemplate, dir), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(c.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c.cmd = exec.Command(containerdBin, "--config", config)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// Its own process group: a ^C to the test must not reach it before the
	// cleanup has removed the containers. SIGTERM if the test dies without one.
	c.cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true, Pdeathsig: unix.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.stop(t) })

	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-c.done:
			t.Fatalf("containerd exited: %v; log:\n%s", c.cmd.ProcessState, engine.TailFile(c.log, 40))
		default:
		}
		if conn, err := net.Dial("unix", c.sock); err == nil {
			conn.Close()
			if res := c.ctr(t, "", "version"); res.Status == 0 {
				t.Logf("containerd up (pid %d) in %s", c.cmd.Process.Pid, dir)
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer within a minute; log:\n%s", engine.TailFile(c.log, 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop deletes every task and container and stops containerd. A shim outlives
// containerd while its task does, so tasks go first.
func (c *containerd) stop(t *testing.T) {
	select {
	case <-c.done:
		t.Errorf("containerd exited during the test: %v; log:\n%s", c.cmd.ProcessState, engine.TailFile(c.log, 40))
		return
	default:
	}
	if res := c.ctr(t, "", "containers", "ls", "-q"); res.Status == 0 {
		for _, id := range strings.Fields(res.Stdout) {
			c.remove(t, id)
		}
	}
	engine.StopProcess(t, c.cmd, c.done, 30*time.Second)
	if t.Failed() {
		t.Logf("containerd log (%s):\n%s", c.log, engine.TailFile(c.log, 60))
	}
}

// remove kills and deletes container id's task, if any, and the container.
func (c *containerd) remove(t *testing.T, id string) {
	t.Helper()
	c.ctr(t, "", "tasks", "kill", "-s", "SIGKILL", id)
	c.ctr(t, "", "tasks", "delete", "-f", id)
	if res := c.ctr(t, "", "containers", "delete", id); res.Status != 0 && !strings.Contains(res.Stderr, "not found") {
		t.Errorf("ctr containers delete %s: %v", id, res)
	}
}

// ctr runs ctr against this containerd, in the test's namespace.
func (c *containerd) ctr(t *testing.T, stdin string, args ...string) engine.Result {
	t.Helper()
	return engine.Run(t, nil, stdin, ctrBin, append([]string{"--address", c.sock, "--namespace", ns}, args...)...)
}

// dockerArchive writes a docker-archive image (`docker save`'s format, which ctr
// imports) of rootfs to file, tagged visor-test/busybox:latest.
func dockerArchive(t *testing.T, rootfs, file string) {
	t.Helper()
	layer := filepath.Join(filepath.Dir(file), "layer.tar")
	engine.TarDir(t, rootfs, layer)
	layerData, err := os.ReadFile(layer)
	if err != nil {
		t.Fatal(err)
	}
	diffID := sha256.Sum256(layerData)
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		t.Fatal(err)
	}
	configID := sha256.Sum256(config)
	configName := hex.EncodeToString(configID[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": []string{"visor-test/busybox:latest"},
		"Layers":   []string{layerName},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{configName, config}, {layerName, layerData}, {"manifest.json", manifest}} {
		if dir := filepath.Dir(f.name); dir != "." {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkContainerd skips the test where containerd cannot start.
func checkContainerd(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("containerd needs root")
	}
	for _, bin := range []string{containerdBin, ctrBin} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%v: install containerd (tools/setup.sh does)", err)
		}
	}
}

func TestContainerd(t *testing.T) {
	checkContainerd(t)
	work := t.TempDir()
	rts := engine.Runtimes(t, work)
	c := startContainerd(t)

	archive := filepath.Join(work, "image.tar")
	dockerArchive(t, engine.BusyboxRootfs(t, work), archive)
	if res := c.ctr(t, "", "images", "import", "--snapshotter", snapshotter, archive); res.Status != 0 {
		t.Fatalf("ctr images import: %v", res)
	}
	if res := c.ctr(t, "", "images", "ls", "-q"); !strings.Contains(res.Stdout, image) {
		t.Fatalf("after import, ctr images ls -q: %v; want %s", res, image)
	}

	for _, rt := range rts {
		t.Run(rt.Name, func(t *testing.T) {
			cs := &cases{c: c, rt: rt, binary: runtimeBinary(t, c.dir, rt)}
			t.Run("run", cs.run)
			t.Run("killed", cs.killed)
			t.Run("env", cs.env)
			t.Run("bind", cs.bind)
			t.Run("detached", cs.detached)
			t.Run("kill", cs.kill)
			t.Run("tty", cs.tty)
			t.Run("cleanup", cs.cleanup)
		})
	}
}

// runtimeBinary returns what the shim runs as runc: the runtime itself, or, when
// it has global flags, a script in dir that adds them (runc's shim options name a
// binary, not arguments: Docker does the same).
func runtimeBinary(t *testing.T, dir string, rt engine.Runtime) string {
	if len(rt.Args) == 0 {
		return rt.Binary
	}
	script := "#!/bin/sh\nexec " + shellQuote(rt.Binary)
	for _, a := range rt.Args {
		script += " " + shellQuote(a)
	}
	script += ` "$@"` + "\n"
	path := filepath.Join(dir, "runtime-"+rt.Name)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// cases are the checks, run once per runtime.
type cases struct {
	c      *containerd
	rt     engine.Runtime
	binary string
}

// id returns a container ID unique to the runtime and the case.
func (cs *cases) id(s string) string { return "visor-" + cs.rt.Name + "-" + s }

// runArgs returns the arguments of `ctr run` with the runtime, then opts, the
// image, id and the command.
func (cs *cases) runArgs(opts []string, id string, cmd ...string) []string {
	args := []string{"run", "--snapshotter", snapshotter, "--runtime", "io.containerd.runc.v2",
		"--runc-binary", cs.binary, "--runc-root", cs.c.runcRoot}
	return append(append(append(args, opts...), image, id), cmd...)
}

// ctrRun runs `ctr run --rm`.
func (cs *cases) ctrRun(t *testing.T, stdin string, opts []string, id string, cmd ...string) engine.Result {
	t.Helper()
	return cs.c.ctr(t, stdin, cs.runArgs(append([]string{"--rm"}, opts...), id, cmd...)...)
}

// run checks ctr run's output and exit codes.
func (cs *cases) run(t *testing.T) {
	for i, tc := range []struct {
		name       string
		cmd        []string
		wantStatus int
		wantStdout string
		wantStderr string
	}{
		{"echo", []string{"echo", "hello", "world"}, 0, "hello world\n", ""},
		{"exit 3", []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err\n"},
		{"pid 1", []string{"sh", "-c", "echo $$"}, 0, "1\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := cs.ctrRun(t, "", nil, cs.id(fmt.Sprint("run", i)), tc.cmd...)
			if res.Status != tc.wantStatus || res.Stdout != tc.wantStdout || res.Stderr != tc.wantStderr {
				t.Errorf("ctr run %q: %v; want exit %d, stdout %q, stderr %q", tc.cmd, res, tc.wantStatus, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

// taskStatus returns the STATUS column of `ctr tasks ls` for id ("" if absent).
func (cs *cases) taskStatus(t *testing.T, id string) string {
	t.Helper()
	res := cs.c.ctr(t, "", "tasks", "ls")
	for _, line := range strings.Split(res.Stdout, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}

// taskPID returns the host PID `ctr tasks ls` gives id's task.
func (cs *cases) taskPID(t *testing.T, id string) int {
	t.Helper()
	res := cs.c.ctr(t, "", "tasks", "ls")
	for _, line := range strings.Split(res.Stdout, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("ctr tasks ls: %v", res)
			}
			return pid
		}
	}
	t.Fatalf("no task %s in ctr tasks ls: %v", id, res)
	return 0
}

// waitStatus waits until id's task has status want.
func (cs *cases) waitStatus(t *testing.T, id, want string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := cs.taskStatus(t, id)
		if got == want {
			return
		}
		select {
		case <-exited:
			t.Fatalf("ctr run exited while waiting for task %s to be %s (it is %q)", id, want, got)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s is %q after a minute, want %s", id, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killed checks that `ctr run` of a task killed from outside exits 137.
func (cs *cases) killed(t *testing.T) {
	id := cs.id("killed")
	cmd := exec.Command(ctrBin, append([]string{"--address", cs.c.sock, "--namespace", ns},
		cs.runArgs([]string{"--rm"}, id, "sleep", "1000")...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		cs.c.remove(t, id)
	}()
	cs.waitStatus(t, id, "RUNNING", exited)
	if res := cs.c.ctr(t, "", "tasks", "kill", "-s", "SIGKILL", id); res.Status != 0 {
		t.Fatalf("ctr tasks kill: %v", res)
	}
	select {
	case <-exited:
		ee, ok := errors.AsType[*exec.ExitError](waitErr)
		if !ok || ee.ExitCode() != 137 {
			t.Errorf("ctr run of a killed task: %v, output %q; want exit 137", waitErr, out.String())
		}
	case <-time.After(engine.CommandTimeout):
		t.Errorf("ctr run still running %v after SIGKILL; output %q", engine.CommandTimeout, out.String())
	}
}

// env checks --env.
func (cs *cases) env(t *testing.T) {
	res := cs.ctrRun(t, "", []string{"--env", "FOO=bar baz"}, cs.id("env"), "sh", "-c", `echo "$FOO|$PATH"`)
	if want := "bar baz|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"; res.Status != 0 || res.Stdout != want {
		t.Errorf("ctr run --env: %v; want exit 0, stdout %q", res, want)
	}
}

// bind checks --mount type=bind: read and write, seen by the host.
func (cs *cases) bind(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := []string{"--mount", "type=bind,src=" + host + ",dst=/data,options=rbind:rw"}
	res := cs.ctrRun(t, "", opts, cs.id("bind"), "sh", "-c", "cat /data/in && echo from container > /data/out")
	if res.Status != 0 || res.Stdout != "from host\n" {
		t.Errorf("ctr run --mount: %v; want exit 0, stdout %q", res, "from host\n")
	}
	if got, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(got) != "from container\n" {
		t.Errorf("host sees %q (%v), want %q", got, err, "from container\n")
	}
}

// trapScript says it is ready, waits for SIGTERM and exits 0 on it.
const trapScript = `trap 'echo got SIGTERM; exit 0' TERM; echo ready; while :; do sleep 1 & wait $!; done`

// startDetached starts `ctr run -d` of trapScript with its output in a log file,
// waits until it is ready, and returns the log's path.
func (cs *cases) startDetached(t *testing.T, id string) string {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "log")
	if res := cs.c.ctr(t, "", cs.runArgs([]string{"-d", "--log-uri", "file://" + logFile}, id, "sh", "-c", trapScript)...); res.Status != 0 {
		t.Fatalf("ctr run -d: %v", res)
	}
	cs.waitLog(t, logFile, "ready\n")
	return logFile
}

// waitLog waits until file holds want.
func (cs *cases) waitLog(t *testing.T, file, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, _ := os.ReadFile(file)
		if string(got) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task output %q after a minute, want %q", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// detached checks ctr run -d, tasks exec and SIGTERM.
func (cs *cases) detached(t *testing.T) {
	id := cs.id("detached")
	defer cs.c.remove(t, id)
	logFile := cs.startDetached(t, id)
	for i, tc := range []struct {
		args       []string
		wantStatus int
		wantStdout string
	}{
		// Each lingers after its output: ctr opens its end of the output FIFOs
		// asynchronously, and what a process that has already exited wrote is lost
		// if the shim closed its end first (seen with runc on a loaded machine).
		{[]string{"sh", "-c", "echo exec out; sleep 1"}, 0, "exec out\n"},
		{[]string{"sh", "-c", "pwd; sleep 1; exit 4"}, 4, "/tmp\n"},
	} {
		args := append([]string{"tasks", "exec", "--exec-id", fmt.Sprint("e", i), "--cwd", "/tmp", id}, tc.args...)
		if res := cs.c.ctr(t, "", args...); res.Status != tc.wantStatus || res.Stdout != tc.wantStdout {
			t.Errorf("ctr %q: %v; want exit %d, stdout %q", args, res, tc.wantStatus, tc.wantStdout)
		}
	}

	start := time.Now()
	if res := cs.c.ctr(t, "", "tasks", "kill", id); res.Status != 0 {
		t.Fatalf("ctr tasks kill (SIGTERM): %v", res)
	}
	cs.waitStatus(t, id, "STOPPED", nil)
	t.Logf("stopped %v after SIGTERM", time.Since(start))
	cs.waitLog(t, logFile, "ready\ngot SIGTERM\n")
	if status := cs.deleteTask(t, false, id); status != 0 {
		t.Errorf("the task exited %d after SIGTERM, want 0", status)
	}
}

// deleteTask runs `ctr tasks delete [-f] id` and returns the task's exit status,
// which ctr reports as a warning on stderr when it is not 0.
func (cs *cases) deleteTask(t *testing.T, force bool, id string) int {
	t.Helper()
	args := []string{"tasks", "delete", id}
	if force {
		args = []string{"tasks", "delete", "-f", id}
	}
	res := cs.c.ctr(t, "", args...)
	if res.Status != 0 {
		t.Fatalf("ctr %q: %v", args, res)
	}
	m := exitWarning.FindStringSubmatch(res.Stderr)
	if m == nil {
		return 0
	}
	status, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return status
}

var exitWarning = regexp.MustCompile(`exit with non-zero exit code (\d+)`)

// kill checks SIGKILL of a detached task: ctr tasks delete reports 137.
func (cs *cases) kill(t *testing.T) {
	id := cs.id("kill")
	defer cs.c.remove(t, id)
	logFile := cs.startDetached(t, id)
	if res := cs.c.ctr(t, "", "tasks", "kill", "-s", "SIGKILL", id); res.Status != 0 {
		t.Fatalf("ctr tasks kill -s SIGKILL: %v", res)
	}
	cs.waitStatus(t, id, "STOPPED", nil)
	if status := cs.deleteTask(t, false, id); status != 137 {
		t.Errorf("the killed task exited %d, want 137", status)
	}
	if got, _ := os.ReadFile(logFile); string(got) != "ready\n" {
		t.Errorf("task output %q, want %q (no SIGTERM seen)", got, "ready\n")
	}
}

// tty checks ctr run -t through a pty this test drives.
func (cs *cases) tty(t *testing.T) {
	args := append([]string{"--address", cs.c.sock, "--namespace", ns}, cs.runArgs([]string{"--rm", "-t"}, cs.id("tty"), "sh")...)
	engine.CheckTerminal(t, exec.Command(ctrBin, args...))
}

// cleanup checks that killing and deleting a running task and its container
// leaves no process, mount or state directory behind.
func (cs *cases) cleanup(t *testing.T) {
	before, err := engine.ProcessesOf(cs.rt.Binary)
	if err != nil {
		t.Fatal(err)
	}
	id := cs.id("cleanup")
	cs.startDetached(t, id)
	engine.CheckRunsIn(t, cs.rt, cs.taskPID(t, id))
	stateDir := filepath.Join(cs.c.runcRoot, ns, id)
	if _, err := os.Stat(stateDir); err != nil {
		t.Errorf("the running container's state directory: %v", err)
	}
	if status := cs.deleteTask(t, true, id); status != 137 {
		t.Errorf("ctr tasks delete -f of a running task: it exited %d, want 137", status)
	}
	if res := cs.c.ctr(t, "", "containers", "delete", id); res.Status != 0 {
		t.Errorf("ctr containers delete: %v", res)
	}
	if left := engine.Leftovers(cs.rt, before, id, stateDir, 10*time.Second); len(left) > 0 {
		t.Errorf("deleting the task and container left behind:\n%s", strings.Join(left, "\n"))
	}
}
