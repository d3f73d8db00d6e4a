package linux

import (
	"math"
	"strings"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/lock"
	"visor.dev/visor/pkg/waiter"
)

// copyInPath reads a path argument: ENAMETOOLONG if it has PATH_MAX bytes or more.
func copyInPath(t *kernel.Task, addr uintptr) (string, error) {
	return t.CopyInString(addr, linux.PATH_MAX-1)
}

// pathOp returns the path operation for path relative to dirfd. An empty path
// fails with ENOENT unless allowEmpty (AT_EMPTY_PATH).
func pathOp(t *kernel.Task, dirfd int32, path string, follow, allowEmpty bool) (*vfs.PathOperation, error) {
	if path == "" && !allowEmpty {
		return nil, linux.ENOENT
	}
	return t.PathOperation(dirfd, path, follow)
}

// vfsOf returns t's VFS.
func vfsOf(t *kernel.Task) *vfs.VirtualFilesystem { return t.Kernel().VFS() }

// fdLimit returns RLIMIT_NOFILE, the bound on descriptor numbers.
func fdLimit(t *kernel.Task) uint64 { return t.ThreadGroup().Limit(linux.RLIMIT_NOFILE).Cur }

// installFD puts f in t's table at the lowest free number and drops the caller's
// reference.
func installFD(t *kernel.Task, f *vfs.FileDescription, cloexec bool) (uintptr, error) {
	defer f.DecRef()
	fd, err := t.FDTable().NewFD(0, f, kernel.FDFlags{CloseOnExec: cloexec}, fdLimit(t))
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}

// openFlagsMask are the open(2) flags Linux knows (VALID_OPEN_FLAGS).
const openFlagsMask = linux.O_ACCMODE | linux.O_CREAT | linux.O_EXCL | linux.O_NOCTTY | linux.O_TRUNC |
	linux.O_APPEND | linux.O_NONBLOCK | linux.O_DSYNC | linux.O_ASYNC | linux.O_DIRECT | linux.O_LARGEFILE |
	linux.O_DIRECTORY | linux.O_NOFOLLOW | linux.O_NOATIME | linux.O_CLOEXEC | linux.O_SYNC | linux.O_PATH | linux.O_TMPFILE

// openPathFlags are the flags an O_PATH open keeps.
const openPathFlags = linux.O_PATH | linux.O_DIRECTORY | linux.O_NOFOLLOW | linux.O_CLOEXEC

// openModeFor returns the mode a file created by open gets: its permission bits,
// less the umask, when the flags create a file, otherwise 0.
func openModeFor(flags uint32, mode uint32, umask uint32) uint16 {
	if flags&linux.O_CREAT == 0 && flags&linux.O_TMPFILE != linux.O_TMPFILE {
		return 0
	}
	return uint16(mode & linux.PermissionsMask &^ umask)
}

// normalizeOpenFlags returns the flags open(2) passes on: unknown bits dropped,
// O_LARGEFILE implied, and for O_PATH only the flags that mean something to it.
func normalizeOpenFlags(flags uint32) uint32 {
	flags &= openFlagsMask
	if flags&linux.O_PATH != 0 {
		return flags & openPathFlags
	}
	return flags | linux.O_LARGEFILE
}

// openAt opens path relative to dirfd.
func openAt(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32, mode uint32) (uintptr, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	flags = normalizeOpenFlags(flags)
	return openPath(t, dirfd, path, flags, openModeFor(flags, mode, t.FSContext().Umask()), false)
}

// openPath opens path; inRoot resolves it with the starting directory as the
// root (RESOLVE_IN_ROOT).
func openPath(t *kernel.Task, dirfd int32, path string, flags uint32, mode uint16, inRoot bool) (uintptr, error) {
	if path == "" {
		return 0, linux.ENOENT
	}
	// With inRoot, dirfd is the root even for an absolute path, which otherwise
	// ignores it: take dirfd's directory as Start (an empty path always names it),
	// make it the root too, then put the path back.
	pathForStart := path
	if inRoot {
		pathForStart = ""
	}
	pop, err := pathOp(t, dirfd, pathForStart, flags&linux.O_NOFOLLOW == 0, true)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	if inRoot {
		pop.Start.IncRef()
		pop.Root.DecRef()
		pop.Root = pop.Start
		pop.Path = path
	}
	f, err := vfsOf(t).OpenAt(t, t.Credentials(), pop, &vfs.OpenOptions{Flags: flags, Mode: mode})
	if err != nil {
		return 0, interrupted(err)
	}
	return installFD(t, f, flags&linux.O_CLOEXEC != 0)
}

// Open implements open(2).
func Open(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return openAt(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Uint(), args[2].Uint())
}

// Openat implements openat(2).
func Openat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return openAt(t, args[0].Int(), args[1].Pointer(), args[2].Uint(), args[3].Uint())
}

// Creat implements creat(2).
func Creat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return openAt(t, linux.AT_FDCWD, args[0].Pointer(), linux.O_WRONLY|linux.O_CREAT|linux.O_TRUNC, args[1].Uint())
}

// memfd_create(2)'s flags (include/uapi/linux/memfd.h).
const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	mfdNoexecSeal   = 0x8
	mfdExec         = 0x10
	// mfdNameMax is the longest name: NAME_MAX less the "memfd:" prefix.
	mfdNameMax = linux.NAME_MAX - len("memfd:")
)

