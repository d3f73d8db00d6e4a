package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
	"visor.dev/visor/pkg/sentry/vfs"
)

const pageSize = 4096

// mapUninitialized is MAP_UNINITIALIZED, which only no-MMU kernels honour.
const mapUninitialized = 0x4000000

// mmapKnownFlags are the flags MAP_SHARED_VALIDATE accepts (LEGACY_MAP_MASK and
// MAP_SYNC); any other makes it fail with EOPNOTSUPP.
const mmapKnownFlags = linux.MAP_SHARED | linux.MAP_PRIVATE | linux.MAP_FIXED | linux.MAP_ANONYMOUS |
	linux.MAP_DENYWRITE | linux.MAP_EXECUTABLE | mapUninitialized | linux.MAP_GROWSDOWN | linux.MAP_LOCKED |
	linux.MAP_NORESERVE | linux.MAP_POPULATE | linux.MAP_NONBLOCK | linux.MAP_STACK | linux.MAP_HUGETLB |
	linux.MAP_32BIT | linux.MAP_SYNC

// protToAccess converts PROT_* bits to an access type.
func protToAccess(prot uint32) platform.AccessType {
	return platform.AccessType{
		Read:    prot&linux.PROT_READ != 0,
		Write:   prot&linux.PROT_WRITE != 0,
		Execute: prot&linux.PROT_EXEC != 0,
	}
}

// mmapArgs are mmap(2)'s arguments, checked and translated: what MMap needs, and
// whether a file backs the mapping.
type mmapArgs struct {
	opts     memmap.MMapOpts
	needFile bool
	lock     bool
}

// parseMMapArgs checks mmap(2)'s arguments in Linux's order (ksys_mmap_pgoff and
// do_mmap) and translates them.
func parseMMapArgs(addr uintptr, length uint64, prot, flags uint32, offset uint64) (mmapArgs, error) {
	var a mmapArgs
	if offset%pageSize != 0 {
		return a, linux.EINVAL
	}
	if flags&linux.MAP_HUGETLB != 0 {
		// No huge pages are reserved, as on a host without hugetlbfs pages.
		return a, linux.ENOMEM
	}
	if length == 0 {
		return a, linux.EINVAL
	}
	anon := flags&linux.MAP_ANONYMOUS != 0
	switch flags & linux.MAP_TYPE {
	case linux.MAP_PRIVATE:
	case linux.MAP_SHARED:
		if anon && flags&linux.MAP_GROWSDOWN != 0 {
			return a, linux.EINVAL
		}
	case linux.MAP_SHARED_VALIDATE:
		if anon {
			return a, linux.EINVAL
		}
		if flags&^mmapKnownFlags != 0 {
			return a, linux.EOPNOTSUPP
		}
		if flags&linux.MAP_SYNC != 0 {
			// MAP_SYNC needs a DAX file; no filesystem here is one.
			return a, linux.EOPNOTSUPP
		}
	default:
		return a, linux.EINVAL
	}
	fixed := flags&(linux.MAP_FIXED|linux.MAP_FIXED_NOREPLACE) != 0
	if fixed && addr%pageSize != 0 {
		return a, linux.EINVAL
	}
	a.opts = memmap.MMapOpts{
		Length:    length,
		Addr:      addr &^ (pageSize - 1),
		Fixed:     fixed,
		Unmap:     flags&linux.MAP_FIXED != 0 && flags&linux.MAP_FIXED_NOREPLACE == 0,
		Perms:     protToAccess(prot),
		MaxPerms:  platform.AnyAccess,
		Private:   flags&linux.MAP_TYPE == linux.MAP_PRIVATE,
		GrowsDown: flags&linux.MAP_GROWSDOWN != 0,
		Precommit: flags&linux.MAP_POPULATE != 0 && flags&linux.MAP_NONBLOCK == 0,
	}
	if fixed {
		a.opts.Addr = addr
	}
	if !anon {
		a.needFile = true
		a.opts.Offset = offset
	}
	a.lock = flags&linux.MAP_LOCKED != 0
	return a, nil
}

