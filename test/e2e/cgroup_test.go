package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSandboxCgroup checks, on the host, that a sandbox whose spec has
// linux.resources lives in cgroups of its own: the Sentry and the Gofer both,
// with the memory limit set (memory.limit_in_bytes on v1, memory.max on v2);
// and that delete removes them.
func TestSandboxCgroup(t *testing.T) {
	r := newOCIRoot(t)
	const id = "e2e-cgroup"
	out := r.createSpec(id, withLimits(newSpec(busyboxRootfs(t), "sh", "-c", "echo ready; sleep 100")))
	r.must("start", id)
	r.waitOutput(out, "ready\n", runTimeout)
	sentry, gofer := r.statePids(id)
	cgroups := sandboxCgroups(t, sentry)
	if len(cgroups) == 0 {
		t.Errorf("the Sentry (pid %d) is in the test's own cgroups: the spec's limits are not applied", sentry)
	}
	slices.Sort(cgroups)
	g := sandboxCgroups(t, gofer)
	slices.Sort(g)
	if !slices.Equal(g, cgroups) {
		t.Errorf("the Gofer's cgroups %q differ from the Sentry's %q", g, cgroups)
	}
	limited := false
	for _, d := range cgroups {
		for _, f := range []string{"memory.limit_in_bytes", "memory.max"} {
			if data, err := os.ReadFile(filepath.Join(d, f)); err == nil {
				limited = true
				if got := strings.TrimSpace(string(data)); got != "1073741824" {
					t.Errorf("%s: %s, want 1073741824", filepath.Join(d, f), got)
				}
			}
		}
	}
	if !limited {
		t.Errorf("no memory limit file in the sandbox's cgroups %q", cgroups)
	}
	r.must("delete", "--force", id)
	checkCgroupsGone(t, cgroups)
	r.checkClean()
}
