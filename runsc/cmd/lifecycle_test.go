package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/runsc/console/recvtty"
	"visor.dev/visor/runsc/container"
)

// busyboxBundle makes a bundle whose rootfs holds busybox (static) as /bin/sh
// and friends, running args.
func busyboxBundle(t *testing.T, args ...string) string {
	t.Helper()
	const busybox = "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		t.Skipf("no static busybox to make a rootfs: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sh", "sleep", "echo", "cat", "true", "id"} {
		if err := os.Symlink("busybox", filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Mounts:  []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// result is what a runsc command did.
type result struct {
	status         int
	stdout, stderr string
}

// runscFiles runs the binary with args, its stdout and stderr going to files:
// create's children inherit them, and would keep a pipe open.
func runscFiles(t *testing.T, args ...string) result {
	t.Helper()
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	cmd := exec.Command(runscBinary(t), args...)
	cmd.Stdout, cmd.Stderr = out, errf
	err = cmd.Run()
	r := result{}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		r.status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("runsc %q: %v", args, err)
	}
	o, _ := os.ReadFile(out.Name())
	e, _ := os.ReadFile(errf.Name())
	r.stdout, r.stderr = string(o), string(e)
	return r
}

// lifecycle drives runsc commands on one root, cleaning up what a test leaves.
type lifecycle struct {
	t    *testing.T
	root string
}

func newLifecycle(t *testing.T) *lifecycle {
	requireRoot(t)
	l := &lifecycle{t: t, root: filepath.Join(t.TempDir(), "root")}
	t.Cleanup(func() {
		ids, _ := container.List(l.root)
		for _, id := range ids {
			runscFiles(t, "--root", l.root, "delete", "--force", id)
		}
	})
	return l
}

// with returns l for the subtest t.
func (l *lifecycle) with(t *testing.T) *lifecycle {
	return &lifecycle{t: t, root: l.root}
}

// run runs runsc with args after --root, and fails the test unless it exits with want.
func (l *lifecycle) run(want int, args ...string) result {
	l.t.Helper()
	r := runscFiles(l.t, append([]string{"--root", l.root}, args...)...)
	if r.status != want {
		l.t.Fatalf("runsc %s = %d (stderr %q), want %d", strings.Join(args, " "), r.status, r.stderr, want)
	}
	return r
}

// createStart creates and starts container id of bundle, and returns the
// Sentry's PID from the pid file.
func (l *lifecycle) createStart(id, bundle string) int {
	l.t.Helper()
	pidFile := filepath.Join(l.t.TempDir(), "init.pid")
	l.run(0, "create", "--bundle", bundle, "--pid-file", pidFile, id)
	l.run(0, "start", id)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		l.t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		l.t.Fatalf("pid file holds %q", data)
	}
	return pid
}

// state returns the OCI state of id.
func (l *lifecycle) state(id string) ociState {
	l.t.Helper()
	var s ociState
	r := l.run(0, "state", id)
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		l.t.Fatalf("state output %q: %v", r.stdout, err)
	}
	return s
}

// waitGone waits for the process pid, which is not this one's child, to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		if !running(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d still there", pid)
}

// running reports whether process pid runs: exists, and is not a zombie
// waiting for its reaper.
func running(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(st), ") Z ")
}