// MemfdCreate implements memfd_create(2): a tmpfs file with no path. Sealing is
// not supported: MFD_ALLOW_SEALING is accepted, but F_ADD_SEALS fails with EINVAL
// as on a file that does not allow it. MFD_HUGETLB fails with EINVAL, as on a
// kernel without hugetlbfs.
func MemfdCreate(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := args[1].Uint()
	if flags&^(mfdCloexec|mfdAllowSealing|mfdNoexecSeal|mfdExec) != 0 {
		return 0, linux.EINVAL
	}
	if flags&mfdExec != 0 && flags&mfdNoexecSeal != 0 {
		return 0, linux.EINVAL
	}
	name, err := t.CopyInString(args[0].Pointer(), mfdNameMax)
	if err == linux.ENAMETOOLONG {
		return 0, linux.EINVAL
	}
	if err != nil {
		return 0, err
	}
	perms := uint16(0o777)
	if flags&mfdNoexecSeal != 0 {
		perms &^= 0o111
	}
	f, err := tmpfs.NewMemfd(t, vfsOf(t), t.Credentials(), name, perms)
	if err != nil {
		return 0, err
	}
	return installFD(t, f, flags&mfdCloexec != 0)
}

// checkOpenHow checks openat2(2)'s struct open_how as build_open_flags does.
func checkOpenHow(how linux.OpenHow) error {
	if how.Flags&^uint64(openFlagsMask) != 0 {
		return linux.EINVAL
	}
	flags := uint32(how.Flags)
	creating := flags&linux.O_CREAT != 0 || flags&linux.O_TMPFILE == linux.O_TMPFILE
	if how.Mode&^linux.PermissionsMask != 0 || (!creating && how.Mode != 0) {
		return linux.EINVAL
	}
	const knownResolve = linux.RESOLVE_NO_XDEV | linux.RESOLVE_NO_MAGICLINKS | linux.RESOLVE_NO_SYMLINKS |
		linux.RESOLVE_BENEATH | linux.RESOLVE_IN_ROOT | linux.RESOLVE_CACHED
	if how.Resolve&^knownResolve != 0 {
		return linux.EINVAL
	}
	if how.Resolve&linux.RESOLVE_BENEATH != 0 && how.Resolve&linux.RESOLVE_IN_ROOT != 0 {
		return linux.EINVAL
	}
	if flags&linux.O_PATH != 0 && flags&^openPathFlags != 0 {
		return linux.EINVAL
	}
	if flags&linux.O_DIRECTORY != 0 && flags&linux.O_CREAT != 0 {
		return linux.EINVAL
	}
	return nil
}

