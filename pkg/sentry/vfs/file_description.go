package vfs

import (
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/waiter"
)

// FileDescription is an open file (struct file): what open(2) makes and file
// descriptors refer to. Implementations embed it in their own file description type
// and set it up with Init.
//
// A FileDescription is reference counted: each file descriptor table entry, each
// in-flight system call and anything else that keeps the file open holds a reference.
// The last DecRef releases the implementation.
type FileDescription struct {
	refs atomic.Int64

	// statusFlags are the O_* status flags fcntl(F_GETFL) reports. Only
	// SetStatusFlags changes them after Init.
	statusFlags atomic.Uint32

	vd       VirtualDentry
	opts     FileDescriptionOptions
	readable bool
	writable bool
	impl     FileDescriptionImpl
}

// FileDescriptionOptions say how the VFS treats a FileDescription.
type FileDescriptionOptions struct {
	// AllowDirectIO lets O_DIRECT be set.
	AllowDirectIO bool
	// DenyPRead and DenyPWrite make pread and pwrite fail with ESPIPE (pipes,
	// sockets).
	DenyPRead  bool
	DenyPWrite bool
	// UseDentryMetadata sends Stat, SetStat, StatFS and the xattr operations to
	// the filesystem the file was opened in, at its dentry, instead of the
	// implementation: for files whose implementation knows nothing of metadata
	// (FIFOs, devices).
	UseDentryMetadata bool
}

// settableStatusFlags are the status flags fcntl(F_SETFL) may change.
const settableStatusFlags = linux.O_APPEND | linux.O_DIRECT | linux.O_NOATIME | linux.O_NONBLOCK | fasyncFlag

// fasyncFlag is O_ASYNC (FASYNC), which asm-generic/fcntl.h keeps apart.
const fasyncFlag = 0o20000

// Init sets fd up as impl's part: opened with the open(2) flags at d in mnt, on
// each of which it takes a reference. fd starts with one reference, held by the
// caller.
func (fd *FileDescription) Init(impl FileDescriptionImpl, flags uint32, mnt *Mount, d *Dentry, opts *FileDescriptionOptions) {
	fd.refs.Store(1)
	// Creation flags are forgotten. O_LARGEFILE is open(2)'s to add (on 64-bit it
	// always does); files made otherwise (pipes, eventfds) report without it.
	fd.statusFlags.Store(flags &^ (linux.O_CREAT | linux.O_EXCL | linux.O_NOCTTY | linux.O_TRUNC | linux.O_CLOEXEC))
	fd.vd = VirtualDentry{mount: mnt, dentry: d}
	fd.vd.IncRef()
	fd.opts = *opts
	fd.readable = MayReadFileWithOpenFlags(flags)
	fd.writable = MayWriteFileWithOpenFlags(flags)
	fd.impl = impl
}

// Impl returns fd's implementation.
func (fd *FileDescription) Impl() FileDescriptionImpl { return fd.impl }

// IncRef takes a reference on fd.
func (fd *FileDescription) IncRef() { fd.refs.Add(1) }