func TestLifecycle(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sh", "-c", "echo hello; sleep 1; exit 7")
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	logFile := filepath.Join(t.TempDir(), "log.json")
	l.run(0, "--log", logFile, "--log-format", "json", "create", "--bundle", bundle, "--pid-file", pidFile, "--no-pivot", "--no-new-keyring", "c1")

	s := l.state("c1")
	data, _ := os.ReadFile(pidFile)
	if s.Status != container.Created || strconv.Itoa(s.Pid) != string(data) || s.ID != "c1" || s.Bundle != bundle ||
		s.Rootfs != filepath.Join(bundle, "rootfs") || s.OCIVersion != specs.Version {
		t.Errorf("state after create: %+v, pid file %q", s, data)
	}
	l.run(0, "start", "c1")
	if s := l.state("c1"); s.Status != container.Running {
		t.Errorf("status after start: %s, want running", s.Status)
	}
	if r := l.run(1, "start", "c1"); !strings.Contains(r.stderr, "not created") {
		t.Errorf("second start: %q", r.stderr)
	}
	r := l.run(7, "wait", "c1")
	if r.stdout != `{"id":"c1","exitStatus":7}`+"\n" {
		t.Errorf("wait printed %q", r.stdout)
	}
	if s := l.state("c1"); s.Status != container.Stopped || s.Pid != 0 {
		t.Errorf("state after exit: %+v, want stopped, pid 0", s)
	}
	// The exit status stays for whoever asks later.
	l.run(7, "wait", "c1")
	l.run(0, "delete", "c1")
	checkNothingLeft(t, l.root, bundle)
	if log, _ := os.ReadFile(logFile); len(log) != 0 {
		t.Errorf("a lifecycle without errors logged %q", log)
	}
}

// TestCreateOutput checks that the container's stdout and stderr are create's.
func TestCreateOutput(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sh", "-c", "echo out; echo err >&2")
	// The container writes after create has exited, so runscFiles, which reads
	// the output when runsc exits, would be too early.
	out := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(runscBinary(t), "--root", l.root, "create", "--bundle", bundle, "c1")
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	f.Close()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	l.run(0, "start", "c1")
	l.run(0, "wait", "c1")
	l.run(0, "delete", "c1")
	if got, _ := os.ReadFile(out); string(got) != "out\nerr\n" {
		t.Errorf("container output %q, want %q", got, "out\nerr\n")
	}
	checkNothingLeft(t, l.root, bundle)
}

