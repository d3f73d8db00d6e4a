package proc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/mm"
	"visor.dev/visor/pkg/sentry/vfs"
)

// clockTicks is USER_HZ, the unit of /proc's times.
const clockTicks = 100

// toTicks converts d to clock ticks.
func toTicks(d time.Duration) uint64 { return uint64(d / (time.Second / clockTicks)) }

// pageSize is the unit of statm and of stat's rss.
const pageSize = 4096

// mayAccess reports whether the task an operation runs for may see t's private
// state (environ, auxv, its open files, cwd): Linux's ptrace_may_access with
// PTRACE_MODE_READ_FSCREDS, without ptrace itself. It may if it is in t's process,
// if its filesystem IDs match all of t's user and group IDs, or if it has
// CAP_SYS_PTRACE.
func mayAccess(ctx vfs.Context, t *kernel.Task) bool {
	if caller := callingTask(ctx); caller != nil && caller.ThreadGroup() == t.ThreadGroup() {
		return true
	}
	c, tc := ctx.Credentials(), t.Credentials()
	if c.HasCapability(linux.CAP_SYS_PTRACE) {
		return true
	}
	return c.FSKUID == tc.RealKUID && c.FSKUID == tc.EffectiveKUID && c.FSKUID == tc.SavedKUID &&
		c.FSKGID == tc.RealKGID && c.FSKGID == tc.EffectiveKGID && c.FSKGID == tc.SavedKGID
}

// readRange returns the bytes of t's memory in ar, as much of it as can be read.
func readRange(m *mm.MemoryManager, ar mm.AddrRange) []byte {
	buf := make([]byte, ar.Length())
	n, _ := m.CopyIn(ar.Start, buf)
	return buf[:n]
}

// cmdline is /proc/[pid]/cmdline: the argument strings, read from the process's
// memory, where it may have changed them. A process without an address space (a
// zombie) has an empty one.
func (fs *filesystem) cmdline(_ vfs.Context, t *kernel.Task) ([]byte, error) {
	m := t.GetMemoryManager()
	if m == nil {
		return nil, nil
	}
	defer m.DecUsers()
	buf := readRange(m, m.Argv())
	// A process that overwrote its argv's final NUL has its arguments go on into
	// the environment, as setproctitle does; Linux then shows the first string
	// from there on.
	if len(buf) > 0 && buf[len(buf)-1] != 0 {
		env := readRange(m, m.Envv())
		if i := bytes.IndexByte(env, 0); i >= 0 {
			env = env[:i]
		}
		buf = append(buf, env...)
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			buf = buf[:i]
		}
	}
	return buf, nil
}

// environ is /proc/[pid]/environ.
func (fs *filesystem) environ(ctx vfs.Context, t *kernel.Task) ([]byte, error) {
	if !mayAccess(ctx, t) {
		return nil, linux.EACCES
	}
	m := t.GetMemoryManager()
	if m == nil {
		return nil, nil
	}
	defer m.DecUsers()
	return readRange(m, m.Envv()), nil
}

// auxv is /proc/[pid]/auxv: the auxiliary vector's pairs of native words, ending
// with AT_NULL.
func (fs *filesystem) auxv(ctx vfs.Context, t *kernel.Task) ([]byte, error) {
	if !mayAccess(ctx, t) {
		return nil, linux.EACCES
	}
	m := t.GetMemoryManager()
	if m == nil {
		return nil, nil
	}
	defer m.DecUsers()
	var buf []byte
	for _, e := range m.Auxv() {
		buf = binary.LittleEndian.AppendUint64(buf, e.Key)
		buf = binary.LittleEndian.AppendUint64(buf, e.Value)
	}
	buf = binary.LittleEndian.AppendUint64(buf, linux.AT_NULL)
	return binary.LittleEndian.AppendUint64(buf, 0), nil
}

// maps is /proc/[pid]/maps.
func maps(t *kernel.Task) []byte {
	m := t.GetMemoryManager()
	if m == nil {
		return nil
	}
	defer m.DecUsers()
	return []byte(m.MapsString())
}