// escapesLexically reports whether path, resolved lexically from a directory,
// names something outside it: an absolute path, or ".." above the start.
func escapesLexically(path string) bool {
	if strings.HasPrefix(path, "/") {
		return true
	}
	depth := 0
	for _, c := range strings.Split(path, "/") {
		switch c {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

// Openat2 implements openat2(2). RESOLVE_IN_ROOT is supported; RESOLVE_BENEATH
// rejects paths that leave the directory lexically, but not through symlinks;
// RESOLVE_NO_XDEV, RESOLVE_NO_SYMLINKS and RESOLVE_NO_MAGICLINKS are not supported
// (EINVAL) and RESOLVE_CACHED always asks for a retry without it (EAGAIN).
func Openat2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	dirfd := args[0].Int()
	howAddr := args[2].Pointer()
	size := args[3].Uint64()
	if size < linux.SizeOfOpenHow {
		return 0, linux.EINVAL
	}
	if size > 4096 {
		return 0, linux.E2BIG
	}
	raw := make([]byte, size)
	if _, err := t.CopyInBytes(howAddr, raw); err != nil {
		return 0, linux.EFAULT
	}
	for _, b := range raw[linux.SizeOfOpenHow:] {
		if b != 0 {
			return 0, linux.E2BIG
		}
	}
	var how linux.OpenHow
	if err := t.CopyInStruct(howAddr, &how); err != nil {
		return 0, err
	}
	if err := checkOpenHow(how); err != nil {
		return 0, err
	}
	path, err := copyInPath(t, args[1].Pointer())
	if err != nil {
		return 0, err
	}
	if how.Resolve&(linux.RESOLVE_NO_XDEV|linux.RESOLVE_NO_SYMLINKS|linux.RESOLVE_NO_MAGICLINKS) != 0 {
		return 0, linux.EINVAL
	}
	if how.Resolve&linux.RESOLVE_CACHED != 0 {
		return 0, linux.EAGAIN
	}
	flags := uint32(how.Flags)
	if flags&linux.O_PATH == 0 {
		flags |= linux.O_LARGEFILE
	}
	mode := uint16(how.Mode &^ uint64(t.FSContext().Umask()))
	beneath := how.Resolve&(linux.RESOLVE_IN_ROOT|linux.RESOLVE_BENEATH) != 0
	if how.Resolve&linux.RESOLVE_BENEATH != 0 && escapesLexically(path) {
		return 0, linux.EXDEV
	}
	return openPath(t, dirfd, path, flags, mode, beneath)
}

// fileLocks holds the advisory locks of every file of the sandbox.
var fileLocks = lock.NewTable()

// fileKey identifies f's file for the lock table.
func fileKey(t *kernel.Task, f *vfs.FileDescription) (lock.Key, error) {
	st, err := f.Stat(t, vfs.StatOptions{Mask: linux.STATX_INO})
	if err != nil {
		return lock.Key{}, err
	}
	return lock.Key{DevMajor: st.DevMajor, DevMinor: st.DevMinor, Ino: st.Ino}, nil
}

// closeFile drops a file t's table no longer holds: the process's POSIX locks on
// the file go with it, as filp_close does.
func closeFile(t *kernel.Task, f *vfs.FileDescription) {
	if fileLocks.Empty() {
		f.DecRef()
		return
	}
	if key, err := fileKey(t, f); err == nil {
		fileLocks.UnlockAllPOSIX(key, t.FDTable())
		f.DecRef()
		// The last reference may have gone, taking OFD and flock locks.
		fileLocks.Notify(key)
		return
	}
	f.DecRef()
}

// Close implements close(2).
func Close(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f := t.FDTable().Remove(args[0].Int())
	if f == nil {
		return 0, linux.EBADF
	}
	closeFile(t, f)
	return 0, nil
}

// CloseRange implements close_range(2). CLOSE_RANGE_UNSHARE does not unshare a
// table shared with another process.
func CloseRange(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	first, last, flags := args[0].Uint(), args[1].Uint(), args[2].Uint()
	if flags&^(linux.CLOSE_RANGE_UNSHARE|linux.CLOSE_RANGE_CLOEXEC) != 0 || first > last {
		return 0, linux.EINVAL
	}
	if first > math.MaxInt32 {
		return 0, nil
	}
	last = min(last, math.MaxInt32)
	for _, f := range t.FDTable().RemoveRange(int32(first), int32(last), flags&linux.CLOSE_RANGE_CLOEXEC != 0) {
		closeFile(t, f)
	}
	return 0, nil
}

// Dup implements dup(2).
func Dup(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	return installFD(t, f, false)
}

// dup3 puts oldfd's file at newfd, closing what was there.
func dup3(t *kernel.Task, oldfd, newfd int32, cloexec bool) (uintptr, error) {
	f, err := getFD(t, oldfd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	old, err := t.FDTable().SetFD(newfd, f, kernel.FDFlags{CloseOnExec: cloexec}, fdLimit(t))
	if err != nil {
		return 0, err
	}
	if old != nil {
		closeFile(t, old)
	}
	return uintptr(newfd), nil
}

// Dup2 implements dup2(2).
func Dup2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	oldfd, newfd := args[0].Int(), args[1].Int()
	if oldfd == newfd {
		f, err := getFD(t, oldfd)
		if err != nil {
			return 0, err
		}
		f.DecRef()
		return uintptr(newfd), nil
	}
	return dup3(t, oldfd, newfd, false)
}

// Dup3 implements dup3(2).
func Dup3(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	oldfd, newfd, flags := args[0].Int(), args[1].Int(), args[2].Uint()
	if flags&^linux.O_CLOEXEC != 0 || oldfd == newfd {
		return 0, linux.EINVAL
	}
	return dup3(t, oldfd, newfd, flags&linux.O_CLOEXEC != 0)
}

// pipeSizer is a file whose buffer fcntl(F_GETPIPE_SZ, F_SETPIPE_SZ) sizes.
type pipeSizer interface {
	PipeSize() int64
	SetPipeSize(ctx vfs.Context, size int64) (int64, error)
}

// Fcntl implements fcntl(2). Signal-driven I/O (F_SETOWN, F_SETSIG...), leases,
// directory notifications and file seals are not supported (EINVAL).
func Fcntl(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	fd, cmd := args[0].Int(), args[1].Int()
	fdt := t.FDTable()
	f, flags := fdt.Get(fd)
	if f == nil {
		return 0, linux.EBADF
	}
	defer f.DecRef()
	switch cmd {
	case linux.F_DUPFD, linux.F_DUPFD_CLOEXEC:
		minfd := args[2].Uint64()
		if minfd >= fdLimit(t) || minfd > math.MaxInt32 {
			return 0, linux.EINVAL
		}
		nfd, err := fdt.NewFD(int32(minfd), f, kernel.FDFlags{CloseOnExec: cmd == linux.F_DUPFD_CLOEXEC}, fdLimit(t))
		return uintptr(nfd), err
	case linux.F_GETFD:
		if flags.CloseOnExec {
			return linux.FD_CLOEXEC, nil
		}
		return 0, nil
	case linux.F_SETFD:
		return 0, fdt.SetFlags(fd, kernel.FDFlags{CloseOnExec: args[2].Uint()&linux.FD_CLOEXEC != 0})
	case linux.F_GETFL:
		return uintptr(f.StatusFlags()), nil
	}
	if isOPath(f) {
		return 0, linux.EBADF
	}
	switch cmd {
	case linux.F_SETFL:
		return 0, f.SetStatusFlags(t, t.Credentials(), args[2].Uint())
	case linux.F_GETLK, linux.F_SETLK, linux.F_SETLKW, linux.F_OFD_GETLK, linux.F_OFD_SETLK, linux.F_OFD_SETLKW:
		return 0, fcntlLock(t, f, cmd, args[2].Pointer())
	case linux.F_GETPIPE_SZ:
		p, ok := f.Impl().(pipeSizer)
		if !ok {
			return 0, linux.EBADF
		}
		return uintptr(p.PipeSize()), nil
	case linux.F_SETPIPE_SZ:
		p, ok := f.Impl().(pipeSizer)
		if !ok {
			return 0, linux.EBADF
		}
		size := args[2].Uint64()
		if size > math.MaxInt32 {
			return 0, linux.EINVAL
		}
		n, err := p.SetPipeSize(t, int64(size))
		return uintptr(n), err
	case linux.F_DUPFD_QUERY:
		g, _ := fdt.Get(args[2].Int())
		if g == nil {
			return 0, linux.EBADF
		}
		defer g.DecRef()
		if g == f {
			return 1, nil
		}
		return 0, nil
	case linux.F_GETLEASE:
		return linux.F_UNLCK, nil
	}
	return 0, linux.EINVAL
}

// lockRange turns a struct flock's range into the bytes it covers, as
// flock_to_posix_lock does.
func lockRange(whence int16, start, length, base int64) (lock.Range, error) {
	switch whence {
	case linux.SEEK_SET, linux.SEEK_CUR, linux.SEEK_END:
	default:
		return lock.Range{}, linux.EINVAL
	}
	if start > 0 && base > math.MaxInt64-start {
		return lock.Range{}, linux.EOVERFLOW
	}
	s := base + start
	if s < 0 {
		return lock.Range{}, linux.EINVAL
	}
	switch {
	case length > 0:
		if length-1 > math.MaxInt64-s {
			return lock.Range{}, linux.EOVERFLOW
		}
		return lock.Range{Start: uint64(s), End: uint64(s + length)}, nil
	case length == 0:
		return lock.Range{Start: uint64(s), End: lock.EOF}, nil
	default:
		if s+length < 0 {
			return lock.Range{}, linux.EINVAL
		}
		return lock.Range{Start: uint64(s + length), End: uint64(s)}, nil
	}
}

// lockWait is how lock operations wait: interruptibly, and for a bounded time
// before looking again, so that locks released by an exiting process are noticed.
func lockWait(t *kernel.Task) lock.Wait {
	return func(ch <-chan struct{}) error {
		_, err := t.BlockWithTimeout(ch, 20*time.Millisecond)
		if err == linux.ETIMEDOUT {
			return nil
		}
		if err != nil {
			return kernel.ERESTARTSYS
		}
		return nil
	}
}

// fdTableHolds reports whether fdt still has a descriptor of the file key. It
// runs on whichever task looks at the lock, so it stats with ctx, not a task.
func fdTableHolds(ctx vfs.Context, fdt *kernel.FDTable, key lock.Key) bool {
	for _, fd := range fdt.FDs() {
		f, _ := fdt.Get(fd)
		if f == nil {
			continue
		}
		st, err := f.Stat(ctx, vfs.StatOptions{Mask: linux.STATX_INO})
		k := lock.Key{DevMajor: st.DevMajor, DevMinor: st.DevMinor, Ino: st.Ino}
		f.DecRef()
		if err == nil && k == key {
			return true
		}
	}
	return false
}

// fileAlive returns a liveness check of an open file description: it is alive
// while anything holds a reference to it.
func fileAlive(f *vfs.FileDescription) func() bool {
	return func() bool {
		if !f.TryIncRef() {
			return false
		}
		f.DecRef()
		return true
	}
}

// fcntlLock runs the record-lock commands of fcntl(2).
func fcntlLock(t *kernel.Task, f *vfs.FileDescription, cmd int32, addr uintptr) error {
	var fl linux.Flock
	if err := t.CopyInStruct(addr, &fl); err != nil {
		return err
	}
	ofd := cmd == linux.F_OFD_GETLK || cmd == linux.F_OFD_SETLK || cmd == linux.F_OFD_SETLKW
	if ofd && fl.PID != 0 {
		return linux.EINVAL
	}
	var typ lock.Type
	switch fl.Type {
	case linux.F_RDLCK:
		typ = lock.Read
	case linux.F_WRLCK:
		typ = lock.Write
	case linux.F_UNLCK:
		typ = lock.Unlock
	default:
		return linux.EINVAL
	}
	var base int64
	switch fl.Whence {
	case linux.SEEK_CUR:
		off, err := f.Seek(t, 0, linux.SEEK_CUR)
		if err != nil {
			return err
		}
		base = off
	case linux.SEEK_END:
		st, err := f.Stat(t, vfs.StatOptions{Mask: linux.STATX_SIZE})
		if err != nil {
			return err
		}
		base = int64(st.Size)
	}
	rng, err := lockRange(fl.Whence, fl.Start, fl.Len, base)
	if err != nil {
		return err
	}
	key, err := fileKey(t, f)
	if err != nil {
		return err
	}
	var owner lock.Owner
	if ofd {
		owner = lock.Owner{ID: f, PID: -1, Alive: fileAlive(f)}
	} else {
		fdt := t.FDTable()
		ctx := vfs.NewContext(t.Credentials(), waiter.UninterruptibleBlocker{})
		owner = lock.Owner{ID: fdt, PID: int32(t.ThreadGroupID()), Alive: func() bool { return fdTableHolds(ctx, fdt, key) }}
	}
	switch cmd {
	case linux.F_GETLK, linux.F_OFD_GETLK:
		if typ == lock.Unlock {
			return linux.EINVAL
		}
		r, found := fileLocks.TestPOSIX(key, owner, typ, rng)
		if !found {
			fl.Type = linux.F_UNLCK
		} else {
			fl.Type = linux.F_RDLCK
			if r.Type == lock.Write {
				fl.Type = linux.F_WRLCK
			}
			fl.Whence = linux.SEEK_SET
			fl.Start = int64(r.Range.Start)
			fl.Len = 0
			if r.Range.End != lock.EOF {
				fl.Len = int64(r.Range.End - r.Range.Start)
			}
			fl.PID = r.Owner.PID
		}
		return t.CopyOutStruct(addr, &fl)
	}
	if typ == lock.Read && !f.IsReadable() || typ == lock.Write && !f.IsWritable() {
		return linux.EBADF
	}
	var wait lock.Wait
	if cmd == linux.F_SETLKW || cmd == linux.F_OFD_SETLKW {
		wait = lockWait(t)
	}
	return fileLocks.LockPOSIX(key, owner, typ, rng, wait, !ofd)
}

// Flock implements flock(2).
func Flock(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if isOPath(f) {
		return 0, linux.EBADF
	}
	op := args[1].Int()
	var typ lock.Type
	switch op &^ linux.LOCK_NB {
	case linux.LOCK_SH:
		typ = lock.Read
	case linux.LOCK_EX:
		typ = lock.Write
	case linux.LOCK_UN:
		typ = lock.Unlock
	default:
		return 0, linux.EINVAL
	}
	key, err := fileKey(t, f)
	if err != nil {
		return 0, err
	}
	var wait lock.Wait
	if op&linux.LOCK_NB == 0 {
		wait = lockWait(t)
	}
	return 0, fileLocks.Flock(key, lock.Owner{ID: f, PID: int32(t.ThreadGroupID()), Alive: fileAlive(f)}, typ, wait)
}

// Chdir implements chdir(2).
func Chdir(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	path, err := copyInPath(t, args[0].Pointer())
	if err != nil {
		return 0, err
	}
	pop, err := pathOp(t, linux.AT_FDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	vd, err := vfsOf(t).GetDentryAt(t, t.Credentials(), pop, &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return 0, err
	}
	t.FSContext().SetWorkingDirectory(vd)
	vd.DecRef()
	return 0, nil
}

// Fchdir implements fchdir(2).
func Fchdir(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pop, err := t.PathOperation(args[0].Int(), "", true)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	vd, err := vfsOf(t).GetDentryAt(t, t.Credentials(), pop, &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return 0, err
	}
	t.FSContext().SetWorkingDirectory(vd)
	vd.DecRef()
	return 0, nil
}

// Getcwd implements getcwd(2).
func Getcwd(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	fs := t.FSContext()
	root := fs.RootDirectory()
	defer root.DecRef()
	cwd := fs.WorkingDirectory()
	defer cwd.DecRef()
	s, err := vfsOf(t).PathnameForGetcwd(t, root, cwd)
	if err != nil {
		return 0, err
	}
	b := append([]byte(s), 0)
	if uint64(len(b)) > args[1].Uint64() {
		return 0, linux.ERANGE
	}
	if _, err := t.CopyOutBytes(args[0].Pointer(), b); err != nil {
		return 0, err
	}
	return uintptr(len(b)), nil
}

// Chroot implements chroot(2).
func Chroot(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	path, err := copyInPath(t, args[0].Pointer())
	if err != nil {
		return 0, err
	}
	pop, err := pathOp(t, linux.AT_FDCWD, path, true, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	vd, err := vfsOf(t).GetDentryAt(t, t.Credentials(), pop, &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		return 0, err
	}
	// As Linux, the path is checked before the capability.
	if !t.Credentials().HasCapability(linux.CAP_SYS_CHROOT) {
		vd.DecRef()
		return 0, linux.EPERM
	}
	t.FSContext().SetRootDirectory(vd)
	vd.DecRef()
	return 0, nil
}

// Umask implements umask(2).
func Umask(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.FSContext().SwapUmask(args[0].Uint() & 0o777)), nil
}

// accessCredentials returns the credentials access(2) checks with: the real user
// and group IDs as filesystem IDs, and the capabilities of root only if the real
// user is root (do_faccessat's override_creds).
func accessCredentials(c *auth.Credentials) *auth.Credentials {
	nc := c.Fork()
	nc.FSKUID = c.RealKUID
	nc.FSKGID = c.RealKGID
	if c.RealKUID != auth.RootKUID {
		nc.EffectiveCaps = 0
	} else {
		nc.EffectiveCaps = c.PermittedCaps
	}
	return nc
}

// faccessat checks access to path.
func faccessat(t *kernel.Task, dirfd int32, pathAddr uintptr, mode uint32, flags uint32) (uintptr, error) {
	const (
		rOK = 4
		wOK = 2
		xOK = 1
	)
	if mode&^(rOK|wOK|xOK) != 0 {
		return 0, linux.EINVAL
	}
	if flags&^(linux.AT_EACCESS|linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, err := pathOp(t, dirfd, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	creds := t.Credentials()
	if flags&linux.AT_EACCESS == 0 {
		creds = accessCredentials(creds)
	}
	var ats auth.AccessTypes
	if mode&rOK != 0 {
		ats |= auth.MayRead
	}
	if mode&wOK != 0 {
		ats |= auth.MayWrite
	}
	if mode&xOK != 0 {
		ats |= auth.MayExec
	}
	return 0, vfsOf(t).AccessAt(t, creds, ats, pop)
}

// Access implements access(2).
func Access(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return faccessat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Uint(), 0)
}

// Faccessat implements faccessat(2), which has no flags argument.
func Faccessat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return faccessat(t, args[0].Int(), args[1].Pointer(), args[2].Uint(), 0)
}

// Faccessat2 implements faccessat2(2).
func Faccessat2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return faccessat(t, args[0].Int(), args[1].Pointer(), args[2].Uint(), args[3].Uint())
}

func mkdirat(t *kernel.Task, dirfd int32, pathAddr uintptr, mode uint32) (uintptr, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	m := uint16(mode & (0o777 | linux.S_ISVTX) &^ t.FSContext().Umask())
	return 0, vfsOf(t).MkdirAt(t, t.Credentials(), pop, &vfs.MkdirOptions{Mode: m})
}

// Mkdir implements mkdir(2).
func Mkdir(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return mkdirat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Uint())
}

// Mkdirat implements mkdirat(2).
func Mkdirat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return mkdirat(t, args[0].Int(), args[1].Pointer(), args[2].Uint())
}

