package e2e

// Isolation cases whose errno once differed from Linux's and now matches it
// (they were in isolation_failing_test.go, behind the e2e_sentry tag). The host
// side of each is checked in isolation2_test.go.

import (
	"fmt"
	"testing"
)

// TestClockEPERM checks that setting the clock fails with EPERM, as it does in a
// container without CAP_SYS_TIME (the Sentry said ENOSYS before bae746b).
func TestClockEPERM(t *testing.T) {
	got := privilegedResults(t)
	for _, name := range []string{"clock_settime", "settimeofday"} {
		if got[name] != "EPERM" {
			t.Errorf("%s in the container: %q, want EPERM", name, got[name])
		}
	}
}

// TestHostPidPidfdOpenESRCH checks that pidfd_open of a host PID fails with
// ESRCH, as for any PID outside the container's PID namespace (ENOSYS before
// pidfd_open was implemented), and that of the container's init works; the host
// process lives on.
func TestHostPidPidfdOpenESRCH(t *testing.T) {
	sentinel := startSentinel(t)
	res := runDebian(t, "", nil, "python3", "-c", `
import ctypes, errno, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(nr, *args):
    r = libc.syscall(nr, *args)
    return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]
print("pidfd_open", call(434, int(sys.argv[1]), 0), "init", call(434, 1, 0))
`, fmt.Sprint(sentinel.Process.Pid))
	if want := "pidfd_open ESRCH init ok\n"; res.status != 0 || res.stdout != want {
		t.Errorf("container: status %d, stdout %q, stderr %q; want 0, %q", res.status, res.stdout, res.stderr, want)
	}
	if !alive(sentinel.Process.Pid) {
		t.Errorf("the host sentinel %d died", sentinel.Process.Pid)
	}
}
