//go:build e2e_sentry

package e2e

// Bad-input cases that fail today (STATUS.md says why). Move a case to
// badinput_test.go once it passes.

import "testing"

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
