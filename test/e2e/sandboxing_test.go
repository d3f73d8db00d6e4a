package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestSandboxConfinement checks, from the host, how the two sandbox processes of
// a created and then running container are confined: both run under a seccomp
// filter with no_new_privs (runsc/boot/filter, runsc/fsgofer/filter) and only
// the capabilities they need, and both see an empty directory as their root (the Sentry's chroot, the Gofer's
// pivot_root), so no host path resolves in either. The container still runs.
func TestSandboxConfinement(t *testing.T) {
	r := newOCIRoot(t)
	const id = "e2e-confined"
	out := r.create(id, busyboxRootfs(t), "sh", "-c", "echo started; sleep 100")
	sentry, gofer := r.statePids(id)
	check := func(when string) {
		t.Helper()
		for _, p := range []struct {
			name string
			pid  int
			// caps are the process's effective and bounding capabilities:
			// none for the Sentry; the Gofer's CAP_CHOWN, CAP_DAC_OVERRIDE,
			// CAP_DAC_READ_SEARCH, CAP_FOWNER and CAP_FSETID.
			caps string
		}{{"sentry", sentry, "0000000000000000"}, {"gofer", gofer, "000000000000001f"}} {
			status := readString(t, fmt.Sprintf("/proc/%d/status", p.pid))
			for _, want := range []string{"Seccomp:\t2\n", "NoNewPrivs:\t1\n", "CapEff:\t" + p.caps + "\n", "CapBnd:\t" + p.caps + "\n"} {
				if !strings.Contains(status, want) {
					t.Errorf("%s: the %s's /proc/%d/status has no %q:\n%s", when, p.name, p.pid, want, status)
				}
			}
			root := fmt.Sprintf("/proc/%d/root", p.pid)
			entries, err := os.ReadDir(root)
			if err != nil {
				t.Errorf("%s: listing the %s's root %s: %v", when, p.name, root, err)
				continue
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if len(names) != 0 {
				t.Errorf("%s: the %s's root %s has %q, want it empty", when, p.name, root, names)
			}
		}
	}
	check("created")
	r.must("start", id)
	r.waitOutput(out, "started\n", runTimeout)
	check("running")
	r.must("delete", "--force", id)
	r.checkGone(id)
}
