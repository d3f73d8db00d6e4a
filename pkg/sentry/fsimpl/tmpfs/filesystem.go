package tmpfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// stepLocked resolves rp's current component in the directory d and returns the
// dentry it names, following a symlink there if rp says to.
// Precondition: fs.mu is locked.
func stepLocked(ctx vfs.Context, rp *vfs.ResolvingPath, d *dentry) (*dentry, error) {
	dir := d.dir()
	if dir == nil {
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
			return d.parent, nil
		}
		if len(name) > linux.NAME_MAX {
			return nil, linux.ENAMETOOLONG
		}
		child, ok := dir.childMap[name]
		if !ok {
			return nil, linux.ENOENT
		}
		if err := rp.CheckMount(ctx, &child.vfsd); err != nil {
			return nil, err
		}
		if sl, ok := child.inode.impl.(*symlink); ok && rp.ShouldFollowSymlink() {
			// Go on with the target's first component, from d.
			if err := rp.HandleSymlink(sl.target); err != nil {
				return nil, err
			}
			continue
		}
		rp.Advance()
		return child, nil
	}
}

// resolveLocked resolves all of rp. Precondition: fs.mu is locked.
func resolveLocked(ctx vfs.Context, rp *vfs.ResolvingPath) (*dentry, error) {
	d := rp.Start().Impl().(*dentry)
	for !rp.Done() {
		var err error
		if d, err = stepLocked(ctx, rp, d); err != nil {
			return nil, err
		}
	}
	if rp.MustBeDir() && !d.isDir() {
		return nil, linux.ENOTDIR
	}
	return d, nil
}

// walkParentDirLocked resolves rp from d up to its final component and returns the
// directory that holds it. Preconditions: fs.mu is locked; !rp.Done().
func walkParentDirLocked(ctx vfs.Context, rp *vfs.ResolvingPath, d *dentry) (*dentry, error) {
	for !rp.Final() {
		var err error
		if d, err = stepLocked(ctx, rp, d); err != nil {
			return nil, err
		}
	}
	if !d.isDir() {
		return nil, linux.ENOTDIR
	}
	return d, nil
}

// doCreateAt checks that rp's final component can be created, as a directory if
// dir, and calls create with its parent directory and name to do it.
func (fs *filesystem) doCreateAt(ctx vfs.Context, rp *vfs.ResolvingPath, dir bool, create func(parent *dentry, name string) error) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if rp.Done() {
		return linux.EEXIST
	}
	creds := rp.Credentials()
	parent, err := walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry))
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
	if _, ok := parent.dir().childMap[name]; ok {
		return linux.EEXIST
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

// newChildMode returns the mode and group of a file creds makes in parent.
func newChildMode(creds *auth.Credentials, parent *dentry, mode uint16) (uint16, auth.KGID) {
	return vfs.ModeForNewFile(creds, mode, parent.inode.getMode(), parent.inode.getKGID())
}

// GetDentryAt implements vfs.FilesystemImpl.GetDentryAt.
func (fs *filesystem) GetDentryAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.GetDentryOptions) (*vfs.Dentry, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return nil, err
	}
	if opts.CheckSearchable {
		if !d.isDir() {
			return nil, linux.ENOTDIR
		}
		if err := d.checkPermissions(rp.Credentials(), auth.MayExec); err != nil {
			return nil, err
		}
	}
	d.IncRef()
	return &d.vfsd, nil
}

// GetParentDentryAt implements vfs.FilesystemImpl.GetParentDentryAt.
func (fs *filesystem) GetParentDentryAt(ctx vfs.Context, rp *vfs.ResolvingPath) (*vfs.Dentry, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry))
	if err != nil {
		return nil, err
	}
	d.IncRef()
	return &d.vfsd, nil
}

