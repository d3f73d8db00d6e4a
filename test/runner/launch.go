package main

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
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// onSandboxEnv is set to "1" in a test binary's environment when it runs in
// the sandbox; test/util's IsRunningOnVisor reads it.
const onSandboxEnv = "VISOR_ON_SANDBOX"

// A launcher turns a test binary invocation into the command that runs it in
// one mode.
type launcher interface {
	// check reports whether this mode can run tests at all, before any
	// binary is built or started.
	check() error
	// command returns the command running bin with args and env. reportDir is
	// the directory args name for googletest's JSON report; the binary must
	// be able to write there. cleanup, if not nil, is called once the command
	// has ended.
	command(ctx context.Context, bin string, args, env []string, reportDir string) (cmd *exec.Cmd, cleanup func(), err error)
}

// newLauncher returns the launcher for --mode.
func newLauncher(mode, runsc, platform string, runscArgs []string) (launcher, error) {
	switch mode {
	case "native":
		return nativeLauncher{}, nil
	case "runsc":
		return runscLauncher{runsc: runsc, platform: platform, extraArgs: runscArgs}, nil
	default:
		return nil, fmt.Errorf("unknown --mode %q: want native or runsc", mode)
	}
}

// nativeLauncher runs test binaries directly on the host.
//
// The binary starts with every signal at its default disposition and none
// blocked, whatever the runner inherited: Bazel, for one, starts tests with
// some signals ignored, and a Go exec.Cmd child inherits ignored signals and
// the runtime's initial signal mask. The runner re-executes itself as a shim
// (see shim.go) that resets both and then executes the test binary.
type nativeLauncher struct{}

func (nativeLauncher) check() error { return nil }