func TestExec(t *testing.T) {
	// A detached exec's runsc is reparented to the nearest subreaper, as
	// containerd's shim is: this test, which then reaps it for its status.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		// Reap the sandbox processes that came here. No test of this package
		// runs in parallel, so no other test's child is among them.
		for {
			if pid, _ := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid <= 0 {
				break
			}
		}
	}()
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	sentry := l.createStart("c1", bundle)
	processFile := func(p specs.Process) string {
		data, _ := json.Marshal(p)
		path := filepath.Join(t.TempDir(), "runc-process")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name       string
		args       []string // after "exec"; ID for the container ID
		detach     bool
		wantStatus int
		wantOut    string
	}{
		{"args", []string{"ID", "/bin/sh", "-c", "echo \"[$FOO]\" in $PWD; exit 5"}, false, 5, "[] in /\n"},
		{"env and cwd", []string{"--env", "FOO=bar", "--cwd", "/bin", "ID", "/bin/sh", "-c", "echo $FOO in $PWD"}, false, 0, "bar in /bin\n"},
		{"user", []string{"--user", "1000:1001", "ID", "/bin/sh", "-c", "echo $(id -u) $(id -g)"}, false, 0, "1000 1001\n"},
		{"process file", []string{"--process", processFile(specs.Process{Args: []string{"/bin/sh", "-c", "echo file; exit 3"}, Cwd: "/"}), "ID"}, false, 3, "file\n"},
		{"detached", []string{"--process", processFile(specs.Process{Args: []string{"/bin/sh", "-c", "echo detached; exit 9"}, Cwd: "/"}), "ID"}, true, 9, "detached\n"},
		{"killed", []string{"ID", "/bin/sh", "-c", "kill -9 $$"}, false, 137, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--root", l.root, "exec"}
			pidFile := filepath.Join(t.TempDir(), "exec.pid")
			if tc.detach {
				args = append(args, "--detach", "--pid-file", pidFile)
			}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "ID", "c1"))
			}
			r := runscFiles(t, args...)
			if !tc.detach {
				if r.status != tc.wantStatus || r.stdout != tc.wantOut {
					t.Errorf("exec = %d, %q (stderr %q); want %d, %q", r.status, r.stdout, r.stderr, tc.wantStatus, tc.wantOut)
				}
				return
			}
			if r.status != 0 {
				t.Fatalf("exec --detach = %d, %q", r.status, r.stderr)
			}
			data, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(string(data))
			if err != nil {
				t.Fatalf("pid file holds %q", data)
			}
			var ws unix.WaitStatus
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
				t.Fatalf("reaping the exec's runsc %d: %v", pid, err)
			}
			if ws.ExitStatus() != tc.wantStatus {
				t.Errorf("detached exec's runsc exited %v, want status %d", ws, tc.wantStatus)
			}
		})
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no program", []string{"c1", "/bin/nope"}, `"/bin/nope"`},
		{"relative cwd", []string{"--cwd", "bin", "c1", "/bin/true"}, `cwd "bin" is not absolute`},
		{"bad user", []string{"--user", "root", "c1", "/bin/true"}, `--user "root": want UID[:GID]`},
		{"unknown container", []string{"c2", "/bin/true"}, `container "c2" does not exist`},
		{"missing process file", []string{"--process", "/visor/none", "c1"}, "--process: open /visor/none"},
		{"tty detached without socket", []string{"--tty", "--detach", "c1", "/bin/true"}, "needs --console-socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runscFiles(t, append([]string{"--root", l.root, "exec"}, tc.args...)...)
			if r.status != 1 || !strings.Contains(r.stderr, tc.wantErr) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("exec = %d, %q; want 1 and one line with %q", r.status, r.stderr, tc.wantErr)
			}
		})
	}
	l.run(0, "delete", "--force", "c1")
	var ws unix.WaitStatus
	unix.Wait4(sentry, &ws, 0, nil) // reparented here too
	checkNothingLeft(t, l.root, bundle)
	// Exec in a stopped container.
	l.createStart("c2", bundle)
	l.run(0, "kill", "c2", "KILL")
	l.run(137, "wait", "c2")
	if r := l.run(1, "exec", "c2", "/bin/true"); !strings.Contains(r.stderr, "container not running") {
		t.Errorf("exec in a stopped container: %q", r.stderr)
	}
}

func TestKill(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sh", "-c", "trap 'exit 3' TERM; trap 'exit 4' USR1; while true; do sleep 0.05; done")
	for _, tc := range []struct {
		args       []string // after "kill"; the ID goes first
		wantStatus int
	}{
		{nil, 3}, // SIGTERM by default
		{[]string{"TERM"}, 3},
		{[]string{"SIGTERM"}, 3},
		{[]string{"term"}, 3},
		{[]string{"15"}, 3},
		{[]string{"USR1"}, 4},
		{[]string{"10"}, 4},
		{[]string{"KILL"}, 137},
		{[]string{"9"}, 137},
		{[]string{"--all", "KILL"}, 137},
		{[]string{"--all", "TERM"}, 3},
	} {
		t.Run(strings.Join(append([]string{"kill"}, tc.args...), " "), func(t *testing.T) {
			l := l.with(t)
			sentry := l.createStart("k", bundle)
			// The trap must be set before the signal comes.
			time.Sleep(300 * time.Millisecond)
			args := []string{"kill"}
			if len(tc.args) > 0 && tc.args[0] == "--all" {
				args = append(args, "--all", "k", tc.args[1])
			} else {
				args = append(append(args, "k"), tc.args...)
			}
			l.run(0, args...)
			l.run(tc.wantStatus, "wait", "k")
			if s := l.state("k"); s.Status != container.Stopped {
				t.Errorf("status after kill: %s", s.Status)
			}
			r := l.run(1, "kill", "k", "KILL")
			if !strings.Contains(r.stderr, "container not running") {
				t.Errorf("kill of a stopped container: %q", r.stderr)
			}
			l.run(0, "delete", "k")
			waitGone(t, sentry)
			checkNothingLeft(t, l.root, bundle)
		})
	}
}

