// Package cgroup owns a sandbox's cgroup on the host: the one cgroup the Sentry and
// the Gofer (and every thread and child of theirs) live in, so that config.json's
// linux.resources (memory, CPU, cpuset, pids) bound the whole sandbox, and so that
// runsc can freeze it, read its usage, and remove it once the sandbox is gone.
//
// Both host layouts are handled, chosen from /proc/self/mountinfo and
// /proc/self/cgroup: cgroup v2 (one unified hierarchy; the controllers are enabled in
// each parent's cgroup.subtree_control) and cgroup v1, where each controller has its
// own hierarchy and the sandbox gets one directory in each (cpuset, cpu, cpuacct,
// memory, pids, freezer). v2 is preferred when its mount offers the controllers; on a
// hybrid host, where the v1 controllers sit beside a cgroup2 mount without them, v1 is
// used: the controllers are where the limits work.
//
// The cgroup outlives the runsc command that made it: create makes it, delete (another
// process) removes it. State is the JSON form that passes between the two; Load turns
// it back into a Cgroup after checking it names only cgroup directories.
//
// Nothing here kills a process: Destroy waits a little for the cgroup to empty and
// fails if it does not. Ending the sandbox's processes is the caller's job.
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// How long Freeze and Thaw wait for the freezer to settle, and Destroy for the
// cgroup to empty. Variables, not constants, so tests can shorten them.
var (
	freezeTimeout = 5 * time.Second
	// emptyTimeout is long enough for a killed sandbox's stubs to go on a
	// loaded host (2 s was not, with 50 sandboxes deleted at once).
	emptyTimeout = 10 * time.Second
	pollInterval = 5 * time.Millisecond
)

// State is the serialisable form of a Cgroup, for the container's state file.
type State struct {
	// Version is the cgroup version: 1 or 2.
	Version int `json:"version"`
	// Path is the cgroup's path in the hierarchy, e.g. "/visor/ID"; relative when
	// linux.cgroupsPath was (below runsc's own cgroup).
	Path string `json:"path"`
	// Dir is the cgroup's directory (version 2).
	Dir string `json:"dir,omitempty"`
	// Controllers maps each v1 controller to the cgroup's directory in its
	// hierarchy (version 1). Controllers mounted together share a directory.
	Controllers map[string]string `json:"controllers,omitempty"`
	// Created lists the directories New made, parents before children: Destroy
	// removes these and only these.
	Created []string `json:"created,omitempty"`
}

// Stats are a cgroup's current usage.
type Stats struct {
	// MemoryUsage is the memory charged to the cgroup, in bytes (page cache included).
	MemoryUsage uint64 `json:"memoryUsage"`
	// MemoryLimit is the memory limit in bytes; 0 means none.
	MemoryLimit uint64 `json:"memoryLimit,omitempty"`
	// CPUTime is the CPU time (user and system) of all its tasks, living and dead.
	CPUTime time.Duration `json:"cpuTime"`
	// Pids is the number of tasks (threads) in it.
	Pids uint64 `json:"pids"`
	// PidsLimit is the task limit; 0 means none.
	PidsLimit uint64 `json:"pidsLimit,omitempty"`
}

// Cgroup is a sandbox's cgroup on the host.
type Cgroup struct {
	st  State
	ops ops
	// record, if set (NewRecorded), is called with the state before each
	// directory is made.
	record func(State) error
}

// ops are the two operations that differ between cgroupfs and a fake tree in a
// temporary directory: on cgroupfs, mkdir populates the interface files and rmdir
// removes a cgroup whose directory is never empty.
type ops struct {
	mkdir func(dir string) error
	rmdir func(dir string) error
}

var hostOps = ops{
	mkdir: func(dir string) error { return os.Mkdir(dir, 0o755) },
	rmdir: func(dir string) error { return unix.Rmdir(dir) },
}

// New creates the sandbox's cgroup, from spec.Linux.CgroupsPath (empty: "/visor/<id>")
// on whichever hierarchy the host has, and applies spec.Linux.Resources to it. An
// invalid resource value is an error naming its config.json field, and nothing is
// left behind. On a host where cgroups cannot be written (rootless, read-only
// cgroupfs) the error wraps fs.ErrPermission or unix.EROFS.
func New(spec *specs.Spec, id string) (*Cgroup, error) {
	h, err := detect()
	if err != nil {
		return nil, err
	}
	return newCgroup(spec, id, h, hostOps)
}

