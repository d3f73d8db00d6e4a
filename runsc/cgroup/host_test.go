package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary a helper process: with threads locked to OS threads,
// it prints "ready" and sleeps.
const helperEnv = "VISOR_CGROUP_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "threads" {
		for range 4 {
			go func() {
				runtime.LockOSThread()
				for {
					time.Sleep(time.Hour)
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)
		fmt.Println("ready")
		select {}
	}
	os.Exit(m.Run())
}

// hostHierarchy returns the host's hierarchy, skipping the test where no cgroup
// can be made (no cgroupfs, not root, read-only).
func hostHierarchy(t *testing.T) *hierarchy {
	t.Helper()
	h, err := detect()
	if err != nil {
		t.Skipf("no cgroup hierarchy on this host: %v", err)
	}
	var points []string
	if h.version == 2 {
		points = []string{h.unified.point}
	} else {
		for _, m := range h.v1 {
			points = append(points, m.point)
		}
	}
	for _, p := range points {
		probe := filepath.Join(p, fmt.Sprintf("visor-probe-%d", os.Getpid()))
		err := os.Mkdir(probe, 0o755)
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) {
			t.Skipf("cgroups are not writable here: %v", err)
		}
		if err != nil {
			t.Fatalf("probing %s: %v", p, err)
		}
		if err := unix.Rmdir(probe); err != nil {
			t.Fatalf("removing probe: %v", err)
		}
	}
	return h
}

// testID is a container id no other test run uses.
func testID(t *testing.T) string {
	return fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
}

// firstCPU is a CPU this process may run on, for a cpuset the host accepts.
func firstCPU(t *testing.T) int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			return i
		}
	}
	t.Fatal("no CPU in the affinity mask")
	return 0
}

// start runs cmd and arranges for it to be killed and reaped at the end of the test.
func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
}

// cgroupsOf returns /proc/<pid>/task/<tid>/cgroup's paths by controller (v1) or
// "" (v2), for the hierarchies Visor uses.
func cgroupsOf(t *testing.T, h *hierarchy, pid, tid int) map[string]string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/cgroup", pid, tid))
	if err != nil {
		t.Fatal(err)
	}
	r := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if h.version == 2 && parts[0] == "0" {
			r[""] = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if _, ok := h.v1[c]; ok && h.version == 1 {
				r[c] = parts[2]
			}
		}
	}
	return r
}

