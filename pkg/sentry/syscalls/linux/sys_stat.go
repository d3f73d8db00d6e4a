package linux

import (
	"bytes"
	"encoding/binary"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// statPath returns the status of path relative to dirfd; an empty path with
// AT_EMPTY_PATH names dirfd's file itself, which is asked directly, so that files
// without a path (pipes, sockets) answer too.
func statPath(t *kernel.Task, dirfd int32, path string, flags uint32, mask uint32) (linux.Statx, error) {
	opts := vfs.StatOptions{Mask: mask, Sync: flags & linux.AT_STATX_SYNC_TYPE}
	if path == "" && flags&linux.AT_EMPTY_PATH != 0 && dirfd != linux.AT_FDCWD {
		f, err := getFD(t, dirfd)
		if err != nil {
			return linux.Statx{}, err
		}
		defer f.DecRef()
		return f.Stat(t, opts)
	}
	pop, err := pathOp(t, dirfd, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return linux.Statx{}, err
	}
	defer kernel.ReleasePathOperation(pop)
	return vfsOf(t).StatAt(t, t.Credentials(), pop, &opts)
}

// statFromStatx converts statx(2)'s result to struct stat.
func statFromStatx(sx *linux.Statx) linux.Stat {
	return linux.Stat{
		Dev:     linux.MakeDeviceID(sx.DevMajor, sx.DevMinor),
		Ino:     sx.Ino,
		Nlink:   uint64(sx.Nlink),
		Mode:    uint32(sx.Mode),
		UID:     sx.UID,
		GID:     sx.GID,
		Rdev:    linux.MakeDeviceID(sx.RdevMajor, sx.RdevMinor),
		Size:    int64(sx.Size),
		Blksize: int64(sx.Blksize),
		Blocks:  int64(sx.Blocks),
		ATime:   linux.Timespec{Sec: sx.Atime.Sec, Nsec: int64(sx.Atime.Nsec)},
		MTime:   linux.Timespec{Sec: sx.Mtime.Sec, Nsec: int64(sx.Mtime.Nsec)},
		CTime:   linux.Timespec{Sec: sx.Ctime.Sec, Nsec: int64(sx.Ctime.Nsec)},
	}
}

// userStatx converts the kernel IDs in a filesystem's statx to the caller's
// namespace.
func userStatx(t *kernel.Task, sx *linux.Statx) {
	ns := t.Credentials().UserNamespace
	sx.UID = uint32(ns.MapFromKUID(auth.KUID(sx.UID)))
	sx.GID = uint32(ns.MapFromKGID(auth.KGID(sx.GID)))
}

func copyOutStat(t *kernel.Task, addr uintptr, sx linux.Statx) error {
	userStatx(t, &sx)
	st := statFromStatx(&sx)
	return t.CopyOutStruct(addr, &st)
}

func fstatat(t *kernel.Task, dirfd int32, pathAddr, statAddr uintptr, flags uint32) (uintptr, error) {
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH|linux.AT_NO_AUTOMOUNT) != 0 {
		return 0, linux.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	sx, err := statPath(t, dirfd, path, flags, linux.STATX_BASIC_STATS)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, statAddr, sx)
}

// Stat implements stat(2).
func Stat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return fstatat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Pointer(), 0)
}

// Lstat implements lstat(2).
func Lstat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return fstatat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Pointer(), linux.AT_SYMLINK_NOFOLLOW)
}

// Newfstatat implements newfstatat(2) (fstatat).
func Newfstatat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return fstatat(t, args[0].Int(), args[1].Pointer(), args[2].Pointer(), args[3].Uint())
}

// Fstat implements fstat(2).
func Fstat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	sx, err := f.Stat(t, vfs.StatOptions{Mask: linux.STATX_BASIC_STATS})
	if err != nil {
		return 0, err
	}
	return 0, copyOutStat(t, args[1].Pointer(), sx)
}

// statxFlags are the flags statx(2) accepts.
const statxFlags = linux.AT_SYMLINK_NOFOLLOW | linux.AT_EMPTY_PATH | linux.AT_NO_AUTOMOUNT | linux.AT_STATX_SYNC_TYPE

// checkStatx checks statx(2)'s flags and mask.
func checkStatx(flags, mask uint32) error {
	if flags&^statxFlags != 0 || flags&linux.AT_STATX_SYNC_TYPE == linux.AT_STATX_SYNC_TYPE {
		return linux.EINVAL
	}
	if mask&linux.STATX__RESERVED != 0 {
		return linux.EINVAL
	}
	return nil
}

// statxBytes lays sx out as statx(2) writes it: struct statx followed by zeroes
// up to its full size.
func statxBytes(sx *linux.Statx) []byte {
	var b bytes.Buffer
	b.Grow(linux.SizeOfStatxBuffer)
	_ = binary.Write(&b, binary.LittleEndian, sx)
	out := b.Bytes()
	return append(out, make([]byte, linux.SizeOfStatxBuffer-len(out))...)
}

// Statx implements statx(2). A NULL path with AT_EMPTY_PATH names dirfd, as since
// Linux 6.11.
func Statx(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	dirfd, pathAddr, flags, mask, bufAddr := args[0].Int(), args[1].Pointer(), args[2].Uint(), args[3].Uint(), args[4].Pointer()
	if err := checkStatx(flags, mask); err != nil {
		return 0, err
	}
	var path string
	if pathAddr != 0 || flags&linux.AT_EMPTY_PATH == 0 {
		var err error
		if path, err = copyInPath(t, pathAddr); err != nil {
			return 0, err
		}
	}
	sx, err := statPath(t, dirfd, path, flags, mask)
	if err != nil {
		return 0, err
	}
	userStatx(t, &sx)
	_, err = t.CopyOutBytes(bufAddr, statxBytes(&sx))
	return 0, err
}

// copyOutStatfs writes a struct statfs.
func copyOutStatfs(t *kernel.Task, addr uintptr, st linux.Statfs) error {
	return t.CopyOutStruct(addr, &st)
}

// Statfs implements statfs(2).
func Statfs(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	path, err := copyInPath(t, args[0].Pointer())
	if err != nil {
		return 0, err
	}
	pop, err := pathOp(t, linux.AT_FDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	st, err := vfsOf(t).StatFSAt(t, t.Credentials(), pop)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStatfs(t, args[1].Pointer(), st)
}

// Fstatfs implements fstatfs(2).
func Fstatfs(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	st, err := f.StatFS(t)
	if err != nil {
		return 0, err
	}
	return 0, copyOutStatfs(t, args[1].Pointer(), st)
}
