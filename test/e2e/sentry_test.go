package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/runsc/container"
)

// The busybox rootfs, built once and shared read-only by the tests; a test that
// writes does so in a bind mount of its own.
var (
	busyboxOnce sync.Once
	busyboxErr  error
)

func busyboxRootfs(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(workDir, "busybox")
	busyboxOnce.Do(func() {
		script, err := filepath.Abs("../../images/busybox/build.sh")
		if err != nil {
			busyboxErr = err
			return
		}
		if out, err := exec.Command(script, dir).CombinedOutput(); err != nil {
			busyboxErr = fmt.Errorf("%s: %v\n%s", script, err, out)
		}
	})
	if busyboxErr != nil {
		t.Fatal(busyboxErr)
	}
	return dir
}

// runBusybox runs args in a busybox container, after modify changes its spec.
func runBusybox(t *testing.T, stdin string, modify func(*specs.Spec), args ...string) result {
	t.Helper()
	spec := newSpec(busyboxRootfs(t), args...)
	if modify != nil {
		modify(spec)
	}
	bundle := writeBundle(t, spec, "")
	return runsc(t, strings.NewReader(stdin), "run", "--bundle", bundle, "e2e-"+strings.ReplaceAll(t.Name(), "/", "-"))
}

func TestPrograms(t *testing.T) {
	hostDir := t.TempDir() // bind-mounted read-write at /data
	if err := os.WriteFile(filepath.Join(hostDir, "in"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		stdin      string
		modify     func(*specs.Spec)
		wantStatus int
		wantOut    string
		wantErr    string // a substring of stderr
	}{
		{name: "echo", args: []string{"echo", "hello"}, wantOut: "hello\n"},
		{name: "exit code", args: []string{"sh", "-c", "exit 3"}, wantStatus: 3},
		{name: "killed by a signal", args: []string{"sh", "-c", "kill -KILL $$"}, wantStatus: 128 + 9},
		{name: "stderr", args: []string{"sh", "-c", "echo oops >&2"}, wantErr: "oops\n"},
		{name: "stdin", args: []string{"cat"}, stdin: "line 1\nline 2\n", wantOut: "line 1\nline 2\n"},
		{name: "pid 1", args: []string{"sh", "-c", "echo $$"}, wantOut: "1\n"},
		{name: "hostname", args: []string{"hostname"}, wantOut: "e2e\n"},
		{
			name: "env", args: []string{"sh", "-c", `echo "$GREETING, $WHO"`},
			modify:  func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "GREETING=hello", "WHO=visor") },
			wantOut: "hello, visor\n",
		},
		{
			name: "cwd", args: []string{"pwd"},
			modify:  func(s *specs.Spec) { s.Process.Cwd = "/etc" },
			wantOut: "/etc\n",
		},
		{
			name: "bind mount", args: []string{"sh", "-c", "cat /data/in && echo from the sandbox > /data/out"},
			modify: func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: hostDir, Options: []string{"rbind", "rw"}})
			},
			wantOut: "from the host\n",
		},
		{
			name: "read-only root", args: []string{"touch", "/visor-e2e-file"},
			modify:     func(s *specs.Spec) { s.Root.Readonly = true },
			wantStatus: 1,
			wantErr:    "Read-only file system",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runBusybox(t, tc.stdin, tc.modify, tc.args...)
			if res.status != tc.wantStatus || res.stdout != tc.wantOut || !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("%q = %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
					tc.args, res.status, res.stdout, res.stderr, tc.wantStatus, tc.wantOut, tc.wantErr)
			}
		})
	}
	if data, err := os.ReadFile(filepath.Join(hostDir, "out")); err != nil || string(data) != "from the sandbox\n" {
		t.Errorf("bind mount: the host reads %q, %v; want %q", data, err, "from the sandbox\n")
	}
	if _, err := os.Stat(filepath.Join(busyboxRootfs(t), "visor-e2e-file")); err == nil {
		t.Errorf("read-only root: the file was created on the host")
	}
}

func TestUnameRelease(t *testing.T) {
	res := runBusybox(t, "", nil, "uname", "-r")
	if release := strings.TrimSpace(res.stdout); res.status != 0 || !strings.HasSuffix(release, "visor") {
		t.Errorf("uname -r = %d, %q (stderr %q); want a release ending in \"visor\"", res.status, res.stdout, res.stderr)
	}
}

// startBusybox starts `runsc run` of args in the background and waits for the
// container to print its first line, which it returns with the state root the
// container is in.
func startBusybox(t *testing.T, id string, args ...string) (cmd *exec.Cmd, root, line string) {
	t.Helper()
	bundle := writeBundle(t, newSpec(busyboxRootfs(t), args...), "")
	root = filepath.Join(t.TempDir(), "state")
	cmd = exec.Command(runscPath(), append(globalFlags(root), "run", "--bundle", bundle, id)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // only this runsc; the sandbox dies with it
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line = <-lines:
	case <-time.After(runTimeout):
		t.Fatalf("container %q printed nothing within %v", args, runTimeout)
	}
	return cmd, root, line
}

// TestSignalForwarding sends SIGTERM to runsc run, which passes it on to the
// container's init; init exits by its trap.
func TestSignalForwarding(t *testing.T) {
	cmd, _, line := startBusybox(t, "e2e-signal", "sh", "-c", `trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done`)
	if line != "ready\n" {
		t.Fatalf("first line %q, want ready", line)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if got := cmd.ProcessState.ExitCode(); got != 7 {
			t.Errorf("exit status %d after SIGTERM, want 7 (the container's trap)", got)
		}
	case <-time.After(runTimeout):
		t.Errorf("runsc run still running %v after SIGTERM", runTimeout)
	}
}

// TestDuplicateID runs a second container under the ID of a running one.
func TestDuplicateID(t *testing.T) {
	_, root, line := startBusybox(t, "e2e-dup", "sh", "-c", "echo ready; while :; do sleep 0.1; done")
	if line != "ready\n" {
		t.Fatalf("first line %q, want ready", line)
	}
	bundle := writeBundle(t, newSpec(busyboxRootfs(t), "true"), "")
	out, err := exec.Command(runscPath(), append(globalFlags(root), "run", "--bundle", bundle, "e2e-dup")...).CombinedOutput()
	want := fmt.Sprintf("runsc run: container \"e2e-dup\" already exists and is running (pid %d): pick another ID\n", sentryPid(t, root, "e2e-dup"))
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 || string(out) != want {
		t.Errorf("second runsc run = %v, %q; want exit status 1, %q", err, out, want)
	}
}

// sentryPid returns the PID recorded in a running container's state.
func sentryPid(t *testing.T, root, id string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, id, container.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var state container.State
	if err := json.Unmarshal(data, &state); err != nil {
		t.Fatalf("%s: %v", container.StateFile, err)
	}
	return state.Pid
}