// TryIncRef takes a reference on fd unless it has none left, reporting whether it
// did: for tables (epoll's) that hold a file without a reference.
func (fd *FileDescription) TryIncRef() bool {
	for {
		r := fd.refs.Load()
		if r <= 0 {
			return false
		}
		if fd.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// DecRef drops a reference on fd, releasing it with the last one.
func (fd *FileDescription) DecRef() {
	switch r := fd.refs.Add(-1); {
	case r == 0:
		fd.impl.Release()
		fd.vd.DecRef()
	case r < 0:
		panic("vfs: FileDescription.DecRef without a reference")
	}
}

// VirtualDentry returns where fd was opened, without taking a reference.
func (fd *FileDescription) VirtualDentry() VirtualDentry { return fd.vd }

// Mount returns the mount fd was opened in.
func (fd *FileDescription) Mount() *Mount { return fd.vd.mount }

// Dentry returns the dentry fd was opened at.
func (fd *FileDescription) Dentry() *Dentry { return fd.vd.dentry }

// StatusFlags returns fd's status flags (F_GETFL).
func (fd *FileDescription) StatusFlags() uint32 { return fd.statusFlags.Load() }

// SetStatusFlags changes the settable status flags (F_SETFL); the others in flags
// are ignored. O_NOATIME needs ownership or CAP_FOWNER (EPERM) and O_DIRECT
// support (EINVAL).
func (fd *FileDescription) SetStatusFlags(ctx Context, creds *auth.Credentials, flags uint32) error {
	old := fd.statusFlags.Load()
	if flags&linux.O_NOATIME != 0 && old&linux.O_NOATIME == 0 {
		stat, err := fd.Stat(ctx, StatOptions{Mask: linux.STATX_UID})
		if err != nil {
			return err
		}
		if !auth.CanActAsOwner(creds, auth.KUID(stat.UID)) {
			return linux.EPERM
		}
	}
	if flags&linux.O_DIRECT != 0 && !fd.opts.AllowDirectIO {
		return linux.EINVAL
	}
	for {
		old := fd.statusFlags.Load()
		nf := old&^settableStatusFlags | flags&settableStatusFlags
		if fd.statusFlags.CompareAndSwap(old, nf) {
			return nil
		}
	}
}

// IsReadable reports whether fd was opened for reading.
func (fd *FileDescription) IsReadable() bool { return fd.readable }

// IsWritable reports whether fd was opened for writing.
func (fd *FileDescription) IsWritable() bool { return fd.writable }

// Read reads into dst from fd's offset, advancing it. A read that would block
// returns EAGAIN (see BlockingRead).
func (fd *FileDescription) Read(ctx Context, dst []byte, opts ReadOptions) (int64, error) {
	if !fd.readable {
		return 0, linux.EBADF
	}
	return fd.impl.Read(ctx, dst, opts)
}

// PRead reads into dst from offset.
func (fd *FileDescription) PRead(ctx Context, dst []byte, offset int64, opts ReadOptions) (int64, error) {
	if fd.opts.DenyPRead {
		return 0, linux.ESPIPE
	}
	if !fd.readable {
		return 0, linux.EBADF
	}
	if offset < 0 {
		return 0, linux.EINVAL
	}
	return fd.impl.PRead(ctx, dst, offset, opts)
}

// Write writes src at fd's offset (or its end, with O_APPEND), advancing it. A write
// that would block writes what it can and returns EAGAIN with that count (see
// BlockingWrite).
func (fd *FileDescription) Write(ctx Context, src []byte, opts WriteOptions) (int64, error) {
	if !fd.writable {
		return 0, linux.EBADF
	}
	return fd.impl.Write(ctx, src, opts)
}

// PWrite writes src at offset.
func (fd *FileDescription) PWrite(ctx Context, src []byte, offset int64, opts WriteOptions) (int64, error) {
	if fd.opts.DenyPWrite {
		return 0, linux.ESPIPE
	}
	if !fd.writable {
		return 0, linux.EBADF
	}
	if offset < 0 {
		return 0, linux.EINVAL
	}
	return fd.impl.PWrite(ctx, src, offset, opts)
}

// Seek moves fd's offset (lseek(2)).
func (fd *FileDescription) Seek(ctx Context, offset int64, whence int32) (int64, error) {
	return fd.impl.Seek(ctx, offset, whence)
}

// IterDirents calls cb with the entries of the directory fd is, from its offset on.
func (fd *FileDescription) IterDirents(ctx Context, cb IterDirentsCallback) error {
	return fd.impl.IterDirents(ctx, cb)
}

// Stat returns the status of the file.
func (fd *FileDescription) Stat(ctx Context, opts StatOptions) (linux.Statx, error) {
	if fd.opts.UseDentryMetadata {
		var stat linux.Statx
		err := fd.atDentry(ctx, func(rp *ResolvingPath) (err error) {
			stat, err = fd.vd.mount.fs.impl.StatAt(ctx, rp, opts)
			return err
		})
		return stat, err
	}
	return fd.impl.Stat(ctx, opts)
}

// SetStat changes the status of the file (fchmod, fchown, ftruncate, futimens).
// ftruncate's callers check that fd is writable.
func (fd *FileDescription) SetStat(ctx Context, opts SetStatOptions) error {
	if fd.opts.UseDentryMetadata {
		return fd.atDentry(ctx, func(rp *ResolvingPath) error {
			return fd.vd.mount.fs.impl.SetStatAt(ctx, rp, opts)
		})
	}
	return fd.impl.SetStat(ctx, opts)
}

// StatFS returns the status of the file's filesystem.
func (fd *FileDescription) StatFS(ctx Context) (linux.Statfs, error) {
	var st linux.Statfs
	var err error
	if fd.opts.UseDentryMetadata {
		err = fd.atDentry(ctx, func(rp *ResolvingPath) (err error) {
			st, err = fd.vd.mount.fs.impl.StatFSAt(ctx, rp)
			return err
		})
	} else {
		st, err = fd.impl.StatFS(ctx)
	}
	if err == nil {
		fd.vd.mount.addStatfsFlags(&st)
	}
	return st, err
}

// ListXattr returns the names of the file's extended attributes.
func (fd *FileDescription) ListXattr(ctx Context, size uint64) ([]string, error) {
	if fd.opts.UseDentryMetadata {
		var names []string
		err := fd.atDentry(ctx, func(rp *ResolvingPath) (err error) {
			names, err = fd.vd.mount.fs.impl.ListXattrAt(ctx, rp, size)
			return err
		})
		return names, err
	}
	return fd.impl.ListXattr(ctx, size)
}

// GetXattr returns the value of one of the file's extended attributes.
func (fd *FileDescription) GetXattr(ctx Context, opts *GetXattrOptions) (string, error) {
	if err := checkXattrName(opts.Name); err != nil {
		return "", err
	}
	if fd.opts.UseDentryMetadata {
		var val string
		err := fd.atDentry(ctx, func(rp *ResolvingPath) (err error) {
			val, err = fd.vd.mount.fs.impl.GetXattrAt(ctx, rp, *opts)
			return err
		})
		return val, err
	}
	return fd.impl.GetXattr(ctx, *opts)
}

// SetXattr sets one of the file's extended attributes.
func (fd *FileDescription) SetXattr(ctx Context, opts *SetXattrOptions) error {
	if err := checkSetXattr(opts); err != nil {
		return err
	}
	if fd.opts.UseDentryMetadata {
		return fd.atDentry(ctx, func(rp *ResolvingPath) error {
			return fd.vd.mount.fs.impl.SetXattrAt(ctx, rp, *opts)
		})
	}
	return fd.impl.SetXattr(ctx, *opts)
}

// RemoveXattr removes one of the file's extended attributes.
func (fd *FileDescription) RemoveXattr(ctx Context, name string) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	if fd.opts.UseDentryMetadata {
		return fd.atDentry(ctx, func(rp *ResolvingPath) error {
			return fd.vd.mount.fs.impl.RemoveXattrAt(ctx, rp, name)
		})
	}
	return fd.impl.RemoveXattr(ctx, name)
}

// atDentry runs op with a ResolvingPath that names fd's dentry.
func (fd *FileDescription) atDentry(ctx Context, op func(rp *ResolvingPath) error) error {
	rp, err := fd.vd.mount.vfs.getResolvingPath(ctx.Credentials(), &PathOperation{Root: fd.vd, Start: fd.vd})
	if err != nil {
		return err
	}
	defer fd.vd.mount.vfs.putResolvingPath(rp)
	return op(rp)
}

// Allocate allocates or deallocates storage for the file (fallocate(2)).
func (fd *FileDescription) Allocate(ctx Context, mode, offset, length uint64) error {
	if !fd.writable {
		return linux.EBADF
	}
	if int64(offset) < 0 || int64(length) <= 0 || int64(offset+length) < 0 {
		return linux.EINVAL
	}
	return fd.impl.Allocate(ctx, mode, offset, length)
}

// Sync writes the file's data and metadata back (fsync(2)).
func (fd *FileDescription) Sync(ctx Context) error { return fd.impl.Sync(ctx) }

// Ioctl runs an ioctl(2) request on the file; mem is the calling task's memory, which
// arg usually points into.
func (fd *FileDescription) Ioctl(ctx Context, mem UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	return fd.impl.Ioctl(ctx, mem, cmd, arg)
}

// ConfigureMMap sets opts.Mappable (and narrows opts.MaxPerms) for a mapping of the
// file (mmap(2)). A mapping needs the file open for reading, a shared writable one
// open for writing too (EACCES), and an executable one a mount without noexec
// (EPERM).
func (fd *FileDescription) ConfigureMMap(ctx Context, opts *memmap.MMapOpts) error {
	if !fd.readable {
		return linux.EACCES
	}
	if !opts.Private && !fd.writable {
		if opts.Perms.Write {
			return linux.EACCES
		}
		opts.MaxPerms.Write = false
	}
	if fd.vd.mount.flags.NoExec {
		if opts.Perms.Execute {
			return linux.EPERM
		}
		opts.MaxPerms.Execute = false
	}
	return fd.impl.ConfigureMMap(ctx, opts)
}

// Readiness returns the events of mask that are ready on the file.
func (fd *FileDescription) Readiness(mask waiter.EventMask) waiter.EventMask {
	return fd.impl.Readiness(mask)
}

// EventRegister registers e for the file's events.
func (fd *FileDescription) EventRegister(e *waiter.Entry) error { return fd.impl.EventRegister(e) }

// EventUnregister undoes EventRegister.
func (fd *FileDescription) EventUnregister(e *waiter.Entry) { fd.impl.EventUnregister(e) }

// UserMemory is the calling task's address space as ioctl handlers see it. The
// kernel implements it.
type UserMemory interface {
	// CopyIn reads len(dst) bytes at addr, failing with EFAULT.
	CopyIn(addr uintptr, dst []byte) (int, error)
	// CopyOut writes src at addr, failing with EFAULT.
	CopyOut(addr uintptr, src []byte) (int, error)
}

// FileDescriptionImpl is a file description's implementation. Embed
// FileDescriptionDefaultImpl for the defaults of files that lack an operation.
//
// Read and Write run at the description's own offset, which the implementation
// keeps; they and the positional variants never block: where data or space is
// lacking they return EAGAIN (Write with the count it did write) and the caller
// waits for the description's events unless it is non-blocking.
type FileDescriptionImpl interface {
	// Release frees the implementation's resources once the last reference to
	// the description is gone.
	Release()

	Read(ctx Context, dst []byte, opts ReadOptions) (int64, error)
	PRead(ctx Context, dst []byte, offset int64, opts ReadOptions) (int64, error)
	Write(ctx Context, src []byte, opts WriteOptions) (int64, error)
	PWrite(ctx Context, src []byte, offset int64, opts WriteOptions) (int64, error)
	Seek(ctx Context, offset int64, whence int32) (int64, error)
	IterDirents(ctx Context, cb IterDirentsCallback) error

	Stat(ctx Context, opts StatOptions) (linux.Statx, error)
	SetStat(ctx Context, opts SetStatOptions) error
	StatFS(ctx Context) (linux.Statfs, error)
	ListXattr(ctx Context, size uint64) ([]string, error)
	GetXattr(ctx Context, opts GetXattrOptions) (string, error)
	SetXattr(ctx Context, opts SetXattrOptions) error
	RemoveXattr(ctx Context, name string) error

	Allocate(ctx Context, mode, offset, length uint64) error
	Sync(ctx Context) error
	Ioctl(ctx Context, mem UserMemory, cmd uint32, arg uintptr) (uintptr, error)
	// ConfigureMMap sets opts.Mappable to what backs a mapping of the file.
	ConfigureMMap(ctx Context, opts *memmap.MMapOpts) error

	waiter.Waitable
}
