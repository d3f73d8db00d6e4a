package e2e

// The OCI lifecycle under faults, as a user and the host see it: containers made
// with `runsc create` and `runsc start`, watched with `runsc state`, removed with
// `runsc delete` (runc's command line; the contract is
// /work/shared/issue4/DESIGN.md). A Gofer or Sentry killed mid-run stops the
// container and delete still cleans up; 50 containers at once all run and clean
// up. "Nothing left" is checked on the host: no state directory under --root, no
// process whose command line names the test's --root.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ociRoot is a state root of a test's own, for containers run through runsc's
// OCI commands. Its Cleanup force-deletes whatever a failed test left and kills,
// by PID, any process still running with this root.
type ociRoot struct {
	t    *testing.T
	root string
	// dir holds the containers' stdout and stderr files.
	dir string
}

func newOCIRoot(t *testing.T) *ociRoot {
	t.Helper()
	dir := t.TempDir()
	r := &ociRoot{t: t, root: filepath.Join(dir, "state"), dir: dir}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(r.root)
		for _, e := range entries {
			r.runsc("delete", "--force", e.Name())
		}
		for _, pid := range r.processes() {
			unix.Kill(pid, unix.SIGKILL)
		}
	})
	return r
}

// runsc runs runsc with the root's global flags and args, stdin /dev/null and
// stdout and stderr in files (a Sentry that create leaves running inherits them;
// with pipes, waiting for create would wait for the container too).
func (r *ociRoot) runsc(args ...string) result {
	r.t.Helper()
	return r.runscOut(filepath.Join(r.dir, fmt.Sprintf("out-%d", time.Now().UnixNano())), args...)
}

// runscOut is runsc with stdout and stderr in out and out.err: a container's,
// for create.
func (r *ociRoot) runscOut(out string, args ...string) result {
	r.t.Helper()
	res, err := runscTo(r.root, out, args...)
	if err != nil {
		r.t.Fatal(err)
	}
	return res
}

// runscTo runs runsc with state root root and args, stdin /dev/null, stdout and
// stderr in the files out and out.err, and returns what it did. It can be
// called off the test's goroutine.
func runscTo(root, out string, args ...string) (result, error) {
	stdout, err := os.Create(out)
	if err != nil {
		return result{}, err
	}
	defer stdout.Close()
	stderr, err := os.Create(out + ".err")
	if err != nil {
		return result{}, err
	}
	defer stderr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, runscPath(), append(globalFlags(root), args...)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	var res result
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		res.status = ee.ExitCode()
	} else if err != nil {
		return res, fmt.Errorf("runsc %q: %w", args, err)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("runsc %q did not finish within %v", args, runTimeout)
	}
	res.stdout, res.stderr = readFile(out), readFile(out+".err")
	return res, nil
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// create runs `runsc create` of a container running args on rootfs and returns
// the file its stdout goes to. It fails the test unless create succeeds.
func (r *ociRoot) create(id, rootfs string, args ...string) string {
	r.t.Helper()
	return r.createSpec(id, newSpec(rootfs, args...))
}

// createSpec is create of the container spec describes.
func (r *ociRoot) createSpec(id string, spec *specs.Spec) string {
	r.t.Helper()
	bundle := writeBundle(r.t, spec, "")
	out := filepath.Join(r.dir, id+".out")
	if res := r.runscOut(out, "create", "--bundle", bundle, "--pid-file", filepath.Join(r.dir, id+".pid"), id); res.status != 0 {
		r.t.Fatalf("runsc create %s: status %d, stderr %q", id, res.status, res.stderr)
	}
	return out
}

// must runs runsc and fails the test unless it exits 0 with nothing on stderr.
func (r *ociRoot) must(args ...string) result {
	r.t.Helper()
	res := r.runsc(args...)
	if res.status != 0 || res.stderr != "" {
		r.t.Fatalf("runsc %q: status %d, stdout %q, stderr %q; want 0, no error", args, res.status, res.stdout, res.stderr)
	}
	return res
}

// state returns `runsc state ID`.
func (r *ociRoot) state(id string) specs.State {
	r.t.Helper()
	res := r.must("state", id)
	var st specs.State
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		r.t.Fatalf("runsc state %s: %v in %q", id, err, res.stdout)
	}
	if st.ID != id {
		r.t.Fatalf("runsc state %s: id %q", id, st.ID)
	}
	return st
}