func mknodat(t *kernel.Task, dirfd int32, pathAddr uintptr, mode uint32, dev uint32) (uintptr, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	pop, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	typ := mode & linux.S_IFMT
	perm := mode & linux.PermissionsMask &^ t.FSContext().Umask()
	major, minor := linux.DecodeDeviceID(dev)
	return 0, vfsOf(t).MknodAt(t, t.Credentials(), pop, &vfs.MknodOptions{Mode: uint16(typ | perm), DevMajor: major, DevMinor: minor})
}

// Mknod implements mknod(2).
func Mknod(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return mknodat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Uint(), args[2].Uint())
}

// Mknodat implements mknodat(2).
func Mknodat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return mknodat(t, args[0].Int(), args[1].Pointer(), args[2].Uint(), args[3].Uint())
}

func rmdirat(t *kernel.Task, dirfd int32, path string) (uintptr, error) {
	pop, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	return 0, vfsOf(t).RmdirAt(t, t.Credentials(), pop)
}

func unlinkat(t *kernel.Task, dirfd int32, path string) (uintptr, error) {
	pop, err := pathOp(t, dirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	return 0, vfsOf(t).UnlinkAt(t, t.Credentials(), pop)
}

// Rmdir implements rmdir(2).
func Rmdir(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	path, err := copyInPath(t, args[0].Pointer())
	if err != nil {
		return 0, err
	}
	return rmdirat(t, linux.AT_FDCWD, path)
}

// Unlink implements unlink(2).
func Unlink(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	path, err := copyInPath(t, args[0].Pointer())
	if err != nil {
		return 0, err
	}
	return unlinkat(t, linux.AT_FDCWD, path)
}

// Unlinkat implements unlinkat(2).
func Unlinkat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := args[2].Uint()
	if flags&^linux.AT_REMOVEDIR != 0 {
		return 0, linux.EINVAL
	}
	path, err := copyInPath(t, args[1].Pointer())
	if err != nil {
		return 0, err
	}
	if flags&linux.AT_REMOVEDIR != 0 {
		return rmdirat(t, args[0].Int(), path)
	}
	return unlinkat(t, args[0].Int(), path)
}

