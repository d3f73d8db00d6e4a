// Package vfs is the Sentry's virtual filesystem: the mount table, path resolution,
// and the types every filesystem implementation and every file description is built
// from. It follows the shape of gVisor's VFS2 and of Linux's VFS:
//
//   - A VirtualFilesystem owns the mount table and the registries of filesystem types
//     and devices. A MountNamespace is a tree of Mounts; each Mount attaches a
//     Filesystem's Dentry tree at a Dentry of its parent mount.
//   - A Filesystem is generic bookkeeping around a FilesystemImpl (tmpfs, devfs,
//     pipefs, later the gofer client), and a Dentry around the implementation's own
//     dentry (DentryImpl). A VirtualDentry, a (Mount, Dentry) pair, is a place in the
//     mount tree: what a path names, what a task's root and working directory are.
//   - Path resolution is shared: the VFS parses the path into a ResolvingPath and
//     hands it to the FilesystemImpl of the starting mount, which walks the
//     components it owns with the ResolvingPath's help. Everything that is not
//     filesystem-specific lives in ResolvingPath: the symlink limit (ELOOP after 40),
//     never leaving the task's root by "..", trailing slashes, and crossing into
//     mounted filesystems and back out of them, which the implementation reports to
//     the VFS as an error the VFS handles by restarting the walk in the other
//     filesystem.
//   - A FileDescription is an open file (struct file): reference counted, holding
//     the status flags and the VirtualDentry it was opened at, and forwarding I/O to
//     its FileDescriptionImpl.
//
// Every operation takes a Context (the calling task: its credentials and its ability
// to block) and path operations additionally take the credentials to check
// permissions with and the root and starting point of the walk explicitly, in a
// PathOperation. The credentials are separate from the Context because they are not
// always the task's own: access(2) checks with the real user and group IDs, and the
// kernel populates filesystems with root credentials.
//
// Reference counting (IncRef, DecRef, the implementations' Release) takes no
// Context: dropping the last reference never blocks and does not depend on who drops
// it.
//
// File descriptor tables, O_CLOEXEC and umask are the kernel's: the VFS receives
// modes with the umask already applied.
package vfs

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// VirtualFilesystem is the VFS of one sandbox.
type VirtualFilesystem struct {
	// mountMu protects the mount table and every Mount's parent, point and
	// children, and serializes mounting and unmounting.
	//
	// Lock order: filesystem implementation locks, then Dentry.mu, then mountMu.
	mountMu sync.RWMutex
	// mounts maps a place in the mount tree to the mount attached there.
	mounts map[VirtualDentry]*Mount
	// lastMountID numbers mounts.
	lastMountID uint64

	// fsTypesMu protects fsTypes. Lock order: a leaf.
	fsTypesMu sync.RWMutex
	fsTypes   map[string]*registeredFilesystemType

	// devicesMu protects devices. Lock order: a leaf.
	devicesMu sync.RWMutex
	devices   map[deviceKey]*registeredDevice

	// anonDevMinorMu protects the allocation of anonymous device numbers. Lock
	// order: a leaf.
	anonDevMinorMu   sync.Mutex
	lastAnonDevMinor uint32

	// rpPool recycles ResolvingPaths.
	rpPool sync.Pool
}

// New returns an empty VirtualFilesystem: no filesystem types, devices or mounts.
func New() *VirtualFilesystem {
	vfs := &VirtualFilesystem{
		mounts:  make(map[VirtualDentry]*Mount),
		fsTypes: make(map[string]*registeredFilesystemType),
		devices: make(map[deviceKey]*registeredDevice),
	}
	vfs.rpPool.New = func() any { return &ResolvingPath{} }
	return vfs
}

// GetAnonBlockDevMinor returns a fresh minor number of the anonymous block device
// (major 0), which filesystems without a backing device report as st_dev.
func (vfs *VirtualFilesystem) GetAnonBlockDevMinor() uint32 {
	vfs.anonDevMinorMu.Lock()
	defer vfs.anonDevMinorMu.Unlock()
	vfs.lastAnonDevMinor++
	return vfs.lastAnonDevMinor
}

// PathOperation says where a path operation starts and what it walks.
type PathOperation struct {
	// Root is the task's root directory: ".." never leads above it and absolute
	// paths and symlinks start there. It must be set.
	Root VirtualDentry
	// Start is where a relative path starts: the working directory, or the
	// directory a dirfd names. It must be set.
	Start VirtualDentry
	// Path is the path. An empty path names Start itself (AT_EMPTY_PATH); callers
	// that do not allow that fail with ENOENT before calling the VFS.
	Path string
	// FollowFinalSymlink is whether a symlink as the path's final component is
	// followed. A trailing slash always follows it.
	FollowFinalSymlink bool
}