// memorySizes returns t's virtual and resident memory in bytes.
func memorySizes(t *kernel.Task) (vsize, rss uint64, ok bool) {
	m := t.GetMemoryManager()
	if m == nil {
		return 0, 0, false
	}
	defer m.DecUsers()
	return m.VirtualMemorySize(), m.ResidentSetSize(), true
}

// statm is /proc/[pid]/statm: size resident shared text lib data dt, in pages.
// Visor does not tell shared, text and data pages apart; they are 0.
func statm(t *kernel.Task) []byte {
	vsize, rss, _ := memorySizes(t)
	return fmt.Appendf(nil, "%d %d 0 0 0 0 0\n", vsize/pageSize, rss/pageSize)
}

// taskState returns t's state letter and its name, as stat and status show them.
// Visor does not record whether a live task is blocked, so the calling task is
// running and every other live one sleeping, which is what they almost always are
// when someone looks.
func taskState(ctx vfs.Context, t *kernel.Task) (byte, string) {
	switch t.ExitState() {
	case kernel.TaskExitZombie:
		return 'Z', "zombie"
	case kernel.TaskExitDead:
		return 'X', "dead"
	case kernel.TaskExitInitiated:
		// Exiting tasks are still running until their leader is a zombie.
		return 'R', "running"
	}
	if t.Stopped() {
		return 'T', "stopped"
	}
	if callingTask(ctx) == t {
		return 'R', "running"
	}
	return 'S', "sleeping"
}