// NewRecorded is New, calling record with the cgroup's State before it makes
// each directory, listed as made: a caller killed half-way has recorded all it
// made, for Load and Destroy to remove. (A directory that turns out to exist
// already is dropped from the list, and record called again.)
func NewRecorded(spec *specs.Spec, id string, record func(State) error) (*Cgroup, error) {
	h, err := detect()
	if err != nil {
		return nil, err
	}
	return newCgroupRecorded(spec, id, h, hostOps, record)
}

func newCgroup(spec *specs.Spec, id string, h *hierarchy, o ops) (*Cgroup, error) {
	return newCgroupRecorded(spec, id, h, o, nil)
}

func newCgroupRecorded(spec *specs.Spec, id string, h *hierarchy, o ops, record func(State) error) (*Cgroup, error) {
	var cgPath string
	var res *specs.LinuxResources
	if spec != nil && spec.Linux != nil {
		cgPath, res = spec.Linux.CgroupsPath, spec.Linux.Resources
	}
	p, err := resolvePath(cgPath, id)
	if err != nil {
		return nil, err
	}
	c := &Cgroup{st: State{Version: h.version, Path: p.name}, ops: o, record: record}
	if h.version == 2 {
		err = c.create2(p, res, h)
	} else {
		err = c.create1(p, res, h)
	}
	if err != nil {
		// Only what this call made; a concurrent user of a parent keeps it.
		c.removeCreated(time.Now())
		return nil, err
	}
	return c, nil
}

// create1 makes the cgroup in each v1 hierarchy and applies res.
func (c *Cgroup) create1(p cgroupPath, res *specs.LinuxResources, h *hierarchy) error {
	settings, err := v1Settings(res)
	if err != nil {
		return err
	}
	for _, s := range settings {
		if _, ok := h.v1[s.ctrl]; !ok {
			return fmt.Errorf("config.json %s: the host has no %s cgroup controller mounted", s.field, s.ctrl)
		}
	}
	c.st.Controllers = map[string]string{}
	for _, ctrl := range v1Controllers {
		m, ok := h.v1[ctrl]
		if !ok {
			continue
		}
		dir, err := m.dir(p, h.own[ctrl])
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", ctrl, err)
		}
		c.st.Controllers[ctrl] = dir
		if err := c.mkdirs(m.point, dir, nil); err != nil {
			return err
		}
		if ctrl == "cpuset" {
			if err := inheritCpuset(dir); err != nil {
				return fmt.Errorf("setting up cgroup %s: %w", dir, err)
			}
		}
	}
	// memsw may never be below the memory limit, so when raising the limit above the
	// current memsw (a cgroup that existed before), memsw has to go first.
	if i := slices.IndexFunc(settings, func(s setting) bool { return s.file == "memory.limit_in_bytes" }); i >= 0 && i+1 < len(settings) && settings[i+1].file == "memory.memsw.limit_in_bytes" {
		cur, err := readUint(filepath.Join(c.st.Controllers["memory"], "memory.memsw.limit_in_bytes"))
		newLimit, _ := strconv.ParseInt(settings[i].value, 10, 64)
		if err == nil && (newLimit == -1 || uint64(newLimit) > cur) {
			settings[i], settings[i+1] = settings[i+1], settings[i]
		}
	}
	for _, s := range settings {
		if err := apply(c.st.Controllers[s.ctrl], s); err != nil {
			return err
		}
	}
	return nil
}

// inheritCpuset gives a v1 cpuset cgroup with empty cpuset.cpus or cpuset.mems its
// parent's (filling the parent's first the same way): a new cpuset cgroup starts
// empty, and no task can join a cpuset without CPUs. A parent another sandbox made a
// moment ago may not be filled yet, hence the walk up.
func inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readString(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		parent := filepath.Dir(dir)
		v, err := readString(filepath.Join(parent, f))
		if err != nil {
			return err
		}
		if v == "" && parent != dir {
			if err := inheritCpuset(parent); err != nil {
				return err
			}
			if v, err = readString(filepath.Join(parent, f)); err != nil {
				return err
			}
		}
		if err := writeFile(dir, f, v); err != nil {
			return err
		}
	}
	return nil
}