// checkCreatePath fails path operations that create or remove a file at a path that
// names no component to create or remove: "" or "/".
func checkCreatePath(pop *PathOperation, absErr linux.Errno) error {
	for i := 0; i < len(pop.Path); i++ {
		if pop.Path[i] != '/' {
			return nil
		}
	}
	if pop.Path == "" {
		return linux.ENOENT
	}
	return absErr
}

// GetDentryAt returns the VirtualDentry pop names, with a reference the caller must
// drop.
func (vfs *VirtualFilesystem) GetDentryAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *GetDentryOptions) (VirtualDentry, error) {
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return VirtualDentry{}, err
	}
	defer vfs.putResolvingPath(rp)
	for {
		d, err := rp.mount.fs.impl.GetDentryAt(ctx, rp, *opts)
		if err == nil {
			rp.mount.IncRef()
			return VirtualDentry{mount: rp.mount, dentry: d}, nil
		}
		if !rp.handleError(ctx, err) {
			return VirtualDentry{}, err
		}
	}
}

// getParentDirAndName resolves every component of pop but the last, returning the
// directory that holds it (with a reference) and the last component's name. It is
// how operations on two paths (link, rename) resolve their first path.
func (vfs *VirtualFilesystem) getParentDirAndName(ctx Context, creds *auth.Credentials, pop *PathOperation) (VirtualDentry, string, bool, error) {
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return VirtualDentry{}, "", false, err
	}
	defer vfs.putResolvingPath(rp)
	for {
		d, err := rp.mount.fs.impl.GetParentDentryAt(ctx, rp)
		if err == nil {
			rp.mount.IncRef()
			return VirtualDentry{mount: rp.mount, dentry: d}, rp.Component(), rp.MustBeDir(), nil
		}
		if !rp.handleError(ctx, err) {
			return VirtualDentry{}, "", false, err
		}
	}
}

// AccessAt checks whether creds may access the file pop names in the ways ats asks
// for (access(2), faccessat(2)).
func (vfs *VirtualFilesystem) AccessAt(ctx Context, creds *auth.Credentials, ats auth.AccessTypes, pop *PathOperation) error {
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return err
	}
	defer vfs.putResolvingPath(rp)
	for {
		err := rp.mount.fs.impl.AccessAt(ctx, rp, creds, ats)
		if err == nil || !rp.handleError(ctx, err) {
			return err
		}
	}
}

// OpenAt opens the file pop names. FollowFinalSymlink is ignored: open follows a
// final symlink unless opts.Flags has O_NOFOLLOW, or O_CREAT|O_EXCL.
func (vfs *VirtualFilesystem) OpenAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *OpenOptions) (*FileDescription, error) {
	o := *opts
	if o.Flags&linux.O_PATH != 0 {
		return vfs.openOPathFD(ctx, creds, pop, o.Flags)
	}
	if o.Flags&linux.O_TMPFILE == linux.O_TMPFILE {
		// O_TMPFILE needs the filesystem to make unnamed, later linkable,
		// files; none does yet.
		return nil, linux.EOPNOTSUPP
	}
	if o.Flags&(linux.O_CREAT|linux.O_DIRECTORY) == linux.O_CREAT|linux.O_DIRECTORY {
		return nil, linux.EINVAL
	}
	p := *pop
	p.FollowFinalSymlink = o.Flags&linux.O_NOFOLLOW == 0 && o.Flags&(linux.O_CREAT|linux.O_EXCL) != linux.O_CREAT|linux.O_EXCL
	if o.Flags&linux.O_CREAT != 0 {
		if err := checkCreatePath(&p, linux.EISDIR); err != nil {
			return nil, err
		}
	}
	rp, err := vfs.getResolvingPath(creds, &p)
	if err != nil {
		return nil, err
	}
	defer vfs.putResolvingPath(rp)
	for {
		fd, err := rp.mount.fs.impl.OpenAt(ctx, rp, o)
		if err == nil {
			return fd, nil
		}
		if !rp.handleError(ctx, err) {
			return nil, err
		}
	}
}

