package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// onSandboxEnv is set to "1" in a test binary's environment when it runs in
// the sandbox; test/util's IsRunningOnVisor reads it.
const onSandboxEnv = "VISOR_ON_SANDBOX"

// errSandboxUnavailable is what --mode=runsc answers until the Sentry can run
// programs.
var errSandboxUnavailable = errors.New("sandbox mode is not available yet: Visor's Sentry cannot run programs (see issue 3)")

// A launcher turns a test binary invocation into the command that runs it in
// one mode.
type launcher interface {
	// check reports whether this mode can run tests at all, before any
	// binary is built or started.
	check() error
	// command returns the command running bin with args and env. reportDir is
	// the directory args name for googletest's JSON report; the binary must
	// be able to write there.
	command(ctx context.Context, bin string, args, env []string, reportDir string) (*exec.Cmd, error)
}

// newLauncher returns the launcher for --mode.
func newLauncher(mode, runsc, platform string) (launcher, error) {
	switch mode {
	case "native":
		return nativeLauncher{}, nil
	case "runsc":
		return runscLauncher{runsc: runsc, platform: platform}, nil
	default:
		return nil, fmt.Errorf("unknown --mode %q: want native or runsc", mode)
	}
}

// nativeLauncher runs test binaries directly on the host.
type nativeLauncher struct{}

func (nativeLauncher) check() error { return nil }

func (nativeLauncher) command(ctx context.Context, bin string, args, env []string, _ string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{}
	// A stray onSandboxEnv from the caller's shell must not make a native
	// run believe it is in the sandbox.
	for _, kv := range env {
		if !strings.HasPrefix(kv, onSandboxEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd, nil
}

// runscLauncher runs test binaries inside the sandbox.
//
// When the Sentry can run programs, command will start bin with `runsc
// --platform=<platform> do` (or an OCI bundle whose root holds the static
// binary), bind-mount reportDir into the sandbox at the same path, and add
// onSandboxEnv=1 to env.
type runscLauncher struct {
	runsc    string // Path of the runsc binary.
	platform string // --platform for runsc: ptrace, systrap or kvm.
}

// check will verify that runsc exists and can run; for now nothing runs.
func (runscLauncher) check() error { return errSandboxUnavailable }

func (runscLauncher) command(context.Context, string, []string, []string, string) (*exec.Cmd, error) {
	return nil, errSandboxUnavailable
}

// binaryRun is one run of one test binary.
type binaryRun struct {
	launcher launcher
	binary   string
	filter   string   // --gtest_filter, or "" for every case.
	env      []string // The binary's environment.
	verbose  bool     // Print the binary's output even when it passes.
	header   bool     // Print "=== binary" first, to group cases of several binaries.
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
	cmd, err := r.launcher.command(ctx, r.binary, args, r.env, reportDir)
	if err != nil {
		return tally{}, err
	}
	var output bytes.Buffer
	cmd.Stdout = &output
	cmd.Stderr = &output
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start).Round(time.Millisecond)
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
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