// create2 makes the cgroup in the unified hierarchy, enabling the controllers on
// the way down, and applies res.
func (c *Cgroup) create2(p cgroupPath, res *specs.LinuxResources, h *hierarchy) error {
	settings, err := v2Settings(res)
	if err != nil {
		return err
	}
	dir, err := h.unified.dir(p, h.own[""])
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	c.st.Dir = dir
	// The kernel only lets a controller into a cgroup whose parent enabled it in
	// cgroup.subtree_control. That fails in a parent with processes of its own (the
	// "no internal processes" rule); the error is kept for the setting that needs it.
	var enableErr error
	enable := func(parent string) {
		if err := enableControllers(parent); err != nil && enableErr == nil {
			enableErr = err
		}
	}
	if err := c.mkdirs(h.unified.point, dir, enable); err != nil {
		return err
	}
	for _, s := range settings {
		err := writeFile(dir, s.file, s.value)
		switch {
		case err == nil, s.optional && errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, fs.ErrNotExist):
			if enableErr != nil {
				err = fmt.Errorf("%w (enabling controllers: %w)", err, enableErr)
			}
			return fmt.Errorf("config.json %s: the %s controller is not enabled in %s: %w", s.field, s.ctrl, dir, err)
		default:
			return fmt.Errorf("config.json %s: %w", s.field, err)
		}
	}
	return nil
}