func fileSize(t *testing.T, name string) int64 {
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// frozenState reads what the kernel says of the freezer: "FROZEN"/"THAWED"/"FREEZING"
// on v1, "frozen 1"/"frozen 0" on v2.
func frozenState(t *testing.T, c *Cgroup) string {
	if c.st.Version == 2 {
		v, err := keyedValue(filepath.Join(c.st.Dir, "cgroup.events"), "frozen")
		if err != nil {
			t.Fatal(err)
		}
		return "frozen " + v
	}
	v, err := readString(filepath.Join(c.st.Controllers["freezer"], "freezer.state"))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHostLifecycle(t *testing.T) {
	h := hostHierarchy(t)
	id := testID(t)
	cpu := strconv.Itoa(firstCPU(t))
	spec := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: cpu, Mems: "0"},
		Pids:   pids(64),
	}}}
	c, err := New(spec, id)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Destroy() })
	if c.Path() != "/visor/"+id || c.Version() != h.version {
		t.Errorf("Path, Version = %q, %d", c.Path(), c.Version())
	}
	t.Logf("cgroup v%d, state %+v", c.Version(), c.State())

	// The limits are in the kernel's files.
	want := map[string]string{}
	if h.version == 1 {
		want = map[string]string{
			"memory/memory.limit_in_bytes": "67108864", "memory/memory.soft_limit_in_bytes": "33554432",
			"cpu/cpu.shares": "512", "cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000",
			"cpuset/cpuset.cpus": cpu, "cpuset/cpuset.mems": "0", "pids/pids.max": "64",
		}
		if _, err := os.Stat(filepath.Join(c.st.Controllers["memory"], "memory.memsw.limit_in_bytes")); err == nil {
			want["memory/memory.memsw.limit_in_bytes"] = "100663296"
		}
	} else {
		want = map[string]string{
			"/memory.max": "67108864", "/memory.low": "33554432", "/cpu.weight": "20",
			"/cpu.max": "50000 100000", "/cpuset.cpus": cpu, "/cpuset.mems": "0", "/pids.max": "64",
		}
		if _, err := os.Stat(filepath.Join(c.st.Dir, "memory.swap.max")); err == nil {
			want["/memory.swap.max"] = "33554432"
		}
	}
	for k, v := range want {
		ctrl, file, _ := strings.Cut(k, "/")
		dir := c.st.Dir
		if h.version == 1 {
			dir = c.st.Controllers[ctrl]
		}
		if got, err := readString(filepath.Join(dir, file)); err != nil || got != v {
			t.Errorf("%s = %q, %v; want %q", filepath.Join(dir, file), got, err, v)
		}
	}

	// A multi-threaded process moves with all its threads.
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"=threads")
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start(t, helper)
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := c.Install(helper.Process.Pid); err != nil {
		t.Fatalf("Install: %v", err)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", helper.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) < 5 {
		t.Errorf("helper has %d threads; the test wants several", len(tasks))
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		for ctrl, p := range cgroupsOf(t, h, helper.Process.Pid, tid) {
			if p != c.Path() {
				t.Errorf("thread %d is in %s cgroup %q; want %q", tid, ctrl, p, c.Path())
			}
		}
	}

	// A shell installed first; the sleeps it starts afterwards are born inside.
	dir := t.TempDir()
	ticks := filepath.Join(dir, "ticks")
	if err := os.WriteFile(ticks, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("/bin/sh", "-c", `while :; do echo x >> "$1"; sleep 0.02; done`, "sh", ticks)
	start(t, sh)
	if err := c.Install(sh.Process.Pid); err != nil {
		t.Fatalf("Install: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs, err := c.Procs()
		if err != nil {
			t.Fatal(err)
		}
		// helper, sh and a sleep sh started after Install.
		if len(procs) >= 3 && slices.Contains(procs, sh.Process.Pid) && slices.Contains(procs, helper.Process.Pid) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Procs = %v; want the helper %d, the shell %d and its children", procs, helper.Process.Pid, sh.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Frozen, the shell writes nothing; thawed, it goes on.
	if err := c.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if got := frozenState(t, c); got != "FROZEN" && got != "frozen 1" {
		t.Errorf("after Freeze the kernel says %q", got)
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", sh.Process.Pid)); err == nil {
		for _, l := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(l, "State:") {
				t.Logf("frozen shell: %s", l)
			}
		}
	}
	before := fileSize(t, ticks)
	time.Sleep(300 * time.Millisecond)
	if after := fileSize(t, ticks); after != before {
		t.Errorf("the frozen shell wrote: %d bytes then %d", before, after)
	}
	if err := c.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if got := frozenState(t, c); got != "THAWED" && got != "frozen 0" {
		t.Errorf("after Thaw the kernel says %q", got)
	}
	for deadline := time.Now().Add(5 * time.Second); fileSize(t, ticks) == before; {
		if time.Now().After(deadline) {
			t.Fatal("the thawed shell does not run")
		}
		time.Sleep(10 * time.Millisecond)
	}

	stats, err := c.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	t.Logf("stats: %+v", stats)
	if stats.MemoryUsage == 0 || stats.MemoryLimit != 64<<20 || stats.CPUTime <= 0 || stats.Pids < 3 || stats.PidsLimit != 64 {
		t.Errorf("Stats = %+v; want memory used, a 64 MiB limit, CPU time, at least 3 tasks, a limit of 64", stats)
	}

	// Another process finds it again from its state.
	loaded, err := Load(c.State())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	destroyWait := emptyTimeout
	emptyTimeout = 300 * time.Millisecond
	err = loaded.Destroy()
	emptyTimeout = destroyWait
	if err == nil || !strings.Contains(err.Error(), "still in it") {
		t.Errorf("Destroy with processes inside = %v; want an error", err)
	}
	for _, d := range loaded.dirs() {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("Destroy with processes inside removed %s: %v", d, err)
		}
	}

	for _, cmd := range []*exec.Cmd{helper, sh} {
		cmd.Process.Kill()
		cmd.Wait()
	}
	if err := loaded.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, d := range loaded.State().Created {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) && !hasSubdir(d) {
			t.Errorf("%s still there after Destroy (%v)", d, err)
		}
	}
	for _, d := range loaded.dirs() {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after Destroy (%v)", d, err)
		}
	}
}