// AccessAt implements vfs.FilesystemImpl.AccessAt.
func (fs *filesystem) AccessAt(ctx vfs.Context, rp *vfs.ResolvingPath, creds *auth.Credentials, ats auth.AccessTypes) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return err
	}
	if ats.MayWrite() && rp.Mount().ReadOnly() {
		switch d.inode.fileType() {
		case linux.S_IFREG, linux.S_IFDIR, linux.S_IFLNK:
			return linux.EROFS
		}
	}
	return d.checkPermissions(creds, ats)
}

// OpenAt implements vfs.FilesystemImpl.OpenAt.
func (fs *filesystem) OpenAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.OpenOptions) (*vfs.FileDescription, error) {
	if opts.Flags&linux.O_CREAT == 0 {
		fs.mu.RLock()
		d, err := resolveLocked(ctx, rp)
		fs.mu.RUnlock()
		if err != nil {
			return nil, err
		}
		return d.open(ctx, rp, &opts, false)
	}

	mustCreate := opts.Flags&linux.O_EXCL != 0
	creds := rp.Credentials()
	start := rp.Start().Impl().(*dentry)
	fs.mu.Lock()
	locked := true
	defer func() {
		if locked {
			fs.mu.Unlock()
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
		fs.mu.Unlock()
		locked = false
		return start.open(ctx, rp, &opts, false)
	}
	parent, err := walkParentDirLocked(ctx, rp, start)
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
		child, ok := parent.dir().childMap[name]
		if !ok {
			if parent.vfsd.IsDead() {
				return nil, linux.ENOENT
			}
			if err := rp.Mount().CheckWritable(); err != nil {
				return nil, err
			}
			if err := parent.checkPermissions(creds, auth.MayWrite|auth.MayExec); err != nil {
				return nil, err
			}
			mode, kgid := newChildMode(creds, parent, linux.S_IFREG|opts.Mode&linux.PermissionsMask)
			child = fs.newDentry(fs.newRegularFile(creds.FSKUID, kgid, mode&linux.PermissionsMask))
			parent.insertChildLocked(child, name)
			parent.inode.touchCMtime()
			rp.Advance()
			fs.mu.Unlock()
			locked = false
			return child.open(ctx, rp, &opts, true)
		}
		if mustCreate {
			return nil, linux.EEXIST
		}
		if err := rp.CheckMount(ctx, &child.vfsd); err != nil {
			return nil, err
		}
		if sl, ok := child.inode.impl.(*symlink); ok && rp.ShouldFollowSymlink() {
			// Create the symlink's target, if it does not exist.
			if err := rp.HandleSymlink(sl.target); err != nil {
				return nil, err
			}
			if parent, err = walkParentDirLocked(ctx, rp, parent); err != nil {
				return nil, err
			}
			continue
		}
		rp.Advance()
		if child.isDir() {
			return nil, linux.EISDIR
		}
		fs.mu.Unlock()
		locked = false
		return child.open(ctx, rp, &opts, false)
	}
}

