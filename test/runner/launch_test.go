package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeRunscEnv, set to "1", makes the runner's test binary act as runsc (see
// fakeRunsc) instead of running tests.
const fakeRunscEnv = "VISOR_RUNNER_TEST_FAKE_RUNSC"

// fakeRunsc stands in for `runsc [global flags] run --bundle DIR ID`: it
// writes its arguments to $VISOR_RUNNER_TEST_RUNSC_ARGS, loads DIR's
// config.json, checks that the report directory is bind-mounted and executes
// the spec's process with its environment. `runsc --version` just succeeds.
func fakeRunsc(args []string) {
	if len(args) == 1 && args[0] == "--version" {
		fmt.Println("runsc version fake")
		os.Exit(0)
	}
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "fake runsc: "+format+"\n", a...)
		os.Exit(125)
	}
	if f := os.Getenv("VISOR_RUNNER_TEST_RUNSC_ARGS"); f != "" {
		os.WriteFile(f, []byte(strings.Join(args, " ")), 0o644)
	}
	i := slices.Index(args, "run")
	if i < 0 || len(args) != i+4 || args[i+1] != "--bundle" {
		fail("bad command line %q", args)
	}
	data, err := os.ReadFile(filepath.Join(args[i+2], "config.json"))
	if err != nil {
		fail("%v", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		fail("%v", err)
	}
	for _, a := range spec.Process.Args {
		if dir, ok := strings.CutPrefix(a, "--gtest_output=json:"); ok {
			dir = filepath.Dir(dir)
			if !slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool {
				return m.Type == "bind" && m.Source == dir && m.Destination == dir && !slices.Contains(m.Options, "ro")
			}) {
				fail("the report directory %s is not bind-mounted read-write: %+v", dir, spec.Mounts)
			}
		}
	}
	err = syscall.Exec(spec.Process.Args[0], spec.Process.Args, spec.Process.Env)
	fail("exec: %v", err)
}

func TestSandboxSpec(t *testing.T) {
	env := []string{"PATH=/bin", "TEST_TMPDIR=/host/tmp", "TMPDIR=/host/tmp", onSandboxEnv + "=0", "GTEST_SHARD_INDEX=1",
		"TEST_PREMATURE_EXIT_FILE=/host/out/exit", "XML_OUTPUT_FILE=/host/out/test.xml"}
	got := sandboxSpec("/cache/pipe_test", []string{"--gtest_output=json:/r/report.json", "--gtest_filter=A.*"}, env, "/work", "/r")
	want := &specs.Spec{
		Version:  specs.Version,
		Hostname: "visor-test",
		Root:     &specs.Root{Path: "/", Readonly: true},
		Process: &specs.Process{
			Args: []string{"/cache/pipe_test", "--gtest_output=json:/r/report.json", "--gtest_filter=A.*"},
			Env:  []string{"PATH=/bin", "GTEST_SHARD_INDEX=1", onSandboxEnv + "=1", "TEST_TMPDIR=/tmp", "TMPDIR=/tmp"},
			Cwd:  "/work",
			User: specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/r", Type: "bind", Source: "/r", Options: []string{"rbind", "rw"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sandboxSpec (-want +got):\n%s", diff)
	}

	// The sandbox's /tmp hides the host's: a binary there comes in by a
	// read-only bind mount of its directory.
	got = sandboxSpec("/tmp/cache/pipe_test", nil, nil, "/", "/tmp/r")
	wantMounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs"},
		{Destination: "/tmp/cache", Type: "bind", Source: "/tmp/cache", Options: []string{"rbind", "ro"}},
		{Destination: "/tmp/r", Type: "bind", Source: "/tmp/r", Options: []string{"rbind", "rw"}},
	}
	if diff := cmp.Diff(wantMounts, got.Mounts); diff != "" {
		t.Errorf("sandboxSpec of a binary in /tmp: mounts (-want +got):\n%s", diff)
	}
	if _, _, err := (runscLauncher{runsc: "/bin/runsc"}).command(context.Background(), "/tmp/a_test", nil, nil, "/tmp/r"); err == nil {
		t.Errorf("a binary directly in /tmp, which the sandbox's /tmp hides, was accepted")
	}
}