// Mmap implements mmap(2). MAP_32BIT is taken as a hint only, and MAP_HUGETLB fails
// with ENOMEM.
func Mmap(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := args[3].Uint()
	if args[5].Uint64()%pageSize != 0 {
		return 0, linux.EINVAL
	}
	var f *vfs.FileDescription
	if flags&linux.MAP_ANONYMOUS == 0 {
		var err error
		if f, err = getFD(t, args[4].Int()); err != nil {
			return 0, err
		}
		defer f.DecRef()
		if isOPath(f) {
			return 0, linux.EBADF
		}
	}
	a, err := parseMMapArgs(args[0].Pointer(), args[1].Uint64(), args[2].Uint(), flags, args[5].Uint64())
	if err != nil {
		return 0, err
	}
	if a.needFile {
		if err := f.ConfigureMMap(t, &a.opts); err != nil {
			return 0, err
		}
		if a.opts.Mappable == nil {
			return 0, linux.ENODEV
		}
		fs := t.FSContext()
		root := fs.RootDirectory()
		if name, err := vfsOf(t).PathnameWithDeleted(t, root, f.VirtualDentry()); err == nil {
			a.opts.Name = name
		}
		root.DecRef()
	}
	mm := t.MemoryManager()
	addr, err := mm.MMapLimited(a.opts, t.ThreadGroup().Limit(linux.RLIMIT_AS).Cur)
	if err != nil {
		return 0, err
	}
	if a.lock {
		// Like Linux, a mapping that could not be locked is still made.
		_ = mm.MLock(addr, a.opts.Length, false)
	}
	return addr, nil
}

// Munmap implements munmap(2).
func Munmap(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MUnmap(args[0].Pointer(), args[1].Uint64())
}

// Mprotect implements mprotect(2).
func Mprotect(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MProtect(args[0].Pointer(), args[1].Uint64(), int(args[2].Int()))
}

// Mremap implements mremap(2). MREMAP_DONTUNMAP is not supported (EINVAL).
func Mremap(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return t.MemoryManager().MRemap(args[0].Pointer(), args[1].Uint64(), args[2].Uint64(), int(args[3].Int()), args[4].Pointer(), t.ThreadGroup().Limit(linux.RLIMIT_AS).Cur)
}

// Brk implements brk(2): it returns the new break, or the old one if the break
// could not move.
func Brk(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return t.MemoryManager().Brk(args[0].Pointer()), nil
}

// Madvise implements madvise(2).
func Madvise(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().Madvise(args[0].Pointer(), args[1].Uint64(), int(args[2].Int()))
}

// Msync implements msync(2).
func Msync(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MSync(args[0].Pointer(), args[1].Uint64(), int(args[2].Int()))
}

// Mincore implements mincore(2).
func Mincore(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	vec, err := t.MemoryManager().MIncore(args[0].Pointer(), args[1].Uint64())
	if err != nil {
		return 0, err
	}
	if _, err := t.CopyOutBytes(args[2].Pointer(), vec); err != nil {
		return 0, linux.EFAULT
	}
	return 0, nil
}

// checkMemlock enforces RLIMIT_MEMLOCK for callers without CAP_IPC_LOCK, as
// can_do_mlock and mlock's limit check do (counting already locked bytes, which
// makes relocking a locked range count twice).
func checkMemlock(t *kernel.Task, length uint64) error {
	if t.Credentials().HasCapability(linux.CAP_IPC_LOCK) {
		return nil
	}
	limit := t.ThreadGroup().Limit(linux.RLIMIT_MEMLOCK).Cur
	if limit == 0 {
		return linux.EPERM
	}
	if limit != linux.RLIM_INFINITY && t.MemoryManager().LockedBytes()+length > limit {
		return linux.ENOMEM
	}
	return nil
}

// Mlock implements mlock(2).
func Mlock(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if err := checkMemlock(t, args[1].Uint64()); err != nil {
		return 0, err
	}
	return 0, t.MemoryManager().MLock(args[0].Pointer(), args[1].Uint64(), false)
}

// Mlock2 implements mlock2(2).
func Mlock2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := args[2].Uint()
	if flags&^linux.MLOCK_ONFAULT != 0 {
		return 0, linux.EINVAL
	}
	if err := checkMemlock(t, args[1].Uint64()); err != nil {
		return 0, err
	}
	return 0, t.MemoryManager().MLock(args[0].Pointer(), args[1].Uint64(), flags&linux.MLOCK_ONFAULT != 0)
}

// Munlock implements munlock(2).
func Munlock(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, t.MemoryManager().MUnlock(args[0].Pointer(), args[1].Uint64())
}

// Mlockall implements mlockall(2).
func Mlockall(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := int(args[0].Int())
	if !t.Credentials().HasCapability(linux.CAP_IPC_LOCK) && t.ThreadGroup().Limit(linux.RLIMIT_MEMLOCK).Cur == 0 {
		return 0, linux.EPERM
	}
	return 0, t.MemoryManager().MLockAll(flags)
}

// Munlockall implements munlockall(2).
func Munlockall(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	t.MemoryManager().MUnlockAll()
	return 0, nil
}
