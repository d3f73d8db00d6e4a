package gofer

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// held is the dentries a path operation walked through, each with a reference it
// took: the walk holds no lock across steps that would keep a dentry from being
// removed (and released) by a concurrent unlink, so it keeps them alive itself. The
// references are dropped once the operation has released its locks.
type held struct {
	// Most walks are short: their dentries fit inline, without allocating.
	inline [8]*dentry
	n      int
	more   []*dentry
}

// add takes a reference on d, to be dropped by release.
func (h *held) add(d *dentry) *dentry {
	d.IncRef()
	h.dropLater(d)
	return d
}

// dropLater hands a reference the caller owns over to release.
func (h *held) dropLater(d *dentry) {
	if h.n < len(h.inline) {
		h.inline[h.n] = d
		h.n++
		return
	}
	h.more = append(h.more, d)
}

func (h *held) release() {
	for _, d := range h.inline[:h.n] {
		d.DecRef()
	}
	for _, d := range h.more {
		d.DecRef()
	}
	*h = held{}
}

// lookupLocked returns the child name of the directory parent, asking the Gofer when
// the cache does not know it, or ENOENT. The child is only safe to use while dirMu
// stays locked; take a reference to keep it. Preconditions: filesystem.renameMu is
// locked; parent.inode.dirMu is locked.
func (fs *filesystem) lookupLocked(parent *dentry, name string) (*dentry, error) {
	dir := parent.inode
	if child, ok := dir.children[name]; ok {
		if child == nil {
			return nil, linux.ENOENT
		}
		return child, nil
	}
	if parent.vfsd.IsDead() {
		return nil, linux.ENOENT
	}
	_, inodes, err := fs.client.Walk(dir.controlFD, []string{name})
	if err != nil {
		return nil, err
	}
	if len(inodes) == 0 {
		dir.addNegativeLocked(name)
		return nil, linux.ENOENT
	}
	return fs.insertChildLocked(parent, name, inodes[0]), nil
}

// insertChildLocked adds a dentry for the file in, named name, to parent's children,
// where it holds its first reference. Preconditions: filesystem.renameMu is locked;
// parent.inode.dirMu is locked; name is not a positive entry.
func (fs *filesystem) insertChildLocked(parent *dentry, name string, in lisafs.Inode) *dentry {
	child := fs.newDentry(parent, name, fs.getInode(in))
	parent.inode.setChildLocked(name, child)
	return child
}

// setChildLocked makes name a positive entry for d. Precondition: dirMu is locked.
func (dir *inode) setChildLocked(name string, d *dentry) {
	if old, ok := dir.children[name]; ok && old == nil {
		dir.negatives--
	}
	dir.children[name] = d
}

// addNegativeLocked records that name does not exist. Precondition: dirMu is locked.
func (dir *inode) addNegativeLocked(name string) {
	if dir.negatives >= maxNegativeEntries {
		for n, d := range dir.children {
			if d == nil {
				delete(dir.children, n)
			}
		}
		dir.negatives = 0
	}
	if old, ok := dir.children[name]; ok && old == nil {
		return
	}
	dir.children[name] = nil
	dir.negatives++
}

// getChild is lookupLocked with its own locking, returning the child with a reference
// in ds. Precondition: filesystem.renameMu is locked.
func (fs *filesystem) getChild(parent *dentry, name string, ds *held) (*dentry, error) {
	parent.inode.dirMu.Lock()
	defer parent.inode.dirMu.Unlock()
	child, err := fs.lookupLocked(parent, name)
	if err != nil {
		return nil, err
	}
	return ds.add(child), nil
}

