//go:build e2e_sentry

package e2e

// Bad-input cases that fail today (STATUS.md says why). Move a case to
// badinput_test.go once it passes.

import (
	"math"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestBadConfigsKnownFailures runs, as TestBadConfigs does, the configs runsc
// does not refuse properly yet: an empty config.json (a panic in
// specutils.position), an unknown rlimit (refused by the Sentry, whose message
// is lost: only "the sandbox did not start"), a huge RLIMIT_NOFILE (accepted).
func TestBadConfigsKnownFailures(t *testing.T) {
	mod, _ := configMakers(t, busyboxRootfs(t))
	checkBadConfigs(t, []badConfig{
		{name: "empty file", config: func() string { return "" },
			want: []string{"config.json", "JSON"}},
		{name: "unknown rlimit", config: mod(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_VISOR", Soft: 1, Hard: 1}}
		}), want: []string{"process.rlimits", "RLIMIT_VISOR"}},
		// Linux refuses RLIMIT_NOFILE above fs.nr_open (at most 2^30) with EPERM:
		// runc's create fails on it.
		{name: "huge rlimit", config: mod(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: math.MaxUint64 / 2, Hard: math.MaxUint64 / 2}}
		}), want: []string{"process.rlimits[0]", "RLIMIT_NOFILE"}},
	})
}

// TestMountThroughRootfsSymlinkMessage checks what the issue asks of
// TestMountThroughRootfsSymlink's cases: runsc refuses such a spec, in one line
// from the command run, naming the mount. Since 2c6c02c the Sentry makes missing
// mount points (parents too) in the root overlay, resolving the symlinks inside
// the container's root as runc does, and the containers run.
func TestMountThroughRootfsSymlinkMessage(t *testing.T) {
	mountThroughRootfsSymlink(t, func(t *testing.T, cmd string, res result, dest, _ string) {
		checkOneLineError(t, cmd, res, dest)
	})
}
