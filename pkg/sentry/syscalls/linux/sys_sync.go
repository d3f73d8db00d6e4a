package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Sync implements sync(2). The VFS cannot list every filesystem yet, so it writes
// back the filesystems of the caller's root and working directory, where
// persistent files live; errors are ignored, as sync(2) has none.
func Sync(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	fs := t.FSContext()
	root := fs.RootDirectory()
	defer root.DecRef()
	cwd := fs.WorkingDirectory()
	defer cwd.DecRef()
	seen := map[*vfs.Filesystem]bool{}
	for _, vd := range []vfs.VirtualDentry{root, cwd} {
		f := vd.Mount().Filesystem()
		if !seen[f] {
			seen[f] = true
			_ = f.Impl().Sync(t)
		}
	}
	return 0, nil
}

// Syncfs implements syncfs(2).
func Syncfs(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if isOPath(f) {
		return 0, linux.EBADF
	}
	return 0, f.Mount().Filesystem().Impl().Sync(t)
}

// Fsync implements fsync(2).
func Fsync(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if isOPath(f) {
		return 0, linux.EBADF
	}
	return 0, f.Sync(t)
}

// Fdatasync implements fdatasync(2): the same as fsync, which also writes
// metadata.
func Fdatasync(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return Fsync(t, sysno, args)
}

// SyncFileRange implements sync_file_range(2): any flag that writes or waits
// writes back the whole file.
func SyncFileRange(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	offset, nbytes, flags := args[1].Int64(), args[2].Int64(), args[3].Uint()
	if flags&^(linux.SYNC_FILE_RANGE_WAIT_BEFORE|linux.SYNC_FILE_RANGE_WRITE|linux.SYNC_FILE_RANGE_WAIT_AFTER) != 0 {
		return 0, linux.EINVAL
	}
	if offset < 0 || nbytes < 0 || (nbytes > 0 && offset+nbytes < 0) {
		return 0, linux.EINVAL
	}
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if isOPath(f) {
		return 0, linux.EBADF
	}
	st, err := f.Stat(t, vfs.StatOptions{Mask: linux.STATX_TYPE})
	if err != nil {
		return 0, err
	}
	switch st.Mode & linux.S_IFMT {
	case linux.S_IFREG, linux.S_IFDIR, linux.S_IFLNK:
	default:
		return 0, linux.ESPIPE
	}
	if flags == 0 {
		return 0, nil
	}
	if err := f.Sync(t); err != nil && err != linux.EINVAL {
		return 0, err
	}
	return 0, nil
}