// stepLocked resolves rp's current component in the directory d and returns the
// dentry it names, following a symlink there if rp says to. Precondition:
// filesystem.renameMu is locked.
func (fs *filesystem) stepLocked(ctx vfs.Context, rp *vfs.ResolvingPath, d *dentry, ds *held) (*dentry, error) {
	if !d.isDir() {
		return nil, linux.ENOTDIR
	}
	if err := d.checkPermissions(rp.Credentials(), auth.MayExec); err != nil {
		return nil, err
	}
	for {
		name := rp.Component()
		switch name {
		case ".":
			rp.Advance()
			return d, nil
		case "..":
			if isRoot, err := rp.CheckRoot(ctx, &d.vfsd); err != nil {
				return nil, err
			} else if isRoot || d.parent == nil {
				rp.Advance()
				return d, nil
			}
			if err := rp.CheckMount(ctx, &d.parent.vfsd); err != nil {
				return nil, err
			}
			rp.Advance()
			// d holds a reference on its parent, and ds one on d.
			return d.parent, nil
		}
		if len(name) > linux.NAME_MAX {
			return nil, linux.ENAMETOOLONG
		}
		child, err := fs.getChild(d, name, ds)
		if err != nil {
			return nil, err
		}
		if err := rp.CheckMount(ctx, &child.vfsd); err != nil {
			return nil, err
		}
		if child.inode.ftype == linux.S_IFLNK && rp.ShouldFollowSymlink() {
			target, err := child.inode.readlink()
			if err != nil {
				return nil, err
			}
			// Go on with the target's first component, from d.
			if err := rp.HandleSymlink(target); err != nil {
				return nil, err
			}
			continue
		}
		rp.Advance()
		return child, nil
	}
}

// resolveLocked resolves all of rp. Precondition: filesystem.renameMu is locked.
func (fs *filesystem) resolveLocked(ctx vfs.Context, rp *vfs.ResolvingPath, ds *held) (*dentry, error) {
	d := rp.Start().Impl().(*dentry)
	for !rp.Done() {
		var err error
		if d, err = fs.stepLocked(ctx, rp, d, ds); err != nil {
			return nil, err
		}
	}
	if rp.MustBeDir() && !d.isDir() {
		return nil, linux.ENOTDIR
	}
	return d, nil
}

// walkParentDirLocked resolves rp from d up to its final component and returns the
// directory that holds it. Preconditions: filesystem.renameMu is locked; !rp.Done().
func (fs *filesystem) walkParentDirLocked(ctx vfs.Context, rp *vfs.ResolvingPath, d *dentry, ds *held) (*dentry, error) {
	for !rp.Final() {
		var err error
		if d, err = fs.stepLocked(ctx, rp, d, ds); err != nil {
			return nil, err
		}
	}
	if !d.isDir() {
		return nil, linux.ENOTDIR
	}
	return d, nil
}

// resolve resolves all of rp and calls f with the file, under renameMu.
func (fs *filesystem) resolve(ctx vfs.Context, rp *vfs.ResolvingPath, f func(d *dentry) error) error {
	var ds held
	defer ds.release()
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	d, err := fs.resolveLocked(ctx, rp, &ds)
	if err != nil {
		return err
	}
	return f(d)
}

// doCreateAt checks that rp's final component can be created, as a directory if
// dir, and calls create with its parent directory and name to do it; create adds the
// new child with insertChildLocked.
func (fs *filesystem) doCreateAt(ctx vfs.Context, rp *vfs.ResolvingPath, dir bool, create func(parent *dentry, name string) error) error {
	var ds held
	defer ds.release()
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	if rp.Done() {
		return linux.EEXIST
	}
	creds := rp.Credentials()
	parent, err := fs.walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry), &ds)
	if err != nil {
		return err
	}
	if err := parent.checkPermissions(creds, auth.MayExec); err != nil {
		return err
	}
	name := rp.Component()
	if name == "." || name == ".." {
		return linux.EEXIST
	}
	if len(name) > linux.NAME_MAX {
		return linux.ENAMETOOLONG
	}
	parent.inode.dirMu.Lock()
	defer parent.inode.dirMu.Unlock()
	if _, err := fs.lookupLocked(parent, name); err == nil {
		return linux.EEXIST
	} else if err != linux.ENOENT {
		return err
	}
	if !dir && rp.MustBeDir() {
		return linux.ENOENT
	}
	if parent.vfsd.IsDead() {
		return linux.ENOENT
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	if err := parent.checkPermissions(creds, auth.MayWrite|auth.MayExec); err != nil {
		return err
	}
	if err := create(parent, name); err != nil {
		return err
	}
	parent.inode.touchCMtime()
	return nil
}