func (nativeLauncher) command(ctx context.Context, bin string, args, env []string, _ string) (*exec.Cmd, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("finding the runner's own binary for the signal-resetting shim: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, append([]string{shimArg, bin}, args...)...)
	cmd.Args[0] = bin
	// Its own session and process group, as init of a sandbox has: tests
	// that signal or move their process group then touch only themselves,
	// and a runner inside a container (whose session leader is outside the
	// PID namespace, so getsid reports 0) gives them the same start.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = []string{}
	// A stray onSandboxEnv from the caller's shell must not make a native
	// run believe it is in the sandbox.
	for _, kv := range env {
		if !strings.HasPrefix(kv, onSandboxEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd, nil, nil
}

// runscLauncher runs test binaries inside the sandbox, one sandbox per binary.
//
// For each run it writes an OCI bundle in a fresh temporary directory and
// starts `runsc --root=<dir>/state --platform=<platform> run --bundle <dir>
// <id>`, with a container ID unique to the run. The bundle's root is the
// host's / read-only (so the binary, static, is at the same path inside),
// with /proc, a fresh tmpfs on /tmp (the test's TEST_TMPDIR and TMPDIR) and
// the report directory bind-mounted read-write at its own path, through the
// Gofer, so that googletest's JSON report lands on the host. A binary under
// the host's /tmp, which the sandbox's hides, has its directory bind-mounted
// read-only. The test's environment gets onSandboxEnv=1; its working
// directory is the runner's (Bazel's runfiles tree), or / if that is under
// /tmp. runsc runs in its own process group; on a timeout or an interrupt the
// group is killed (the Sentry and the Gofer die with runsc: their
// parent-death signal is SIGKILL).
type runscLauncher struct {
	runsc     string   // Path of the runsc binary.
	platform  string   // --platform for runsc: ptrace, systrap or kvm.
	extraArgs []string // More global runsc flags: --strace, --debug-log=...
}

// check verifies that runsc is there and runs.
func (l runscLauncher) check() error {
	if l.runsc == "" {
		return errors.New("--mode=runsc needs --runsc=PATH (or --build, which builds runsc)")
	}
	out, err := exec.Command(l.runsc, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %v: %s", l.runsc, err, bytes.TrimSpace(out))
	}
	return nil
}

// sandboxTmp is where the sandbox's own tmpfs is mounted: the test's scratch
// space. A host TEST_TMPDIR (Bazel's) is read-only in the sandbox.
const sandboxTmp = "/tmp"

func (l runscLauncher) command(ctx context.Context, bin string, args, env []string, reportDir string) (*exec.Cmd, func(), error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, nil, err
	}
	if filepath.Dir(bin) == sandboxTmp {
		return nil, nil, fmt.Errorf("%s: a test binary directly in %s is hidden by the sandbox's own %s: move it to a directory", bin, sandboxTmp, sandboxTmp)
	}
	bundle, err := os.MkdirTemp(tempRoot(), "runsc-bundle-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(bundle) }
	cwd, err := os.Getwd()
	if err != nil || strings.HasPrefix(cwd+"/", sandboxTmp+"/") {
		cwd = "/" // The sandbox's /tmp is not the host's.
	}
	spec := sandboxSpec(bin, args, env, cwd, reportDir)
	data, err := json.MarshalIndent(spec, "", "\t")
	if err == nil {
		err = os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644)
	}
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("writing the bundle: %w", err)
	}
	cmd := exec.CommandContext(ctx, l.runsc, l.runscArgs(bundle)...)
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The whole group: runsc and whatever it started there.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return cmd, cleanup, nil
}

// runscArgs is runsc's command line for the bundle in dir: its state goes in
// dir too, and the container is named after dir, which is unique.
func (l runscLauncher) runscArgs(bundle string) []string {
	args := []string{"--root=" + filepath.Join(bundle, "state"), "--platform=" + l.platform}
	args = append(args, l.extraArgs...)
	return append(args, "run", "--bundle", bundle, "visor-test-"+strings.TrimPrefix(filepath.Base(bundle), "runsc-bundle-"))
}

// sandboxSpec is the OCI spec that runs bin with args in the sandbox.
func sandboxSpec(bin string, args, env []string, cwd, reportDir string) *specs.Spec {
	var penv []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case onSandboxEnv, "TEST_TMPDIR", "TMPDIR":
		case "TEST_PREMATURE_EXIT_FILE", "XML_OUTPUT_FILE", "TEST_WARNINGS_OUTPUT_FILE",
			"TEST_UNDECLARED_OUTPUTS_DIR", "TEST_UNDECLARED_OUTPUTS_ANNOTATIONS_DIR",
			"TEST_INFRASTRUCTURE_FAILURE_FILE":
			// Files Bazel has a test write, on the host, which is read-only
			// in the sandbox. googletest writes TEST_PREMATURE_EXIT_FILE
			// at start without checking that fopen worked: it would crash.
		default:
			penv = append(penv, kv)
		}
	}
	penv = append(penv, onSandboxEnv+"=1", "TEST_TMPDIR="+sandboxTmp, "TMPDIR="+sandboxTmp)
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: sandboxTmp, Type: "tmpfs", Source: "tmpfs"},
	}
	// The sandbox's /tmp hides the host's: a binary there (the non-Bazel
	// build's cache may be) comes through a read-only bind mount of its
	// directory. After /tmp, which holds it, as is the report directory.
	if dir := filepath.Dir(bin); strings.HasPrefix(dir, sandboxTmp+"/") {
		mounts = append(mounts, specs.Mount{Destination: dir, Type: "bind", Source: dir, Options: []string{"rbind", "ro"}})
	}
	mounts = append(mounts, specs.Mount{Destination: reportDir, Type: "bind", Source: reportDir, Options: []string{"rbind", "rw"}})
	return &specs.Spec{
		Version:  specs.Version,
		Hostname: "visor-test",
		Root:     &specs.Root{Path: "/", Readonly: true},
		Process: &specs.Process{
			Args: append([]string{bin}, args...),
			Env:  penv,
			Cwd:  cwd,
			User: specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())},
		},
		Mounts: mounts,
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
		}},
	}
}

