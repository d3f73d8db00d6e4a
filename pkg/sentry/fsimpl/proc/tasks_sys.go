package proc

import (
	"bytes"
	"fmt"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/pipe"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Values of /proc/sys that describe limits Visor shares with Linux's defaults.
const (
	// ngroupsMax is NGROUPS_MAX, the most supplementary groups setgroups takes.
	ngroupsMax = 65536
	// nrOpen is fs.nr_open, the highest RLIMIT_NOFILE, the default hard limit
	// of the sandbox's first process.
	nrOpen = 1048576
	// fileMax is fs.file-max: Visor has no system-wide limit on open files.
	fileMax = 1<<63 - 1
	// somaxconn is net.core.somaxconn, the listen(2) backlog cap.
	somaxconn = 4096
	// maxMapCount is vm.max_map_count.
	maxMapCount = 65530
	// defaultMmapMinAddr is vm.mmap_min_addr when the platform does not say.
	defaultMmapMinAddr = 65536
)

// System V IPC limits, Linux's defaults (ipc/util.h, include/uapi/linux/shm.h,
// sem.h, msg.h).
const (
	shmmax = 1<<64 - 1 - 1<<24
	shmall = 1<<64 - 1 - 1<<24
	shmmni = 4096
	msgmni = 32000
	// semmsl, semmns, semopm and semmni are kernel.sem's four fields.
	semmsl = 32000
	semmns = 1024000000
	semopm = 500
	semmni = 32000
)

// newSysDir builds /proc/sys. Its files are read-only but for the host and
// domain names, which root may set as sethostname(2) and setdomainname(2) do.
func (fs *filesystem) newSysDir() *kernfs.StaticDirectory {
	kfs := fs.kfs
	dir := func(children ...kernfs.DirEntry) *kernfs.StaticDirectory {
		return kernfs.NewStaticDirectory(kfs, 0o555, children)
	}
	value := func(name string, v any) kernfs.DirEntry {
		return kernfs.DirEntry{Name: name, Inode: kernfs.NewStaticFile(kfs, 0o444, fmt.Sprintf("%v\n", v))}
	}
	gen := func(name string, f func() string) kernfs.DirEntry {
		return kernfs.DirEntry{Name: name, Inode: kernfs.NewFuncFile(kfs, 0o444, func(vfs.Context) ([]byte, error) { return []byte(f()), nil })}
	}
	k := fs.k
	mmapMinAddr := uint64(defaultMmapMinAddr)
	if p := k.Platform(); p != nil {
		mmapMinAddr = uint64(p.MinUserAddress())
	}
	return dir(
		kernfs.DirEntry{Name: "fs", Inode: dir(
			value("file-max", uint64(fileMax)),
			value("nr_open", nrOpen),
			value("pipe-max-size", pipe.MaximumPipeSize),
		)},
		kernfs.DirEntry{Name: "kernel", Inode: dir(
			value("cap_last_cap", linux.CAP_LAST_CAP),
			fs.newUTSFile("domainname", func() string { _, d := k.UTSNames(); return d }, k.SetDomainname),
			fs.newUTSFile("hostname", func() string { h, _ := k.UTSNames(); return h }, k.SetHostname),
			value("msgmni", msgmni),
			value("ngroups_max", ngroupsMax),
			value("osrelease", kernel.Release),
			value("ostype", "Linux"),
			value("pid_max", k.RootPIDNamespace().MaxID()),
			kernfs.DirEntry{Name: "random", Inode: dir(
				value("boot_id", fs.state.bootID),
				gen("uuid", func() string { return newUUID() + "\n" }),
			)},
			value("sem", fmt.Sprintf("%d\t%d\t%d\t%d", semmsl, semmns, semopm, semmni)),
			value("shmall", uint64(shmall)),
			value("shmmax", uint64(shmmax)),
			value("shmmni", shmmni),
			value("version", kernel.Version),
			kernfs.DirEntry{Name: "yama", Inode: dir(value("ptrace_scope", ptraceScope))},
		)},
		kernfs.DirEntry{Name: "net", Inode: dir(
			kernfs.DirEntry{Name: "core", Inode: dir(value("somaxconn", somaxconn))},
		)},
		kernfs.DirEntry{Name: "vm", Inode: dir(
			value("max_map_count", maxMapCount),
			value("mmap_min_addr", mmapMinAddr),
			value("overcommit_memory", 0),
		)},
	)
}

// utsFile is /proc/sys/kernel/hostname or domainname.
type utsFile struct {
	kernfs.InodeAttrs
	get func() string
	set func(string)
}

// newUTSFile returns the entry of a UTS name file.
func (fs *filesystem) newUTSFile(name string, get func() string, set func(string)) kernfs.DirEntry {
	f := &utsFile{get: get, set: set}
	f.Init(fs.kfs, linux.S_IFREG|0o644)
	return kernfs.DirEntry{Name: name, Inode: f}
}

// Generate implements kernfs.DynamicFile.Generate.
func (f *utsFile) Generate(vfs.Context) ([]byte, error) { return []byte(f.get() + "\n"), nil }

// Write implements kernfs.WritableFile.Write: the name up to a newline, cut to 64
// bytes, needing CAP_SYS_ADMIN (EPERM), as proc_do_uts_string does.
func (f *utsFile) Write(ctx vfs.Context, src []byte, offset int64) (int64, error) {
	if !ctx.Credentials().HasCapability(linux.CAP_SYS_ADMIN) {
		return 0, linux.EPERM
	}
	if offset != 0 {
		return 0, linux.EINVAL
	}
	name := src
	if i := bytes.IndexByte(name, '\n'); i >= 0 {
		name = name[:i]
	}
	if len(name) > linux.UTSLen-1 {
		name = name[:linux.UTSLen-1]
	}
	f.set(string(name))
	return int64(len(src)), nil
}
