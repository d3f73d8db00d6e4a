package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKilledCreate kills `runsc create` with SIGKILL at points of its work:
// after fixed delays (0 to 10 ms by 1 ms, then 20 to 200 ms), and at the
// moments that used to leak, seen as they happen: once its half-made state
// directory (`.new-ID-N`) appears in --root, once it has started the Gofer, and
// once it has started the Sentry too (before it records them). Whatever it got
// to, `runsc delete --force` then removes the container, or says it does not
// exist; and nothing is left: no state, no process, no cgroup.
func TestKilledCreate(t *testing.T) {
	rootfs := busyboxRootfs(t)
	type killPoint struct {
		name  string
		delay time.Duration
		// when, if set, is polled instead of sleeping for delay: create is
		// killed as soon as it holds.
		when func(r *ociRoot, create int) bool
	}
	var points []killPoint
	for ms := range 11 {
		points = append(points, killPoint{name: fmt.Sprintf("after %d ms", ms), delay: time.Duration(ms) * time.Millisecond})
	}
	for _, ms := range []int{20, 50, 100, 200} {
		points = append(points, killPoint{name: fmt.Sprintf("after %d ms", ms), delay: time.Duration(ms) * time.Millisecond})
	}
	// The moments are short: each is tried a few times.
	for i := range 3 {
		points = append(points,
			killPoint{name: fmt.Sprintf("state directory half-made %d", i), when: func(r *ociRoot, _ int) bool {
				entries, _ := os.ReadDir(r.root)
				for _, e := range entries {
					if strings.HasPrefix(e.Name(), ".new-") {
						return true
					}
				}
				return false
			}},
			killPoint{name: fmt.Sprintf("gofer started %d", i), when: func(_ *ociRoot, create int) bool {
				return len(childProcesses(create)) >= 1
			}},
			killPoint{name: fmt.Sprintf("sentry started %d", i), when: func(_ *ociRoot, create int) bool {
				return len(childProcesses(create)) >= 2
			}},
		)
	}
	for i, p := range points {
		t.Run(p.name, func(t *testing.T) {
			r := newOCIRoot(t)
			// Its own: a cgroup some earlier run left would be taken over,
			// unrecorded, and hide this one's.
			id := fmt.Sprintf("e2e-killed-create-%d-%d", os.Getpid(), i)
			bundle := writeBundle(t, newSpec(rootfs, "sleep", "100"), "")
			out, err := os.Create(filepath.Join(r.dir, "create.out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cmd := exec.Command(runscPath(), append(globalFlags(r.root), "create", "--bundle", bundle, id)...)
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() {
				cmd.Wait()
				close(exited)
			}()
			if p.when == nil {
				time.Sleep(p.delay)
			} else {
			poll:
				for !p.when(r, cmd.Process.Pid) {
					select {
					case <-exited:
						// Too late: create is done, which the test checks too.
						t.Logf("create finished before the moment came")
						break poll
					default:
					}
				}
			}
			cmd.Process.Kill()
			<-exited
			var left []string
			entries, _ := os.ReadDir(r.root)
			for _, e := range entries {
				left = append(left, e.Name())
			}
			res := r.runsc("delete", "--force", id)
			t.Logf("killed create left %q in --root; delete --force: status %d, stderr %q", left, res.status, res.stderr)
			if res.status != 0 {
				checkOneLineError(t, "delete", res, id, "does not exist")
			}
			r.checkGone(id)
			r.checkClean()
			// The sandbox's cgroup (the spec sets no cgroupsPath: visor/ID in
			// each hierarchy), which create makes before the processes.
			if left, _ := filepath.Glob("/sys/fs/cgroup/*/visor/" + id); len(left) != 0 {
				t.Errorf("the sandbox's cgroup is left: %q", left)
			}
		})
	}
}

// childProcesses returns the PIDs of the children of process pid, found by
// their parent (this kernel may lack /proc/PID/task/TID/children).
func childProcesses(pid int) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if child, err := strconv.Atoi(filepath.Base(d)); err == nil && ppid(child) == pid {
			pids = append(pids, child)
		}
	}
	return pids
}