// newChildOwner returns the mode and owner of a file creds makes in parent, as the
// Gofer is asked to set them.
func newChildOwner(creds *auth.Credentials, parent *dentry, mode uint16) (perms, uid, gid uint32) {
	mode, kgid := vfs.ModeForNewFile(creds, mode, parent.inode.getMode(), parent.inode.getKGID())
	return uint32(mode & linux.PermissionsMask), uint32(creds.FSKUID), uint32(kgid)
}

// GetDentryAt implements vfs.FilesystemImpl.GetDentryAt.
func (fs *filesystem) GetDentryAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.GetDentryOptions) (*vfs.Dentry, error) {
	var vd *vfs.Dentry
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		if opts.CheckSearchable {
			if !d.isDir() {
				return linux.ENOTDIR
			}
			if err := d.checkPermissions(rp.Credentials(), auth.MayExec); err != nil {
				return err
			}
		}
		d.IncRef()
		vd = &d.vfsd
		return nil
	})
	return vd, err
}

// GetParentDentryAt implements vfs.FilesystemImpl.GetParentDentryAt.
func (fs *filesystem) GetParentDentryAt(ctx vfs.Context, rp *vfs.ResolvingPath) (*vfs.Dentry, error) {
	var ds held
	defer ds.release()
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	d, err := fs.walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry), &ds)
	if err != nil {
		return nil, err
	}
	d.IncRef()
	return &d.vfsd, nil
}

// AccessAt implements vfs.FilesystemImpl.AccessAt.
func (fs *filesystem) AccessAt(ctx vfs.Context, rp *vfs.ResolvingPath, creds *auth.Credentials, ats auth.AccessTypes) error {
	return fs.resolve(ctx, rp, func(d *dentry) error {
		if ats.MayWrite() && rp.Mount().ReadOnly() {
			switch d.inode.ftype {
			case linux.S_IFREG, linux.S_IFDIR, linux.S_IFLNK:
				return linux.EROFS
			}
		}
		return d.checkPermissions(creds, ats)
	})
}

// OpenAt implements vfs.FilesystemImpl.OpenAt.
func (fs *filesystem) OpenAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.OpenOptions) (*vfs.FileDescription, error) {
	var ds held
	defer ds.release()
	if opts.Flags&linux.O_CREAT == 0 {
		fs.renameMu.RLock()
		d, err := fs.resolveLocked(ctx, rp, &ds)
		fs.renameMu.RUnlock()
		if err != nil {
			return nil, err
		}
		return d.open(ctx, rp, &opts)
	}

	mustCreate := opts.Flags&linux.O_EXCL != 0
	creds := rp.Credentials()
	start := rp.Start().Impl().(*dentry)
	// renameMu is released before opening: opening a FIFO may wait for the
	// other end indefinitely.
	fs.renameMu.RLock()
	locked := true
	defer func() {
		if locked {
			fs.renameMu.RUnlock()
		}
	}()
	if rp.Done() {
		// The path led to the root of a mount of this filesystem.
		if mustCreate {
			return nil, linux.EEXIST
		}
		if start.isDir() {
			return nil, linux.EISDIR
		}
		fs.renameMu.RUnlock()
		locked = false
		return start.open(ctx, rp, &opts)
	}
	parent, err := fs.walkParentDirLocked(ctx, rp, start, &ds)
	if err != nil {
		return nil, err
	}
	for {
		if err := parent.checkPermissions(creds, auth.MayExec); err != nil {
			return nil, err
		}
		name := rp.Component()
		if name == "." || name == ".." || rp.MustBeDir() {
			return nil, linux.EISDIR
		}
		if len(name) > linux.NAME_MAX {
			return nil, linux.ENAMETOOLONG
		}
		parent.inode.dirMu.Lock()
		child, err := fs.lookupLocked(parent, name)
		if err == linux.ENOENT {
			child, err = fs.createLocked(rp, parent, name, &opts)
			parent.inode.dirMu.Unlock()
			if err != nil {
				return nil, err
			}
			ds.add(child)
			rp.Advance()
			fs.renameMu.RUnlock()
			locked = false
			return child.newRegularFD(rp.Mount(), opts.Flags), nil
		}
		if err != nil {
			parent.inode.dirMu.Unlock()
			return nil, err
		}
		ds.add(child)
		parent.inode.dirMu.Unlock()
		if mustCreate {
			return nil, linux.EEXIST
		}
		if err := rp.CheckMount(ctx, &child.vfsd); err != nil {
			return nil, err
		}
		if child.inode.ftype == linux.S_IFLNK && rp.ShouldFollowSymlink() {
			// Create the symlink's target, if it does not exist.
			target, err := child.inode.readlink()
			if err != nil {
				return nil, err
			}
			if err := rp.HandleSymlink(target); err != nil {
				return nil, err
			}
			if parent, err = fs.walkParentDirLocked(ctx, rp, parent, &ds); err != nil {
				return nil, err
			}
			continue
		}
		rp.Advance()
		if child.isDir() {
			return nil, linux.EISDIR
		}
		fs.renameMu.RUnlock()
		locked = false
		return child.open(ctx, rp, &opts)
	}
}