// open opens d, which rp led to; afterCreate says OpenAt just made it, which waives
// permission checks and O_TRUNC.
func (d *dentry) open(ctx vfs.Context, rp *vfs.ResolvingPath, opts *vfs.OpenOptions, afterCreate bool) (*vfs.FileDescription, error) {
	i := d.inode
	mnt := rp.Mount()
	creds := rp.Credentials()
	ats := vfs.AccessTypesForOpenFlags(opts)
	if opts.Flags&linux.O_DIRECTORY != 0 && !i.isDir() {
		return nil, linux.ENOTDIR
	}
	checkAccess := func() error {
		if afterCreate {
			return nil
		}
		if err := i.checkPermissions(creds, ats); err != nil {
			return err
		}
		if opts.Flags&linux.O_NOATIME != 0 && !auth.CanActAsOwner(creds, i.getKUID()) {
			return linux.EPERM
		}
		return nil
	}
	switch impl := i.impl.(type) {
	case *regularFile:
		if err := checkAccess(); err != nil {
			return nil, err
		}
		if ats.MayWrite() {
			if err := mnt.CheckWritable(); err != nil {
				return nil, err
			}
		}
		fd := &regularFileFD{}
		fd.d = d
		fd.vfsfd.Init(fd, opts.Flags, mnt, &d.vfsd, &vfs.FileDescriptionOptions{AllowDirectIO: true})
		if opts.Flags&linux.O_TRUNC != 0 && !afterCreate {
			i.mu.Lock()
			// Truncating to zero cannot fail.
			_ = impl.truncate(0)
			i.mode.Store(uint32(killPrivs(creds, i.getMode())))
			i.mu.Unlock()
			i.touchCMtime()
		}
		return &fd.vfsfd, nil
	case *directory:
		if ats.MayWrite() {
			return nil, linux.EISDIR
		}
		if err := checkAccess(); err != nil {
			return nil, err
		}
		fd := &directoryFD{}
		fd.d = d
		fd.vfsfd.Init(fd, opts.Flags, mnt, &d.vfsd, &vfs.FileDescriptionOptions{})
		return &fd.vfsfd, nil
	case *symlink:
		// Only O_NOFOLLOW opens reach a symlink.
		return nil, linux.ELOOP
	case *namedPipe:
		if err := checkAccess(); err != nil {
			return nil, err
		}
		return impl.pipe.Open(ctx, mnt, &d.vfsd, opts.Flags)
	case *deviceFile:
		if mnt.Flags().NoDev {
			return nil, linux.EACCES
		}
		if err := checkAccess(); err != nil {
			return nil, err
		}
		return rp.VirtualFilesystem().OpenDeviceSpecialFile(ctx, mnt, &d.vfsd, impl.kind, impl.major, impl.minor, *opts)
	case *socketFile:
		if err := checkAccess(); err != nil {
			return nil, err
		}
		return nil, linux.ENXIO
	}
	panic("tmpfs: unknown file type")
}

// ReadlinkAt implements vfs.FilesystemImpl.ReadlinkAt.
func (fs *filesystem) ReadlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath) (string, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return "", err
	}
	sl, ok := d.inode.impl.(*symlink)
	if !ok {
		return "", linux.EINVAL
	}
	d.inode.touchAtime(rp.Mount())
	return sl.target, nil
}

// MkdirAt implements vfs.FilesystemImpl.MkdirAt.
func (fs *filesystem) MkdirAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.MkdirOptions) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, true, func(parent *dentry, name string) error {
		mode, kgid := newChildMode(creds, parent, linux.S_IFDIR|opts.Mode&(0o777|linux.S_ISVTX))
		child := fs.newDentry(fs.newDirectory(creds.FSKUID, kgid, mode&linux.PermissionsMask))
		parent.insertChildLocked(child, name)
		parent.inode.incLinks()
		return nil
	})
}

// MknodAt implements vfs.FilesystemImpl.MknodAt.
func (fs *filesystem) MknodAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.MknodOptions) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, false, func(parent *dentry, name string) error {
		o := opts
		if o.Mode&linux.S_IFMT == 0 {
			o.Mode |= linux.S_IFREG
		}
		typ := o.Mode & linux.S_IFMT
		if (typ == linux.S_IFCHR || typ == linux.S_IFBLK) && !creds.HasCapability(linux.CAP_MKNOD) {
			return linux.EPERM
		}
		var kgid auth.KGID
		o.Mode, kgid = newChildMode(creds, parent, o.Mode)
		var i *inode
		if typ == linux.S_IFREG {
			i = fs.newRegularFile(creds.FSKUID, kgid, o.Mode&linux.PermissionsMask)
		} else {
			var err error
			if i, err = fs.newSpecialFile(creds.FSKUID, kgid, &o); err != nil {
				return err
			}
		}
		parent.insertChildLocked(fs.newDentry(i), name)
		return nil
	})
}

// SymlinkAt implements vfs.FilesystemImpl.SymlinkAt.
func (fs *filesystem) SymlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath, target string) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, false, func(parent *dentry, name string) error {
		_, kgid := newChildMode(creds, parent, linux.S_IFLNK|0o777)
		parent.insertChildLocked(fs.newDentry(fs.newSymlink(creds.FSKUID, kgid, target)), name)
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
		if i.isDir() {
			return linux.EPERM
		}
		if i.nlink.Load() == 0 {
			return linux.ENOENT
		}
		parent.insertChildLocked(fs.newDentry(i), name)
		i.incLinks()
		i.touchCtime()
		return nil
	})
}

