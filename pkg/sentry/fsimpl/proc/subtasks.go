package proc

import (
	"strconv"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// subtasksDir is /proc/[pid]/task: a directory per thread of the process.
type subtasksDir struct {
	taskInode
	fs *filesystem
}

// newSubtasksDir returns /proc/[pid]/task for the process of t.
func (fs *filesystem) newSubtasksDir(t *kernel.Task) *subtasksDir {
	d := &subtasksDir{taskInode: taskInode{t: t}, fs: fs}
	d.Init(fs.kfs, linux.S_IFDIR|0o555)
	return d
}

// Lookup implements kernfs.Directory.Lookup: only the process's own threads.
func (d *subtasksDir) Lookup(ctx vfs.Context, name string) (kernfs.Inode, error) {
	tid, err := strconv.ParseUint(name, 10, 31)
	if err != nil || strconv.FormatUint(tid, 10) != name {
		return nil, linux.ENOENT
	}
	t := d.fs.k.RootPIDNamespace().TaskWithID(kernel.ThreadID(tid))
	if t == nil || t.ThreadGroup() != d.t.ThreadGroup() {
		return nil, linux.ENOENT
	}
	return d.fs.taskDir(t, true), nil
}

// Entries implements kernfs.Directory.Entries.
func (d *subtasksDir) Entries(vfs.Context) ([]kernfs.DirEntry, error) {
	ns := d.fs.k.RootPIDNamespace()
	var entries []kernfs.DirEntry
	for _, t := range d.t.ThreadGroup().Tasks() {
		tid := ns.IDOfTask(t)
		if tid == 0 {
			continue
		}
		entries = append(entries, kernfs.DirEntry{Name: strconv.Itoa(int(tid)), Inode: d.fs.taskDir(t, true)})
	}
	return entries, nil
}
