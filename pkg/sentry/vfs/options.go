package vfs

import "visor.dev/visor/pkg/abi/linux"

// GetDentryOptions are options of GetDentryAt.
type GetDentryOptions struct {
	// CheckSearchable makes the lookup fail with ENOTDIR unless the file is a
	// directory, and EACCES unless creds may search it: chdir(2) and chroot(2).
	CheckSearchable bool
}

// OpenOptions are options of OpenAt.
type OpenOptions struct {
	// Flags are open(2)'s flags.
	Flags uint32
	// Mode is the mode of a file O_CREAT makes, umask already applied.
	Mode uint16
}

// MkdirOptions are options of MkdirAt.
type MkdirOptions struct {
	// Mode is the new directory's permissions, umask already applied.
	Mode uint16
}

// MknodOptions are options of MknodAt.
type MknodOptions struct {
	// Mode is the file type and permissions, umask already applied. A zero type
	// means a regular file.
	Mode uint16
	// DevMajor and DevMinor are the device number of a device node.
	DevMajor, DevMinor uint32
	// Endpoint is what a socket file binds to; the socket layer sets it when
	// bind(2) makes a unix socket file.
	Endpoint any
}

// RenameOptions are options of RenameAt.
type RenameOptions struct {
	// Flags are renameat2(2)'s RENAME_* flags.
	Flags uint32
	// MustBeDir is set by the VFS when the old path ends in a slash.
	MustBeDir bool
}

// StatOptions are options of StatAt and FileDescription.Stat.
type StatOptions struct {
	// Mask is statx(2)'s STATX_* mask of the fields the caller wants;
	// filesystems may return more.
	Mask uint32
	// Sync is statx(2)'s AT_STATX_* synchronization flags.
	Sync uint32
}

// SetStatOptions are options of SetStatAt and FileDescription.SetStat.
type SetStatOptions struct {
	// Stat holds the new values of the fields its Mask names: STATX_MODE (only
	// the permission bits), STATX_UID, STATX_GID, STATX_SIZE, STATX_ATIME,
	// STATX_MTIME. A time's Nsec may be linux.UTIME_NOW or linux.UTIME_OMIT.
	Stat linux.Statx
	// NeedWritePerm makes a size change require write permission: truncate(2)
	// sets it; ftruncate(2) checks that its file is open for writing instead.
	NeedWritePerm bool
}

// UmountOptions are options of UmountAt.
type UmountOptions struct {
	// Flags are umount2(2)'s MNT_* and UMOUNT_* flags.
	Flags uint32
}

// ReadOptions are options of reads.
type ReadOptions struct {
	// Flags are preadv2(2)'s RWF_* flags.
	Flags uint32
}

// WriteOptions are options of writes.
type WriteOptions struct {
	// Flags are pwritev2(2)'s RWF_* flags.
	Flags uint32
	// LimitFileSize applies FileSizeLimit, the writer's RLIMIT_FSIZE, to writes
	// to regular files (see LimitWrite). The kernel's own writes leave it unset.
	LimitFileSize bool
	FileSizeLimit uint64
}

// LimitWrite returns how many of n bytes a write to a regular file at off may
// write under opts' file size limit, as generic_write_check_limits: a write that
// starts at or beyond the limit fails with EFBIG (the syscall layer then sends
// SIGXFSZ), and one that crosses it stops there.
func (opts *WriteOptions) LimitWrite(off int64, n int) (int, error) {
	if !opts.LimitFileSize || n == 0 {
		return n, nil
	}
	if off < 0 || uint64(off) >= opts.FileSizeLimit {
		return 0, linux.EFBIG
	}
	return int(min(uint64(n), opts.FileSizeLimit-uint64(off))), nil
}

// GetXattrOptions are options of GetXattrAt.
type GetXattrOptions struct {
	// Name is the attribute's name, namespace prefix included.
	Name string
	// Size is getxattr(2)'s buffer size: a longer value fails with ERANGE. Zero
	// asks for the value whatever its size.
	Size uint64
}

// SetXattrOptions are options of SetXattrAt.
type SetXattrOptions struct {
	// Name is the attribute's name, namespace prefix included.
	Name string
	// Value is its new value.
	Value string
	// Flags are XATTR_CREATE and XATTR_REPLACE.
	Flags uint32
}