// ReadlinkAt returns the target of the symlink pop names (EINVAL if it is not one).
func (vfs *VirtualFilesystem) ReadlinkAt(ctx Context, creds *auth.Credentials, pop *PathOperation) (string, error) {
	p := *pop
	p.FollowFinalSymlink = false
	rp, err := vfs.getResolvingPath(creds, &p)
	if err != nil {
		return "", err
	}
	defer vfs.putResolvingPath(rp)
	for {
		target, err := rp.mount.fs.impl.ReadlinkAt(ctx, rp)
		if err == nil || !rp.handleError(ctx, err) {
			return target, err
		}
	}
}

// MkdirAt makes the directory pop names.
func (vfs *VirtualFilesystem) MkdirAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *MkdirOptions) error {
	if err := checkCreatePath(pop, linux.EEXIST); err != nil {
		return err
	}
	p := *pop
	p.FollowFinalSymlink = false
	return vfs.forEachFS(ctx, creds, &p, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.MkdirAt(ctx, rp, *opts)
	})
}

// MknodAt makes the file pop names: a regular file, FIFO, device node or socket.
// Directories cannot be made this way (EPERM), nor files of unknown types (EINVAL).
func (vfs *VirtualFilesystem) MknodAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *MknodOptions) error {
	switch opts.Mode & linux.S_IFMT {
	case 0, linux.S_IFREG, linux.S_IFCHR, linux.S_IFBLK, linux.S_IFIFO, linux.S_IFSOCK:
	case linux.S_IFDIR:
		return linux.EPERM
	default:
		return linux.EINVAL
	}
	if err := checkCreatePath(pop, linux.EEXIST); err != nil {
		return err
	}
	p := *pop
	p.FollowFinalSymlink = false
	return vfs.forEachFS(ctx, creds, &p, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.MknodAt(ctx, rp, *opts)
	})
}

// SymlinkAt makes a symlink at pop pointing to target.
func (vfs *VirtualFilesystem) SymlinkAt(ctx Context, creds *auth.Credentials, pop *PathOperation, target string) error {
	if err := checkCreatePath(pop, linux.EEXIST); err != nil {
		return err
	}
	if target == "" {
		return linux.ENOENT
	}
	if len(target) >= linux.PATH_MAX {
		return linux.ENAMETOOLONG
	}
	p := *pop
	p.FollowFinalSymlink = false
	return vfs.forEachFS(ctx, creds, &p, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.SymlinkAt(ctx, rp, target)
	})
}

// LinkAt makes newpop a new hard link to the file oldpop names.
func (vfs *VirtualFilesystem) LinkAt(ctx Context, creds *auth.Credentials, oldpop, newpop *PathOperation) error {
	oldVD, err := vfs.GetDentryAt(ctx, creds, oldpop, &GetDentryOptions{})
	if err != nil {
		return err
	}
	defer oldVD.DecRef()
	if err := checkCreatePath(newpop, linux.EEXIST); err != nil {
		return err
	}
	p := *newpop
	p.FollowFinalSymlink = false
	return vfs.forEachFS(ctx, creds, &p, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.LinkAt(ctx, rp, oldVD)
	})
}

// UnlinkAt removes the non-directory pop names.
func (vfs *VirtualFilesystem) UnlinkAt(ctx Context, creds *auth.Credentials, pop *PathOperation) error {
	if err := checkCreatePath(pop, linux.EISDIR); err != nil {
		return err
	}
	p := *pop
	p.FollowFinalSymlink = false
	return vfs.forEachFS(ctx, creds, &p, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.UnlinkAt(ctx, rp)
	})
}

// RmdirAt removes the empty directory pop names.
func (vfs *VirtualFilesystem) RmdirAt(ctx Context, creds *auth.Credentials, pop *PathOperation) error {
	if err := checkCreatePath(pop, linux.EBUSY); err != nil {
		return err
	}
	p := *pop
	p.FollowFinalSymlink = false
	return vfs.forEachFS(ctx, creds, &p, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.RmdirAt(ctx, rp)
	})
}

