package proc

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// sharedState is what the procfs instances of one kernel share: what Linux keeps
// in the kernel rather than in a procfs superblock.
type sharedState struct {
	// bootID is /proc/sys/kernel/random/boot_id.
	bootID string

	// mu protects oomScoreAdj: each process's /proc/[pid]/oom_score_adj, kept
	// here since the kernel has no OOM killer to keep it for.
	mu          sync.Mutex
	oomScoreAdj map[*kernel.ThreadGroup]int32
}

func newSharedState() *sharedState {
	return &sharedState{bootID: newUUID(), oomScoreAdj: make(map[*kernel.ThreadGroup]int32)}
}

// newUUID returns a random (version 4) UUID as Linux's random/uuid formats it.
func newUUID() string {
	var b [16]byte
	// crypto/rand.Read never fails (it panics if the system's source does).
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// filesystem is one procfs instance.
type filesystem struct {
	kfs   *kernfs.Filesystem
	k     *kernel.Kernel
	state *sharedState

	// mu protects tasks, the directories of the tasks looked up so far, which
	// keep their inodes (and so their dentries and inode numbers) stable for as
	// long as the task lives.
	mu    sync.Mutex
	tasks map[taskKey]*taskDir
}

// taskKey names a task directory: /proc/[pid] (thread false) or
// /proc/[pid]/task/[tid] (thread true) of task t.
type taskKey struct {
	t      *kernel.Task
	thread bool
}

// taskDir returns the directory of t, making it the first time.
func (fs *filesystem) taskDir(t *kernel.Task, thread bool) *taskDir {
	key := taskKey{t, thread}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if td, ok := fs.tasks[key]; ok {
		return td
	}
	td := fs.newTaskDir(t, thread)
	fs.tasks[key] = td
	return td
}

// pruneTasks forgets the directories of tasks that have left the PID namespace,
// and the oom_score_adj of processes that have.
func (fs *filesystem) pruneTasks() {
	ns := fs.k.RootPIDNamespace()
	fs.mu.Lock()
	for key := range fs.tasks {
		if ns.IDOfTask(key.t) == 0 {
			delete(fs.tasks, key)
		}
	}
	fs.mu.Unlock()
	st := fs.state
	st.mu.Lock()
	for tg := range st.oomScoreAdj {
		if ns.IDOfThreadGroup(tg) == 0 {
			delete(st.oomScoreAdj, tg)
		}
	}
	st.mu.Unlock()
}

// callingTask returns the task an operation runs for, or nil if it is the kernel's
// own (vfs.NewContext), which has no /proc/self.
func callingTask(ctx vfs.Context) *kernel.Task {
	t, _ := ctx.(*kernel.Task)
	return t
}

// rootDir is /proc: its fixed files, self, thread-self, and a directory per
// process.
type rootDir struct {
	kernfs.InodeAttrs
	fs *filesystem
	// static are the fixed entries, listed before the processes.
	static *kernfs.StaticDirectory
}

// newRootDir builds /proc.
func (fs *filesystem) newRootDir() *rootDir {
	kfs := fs.kfs
	entries := []kernfs.DirEntry{
		{Name: "self", Inode: &selfSymlink{fs: fs}},
		{Name: "thread-self", Inode: &selfSymlink{fs: fs, thread: true}},
	}
	for _, e := range entries {
		e.Inode.(*selfSymlink).Init(kfs, linux.S_IFLNK|0o777)
	}
	entries = append(entries, fs.newSystemFiles()...)
	entries = append(entries,
		kernfs.DirEntry{Name: "mounts", Inode: kernfs.NewStaticSymlink(kfs, "self/mounts")},
		kernfs.DirEntry{Name: "sys", Inode: fs.newSysDir()},
	)
	d := &rootDir{fs: fs, static: kernfs.NewStaticDirectory(kfs, 0o555, entries)}
	d.Init(kfs, linux.S_IFDIR|0o555)
	return d
}

// Lookup implements kernfs.Directory.Lookup. Any task's ID names a directory, as
// in Linux, though only processes are listed.
func (d *rootDir) Lookup(ctx vfs.Context, name string) (kernfs.Inode, error) {
	if inode, err := d.static.Lookup(ctx, name); err == nil {
		return inode, nil
	}
	tid, err := strconv.ParseUint(name, 10, 31)
	if err != nil || strconv.FormatUint(tid, 10) != name {
		return nil, linux.ENOENT
	}
	t := d.fs.k.RootPIDNamespace().TaskWithID(kernel.ThreadID(tid))
	if t == nil {
		return nil, linux.ENOENT
	}
	return d.fs.taskDir(t, false), nil
}

// Entries implements kernfs.Directory.Entries.
func (d *rootDir) Entries(ctx vfs.Context) ([]kernfs.DirEntry, error) {
	d.fs.pruneTasks()
	static, _ := d.static.Entries(ctx)
	tgs := d.fs.k.RootPIDNamespace().ThreadGroups()
	ids := make([]kernel.ThreadID, 0, len(tgs))
	for id := range tgs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	entries := append(make([]kernfs.DirEntry, 0, len(static)+len(ids)), static...)
	for _, id := range ids {
		leader := tgs[id].Leader()
		if leader == nil {
			continue
		}
		entries = append(entries, kernfs.DirEntry{Name: strconv.Itoa(int(id)), Inode: d.fs.taskDir(leader, false)})
	}
	return entries, nil
}

// selfSymlink is /proc/self, the calling process's directory, or /proc/thread-self,
// the calling thread's.
type selfSymlink struct {
	kernfs.InodeAttrs
	fs     *filesystem
	thread bool
}

// Readlink implements kernfs.Symlink.Readlink.
func (s *selfSymlink) Readlink(ctx vfs.Context) (string, error) {
	t := callingTask(ctx)
	if t == nil {
		return "", linux.ENOENT
	}
	ns := s.fs.k.RootPIDNamespace()
	tgid := ns.IDOfThreadGroup(t.ThreadGroup())
	if tgid == 0 {
		return "", linux.ENOENT
	}
	if !s.thread {
		return strconv.Itoa(int(tgid)), nil
	}
	return fmt.Sprintf("%d/task/%d", tgid, ns.IDOfTask(t)), nil
}

// Getlink implements kernfs.Symlink.Getlink.
func (s *selfSymlink) Getlink(ctx vfs.Context) (vfs.VirtualDentry, string, error) {
	target, err := s.Readlink(ctx)
	return vfs.VirtualDentry{}, target, err
}

// vfs returns the VFS fs belongs to.
func (fs *filesystem) vfs() *vfs.VirtualFilesystem { return fs.kfs.VFSFilesystem().VirtualFilesystem() }