// UnlinkAt implements vfs.FilesystemImpl.UnlinkAt.
func (fs *filesystem) UnlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if rp.Done() {
		return linux.EBUSY
	}
	creds := rp.Credentials()
	parent, err := walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry))
	if err != nil {
		return err
	}
	if err := parent.checkPermissions(creds, auth.MayExec); err != nil {
		return err
	}
	name := rp.Component()
	if name == "." || name == ".." {
		return linux.EISDIR
	}
	if len(name) > linux.NAME_MAX {
		return linux.ENAMETOOLONG
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	child, ok := parent.dir().childMap[name]
	if !ok {
		return linux.ENOENT
	}
	if child.isDir() {
		return linux.EISDIR
	}
	if rp.MustBeDir() {
		return linux.ENOTDIR
	}
	if err := checkDelete(creds, parent, child); err != nil {
		return err
	}
	vfsObj := rp.VirtualFilesystem()
	if err := vfsObj.PrepareDeleteDentry(&child.vfsd); err != nil {
		return err
	}
	parent.removeChildLocked(child)
	child.inode.decLinks()
	child.inode.touchCtime()
	vfsObj.CommitDeleteDentry(&child.vfsd)
	parent.inode.touchCMtime()
	child.DecRef()
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

// RmdirAt implements vfs.FilesystemImpl.RmdirAt.
func (fs *filesystem) RmdirAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if rp.Done() {
		return linux.EBUSY
	}
	creds := rp.Credentials()
	parent, err := walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry))
	if err != nil {
		return err
	}
	if err := parent.checkPermissions(creds, auth.MayExec); err != nil {
		return err
	}
	switch name := rp.Component(); {
	case name == ".":
		return linux.EINVAL
	case name == "..":
		return linux.ENOTEMPTY
	case len(name) > linux.NAME_MAX:
		return linux.ENAMETOOLONG
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	child, ok := parent.dir().childMap[rp.Component()]
	if !ok {
		return linux.ENOENT
	}
	if !child.isDir() {
		return linux.ENOTDIR
	}
	if err := checkDelete(creds, parent, child); err != nil {
		return err
	}
	vfsObj := rp.VirtualFilesystem()
	if err := vfsObj.PrepareDeleteDentry(&child.vfsd); err != nil {
		return err
	}
	if len(child.dir().childMap) != 0 {
		vfsObj.AbortDeleteDentry(&child.vfsd)
		return linux.ENOTEMPTY
	}
	parent.removeChildLocked(child)
	child.inode.nlink.Store(0)
	child.inode.touchCtime()
	parent.inode.decLinks()
	vfsObj.CommitDeleteDentry(&child.vfsd)
	parent.inode.touchCMtime()
	child.DecRef()
	return nil
}