// stat is /proc/[pid]/stat, in do_task_stat's layout: 52 fields, times in clock
// ticks, the process's CPU time summed over its threads unless it is a thread's
// own file. Fields Visor does not track (page faults, children's times, code and
// data bounds) are 0.
func (fs *filesystem) stat(ctx vfs.Context, t *kernel.Task, thread bool) ([]byte, error) {
	ns := fs.k.RootPIDNamespace()
	tg := t.ThreadGroup()
	state, _ := taskState(ctx, t)
	var utime, stime time.Duration
	if thread {
		utime, stime = t.CPUTime()
	} else {
		utime, stime = tg.CPUTime()
	}
	id := ns.IDOfTask(t)
	if !thread {
		id = ns.IDOfThreadGroup(tg)
	}
	vsize, rss, _ := memorySizes(t)
	start := t.StartTime().Sub(fs.k.BootTime())
	if t.StartTime().IsZero() || start < 0 {
		start = 0
	}
	exitSignal := -1
	if tg.Leader() == t {
		exitSignal = tg.TerminationSignal()
	}
	ignored, caught := tg.SignalDispositions()
	thr, shared := t.PendingSignalSets()
	const obsoleteMask = 0x7fffffff // stat's signal fields are 31 bits wide
	var argStart, argEnd, envStart, envEnd uintptr
	permitted := mayAccess(ctx, t)
	if m := t.GetMemoryManager(); m != nil {
		if permitted {
			argv, envv := m.Argv(), m.Envv()
			argStart, argEnd, envStart, envEnd = argv.Start, argv.End, envv.Start, envv.End
		}
		m.DecUsers()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d (%s) %c %d %d %d", id, t.Name(), state, t.ParentThreadGroupID(), tg.ProcessGroupID(), tg.SessionID())
	// tty_nr tpgid flags minflt cminflt majflt cmajflt
	b.WriteString(" 0 -1 0 0 0 0 0")
	fmt.Fprintf(&b, " %d %d 0 0", toTicks(utime), toTicks(stime))
	// priority nice num_threads itrealvalue
	fmt.Fprintf(&b, " 20 0 %d 0", len(tg.Tasks()))
	fmt.Fprintf(&b, " %d %d %d %d", toTicks(start), vsize, rss/pageSize, tg.Limit(linux.RLIMIT_RSS).Cur)
	// startcode endcode startstack kstkesp kstkeip
	b.WriteString(" 0 0 0 0 0")
	fmt.Fprintf(&b, " %d %d %d %d", uint64(thr|shared)&obsoleteMask, uint64(t.SignalMask())&obsoleteMask,
		uint64(ignored)&obsoleteMask, uint64(caught)&obsoleteMask)
	// wchan nswap cnswap
	b.WriteString(" 0 0 0")
	// exit_signal processor rt_priority policy delayacct_blkio_ticks guest_time cguest_time
	fmt.Fprintf(&b, " %d 0 0 0 0 0 0", exitSignal)
	// start_data end_data start_brk arg_start arg_end env_start env_end exit_code
	fmt.Fprintf(&b, " 0 0 0 %d %d %d %d 0\n", argStart, argEnd, envStart, envEnd)
	return []byte(b.String()), nil
}

// status is /proc/[pid]/status, with Linux 6.1's lines in its order.
func (fs *filesystem) status(ctx vfs.Context, t *kernel.Task, thread bool) ([]byte, error) {
	ns := fs.k.RootPIDNamespace()
	tg := t.ThreadGroup()
	c := t.Credentials()
	userns := c.UserNamespace
	_, stateName := taskState(ctx, t)
	state, _ := taskState(ctx, t)
	var umask uint32
	if fsc := t.FSContext(); fsc != nil {
		umask = fsc.Umask()
	}
	tgid, pid := ns.IDOfThreadGroup(tg), ns.IDOfTask(t)
	var b strings.Builder
	fmt.Fprintf(&b, "Name:\t%s\n", t.Name())
	fmt.Fprintf(&b, "Umask:\t%04o\n", umask)
	fmt.Fprintf(&b, "State:\t%c (%s)\n", state, stateName)
	fmt.Fprintf(&b, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", tgid, pid, t.ParentThreadGroupID())
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\n", userns.MapFromKUID(c.RealKUID), userns.MapFromKUID(c.EffectiveKUID),
		userns.MapFromKUID(c.SavedKUID), userns.MapFromKUID(c.FSKUID))
	fmt.Fprintf(&b, "Gid:\t%d\t%d\t%d\t%d\n", userns.MapFromKGID(c.RealKGID), userns.MapFromKGID(c.EffectiveKGID),
		userns.MapFromKGID(c.SavedKGID), userns.MapFromKGID(c.FSKGID))
	fmt.Fprintf(&b, "FDSize:\t%d\n", fdSize(t))
	b.WriteString("Groups:\t")
	for i, g := range c.ExtraKGIDs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", userns.MapFromKGID(g))
	}
	// Linux's trailing space.
	b.WriteString(" \n")
	fmt.Fprintf(&b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", tgid, pid, tg.ProcessGroupID(), tg.SessionID())
	if vsize, rss, ok := memorySizes(t); ok {
		kb := func(name string, n uint64) { fmt.Fprintf(&b, "%s:\t%8d kB\n", name, n/1024) }
		// Visor keeps no high-water marks: the peaks are the current sizes.
		kb("VmPeak", vsize)
		kb("VmSize", vsize)
		kb("VmLck", 0)
		kb("VmPin", 0)
		kb("VmHWM", rss)
		kb("VmRSS", rss)
		kb("RssAnon", rss)
		kb("RssFile", 0)
		kb("RssShmem", 0)
		kb("VmData", 0)
		kb("VmStk", 0)
		kb("VmExe", 0)
		kb("VmLib", 0)
		kb("VmPTE", 0)
		kb("VmSwap", 0)
		kb("HugetlbPages", 0)
	}
	b.WriteString("CoreDumping:\t0\nTHP_enabled:\t0\n")
	fmt.Fprintf(&b, "Threads:\t%d\n", len(tg.Tasks()))
	fmt.Fprintf(&b, "SigQ:\t%d/%d\n", t.QueuedSignals(), tg.Limit(linux.RLIMIT_SIGPENDING).Cur)
	thr, shared := t.PendingSignalSets()
	ignored, caught := tg.SignalDispositions()
	fmt.Fprintf(&b, "SigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n",
		uint64(thr), uint64(shared), uint64(t.SignalMask()), uint64(ignored), uint64(caught))
	fmt.Fprintf(&b, "CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		uint64(c.InheritableCaps), uint64(c.PermittedCaps), uint64(c.EffectiveCaps), uint64(c.BoundingCaps), uint64(c.AmbientCaps))
	noNewPrivs := 0
	if t.NoNewPrivs() {
		noNewPrivs = 1
	}
	fmt.Fprintf(&b, "NoNewPrivs:\t%d\nSeccomp:\t0\nSeccomp_filters:\t0\n", noNewPrivs)
	b.WriteString("Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n")
	ncpu := runtime.NumCPU()
	fmt.Fprintf(&b, "Cpus_allowed:\t%s\nCpus_allowed_list:\t%s\n", cpuMask(ncpu), cpuList(ncpu))
	b.WriteString("Mems_allowed:\t1\nMems_allowed_list:\t0\n")
	b.WriteString("voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n")
	return []byte(b.String()), nil
}

// fdSize returns status's FDSize: the size of t's descriptor table, which Linux
// grows in steps of 64 (a word of bits) from 64.
func fdSize(t *kernel.Task) int {
	fdt := t.FDTable()
	if fdt == nil {
		return 0
	}
	size := 64
	if fds := fdt.FDs(); len(fds) > 0 {
		for int(fds[len(fds)-1]) >= size {
			size *= 2
		}
	}
	return size
}

// cpuMask returns the mask of n CPUs as Linux's %*pb prints a cpumask: hex digits
// in comma-separated groups of 32 bits.
func cpuMask(n int) string {
	var groups []string
	for ; n > 0; n -= 32 {
		bits := min(n, 32)
		digits := (bits + 3) / 4
		v := uint64(1)<<bits - 1
		if n > 32 {
			digits = 8
		}
		groups = append([]string{fmt.Sprintf("%0*x", digits, v)}, groups...)
	}
	return strings.Join(groups, ",")
}

// cpuList returns n CPUs as a CPU list: "0-3", or "0" for one.
func cpuList(n int) string {
	if n <= 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// limitNames are the names and units of the resource limits, indexed by
// RLIMIT_*, as /proc/[pid]/limits shows them.
var limitNames = [linux.RLIM_NLIMITS][2]string{
	linux.RLIMIT_CPU:        {"Max cpu time", "seconds"},
	linux.RLIMIT_FSIZE:      {"Max file size", "bytes"},
	linux.RLIMIT_DATA:       {"Max data size", "bytes"},
	linux.RLIMIT_STACK:      {"Max stack size", "bytes"},
	linux.RLIMIT_CORE:       {"Max core file size", "bytes"},
	linux.RLIMIT_RSS:        {"Max resident set", "bytes"},
	linux.RLIMIT_NPROC:      {"Max processes", "processes"},
	linux.RLIMIT_NOFILE:     {"Max open files", "files"},
	linux.RLIMIT_MEMLOCK:    {"Max locked memory", "bytes"},
	linux.RLIMIT_AS:         {"Max address space", "bytes"},
	linux.RLIMIT_LOCKS:      {"Max file locks", "locks"},
	linux.RLIMIT_SIGPENDING: {"Max pending signals", "signals"},
	linux.RLIMIT_MSGQUEUE:   {"Max msgqueue size", "bytes"},
	linux.RLIMIT_NICE:       {"Max nice priority", ""},
	linux.RLIMIT_RTPRIO:     {"Max realtime priority", ""},
	linux.RLIMIT_RTTIME:     {"Max realtime timeout", "us"},
}

// limits is /proc/[pid]/limits, laid out as proc_pid_limits does.
func limits(t *kernel.Task) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	value := func(v uint64) string {
		if v == linux.RLIM_INFINITY {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	tg := t.ThreadGroup()
	for r, names := range limitNames {
		l := tg.Limit(r)
		fmt.Fprintf(&b, "%-25s %-20s %-20s ", names[0], value(l.Cur), value(l.Max))
		if names[1] != "" {
			fmt.Fprintf(&b, "%-10s", names[1])
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// writeComm sets t's name from a write to /proc/[pid]/comm: only tasks of the
// same process may (EINVAL otherwise, as in Linux); a trailing newline is dropped
// and the name cut to what comm holds.
func writeComm(ctx vfs.Context, t *kernel.Task, src []byte) (int64, error) {
	caller := callingTask(ctx)
	if caller == nil || caller.ThreadGroup() != t.ThreadGroup() {
		return 0, linux.EINVAL
	}
	name := src
	if len(name) > linux.TASK_COMM_LEN-1 {
		name = name[:linux.TASK_COMM_LEN-1]
	}
	if i := bytes.IndexByte(name, '\n'); i >= 0 {
		name = name[:i]
	}
	t.SetName(string(name))
	return int64(len(src)), nil
}

// oomScoreAdjRange bounds /proc/[pid]/oom_score_adj (OOM_SCORE_ADJ_MIN..MAX).
const (
	oomScoreAdjMin = -1000
	oomScoreAdjMax = 1000
)

// oomScoreAdj is /proc/[pid]/oom_score_adj. Visor has no OOM killer; the value is
// kept for programs (container runtimes, databases) that set and check it.
func (fs *filesystem) oomScoreAdj(t *kernel.Task) []byte {
	st := fs.state
	st.mu.Lock()
	defer st.mu.Unlock()
	return fmt.Appendf(nil, "%d\n", st.oomScoreAdj[t.ThreadGroup()])
}

// writeOOMScoreAdj sets the process's oom_score_adj: a number in [-1000, 1000]
// (EINVAL), lowered only with CAP_SYS_RESOURCE (EACCES), as in Linux.
func (fs *filesystem) writeOOMScoreAdj(ctx vfs.Context, t *kernel.Task, src []byte) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(string(src)), 10, 32)
	if err != nil || v < oomScoreAdjMin || v > oomScoreAdjMax {
		return 0, linux.EINVAL
	}
	st := fs.state
	st.mu.Lock()
	defer st.mu.Unlock()
	tg := t.ThreadGroup()
	if int32(v) < st.oomScoreAdj[tg] && !ctx.Credentials().HasCapability(linux.CAP_SYS_RESOURCE) {
		return 0, linux.EACCES
	}
	st.oomScoreAdj[tg] = int32(v)
	return int64(len(src)), nil
}

// idMap is /proc/[pid]/uid_map and gid_map: Visor's one user namespace maps every
// ID to itself.
func idMap() []byte {
	return fmt.Appendf(nil, "%10d %10d %10d\n", 0, 0, uint64(auth.NoID))
}

// taskLink is a magic link of a task directory (cwd, root, exe): following it
// leads where target says, and readlink shows that place's path as the reader
// sees it.
type taskLink struct {
	taskInode
	fs     *filesystem
	target func(ctx vfs.Context) (vfs.VirtualDentry, string, error)
}

// Readlink implements kernfs.Symlink.Readlink.
func (l *taskLink) Readlink(ctx vfs.Context) (string, error) {
	vd, path, err := l.Getlink(ctx)
	if err != nil || !vd.Ok() {
		return path, err
	}
	defer vd.DecRef()
	return l.fs.pathname(ctx, l.t, vd)
}

// Getlink implements kernfs.Symlink.Getlink.
func (l *taskLink) Getlink(ctx vfs.Context) (vfs.VirtualDentry, string, error) {
	if !alive(l.t) {
		return vfs.VirtualDentry{}, "", linux.ENOENT
	}
	if !mayAccess(ctx, l.t) {
		return vfs.VirtualDentry{}, "", linux.EACCES
	}
	return l.target(ctx)
}

// pathname returns the path of vd as the task ctx runs for sees it (from its
// root), or, for the kernel's own operations, as t sees it.
func (fs *filesystem) pathname(ctx vfs.Context, t *kernel.Task, vd vfs.VirtualDentry) (string, error) {
	viewer := t
	if caller := callingTask(ctx); caller != nil {
		viewer = caller
	}
	fsc := viewer.FSContext()
	if fsc == nil {
		return "", linux.ENOENT
	}
	root := fsc.RootDirectory()
	defer root.DecRef()
	return fs.vfs().PathnameWithDeleted(ctx, root, vd)
}

// fsContextDir returns t's root directory or working directory with a reference.
func fsContextDir(t *kernel.Task, root bool) (vfs.VirtualDentry, string, error) {
	fsc := t.FSContext()
	if fsc == nil {
		return vfs.VirtualDentry{}, "", linux.ENOENT
	}
	if root {
		return fsc.RootDirectory(), "", nil
	}
	return fsc.WorkingDirectory(), "", nil
}

// executable returns the path of the program t runs. The address space records
// only its path at exec, so /proc/[pid]/exe is an ordinary symlink to that path
// rather than a magic link to the file.
func executable(t *kernel.Task) (vfs.VirtualDentry, string, error) {
	m := t.GetMemoryManager()
	if m == nil {
		return vfs.VirtualDentry{}, "", linux.ENOENT
	}
	defer m.DecUsers()
	path := m.Executable()
	if path == "" {
		return vfs.VirtualDentry{}, "", linux.ENOENT
	}
	return vfs.VirtualDentry{}, path, nil
}

// rootMount describes the mount t's root directory is in: the one mount
// /proc/[pid]/mounts and mountinfo show, since the VFS has no way to list the
// others yet.
type rootMount struct {
	id                 uint64
	fsType             string
	devMajor, devMinor uint32
	opts               string
}

// getRootMount returns t's root mount, or false if t has none left.
func (fs *filesystem) getRootMount(ctx vfs.Context, t *kernel.Task) (rootMount, bool) {
	fsc := t.FSContext()
	if fsc == nil {
		return rootMount{}, false
	}
	root := fsc.RootDirectory()
	defer root.DecRef()
	mnt := root.Mount()
	vd := vfs.MakeVirtualDentry(mnt, mnt.Root())
	rm := rootMount{id: mnt.ID, fsType: mnt.Filesystem().FilesystemType().Name()}
	if stat, err := fs.vfs().StatAt(ctx, ctx.Credentials(), &vfs.PathOperation{Root: vd, Start: vd}, &vfs.StatOptions{}); err == nil {
		rm.devMajor, rm.devMinor = stat.DevMajor, stat.DevMinor
	}
	opts := []string{"rw"}
	if mnt.ReadOnly() {
		opts[0] = "ro"
	}
	flags := mnt.Flags()
	for _, f := range []struct {
		set  bool
		name string
	}{{flags.NoSUID, "nosuid"}, {flags.NoDev, "nodev"}, {flags.NoExec, "noexec"}} {
		if f.set {
			opts = append(opts, f.name)
		}
	}
	if flags.NoATime {
		opts = append(opts, "noatime")
	} else {
		opts = append(opts, "relatime")
	}
	rm.opts = strings.Join(opts, ",")
	return rm, true
}

// mounts is /proc/[pid]/mounts: "source mountpoint type options 0 0". The source
// Visor does not record; the type stands in for it, as for Linux's virtual
// filesystems.
func (fs *filesystem) mounts(ctx vfs.Context, t *kernel.Task) ([]byte, error) {
	rm, ok := fs.getRootMount(ctx, t)
	if !ok {
		return nil, nil
	}
	return fmt.Appendf(nil, "%s / %s %s 0 0\n", rm.fsType, rm.fsType, rm.opts), nil
}

// mountinfo is /proc/[pid]/mountinfo: "id parent major:minor root mountpoint
// options - type source superoptions". The root mount is its own parent.
func (fs *filesystem) mountinfo(ctx vfs.Context, t *kernel.Task) ([]byte, error) {
	rm, ok := fs.getRootMount(ctx, t)
	if !ok {
		return nil, nil
	}
	return fmt.Appendf(nil, "%d %d %d:%d / / %s - %s %s rw\n", rm.id, rm.id, rm.devMajor, rm.devMinor, rm.opts, rm.fsType, rm.fsType), nil
}