func linkat(t *kernel.Task, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) (uintptr, error) {
	if flags&^(linux.AT_SYMLINK_FOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	if flags&linux.AT_EMPTY_PATH != 0 && !t.Credentials().HasCapability(linux.CAP_DAC_READ_SEARCH) {
		return 0, linux.ENOENT
	}
	oldPath, err := copyInPath(t, oldAddr)
	if err != nil {
		return 0, err
	}
	newPath, err := copyInPath(t, newAddr)
	if err != nil {
		return 0, err
	}
	oldpop, err := pathOp(t, olddirfd, oldPath, flags&linux.AT_SYMLINK_FOLLOW != 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(oldpop)
	newpop, err := pathOp(t, newdirfd, newPath, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(newpop)
	return 0, vfsOf(t).LinkAt(t, t.Credentials(), oldpop, newpop)
}

// Link implements link(2).
func Link(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return linkat(t, linux.AT_FDCWD, args[0].Pointer(), linux.AT_FDCWD, args[1].Pointer(), 0)
}

// Linkat implements linkat(2).
func Linkat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return linkat(t, args[0].Int(), args[1].Pointer(), args[2].Int(), args[3].Pointer(), args[4].Uint())
}

func symlinkat(t *kernel.Task, targetAddr uintptr, newdirfd int32, linkAddr uintptr) (uintptr, error) {
	target, err := copyInPath(t, targetAddr)
	if err != nil {
		return 0, err
	}
	path, err := copyInPath(t, linkAddr)
	if err != nil {
		return 0, err
	}
	pop, err := pathOp(t, newdirfd, path, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	return 0, vfsOf(t).SymlinkAt(t, t.Credentials(), pop, target)
}

// Symlink implements symlink(2).
func Symlink(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return symlinkat(t, args[0].Pointer(), linux.AT_FDCWD, args[1].Pointer())
}

// Symlinkat implements symlinkat(2).
func Symlinkat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return symlinkat(t, args[0].Pointer(), args[1].Int(), args[2].Pointer())
}

func renameat(t *kernel.Task, olddirfd int32, oldAddr uintptr, newdirfd int32, newAddr uintptr, flags uint32) (uintptr, error) {
	oldPath, err := copyInPath(t, oldAddr)
	if err != nil {
		return 0, err
	}
	newPath, err := copyInPath(t, newAddr)
	if err != nil {
		return 0, err
	}
	oldpop, err := pathOp(t, olddirfd, oldPath, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(oldpop)
	newpop, err := pathOp(t, newdirfd, newPath, false, false)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(newpop)
	return 0, vfsOf(t).RenameAt(t, t.Credentials(), oldpop, newpop, &vfs.RenameOptions{Flags: flags})
}

// Rename implements rename(2).
func Rename(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return renameat(t, linux.AT_FDCWD, args[0].Pointer(), linux.AT_FDCWD, args[1].Pointer(), 0)
}

// Renameat implements renameat(2).
func Renameat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return renameat(t, args[0].Int(), args[1].Pointer(), args[2].Int(), args[3].Pointer(), 0)
}

// Renameat2 implements renameat2(2). RENAME_WHITEOUT is left to the filesystem.
func Renameat2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return renameat(t, args[0].Int(), args[1].Pointer(), args[2].Int(), args[3].Pointer(), args[4].Uint())
}

func readlinkat(t *kernel.Task, dirfd int32, pathAddr, bufAddr uintptr, size int32) (uintptr, error) {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	if size <= 0 {
		return 0, linux.EINVAL
	}
	// An empty path names dirfd itself, which must then be a symlink (opened
	// with O_PATH|O_NOFOLLOW).
	pop, err := pathOp(t, dirfd, path, false, dirfd != linux.AT_FDCWD)
	if err != nil {
		return 0, err
	}
	defer kernel.ReleasePathOperation(pop)
	target, err := vfsOf(t).ReadlinkAt(t, t.Credentials(), pop)
	if err != nil {
		if path == "" && err == linux.EINVAL {
			return 0, linux.ENOENT
		}
		return 0, err
	}
	b := []byte(target)
	if len(b) > int(size) {
		b = b[:size]
	}
	n, err := t.CopyOutBytes(bufAddr, b)
	if err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// Readlink implements readlink(2).
func Readlink(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return readlinkat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Pointer(), args[2].Int())
}

// Readlinkat implements readlinkat(2).
func Readlinkat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return readlinkat(t, args[0].Int(), args[1].Pointer(), args[2].Pointer(), args[3].Int())
}

