package cgroup

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// fakeV2 is a cgroup v2 file system in a temporary directory: a cgroup directory
// gets the interface files of the controllers its parent enabled in
// cgroup.subtree_control, and is removed only when it has no process or child.
type fakeV2 struct {
	t    *testing.T
	root string
}

// newFakeV2 makes a root cgroup offering the controllers avail.
func newFakeV2(t *testing.T, avail string) *fakeV2 {
	f := &fakeV2{t: t, root: t.TempDir()}
	f.files(f.root, map[string]string{
		"cgroup.controllers":     avail,
		"cgroup.subtree_control": "",
		"cgroup.procs":           "",
		"cpu.stat":               "usage_usec 0\n",
	})
	return f
}

func (f *fakeV2) files(dir string, m map[string]string) {
	for name, v := range m {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fakeV2) hierarchy(own string) *hierarchy {
	return &hierarchy{version: 2, unified: mount{point: f.root, root: "/"}, own: map[string]string{"": own}}
}

func (f *fakeV2) ops() ops {
	return ops{mkdir: f.mkdir, rmdir: f.rmdir}
}

func (f *fakeV2) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	sub, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	var enabled []string
	for _, c := range strings.Fields(string(sub)) {
		enabled = append(enabled, strings.TrimPrefix(c, "+"))
	}
	m := map[string]string{
		"cgroup.controllers":     strings.Join(enabled, " "),
		"cgroup.subtree_control": "",
		"cgroup.procs":           "",
		"cgroup.freeze":          "0",
		"cgroup.events":          "populated 0\nfrozen 0\n",
		"cpu.stat":               "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
	}
	for _, c := range enabled {
		switch c {
		case "cpu":
			m["cpu.weight"], m["cpu.max"] = "100", "max 100000"
		case "cpuset":
			m["cpuset.cpus"], m["cpuset.mems"] = "", ""
		case "memory":
			m["memory.max"], m["memory.low"], m["memory.swap.max"], m["memory.current"] = "max", "0", "max", "0"
		case "pids":
			m["pids.max"], m["pids.current"] = "max", "0"
		}
	}
	f.files(dir, m)
	return nil
}

func (f *fakeV2) rmdir(dir string) error {
	procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return &fs.PathError{Op: "rmdir", Path: dir, Err: unix.ENOENT}
	}
	if len(strings.TrimSpace(string(procs))) > 0 || hasSubdir(dir) {
		return &fs.PathError{Op: "rmdir", Path: dir, Err: unix.EBUSY}
	}
	return os.RemoveAll(dir)
}

func (f *fakeV2) read(rel string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, rel))
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// shortTimeouts makes the waits of Freeze and Destroy short for a test.
func shortTimeouts(t *testing.T) {
	ft, et := freezeTimeout, emptyTimeout
	freezeTimeout, emptyTimeout = 200*time.Millisecond, 200*time.Millisecond
	t.Cleanup(func() { freezeTimeout, emptyTimeout = ft, et })
}

func fullSpec(path string) *specs.Spec {
	return &specs.Spec{Linux: &specs.Linux{
		CgroupsPath: path,
		Resources: &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20)},
			CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"},
			Pids:   pids(64),
		},
	}}
}

