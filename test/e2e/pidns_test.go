package e2e

import "testing"

// TestSandboxPIDNamespace checks that the Sentry and the Gofer each start in a
// PID namespace of their own, as the issue asks of both (beside the mount,
// network, IPC and UTS ones TestSandboxNamespaces checks; seccomp, no_new_privs,
// capabilities and the empty roots are sandboxing_test.go's).
func TestSandboxPIDNamespace(t *testing.T) {
	procs := sandboxProcesses(t)
	for _, name := range []string{"sentry", "gofer"} {
		checkNamespaces(t, name, procs[name], "pid")
	}
}