// isAncestorOrSelf reports whether a is d or one of its ancestors.
// Precondition: fs.mu is locked.
func isAncestorOrSelf(a, d *dentry) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// RenameAt implements vfs.FilesystemImpl.RenameAt.
func (fs *filesystem) RenameAt(ctx vfs.Context, rp *vfs.ResolvingPath, oldParentVD vfs.VirtualDentry, oldName string, opts vfs.RenameOptions) error {
	if opts.Flags&linux.RENAME_WHITEOUT != 0 {
		// Whiteouts are for overlay filesystems, which Visor does not have.
		return linux.EINVAL
	}
	exchange := opts.Flags&linux.RENAME_EXCHANGE != 0
	noReplace := opts.Flags&linux.RENAME_NOREPLACE != 0
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if rp.Done() {
		return linux.EBUSY
	}
	creds := rp.Credentials()
	newParent, err := walkParentDirLocked(ctx, rp, rp.Start().Impl().(*dentry))
	if err != nil {
		return err
	}
	if oldParentVD.Mount() != rp.Mount() {
		return linux.EXDEV
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
	oldParent := oldParentVD.Dentry().Impl().(*dentry)
	renamed, ok := oldParent.dir().childMap[oldName]
	if !ok {
		return linux.ENOENT
	}
	replaced := newParent.dir().childMap[newName]
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
	// A directory cannot move beneath itself, and what is replaced cannot be an
	// ancestor of what moves (it would have to be empty, and is not).
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
	if exchange {
		oldParent.removeChildLocked(renamed)
		newParent.removeChildLocked(replaced)
		newParent.insertChildLocked(renamed, newName)
		oldParent.insertChildLocked(replaced, oldName)
		// Removal kept the tree's references, which insertion took again.
		renamed.DecRef()
		replaced.DecRef()
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
			if replaced.isDir() && len(replaced.dir().childMap) != 0 {
				vfsObj.AbortRenameDentry(&renamed.vfsd, replacedVFSD)
				return linux.ENOTEMPTY
			}
			newParent.removeChildLocked(replaced)
			if replaced.isDir() {
				replaced.inode.nlink.Store(0)
				newParent.inode.decLinks()
			} else {
				replaced.inode.decLinks()
			}
			replaced.inode.touchCtime()
		}
		oldParent.removeChildLocked(renamed)
		newParent.insertChildLocked(renamed, newName)
		renamed.DecRef()
		if renamed.isDir() && oldParent != newParent {
			oldParent.inode.decLinks()
			newParent.inode.incLinks()
		}
		vfsObj.CommitRenameReplaceDentry(&renamed.vfsd, replacedVFSD)
		if replaced != nil {
			replaced.DecRef()
		}
	}
	renamed.inode.touchCtime()
	oldParent.inode.touchCMtime()
	newParent.inode.touchCMtime()
	return nil
}

// StatAt implements vfs.FilesystemImpl.StatAt.
func (fs *filesystem) StatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.StatOptions) (linux.Statx, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return linux.Statx{}, err
	}
	var stat linux.Statx
	d.inode.statTo(&stat)
	return stat, nil
}

// SetStatAt implements vfs.FilesystemImpl.SetStatAt.
func (fs *filesystem) SetStatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetStatOptions) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return err
	}
	return d.inode.setStat(rp.Credentials(), rp.Mount(), &opts)
}

// StatFSAt implements vfs.FilesystemImpl.StatFSAt.
func (fs *filesystem) StatFSAt(ctx vfs.Context, rp *vfs.ResolvingPath) (linux.Statfs, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	if _, err := resolveLocked(ctx, rp); err != nil {
		return linux.Statfs{}, err
	}
	return fs.statFS(), nil
}

// ListXattrAt implements vfs.FilesystemImpl.ListXattrAt.
func (fs *filesystem) ListXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, size uint64) ([]string, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return nil, err
	}
	return d.inode.listXattr(rp.Credentials(), size)
}

// GetXattrAt implements vfs.FilesystemImpl.GetXattrAt.
func (fs *filesystem) GetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.GetXattrOptions) (string, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return "", err
	}
	return d.inode.getXattr(rp.Credentials(), &opts)
}

// SetXattrAt implements vfs.FilesystemImpl.SetXattrAt.
func (fs *filesystem) SetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetXattrOptions) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return err
	}
	return d.inode.setXattr(rp.Credentials(), rp.Mount(), &opts)
}

// RemoveXattrAt implements vfs.FilesystemImpl.RemoveXattrAt.
func (fs *filesystem) RemoveXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, name string) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := resolveLocked(ctx, rp)
	if err != nil {
		return err
	}
	return d.inode.removeXattr(rp.Credentials(), rp.Mount(), name)
}

// PrependPath implements vfs.FilesystemImpl.PrependPath.
func (fs *filesystem) PrependPath(ctx vfs.Context, vfsroot, vd vfs.VirtualDentry, b *vfs.PathBuilder) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
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
