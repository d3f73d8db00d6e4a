package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// xattrTarget is the file an extended attribute call works on: an open file, or a
// path.
type xattrTarget struct {
	f   *vfs.FileDescription
	pop *vfs.PathOperation
}

func (x *xattrTarget) release() {
	if x.f != nil {
		x.f.DecRef()
	}
	if x.pop != nil {
		kernel.ReleasePathOperation(x.pop)
	}
}

// xattrFD returns the target of the f*xattr calls.
func xattrFD(t *kernel.Task, fd int32) (*xattrTarget, error) {
	f, err := getFD(t, fd)
	if err != nil {
		return nil, err
	}
	return &xattrTarget{f: f}, nil
}

// xattrPath returns the target of the path and *xattrat calls.
func xattrPath(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32) (*xattrTarget, error) {
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return nil, linux.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return nil, err
	}
	if path == "" && flags&linux.AT_EMPTY_PATH != 0 && dirfd != linux.AT_FDCWD {
		return xattrFD(t, dirfd)
	}
	pop, err := pathOp(t, dirfd, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return nil, err
	}
	return &xattrTarget{pop: pop}, nil
}

// copyInXattrName reads an attribute name: ERANGE if empty or longer than
// XATTR_NAME_MAX.
func copyInXattrName(t *kernel.Task, addr uintptr) (string, error) {
	name, err := t.CopyInString(addr, linux.XATTR_NAME_MAX)
	if err == linux.ENAMETOOLONG {
		return "", linux.ERANGE
	}
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", linux.ERANGE
	}
	return name, nil
}

func (x *xattrTarget) get(t *kernel.Task, name string, size uint64) (string, error) {
	opts := &vfs.GetXattrOptions{Name: name, Size: min(size, linux.XATTR_SIZE_MAX)}
	if x.f != nil {
		return x.f.GetXattr(t, opts)
	}
	return vfsOf(t).GetXattrAt(t, t.Credentials(), x.pop, opts)
}

func (x *xattrTarget) set(t *kernel.Task, opts *vfs.SetXattrOptions) error {
	if x.f != nil {
		return x.f.SetXattr(t, opts)
	}
	return vfsOf(t).SetXattrAt(t, t.Credentials(), x.pop, opts)
}

func (x *xattrTarget) list(t *kernel.Task, size uint64) ([]string, error) {
	if x.f != nil {
		return x.f.ListXattr(t, size)
	}
	return vfsOf(t).ListXattrAt(t, t.Credentials(), x.pop, size)
}

func (x *xattrTarget) remove(t *kernel.Task, name string) error {
	if x.f != nil {
		return x.f.RemoveXattr(t, name)
	}
	return vfsOf(t).RemoveXattrAt(t, t.Credentials(), x.pop, name)
}

func doGetxattr(t *kernel.Task, x *xattrTarget, err error, nameAddr, valueAddr uintptr, size uint64) (uintptr, error) {
	if err != nil {
		return 0, err
	}
	defer x.release()
	name, err := copyInXattrName(t, nameAddr)
	if err != nil {
		return 0, err
	}
	val, err := x.get(t, name, size)
	if err != nil {
		return 0, err
	}
	if size == 0 {
		return uintptr(len(val)), nil
	}
	if uint64(len(val)) > size {
		return 0, linux.ERANGE
	}
	if _, err := t.CopyOutBytes(valueAddr, []byte(val)); err != nil {
		return 0, err
	}
	return uintptr(len(val)), nil
}

func doSetxattr(t *kernel.Task, x *xattrTarget, err error, nameAddr, valueAddr uintptr, size uint64, flags uint32) (uintptr, error) {
	if err != nil {
		return 0, err
	}
	defer x.release()
	if flags&^(linux.XATTR_CREATE|linux.XATTR_REPLACE) != 0 {
		return 0, linux.EINVAL
	}
	name, err := copyInXattrName(t, nameAddr)
	if err != nil {
		return 0, err
	}
	if size > linux.XATTR_SIZE_MAX {
		return 0, linux.E2BIG
	}
	val := make([]byte, size)
	if _, err := t.CopyInBytes(valueAddr, val); err != nil {
		return 0, err
	}
	return 0, x.set(t, &vfs.SetXattrOptions{Name: name, Value: string(val), Flags: flags})
}

func doListxattr(t *kernel.Task, x *xattrTarget, err error, listAddr uintptr, size uint64) (uintptr, error) {
	if err != nil {
		return 0, err
	}
	defer x.release()
	size = min(size, linux.XATTR_LIST_MAX)
	names, err := x.list(t, size)
	if err != nil {
		return 0, err
	}
	var buf []byte
	for _, n := range names {
		buf = append(buf, n...)
		buf = append(buf, 0)
	}
	if size == 0 {
		if len(buf) > linux.XATTR_LIST_MAX {
			return 0, linux.E2BIG
		}
		return uintptr(len(buf)), nil
	}
	if uint64(len(buf)) > size {
		return 0, linux.ERANGE
	}
	if _, err := t.CopyOutBytes(listAddr, buf); err != nil {
		return 0, err
	}
	return uintptr(len(buf)), nil
}

