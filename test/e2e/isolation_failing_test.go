//go:build e2e_sentry

package e2e

// Isolation cases that fail today (STATUS.md says why). Nothing escapes in any of
// them: the host-side checks are in isolation2_test.go and pass; what fails is
// the error the application gets, which differs from Linux's. Move a case to
// isolation_errno_test.go once it passes.

import (
	"fmt"
	"testing"
)

// TestHostPidCallsESRCH checks that the calls on a PID the Sentry lacks fail with
// ESRCH for a host PID, as for any PID not in the container's PID namespace
// (TestHostProcessesUnreachable checks kill, tgkill, getpgid, getsid,
// sched_getaffinity and prlimit, which do, and TestHostPidPidfdOpenESRCH
// pidfd_open).
func TestHostPidCallsESRCH(t *testing.T) {
	sentinel := startSentinel(t)
	res := runDebian(t, "", nil, "python3", "-c", `
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
pid = int(sys.argv[1])
print("ptrace_attach", call(101, 16, pid, None, None),
    "process_vm_readv", call(310, pid, None, 0, None, 0, 0))
`, fmt.Sprint(sentinel.Process.Pid))
	if want := "ptrace_attach ESRCH process_vm_readv ESRCH\n"; res.status != 0 || res.stdout != want {
		t.Errorf("container: status %d, stdout %q, stderr %q; want 0, %q", res.status, res.stdout, res.stderr, want)
	}
	if !alive(sentinel.Process.Pid) {
		t.Errorf("the host sentinel %d died", sentinel.Process.Pid)
	}
}

// TestExeWriteBusy compares with Linux: opening a running program's executable
// for writing through /proc/PID/exe fails with ETXTBSY (the Sentry opens it, and
// the write lands in the container's copy of the file).
func TestExeWriteBusy(t *testing.T) {
	compareCases(t, []compareCase{{
		name: "write /proc/PID/exe",
		args: []string{"sh", "-c", `sleep 100 & python3 -c "$0" $!; kill $!`, exeScript},
	}})
}