// createLocked makes the regular file name in parent for OpenAt and opens its host
// handle; the caller makes the file description, which uses that handle.
// Preconditions: filesystem.renameMu is locked; parent.inode.dirMu is locked; name
// does not exist.
func (fs *filesystem) createLocked(rp *vfs.ResolvingPath, parent *dentry, name string, opts *vfs.OpenOptions) (*dentry, error) {
	creds := rp.Credentials()
	if parent.vfsd.IsDead() {
		return nil, linux.ENOENT
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return nil, err
	}
	if err := parent.checkPermissions(creds, auth.MayWrite|auth.MayExec); err != nil {
		return nil, err
	}
	perms, uid, gid := newChildOwner(creds, parent, linux.S_IFREG|opts.Mode&linux.PermissionsMask)
	// The handle is opened as the application asked (permissions are not
	// checked on a file one creates); the odd access mode 3 reads and writes.
	read, write := vfs.MayReadFileWithOpenFlags(opts.Flags), vfs.MayWriteFileWithOpenFlags(opts.Flags)
	flags := uint32(linux.O_RDWR)
	switch {
	case read && !write:
		flags = linux.O_RDONLY
	case write && !read:
		flags = linux.O_WRONLY
	default:
		read, write = true, true
	}
	in, openFD, hostFD, err := fs.client.OpenCreate(parent.inode.controlFD, name, perms, uid, gid, flags)
	if err != nil {
		return nil, err
	}
	child := fs.insertChildLocked(parent, name, in)
	child.inode.installHandle(&handle{openFD: openFD, hostFD: hostFD}, read, write)
	parent.inode.touchCMtime()
	return child, nil
}

// open opens d, which rp led to, for an existing file.
func (d *dentry) open(ctx vfs.Context, rp *vfs.ResolvingPath, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	i := d.inode
	mnt := rp.Mount()
	creds := rp.Credentials()
	ats := vfs.AccessTypesForOpenFlags(opts)
	if opts.Flags&linux.O_DIRECTORY != 0 && i.ftype != linux.S_IFDIR {
		return nil, linux.ENOTDIR
	}
	checkAccess := func() error {
		if err := i.checkPermissions(creds, ats); err != nil {
			return err
		}
		if opts.Flags&linux.O_NOATIME != 0 && !auth.CanActAsOwner(creds, i.getKUID()) {
			return linux.EPERM
		}
		return nil
	}
	switch i.ftype {
	case linux.S_IFREG:
		if err := checkAccess(); err != nil {
			return nil, err
		}
		if ats.MayWrite() {
			if err := mnt.CheckWritable(); err != nil {
				return nil, err
			}
		}
		if err := i.ensureHandle(vfs.MayReadFileWithOpenFlags(opts.Flags), vfs.MayWriteFileWithOpenFlags(opts.Flags)); err != nil {
			return nil, err
		}
		if opts.Flags&linux.O_TRUNC != 0 {
			trunc := vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_SIZE}}
			if err := i.setStat(creds, mnt, &trunc); err != nil {
				i.putHandle()
				return nil, err
			}
		}
		return d.newRegularFD(mnt, opts.Flags), nil
	case linux.S_IFDIR:
		if ats.MayWrite() {
			return nil, linux.EISDIR
		}
		if err := checkAccess(); err != nil {
			return nil, err
		}
		return d.newDirectoryFD(mnt, opts.Flags), nil
	case linux.S_IFLNK:
		// Only O_NOFOLLOW opens reach a symlink.
		return nil, linux.ELOOP
	case linux.S_IFIFO:
		if err := checkAccess(); err != nil {
			return nil, err
		}
		return i.getPipe().Open(ctx, mnt, &d.vfsd, opts.Flags)
	case linux.S_IFCHR, linux.S_IFBLK:
		if mnt.Flags().NoDev {
			return nil, linux.EACCES
		}
		if err := checkAccess(); err != nil {
			return nil, err
		}
		kind := vfs.CharDevice
		if i.ftype == linux.S_IFBLK {
			kind = vfs.BlockDevice
		}
		return rp.VirtualFilesystem().OpenDeviceSpecialFile(ctx, mnt, &d.vfsd, kind, i.rdevMajor, i.rdevMinor, *opts)
	case linux.S_IFSOCK:
		if err := checkAccess(); err != nil {
			return nil, err
		}
		return nil, linux.ENXIO
	}
	return nil, linux.EIO
}

