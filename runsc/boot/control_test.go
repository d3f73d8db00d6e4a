package boot_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/testutil/runscbin"
	"visor.dev/visor/runsc/console"
	"visor.dev/visor/runsc/control"
	"visor.dev/visor/runsc/specutils"
)

// The runsc binary, built once for the tests that run it.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func runscBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "runsc-boot-test-"); buildErr != nil {
			return
		}
		binPath, buildErr = runscbin.Path(binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// busybox is the static busybox the test rootfs is made of.
const busybox = "/bin/busybox"

// busyboxRootfs makes dir/rootfs: busybox and the applets the test runs.
func busyboxRootfs(t *testing.T, dir string) {
	t.Helper()
	bin, err := os.ReadFile(busybox)
	if err != nil {
		t.Skipf("the test rootfs needs a static busybox: %v", err)
	}
	for _, d := range []string{"rootfs/bin", "rootfs/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs/bin/busybox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "sleep", "id", "cat"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "rootfs/bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBuffer is a bytes.Buffer several goroutines may write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sandbox is a Sentry started as runsc create starts it, with its Gofer.
type sandbox struct {
	stateDir    string
	boot, gofer *exec.Cmd
	// stdout counts the bytes init wrote to its stdout.
	stdout atomic.Int64
	// stderr is the Gofer's and the Sentry's: two os/exec copiers write it.
	stderr syncBuffer
	// bootDone is closed once boot has exited; bootErr is then Wait's error.
	bootDone chan struct{}
	bootErr  error
}

// startSandbox starts `runsc gofer` and `runsc boot --control-fd ...` for a
// busybox container running init, in namespaces of their own, as
// runsc/sandbox does.
func startSandbox(t *testing.T, init []string) *sandbox {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("starting a sandbox needs root")
	}
	bin := runscBinary(t)
	bundle := t.TempDir()
	busyboxRootfs(t, bundle)
	spec := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: init, Cwd: "/", Env: []string{"PATH=/bin"}},
		Linux:   &specs.Linux{},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	s := &sandbox{stateDir: t.TempDir(), bootDone: make(chan struct{})}
	ctl, err := control.Listen(s.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	lock, err := os.OpenFile(filepath.Join(s.stateDir, "sandbox.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	exitFile, err := os.OpenFile(filepath.Join(s.stateDir, "exit"), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer exitFile.Close()

	var goferEnds, sentryEnds []*os.File
	defer func() {
		for _, f := range append(goferEnds, sentryEnds...) {
			f.Close()
		}
	}()
	n := len(specutils.GoferMounts(spec, bundle))
	for i := 0; i < n; i++ {
		client, server, err := lisafs.SocketPair()
		if err != nil {
			t.Fatal(err)
		}
		goferEnds = append(goferEnds, os.NewFile(uintptr(server), "gofer"))
		sentryEnds = append(sentryEnds, os.NewFile(uintptr(client), "sentry"))
	}
	fdList := func(from, n int) string {
		var l []string
		for i := 0; i < n; i++ {
			l = append(l, strconv.Itoa(from+i))
		}
		return strings.Join(l, ",")
	}
	attr := func(flags uintptr) *syscall.SysProcAttr {
		return &syscall.SysProcAttr{Cloneflags: flags, Setsid: true, Pdeathsig: unix.SIGKILL}
	}
	s.gofer = exec.Command(bin, "gofer", "--bundle", bundle, "--io-fds="+fdList(3, n))
	s.gofer.SysProcAttr = attr(unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET)
	s.gofer.ExtraFiles = goferEnds
	s.gofer.Stderr = &s.stderr
	if err := s.gofer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.gofer.Process.Kill()
		s.gofer.Wait()
	})

	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdoutW.Close()
	s.boot = exec.Command(bin, "boot", "--bundle", bundle, "--gofer-fds="+fdList(3, n),
		fmt.Sprintf("--control-fd=%d", 3+n), fmt.Sprintf("--lock-fd=%d", 4+n), fmt.Sprintf("--exit-fd=%d", 5+n), "ctl-test")
	s.boot.SysProcAttr = attr(unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET)
	s.boot.ExtraFiles = append(append([]*os.File{}, sentryEnds...), ctl, lock, exitFile)
	s.boot.Stdout = stdoutW
	s.boot.Stderr = &s.stderr
	if err := s.boot.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.bootErr = s.boot.Wait()
		close(s.bootDone)
	}()
	t.Cleanup(func() {
		s.boot.Process.Kill()
		<-s.bootDone
		if t.Failed() {
			t.Logf("sandbox stderr:\n%s", s.stderr.String())
		}
	})
	go func() {
		defer stdoutR.Close()
		buf := make([]byte, 4096)
		for {
			n, err := stdoutR.Read(buf)
			s.stdout.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return s
}

// call sends a request.
func (s *sandbox) call(req *control.Request, fds ...*os.File) (*control.Response, error) {
	return control.Call(s.stateDir, req, fds)
}

// waitReady waits until the Sentry answers: its kernel and mounts are built.
func (s *sandbox) waitReady(t *testing.T) []control.Process {
	t.Helper()
	done := make(chan struct{})
	var resp *control.Response
	var err error
	go func() {
		resp, err = s.call(&control.Request{Method: control.MethodPs})
		close(done)
	}()
	select {
	case <-done:
	case <-s.bootDone:
		t.Fatalf("runsc boot exited before it was ready: %v", s.bootErr)
	case <-time.After(60 * time.Second):
		t.Fatal("runsc boot was not ready within a minute")
	}
	if err != nil {
		t.Fatalf("ps: %v", err)
	}
	return resp.Processes
}

// progress waits until init's output grows past from.
func (s *sandbox) progress(t *testing.T, from int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.stdout.Load() <= from {
		if time.Now().After(deadline) {
			t.Fatalf("init wrote nothing past byte %d", from)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// still fails if init writes anything for d.
func (s *sandbox) still(t *testing.T, d time.Duration, why string) {
	t.Helper()
	before := s.stdout.Load()
	time.Sleep(d)
	if after := s.stdout.Load(); after != before {
		t.Errorf("%s: init wrote %d bytes", why, after-before)
	}
}

// execResult is what an exec'd process did.
type execResult struct {
	pid            int32
	status         uint32
	stdout, stderr string
}

// exec runs p in the sandbox with stdin as its input, and waits for it.
func (s *sandbox) exec(t *testing.T, p specs.Process, stdin string) (execResult, error) {
	t.Helper()
	var ours, theirs []*os.File
	defer func() {
		for _, f := range append(ours, theirs...) {
			f.Close()
		}
	}()
	for i := 0; i < 3; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ours, theirs = append(ours, w), append(theirs, r)
		} else {
			ours, theirs = append(ours, r), append(theirs, w)
		}
	}
	resp, err := s.call(&control.Request{Method: control.MethodExec, Exec: &control.ExecArgs{Process: p}}, theirs...)
	if err != nil {
		return execResult{}, err
	}
	for _, f := range theirs {
		f.Close()
	}
	theirs = nil
	res := execResult{pid: resp.PID}
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	for i := range outs {
		wg.Go(func() { outs[i], _ = io.ReadAll(ours[i+1]) })
	}
	io.WriteString(ours[0], stdin)
	ours[0].Close()
	resp, err = s.call(&control.Request{Method: control.MethodWait, Wait: &control.WaitArgs{PID: res.pid}})
	if err != nil {
		t.Fatalf("wait for exec'd process %d: %v", res.pid, err)
	}
	res.status = resp.WaitStatus
	wg.Wait()
	res.stdout, res.stderr = string(outs[0]), string(outs[1])
	return res, nil
}

// counter is init: a shell loop, all builtins, that counts in application code
// and prints every 200th number.
var counter = []string{"/bin/sh", "-c", "i=0; while :; do i=$((i+1)); case $((i % 200)) in 0) echo $i;; esac; done"}

// TestControl drives a sandbox through the control socket, as runsc create,
// start, exec, ps, pause, resume, events and kill do.
func TestControl(t *testing.T) {
	s := startSandbox(t, counter)
	procs := s.waitReady(t)
	if len(procs) != 1 || procs[0].PID != 1 || procs[0].Cmd != "sh" {
		t.Errorf("ps before start = %+v, want init (sh) alone", procs)
	}
	s.still(t, 200*time.Millisecond, "before start")

	if _, err := s.call(&control.Request{Method: control.MethodPause}); err == nil {
		t.Errorf("pause before start succeeded")
	}
	if _, err := s.call(&control.Request{Method: control.MethodStart}); err != nil {
		t.Fatalf("start: %v", err)
	}
	s.progress(t, 0)
	if _, err := s.call(&control.Request{Method: control.MethodStart}); err == nil {
		t.Errorf("a second start succeeded")
	}

	t.Run("exec", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			p       specs.Process
			stdin   string
			want    execResult
			wantErr string
		}{
			{
				name:  "stdio and exit status",
				p:     specs.Process{Args: []string{"/bin/sh", "-c", "read x; echo out:$x; echo err >&2; exit 3"}, Cwd: "/"},
				stdin: "in\n",
				want:  execResult{status: 3 << 8, stdout: "out:in\n", stderr: "err\n"},
			},
			{
				name:  "PATH, env and cwd",
				p:     specs.Process{Args: []string{"sh", "-c", "echo $FOO; pwd; cat"}, Env: []string{"PATH=/bin", "FOO=bar"}, Cwd: "/tmp"},
				stdin: "piped",
				want:  execResult{stdout: "bar\n/tmp\npiped"},
			},
			{
				name: "user",
				p:    specs.Process{Args: []string{"id"}, Env: []string{"PATH=/bin"}, Cwd: "/", User: specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5}}},
				want: execResult{stdout: "uid=1000 gid=1001 groups=5\n"},
			},
			{
				name:    "missing program",
				p:       specs.Process{Args: []string{"nosuch"}, Env: []string{"PATH=/bin"}, Cwd: "/"},
				wantErr: `exec: process.args[0] "nosuch": executable file not found`,
			},
			{
				name:    "missing cwd",
				p:       specs.Process{Args: []string{"sh"}, Cwd: "/nosuch"},
				wantErr: `working directory "/nosuch"`,
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := s.exec(t, tc.p, tc.stdin)
				if tc.wantErr != "" {
					var re *control.RemoteError
					if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.wantErr) {
						t.Errorf("exec: %v, want an error with %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("exec: %v", err)
				}
				if res.pid <= 1 {
					t.Errorf("exec'd process got PID %d", res.pid)
				}
				res.pid = 0
				if res != tc.want {
					t.Errorf("exec = %+v, want %+v", res, tc.want)
				}
			})
		}
	})

	t.Run("exec with a terminal", func(t *testing.T) {
		master, replica, err := console.NewPty()
		if err != nil {
			t.Fatal(err)
		}
		defer master.Close()
		p := specs.Process{Terminal: true, Args: []string{"sh", "-c", "test -t 0 && test -t 1 && test -t 2 && echo is-a-tty; exec sleep 1000"}, Env: []string{"PATH=/bin"}, Cwd: "/"}
		resp, err := s.call(&control.Request{Method: control.MethodExec, Exec: &control.ExecArgs{Process: p}}, replica)
		replica.Close()
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		var out []byte
		buf := make([]byte, 256)
		for !bytes.Contains(out, []byte("is-a-tty\r\n")) {
			n, err := master.Read(buf)
			if err != nil {
				t.Fatalf("reading the terminal: %v (got %q)", err, out)
			}
			out = append(out, buf[:n]...)
		}
		// ^C as runsc exec --tty passes it on: to the foreground process
		// group of the terminal, the session's only one.
		if _, err := s.call(&control.Request{Method: control.MethodSignal, Signal: &control.SignalArgs{Signo: int(unix.SIGINT), PID: resp.PID, Foreground: true}}); err != nil {
			t.Fatalf("signal: %v", err)
		}
		resp, err = s.call(&control.Request{Method: control.MethodWait, Wait: &control.WaitArgs{PID: resp.PID}})
		if err != nil {
			t.Fatal(err)
		}
		if ws := unix.WaitStatus(resp.WaitStatus); !ws.Signaled() || ws.Signal() != unix.SIGINT {
			t.Errorf("wait status = %#x, want killed by SIGINT", resp.WaitStatus)
		}
	})

	// A long-running exec'd process for ps, stats and signals.
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	resp, err := s.call(&control.Request{Method: control.MethodExec, Exec: &control.ExecArgs{Process: specs.Process{Args: []string{"sleep", "1000"}, Env: []string{"PATH=/bin"}, Cwd: "/"}}}, devnull, devnull, devnull)
	if err != nil {
		t.Fatalf("exec sleep: %v", err)
	}
	sleeper := resp.PID

	t.Run("ps", func(t *testing.T) {
		// sleep runs (R) until it has loaded and reached nanosleep.
		var resp *control.Response
		got := map[int32]control.Process{}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var err error
			if resp, err = s.call(&control.Request{Method: control.MethodPs}); err != nil {
				t.Fatal(err)
			}
			clear(got)
			for _, p := range resp.Processes {
				got[p.PID] = p
			}
			if got[sleeper].State == "S" || time.Now().After(deadline) {
				break
			}
		}
		if p := got[1]; p.Cmd != "sh" || p.PPID != 0 || p.Threads != 1 || p.CPUTime <= 0 || time.Since(p.StartTime) > 5*time.Minute {
			t.Errorf("init in ps = %+v", p)
		}
		if p := got[sleeper]; p.Cmd != "sleep" || p.PPID != 0 || p.State != "S" || p.UID != 0 {
			t.Errorf("sleep (pid %d) in ps = %+v", sleeper, p)
		}
		if len(got) != 2 {
			t.Errorf("ps = %+v, want init and sleep", resp.Processes)
		}
	})

	t.Run("stats", func(t *testing.T) {
		resp, err := s.call(&control.Request{Method: control.MethodStats})
		if err != nil {
			t.Fatal(err)
		}
		if st := resp.Stats; st == nil || st.Pids != 2 || st.MemoryUsage == 0 || st.CPUTime <= 0 {
			t.Errorf("stats = %+v, want 2 tasks, some memory and CPU time", st)
		}
	})

	t.Run("pause and resume", func(t *testing.T) {
		if _, err := s.call(&control.Request{Method: control.MethodPause}); err != nil {
			t.Fatalf("pause: %v", err)
		}
		// What init wrote before it stopped may still be in the pipe.
		time.Sleep(50 * time.Millisecond)
		s.still(t, 400*time.Millisecond, "while paused")
		if _, err := s.call(&control.Request{Method: control.MethodPs}); err != nil {
			t.Errorf("ps while paused: %v", err)
		}
		if _, err := s.call(&control.Request{Method: control.MethodResume}); err != nil {
			t.Fatalf("resume: %v", err)
		}
		s.progress(t, s.stdout.Load())
	})

	t.Run("wait errors", func(t *testing.T) {
		for _, pid := range []int32{999, 3} { // never existed; exec'd and already waited for
			if resp, err := s.call(&control.Request{Method: control.MethodWait, Wait: &control.WaitArgs{PID: pid}}); err == nil {
				t.Errorf("wait for pid %d = %+v, want an error", pid, resp)
			}
		}
	})

	t.Run("signal", func(t *testing.T) {
		if _, err := s.call(&control.Request{Method: control.MethodSignal, Signal: &control.SignalArgs{Signo: int(unix.SIGTERM), PID: 999}}); err == nil {
			t.Errorf("signal to a missing pid succeeded")
		}
		if _, err := s.call(&control.Request{Method: control.MethodSignal, Signal: &control.SignalArgs{Signo: int(unix.SIGTERM), PID: sleeper}}); err != nil {
			t.Fatalf("signal: %v", err)
		}
		resp, err := s.call(&control.Request{Method: control.MethodWait, Wait: &control.WaitArgs{PID: sleeper}})
		if err != nil {
			t.Fatal(err)
		}
		if ws := unix.WaitStatus(resp.WaitStatus); !ws.Signaled() || ws.Signal() != unix.SIGTERM {
			t.Errorf("sleep's wait status = %#x, want killed by SIGTERM", resp.WaitStatus)
		}
	})

	// Killing every process ends init, and with it the Sentry, which a wait
	// for init in flight sees.
	initWait := make(chan *control.Response, 1)
	go func() {
		resp, err := s.call(&control.Request{Method: control.MethodWait})
		if err != nil {
			t.Errorf("wait for init: %v", err)
		}
		initWait <- resp
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := s.call(&control.Request{Method: control.MethodSignal, Signal: &control.SignalArgs{Signo: int(unix.SIGKILL), All: true}}); err != nil {
		t.Fatalf("signal all: %v", err)
	}
	select {
	case <-s.bootDone:
	case <-time.After(30 * time.Second):
		t.Fatal("runsc boot did not exit after SIGKILL to all")
	}
	if ee, ok := errors.AsType[*exec.ExitError](s.bootErr); !ok || ee.ExitCode() != 128+int(unix.SIGKILL) {
		t.Errorf("runsc boot: %v, want exit status 137", s.bootErr)
	}
	if resp := <-initWait; resp != nil && resp.WaitStatus != uint32(unix.SIGKILL) {
		t.Errorf("init's wait status = %#x, want %#x", resp.WaitStatus, uint32(unix.SIGKILL))
	}
	if data, err := os.ReadFile(filepath.Join(s.stateDir, "exit")); err != nil || string(data) != "9\n" {
		t.Errorf("exit file = %q, %v; want \"9\\n\"", data, err)
	}
	lock, err := os.Open(filepath.Join(s.stateDir, "sandbox.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		t.Errorf("the sandbox lock is still held after the Sentry exited: %v", err)
	}
}

// TestControlStartFailure: a program that cannot run fails the Sentry before
// it is ready, with a message that says so.
func TestControlStartFailure(t *testing.T) {
	s := startSandbox(t, []string{"nosuch"})
	select {
	case <-s.bootDone:
	case <-time.After(60 * time.Second):
		t.Fatal("runsc boot did not fail")
	}
	if ee, ok := errors.AsType[*exec.ExitError](s.bootErr); !ok || ee.ExitCode() != 1 {
		t.Errorf("runsc boot: %v, want exit status 1", s.bootErr)
	}
	if want := `process.args[0] "nosuch": executable file not found`; !strings.Contains(s.stderr.String(), want) {
		t.Errorf("stderr %q does not say %q", s.stderr.String(), want)
	}
}

// TestGoferDies: a Sentry whose Gofer dies kills its sandbox, and says why.
func TestGoferDies(t *testing.T) {
	s := startSandbox(t, counter)
	s.waitReady(t)
	if _, err := s.call(&control.Request{Method: control.MethodStart}); err != nil {
		t.Fatalf("start: %v", err)
	}
	s.progress(t, 0)
	if err := s.gofer.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.bootDone:
	case <-time.After(30 * time.Second):
		t.Fatal("runsc boot still runs 30s after its Gofer died")
	}
	if ee, ok := errors.AsType[*exec.ExitError](s.bootErr); !ok || ee.ExitCode() != 128+int(unix.SIGKILL) {
		t.Errorf("runsc boot: %v, want exit status 137", s.bootErr)
	}
	if data, err := os.ReadFile(filepath.Join(s.stateDir, "exit")); err != nil || string(data) != "9\n" {
		t.Errorf("exit file = %q, %v; want \"9\\n\"", data, err)
	}
}