func doRemovexattr(t *kernel.Task, x *xattrTarget, err error, nameAddr uintptr) (uintptr, error) {
	if err != nil {
		return 0, err
	}
	defer x.release()
	name, err := copyInXattrName(t, nameAddr)
	if err != nil {
		return 0, err
	}
	return 0, x.remove(t, name)
}

// Getxattr implements getxattr(2).
func Getxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), 0)
	return doGetxattr(t, x, err, args[1].Pointer(), args[2].Pointer(), args[3].Uint64())
}

// Lgetxattr implements lgetxattr(2).
func Lgetxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), linux.AT_SYMLINK_NOFOLLOW)
	return doGetxattr(t, x, err, args[1].Pointer(), args[2].Pointer(), args[3].Uint64())
}

// Fgetxattr implements fgetxattr(2).
func Fgetxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrFD(t, args[0].Int())
	return doGetxattr(t, x, err, args[1].Pointer(), args[2].Pointer(), args[3].Uint64())
}

// Setxattr implements setxattr(2).
func Setxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), 0)
	return doSetxattr(t, x, err, args[1].Pointer(), args[2].Pointer(), args[3].Uint64(), args[4].Uint())
}

// Lsetxattr implements lsetxattr(2).
func Lsetxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), linux.AT_SYMLINK_NOFOLLOW)
	return doSetxattr(t, x, err, args[1].Pointer(), args[2].Pointer(), args[3].Uint64(), args[4].Uint())
}

// Fsetxattr implements fsetxattr(2).
func Fsetxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrFD(t, args[0].Int())
	return doSetxattr(t, x, err, args[1].Pointer(), args[2].Pointer(), args[3].Uint64(), args[4].Uint())
}

// Listxattr implements listxattr(2).
func Listxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), 0)
	return doListxattr(t, x, err, args[1].Pointer(), args[2].Uint64())
}

// Llistxattr implements llistxattr(2).
func Llistxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), linux.AT_SYMLINK_NOFOLLOW)
	return doListxattr(t, x, err, args[1].Pointer(), args[2].Uint64())
}

// Flistxattr implements flistxattr(2).
func Flistxattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrFD(t, args[0].Int())
	return doListxattr(t, x, err, args[1].Pointer(), args[2].Uint64())
}

// Removexattr implements removexattr(2).
func Removexattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), 0)
	return doRemovexattr(t, x, err, args[1].Pointer())
}

// Lremovexattr implements lremovexattr(2).
func Lremovexattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, linux.AT_FDCWD, args[0].Pointer(), linux.AT_SYMLINK_NOFOLLOW)
	return doRemovexattr(t, x, err, args[1].Pointer())
}

// Fremovexattr implements fremovexattr(2).
func Fremovexattr(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrFD(t, args[0].Int())
	return doRemovexattr(t, x, err, args[1].Pointer())
}

// xattrArgs is struct xattr_args, the argument of setxattrat(2) and getxattrat(2).
type xattrArgs struct {
	Value uint64
	Size  uint32
	Flags uint32
}

// copyInXattrArgs reads struct xattr_args of usize bytes, which must be at least
// its first version's size; later versions' extra bytes must be zero.
func copyInXattrArgs(t *kernel.Task, addr uintptr, usize uint64) (xattrArgs, error) {
	const size0 = 16
	var a xattrArgs
	if usize < size0 {
		return a, linux.EINVAL
	}
	if usize > 4096 {
		return a, linux.E2BIG
	}
	raw := make([]byte, usize)
	if _, err := t.CopyInBytes(addr, raw); err != nil {
		return a, linux.EFAULT
	}
	for _, b := range raw[size0:] {
		if b != 0 {
			return a, linux.E2BIG
		}
	}
	err := t.CopyInStruct(addr, &a)
	return a, err
}

// Setxattrat implements setxattrat(2).
func Setxattrat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	a, err := copyInXattrArgs(t, args[4].Pointer(), args[5].Uint64())
	if err != nil {
		return 0, err
	}
	x, err := xattrPath(t, args[0].Int(), args[1].Pointer(), args[2].Uint())
	return doSetxattr(t, x, err, args[3].Pointer(), uintptr(a.Value), uint64(a.Size), a.Flags)
}

// Getxattrat implements getxattrat(2).
func Getxattrat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	a, err := copyInXattrArgs(t, args[4].Pointer(), args[5].Uint64())
	if err != nil {
		return 0, err
	}
	if a.Flags != 0 {
		return 0, linux.EINVAL
	}
	x, err := xattrPath(t, args[0].Int(), args[1].Pointer(), args[2].Uint())
	return doGetxattr(t, x, err, args[3].Pointer(), uintptr(a.Value), uint64(a.Size))
}

// Listxattrat implements listxattrat(2).
func Listxattrat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, args[0].Int(), args[1].Pointer(), args[2].Uint())
	return doListxattr(t, x, err, args[3].Pointer(), args[4].Uint64())
}

// Removexattrat implements removexattrat(2).
func Removexattrat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	x, err := xattrPath(t, args[0].Int(), args[1].Pointer(), args[2].Uint())
	return doRemovexattr(t, x, err, args[3].Pointer())
}
