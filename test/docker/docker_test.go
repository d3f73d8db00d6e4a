package docker

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"visor.dev/visor/test/engine"
)

// The Docker client of docker.io: /usr/local/bin may hold a newer one that speaks
// an API version this dockerd does not.
const (
	dockerBin  = "/usr/bin/docker"
	dockerdBin = "/usr/sbin/dockerd"
	image      = "visor-test/busybox:latest"
)

// dockerd is a Docker daemon the test started.
type dockerd struct {
	dir      string // everything of the daemon's is under it
	sock     string
	execRoot string
	ns       string // containerd namespace
	log      string
	cmd      *exec.Cmd
	done     chan struct{} // closed once cmd is reaped
}

// runtimeName is the name a runtime is registered under: Docker reserves "runc".
func runtimeName(rt engine.Runtime) string { return "test-" + rt.Name }

// startDockerd starts a dockerd with rts registered, and stops it and removes all
// it made when the test ends. It skips the test where dockerd cannot run.
func startDockerd(t testing.TB, rts []engine.Runtime) *dockerd {
	t.Helper()
	// Under /tmp, not $TMPDIR (Bazel's is deep): the daemon's sockets live in it, and
	// a unix socket's path must fit in 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "visor-docker-")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{
		dir:      dir,
		sock:     filepath.Join(dir, "docker.sock"),
		execRoot: filepath.Join(dir, "exec"),
		ns:       "visor-test-docker",
		log:      filepath.Join(dir, "dockerd.log"),
		done:     make(chan struct{}),
	}
	t.Cleanup(func() {
		engine.Unmount(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})

	// The runtimes: runc's entry written here (it is not runsc), runsc's by
	// `runsc install`, which must keep runc's.
	config := filepath.Join(dir, "daemon.json")
	runtimes := map[string]any{}
	for _, rt := range rts {
		if rt.Name != "runsc" {
			entry := map[string]any{"path": rt.Binary}
			if len(rt.Args) > 0 {
				entry["runtimeArgs"] = rt.Args
			}
			runtimes[runtimeName(rt)] = entry
		}
	}
	data, err := json.Marshal(map[string]any{"runtimes": runtimes})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rt := range rts {
		if rt.Name == "runsc" {
			args := append([]string{"install", "--config_file=" + config, "--runtime=" + runtimeName(rt), "--"}, rt.Args...)
			if res := engine.Run(t, nil, "", rt.Binary, args...); res.Status != 0 {
				t.Fatalf("runsc %q: %v", args, res)
			}
		}
	}
	if data, err = os.ReadFile(config); err != nil {
		t.Fatal(err)
	}
	t.Logf("daemon.json: %s", data)

	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	d.cmd = exec.Command(dockerdBin,
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", d.execRoot,
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", "unix://"+d.sock,
		"--bridge=none", "--iptables=false", "--ip6tables=false",
		"--storage-driver=vfs",
		"--containerd-namespace", d.ns,
		"--containerd-plugins-namespace", d.ns+"-plugins",
	)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// Its own process group: a ^C to the test must not reach it before the
	// cleanup has removed the containers. SIGTERM if the test dies without one.
	d.cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true, Pdeathsig: unix.SIGTERM}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting dockerd: %v", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() { d.stop(t) })

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("dockerd exited: %v; log:\n%s", d.cmd.ProcessState, engine.TailFile(d.log, 40))
		default:
		}
		if c, err := net.Dial("unix", d.sock); err == nil {
			c.Close()
			if res := d.docker(t, "", "version", "--format", "{{.Server.Version}}"); res.Status == 0 {
				t.Logf("dockerd %s up (pid %d) in %s", strings.TrimSpace(res.Stdout), d.cmd.Process.Pid, dir)
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer within 90s; log:\n%s", engine.TailFile(d.log, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop removes every container and stops dockerd (which stops its containerd).
func (d *dockerd) stop(t testing.TB) {
	select {
	case <-d.done:
		t.Errorf("dockerd exited during the test: %v; log:\n%s", d.cmd.ProcessState, engine.TailFile(d.log, 40))
		return
	default:
	}
	if res := d.docker(t, "", "ps", "-aq"); res.Status == 0 {
		if ids := strings.Fields(res.Stdout); len(ids) > 0 {
			if res := d.docker(t, "", append([]string{"rm", "-f"}, ids...)...); res.Status != 0 {
				t.Errorf("docker rm -f %v: %v", ids, res)
			}
		}
	}
	engine.StopProcess(t, d.cmd, d.done, 30*time.Second)
	if t.Failed() {
		t.Logf("dockerd log (%s):\n%s", d.log, engine.TailFile(d.log, 60))
	}
}

// docker runs the Docker client against this daemon.
func (d *dockerd) docker(t testing.TB, stdin string, args ...string) engine.Result {
	t.Helper()
	return engine.Run(t, d.env(), stdin, dockerBin, args...)
}

func (d *dockerd) env() []string {
	return []string{"DOCKER_HOST=unix://" + d.sock, "DOCKER_CONFIG=" + filepath.Join(d.dir, "client")}
}

// stateDir is where the runtime keeps its state of container id: under the --root
// containerd's runc shim passes it, which is the root Docker gives the shim (20.10:
// <exec-root>/runtime-runc, whatever the runtime) and the containerd namespace.
func (d *dockerd) stateDir(id string) string {
	return filepath.Join(d.execRoot, "runtime-runc", d.ns, id)
}

// checkDockerd skips the test where dockerd cannot start.
func checkDockerd(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("dockerd needs root")
	}
	for _, bin := range []string{dockerBin, dockerdBin} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%v: install docker.io (tools/setup.sh does)", err)
		}
	}
}