// ReadlinkAt implements vfs.FilesystemImpl.ReadlinkAt.
func (fs *filesystem) ReadlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath) (string, error) {
	var target string
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		if d.inode.ftype != linux.S_IFLNK {
			return linux.EINVAL
		}
		var err error
		target, err = d.inode.readlink()
		return err
	})
	return target, err
}

// MkdirAt implements vfs.FilesystemImpl.MkdirAt.
func (fs *filesystem) MkdirAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.MkdirOptions) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, true, func(parent *dentry, name string) error {
		perms, uid, gid := newChildOwner(creds, parent, linux.S_IFDIR|opts.Mode&(0o777|linux.S_ISVTX))
		in, err := fs.client.Mkdir(parent.inode.controlFD, name, perms, uid, gid)
		if err != nil {
			return err
		}
		fs.insertChildLocked(parent, name, in)
		parent.inode.incLinks()
		return nil
	})
}

// MknodAt implements vfs.FilesystemImpl.MknodAt: regular files, FIFOs and sockets.
// Device nodes fail with EPERM even with CAP_MKNOD: the Gofer makes no host devices.
func (fs *filesystem) MknodAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.MknodOptions) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, false, func(parent *dentry, name string) error {
		typ := opts.Mode & linux.S_IFMT
		switch typ {
		case 0:
			typ = linux.S_IFREG
		case linux.S_IFREG, linux.S_IFIFO, linux.S_IFSOCK:
		default:
			return linux.EPERM
		}
		perms, uid, gid := newChildOwner(creds, parent, typ|opts.Mode&linux.PermissionsMask)
		in, err := fs.client.Mknod(parent.inode.controlFD, name, uint32(typ)|perms, uid, gid)
		if err != nil {
			return err
		}
		child := fs.insertChildLocked(parent, name, in)
		if typ == linux.S_IFSOCK {
			child.inode.metaMu.Lock()
			child.inode.endpoint = opts.Endpoint
			child.inode.metaMu.Unlock()
		}
		return nil
	})
}

// SymlinkAt implements vfs.FilesystemImpl.SymlinkAt.
func (fs *filesystem) SymlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath, target string) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, false, func(parent *dentry, name string) error {
		_, uid, gid := newChildOwner(creds, parent, linux.S_IFLNK|0o777)
		in, err := fs.client.Symlink(parent.inode.controlFD, name, target, uid, gid)
		if err != nil {
			return err
		}
		fs.insertChildLocked(parent, name, in)
		return nil
	})
}

// LinkAt implements vfs.FilesystemImpl.LinkAt.
func (fs *filesystem) LinkAt(ctx vfs.Context, rp *vfs.ResolvingPath, vd vfs.VirtualDentry) error {
	return fs.doCreateAt(ctx, rp, false, func(parent *dentry, name string) error {
		if vd.Mount() != rp.Mount() {
			return linux.EXDEV
		}
		i := vd.Dentry().Impl().(*dentry).inode
		if i.ftype == linux.S_IFDIR {
			return linux.EPERM
		}
		if i.nlink.Load() == 0 {
			return linux.ENOENT
		}
		in, err := fs.client.Link(parent.inode.controlFD, name, i.controlFD)
		if err != nil {
			return err
		}
		// The new dentry shares i, whose attributes in refreshes (nlink).
		fs.insertChildLocked(parent, name, in)
		return nil
	})
}