// RenameAt renames the file oldpop names to newpop (rename(2), renameat2(2)).
func (vfs *VirtualFilesystem) RenameAt(ctx Context, creds *auth.Credentials, oldpop, newpop *PathOperation, opts *RenameOptions) error {
	if opts.Flags&^(linux.RENAME_NOREPLACE|linux.RENAME_EXCHANGE|linux.RENAME_WHITEOUT) != 0 {
		return linux.EINVAL
	}
	if opts.Flags&linux.RENAME_EXCHANGE != 0 && opts.Flags&(linux.RENAME_NOREPLACE|linux.RENAME_WHITEOUT) != 0 {
		return linux.EINVAL
	}
	if err := checkCreatePath(oldpop, linux.EBUSY); err != nil {
		return err
	}
	op := *oldpop
	op.FollowFinalSymlink = false
	oldParentVD, oldName, oldMustBeDir, err := vfs.getParentDirAndName(ctx, creds, &op)
	if err != nil {
		return err
	}
	defer oldParentVD.DecRef()
	if oldName == "." || oldName == ".." {
		return linux.EBUSY
	}
	if len(oldName) > linux.NAME_MAX {
		return linux.ENAMETOOLONG
	}
	newErr := linux.EBUSY
	if opts.Flags&linux.RENAME_NOREPLACE != 0 {
		newErr = linux.EEXIST
	}
	if err := checkCreatePath(newpop, newErr); err != nil {
		return err
	}
	np := *newpop
	np.FollowFinalSymlink = false
	o := *opts
	o.MustBeDir = oldMustBeDir
	return vfs.forEachFS(ctx, creds, &np, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.RenameAt(ctx, rp, oldParentVD, oldName, o)
	})
}

// StatAt returns the status of the file pop names.
func (vfs *VirtualFilesystem) StatAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *StatOptions) (linux.Statx, error) {
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return linux.Statx{}, err
	}
	defer vfs.putResolvingPath(rp)
	for {
		stat, err := rp.mount.fs.impl.StatAt(ctx, rp, *opts)
		if err == nil || !rp.handleError(ctx, err) {
			return stat, err
		}
	}
}

// SetStatAt changes the status of the file pop names: mode, owner, size, times.
func (vfs *VirtualFilesystem) SetStatAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *SetStatOptions) error {
	return vfs.forEachFS(ctx, creds, pop, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.SetStatAt(ctx, rp, *opts)
	})
}

// StatFSAt returns the status of the filesystem holding the file pop names.
func (vfs *VirtualFilesystem) StatFSAt(ctx Context, creds *auth.Credentials, pop *PathOperation) (linux.Statfs, error) {
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return linux.Statfs{}, err
	}
	defer vfs.putResolvingPath(rp)
	for {
		st, err := rp.mount.fs.impl.StatFSAt(ctx, rp)
		if err == nil {
			rp.mount.addStatfsFlags(&st)
			return st, nil
		}
		if !rp.handleError(ctx, err) {
			return st, err
		}
	}
}

// ListXattrAt returns the names of the extended attributes of the file pop names
// that creds may see. size is listxattr(2)'s buffer size, 0 for "any".
func (vfs *VirtualFilesystem) ListXattrAt(ctx Context, creds *auth.Credentials, pop *PathOperation, size uint64) ([]string, error) {
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return nil, err
	}
	defer vfs.putResolvingPath(rp)
	for {
		names, err := rp.mount.fs.impl.ListXattrAt(ctx, rp, size)
		if err == nil || !rp.handleError(ctx, err) {
			return names, err
		}
	}
}

// GetXattrAt returns the value of an extended attribute of the file pop names.
func (vfs *VirtualFilesystem) GetXattrAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *GetXattrOptions) (string, error) {
	if err := checkXattrName(opts.Name); err != nil {
		return "", err
	}
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return "", err
	}
	defer vfs.putResolvingPath(rp)
	for {
		val, err := rp.mount.fs.impl.GetXattrAt(ctx, rp, *opts)
		if err == nil || !rp.handleError(ctx, err) {
			return val, err
		}
	}
}

// SetXattrAt sets an extended attribute of the file pop names.
func (vfs *VirtualFilesystem) SetXattrAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *SetXattrOptions) error {
	if err := checkSetXattr(opts); err != nil {
		return err
	}
	return vfs.forEachFS(ctx, creds, pop, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.SetXattrAt(ctx, rp, *opts)
	})
}

// RemoveXattrAt removes an extended attribute of the file pop names.
func (vfs *VirtualFilesystem) RemoveXattrAt(ctx Context, creds *auth.Credentials, pop *PathOperation, name string) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	return vfs.forEachFS(ctx, creds, pop, func(rp *ResolvingPath) error {
		return rp.mount.fs.impl.RemoveXattrAt(ctx, rp, name)
	})
}

// forEachFS runs op, a filesystem operation that returns only an error, on rp's
// filesystem until the path no longer leads into another one.
func (vfs *VirtualFilesystem) forEachFS(ctx Context, creds *auth.Credentials, pop *PathOperation, op func(rp *ResolvingPath) error) error {
	rp, err := vfs.getResolvingPath(creds, pop)
	if err != nil {
		return err
	}
	defer vfs.putResolvingPath(rp)
	for {
		err := op(rp)
		if err == nil || !rp.handleError(ctx, err) {
			return err
		}
	}
}
