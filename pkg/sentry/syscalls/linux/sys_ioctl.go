package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Ioctl implements ioctl(2): the generic requests every file accepts are handled
// here (FIONBIO, FIOASYNC, FIOCLEX, FIONCLEX, and for regular files FIONREAD,
// FIGETBSZ and FIOQSIZE when the file does not answer them itself); the rest go to
// the file.
func Ioctl(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	fd, cmd, arg := args[0].Int(), args[1].Uint(), args[2].Pointer()
	f, err := getFD(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if isOPath(f) {
		return 0, linux.EBADF
	}
	switch cmd {
	case linux.FIOCLEX, linux.FIONCLEX:
		return 0, t.FDTable().SetFlags(fd, kernel.FDFlags{CloseOnExec: cmd == linux.FIOCLEX})
	case linux.FIONBIO, linux.FIOASYNC:
		v, err := t.CopyInUint32(arg)
		if err != nil {
			return 0, err
		}
		bit := uint32(linux.O_NONBLOCK)
		if cmd == linux.FIOASYNC {
			bit = linux.O_ASYNC
		}
		flags := f.StatusFlags() &^ bit
		if v != 0 {
			flags |= bit
		}
		return 0, f.SetStatusFlags(t, t.Credentials(), flags)
	}
	ret, err := f.Ioctl(t, t.MemoryManager(), cmd, arg)
	if err != linux.ENOTTY {
		return ret, err
	}
	return fileIoctl(t, f, cmd, arg)
}

// fileIoctl answers the requests Linux's do_vfs_ioctl answers for regular files
// and directories (file_ioctl) when their implementation does not.
func fileIoctl(t *kernel.Task, f *vfs.FileDescription, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case linux.FIONREAD, linux.FIGETBSZ, linux.FIOQSIZE:
	default:
		return 0, linux.ENOTTY
	}
	st, err := f.Stat(t, vfs.StatOptions{Mask: linux.STATX_TYPE | linux.STATX_SIZE})
	if err != nil {
		return 0, err
	}
	typ := st.Mode & linux.S_IFMT
	switch cmd {
	case linux.FIONREAD:
		if typ != linux.S_IFREG {
			return 0, linux.ENOTTY
		}
		pos, err := f.Seek(t, 0, linux.SEEK_CUR)
		if err != nil {
			return 0, err
		}
		n := int64(st.Size) - pos
		if n < 0 {
			n = 0
		}
		return 0, t.CopyOutUint32(arg, uint32(min(n, 0x7fffffff)))
	case linux.FIGETBSZ:
		return 0, t.CopyOutUint32(arg, st.Blksize)
	default: // FIOQSIZE
		if typ != linux.S_IFREG && typ != linux.S_IFDIR && typ != linux.S_IFLNK {
			return 0, linux.ENOTTY
		}
		return 0, t.CopyOutUint64(arg, st.Size)
	}
}