func TestHostPaths(t *testing.T) {
	h := hostHierarchy(t)
	id := testID(t)
	for _, tc := range []struct {
		name, cgroupsPath string
		// want is the cgroup's directory below a mount point, given our own cgroup.
		want func(own string) string
	}{
		{"default", "", func(string) string { return "visor/" + id }},
		{"absolute", "/visortest/" + id, func(string) string { return "visortest/" + id }},
		{"relative", "visortest-" + id, func(own string) string { return filepath.Join(own, "visortest-"+id) }},
		{"systemd", "visortest.slice:visor:" + id, func(string) string { return "visortest.slice/visor-" + id + ".scope" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(&specs.Spec{Linux: &specs.Linux{CgroupsPath: tc.cgroupsPath}}, id)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { c.Destroy() })
			mounts := map[string]mount{"": h.unified}
			if h.version == 1 {
				mounts = h.v1
			}
			var dirs []string
			for ctrl, m := range mounts {
				want := filepath.Join(m.point, tc.want(strings.TrimPrefix(h.own[ctrl], m.root)))
				dir := c.st.Dir
				if h.version == 1 {
					dir = c.st.Controllers[ctrl]
				}
				if dir != want {
					t.Errorf("%s directory %q; want %q", ctrl, dir, want)
				}
				if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
					t.Errorf("%s directory %q: %v", ctrl, dir, err)
				}
				dirs = append(dirs, dir)
			}
			if err := c.Destroy(); err != nil {
				t.Fatalf("Destroy: %v", err)
			}
			for _, d := range append(dirs, c.State().Created...) {
				if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) && !hasSubdir(d) {
					t.Errorf("%s still there after Destroy (%v)", d, err)
				}
			}
		})
	}
}

func TestHostBadValues(t *testing.T) {
	h := hostHierarchy(t)
	for _, tc := range []struct {
		name string
		res  *specs.LinuxResources
		err  string
	}{
		// Refused before anything is made.
		{"negative pids", &specs.LinuxResources{Pids: pids(-4)}, "config.json " + fieldPidsLimit},
		// Refused by the kernel (no such CPU): the cgroup made so far is removed.
		{"missing CPU", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "4095"}}, "config.json " + fieldCPUCpus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := testID(t)
			c, err := New(&specs.Spec{Linux: &specs.Linux{CgroupsPath: "/visortest-bad/" + id, Resources: tc.res}}, id)
			if err == nil {
				c.Destroy()
				t.Fatalf("New succeeded; want an error containing %q", tc.err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("New: %v; want an error containing %q", err, tc.err)
			}
			var points []string
			if h.version == 2 {
				points = []string{h.unified.point}
			}
			for _, m := range h.v1 {
				points = append(points, m.point)
			}
			for _, p := range points {
				if _, err := os.Stat(filepath.Join(p, "visortest-bad", id)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("failed New left %s behind (%v)", filepath.Join(p, "visortest-bad", id), err)
				}
			}
		})
	}
}

func TestHostParallel(t *testing.T) {
	hostHierarchy(t)
	// Sandboxes come and go in parallel under one parent that each may make and
	// remove: none may fail for it.
	const n, rounds = 16, 5
	base := testID(t)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			for r := range rounds {
				id := fmt.Sprintf("%s-%d-%d", base, i, r)
				c, err := New(&specs.Spec{Linux: &specs.Linux{CgroupsPath: "/visortest-par-" + base + "/" + id, Resources: &specs.LinuxResources{Pids: pids(10)}}}, id)
				if err != nil {
					errs <- fmt.Errorf("New %s: %w", id, err)
					return
				}
				// Joining needs a filled cpuset even when another sandbox made the parent.
				sleep := exec.Command("sleep", "10")
				if err := sleep.Start(); err != nil {
					errs <- err
					return
				}
				err = c.Install(sleep.Process.Pid)
				sleep.Process.Kill()
				sleep.Wait()
				if err != nil {
					errs <- fmt.Errorf("Install into %s: %w", id, err)
					return
				}
				if err := c.Destroy(); err != nil {
					errs <- fmt.Errorf("Destroy %s: %w", id, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	// The parent stays when the sandbox that made it went first; it must be empty.
	h, _ := detect()
	points := []string{h.unified.point}
	if h.version == 1 {
		points = nil
		for _, m := range h.v1 {
			points = append(points, m.point)
		}
	}
	for _, p := range points {
		parent := filepath.Join(p, "visortest-par-"+base)
		if hasSubdir(parent) {
			t.Errorf("%s has cgroups left in it", parent)
		}
		if err := unix.Rmdir(parent); err != nil && !errors.Is(err, unix.ENOENT) {
			t.Errorf("removing %s: %v", parent, err)
		}
	}
}

func TestHostDestroyFrozen(t *testing.T) {
	hostHierarchy(t)
	id := testID(t)
	c, err := New(&specs.Spec{}, id)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Destroy() })
	sleep := exec.Command("sleep", "1000")
	start(t, sleep)
	if err := c.Install(sleep.Process.Pid); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if err := c.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	// Runs before start's cleanup: reaping a killed task of a frozen v1 cgroup would
	// hang if Destroy failed to thaw it.
	t.Cleanup(func() { c.Thaw() })
	// As delete --force of a paused sandbox does: kill, then destroy. On v1 the kill
	// stays pending until the cgroup thaws, which Destroy does.
	if err := sleep.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatalf("Destroy of a frozen cgroup whose process was killed: %v", err)
	}
	for _, d := range c.dirs() {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after Destroy (%v)", d, err)
		}
	}
	if err := sleep.Wait(); err == nil {
		t.Error("sleep exited 0; want killed")
	}
}

