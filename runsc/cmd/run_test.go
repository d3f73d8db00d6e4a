package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/pkg/testutil/runscbin"
	"visor.dev/visor/runsc/container"
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

// runscBinary returns the path of a runsc built from this tree (under Bazel,
// the //runsc the BUILD rule hands the test).
func runscBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "runsc-cmd-test-"); buildErr != nil {
			return
		}
		binPath, buildErr = runscbin.Path(binDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// requireRoot skips tests that make namespaces without --rootless.
func requireRoot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("starting a sandbox needs root")
	}
}

// writeBundle makes a bundle with an empty rootfs, a "data" directory, and
// config.json: the JSON of spec, or raw when spec is nil.
func writeBundle(t *testing.T, spec *specs.Spec, raw string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"rootfs", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := []byte(raw)
	if spec != nil {
		var err error
		if data, err = json.Marshal(spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testSpec returns a spec for a bundle from writeBundle; its program does not
// exist, so whatever the Sentry can do, the container fails at once.
func testSpec() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{Args: []string{"/visor-no-such-program"}, Cwd: "/"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind", "ro"}},
		},
	}
}

// runsc runs the binary with args and returns its exit status and stderr.
func runsc(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(runscBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode(), stderr.String()
	} else if err != nil {
		t.Fatalf("runsc %q: %v", args, err)
	}
	return 0, stderr.String()
}

// checkNothingLeft fails unless dir is empty and no process mentions marker (a
// bundle path, unique to a test) on its command line.
func checkNothingLeft(t *testing.T, dir, marker string) {
	t.Helper()
	if entries, err := os.ReadDir(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Error(err)
	} else if len(entries) != 0 {
		t.Errorf("%s not empty afterwards: %v", dir, entries)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if cmdline, err := os.ReadFile(p); err == nil && strings.Contains(string(cmdline), marker) {
			t.Errorf("process %s still running: %q", filepath.Dir(p), cmdline)
		}
	}
}

func TestRunBadInput(t *testing.T) {
	requireRoot(t)
	mod := func(f func(*specs.Spec)) *specs.Spec {
		s := testSpec()
		f(s)
		return s
	}
	for _, tc := range []struct {
		name       string
		spec       *specs.Spec
		raw        string   // config.json when spec is nil
		args       []string // after "run"; the bundle is passed with --bundle
		wantStatus int
		wantErr    string // with BUNDLE for the bundle directory
	}{
		{
			name: "malformed config.json", raw: "{\"ociVersion\": \"1.0.0\",\n\"process\": }",
			args: []string{"c1"}, wantStatus: 1,
			wantErr: "runsc run: config.json: malformed JSON at line 2, column 12: invalid character '}' looking for beginning of value\n",
		},
		{
			name: "missing rootfs", spec: mod(func(s *specs.Spec) { s.Root.Path = "nope" }),
			args: []string{"c1"}, wantStatus: 1,
			wantErr: "runsc run: config.json: root.path \"nope\" does not exist in bundle BUNDLE: create it or fix root.path\n",
		},
		{
			name: "empty args", spec: mod(func(s *specs.Spec) { s.Process.Args = nil }),
			args: []string{"c1"}, wantStatus: 1,
			wantErr: "runsc run: config.json: process.args is empty: set the command to run\n",
		},
		{
			name: "missing bind source", spec: mod(func(s *specs.Spec) { s.Mounts[1].Source = "/visor/none" }),
			args: []string{"c1"}, wantStatus: 1,
			wantErr: "runsc run: config.json: mounts[1] (/data): bind mount source \"/visor/none\" does not exist: create it or fix mounts[1].source\n",
		},
		{
			name: "invalid ID", spec: testSpec(),
			args: []string{"../c1"}, wantStatus: 1,
			wantErr: "runsc run: invalid container ID \"../c1\": use letters, digits and \"_+.-\"\n",
		},
		{
			name: "no ID", spec: testSpec(),
			wantStatus: 2,
			wantErr:    "runsc run: want one container ID; usage: runsc run [--bundle DIR] [--pid-file FILE] ID\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := writeBundle(t, tc.spec, tc.raw)
			root := filepath.Join(t.TempDir(), "root")
			status, stderr := runsc(t, nil, append([]string{"--root", root, "run", "--bundle", bundle}, tc.args...)...)
			if want := strings.ReplaceAll(tc.wantErr, "BUNDLE", bundle); status != tc.wantStatus || stderr != want {
				t.Errorf("runsc run = %d, %q; want %d, %q", status, stderr, tc.wantStatus, want)
			}
			checkNothingLeft(t, root, bundle)
		})
	}
}

func TestRunNoConfig(t *testing.T) {
	bundle := t.TempDir()
	root := filepath.Join(t.TempDir(), "root")
	cmd := exec.Command(runscBinary(t), "--root", root, "run", "c1")
	cmd.Dir = bundle // --bundle defaults to the current directory
	out, err := cmd.CombinedOutput()
	want := "runsc run: no config.json in bundle " + bundle + ": pass the bundle directory with --bundle, or create it\n"
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 || string(out) != want {
		t.Errorf("runsc run = %v, %q; want exit status 1, %q", err, out, want)
	}
	checkNothingLeft(t, root, bundle)
}

func TestRunDuplicateID(t *testing.T) {
	requireRoot(t)
	bundle := writeBundle(t, testSpec(), "")
	root := t.TempDir()
	// This process holds c1 and its sandbox lock, as a running Sentry would.
	c, err := container.Create(root, container.CreateArgs{ID: "c1", Bundle: "/elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	lock, err := c.SandboxLock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	self, err := container.ProcessOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetProcesses(self, container.Process{}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetStatus(container.Running); err != nil {
		t.Fatal(err)
	}
	status, stderr := runsc(t, nil, "--root", root, "run", "--bundle", bundle, "c1")
	want := fmt.Sprintf("runsc run: container \"c1\" already exists and is running (pid %d): pick another ID\n", os.Getpid())
	if status != 1 || stderr != want {
		t.Errorf("runsc run = %d, %q; want 1, %q", status, stderr, want)
	}
	if got := c.State(); got.Bundle != "/elsewhere" || got.Pid != os.Getpid() {
		t.Errorf("the running container's state changed: %+v", got)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	checkNothingLeft(t, root, bundle)
}

// TestRunCleansUp starts a real sandbox whose container cannot run, and checks
// that runsc says why, exits 1 and leaves nothing behind: the Sentry finds the
// program missing before it is ready, so there is no pid file either.
func TestRunCleansUp(t *testing.T) {
	requireRoot(t)
	bundle := writeBundle(t, testSpec(), "")
	root := filepath.Join(t.TempDir(), "root")
	pidFile := filepath.Join(t.TempDir(), "pid")
	status, stderr := runsc(t, nil, "--root", root, "run", "--bundle", bundle, "--pid-file", pidFile, "c1")
	if status != 1 || !strings.Contains(stderr, `process.args[0] "/visor-no-such-program"`) ||
		!strings.HasSuffix(stderr, "\n") || strings.Count(stderr, "runsc run: ") != 1 {
		t.Errorf("runsc run of a missing program = %d, %q; want 1, and why", status, stderr)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file of a sandbox that never started: %v, want none", err)
	}
	checkNothingLeft(t, root, bundle)
}
