package proc

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// taskDir is /proc/[pid] (thread false), which describes a process through its
// task t (its leader, or the thread whose ID was looked up), or
// /proc/[pid]/task/[tid] (thread true), which describes thread t.
type taskDir struct {
	kernfs.InodeAttrs
	fs     *filesystem
	t      *kernel.Task
	thread bool
	// files are the directory's entries; they are fixed, and only answer
	// while the task lives.
	files *kernfs.StaticDirectory
}

// newTaskDir builds the directory of t.
func (fs *filesystem) newTaskDir(t *kernel.Task, thread bool) *taskDir {
	td := &taskDir{fs: fs, t: t, thread: thread}
	td.Init(fs.kfs, linux.S_IFDIR|0o555)
	td.files = kernfs.NewStaticDirectory(fs.kfs, 0o555, fs.taskFiles(t, thread))
	return td
}

// Owner implements kernfs.Inode.Owner: a process's files belong to its effective
// user and group, as those of a dumpable process do in Linux.
func (td *taskDir) Owner() (auth.KUID, auth.KGID) { return taskOwner(td.t) }

// taskOwner returns the owner of t's /proc files.
func taskOwner(t *kernel.Task) (auth.KUID, auth.KGID) {
	c := t.Credentials()
	if c == nil {
		return auth.RootKUID, auth.RootKGID
	}
	return c.EffectiveKUID, c.EffectiveKGID
}

// Lookup implements kernfs.Directory.Lookup.
func (td *taskDir) Lookup(ctx vfs.Context, name string) (kernfs.Inode, error) {
	if !alive(td.t) {
		return nil, linux.ENOENT
	}
	return td.files.Lookup(ctx, name)
}

// Entries implements kernfs.Directory.Entries.
func (td *taskDir) Entries(ctx vfs.Context) ([]kernfs.DirEntry, error) {
	if !alive(td.t) {
		return nil, linux.ENOENT
	}
	return td.files.Entries(ctx)
}

// alive reports whether t can still be found: it has not been reaped.
func alive(t *kernel.Task) bool { return t.ExitState() != kernel.TaskExitDead }

// taskInode is what every file of a task directory has: the task, and the
// owner of its files.
type taskInode struct {
	kernfs.InodeAttrs
	t *kernel.Task
}

// Owner implements kernfs.Inode.Owner.
func (i *taskInode) Owner() (auth.KUID, auth.KGID) { return taskOwner(i.t) }

// taskFile is a generated file of a task directory.
type taskFile struct {
	taskInode
	generate func(ctx vfs.Context) ([]byte, error)
	// write, if set, takes writes.
	write func(ctx vfs.Context, src []byte) (int64, error)
}

// Generate implements kernfs.DynamicFile.Generate: reading the file of a task
// that has been reaped fails with ESRCH, as in Linux.
func (f *taskFile) Generate(ctx vfs.Context) ([]byte, error) {
	if !alive(f.t) {
		return nil, linux.ESRCH
	}
	return f.generate(ctx)
}

// writableTaskFile is a taskFile that takes writes.
type writableTaskFile struct {
	taskFile
}

// Write implements kernfs.WritableFile.Write.
func (f *writableTaskFile) Write(ctx vfs.Context, src []byte, _ int64) (int64, error) {
	if !alive(f.t) {
		return 0, linux.ESRCH
	}
	return f.write(ctx, src)
}

// newTaskFile returns a file of t whose contents generate makes; if write is set,
// it takes writes too.
func (fs *filesystem) newTaskFile(t *kernel.Task, perms uint16, generate func(ctx vfs.Context) ([]byte, error), write func(ctx vfs.Context, src []byte) (int64, error)) kernfs.Inode {
	f := taskFile{taskInode: taskInode{t: t}, generate: generate, write: write}
	f.Init(fs.kfs, linux.S_IFREG|perms)
	if write != nil {
		return &writableTaskFile{f}
	}
	return &f
}