// setStatAt changes the status of the file path names relative to dirfd, or of
// dirfd itself for an empty path with AT_EMPTY_PATH.
func setStatAt(t *kernel.Task, dirfd int32, pathAddr uintptr, flags uint32, opts *vfs.SetStatOptions) error {
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return err
	}
	return setStatPath(t, dirfd, path, flags, opts)
}

func setStatPath(t *kernel.Task, dirfd int32, path string, flags uint32, opts *vfs.SetStatOptions) error {
	if path == "" && flags&linux.AT_EMPTY_PATH != 0 && dirfd != linux.AT_FDCWD {
		f, err := getFD(t, dirfd)
		if err != nil {
			return err
		}
		defer f.DecRef()
		if isOPath(f) {
			// An O_PATH file's metadata changes at its dentry.
			pop, err := t.PathOperation(dirfd, "", false)
			if err != nil {
				return err
			}
			defer kernel.ReleasePathOperation(pop)
			return vfsOf(t).SetStatAt(t, t.Credentials(), pop, opts)
		}
		return f.SetStat(t, *opts)
	}
	pop, err := pathOp(t, dirfd, path, flags&linux.AT_SYMLINK_NOFOLLOW == 0, flags&linux.AT_EMPTY_PATH != 0)
	if err != nil {
		return err
	}
	defer kernel.ReleasePathOperation(pop)
	return vfsOf(t).SetStatAt(t, t.Credentials(), pop, opts)
}