func TestV2Lifecycle(t *testing.T) {
	shortTimeouts(t)
	f := newFakeV2(t, "cpuset cpu io memory hugetlb pids")
	// A parent that exists already, as /system.slice would, with the controllers
	// Visor needs already enabled in the root.
	f.files(f.root, map[string]string{"cgroup.subtree_control": "cpu cpuset memory pids"})
	if err := f.mkdir(filepath.Join(f.root, "existing")); err != nil {
		t.Fatal(err)
	}
	c, err := newCgroup(fullSpec("/existing/visor/box"), "box", f.hierarchy("/"), f.ops())
	if err != nil {
		t.Fatalf("newCgroup: %v", err)
	}
	st := c.State()
	leaf := filepath.Join(f.root, "existing/visor/box")
	if st.Version != 2 || st.Dir != leaf || st.Path != "/existing/visor/box" || len(st.Controllers) != 0 {
		t.Errorf("State = %+v", st)
	}
	if want := []string{filepath.Join(f.root, "existing/visor"), leaf}; !slices.Equal(st.Created, want) {
		t.Errorf("Created = %q; want %q", st.Created, want)
	}
	// The controllers were enabled all the way down, and only the ones Visor uses.
	if got := f.read("cgroup.subtree_control"); got != "cpu cpuset memory pids" {
		t.Errorf("root cgroup.subtree_control = %q; want it untouched, all was enabled", got)
	}
	for _, d := range []string{"existing", "existing/visor"} {
		if got := f.read(d + "/cgroup.subtree_control"); got != "+cpu +cpuset +memory +pids" {
			t.Errorf("%s/cgroup.subtree_control = %q", d, got)
		}
	}
	for file, want := range map[string]string{
		"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "33554432",
		"cpu.weight": "20", "cpu.max": "50000 100000", "cpuset.cpus": "0", "cpuset.mems": "0", "pids.max": "64",
	} {
		if got := f.read("existing/visor/box/" + file); got != want {
			t.Errorf("%s = %q; want %q", file, got, want)
		}
	}

	// The state survives JSON, as it does in state.json between create and delete.
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var st2 State
	if err := json.Unmarshal(b, &st2); err != nil {
		t.Fatal(err)
	}
	c, err = load(st2, f.hierarchy("/"), f.ops())
	if err != nil {
		t.Fatalf("load(%s): %v", b, err)
	}

	if err := c.Install(4242); err != nil {
		t.Fatalf("Install: %v", err)
	}
	if got := f.read("existing/visor/box/cgroup.procs"); got != "4242" {
		t.Errorf("cgroup.procs = %q after Install", got)
	}
	if procs, err := c.Procs(); err != nil || !slices.Equal(procs, []int{4242}) {
		t.Errorf("Procs = %v, %v", procs, err)
	}

	f.files(leaf, map[string]string{
		"memory.current": "1048576", "pids.current": "3",
		"cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
	})
	stats, err := c.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if want := (Stats{MemoryUsage: 1 << 20, MemoryLimit: 64 << 20, CPUTime: 1500 * time.Microsecond, Pids: 3, PidsLimit: 64}); stats != want {
		t.Errorf("Stats = %+v; want %+v", stats, want)
	}

	// The kernel reports the freezer's progress in cgroup.events; play the kernel.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			// Through a rename: a read of cgroupfs never sees a half-written file.
			// An empty read is our own write, half done.
			if v, err := os.ReadFile(filepath.Join(leaf, "cgroup.freeze")); err == nil && len(v) > 0 {
				tmp := filepath.Join(leaf, "events.tmp")
				if os.WriteFile(tmp, []byte("populated 1\nfrozen "+strings.TrimSpace(string(v))+"\n"), 0o644) == nil {
					os.Rename(tmp, filepath.Join(leaf, "cgroup.events"))
				}
			}
		}
	}()
	if err := c.Freeze(); err != nil {
		t.Errorf("Freeze: %v", err)
	}
	if got := f.read("existing/visor/box/cgroup.freeze"); got != "1" {
		t.Errorf("cgroup.freeze = %q after Freeze", got)
	}
	if err := c.Thaw(); err != nil {
		t.Errorf("Thaw: %v", err)
	}
	if got := f.read("existing/visor/box/cgroup.freeze"); got != "0" {
		t.Errorf("cgroup.freeze = %q after Thaw", got)
	}
	close(stop)
	<-done

	// With a process still inside, Destroy waits, fails and removes nothing.
	if err := c.Destroy(); err == nil || !strings.Contains(err.Error(), "[4242] still in it") {
		t.Errorf("Destroy with a process inside = %v", err)
	}
	if _, err := os.Stat(leaf); err != nil {
		t.Errorf("cgroup gone after a failed Destroy: %v", err)
	}
	f.files(leaf, map[string]string{"cgroup.procs": ""})
	if err := c.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	for _, d := range st.Created {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after Destroy (%v)", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.root, "existing")); err != nil {
		t.Errorf("Destroy removed a parent it did not create: %v", err)
	}
	if err := c.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

func TestV2FreezeTimeout(t *testing.T) {
	shortTimeouts(t)
	f := newFakeV2(t, "memory pids")
	c, err := newCgroup(&specs.Spec{}, "box", f.hierarchy("/"), f.ops())
	if err != nil {
		t.Fatal(err)
	}
	// Nothing plays the kernel: cgroup.events never says frozen.
	err = c.Freeze()
	if err == nil || !strings.Contains(err.Error(), "not frozen after") {
		t.Errorf("Freeze = %v; want a timeout", err)
	}
	if got := f.read("visor/box/cgroup.freeze"); got != "0" {
		t.Errorf("cgroup.freeze = %q after a failed Freeze; want it thawed again", got)
	}
}

