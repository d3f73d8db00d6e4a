package proc

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// newSystemFiles returns the files of /proc that describe the whole sandbox.
func (fs *filesystem) newSystemFiles() []kernfs.DirEntry {
	file := func(name string, gen func() []byte) kernfs.DirEntry {
		return kernfs.DirEntry{Name: name, Inode: kernfs.NewFuncFile(fs.kfs, 0o444, func(vfs.Context) ([]byte, error) { return gen(), nil })}
	}
	return []kernfs.DirEntry{
		file("cpuinfo", cpuinfo),
		file("filesystems", fs.filesystems),
		file("loadavg", fs.loadavg),
		file("meminfo", fs.meminfo),
		file("stat", fs.systemStat),
		file("uptime", fs.uptime),
		file("version", version),
	}
}

// version is /proc/version, "Linux version <release> (<builder>) (<compiler>)
// <version>" with Visor's release.
func version() []byte {
	return fmt.Appendf(nil, "Linux version %s (visor@visor) (%s) %s\n", kernel.Release, runtime.Version(), kernel.Version)
}

// filesystems is /proc/filesystems: the types mount(2) accepts, "nodev" marking
// those without a block device.
func (fs *filesystem) filesystems() []byte {
	type entry struct {
		name   string
		device bool
	}
	var entries []entry
	fs.vfs().FilesystemTypeNames(func(name string, requiresDevice bool) {
		entries = append(entries, entry{name, requiresDevice})
	})
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	for _, e := range entries {
		if !e.device {
			b.WriteString("nodev")
		}
		fmt.Fprintf(&b, "\t%s\n", e.name)
	}
	return []byte(b.String())
}

// usedMemory returns the bytes of application memory the sandbox holds.
func (fs *filesystem) usedMemory() uint64 {
	if mf := fs.k.MemoryFile(); mf != nil {
		return mf.Committed()
	}
	return 0
}

// meminfo is /proc/meminfo. The sandbox's memory is the kernel's total; what its
// memory file holds is in use, as anonymous memory, and the rest is free. Visor
// has no page cache, swap or huge pages.
func (fs *filesystem) meminfo() []byte {
	total := fs.k.TotalMemory()
	used := min(fs.usedMemory(), total)
	free := total - used
	var b strings.Builder
	kb := func(name string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", name+":", v/1024) }
	kb("MemTotal", total)
	kb("MemFree", free)
	kb("MemAvailable", free)
	kb("Buffers", 0)
	kb("Cached", 0)
	kb("SwapCached", 0)
	kb("Active", used)
	kb("Inactive", 0)
	kb("Active(anon)", used)
	kb("Inactive(anon)", 0)
	kb("Active(file)", 0)
	kb("Inactive(file)", 0)
	kb("Unevictable", 0)
	kb("Mlocked", 0)
	kb("SwapTotal", 0)
	kb("SwapFree", 0)
	kb("Dirty", 0)
	kb("Writeback", 0)
	kb("AnonPages", used)
	kb("Mapped", 0)
	kb("Shmem", 0)
	kb("KReclaimable", 0)
	kb("Slab", 0)
	kb("SReclaimable", 0)
	kb("SUnreclaim", 0)
	kb("KernelStack", 0)
	kb("PageTables", 0)
	kb("CommitLimit", total)
	kb("Committed_AS", used)
	kb("VmallocTotal", 34359738367*1024)
	kb("VmallocUsed", 0)
	kb("VmallocChunk", 0)
	kb("AnonHugePages", 0)
	for _, name := range []string{"HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"} {
		fmt.Fprintf(&b, "%-16s%8d\n", name+":", 0)
	}
	kb("Hugepagesize", 2048*1024)
	kb("Hugetlb", 0)
	return []byte(b.String())
}

// cpuTimes returns the CPU time every live task of the sandbox has used.
func (fs *filesystem) cpuTimes() (user, sys time.Duration) {
	for _, tg := range fs.k.RootPIDNamespace().ThreadGroups() {
		u, s := tg.CPUTime()
		user += u
		sys += s
	}
	return user, sys
}

// uptime is /proc/uptime: seconds since the sandbox started, and the seconds its
// CPUs spent idle in that time (summed over CPUs, as Linux does): what tasks did
// not use.
func (fs *filesystem) uptime() []byte {
	up := time.Since(fs.k.BootTime())
	user, sys := fs.cpuTimes()
	idle := max(up*time.Duration(runtime.NumCPU())-user-sys, 0)
	return fmt.Appendf(nil, "%.2f %.2f\n", up.Seconds(), idle.Seconds())
}

// loadavg is /proc/loadavg. Visor does not compute load averages; they are 0. The
// fourth field is running/total threads, the calling one the only one known to
// run; the fifth the last PID handed out.
func (fs *filesystem) loadavg() []byte {
	ns := fs.k.RootPIDNamespace()
	threads := 0
	for _, tg := range ns.ThreadGroups() {
		threads += len(tg.Tasks())
	}
	return fmt.Appendf(nil, "0.00 0.00 0.00 %d/%d %d\n", min(1, threads), threads, ns.LastID())
}

// systemStat is /proc/stat. The sandbox's CPU time is what its tasks used, spread
// evenly over its CPUs; the rest is idle. Interrupts, context switches and
// softirqs are not counted.
func (fs *filesystem) systemStat() []byte {
	n := runtime.NumCPU()
	up := time.Since(fs.k.BootTime())
	user, sys := fs.cpuTimes()
	idle := max(up*time.Duration(n)-user-sys, 0)
	var b strings.Builder
	line := func(name string, user, sys, idle time.Duration) {
		fmt.Fprintf(&b, "%s %d 0 %d %d 0 0 0 0 0 0\n", name, toTicks(user), toTicks(sys), toTicks(idle))
	}
	line("cpu ", user, sys, idle)
	for i := 0; i < n; i++ {
		d := time.Duration(n)
		line(fmt.Sprintf("cpu%d", i), user/d, sys/d, idle/d)
	}
	ns := fs.k.RootPIDNamespace()
	threads := 0
	for _, tg := range ns.ThreadGroups() {
		threads += len(tg.Tasks())
	}
	b.WriteString("intr 0\nctxt 0\n")
	fmt.Fprintf(&b, "btime %d\n", fs.k.BootTime().Unix())
	// Visor does not count forks; the last PID is how many IDs were handed out,
	// which is the count until PIDs wrap.
	fmt.Fprintf(&b, "processes %d\n", ns.LastID())
	fmt.Fprintf(&b, "procs_running %d\nprocs_blocked 0\n", min(1, threads))
	b.WriteString("softirq 0 0 0 0 0 0 0 0 0 0 0\n")
	return []byte(b.String())
}