// UnlinkAt implements vfs.FilesystemImpl.UnlinkAt.
func (fs *filesystem) UnlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	return fs.removeAt(ctx, rp, false)
}

// RmdirAt implements vfs.FilesystemImpl.RmdirAt.
func (fs *filesystem) RmdirAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	return fs.removeAt(ctx, rp, true)
}

// removeAt removes the directory (rmdir) or non-directory (unlink) rp names.
func (fs *filesystem) removeAt(ctx vfs.Context, rp *vfs.ResolvingPath, dir bool) error {
	var ds held
	defer ds.release()
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	if rp.Done() {
		return linux.EBUSY
	}
	creds := rp.Credentials()
	parent, err := fs.walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry), &ds)
	if err != nil {
		return err
	}
	if err := parent.checkPermissions(creds, auth.MayExec); err != nil {
		return err
	}
	name := rp.Component()
	switch {
	case dir && name == ".":
		return linux.EINVAL
	case dir && name == "..":
		return linux.ENOTEMPTY
	case name == "." || name == "..":
		return linux.EISDIR
	case len(name) > linux.NAME_MAX:
		return linux.ENAMETOOLONG
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	parent.inode.dirMu.Lock()
	defer parent.inode.dirMu.Unlock()
	child, err := fs.lookupLocked(parent, name)
	if err != nil {
		return err
	}
	if dir {
		if !child.isDir() {
			return linux.ENOTDIR
		}
	} else {
		if child.isDir() {
			return linux.EISDIR
		}
		if rp.MustBeDir() {
			return linux.ENOTDIR
		}
	}
	if err := checkDelete(creds, parent, child); err != nil {
		return err
	}
	vfsObj := rp.VirtualFilesystem()
	if err := vfsObj.PrepareDeleteDentry(&child.vfsd); err != nil {
		return err
	}
	var flags uint32
	if dir {
		flags = linux.AT_REMOVEDIR
	}
	if err := fs.client.UnlinkAt(parent.inode.controlFD, name, flags); err != nil {
		vfsObj.AbortDeleteDentry(&child.vfsd)
		return err
	}
	parent.inode.addNegativeLocked(name)
	if dir {
		child.inode.nlink.Store(0)
		parent.inode.decLinks()
		// An empty directory has at most negative entries cached.
		child.inode.dirMu.Lock()
		clear(child.inode.children)
		child.inode.negatives = 0
		child.inode.dirMu.Unlock()
	} else {
		child.inode.decLinks()
	}
	child.inode.touchCtime()
	vfsObj.CommitDeleteDentry(&child.vfsd)
	parent.inode.touchCMtime()
	// The children map's reference goes once the locks are released.
	ds.dropLater(child)
	return nil
}

// checkDelete checks whether creds may remove child from parent (may_delete's
// permission part).
func checkDelete(creds *auth.Credentials, parent, child *dentry) error {
	if err := parent.checkPermissions(creds, auth.MayWrite|auth.MayExec); err != nil {
		return err
	}
	return vfs.CheckDeleteSticky(creds, parent.inode.getMode(), parent.inode.getKUID(), child.inode.getKUID())
}