func TestV2SharedParent(t *testing.T) {
	shortTimeouts(t)
	f := newFakeV2(t, "cpu memory pids")
	h := f.hierarchy("/")
	a, err := newCgroup(&specs.Spec{}, "a", h, f.ops())
	if err != nil {
		t.Fatal(err)
	}
	b, err := newCgroup(&specs.Spec{}, "b", h, f.ops())
	if err != nil {
		t.Fatal(err)
	}
	if got := b.State().Created; len(got) != 1 {
		t.Errorf("second cgroup created %q; want only its own leaf", got)
	}
	// a made /visor, but b still uses it: it stays, without an error.
	if err := a.Destroy(); err != nil {
		t.Fatalf("Destroy a: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "visor/b")); err != nil {
		t.Fatalf("b gone: %v", err)
	}
	if err := b.Destroy(); err != nil {
		t.Fatalf("Destroy b: %v", err)
	}
}

func TestV2RelativeUnderOwnCgroup(t *testing.T) {
	f := newFakeV2(t, "cpu memory pids")
	if err := f.mkdir(filepath.Join(f.root, "user.slice")); err != nil {
		t.Fatal(err)
	}
	c, err := newCgroup(&specs.Spec{Linux: &specs.Linux{CgroupsPath: "sub/box"}}, "x", f.hierarchy("/user.slice"), f.ops())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.State().Dir, filepath.Join(f.root, "user.slice/sub/box"); got != want {
		t.Errorf("Dir = %q; want %q", got, want)
	}
}

func TestV2Failures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		avail string
		spec  *specs.Spec
		err   string
	}{
		{
			name:  "controller missing on the host",
			avail: "cpu pids",
			spec:  &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20)}}}},
			err:   "config.json " + fieldMemLimit + ": the memory controller is not enabled in",
		},
		{
			name:  "invalid value",
			avail: "cpu memory pids",
			spec:  &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Pids: pids(-3)}}},
			err:   "config.json " + fieldPidsLimit,
		},
		{
			name:  "swap without swap accounting is skipped",
			avail: "memory",
			spec:  &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(2 << 20)}}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeV2(t, tc.avail)
			o := f.ops()
			if tc.name == "swap without swap accounting is skipped" {
				o.mkdir = func(dir string) error {
					if err := f.mkdir(dir); err != nil {
						return err
					}
					return os.Remove(filepath.Join(dir, "memory.swap.max"))
				}
			}
			c, err := newCgroup(tc.spec, "box", f.hierarchy("/"), o)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("newCgroup: %v", err)
				}
				if got := f.read("visor/box/memory.max"); got != "1048576" {
					t.Errorf("memory.max = %q", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("newCgroup = %v, %v; want error containing %q", c, err, tc.err)
			}
			// Nothing is left behind.
			if _, err := os.Stat(filepath.Join(f.root, "visor")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("visor left behind after a failed New (%v)", err)
			}
		})
	}
}

func TestEnableControllers(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"cgroup.controllers": "cpu io memory pids", "cgroup.subtree_control": "memory"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := enableControllers(dir); err != nil {
		t.Fatal(err)
	}
	// On cgroupfs a write adds to what is enabled; the write is what matters.
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if got := string(b); got != "+cpu +pids" {
		t.Errorf("wrote %q; want the available, not yet enabled controllers \"+cpu +pids\"", got)
	}
}