func TestDocker(t *testing.T) {
	checkDockerd(t)
	work := t.TempDir()
	rts := engine.Runtimes(t, work)
	d := startDockerd(t, rts)

	rootfs := engine.BusyboxRootfs(t, work)
	tarball := filepath.Join(work, "rootfs.tar")
	engine.TarDir(t, rootfs, tarball)
	if res := d.docker(t, "", "import", tarball, image); res.Status != 0 {
		t.Fatalf("docker import: %v", res)
	}

	for _, rt := range rts {
		t.Run(rt.Name, func(t *testing.T) {
			c := &cases{d: d, rt: rt}
			t.Run("run", c.run)
			t.Run("killed", c.killed)
			t.Run("env", c.env)
			t.Run("bind", c.bind)
			t.Run("detached", c.detached)
			t.Run("kill", c.kill)
			t.Run("tty", c.tty)
			t.Run("rm-f", c.rmForce)
		})
	}
}

// cases are the checks, run once per runtime.
type cases struct {
	d  *dockerd
	rt engine.Runtime
}

// name returns a container name unique to the runtime and the case.
func (c *cases) name(s string) string { return "visor-" + c.rt.Name + "-" + s }

// dockerRun runs `docker run --runtime=RT args...`.
func (c *cases) dockerRun(t *testing.T, stdin string, args ...string) engine.Result {
	t.Helper()
	return c.d.docker(t, stdin, append([]string{"run", "--runtime=" + runtimeName(c.rt)}, args...)...)
}