// taskFiles returns the entries of t's directory.
func (fs *filesystem) taskFiles(t *kernel.Task, thread bool) []kernfs.DirEntry {
	file := func(name string, perms uint16, gen func(ctx vfs.Context) ([]byte, error)) kernfs.DirEntry {
		return kernfs.DirEntry{Name: name, Inode: fs.newTaskFile(t, perms, gen, nil)}
	}
	rw := func(name string, gen func(ctx vfs.Context) ([]byte, error), write func(ctx vfs.Context, src []byte) (int64, error)) kernfs.DirEntry {
		return kernfs.DirEntry{Name: name, Inode: fs.newTaskFile(t, 0o644, gen, write)}
	}
	link := func(name string, target func(ctx vfs.Context) (vfs.VirtualDentry, string, error)) kernfs.DirEntry {
		l := &taskLink{taskInode: taskInode{t: t}, fs: fs, target: target}
		l.Init(fs.kfs, linux.S_IFLNK|0o777)
		return kernfs.DirEntry{Name: name, Inode: l}
	}
	// Linux's order (tgid_base_stuff), for the files Visor has.
	entries := []kernfs.DirEntry{}
	if !thread {
		entries = append(entries, kernfs.DirEntry{Name: "task", Inode: fs.newSubtasksDir(t)})
	}
	entries = append(entries,
		fs.newFDDir(t, "fd", false),
		fs.newFDDir(t, "fdinfo", true),
		file("environ", 0o400, func(ctx vfs.Context) ([]byte, error) { return fs.environ(ctx, t) }),
		file("auxv", 0o400, func(ctx vfs.Context) ([]byte, error) { return fs.auxv(ctx, t) }),
		file("status", 0o444, func(ctx vfs.Context) ([]byte, error) { return fs.status(ctx, t, thread) }),
		file("limits", 0o444, func(vfs.Context) ([]byte, error) { return limits(t), nil }),
		rw("comm", func(vfs.Context) ([]byte, error) { return []byte(t.Name() + "\n"), nil },
			func(ctx vfs.Context, src []byte) (int64, error) { return writeComm(ctx, t, src) }),
		file("cmdline", 0o444, func(ctx vfs.Context) ([]byte, error) { return fs.cmdline(ctx, t) }),
		file("stat", 0o444, func(ctx vfs.Context) ([]byte, error) { return fs.stat(ctx, t, thread) }),
		file("statm", 0o444, func(vfs.Context) ([]byte, error) { return statm(t), nil }),
		file("maps", 0o444, func(vfs.Context) ([]byte, error) { return maps(t), nil }),
		link("cwd", func(ctx vfs.Context) (vfs.VirtualDentry, string, error) { return fsContextDir(t, false) }),
		link("root", func(ctx vfs.Context) (vfs.VirtualDentry, string, error) { return fsContextDir(t, true) }),
		link("exe", func(ctx vfs.Context) (vfs.VirtualDentry, string, error) { return executable(t) }),
		file("mounts", 0o444, func(ctx vfs.Context) ([]byte, error) { return fs.mounts(ctx, t) }),
		file("mountinfo", 0o444, func(ctx vfs.Context) ([]byte, error) { return fs.mountinfo(ctx, t) }),
		file("cgroup", 0o444, func(vfs.Context) ([]byte, error) { return []byte("0::/\n"), nil }),
		file("oom_score", 0o444, func(vfs.Context) ([]byte, error) { return []byte("0\n"), nil }),
		rw("oom_score_adj", func(vfs.Context) ([]byte, error) { return fs.oomScoreAdj(t), nil },
			func(ctx vfs.Context, src []byte) (int64, error) { return fs.writeOOMScoreAdj(ctx, t, src) }),
		file("uid_map", 0o644, func(vfs.Context) ([]byte, error) { return idMap(), nil }),
		file("gid_map", 0o644, func(vfs.Context) ([]byte, error) { return idMap(), nil }),
	)
	return entries
}
