package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/pkg/testutil/runscbin"
)

// workDir holds what the tests share: the runsc binary and, for the Sentry
// tests, the busybox rootfs.
var workDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if workDir, err = os.MkdirTemp("", "visor-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	// Under Bazel, the //runsc the BUILD rule hands the test.
	if runscBin, err = runscbin.Path(workDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// runscBin is the runsc binary the tests run.
var runscBin string

func runscPath() string { return runscBin }

// runTimeout bounds every runsc run: a hung sandbox fails its test instead of
// the whole run. Killing runsc kills the sandbox too (PR_SET_PDEATHSIG).
const runTimeout = 60 * time.Second

// result is what a `runsc run` did.
type result struct {
	status         int
	stdout, stderr string
}

// runsc runs the binary with args after the global flags that give it a state
// root of its own, which must be empty when it is done.
func runsc(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	root := filepath.Join(t.TempDir(), "state")
	cmd := exec.CommandContext(ctx, runscPath(), append(globalFlags(root), args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		res.status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("runsc %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("runsc %q did not finish within %v; stderr: %s", args, runTimeout, res.stderr)
	}
	if entries, err := os.ReadDir(root); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Error(err)
	} else if len(entries) != 0 {
		t.Errorf("state left in --root after runsc %q: %v", args, entries)
	}
	return res
}

// globalFlags returns the flags that run runsc with state root root, as root or
// else rootless.
func globalFlags(root string) []string {
	if os.Getuid() != 0 {
		return []string{"--root", root, "--rootless"}
	}
	return []string{"--root", root}
}

// newSpec returns the spec of a container running args on rootfs, with
// `runc spec`'s defaults where it matters.
func newSpec(rootfs string, args ...string) *specs.Spec {
	return &specs.Spec{
		Version:  specs.Version,
		Hostname: "e2e",
		Root:     &specs.Root{Path: rootfs},
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:  "/",
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
			{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
		}},
	}
}

// writeBundle writes config.json (spec's JSON, or raw when spec is nil) into a
// new bundle directory and returns it.
func writeBundle(t *testing.T, spec *specs.Spec, raw string) string {
	t.Helper()
	dir := t.TempDir()
	data := []byte(raw)
	if spec != nil {
		var err error
		if data, err = json.MarshalIndent(spec, "", "\t"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBadBundles runs bundles that runsc must refuse before it starts anything:
// one line on stderr naming the problem, exit status 1, no state left.
func TestBadBundles(t *testing.T) {
	rootfs := t.TempDir() // never run: an empty directory is root enough
	mod := func(f func(*specs.Spec)) *specs.Spec {
		s := newSpec(rootfs, "true")
		f(s)
		return s
	}
	for _, tc := range []struct {
		name    string
		spec    *specs.Spec
		raw     string // config.json, when spec is nil
		wantErr string // BUNDLE stands for the bundle's directory
	}{
		{
			name:    "malformed JSON",
			raw:     "{\n\t\"ociVersion\": \"1.0.2\"\n\t\"process\": {}\n}",
			wantErr: `config.json: malformed JSON at line 3, column 2: invalid character '"' after object key:value pair`,
		},
		{
			name:    "no config.json",
			wantErr: `no config.json in bundle BUNDLE: pass the bundle directory with --bundle, or create it`,
		},
		{
			name:    "missing rootfs",
			spec:    mod(func(s *specs.Spec) { s.Root.Path = "rootfs" }),
			wantErr: `config.json: root.path "rootfs" does not exist in bundle BUNDLE: create it or fix root.path`,
		},
		{
			name:    "no command",
			spec:    mod(func(s *specs.Spec) { s.Process.Args = []string{} }),
			wantErr: `config.json: process.args is empty: set the command to run`,
		},
		{
			name:    "unknown namespace",
			spec:    mod(func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "process" }),
			wantErr: `config.json: linux.namespaces[0]: unknown namespace type "process": want one of pid, network, mount, ipc, uts, user, cgroup, time`,
		},
		{
			name: "escaping mount destination",
			spec: mod(func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/../../etc", Type: "tmpfs", Source: "tmpfs"})
			}),
			wantErr: `config.json: mounts[3].destination "/../../etc" contains "..": name the directory without it`,
		},
		{
			name: "missing bind mount source",
			spec: mod(func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/visor/no/such/dir", Options: []string{"rbind"}})
			}),
			wantErr: `config.json: mounts[3] (/data): bind mount source "/visor/no/such/dir" does not exist: create it or fix mounts[3].source`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := writeBundle(t, tc.spec, tc.raw)
			if tc.spec == nil && tc.raw == "" {
				os.Remove(filepath.Join(bundle, "config.json"))
			}
			res := runsc(t, nil, "run", "--bundle", bundle, "e2e-bad")
			want := "runsc run: " + strings.ReplaceAll(tc.wantErr, "BUNDLE", bundle) + "\n"
			if res.status != 1 || res.stderr != want || res.stdout != "" {
				t.Errorf("runsc run = %d, stdout %q, stderr %q; want 1, no output, %q", res.status, res.stdout, res.stderr, want)
			}
		})
	}
}

// TestBadCommandLines checks the usage errors of run and do: exit status 2.
func TestBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"run"}, "runsc run: want one container ID; usage: runsc run [--bundle DIR] [--pid-file FILE] ID\n"},
		{[]string{"run", "a", "b"}, "runsc run: want one container ID; usage: runsc run [--bundle DIR] [--pid-file FILE] ID\n"},
		{[]string{"do"}, "runsc do: no command given; usage: runsc do [flags] [--] CMD [ARGS...]\n"},
	} {
		if res := runsc(t, nil, tc.args...); res.status != 2 || res.stderr != tc.wantErr {
			t.Errorf("runsc %q = %d, %q; want 2, %q", tc.args, res.status, res.stderr, tc.wantErr)
		}
	}
}