// TestHostUnifiedOnHybrid runs the v2 code on the real kernel where the host is v1
// with a cgroup2 mount beside it: that mount has no controllers Visor uses, but the
// core of v2 (cgroup.procs, cgroup.freeze, cgroup.events, cpu.stat) is all there.
func TestHostUnifiedOnHybrid(t *testing.T) {
	h := hostHierarchy(t)
	if h.version == 2 {
		t.Skip("the host is cgroup v2: TestHostLifecycle runs the v2 code on it")
	}
	if h.unified.point == "" {
		t.Skip("no cgroup2 mount beside the v1 hierarchies")
	}
	probe := filepath.Join(h.unified.point, fmt.Sprintf("visor-probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil {
		t.Skipf("the cgroup2 mount is not writable: %v", err)
	}
	unix.Rmdir(probe)
	uh := &hierarchy{version: 2, unified: h.unified, own: map[string]string{"": h.own[""]}}

	id := testID(t)
	_, err := newCgroup(&specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Pids: pids(10)}}}, id, uh, hostOps)
	if want := "config.json " + fieldPidsLimit + ": the pids controller is not enabled in"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("New with a pids limit and no pids controller = %v; want an error containing %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(h.unified.point, "visor", id)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed New left its cgroup (%v)", err)
	}

	c, err := newCgroup(&specs.Spec{}, id, uh, hostOps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Destroy() })
	ticks := filepath.Join(t.TempDir(), "ticks")
	if err := os.WriteFile(ticks, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("/bin/sh", "-c", `while :; do echo x >> "$1"; sleep 0.02; done`, "sh", ticks)
	start(t, sh)
	t.Cleanup(func() { c.Thaw() })
	if err := c.Install(sh.Process.Pid); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if got := cgroupsOf(t, uh, sh.Process.Pid, sh.Process.Pid)[""]; got != c.Path() {
		t.Errorf("shell in cgroup %q; want %q", got, c.Path())
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if got := frozenState(t, c); got != "frozen 1" {
		t.Errorf("after Freeze cgroup.events says %q", got)
	}
	before := fileSize(t, ticks)
	time.Sleep(300 * time.Millisecond)
	if after := fileSize(t, ticks); after != before {
		t.Errorf("the frozen shell wrote: %d bytes then %d", before, after)
	}
	if err := c.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); fileSize(t, ticks) == before; {
		if time.Now().After(deadline) {
			t.Fatal("the thawed shell does not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stats, err := c.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if stats.CPUTime <= 0 {
		t.Errorf("Stats = %+v; want CPU time", stats)
	}
	sh.Process.Kill()
	sh.Wait()
	if err := c.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, d := range append(c.State().Created, c.State().Dir) {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) && !hasSubdir(d) {
			t.Errorf("%s still there after Destroy (%v)", d, err)
		}
	}
}

func TestHostJoin(t *testing.T) {
	h := hostHierarchy(t)
	c, err := New(&specs.Spec{}, testID(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Destroy() })
	before, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	restore, err := c.Join()
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	for ctrl, p := range cgroupsOf(t, h, os.Getpid(), os.Getpid()) {
		if p != c.Path() {
			t.Errorf("joined, this process is in %s cgroup %q; want %q", ctrl, p, c.Path())
		}
	}
	sleep := exec.Command("sleep", "1000")
	startErr := sleep.Start()
	if err := restore(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	t.Cleanup(func() {
		sleep.Process.Kill()
		sleep.Wait()
	})
	if after, err := os.ReadFile("/proc/self/cgroup"); err != nil || string(after) != string(before) {
		t.Errorf("after restore this process is in\n%s\nwant\n%s", after, before)
	}
	if procs, err := c.Procs(); err != nil || !slices.Equal(procs, []int{sleep.Process.Pid}) {
		t.Errorf("Procs = %v, %v; want only the child started while joined (%d)", procs, err, sleep.Process.Pid)
	}
	for ctrl, p := range cgroupsOf(t, h, sleep.Process.Pid, sleep.Process.Pid) {
		if p != c.Path() {
			t.Errorf("child in %s cgroup %q; want %q", ctrl, p, c.Path())
		}
	}
}