// setStatFD changes the status of the file fd refers to; O_PATH files refuse.
func setStatFD(t *kernel.Task, fd int32, opts *vfs.SetStatOptions) error {
	f, err := getFD(t, fd)
	if err != nil {
		return err
	}
	defer f.DecRef()
	if isOPath(f) {
		return linux.EBADF
	}
	return f.SetStat(t, *opts)
}

func modeOpts(mode uint32) *vfs.SetStatOptions {
	return &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: uint16(mode & linux.PermissionsMask)}}
}

// Chmod implements chmod(2).
func Chmod(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, setStatAt(t, linux.AT_FDCWD, args[0].Pointer(), 0, modeOpts(args[1].Uint()))
}

// Fchmod implements fchmod(2).
func Fchmod(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, setStatFD(t, args[0].Int(), modeOpts(args[1].Uint()))
}

// Fchmodat implements fchmodat(2), which has no flags argument.
func Fchmodat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, setStatAt(t, args[0].Int(), args[1].Pointer(), 0, modeOpts(args[2].Uint()))
}

// Fchmodat2 implements fchmodat2(2). Symlinks have no mode of their own: with
// AT_SYMLINK_NOFOLLOW a symlink fails with EOPNOTSUPP, as on Linux.
func Fchmodat2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	dirfd, flags := args[0].Int(), args[3].Uint()
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	path, err := copyInPath(t, args[1].Pointer())
	if err != nil {
		return 0, err
	}
	if flags&linux.AT_SYMLINK_NOFOLLOW != 0 {
		st, err := statPath(t, dirfd, path, flags, linux.STATX_TYPE)
		if err != nil {
			return 0, err
		}
		if st.Mode&linux.S_IFMT == linux.S_IFLNK {
			return 0, linux.EOPNOTSUPP
		}
	}
	return 0, setStatPath(t, dirfd, path, flags, modeOpts(args[2].Uint()))
}

// chownOpts returns the change chown(2) asks for; -1 leaves an ID alone.
func chownOpts(t *kernel.Task, uid, gid uint32) (*vfs.SetStatOptions, error) {
	opts := &vfs.SetStatOptions{}
	c := t.Credentials()
	if uid != math.MaxUint32 {
		kuid, err := c.UseUID(auth.UID(uid))
		if err != nil {
			return nil, err
		}
		opts.Stat.Mask |= linux.STATX_UID
		opts.Stat.UID = uint32(kuid)
	}
	if gid != math.MaxUint32 {
		kgid, err := c.UseGID(auth.GID(gid))
		if err != nil {
			return nil, err
		}
		opts.Stat.Mask |= linux.STATX_GID
		opts.Stat.GID = uint32(kgid)
	}
	return opts, nil
}

func fchownat(t *kernel.Task, dirfd int32, pathAddr uintptr, uid, gid, flags uint32) (uintptr, error) {
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	opts, err := chownOpts(t, uid, gid)
	if err != nil {
		return 0, err
	}
	return 0, setStatAt(t, dirfd, pathAddr, flags, opts)
}

// Chown implements chown(2).
func Chown(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return fchownat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Uint(), args[2].Uint(), 0)
}

// Lchown implements lchown(2).
func Lchown(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return fchownat(t, linux.AT_FDCWD, args[0].Pointer(), args[1].Uint(), args[2].Uint(), linux.AT_SYMLINK_NOFOLLOW)
}

// Fchownat implements fchownat(2).
func Fchownat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return fchownat(t, args[0].Int(), args[1].Pointer(), args[2].Uint(), args[3].Uint(), args[4].Uint())
}

// Fchown implements fchown(2).
func Fchown(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	opts, err := chownOpts(t, args[1].Uint(), args[2].Uint())
	if err != nil {
		return 0, err
	}
	return 0, setStatFD(t, args[0].Int(), opts)
}

