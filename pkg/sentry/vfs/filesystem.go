package vfs

import (
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// Filesystem is one instance of a filesystem (a superblock): the VFS's bookkeeping
// around a FilesystemImpl, which embeds it and points it back with Init.
type Filesystem struct {
	// refs is the number of references: one per Mount of it and one per holder
	// of the *Filesystem GetFilesystem returned. At zero the implementation is
	// released.
	refs   atomic.Int64
	vfs    *VirtualFilesystem
	fsType FilesystemType
	impl   FilesystemImpl
}

// Init sets fs up as impl's part, with one reference, held by the caller.
func (fs *Filesystem) Init(vfsObj *VirtualFilesystem, fsType FilesystemType, impl FilesystemImpl) {
	fs.refs.Store(1)
	fs.vfs = vfsObj
	fs.fsType = fsType
	fs.impl = impl
}

// Impl returns fs's implementation.
func (fs *Filesystem) Impl() FilesystemImpl { return fs.impl }

// VirtualFilesystem returns the VFS fs belongs to.
func (fs *Filesystem) VirtualFilesystem() *VirtualFilesystem { return fs.vfs }

// FilesystemType returns the type fs was made by.
func (fs *Filesystem) FilesystemType() FilesystemType { return fs.fsType }

// IncRef takes a reference on fs.
func (fs *Filesystem) IncRef() { fs.refs.Add(1) }

// DecRef drops a reference on fs, releasing it with the last one.
func (fs *Filesystem) DecRef() {
	switch r := fs.refs.Add(-1); {
	case r == 0:
		fs.impl.Release()
	case r < 0:
		panic("vfs: Filesystem.DecRef without a reference")
	}
}

// FilesystemImpl is a filesystem's implementation of the path operations.
//
// Each *At method walks rp, which starts at rp.Start() in rp.Mount(), a dentry of this
// filesystem, using ResolvingPath's methods for everything that is not specific to
// the filesystem (see ResolvingPath). When the walk leads out of the filesystem, the
// method returns the error the ResolvingPath gave it, unchanged, and the VFS calls the
// other filesystem's method to go on. The method may find rp already Done: the path
// named rp.Start() itself (an empty path, "/", or the root of a mount the path led
// into); operations that create or delete a name then fail with EEXIST (create) or
// EBUSY (delete).
//
// Unless said otherwise, methods check permissions with rp.Credentials() and fail
// with linux.Errno values as Linux does.
type FilesystemImpl interface {
	// Release frees the filesystem once nothing refers to it.
	Release()

	// Sync writes back cached data (sync(2), syncfs(2)).
	Sync(ctx Context) error

	// AccessAt checks whether creds may access the file in the ways ats asks
	// for; on a read-only mount, asking to write a regular file, directory or
	// symlink fails with EROFS.
	AccessAt(ctx Context, rp *ResolvingPath, creds *auth.Credentials, ats auth.AccessTypes) error

	// GetDentryAt returns the dentry rp names, with a new reference.
	GetDentryAt(ctx Context, rp *ResolvingPath, opts GetDentryOptions) (*Dentry, error)

	// GetParentDentryAt returns, with a new reference, the directory holding
	// rp's final component, and leaves rp at that component (rp.Final()).
	// Precondition: !rp.Done().
	GetParentDentryAt(ctx Context, rp *ResolvingPath) (*Dentry, error)

	// OpenAt opens the file rp names, creating a regular file if opts.Flags
	// has O_CREAT and it does not exist. The FileDescription it returns holds
	// a reference on rp.Mount() and on the file's dentry.
	OpenAt(ctx Context, rp *ResolvingPath, opts OpenOptions) (*FileDescription, error)

	// ReadlinkAt returns the target of the symlink rp names.
	ReadlinkAt(ctx Context, rp *ResolvingPath) (string, error)

	// MkdirAt makes a directory at rp.
	MkdirAt(ctx Context, rp *ResolvingPath, opts MkdirOptions) error

	// MknodAt makes a regular file, FIFO, device node or socket at rp.
	MknodAt(ctx Context, rp *ResolvingPath, opts MknodOptions) error

	// SymlinkAt makes a symlink at rp.
	SymlinkAt(ctx Context, rp *ResolvingPath, target string) error

	// LinkAt makes rp a new hard link to the file vd names. Once it has walked
	// to the new link's directory, it fails with EXDEV if vd is not in
	// rp.Mount().
	LinkAt(ctx Context, rp *ResolvingPath, vd VirtualDentry) error

	// UnlinkAt removes the non-directory rp names.
	UnlinkAt(ctx Context, rp *ResolvingPath) error

	// RmdirAt removes the empty directory rp names.
	RmdirAt(ctx Context, rp *ResolvingPath) error

	// RenameAt moves the file oldName in the directory oldParentVD to rp,
	// following opts. Once it has walked to the new parent directory, it fails
	// with EXDEV if oldParentVD is not in rp.Mount().
	RenameAt(ctx Context, rp *ResolvingPath, oldParentVD VirtualDentry, oldName string, opts RenameOptions) error

	// StatAt returns the status of the file rp names.
	StatAt(ctx Context, rp *ResolvingPath, opts StatOptions) (linux.Statx, error)

	// SetStatAt changes the status of the file rp names.
	SetStatAt(ctx Context, rp *ResolvingPath, opts SetStatOptions) error

	// StatFSAt returns the status of the filesystem. The VFS adds the mount's
	// flags.
	StatFSAt(ctx Context, rp *ResolvingPath) (linux.Statfs, error)

	// ListXattrAt, GetXattrAt, SetXattrAt and RemoveXattrAt are the extended
	// attribute operations; the VFS has checked the name and value sizes.
	ListXattrAt(ctx Context, rp *ResolvingPath, size uint64) ([]string, error)
	GetXattrAt(ctx Context, rp *ResolvingPath, opts GetXattrOptions) (string, error)
	SetXattrAt(ctx Context, rp *ResolvingPath, opts SetXattrOptions) error
	RemoveXattrAt(ctx Context, rp *ResolvingPath, name string) error

	// PrependPath prepends to b the path from the root of vd.Mount() (or from
	// vfsroot, if vd is beneath it in the same mount) to vd. It returns nil when
	// it reached the mount's root, PrependPathAtVFSRootError when it reached
	// vfsroot, PrependPathAtNonMountRootError when it reached the root of the
	// filesystem without finding either (vd is outside the mount), and
	// PrependPathSyntheticError when vd has a made-up name instead of a path
	// ("pipe:[1234]").
	PrependPath(ctx Context, vfsroot, vd VirtualDentry, b *PathBuilder) error
}

// FilesystemType makes filesystems of one type ("tmpfs").
type FilesystemType interface {
	// GetFilesystem returns a new filesystem and its root dentry, each with a
	// reference for the caller. source is mount(2)'s source.
	GetFilesystem(ctx Context, vfsObj *VirtualFilesystem, creds *auth.Credentials, source string, opts GetFilesystemOptions) (*Filesystem, *Dentry, error)
	// Name returns the type's name as mount(2) and /proc/filesystems spell it.
	Name() string
}

// GetFilesystemOptions are options of GetFilesystem.
type GetFilesystemOptions struct {
	// Data is mount(2)'s data argument: comma-separated options.
	Data string
	// InternalData is options the kernel passes in its own mounts, of a type the
	// filesystem defines.
	InternalData any
}

// RegisterFilesystemTypeOptions are options of RegisterFilesystemType.
type RegisterFilesystemTypeOptions struct {
	// AllowUserMount lets mount(2) make filesystems of the type; otherwise only
	// the kernel can.
	AllowUserMount bool
	// AllowUserList lists the type in /proc/filesystems.
	AllowUserList bool
	// RequiresDevice marks the type as needing a block device ("nodev" in
	// /proc/filesystems otherwise).
	RequiresDevice bool
}

type registeredFilesystemType struct {
	fsType FilesystemType
	opts   RegisterFilesystemTypeOptions
}

// RegisterFilesystemType makes fsType available under name. It fails with EEXIST if
// the name is taken.
func (vfs *VirtualFilesystem) RegisterFilesystemType(name string, fsType FilesystemType, opts *RegisterFilesystemTypeOptions) error {
	vfs.fsTypesMu.Lock()
	defer vfs.fsTypesMu.Unlock()
	if _, ok := vfs.fsTypes[name]; ok {
		return linux.EEXIST
	}
	vfs.fsTypes[name] = &registeredFilesystemType{fsType: fsType, opts: *opts}
	return nil
}

// MustRegisterFilesystemType is RegisterFilesystemType for registration at boot,
// where a duplicate name is a bug.
func (vfs *VirtualFilesystem) MustRegisterFilesystemType(name string, fsType FilesystemType, opts *RegisterFilesystemTypeOptions) {
	if err := vfs.RegisterFilesystemType(name, fsType, opts); err != nil {
		panic("vfs: filesystem type " + name + " registered twice")
	}
}

func (vfs *VirtualFilesystem) getFilesystemType(name string) *registeredFilesystemType {
	vfs.fsTypesMu.RLock()
	defer vfs.fsTypesMu.RUnlock()
	return vfs.fsTypes[name]
}

// FilesystemTypeNames calls f with each registered type that AllowUserList lists, as
// /proc/filesystems shows them.
func (vfs *VirtualFilesystem) FilesystemTypeNames(f func(name string, requiresDevice bool)) {
	vfs.fsTypesMu.RLock()
	defer vfs.fsTypesMu.RUnlock()
	for name, rft := range vfs.fsTypes {
		if rft.opts.AllowUserList {
			f(name, rft.opts.RequiresDevice)
		}
	}
}