func TestRunscCommand(t *testing.T) {
	t.Setenv("TEST_TMPDIR", t.TempDir())
	l := runscLauncher{runsc: "/bin/runsc", platform: "ptrace", extraArgs: []string{"--strace"}}
	report := t.TempDir()
	cmd, cleanup, err := l.command(context.Background(), "/cache/a_test", []string{"--gtest_output=json:" + report + "/report.json"}, []string{"PATH=/bin"}, report)
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Path != "/bin/runsc" {
		t.Errorf("command %q, want /bin/runsc", cmd.Path)
	}
	args := cmd.Args[1:]
	if len(args) != 7 {
		t.Fatalf("runsc arguments %q, want 7", args)
	}
	bundle, id := args[5], args[6]
	if diff := cmp.Diff([]string{"--root=" + filepath.Join(bundle, "state"), "--platform=ptrace", "--strace", "run", "--bundle", bundle, id}, args); diff != "" {
		t.Errorf("runsc arguments (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(id, "visor-test-") || !strings.HasPrefix(bundle, os.Getenv("TEST_TMPDIR")) {
		t.Errorf("container ID %q, bundle %q: want visor-test-*, in $TEST_TMPDIR", id, bundle)
	}
	var spec specs.Spec
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err == nil {
		err = json.Unmarshal(data, &spec)
	}
	if err != nil {
		t.Fatalf("the bundle's config.json: %v", err)
	}
	if spec.Process.Args[0] != "/cache/a_test" || !slices.Contains(spec.Process.Env, onSandboxEnv+"=1") {
		t.Errorf("process %q, environment %q", spec.Process.Args, spec.Process.Env)
	}
	if cmd.SysProcAttr == nil || !cmd.SysProcAttr.Setpgid || cmd.Cancel == nil {
		t.Errorf("runsc must run in its own process group, killed as a whole: %+v", cmd.SysProcAttr)
	}
	cleanup()
	if _, err := os.Stat(bundle); !os.IsNotExist(err) {
		t.Errorf("cleanup left the bundle %s: %v", bundle, err)
	}

	// A second run gets another bundle, and so another container ID.
	cmd2, cleanup2, err := l.command(context.Background(), "/cache/a_test", nil, nil, report)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup2()
	if cmd2.Args[7] == id {
		t.Errorf("two runs share the container ID %q", id)
	}
}

// TestRunscMode runs a fake test binary through a fake runsc, checking the
// plumbing end to end: the runsc command line, the report coming back out of
// the bind mount, and the sandbox's environment.
func TestRunscMode(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeRunscEnv, "1")
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "runsc.args")
	t.Setenv("VISOR_RUNNER_TEST_RUNSC_ARGS", argsFile)
	bin := fakeTest{name: "a_test", report: report(passCase, skipCase), end: `env | grep -E '^(VISOR_ON_SANDBOX|TEST_TMPDIR)=' | sort > "$0.env"`}.write(t, dir)

	var stdout, stderr bytes.Buffer
	code := run([]string{"--mode=runsc", "--runsc=" + self, "--platform=systrap", "--runsc_arg=--debug", "--filter=Fake.*", bin}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("run = %d, stdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	if diff := cmp.Diff("PASS Fake.Passes (2ms)\nSKIPPED Fake.Skips (2ms)\n1 passed, 0 failed, 1 skipped\n", stdout.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	env, err := os.ReadFile(bin + ".env")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("TEST_TMPDIR=/tmp\nVISOR_ON_SANDBOX=1\n", string(env)); diff != "" {
		t.Errorf("the test's environment in the sandbox (-want +got):\n%s", diff)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(args), " --platform=systrap --debug run --bundle ") {
		t.Errorf("runsc arguments %q", args)
	}
	gotArgs, err := os.ReadFile(bin + ".args")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(gotArgs)), " --gtest_filter=Fake.*") {
		t.Errorf("test arguments %q", gotArgs)
	}
}

// TestNativeSignals checks that a native test binary starts with no signal
// ignored, even when the runner inherited ignored ones.
func TestNativeSignals(t *testing.T) {
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)
	// Without the shim, an exec.Cmd child inherits SIG_IGN.
	out, err := exec.Command("grep", "^SigIgn:", "/proc/self/status").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "800\n") {
		t.Fatalf("without the shim, a child's %s: want SIGUSR2's bit, 800: the test proves nothing", bytes.TrimSpace(out))
	}

	dir := t.TempDir()
	bin := fakeTest{name: "a_test", report: report(passCase), end: `grep -E '^Sig(Ign|Blk):' /proc/self/status > "$0.status"`}.write(t, dir)
	var stdout, stderr bytes.Buffer
	if code := run([]string{bin}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	status, err := os.ReadFile(bin + ".status")
	if err != nil {
		t.Fatal(err)
	}
	// sh ignores nothing itself, nor blocks anything, before running grep.
	if diff := cmp.Diff("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", string(status)); diff != "" {
		t.Errorf("the test binary's signals (-want +got):\n%s", diff)
	}
}

// TestNativeSession checks that a native test binary leads its own session
// and process group, whichever the runner is in.
func TestNativeSession(t *testing.T) {
	dir := t.TempDir()
	// Fields 6 and 7 of /proc/PID/stat are the process group and session;
	// sh's own $$ is the test binary's pid.
	bin := fakeTest{name: "a_test", report: report(passCase), end: `echo $$ $(cut -d' ' -f5,6 /proc/$$/stat) > "$0.ids"`}.write(t, dir)
	var stdout, stderr bytes.Buffer
	if code := run([]string{bin}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	ids, err := os.ReadFile(bin + ".ids")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(ids))
	if len(f) != 3 || f[0] != f[1] || f[0] != f[2] {
		t.Errorf("pid, process group, session = %q: want all three equal", f)
	}
}
