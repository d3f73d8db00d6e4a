// Package proc is procfs, /proc: the processes of the sandbox and the kernel's
// state, as Linux presents them, generated from the Sentry's own kernel objects
// whenever a file is read. Nothing comes from the host: /proc lists only the
// sandbox's processes, and /proc/cpuinfo and /proc/meminfo describe what the
// sandbox has.
//
// Files that name the reader ("/proc/self", "/proc/thread-self", "/proc/[pid]/cwd"
// read relative to the reader's root) find the calling task as the vfs.Context of
// the operation, which for system calls is the *kernel.Task.
//
// The boot code registers the type with Register and mounts it as any other:
//
//	proc.Register(vfsObj, k)
//	vfsObj.MountAt(ctx, creds, "proc", &vfs.PathOperation{...Path: "/proc"}, proc.Name, &vfs.MountOptions{})
//
// and the application can mount more instances with mount(2) ("mount -t proc").
// Layout: tasks.go is /proc itself, task.go /proc/[pid] and /proc/[pid]/task/[tid],
// task_files.go and task_fds.go what they hold, subtasks.go /proc/[pid]/task,
// tasks_files.go the system-wide files, tasks_sys.go /proc/sys and yama.go its
// ptrace_scope.
package proc

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Name is the filesystem type's name.
const Name = "proc"

// FilesystemType makes procfs filesystems showing the processes of one kernel.
type FilesystemType struct {
	k *kernel.Kernel
	// state is what every procfs instance of k shares.
	state *sharedState
}

// Register registers the proc filesystem type for k with vfsObj. The kernel's boot
// code calls it once, after kernel.New.
func Register(vfsObj *vfs.VirtualFilesystem, k *kernel.Kernel) error {
	return vfsObj.RegisterFilesystemType(Name, FilesystemType{k: k, state: newSharedState()}, &vfs.RegisterFilesystemTypeOptions{
		AllowUserMount: true,
		AllowUserList:  true,
	})
}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem. Mount options are
// accepted and ignored (hidepid= and subset= are not implemented).
func (ft FilesystemType) GetFilesystem(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	if ft.k == nil {
		return nil, nil, linux.ENODEV
	}
	kfs := kernfs.NewFilesystem(vfsObj, ft, linux.PROC_SUPER_MAGIC)
	// procfs lookups of missing names fail rather than leave negative dentries,
	// so Linux's mkdir, open(O_CREAT) and friends of a new name in /proc fail
	// with ENOENT.
	kfs.SetCreateMissingError(linux.ENOENT)
	fs := &filesystem{
		kfs:   kfs,
		k:     ft.k,
		state: ft.state,
		tasks: make(map[taskKey]*taskDir),
	}
	vfsfs, root := kfs.SetRoot(fs.newRootDir())
	return vfsfs, root, nil
}