// waitStatus waits until `runsc state ID` says status, for at most d.
func (r *ociRoot) waitStatus(id string, status specs.ContainerState, d time.Duration) {
	r.t.Helper()
	var st specs.State
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st = r.state(id); st.Status == status {
			return
		}
	}
	r.t.Fatalf("container %s is %q after %v, want %q", id, st.Status, d, status)
}

// waitOutput waits until the file out has want in it, for at most d.
func (r *ociRoot) waitOutput(out, want string, d time.Duration) {
	r.t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(readString(r.t, out), want) {
			return
		}
	}
	r.t.Fatalf("the container did not print %q within %v: stdout %q, stderr %q", want, d, readString(r.t, out), readString(r.t, out+".err"))
}

// statePids returns the Sentry's and the Gofer's host PIDs from the container's
// state.json (DESIGN.md: pid, goferPid).
func (r *ociRoot) statePids(id string) (sentry, gofer int) {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.root, id, "state.json"))
	if err != nil {
		r.t.Fatal(err)
	}
	var st struct {
		Pid      int `json:"pid"`
		GoferPid int `json:"goferPid"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		r.t.Fatalf("state.json: %v in %q", err, data)
	}
	if st.Pid <= 0 || st.GoferPid <= 0 {
		r.t.Fatalf("state.json of %s: pid %d, goferPid %d: want both", id, st.Pid, st.GoferPid)
	}
	return st.Pid, st.GoferPid
}

// processes returns the PIDs of the live processes that run with this root:
// runsc commands given --root ROOT, and the Sentries and Gofers they start, which
// get --root=ROOT.
func (r *ociRoot) processes() []int {
	var pids []int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		data, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		for i, a := range args {
			if a == "--root="+r.root || a == "-root="+r.root || (a == "--root" || a == "-root") && i+1 < len(args) && args[i+1] == r.root {
				var pid int
				fmt.Sscanf(filepath.Base(filepath.Dir(c)), "%d", &pid)
				if alive(pid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// checkClean checks that nothing of the root is left: no state directory, no
// process.
func (r *ociRoot) checkClean() {
	r.t.Helper()
	if entries, err := os.ReadDir(r.root); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.t.Error(err)
	} else if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		r.t.Errorf("left in --root %s: %q", r.root, names)
	}
	// Processes that just got SIGKILL take a moment to go.
	var left []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if left = r.processes(); len(left) == 0 {
			return
		}
	}
	for _, pid := range left {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		r.t.Errorf("process %d left running: %q", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
}

// checkGone checks that `runsc state ID` now says the container does not exist.
func (r *ociRoot) checkGone(id string) {
	r.t.Helper()
	res := r.runsc("state", id)
	if res.status == 0 || !strings.Contains(res.stderr, id) || !strings.Contains(res.stderr, "does not exist") || res.stdout != "" {
		r.t.Errorf("runsc state %s after delete: status %d, stdout %q, stderr %q; want an error saying it does not exist", id, res.status, res.stdout, res.stderr)
	}
}

// TestCreateStartDelete walks one container through its life: created, running,
// stopped once its process exits, then deleted without a trace. The fault tests
// below build on each step.
func TestCreateStartDelete(t *testing.T) {
	r := newOCIRoot(t)
	const id = "e2e-life"
	out := r.createSpec(id, withLimits(newSpec(busyboxRootfs(t), "sh", "-c", "echo started; sleep 0.3; echo done")))
	st := r.state(id)
	if st.Status != specs.StateCreated || st.Pid <= 0 {
		t.Fatalf("after create: %+v, want created with a pid", st)
	}
	cgroups := sandboxCgroups(t, st.Pid)
	t.Logf("the sandbox's cgroups: %q", cgroups)
	if got := readString(t, out); got != "" {
		t.Errorf("the container printed %q before start", got)
	}
	r.must("start", id)
	r.waitOutput(out, "done\n", runTimeout)
	r.waitStatus(id, specs.StateStopped, 10*time.Second)
	if got := readString(t, out); got != "started\ndone\n" {
		t.Errorf("container stdout %q, want \"started\\ndone\\n\"", got)
	}
	r.must("delete", id)
	r.checkGone(id)
	r.checkClean()
	checkCgroupsGone(t, cgroups)
}

// TestKilledSandboxProcess kills the Gofer or the Sentry of a running container
// with SIGKILL; see killSandboxProcess.
func TestKilledSandboxProcess(t *testing.T) {
	for _, victim := range []string{"gofer", "sentry"} {
		t.Run(victim, func(t *testing.T) { killSandboxProcess(t, victim) })
	}
}

// killSandboxProcess kills the Gofer or the Sentry (victim) of a running
// container with SIGKILL. The container must stop (its process gets errors or is
// killed): `runsc state` says "stopped" within seconds; then `runsc delete`
// removes it all: the state directory, the other sandbox process, any mount.
func killSandboxProcess(t *testing.T, victim string) {
	rootfs := debianRootfs(t)
	r := newOCIRoot(t)
	id := "e2e-kill-" + victim
	// The loop keeps going to the Gofer: a new process, an exec, a file read.
	out := r.createSpec(id, withLimits(newSpec(rootfs, "sh", "-c", `echo ready; while :; do cat /etc/hostname /usr/share/common-licenses/GPL-3 > /dev/null || echo read failed; sleep 0.1; done`)))
	r.must("start", id)
	r.waitOutput(out, "ready\n", runTimeout)
	sentry, gofer := r.statePids(id)
	cgroups := sandboxCgroups(t, sentry)
	t.Logf("the sandbox's cgroups: %q", cgroups)
	pid := map[string]int{"gofer": gofer, "sentry": sentry}[victim]
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatalf("kill %s %d: %v", victim, pid, err)
	}
	r.waitStatus(id, specs.StateStopped, 10*time.Second)
	t.Logf("container stdout %q, stderr %q", readString(t, out), readString(t, out+".err"))
	r.must("delete", id)
	for _, p := range []int{sentry, gofer} {
		if alive(p) {
			t.Errorf("pid %d (sentry %d, gofer %d) still alive after delete", p, sentry, gofer)
		}
	}
	r.checkGone(id)
	r.checkClean()
	checkNoMounts(t, rootfs)
	checkCgroupsGone(t, cgroups)
}

// checkNoMounts checks that the host's mount table (this test's namespace) has
// nothing mounted under dir.
func checkNoMounts(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			t.Errorf("mounted on the host under %s: %s", dir, line)
		}
	}
}

// TestParallelContainers creates and starts 50 containers at once, each printing
// its number; each must print it, stop, and be deleted, and then nothing of any is
// left.
func TestParallelContainers(t *testing.T) {
	const n = 50
	rootfs := busyboxRootfs(t)
	r := newOCIRoot(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- r.runOne(fmt.Sprintf("e2e-par-%d", i), rootfs, i)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Error(err)
		}
	}
	if failed != 0 {
		t.Errorf("%d of %d containers failed", failed, n)
	}
	r.checkClean()
}

// runOne is a container's life for TestParallelContainers, on a goroutine of its
// own: it reports errors rather than failing the test.
func (r *ociRoot) runOne(id, rootfs string, i int) error {
	spec := newSpec(rootfs, "sh", "-c", fmt.Sprintf("echo container %d; sleep 0.1", i))
	dir := filepath.Join(r.dir, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		return err
	}
	out := filepath.Join(dir, "out")
	// cmd runs runsc and returns its stdout; create's goes to out, the
	// container's stdout.
	cmd := func(args ...string) (string, error) {
		o := out
		if args[0] != "create" {
			o = filepath.Join(dir, fmt.Sprintf("%s-%d", args[0], time.Now().UnixNano()))
		}
		res, err := runscTo(r.root, o, args...)
		if err == nil && (res.status != 0 || res.stderr != "") {
			err = fmt.Errorf("runsc %q: status %d, stderr %q", args, res.status, res.stderr)
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		return res.stdout, nil
	}
	if _, err := cmd("create", "--bundle", dir, id); err != nil {
		return err
	}
	if _, err := cmd("start", id); err != nil {
		return err
	}
	var status string
	for deadline := time.Now().Add(2 * runTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		js, err := cmd("state", id)
		if err != nil {
			return err
		}
		var st specs.State
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			return fmt.Errorf("%s: runsc state: %v in %q", id, err, js)
		}
		if status = string(st.Status); st.Status == specs.StateStopped {
			break
		}
	}
	if status != string(specs.StateStopped) {
		return fmt.Errorf("%s: still %q after %v", id, status, 2*runTimeout)
	}
	if got, want := readFile(out)+readFile(out+".err"), fmt.Sprintf("container %d\n", i); got != want {
		return fmt.Errorf("%s: output %q, want %q", id, got, want)
	}
	if _, err := cmd("delete", id); err != nil {
		return fmt.Errorf("%w%s", err, describePids(err.Error()))
	}
	if _, err := os.Stat(filepath.Join(r.root, id)); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: state directory still there after delete (%v)", id, err)
	}
	return nil
}

func readFile(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// TestKilledRun kills `runsc run` with SIGKILL while its container runs: the
// sandbox dies with it; `runsc state` says "stopped" and `runsc delete` removes
// what run could not.
func TestKilledRun(t *testing.T) {
	r := newOCIRoot(t)
	const id = "e2e-killed-run"
	bundle := writeBundle(t, newSpec(busyboxRootfs(t), "sh", "-c", "echo ready; exec sleep 100"), "")
	out := filepath.Join(r.dir, "run.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(runscPath(), append(globalFlags(r.root), "run", "--bundle", bundle, id)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitOutput(out, "ready\n", runTimeout)
	sentry, gofer := r.statePids(id)
	cmd.Process.Kill()
	cmd.Wait()
	r.waitStatus(id, specs.StateStopped, 10*time.Second)
	r.must("delete", id)
	for _, p := range []int{sentry, gofer} {
		if alive(p) {
			t.Errorf("pid %d (sentry %d, gofer %d) still alive after delete", p, sentry, gofer)
		}
	}
	r.checkGone(id)
	r.checkClean()
}

// sandboxCgroups returns the host directories of the cgroups pid is in that this
// test is not in: the sandbox's own, which delete must remove.
func sandboxCgroups(t *testing.T, pid int) []string {
	t.Helper()
	mine := cgroupPaths(t, "self")
	theirs := cgroupPaths(t, fmt.Sprint(pid))
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for hier, path := range theirs {
		if mine[hier] == path {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			mountPoint, fsInfo, ok := strings.Cut(line, " - ")
			f, fs := strings.Fields(mountPoint), strings.Fields(fsInfo)
			if !ok || len(f) < 5 || len(fs) < 3 {
				continue
			}
			v2 := hier == "" && fs[0] == "cgroup2"
			v1 := hier != "" && fs[0] == "cgroup" && containsAll(strings.Split(fs[2], ","), strings.Split(hier, ","))
			if v1 || v2 {
				dirs = append(dirs, filepath.Join(f[4], path))
			}
		}
	}
	return dirs
}

// cgroupPaths returns a process's cgroup path by hierarchy (its controllers, ""
// for v2), from /proc/PID/cgroup.
func cgroupPaths(t *testing.T, pid string) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 {
			paths[f[1]] = f[2]
		}
	}
	return paths
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// checkCgroupsGone checks that none of dirs exists any more.
func checkCgroupsGone(t *testing.T, dirs []string) {
	t.Helper()
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the sandbox's cgroup %s is still there after delete (%v)", d, err)
		}
	}
}

// withLimits gives spec memory and pids limits, so that the sandbox gets a cgroup
// of its own, which delete must remove.
func withLimits(spec *specs.Spec) *specs.Spec {
	limit, pids := int64(1<<30), int64(1000)
	spec.Linux.Resources = &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit},
		Pids:   &specs.LinuxPids{Limit: pids},
	}
	return spec
}

// describePids describes the processes a runsc error names in "processes [PID
// ...]" (what delete says of a cgroup it could not empty): each one's command,
// state and parent, as /proc has them now.
func describePids(msg string) string {
	_, list, ok := strings.Cut(msg, "processes [")
	if !ok {
		return ""
	}
	list, _, _ = strings.Cut(list, "]")
	var b strings.Builder
	for _, f := range strings.Fields(list) {
		stat, err := os.ReadFile("/proc/" + f + "/stat")
		if err != nil {
			fmt.Fprintf(&b, "\n\tpid %s: gone", f)
			continue
		}
		s := string(stat)
		comm := s[strings.IndexByte(s, '(')+1 : strings.LastIndexByte(s, ')')]
		rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
		fmt.Fprintf(&b, "\n\tpid %s: %s, state %s, ppid %s, %q", f, comm, rest[0], rest[1], strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return b.String()
}