// run checks `docker run --rm`'s output and exit codes.
func (c *cases) run(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts, cmd  []string // docker run options; the command
		stdin      string
		wantStatus int
		wantStdout string
		wantStderr string
	}{
		{"echo", nil, []string{"echo", "hello", "world"}, "", 0, "hello world\n", ""},
		{"exit 3", nil, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, "", 3, "out\n", "err\n"},
		{"stdin", []string{"-i"}, []string{"sh", "-c", "read x; echo got $x"}, "line\n", 0, "got line\n", ""},
		{"hostname and pid 1", []string{"--hostname", "box"}, []string{"sh", "-c", "hostname; echo $$"}, "", 0, "box\n1\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{"--rm"}, tc.opts...), image), tc.cmd...)
			res := c.dockerRun(t, tc.stdin, args...)
			if res.Status != tc.wantStatus || res.Stdout != tc.wantStdout || res.Stderr != tc.wantStderr {
				t.Errorf("docker run %q: %v; want exit %d, stdout %q, stderr %q", args, res, tc.wantStatus, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

// waitRunning waits until container name, which a `docker run` that has not
// finished while exited is open started, is running.
func (c *cases) waitRunning(t *testing.T, name string, exited <-chan struct{}, out *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		res := c.d.docker(t, "", "inspect", "--format", "{{.State.Running}}", name)
		if strings.TrimSpace(res.Stdout) == "true" {
			return
		}
		select {
		case <-exited:
			t.Fatalf("docker run exited before %s was seen running; output %q", name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not running after a minute: %v", name, res)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// killed checks that `docker run` of a container killed from outside exits 137.
func (c *cases) killed(t *testing.T) {
	name := c.name("killed")
	cmd := exec.Command(dockerBin, "run", "--rm", "--runtime="+runtimeName(c.rt), "--name", name, image, "sleep", "1000")
	cmd.Env = append(os.Environ(), c.d.env()...)
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
	}()
	c.waitRunning(t, name, exited, &out)
	if res := c.d.docker(t, "", "kill", name); res.Status != 0 {
		t.Fatalf("docker kill: %v", res)
	}
	select {
	case <-exited:
		ee, ok := errors.AsType[*exec.ExitError](waitErr)
		if !ok || ee.ExitCode() != 137 {
			t.Errorf("docker run of a killed container: %v, output %q; want exit 137", waitErr, out.String())
		}
	case <-time.After(engine.CommandTimeout):
		t.Errorf("docker run still running %v after docker kill; output %q", engine.CommandTimeout, out.String())
	}
}

// env checks -e.
func (c *cases) env(t *testing.T) {
	res := c.dockerRun(t, "", "--rm", "-e", "FOO=bar baz", "-e", "EMPTY=", image, "sh", "-c", `echo "$FOO|$EMPTY|${EMPTY+set}|$PATH"`)
	if want := "bar baz||set|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"; res.Status != 0 || res.Stdout != want {
		t.Errorf("docker run -e: %v; want exit 0, stdout %q", res, want)
	}
}

// bind checks -v: the container reads a host file and the host sees what it
// writes; a read-only one cannot be written.
func (c *cases) bind(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "in"), []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := c.dockerRun(t, "", "--rm", "-v", host+":/data", image, "sh", "-c", "cat /data/in && echo from container > /data/out")
	if res.Status != 0 || res.Stdout != "from host\n" {
		t.Errorf("docker run -v: %v; want exit 0, stdout %q", res, "from host\n")
	}
	if got, err := os.ReadFile(filepath.Join(host, "out")); err != nil || string(got) != "from container\n" {
		t.Errorf("host sees %q (%v), want %q", got, err, "from container\n")
	}

	res = c.dockerRun(t, "", "--rm", "-v", host+":/ro:ro", image, "sh", "-c", "cat /ro/in; echo x > /ro/new")
	if res.Status == 0 || res.Stdout != "from host\n" {
		t.Errorf("docker run -v :ro writing: %v; want a failure after stdout %q", res, "from host\n")
	}
	if _, err := os.Stat(filepath.Join(host, "new")); err == nil {
		t.Errorf("a read-only bind mount was written: %s/new exists", host)
	}
}

// trapScript is a container that says it is ready, then waits for SIGTERM and
// exits 0 on it; the sleep in the background keeps `wait`, which a trapped
// signal interrupts at once, busy.
const trapScript = `trap 'echo got SIGTERM; exit 0' TERM; echo ready; while :; do sleep 1 & wait $!; done`

// waitLogs waits until container name's logs contain s and returns them.
func (c *cases) waitLogs(t *testing.T, name, s string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		res := c.d.docker(t, "", "logs", name)
		if strings.Contains(res.Stdout, s) {
			return res.Stdout
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker logs %s: %v; want %q in stdout within a minute", name, res, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// detached checks run -d, exec, logs and stop.
func (c *cases) detached(t *testing.T) {
	name := c.name("detached")
	if res := c.dockerRun(t, "", "-d", "--name", name, image, "sh", "-c", trapScript); res.Status != 0 {
		t.Fatalf("docker run -d: %v", res)
	}
	defer c.d.docker(t, "", "rm", "-f", name)
	c.waitLogs(t, name, "ready\n")

	for _, tc := range []struct {
		args       []string
		wantStatus int
		wantStdout string
	}{
		{[]string{"echo", "exec", "out"}, 0, "exec out\n"},
		{[]string{"sh", "-c", "echo $X; exit 4"}, 4, "y\n"},
		{[]string{"sh", "-c", "pwd; cat /proc/1/cmdline | tr '\\0' ' '"}, 0, "/tmp\nsh -c " + trapScript + " "},
	} {
		args := append([]string{"exec", "-e", "X=y", "-w", "/tmp", name}, tc.args...)
		if res := c.d.docker(t, "", args...); res.Status != tc.wantStatus || res.Stdout != tc.wantStdout {
			t.Errorf("docker %q: %v; want exit %d, stdout %q", args, res, tc.wantStatus, tc.wantStdout)
		}
	}
	if res := c.d.docker(t, "", "logs", name); res.Stdout != "ready\n" {
		t.Errorf("docker logs: %v; want stdout %q (exec output is not the container's)", res, "ready\n")
	}

	const grace = 10 * time.Second
	start := time.Now()
	res := c.d.docker(t, "", "stop", "-t", strconv.Itoa(int(grace.Seconds())), name)
	took := time.Since(start)
	if res.Status != 0 {
		t.Fatalf("docker stop: %v", res)
	}
	if took >= grace {
		t.Errorf("docker stop took %v, not less than the grace period %v: SIGTERM did not end the app", took, grace)
	}
	t.Logf("docker stop took %v", took)
	if res := c.d.docker(t, "", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name); strings.TrimSpace(res.Stdout) != "exited 0" {
		t.Errorf("after docker stop, state %v; want exited 0", res)
	}
	if res := c.d.docker(t, "", "logs", name); res.Stdout != "ready\ngot SIGTERM\n" {
		t.Errorf("docker logs after stop: %v; want stdout %q", res, "ready\ngot SIGTERM\n")
	}
}

// kill checks docker kill of a detached container: SIGKILL, exit 137.
func (c *cases) kill(t *testing.T) {
	name := c.name("kill")
	if res := c.dockerRun(t, "", "-d", "--name", name, image, "sh", "-c", trapScript); res.Status != 0 {
		t.Fatalf("docker run -d: %v", res)
	}
	defer c.d.docker(t, "", "rm", "-f", name)
	c.waitLogs(t, name, "ready\n")
	if res := c.d.docker(t, "", "kill", name); res.Status != 0 {
		t.Fatalf("docker kill: %v", res)
	}
	if res := c.d.docker(t, "", "wait", name); res.Status != 0 || strings.TrimSpace(res.Stdout) != "137" {
		t.Errorf("docker wait after kill: %v; want 137", res)
	}
	if res := c.d.docker(t, "", "logs", name); res.Stdout != "ready\n" {
		t.Errorf("docker logs after kill: %v; want stdout %q (no SIGTERM seen)", res, "ready\n")
	}
}

// tty checks docker run -it through a pty this test drives.
func (c *cases) tty(t *testing.T) {
	cmd := exec.Command(dockerBin, "run", "-it", "--rm", "--runtime="+runtimeName(c.rt), image, "sh")
	cmd.Env = append(os.Environ(), c.d.env()...)
	engine.CheckTerminal(t, cmd)
}

// rmForce checks that docker rm -f of a running container leaves no process, no
// mount and no state directory behind.
func (c *cases) rmForce(t *testing.T) {
	before, err := engine.ProcessesOf(c.rt.Binary)
	if err != nil {
		t.Fatal(err)
	}
	name := c.name("rm-f")
	res := c.dockerRun(t, "", "-d", "--name", name, image, "sh", "-c", trapScript)
	if res.Status != 0 {
		t.Fatalf("docker run -d: %v", res)
	}
	id := strings.TrimSpace(res.Stdout)
	c.waitLogs(t, name, "ready\n")
	res = c.d.docker(t, "", "inspect", "--format", "{{.State.Pid}}", name)
	pid, err := strconv.Atoi(strings.TrimSpace(res.Stdout))
	if err != nil {
		t.Fatalf("docker inspect: %v", res)
	}
	engine.CheckRunsIn(t, c.rt, pid)
	stateDir := c.d.stateDir(id)
	if _, err := os.Stat(stateDir); err != nil {
		t.Errorf("the running container's state directory: %v", err)
	}
	if res := c.d.docker(t, "", "rm", "-f", name); res.Status != 0 {
		t.Fatalf("docker rm -f: %v", res)
	}
	if left := engine.Leftovers(c.rt, before, id, stateDir, 10*time.Second); len(left) > 0 {
		t.Errorf("docker rm -f left behind:\n%s", strings.Join(left, "\n"))
	}
}