func TestLoadRefuses(t *testing.T) {
	f := newFakeV2(t, "memory")
	h := f.hierarchy("/")
	leaf := filepath.Join(f.root, "visor/box")
	for _, tc := range []struct {
		name string
		st   State
		err  string
	}{
		{"wrong version", State{Version: 1, Controllers: map[string]string{"memory": leaf}}, "host uses v2"},
		{"no directory", State{Version: 2}, "needs a directory"},
		{"v1 fields on v2", State{Version: 2, Dir: leaf, Controllers: map[string]string{"memory": leaf}}, "no v1 controllers"},
		{"directory outside the mount", State{Version: 2, Dir: "/etc"}, "not below"},
		{"the mount point itself", State{Version: 2, Dir: f.root}, "not below"},
		{"unclean directory", State{Version: 2, Dir: f.root + "/visor/../../etc"}, "not below"},
		{"created directory that is not a parent", State{Version: 2, Dir: leaf, Created: []string{filepath.Join(f.root, "other")}}, "not the cgroup or one of its parents"},
		{"created mount point", State{Version: 2, Dir: leaf, Created: []string{f.root, leaf}}, "not the cgroup or one of its parents"},
	} {
		if _, err := load(tc.st, h, f.ops()); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: load = %v; want error containing %q", tc.name, err, tc.err)
		}
	}
	good := State{Version: 2, Path: "/visor/box", Dir: leaf, Created: []string{filepath.Join(f.root, "visor"), leaf}}
	if _, err := load(good, h, f.ops()); err != nil {
		t.Errorf("load(%+v): %v", good, err)
	}
	v1h := &hierarchy{version: 1, v1: map[string]mount{"memory": {point: "/sys/fs/cgroup/memory", root: "/"}}}
	for _, tc := range []struct {
		name string
		st   State
		err  string
	}{
		{"unknown controller", State{Version: 1, Controllers: map[string]string{"devices": "/sys/fs/cgroup/devices/x"}}, "not mounted"},
		{"directory in another hierarchy", State{Version: 1, Controllers: map[string]string{"memory": "/sys/fs/cgroup/pids/x"}}, "not below"},
		{"v2 dir on v1", State{Version: 1, Dir: "/sys/fs/cgroup/memory/x", Controllers: map[string]string{"memory": "/sys/fs/cgroup/memory/x"}}, "no v2 directory"},
	} {
		if _, err := load(tc.st, v1h, hostOps); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: load = %v; want error containing %q", tc.name, err, tc.err)
		}
	}
}

func TestParentRemovedMeanwhile(t *testing.T) {
	f := newFakeV2(t, "memory pids")
	parent := filepath.Join(f.root, "visor")
	if err := f.mkdir(parent); err != nil {
		t.Fatal(err)
	}
	leaf := filepath.Join(parent, "box")
	o := f.ops()
	raced := false
	o.mkdir = func(dir string) error {
		// Another sandbox's Destroy removes the parent between our look and our mkdir.
		if dir == leaf && !raced {
			raced = true
			if err := f.rmdir(parent); err != nil {
				t.Fatal(err)
			}
		}
		return f.mkdir(dir)
	}
	c, err := newCgroup(&specs.Spec{}, "box", f.hierarchy("/"), o)
	if err != nil {
		t.Fatalf("newCgroup: %v", err)
	}
	if !raced {
		t.Fatal("the race was not staged")
	}
	if got, want := c.State().Created, []string{parent, leaf}; !slices.Equal(got, want) {
		t.Errorf("Created = %q; want %q (the parent made anew is ours)", got, want)
	}
	if _, err := os.Stat(filepath.Join(leaf, "pids.max")); err != nil {
		t.Errorf("leaf not set up: %v", err)
	}
}

// TestNewRecorded checks that each directory is recorded before it is made
// (a caller killed at any point has recorded all that exists of its cgroup),
// that one found existing leaves the record, and that a failed record stops
// the making.
func TestNewRecorded(t *testing.T) {
	shortTimeouts(t)
	f := newFakeV2(t, "cpu memory pids")
	if err := f.mkdir(filepath.Join(f.root, "existing")); err != nil {
		t.Fatal(err)
	}
	var last State
	record := func(st State) error {
		last = st
		return nil
	}
	o := f.ops()
	mkdir := o.mkdir
	o.mkdir = func(dir string) error {
		err := mkdir(dir)
		if err == nil && !slices.Contains(last.Created, dir) {
			t.Errorf("%s made before it was recorded", dir)
		}
		return err
	}
	c, err := newCgroupRecorded(&specs.Spec{Linux: &specs.Linux{CgroupsPath: "/existing/visor/box"}}, "box", f.hierarchy("/"), o, record)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(f.root, "existing/visor"), filepath.Join(f.root, "existing/visor/box")}
	if got := c.State().Created; !slices.Equal(got, want) {
		t.Errorf("Created = %q; want %q", got, want)
	}
	if !slices.Equal(last.Created, want) || last.Dir != c.State().Dir {
		t.Errorf("last recorded %+v; want %+v", last, c.State())
	}
	// A record that fails: nothing is made.
	_, err = newCgroupRecorded(&specs.Spec{}, "other", f.hierarchy("/"), f.ops(), func(State) error { return errors.New("disk full") })
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("a failed record: %v, want its error", err)
	}
	if _, err := os.Stat(filepath.Join(f.root, "visor")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("made a directory it could not record: %v", err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
}