// TestDeleteForce deletes a running container and checks that neither its
// processes nor its state outlive it.
func TestDeleteForce(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	sentry := l.createStart("c1", bundle)
	gofer := l.readState("c1").GoferPid
	if r := l.run(1, "delete", "c1"); !strings.Contains(r.stderr, "not stopped") {
		t.Errorf("delete of a running container: %q", r.stderr)
	}
	l.run(0, "delete", "--force", "c1")
	for _, pid := range []int{sentry, gofer} {
		if running(pid) {
			t.Errorf("process %d still running after delete --force", pid)
		}
	}
	checkNothingLeft(t, l.root, bundle)

	// A created container needs no --force.
	l.run(0, "create", "--bundle", bundle, "c2")
	l.run(0, "delete", "c2")
	checkNothingLeft(t, l.root, bundle)
}

// readState reads id's state.json.
func (l *lifecycle) readState(id string) container.State {
	l.t.Helper()
	c, err := container.Peek(l.root, id)
	if err != nil {
		l.t.Fatal(err)
	}
	return c.State()
}

func TestList(t *testing.T) {
	l := newLifecycle(t)
	if r := l.run(0, "list", "--format", "json"); r.stdout != "[]\n" {
		t.Errorf("list of nothing: %q", r.stdout)
	}
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	l.createStart("b", bundle)
	l.run(0, "create", "--bundle", bundle, "a")
	r := l.run(0, "list", "--format=json")
	var got []ociState
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("list output %q: %v", r.stdout, err)
	}
	if len(got) != 2 || got[0].ID != "a" || got[0].Status != container.Created || got[1].ID != "b" ||
		got[1].Status != container.Running || got[1].Pid == 0 || got[0].Bundle != bundle {
		t.Errorf("list: %+v", got)
	}
	if r := l.run(0, "list", "-q"); r.stdout != "a\nb\n" {
		t.Errorf("list -q: %q", r.stdout)
	}
	if r := l.run(0, "list"); !strings.HasPrefix(r.stdout, "ID ") || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("list: %q", r.stdout)
	}
	l.run(2, "list", "--format=yaml")
}