// enableControllers enables in dir's cgroup.subtree_control those of v2Controllers
// that dir has and has not enabled yet.
func enableControllers(dir string) error {
	avail, err := readString(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return err
	}
	enabled, err := readString(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	var add []string
	for _, ctrl := range v2Controllers {
		if slices.Contains(strings.Fields(avail), ctrl) && !slices.Contains(strings.Fields(enabled), ctrl) {
			add = append(add, "+"+ctrl)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeFile(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

// mkdirs makes dir and the missing directories between the mount point and it,
// recording each one it made. If not nil, enter is called on each parent before its
// child is made.
func (c *Cgroup) mkdirs(point, dir string, enter func(parent string)) error {
	rel, err := filepath.Rel(point, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup directory %s is not below its mount point %s", dir, point)
	}
	// A parent that exists when we look can be gone when we make its child: the
	// sandbox that made it was destroyed meanwhile (containers come and go in
	// parallel under one parent). Then the walk starts again and makes it anew.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		err := c.mkdirsOnce(point, rel, enter)
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == attempts {
			return err
		}
	}
}

func (c *Cgroup) mkdirsOnce(point, rel string, enter func(parent string)) error {
	cur := point
	for _, comp := range strings.Split(rel, "/") {
		if enter != nil {
			enter(cur)
		}
		cur = filepath.Join(cur, comp)
		recorded := c.record != nil && !slices.Contains(c.st.Created, cur)
		if recorded {
			c.st.Created = append(c.st.Created, cur)
			if err := c.record(c.State()); err != nil {
				c.st.Created = slices.DeleteFunc(c.st.Created, func(d string) bool { return d == cur })
				return fmt.Errorf("recording cgroup: %w", err)
			}
		}
		if err := c.ops.mkdir(cur); err != nil {
			if recorded {
				c.st.Created = slices.DeleteFunc(c.st.Created, func(d string) bool { return d == cur })
				if rerr := c.record(c.State()); rerr != nil {
					return fmt.Errorf("recording cgroup: %w", rerr)
				}
			}
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return fmt.Errorf("creating cgroup: %w", err)
		}
		if !slices.Contains(c.st.Created, cur) {
			c.st.Created = append(c.st.Created, cur)
		}
	}
	return nil
}

// apply writes one setting to the cgroup in dir.
func apply(dir string, s setting) error {
	err := writeFile(dir, s.file, s.value)
	switch {
	case err == nil:
		return nil
	case s.optional && errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("config.json %s: %w", s.field, err)
	}
}

// Load returns the cgroup st describes, as State returned it in another process. It
// refuses a state naming anything but cgroup directories of this host.
func Load(st State) (*Cgroup, error) {
	h, err := detect()
	if err != nil {
		return nil, err
	}
	return load(st, h, hostOps)
}

func load(st State, h *hierarchy, o ops) (*Cgroup, error) {
	if st.Version != h.version {
		return nil, fmt.Errorf("cgroup state is for cgroup v%d, the host uses v%d", st.Version, h.version)
	}
	// The mount points the directories must be strictly below.
	var points []string
	if h.version == 2 {
		if st.Dir == "" || len(st.Controllers) != 0 {
			return nil, fmt.Errorf("cgroup v2 state needs a directory and no v1 controllers")
		}
		if !below(h.unified.point, st.Dir) {
			return nil, fmt.Errorf("cgroup state: directory %q is not below %s", st.Dir, h.unified.point)
		}
		points = []string{h.unified.point}
	} else {
		if st.Dir != "" || len(st.Controllers) == 0 {
			return nil, fmt.Errorf("cgroup v1 state needs controller directories and no v2 directory")
		}
		for ctrl, d := range st.Controllers {
			m, ok := h.v1[ctrl]
			if !ok {
				return nil, fmt.Errorf("cgroup state names controller %q, which is not mounted", ctrl)
			}
			if !below(m.point, d) {
				return nil, fmt.Errorf("cgroup state: %s directory %q is not below %s", ctrl, d, m.point)
			}
			points = append(points, m.point)
		}
	}
	c := &Cgroup{st: st, ops: o}
	// Created directories must be the cgroup or its parents, never something else.
	for _, d := range st.Created {
		ok := false
		for _, leaf := range c.dirs() {
			if (d == leaf || below(d, leaf)) && slices.ContainsFunc(points, func(p string) bool { return below(p, d) }) {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("cgroup state: created directory %q is not the cgroup or one of its parents", d)
		}
	}
	return c, nil
}

// below reports whether d is a clean absolute path strictly below dir.
func below(dir, d string) bool {
	if !filepath.IsAbs(d) || filepath.Clean(d) != d {
		return false
	}
	rel, err := filepath.Rel(dir, d)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}

// State returns the serialisable form of c, for Load.
func (c *Cgroup) State() State {
	st := c.st
	st.Controllers = maps.Clone(c.st.Controllers)
	st.Created = slices.Clone(c.st.Created)
	return st
}

// Version is the cgroup version, 1 or 2.
func (c *Cgroup) Version() int { return c.st.Version }

// Path is the cgroup's path in its hierarchy (see State.Path).
func (c *Cgroup) Path() string { return c.st.Path }

// dirs returns the cgroup's distinct directories: one on v2, one per v1 hierarchy,
// cpuset first (a task must be in a cpuset with CPUs before anything else).
func (c *Cgroup) dirs() []string {
	if c.st.Version == 2 {
		return []string{c.st.Dir}
	}
	// Load accepts only controllers of v1Controllers, so this is all of them.
	var ds []string
	for _, ctrl := range v1Controllers {
		if d, ok := c.st.Controllers[ctrl]; ok && !slices.Contains(ds, d) {
			ds = append(ds, d)
		}
	}
	return ds
}

// Install moves process pid, with all its threads, into the cgroup. Its future
// children are born there.
func (c *Cgroup) Install(pid int) error {
	if pid <= 0 {
		return fmt.Errorf("cgroup install: bad pid %d", pid)
	}
	for _, d := range c.dirs() {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("moving pid %d into cgroup: %w", pid, err)
		}
	}
	return nil
}

// Join moves the calling process, with all its threads, into the cgroup, so that the
// processes it starts until restore are born inside it: unlike Install after the
// start, this leaves no moment in which a child could fork outside the cgroup.
// restore moves the calling process back to the cgroups it was in. While joined, the
// caller counts against the cgroup's limits.
func (c *Cgroup) Join() (restore func() error, err error) {
	h, err := detect()
	if err != nil {
		return nil, err
	}
	// Where each of our directories' hierarchies has us now.
	var back []string
	add := func(m mount, own string) error {
		d, err := m.dir(cgroupPath{name: ".", relative: true}, own)
		if err != nil {
			return err
		}
		if !slices.Contains(back, d) {
			back = append(back, d)
		}
		return nil
	}
	if c.st.Version == 2 {
		if h.unified.point == "" {
			return nil, fmt.Errorf("joining cgroup: this process is in no cgroup2 hierarchy")
		}
		err = add(h.unified, h.own[""])
	} else {
		for _, ctrl := range v1Controllers {
			if _, ok := c.st.Controllers[ctrl]; !ok {
				continue
			}
			m, ok := h.v1[ctrl]
			if !ok {
				return nil, fmt.Errorf("joining cgroup: controller %s is not mounted", ctrl)
			}
			if err = add(m, h.own[ctrl]); err != nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("joining cgroup: %w", err)
	}
	restore = func() error {
		pid := strconv.Itoa(os.Getpid())
		var errs []error
		for _, d := range back {
			if err := writeFile(d, "cgroup.procs", pid); err != nil {
				errs = append(errs, fmt.Errorf("leaving cgroup: %w", err))
			}
		}
		return errors.Join(errs...)
	}
	if err := c.Install(os.Getpid()); err != nil {
		return nil, errors.Join(err, restore())
	}
	return restore, nil
}

// Procs returns the processes (thread group IDs) in the cgroup, sorted.
func (c *Cgroup) Procs() ([]int, error) {
	return c.procs(false)
}

// procs lists the processes in the cgroup; with skipMissing, in the directories that
// still exist.
func (c *Cgroup) procs(skipMissing bool) ([]int, error) {
	var pids []int
	for _, d := range c.dirs() {
		s, err := readString(filepath.Join(d, "cgroup.procs"))
		if skipMissing && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(s) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("%s: bad pid %q", filepath.Join(d, "cgroup.procs"), f)
			}
			if !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// Freeze freezes every task in the cgroup and returns once all are frozen. If they
// do not freeze in time, it thaws them again and fails.
func (c *Cgroup) Freeze() error {
	if err := c.freeze(true); err != nil {
		return errors.Join(err, c.freeze(false))
	}
	return nil
}

// Thaw lets the tasks of a frozen cgroup run again and returns once they can.
func (c *Cgroup) Thaw() error {
	return c.freeze(false)
}

func (c *Cgroup) freeze(frozen bool) error {
	var dir, file, want string
	var done func() (bool, error)
	if c.st.Version == 2 {
		dir, file, want = c.st.Dir, "cgroup.freeze", "0"
		if frozen {
			want = "1"
		}
		done = func() (bool, error) {
			v, err := keyedValue(filepath.Join(dir, "cgroup.events"), "frozen")
			return v == want, err
		}
	} else {
		var ok bool
		if dir, ok = c.st.Controllers["freezer"]; !ok {
			return fmt.Errorf("cgroup: the host has no freezer controller mounted")
		}
		file, want = "freezer.state", "THAWED"
		if frozen {
			want = "FROZEN"
		}
		done = func() (bool, error) {
			v, err := readString(filepath.Join(dir, file))
			return v == want, err
		}
	}
	if err := writeFile(dir, file, want); err != nil {
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	for i := 1; ; i++ {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			state := "thawed"
			if frozen {
				state = "frozen"
			}
			return fmt.Errorf("cgroup %s: not %s after %v", dir, state, freezeTimeout)
		}
		// A v1 freezer can stay FREEZING when a task was busy when it was asked;
		// asking again retries the tasks that did not stop (as runc does).
		if c.st.Version == 1 && i%20 == 0 {
			if err := writeFile(dir, file, want); err != nil {
				return err
			}
		}
		time.Sleep(pollInterval)
	}
}

// Stats reads the cgroup's usage. A controller the host lacks leaves its fields 0.
func (c *Cgroup) Stats() (Stats, error) {
	var s Stats
	var err error
	if c.st.Version == 2 {
		err = c.stats2(&s)
	} else {
		err = c.stats1(&s)
	}
	return s, err
}

func (c *Cgroup) stats1(s *Stats) error {
	var err error
	if d, ok := c.st.Controllers["memory"]; ok {
		if s.MemoryUsage, err = readUint(filepath.Join(d, "memory.usage_in_bytes")); err != nil {
			return err
		}
		if s.MemoryLimit, err = readUint(filepath.Join(d, "memory.limit_in_bytes")); err != nil {
			return err
		}
		// "No limit" reads back as the largest page-aligned value below 2^63.
		if s.MemoryLimit >= 1<<62 {
			s.MemoryLimit = 0
		}
	}
	if d, ok := c.st.Controllers["cpuacct"]; ok {
		ns, err := readUint(filepath.Join(d, "cpuacct.usage"))
		if err != nil {
			return err
		}
		s.CPUTime = time.Duration(ns)
	}
	if d, ok := c.st.Controllers["pids"]; ok {
		if err := readPids(d, s); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cgroup) stats2(s *Stats) error {
	d := c.st.Dir
	var err error
	if s.MemoryUsage, err = readUint(filepath.Join(d, "memory.current")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if s.MemoryLimit, err = readUint(filepath.Join(d, "memory.max")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// cpu.stat is always there (the cpu controller adds lines, not the file).
	usec, err := keyedValue(filepath.Join(d, "cpu.stat"), "usage_usec")
	if err != nil {
		return err
	}
	n, err := strconv.ParseUint(usec, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: usage_usec %q: %w", filepath.Join(d, "cpu.stat"), usec, err)
	}
	s.CPUTime = time.Duration(n) * time.Microsecond
	if err := readPids(d, s); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func readPids(d string, s *Stats) error {
	var err error
	if s.Pids, err = readUint(filepath.Join(d, "pids.current")); err != nil {
		return err
	}
	s.PidsLimit, err = readUint(filepath.Join(d, "pids.max"))
	return err
}

// Destroy removes the cgroup: it thaws it if frozen (a killed task of a frozen v1
// cgroup cannot die), waits briefly for it to have no process left, then removes
// the directories New created, children before parents. A parent that another
// cgroup still uses stays. It kills nothing: a cgroup that does not empty is an
// error and is left in place. Destroying a removed cgroup is no error.
func (c *Cgroup) Destroy() error {
	thawErr := c.thawIfFrozen()
	deadline := time.Now().Add(emptyTimeout)
	for {
		// Directories already gone (a Destroy that failed half way) have no processes.
		pids, err := c.procs(true)
		if err != nil {
			return fmt.Errorf("destroying cgroup: %w", err)
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("destroying cgroup %s: processes %v still in it after %v", c.st.Path, pids, emptyTimeout)
			return errors.Join(err, thawErr)
		}
		time.Sleep(pollInterval)
	}
	if err := c.removeCreated(time.Now().Add(emptyTimeout)); err != nil {
		return fmt.Errorf("destroying cgroup %s: %w", c.st.Path, err)
	}
	return nil
}

// thawIfFrozen thaws the cgroup if it is frozen or freezing; a cgroup without a
// freezer, or already removed, is not.
func (c *Cgroup) thawIfFrozen() error {
	var name, thawed string
	if c.st.Version == 2 {
		name, thawed = filepath.Join(c.st.Dir, "cgroup.freeze"), "0"
	} else if d, ok := c.st.Controllers["freezer"]; ok {
		name, thawed = filepath.Join(d, "freezer.state"), "THAWED"
	} else {
		return nil
	}
	v, err := readString(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && v == thawed) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.Thaw()
}

// removeCreated removes the created directories, leaf to root. A cgroup with no
// process can still be busy for a moment (v1 memory cgroups release charges from
// exited tasks asynchronously), so EBUSY is retried until deadline, unless the
// directory has a child cgroup: then it is a parent someone else now uses.
func (c *Cgroup) removeCreated(deadline time.Time) error {
	var errs []error
	for i := len(c.st.Created) - 1; i >= 0; i-- {
		d := c.st.Created[i]
		for {
			err := c.ops.rmdir(d)
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENOTEMPTY) {
				if hasSubdir(d) {
					break
				}
				if time.Now().Before(deadline) {
					time.Sleep(pollInterval)
					continue
				}
			}
			errs = append(errs, fmt.Errorf("removing %s: %w", d, err))
			break
		}
	}
	return errors.Join(errs...)
}

// hasSubdir reports whether cgroup directory d has a child cgroup.
func hasSubdir(d string) bool {
	ents, err := os.ReadDir(d)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(ents, fs.DirEntry.IsDir)
}

// writeFile writes an interface file of the cgroup in dir. It never creates the
// file: on cgroupfs a missing file means a missing controller.
func writeFile(dir, file, value string) error {
	name := filepath.Join(dir, file)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, name, err)
	}
	return nil
}

func readString(name string) (string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint reads a file holding one number, or "max" (read as 0: no limit).
func readUint(name string) (uint64, error) {
	s, err := readString(name)
	if err != nil {
		return 0, err
	}
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// keyedValue returns the value of key in a "key value" per line file (cgroup.events,
// cpu.stat).
func keyedValue(name, key string) (string, error) {
	s, err := readString(name)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s: no %q", name, key)
}