// binaryRun is one run of one test binary.
type binaryRun struct {
	launcher launcher
	binary   string
	filter   string   // --gtest_filter, or "" for every case.
	env      []string // The binary's environment.
	verbose  bool     // Print the binary's output even when it passes.
	header   bool     // Print "=== binary" first, to group cases of several binaries.
	// timeout, if not zero, bounds the binary's run: one that takes longer is
	// killed and counts as a failure.
	timeout time.Duration
}

// run runs the binary, prints a line per case to out and returns the tally.
// A binary that fails without a failing case in its report (it crashed, or
// failed outside any case) counts as one failed case named after the binary.
func (r binaryRun) run(ctx context.Context, out io.Writer) (tally, error) {
	reportDir, err := os.MkdirTemp(tempRoot(), "gtest-report-")
	if err != nil {
		return tally{}, err
	}
	defer os.RemoveAll(reportDir)
	reportPath := filepath.Join(reportDir, "report.json")

	args := []string{"--gtest_output=json:" + reportPath}
	if r.filter != "" {
		args = append(args, "--gtest_filter="+r.filter)
	}
	runCtx := ctx
	if r.timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, r.timeout)
		defer cancel()
	}
	cmd, cleanup, err := r.launcher.command(runCtx, r.binary, args, r.env, reportDir)
	if err != nil {
		return tally{}, err
	}
	if cleanup != nil {
		defer cleanup()
	}
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	// A process the binary left behind may hold its output pipe open: once
	// the binary itself is gone, stop waiting for it soon.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start).Round(time.Millisecond)
	timedOut := r.timeout > 0 && errors.Is(runCtx.Err(), context.DeadlineExceeded)
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) && !errors.Is(runErr, exec.ErrWaitDelay) && !timedOut {
		return tally{}, runErr // It did not start at all.
	}

	name := filepath.Base(r.binary)
	if r.header {
		fmt.Fprintf(out, "=== %s\n", name)
	}
	var (
		t       tally
		results []caseResult
		problem string // Why the binary failed, if its report does not say.
	)
	data, err := os.ReadFile(reportPath)
	switch {
	case timedOut:
		// A report written after a timeout is not to be trusted, nor is
		// there one usually.
		problem = fmt.Sprintf("timed out after %s", r.timeout)
		if c := lastStartedCase(output.String()); c != "" {
			problem += " (it was running " + c + ")"
		}
		results = consoleResults(output.String())
	case err == nil:
		results, err = parseReport(data)
		if err != nil {
			problem = err.Error()
		}
	case errors.Is(err, os.ErrNotExist):
		problem = "wrote no report"
		if c := lastStartedCase(output.String()); c != "" {
			problem += " (it died during " + c + ")"
		}
		// What its console output says about the cases that ended before.
		results = consoleResults(output.String())
	default:
		return tally{}, err
	}
	for _, c := range results {
		t.count(c.outcome)
	}
	if runErr != nil && t.failed == 0 && problem == "" {
		problem = "failed, though no case did"
	}
	if problem != "" {
		problem = fmt.Sprintf("%s: %s (%v)", name, problem, exitDescription(runErr))
		t.failed++
	}

	if r.verbose || t.failed > 0 {
		out.Write(output.Bytes())
	}
	for _, c := range results {
		fmt.Fprintln(out, c.line())
		for _, f := range c.failures {
			fmt.Fprintf(out, "    %s\n", strings.ReplaceAll(f, "\n", "\n    "))
		}
	}
	if problem != "" {
		fmt.Fprintf(out, "FAIL %s (%s)\n", problem, elapsed)
	}
	return t, nil
}

// exitDescription describes how a test binary ended.
func exitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// tempRoot is where per-run scratch files go: Bazel's per-test scratch
// directory when under `bazel test`, the system's otherwise.
func tempRoot() string {
	if d := os.Getenv("TEST_TMPDIR"); d != "" {
		return d
	}
	return os.TempDir()
}