// TestSentryKilled kills the Sentry behind runsc's back: the container is
// stopped, its status is that of a SIGKILL, and delete cleans up.
func TestSentryKilled(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	sentry := l.createStart("c1", bundle)
	if err := unix.Kill(sentry, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The Sentry's threads release its files (and the lock) as they go, a
	// moment after the kill: give it that moment.
	var s ociState
	for range 100 {
		if s = l.state("c1"); s.Status == container.Stopped {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s.Status != container.Stopped || s.Pid != 0 {
		t.Errorf("state after the Sentry was killed: %+v", s)
	}
	l.run(137, "wait", "c1")
	l.run(0, "delete", "c1")
	checkNothingLeft(t, l.root, bundle)
}

// TestConcurrentDelete races two deletes of one running container: both end,
// one does the work, and the other finds it done.
func TestConcurrentDelete(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	for range 3 {
		l.createStart("c1", bundle)
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i := range results {
			wg.Go(func() { results[i] = runscFiles(t, "--root", l.root, "delete", "--force", "c1") })
		}
		wg.Wait()
		ok := 0
		for _, r := range results {
			switch {
			case r.status == 0:
				ok++
			case r.status == 1 && r.stderr == "runsc delete: container \"c1\" does not exist\n":
			default:
				t.Errorf("concurrent delete = %d, %q", r.status, r.stderr)
			}
		}
		if ok == 0 {
			t.Errorf("neither delete succeeded: %+v", results)
		}
		checkNothingLeft(t, l.root, bundle)
	}
}

// TestBadInput checks that each command refuses bad input with one line on
// stderr and in the JSON log, the right status, and nothing left behind.
func TestBadInput(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	malformed := t.TempDir()
	if err := os.WriteFile(filepath.Join(malformed, "config.json"), []byte(`{"ociVersion": }`), 0o644); err != nil {
		t.Fatal(err)
	}
	noRootfs := t.TempDir()
	if err := os.WriteFile(filepath.Join(noRootfs, "config.json"),
		[]byte(`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["/bin/true"],"cwd":"/"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	l.createStart("live", bundle)
	notExist := `container "nope" does not exist`
	for _, tc := range []struct {
		name       string
		args       []string
		wantStatus int
		wantErr    string
	}{
		{"start unknown", []string{"start", "nope"}, 1, notExist},
		{"state unknown", []string{"state", "nope"}, 1, notExist},
		{"kill unknown", []string{"kill", "nope"}, 1, notExist},
		{"delete unknown", []string{"delete", "nope"}, 1, notExist},
		{"delete --force unknown", []string{"delete", "--force", "nope"}, 1, notExist},
		{"wait unknown", []string{"wait", "nope"}, 1, notExist},
		{"ps unknown", []string{"ps", "nope"}, 1, notExist},
		{"pause unknown", []string{"pause", "nope"}, 1, notExist},
		{"events unknown", []string{"events", "--stats", "nope"}, 1, notExist},
		{"exec unknown", []string{"exec", "nope", "/bin/true"}, 1, notExist},
		{"duplicate ID", []string{"create", "--bundle", bundle, "live"}, 1, `container "live" already exists and is running`},
		{"malformed config", []string{"create", "--bundle", malformed, "c1"}, 1, "config.json: malformed JSON at line 1"},
		{"missing rootfs", []string{"create", "--bundle", noRootfs, "c1"}, 1, `root.path "rootfs" does not exist`},
		{"no config", []string{"create", "--bundle", t.TempDir(), "c1"}, 1, "no config.json in bundle"},
		{"invalid ID", []string{"create", "--bundle", bundle, "../x"}, 1, `invalid container ID "../x"`},
		{"bad signal name", []string{"kill", "live", "SIGFOO"}, 1, `invalid signal "SIGFOO"`},
		{"bad signal number", []string{"kill", "live", "65"}, 1, `invalid signal "65"`},
		{"console socket without terminal", []string{"create", "--bundle", bundle, "--console-socket", "/tmp/x.sock", "c1"}, 1, "process.terminal is false"},
		{"preserve-fds", []string{"create", "--bundle", bundle, "--preserve-fds", "2", "c1"}, 1, "--preserve-fds=2"},
		{"create without ID", []string{"create", "--bundle", bundle}, 2, "want one container ID"},
		{"kill without ID", []string{"kill"}, 2, "want a container ID"},
		{"bad flag", []string{"delete", "--frob", "live"}, 2, "flag provided but not defined"},
		{"start twice", []string{"start", "live"}, 1, `container "live" is running, not created`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := l.with(t)
			logFile := filepath.Join(t.TempDir(), "log.json")
			r := l.run(tc.wantStatus, append([]string{"--log", logFile, "--log-format", "json"}, tc.args...)...)
			if !strings.Contains(r.stderr, tc.wantErr) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q: want one line with %q", r.stderr, tc.wantErr)
			}
			if tc.wantStatus == 2 {
				return // a bad command line is for its typist
			}
			data, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			var entry struct{ Level, Msg, Time string }
			if err := json.Unmarshal(data, &entry); err != nil || entry.Level != "error" ||
				!strings.Contains(entry.Msg, tc.wantErr) || entry.Time == "" {
				t.Errorf("log %q: want one JSON error entry with %q", data, tc.wantErr)
			}
		})
	}
	if ids, _ := container.List(l.root); len(ids) != 1 || ids[0] != "live" {
		t.Errorf("containers after bad input: %v, want [live]", ids)
	}
	if s := l.state("live"); s.Status != container.Running {
		t.Errorf("the live container is %s after bad input aimed at it", s.Status)
	}
	l.run(0, "delete", "--force", "live")
	checkNothingLeft(t, l.root, bundle)
	checkNothingLeft(t, l.root, malformed)
	checkNothingLeft(t, l.root, noRootfs)
}

// TestCreateTerminal creates a container with a terminal as containerd's shim
// does: the pty master comes over --console-socket, and the container's
// output on it.
func TestCreateTerminal(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sh", "-c", "echo on the terminal; exit 6")
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), `"process":{`, `"process":{"terminal":true,`, 1))
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := l.run(1, "create", "--bundle", bundle, "c1"); !strings.Contains(r.stderr, "no --console-socket") {
		t.Errorf("create of a terminal container without a socket: %q", r.stderr)
	}
	if r := l.run(1, "create", "--bundle", bundle, "--console-socket", "/visor/none.sock", "c1"); !strings.Contains(r.stderr, "--console-socket") {
		t.Errorf("create with a console socket nobody listens on: %q", r.stderr)
	}
	checkNothingLeft(t, l.root, bundle)
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *os.File, 1)
	go func() {
		master, err := recvtty.ReceiveMaster(ln)
		if err != nil {
			t.Errorf("ReceiveMaster: %v", err)
		}
		got <- master
	}()
	l.run(0, "create", "--bundle", bundle, "--console-socket", sock, "c1")
	master := <-got
	if master == nil {
		t.FailNow()
	}
	defer master.Close()
	l.run(0, "start", "c1")
	l.run(6, "wait", "c1")
	buf := make([]byte, 256)
	n, _ := master.Read(buf)
	if out := string(buf[:n]); !strings.Contains(out, "on the terminal\r\n") {
		t.Errorf("terminal output %q, want the line with a CRLF", out)
	}
	l.run(0, "delete", "c1")
	checkNothingLeft(t, l.root, bundle)
}

// TestPsPauseEvents checks the commands that look into a running sandbox.
func TestPsPauseEvents(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sh", "-c", "while true; do sleep 0.05; done")
	sentry := l.createStart("c1", bundle)
	time.Sleep(200 * time.Millisecond)
	r := l.run(0, "ps", "c1")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) < 2 ||
		!strings.HasPrefix(lines[0], "UID") || !strings.Contains(lines[1], " 1 ") || !strings.HasSuffix(lines[1], "sh") {
		t.Errorf("ps:\n%s", r.stdout)
	}
	r = l.run(0, "ps", "--format=json", "c1")
	var pids []int
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil || len(pids) != 2 || pids[0] != sentry {
		t.Errorf("ps --format=json = %q, want the Sentry's and the Gofer's host PIDs", r.stdout)
	}
	l.run(0, "pause", "c1")
	if s := l.state("c1"); s.Status != container.Paused {
		t.Errorf("status after pause: %s", s.Status)
	}
	if r := l.run(1, "pause", "c1"); !strings.Contains(r.stderr, "is paused, not running") {
		t.Errorf("second pause: %q", r.stderr)
	}
	if r := l.run(1, "delete", "c1"); !strings.Contains(r.stderr, "not stopped") {
		t.Errorf("delete of a paused container: %q", r.stderr)
	}
	l.run(0, "resume", "c1")
	if s := l.state("c1"); s.Status != container.Running {
		t.Errorf("status after resume: %s", s.Status)
	}
	r = l.run(0, "events", "--stats", "c1")
	var ev struct {
		Type, ID string
		Data     struct {
			Pids struct{ Current int }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil || ev.Type != "stats" || ev.ID != "c1" || ev.Data.Pids.Current < 1 {
		t.Errorf("events --stats = %q", r.stdout)
	}
	l.run(0, "delete", "--force", "c1")
	if r := l.run(1, "ps", "c1"); !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("ps of a deleted container: %q", r.stderr)
	}
}

// TestSpecFeatures checks the two commands that need no container.
func TestSpecFeatures(t *testing.T) {
	for _, rootless := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"spec", "--bundle", dir}
		if rootless {
			args = append(args, "--rootless")
		}
		if r := runscFiles(t, args...); r.status != 0 {
			t.Fatalf("runsc spec = %d, %q", r.status, r.stderr)
		}
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var spec specs.Spec
		if err := json.Unmarshal(data, &spec); err != nil || spec.Process == nil || spec.Process.Args[0] != "sh" ||
			spec.Root.Path != "rootfs" {
			t.Errorf("spec %s: %v", data, err)
		}
		hasUserNS := strings.Contains(string(data), `"type": "user"`)
		if hasUserNS != rootless || (len(spec.Linux.UIDMappings) > 0) != rootless {
			t.Errorf("rootless=%v spec: user namespace %v, mappings %v", rootless, hasUserNS, spec.Linux.UIDMappings)
		}
		// An existing spec is never overwritten.
		if r := runscFiles(t, args...); r.status != 1 || !strings.Contains(r.stderr, "exists already") {
			t.Errorf("second runsc spec = %d, %q", r.status, r.stderr)
		}
	}
	r := runscFiles(t, "features")
	var f struct {
		OCIVersionMin, OCIVersionMax string
		Linux                        struct{ Namespaces, Capabilities []string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &f); err != nil || r.status != 0 || f.OCIVersionMax != specs.Version ||
		len(f.Linux.Capabilities) != 41 || len(f.Linux.Namespaces) == 0 {
		t.Errorf("runsc features = %d, %q: %v", r.status, r.stdout, err)
	}
}

// TestRunKilled kills a foreground `runsc run`: its sandbox dies with it, and
// the ID it leaves is free for the next run, or for delete.
func TestRunKilled(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	for _, then := range []string{"run", "delete"} {
		cmd := exec.Command(runscBinary(t), "--root", l.root, "run", "--bundle", bundle, "c1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var sentry int
		for range 500 {
			if c, err := container.Peek(l.root, "c1"); err == nil && c.Status() == container.Running {
				sentry = c.State().Pid
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if sentry == 0 {
			t.Fatal("runsc run did not get the container running")
		}
		cmd.Process.Kill()
		cmd.Wait()
		// The Sentry dies with it (its death signal), its threads releasing
		// the sandbox lock a moment after.
		for range 250 {
			if l.state("c1").Status == container.Stopped {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		waitGone(t, sentry)
		if then == "delete" {
			l.run(0, "delete", "c1")
			checkNothingLeft(t, l.root, bundle)
			continue
		}
		if r := runscFiles(t, "--root", l.root, "run", "--bundle", busyboxBundle(t, "/bin/true"), "c1"); r.status != 0 {
			t.Errorf("run over the ID of a killed run = %d, %q", r.status, r.stderr)
		}
		checkNothingLeft(t, l.root, bundle)
	}
}

// TestConcurrentCreate races creates of one ID: one wins, the others say the
// ID is taken, and they leave nothing of theirs behind.
func TestConcurrentCreate(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/sleep", "100")
	results := make([]result, 4)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() { results[i] = runscFiles(t, "--root", l.root, "create", "--bundle", bundle, "c1") })
	}
	wg.Wait()
	won := 0
	for _, r := range results {
		switch {
		case r.status == 0:
			won++
		case r.status != 1 || !strings.Contains(r.stderr, `container "c1" already exists`):
			t.Errorf("losing create = %d, %q", r.status, r.stderr)
		}
	}
	if won != 1 {
		t.Errorf("%d creates of one ID won, want 1: %+v", won, results)
	}
	if entries, _ := os.ReadDir(l.root); len(entries) != 1 || entries[0].Name() != "c1" {
		t.Errorf("state root holds %v, want c1 alone", entries)
	}
	if s := l.state("c1"); s.Status != container.Created {
		t.Errorf("the winner is %s", s.Status)
	}
	l.run(0, "delete", "c1")
	checkNothingLeft(t, l.root, bundle)
}