// isAncestorOrSelf reports whether a is d or one of its ancestors. Precondition:
// filesystem.renameMu is locked.
func isAncestorOrSelf(a, d *dentry) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// RenameAt implements vfs.FilesystemImpl.RenameAt. RENAME_WHITEOUT is not supported
// (EINVAL): whiteouts belong to overlays, which keep their own.
func (fs *filesystem) RenameAt(ctx vfs.Context, rp *vfs.ResolvingPath, oldParentVD vfs.VirtualDentry, oldName string, opts vfs.RenameOptions) error {
	if opts.Flags&linux.RENAME_WHITEOUT != 0 {
		return linux.EINVAL
	}
	exchange := opts.Flags&linux.RENAME_EXCHANGE != 0
	noReplace := opts.Flags&linux.RENAME_NOREPLACE != 0
	var ds held
	defer ds.release()
	fs.renameMu.Lock()
	defer fs.renameMu.Unlock()
	if rp.Done() {
		return linux.EBUSY
	}
	creds := rp.Credentials()
	newParent, err := fs.walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry), &ds)
	if err != nil {
		return err
	}
	if err := newParent.checkPermissions(creds, auth.MayExec); err != nil {
		return err
	}
	newName := rp.Component()
	if newName == "." || newName == ".." {
		if noReplace {
			return linux.EEXIST
		}
		return linux.EBUSY
	}
	if len(newName) > linux.NAME_MAX {
		return linux.ENAMETOOLONG
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	// The old path may be on another mount, even of another filesystem type:
	// only a rename within this mount is ours to do.
	if oldParentVD.Mount() != rp.Mount() {
		return linux.EXDEV
	}
	oldParent := oldParentVD.Dentry().Impl().(*dentry)
	// With renameMu held for writing no other thread holds a dirMu across a
	// walk, so two can be taken in any order.
	oldParent.inode.dirMu.Lock()
	defer oldParent.inode.dirMu.Unlock()
	if newParent != oldParent {
		newParent.inode.dirMu.Lock()
		defer newParent.inode.dirMu.Unlock()
	}
	renamed, err := fs.lookupLocked(oldParent, oldName)
	if err != nil {
		return err
	}
	replaced, err := fs.lookupLocked(newParent, newName)
	if err == linux.ENOENT {
		replaced = nil
	} else if err != nil {
		return err
	}
	switch {
	case replaced != nil && noReplace:
		return linux.EEXIST
	case replaced == nil && exchange:
		return linux.ENOENT
	}
	if !renamed.isDir() && (opts.MustBeDir || (!exchange && rp.MustBeDir())) {
		return linux.ENOTDIR
	}
	if exchange && !replaced.isDir() && rp.MustBeDir() {
		return linux.ENOTDIR
	}
	if renamed.isDir() && isAncestorOrSelf(renamed, newParent) && renamed != replaced {
		return linux.EINVAL
	}
	if replaced != nil && isAncestorOrSelf(replaced, oldParent) {
		if exchange && replaced.isDir() {
			return linux.EINVAL
		}
		if !exchange {
			return linux.ENOTEMPTY
		}
	}
	if replaced != nil && renamed.inode == replaced.inode {
		// Both names are links to one file: nothing to do.
		return nil
	}
	if err := checkDelete(creds, oldParent, renamed); err != nil {
		return err
	}
	if replaced != nil {
		if err := checkDelete(creds, newParent, replaced); err != nil {
			return err
		}
		if !exchange {
			if renamed.isDir() && !replaced.isDir() {
				return linux.ENOTDIR
			}
			if !renamed.isDir() && replaced.isDir() {
				return linux.EISDIR
			}
		}
	} else {
		if newParent.vfsd.IsDead() {
			return linux.ENOENT
		}
		if err := newParent.checkPermissions(creds, auth.MayWrite|auth.MayExec); err != nil {
			return err
		}
	}
	if oldParent != newParent {
		// A directory that changes parent has its ".." rewritten.
		if renamed.isDir() {
			if err := renamed.checkPermissions(creds, auth.MayWrite); err != nil {
				return err
			}
		}
		if exchange && replaced.isDir() {
			if err := replaced.checkPermissions(creds, auth.MayWrite); err != nil {
				return err
			}
		}
	}

	vfsObj := rp.VirtualFilesystem()
	var replacedVFSD *vfs.Dentry
	if replaced != nil {
		replacedVFSD = &replaced.vfsd
	}
	if err := vfsObj.PrepareRenameDentry(&renamed.vfsd, replacedVFSD); err != nil {
		return err
	}
	if err := fs.client.RenameAt(oldParent.inode.controlFD, oldName, newParent.inode.controlFD, newName, opts.Flags&(linux.RENAME_NOREPLACE|linux.RENAME_EXCHANGE)); err != nil {
		vfsObj.AbortRenameDentry(&renamed.vfsd, replacedVFSD)
		return err
	}
	if exchange {
		// Each parent loses one child and gains another: the children's
		// references on their parents balance out.
		oldParent.inode.children[oldName] = replaced
		newParent.inode.children[newName] = renamed
		renamed.parent, replaced.parent = newParent, oldParent
		renamed.name, replaced.name = newName, oldName
		if oldParent != newParent {
			if renamed.isDir() {
				oldParent.inode.decLinks()
				newParent.inode.incLinks()
			}
			if replaced.isDir() {
				newParent.inode.decLinks()
				oldParent.inode.incLinks()
			}
		}
		replaced.inode.touchCtime()
		vfsObj.CommitRenameExchangeDentry(&renamed.vfsd, &replaced.vfsd)
	} else {
		if replaced != nil {
			if replaced.isDir() {
				replaced.inode.nlink.Store(0)
				newParent.inode.decLinks()
			} else {
				replaced.inode.decLinks()
			}
			replaced.inode.touchCtime()
			ds.dropLater(replaced)
		}
		oldParent.inode.addNegativeLocked(oldName)
		newParent.inode.setChildLocked(newName, renamed)
		if oldParent != newParent {
			newParent.IncRef()
			ds.dropLater(oldParent)
			renamed.parent = newParent
			if renamed.isDir() {
				oldParent.inode.decLinks()
				newParent.inode.incLinks()
			}
		}
		renamed.name = newName
		vfsObj.CommitRenameReplaceDentry(&renamed.vfsd, replacedVFSD)
	}
	renamed.inode.touchCtime()
	oldParent.inode.touchCMtime()
	newParent.inode.touchCMtime()
	return nil
}