// Truncate implements truncate(2).
func Truncate(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	length := args[1].Int64()
	if length < 0 {
		return 0, linux.EINVAL
	}
	opts := &vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE, Size: uint64(length)}, NeedWritePerm: true}
	return 0, setStatAt(t, linux.AT_FDCWD, args[0].Pointer(), 0, opts)
}

// Ftruncate implements ftruncate(2).
func Ftruncate(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	length := args[1].Int64()
	if length < 0 {
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
	if !f.IsWritable() {
		return 0, linux.EINVAL
	}
	return 0, f.SetStat(t, vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE, Size: uint64(length)}})
}

// Fallocate implements fallocate(2).
func Fallocate(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	mode, offset, length := args[1].Uint64()&math.MaxUint32, args[2].Int64(), args[3].Int64()
	if offset < 0 || length <= 0 {
		return 0, linux.EINVAL
	}
	if isOPath(f) || !f.IsWritable() {
		return 0, linux.EBADF
	}
	if offset > math.MaxInt64-length {
		return 0, linux.EFBIG
	}
	return 0, f.Allocate(t, mode, uint64(offset), uint64(length))
}

// utimeSpec is one of the two times the utime calls set.
type utimeSpec struct {
	sec, nsec int64
}

// timesOpts returns the change the utime calls ask for; nil times means now.
func timesOpts(times *[2]utimeSpec) (*vfs.SetStatOptions, error) {
	opts := &vfs.SetStatOptions{}
	if times == nil {
		times = &[2]utimeSpec{{nsec: linux.UTIME_NOW}, {nsec: linux.UTIME_NOW}}
	}
	for i, ts := range times {
		if ts.nsec != linux.UTIME_NOW && ts.nsec != linux.UTIME_OMIT && (ts.nsec < 0 || ts.nsec >= 1e9) {
			return nil, linux.EINVAL
		}
		if ts.nsec == linux.UTIME_OMIT {
			continue
		}
		sts := linux.StatxTimestamp{Sec: ts.sec, Nsec: uint32(ts.nsec)}
		if i == 0 {
			opts.Stat.Mask |= linux.STATX_ATIME
			opts.Stat.Atime = sts
		} else {
			opts.Stat.Mask |= linux.STATX_MTIME
			opts.Stat.Mtime = sts
		}
	}
	return opts, nil
}

// utimes sets the times of a file by path (or dirfd itself with a nil path).
func utimes(t *kernel.Task, dirfd int32, pathAddr uintptr, times *[2]utimeSpec, flags uint32) (uintptr, error) {
	opts, err := timesOpts(times)
	if err != nil {
		return 0, err
	}
	if flags&^(linux.AT_SYMLINK_NOFOLLOW|linux.AT_EMPTY_PATH) != 0 {
		return 0, linux.EINVAL
	}
	if pathAddr == 0 && dirfd != linux.AT_FDCWD {
		if flags&linux.AT_SYMLINK_NOFOLLOW != 0 {
			return 0, linux.EINVAL
		}
		if opts.Stat.Mask == 0 {
			return 0, nil
		}
		return 0, setStatFD(t, dirfd, opts)
	}
	path, err := copyInPath(t, pathAddr)
	if err != nil {
		return 0, err
	}
	if opts.Stat.Mask == 0 {
		// Nothing to change, but the file must exist.
		_, err := statPath(t, dirfd, path, flags, linux.STATX_TYPE)
		return 0, err
	}
	return 0, setStatPath(t, dirfd, path, flags, opts)
}

// Utime implements utime(2).
func Utime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	var times *[2]utimeSpec
	if addr := args[1].Pointer(); addr != 0 {
		var buf [2]int64
		if err := t.CopyInStruct(addr, &buf); err != nil {
			return 0, err
		}
		times = &[2]utimeSpec{{sec: buf[0]}, {sec: buf[1]}}
	}
	return utimes(t, linux.AT_FDCWD, args[0].Pointer(), times, 0)
}

// copyInTimevals reads utimes(2)'s two timevals.
func copyInTimevals(t *kernel.Task, addr uintptr) (*[2]utimeSpec, error) {
	if addr == 0 {
		return nil, nil
	}
	var tv [2]linux.Timeval
	if err := t.CopyInStruct(addr, &tv); err != nil {
		return nil, err
	}
	var times [2]utimeSpec
	for i, v := range tv {
		if v.Usec < 0 || v.Usec >= 1e6 {
			return nil, linux.EINVAL
		}
		times[i] = utimeSpec{sec: v.Sec, nsec: v.Usec * 1000}
	}
	return &times, nil
}

// Utimes implements utimes(2).
func Utimes(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	times, err := copyInTimevals(t, args[1].Pointer())
	if err != nil {
		return 0, err
	}
	return utimes(t, linux.AT_FDCWD, args[0].Pointer(), times, 0)
}

// Futimesat implements futimesat(2).
func Futimesat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	times, err := copyInTimevals(t, args[2].Pointer())
	if err != nil {
		return 0, err
	}
	return utimes(t, args[0].Int(), args[1].Pointer(), times, 0)
}

// Utimensat implements utimensat(2).
func Utimensat(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	var times *[2]utimeSpec
	if addr := args[2].Pointer(); addr != 0 {
		var ts [2]linux.Timespec
		if err := t.CopyInStruct(addr, &ts); err != nil {
			return 0, err
		}
		times = &[2]utimeSpec{{ts[0].Sec, ts[0].Nsec}, {ts[1].Sec, ts[1].Nsec}}
	}
	return utimes(t, args[0].Int(), args[1].Pointer(), times, args[3].Uint())
}
