package main

import (
	"errors"
	"os/exec"
	"testing"

	"visor.dev/visor/pkg/testutil/runscbin"
)

// TestBinary builds runsc the way a release does and checks what only the binary
// shows: the version set with -ldflags, and exit statuses.
func TestBinary(t *testing.T) {
	// Under Bazel, runsc_release_test_binary is built with the same version.
	bin, err := runscbin.Path(t.TempDir(), "-ldflags", "-X visor.dev/visor/runsc/version.version=9.8.7-test")
	if errors.Is(err, runscbin.ErrNoGoTool) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args       []string
		wantStatus int
		wantOut    string
	}{
		{[]string{"--version"}, 0, "runsc version 9.8.7-test\nspec: 1.1.0\n"},
		{[]string{"--platform=foo", "help"}, 2, "runsc: invalid --platform \"foo\": want one of ptrace, systrap, kvm\n"},
		{[]string{"compat", "--", "visor-no-such-command"}, 127,
			"runsc compat: cannot start \"visor-no-such-command\": executable file not found in $PATH\n"},
	} {
		out, err := exec.Command(bin, tc.args...).CombinedOutput()
		status := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("runsc %q: %v", tc.args, err)
		}
		if status != tc.wantStatus || string(out) != tc.wantOut {
			t.Errorf("runsc %q = %d, %q; want %d, %q", tc.args, status, out, tc.wantStatus, tc.wantOut)
		}
	}
}