// StatAt implements vfs.FilesystemImpl.StatAt.
func (fs *filesystem) StatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.StatOptions) (linux.Statx, error) {
	var stat linux.Statx
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		d.inode.statTo(&stat)
		return nil
	})
	return stat, err
}

// SetStatAt implements vfs.FilesystemImpl.SetStatAt.
func (fs *filesystem) SetStatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetStatOptions) error {
	return fs.resolve(ctx, rp, func(d *dentry) error {
		return d.inode.setStat(rp.Credentials(), rp.Mount(), &opts)
	})
}

// StatFSAt implements vfs.FilesystemImpl.StatFSAt.
func (fs *filesystem) StatFSAt(ctx vfs.Context, rp *vfs.ResolvingPath) (linux.Statfs, error) {
	var st linux.Statfs
	err := fs.resolve(ctx, rp, func(*dentry) error {
		var err error
		st, err = fs.statFS()
		return err
	})
	return st, err
}

// ListXattrAt implements vfs.FilesystemImpl.ListXattrAt.
func (fs *filesystem) ListXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, size uint64) ([]string, error) {
	var names []string
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		var err error
		names, err = d.inode.listXattr(rp.Credentials(), size)
		return err
	})
	return names, err
}

// GetXattrAt implements vfs.FilesystemImpl.GetXattrAt.
func (fs *filesystem) GetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.GetXattrOptions) (string, error) {
	var value string
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		var err error
		value, err = d.inode.getXattr(rp.Credentials(), &opts)
		return err
	})
	return value, err
}

// SetXattrAt implements vfs.FilesystemImpl.SetXattrAt.
func (fs *filesystem) SetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetXattrOptions) error {
	return fs.resolve(ctx, rp, func(d *dentry) error {
		return d.inode.setXattr(rp.Credentials(), rp.Mount(), &opts)
	})
}

// RemoveXattrAt implements vfs.FilesystemImpl.RemoveXattrAt.
func (fs *filesystem) RemoveXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, name string) error {
	return fs.resolve(ctx, rp, func(d *dentry) error {
		return d.inode.removeXattr(rp.Credentials(), rp.Mount(), name)
	})
}

// PrependPath implements vfs.FilesystemImpl.PrependPath.
func (fs *filesystem) PrependPath(ctx vfs.Context, vfsroot, vd vfs.VirtualDentry, b *vfs.PathBuilder) error {
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	mnt := vd.Mount()
	d := vd.Dentry().Impl().(*dentry)
	for {
		if mnt == vfsroot.Mount() && &d.vfsd == vfsroot.Dentry() {
			return vfs.PrependPathAtVFSRootError{}
		}
		if &d.vfsd == mnt.Root() {
			return nil
		}
		if d.parent == nil {
			return vfs.PrependPathAtNonMountRootError{}
		}
		b.PrependComponent(d.name)
		d = d.parent
	}
}
