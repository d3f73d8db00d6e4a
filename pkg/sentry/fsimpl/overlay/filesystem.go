package overlay

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// held is the dentries a path operation walked through, each with a reference it
// took, dropped once the operation has released its locks (see gofer's).
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

// getChild is lookupLocked with its own locking, returning the child with a reference
// in ds. Precondition: filesystem.renameMu is locked.
func (fs *filesystem) getChild(ctx vfs.Context, parent *dentry, name string, ds *held) (*dentry, error) {
	parent.dirMu.Lock()
	defer parent.dirMu.Unlock()
	child, err := fs.lookupLocked(ctx, parent, name)
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
			return d.parent, nil
		}
		if len(name) > linux.NAME_MAX {
			return nil, linux.ENAMETOOLONG
		}
		child, err := fs.getChild(ctx, d, name, ds)
		if err != nil {
			return nil, err
		}
		if err := rp.CheckMount(ctx, &child.vfsd); err != nil {
			return nil, err
		}
		if child.ftype == linux.S_IFLNK && rp.ShouldFollowSymlink() {
			target, err := child.readlink(ctx)
			if err != nil {
				return nil, err
			}
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

// resolve resolves all of rp and calls f with the file, holding renameMu for reading.
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
// dir, makes sure its parent is in the upper layer, calls prepare (if set) with no
// dirMu held, removes a whiteout at the name, and calls create to make the file in
// the upper directory (told whether a whiteout was there) and add its dentry with
// newUpperChildLocked.
func (fs *filesystem) doCreateAt(ctx vfs.Context, rp *vfs.ResolvingPath, dir bool, prepare func() error, create func(parent *dentry, name string, whiteout bool) error) error {
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
	if _, err := fs.getChild(ctx, parent, name, &ds); err == nil {
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
	if err := fs.copyUp(ctx, parent, false); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return err
		}
	}
	parent.dirMu.Lock()
	defer parent.dirMu.Unlock()
	// Another thread may have made it meanwhile.
	if _, err := fs.lookupLocked(ctx, parent, name); err == nil {
		return linux.EEXIST
	} else if err != linux.ENOENT {
		return err
	}
	if parent.vfsd.IsDead() {
		return linux.ENOENT
	}
	whiteout, err := fs.removeWhiteout(ctx, parent.upperVD, name)
	if err != nil {
		return err
	}
	if err := create(parent, name, whiteout); err != nil {
		if whiteout {
			// Put the lower file's whiteout back; failing that, the lower
			// file shows again, which beats losing the error.
			_ = fs.createWhiteout(ctx, parent.upperVD, name)
		}
		return err
	}
	return nil
}

// newUpperChildLocked adds a dentry for the file just made at name in parent's
// upper directory. Precondition: parent.dirMu is locked.
func (fs *filesystem) newUpperChildLocked(ctx vfs.Context, parent *dentry, name string) (*dentry, error) {
	vd, st, err := fs.lookupLayer(ctx, parent.upperVD, name)
	if err != nil {
		return nil, err
	}
	child := fs.newDentry(parent, name, &st, fs.upperIno(st.Ino), vd, vfs.VirtualDentry{})
	parent.setChildLocked(name, child)
	return child, nil
}

// setOwner gives the upper file pop, just made by the overlay's credentials, the
// owner and mode it has when creds make it in parent.
func (fs *filesystem) setOwner(ctx vfs.Context, pop *vfs.PathOperation, creds *auth.Credentials, parent *dentry, mode uint16) error {
	mode, kgid := vfs.ModeForNewFile(creds, mode, parent.getMode(), parent.getKGID())
	mask := uint32(linux.STATX_UID | linux.STATX_GID | linux.STATX_MODE)
	if mode&linux.S_IFMT == linux.S_IFLNK {
		mask &^= linux.STATX_MODE
	}
	return fs.vfsObj.SetStatAt(ctx, fs.creds, pop, &vfs.SetStatOptions{Stat: linux.Statx{
		Mask: mask,
		UID:  uint32(creds.FSKUID),
		GID:  uint32(kgid),
		Mode: mode & linux.PermissionsMask,
	}})
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
			switch d.ftype {
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
	// renameMu is held while opening (copy-up needs it) but for special
	// files, whose opening may wait indefinitely (FIFOs): open calls unlock.
	fs.renameMu.RLock()
	locked := true
	unlock := func() {
		if locked {
			fs.renameMu.RUnlock()
			locked = false
		}
	}
	defer unlock()
	if opts.Flags&linux.O_CREAT == 0 {
		d, err := fs.resolveLocked(ctx, rp, &ds)
		if err != nil {
			return nil, err
		}
		return d.open(ctx, rp, &opts, unlock)
	}

	mustCreate := opts.Flags&linux.O_EXCL != 0
	creds := rp.Credentials()
	start := rp.Start().Impl().(*dentry)
	if rp.Done() {
		// The path led to the root of a mount of this filesystem.
		if mustCreate {
			return nil, linux.EEXIST
		}
		if start.isDir() {
			return nil, linux.EISDIR
		}
		return start.open(ctx, rp, &opts, unlock)
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
		parent.dirMu.Lock()
		child, err := fs.lookupLocked(ctx, parent, name)
		if err == linux.ENOENT {
			if err := fs.checkCreate(rp, parent); err != nil {
				parent.dirMu.Unlock()
				return nil, err
			}
			if !parent.copiedUp.Load() {
				// Copy-up takes the grandparent's dirMu: look again after.
				parent.dirMu.Unlock()
				if err := fs.copyUp(ctx, parent, false); err != nil {
					return nil, err
				}
				continue
			}
			fd, err := fs.createRegularLocked(ctx, rp, parent, name, &opts)
			parent.dirMu.Unlock()
			return fd, err
		}
		if err != nil {
			parent.dirMu.Unlock()
			return nil, err
		}
		ds.add(child)
		parent.dirMu.Unlock()
		if mustCreate {
			return nil, linux.EEXIST
		}
		if err := rp.CheckMount(ctx, &child.vfsd); err != nil {
			return nil, err
		}
		if child.ftype == linux.S_IFLNK && rp.ShouldFollowSymlink() {
			// Create the symlink's target, if it does not exist.
			target, err := child.readlink(ctx)
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
		return child.open(ctx, rp, &opts, unlock)
	}
}

// checkCreate checks that rp's creds may create a file in parent through rp's mount.
func (fs *filesystem) checkCreate(rp *vfs.ResolvingPath, parent *dentry) error {
	if parent.vfsd.IsDead() {
		return linux.ENOENT
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	return parent.checkPermissions(rp.Credentials(), auth.MayWrite|auth.MayExec)
}

// createRegularLocked makes the regular file name in parent's upper directory for
// OpenAt and opens it. Preconditions: filesystem.renameMu is locked; parent.dirMu is
// locked; parent is copied up; name does not exist; checkCreate passed.
func (fs *filesystem) createRegularLocked(ctx vfs.Context, rp *vfs.ResolvingPath, parent *dentry, name string, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	whiteout, err := fs.removeWhiteout(ctx, parent.upperVD, name)
	if err != nil {
		return nil, err
	}
	pop := layerPop(parent.upperVD, name)
	mode := linux.S_IFREG | opts.Mode&linux.PermissionsMask
	lfd, err := fs.vfsObj.OpenAt(ctx, fs.creds, pop, &vfs.OpenOptions{Flags: opts.Flags | linux.O_EXCL, Mode: mode & linux.PermissionsMask})
	var child *dentry
	if err == nil {
		err = fs.setOwner(ctx, pop, rp.Credentials(), parent, mode)
		if err == nil {
			child, err = fs.newUpperChildLocked(ctx, parent, name)
		}
		if err != nil {
			lfd.DecRef()
			fs.removeUpper(ctx, pop, false)
		}
	}
	if err != nil {
		if whiteout {
			_ = fs.createWhiteout(ctx, parent.upperVD, name)
		}
		return nil, err
	}
	rp.Advance()
	return child.newRegularFD(rp.Mount(), opts.Flags, lfd, false), nil
}

// open opens d, which rp led to, for an existing file. unlock releases
// filesystem.renameMu, which the caller holds for reading, before an open that may
// block.
func (d *dentry) open(ctx vfs.Context, rp *vfs.ResolvingPath, opts *vfs.OpenOptions, unlock func()) (*vfs.FileDescription, error) {
	fs := d.fs
	mnt := rp.Mount()
	creds := rp.Credentials()
	ats := vfs.AccessTypesForOpenFlags(opts)
	if opts.Flags&linux.O_DIRECTORY != 0 && !d.isDir() {
		return nil, linux.ENOTDIR
	}
	if err := d.checkPermissions(creds, ats); err != nil {
		return nil, err
	}
	if opts.Flags&linux.O_NOATIME != 0 && !auth.CanActAsOwner(creds, d.getKUID()) {
		return nil, linux.EPERM
	}
	layerOpts := &vfs.OpenOptions{Flags: opts.Flags &^ (linux.O_CREAT | linux.O_EXCL | linux.O_NOFOLLOW)}
	switch d.ftype {
	case linux.S_IFREG:
		if ats.MayWrite() {
			if err := mnt.CheckWritable(); err != nil {
				return nil, err
			}
			if err := fs.copyUp(ctx, d, opts.Flags&linux.O_TRUNC != 0); err != nil {
				return nil, err
			}
		}
		onLower := !d.copiedUp.Load()
		top := d.upperVD
		if onLower {
			top = d.lowerVD
		}
		lfd, err := fs.vfsObj.OpenAt(ctx, fs.creds, layerPop(top, ""), layerOpts)
		if err != nil {
			return nil, err
		}
		return d.newRegularFD(mnt, opts.Flags, lfd, onLower), nil
	case linux.S_IFDIR:
		if ats.MayWrite() {
			return nil, linux.EISDIR
		}
		return d.newDirectoryFD(mnt, opts.Flags), nil
	case linux.S_IFLNK:
		// Only O_NOFOLLOW opens reach a symlink.
		return nil, linux.ELOOP
	case linux.S_IFCHR, linux.S_IFBLK:
		if mnt.Flags().NoDev {
			return nil, linux.EACCES
		}
	}
	// FIFOs, devices and sockets are opened in their layer, without copy-up:
	// they have no data to copy. The description is the layer's.
	top := d.topVD()
	unlock()
	return fs.vfsObj.OpenAt(ctx, fs.creds, layerPop(top, ""), layerOpts)
}

// ReadlinkAt implements vfs.FilesystemImpl.ReadlinkAt.
func (fs *filesystem) ReadlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath) (string, error) {
	var target string
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		if d.ftype != linux.S_IFLNK {
			return linux.EINVAL
		}
		var err error
		target, err = d.readlink(ctx)
		return err
	})
	return target, err
}

// MkdirAt implements vfs.FilesystemImpl.MkdirAt. A directory made where a whiteout
// was is opaque: the removed lower directory of that name stays hidden.
func (fs *filesystem) MkdirAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.MkdirOptions) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, true, nil, func(parent *dentry, name string, whiteout bool) error {
		pop := layerPop(parent.upperVD, name)
		mode := linux.S_IFDIR | opts.Mode&(0o777|linux.S_ISVTX)
		if err := fs.vfsObj.MkdirAt(ctx, fs.creds, pop, &vfs.MkdirOptions{Mode: mode & linux.PermissionsMask}); err != nil {
			return err
		}
		err := fs.setOwner(ctx, pop, creds, parent, mode)
		var child *dentry
		if err == nil {
			child, err = fs.newUpperChildLocked(ctx, parent, name)
		}
		if err == nil && whiteout {
			if err = fs.markOpaque(ctx, child.upperVD); err != nil {
				parent.addNegativeLocked(name)
				child.DecRef()
			}
		}
		if err != nil {
			fs.removeUpper(ctx, pop, true)
		}
		return err
	})
}

// MknodAt implements vfs.FilesystemImpl.MknodAt. A character device 0:0 is how the
// overlay marks removed files, so making one fails with EPERM.
func (fs *filesystem) MknodAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.MknodOptions) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, false, nil, func(parent *dentry, name string, _ bool) error {
		o := opts
		if o.Mode&linux.S_IFMT == 0 {
			o.Mode |= linux.S_IFREG
		}
		switch o.Mode & linux.S_IFMT {
		case linux.S_IFCHR, linux.S_IFBLK:
			if !creds.HasCapability(linux.CAP_MKNOD) {
				return linux.EPERM
			}
			if o.Mode&linux.S_IFMT == linux.S_IFCHR && o.DevMajor == 0 && o.DevMinor == 0 {
				return linux.EPERM
			}
		}
		pop := layerPop(parent.upperVD, name)
		if err := fs.vfsObj.MknodAt(ctx, fs.creds, pop, &o); err != nil {
			return err
		}
		err := fs.setOwner(ctx, pop, creds, parent, o.Mode)
		if err == nil {
			_, err = fs.newUpperChildLocked(ctx, parent, name)
		}
		if err != nil {
			fs.removeUpper(ctx, pop, false)
		}
		return err
	})
}

// SymlinkAt implements vfs.FilesystemImpl.SymlinkAt.
func (fs *filesystem) SymlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath, target string) error {
	creds := rp.Credentials()
	return fs.doCreateAt(ctx, rp, false, nil, func(parent *dentry, name string, _ bool) error {
		pop := layerPop(parent.upperVD, name)
		if err := fs.vfsObj.SymlinkAt(ctx, fs.creds, pop, target); err != nil {
			return err
		}
		err := fs.setOwner(ctx, pop, creds, parent, linux.S_IFLNK|0o777)
		if err == nil {
			_, err = fs.newUpperChildLocked(ctx, parent, name)
		}
		if err != nil {
			fs.removeUpper(ctx, pop, false)
		}
		return err
	})
}

// LinkAt implements vfs.FilesystemImpl.LinkAt: a lower file is copied up and linked
// there.
func (fs *filesystem) LinkAt(ctx vfs.Context, rp *vfs.ResolvingPath, vd vfs.VirtualDentry) error {
	var target *dentry
	// The walk may leave this filesystem; only once it has ended here, on the
	// target's own mount, is the target one of ours.
	prepare := func() error {
		if vd.Mount() != rp.Mount() {
			return linux.EXDEV
		}
		target = vd.Dentry().Impl().(*dentry)
		if target.isDir() {
			return linux.EPERM
		}
		if target.vfsd.IsDead() {
			return linux.ENOENT
		}
		return fs.copyUp(ctx, target, false)
	}
	return fs.doCreateAt(ctx, rp, false, prepare, func(parent *dentry, name string, _ bool) error {
		pop := layerPop(parent.upperVD, name)
		if err := fs.vfsObj.LinkAt(ctx, fs.creds, layerPop(target.upperVD, ""), pop); err != nil {
			return err
		}
		// The new name shares the copy's upper inode, and so its inode number.
		if _, err := fs.newUpperChildLocked(ctx, parent, name); err != nil {
			fs.removeUpper(ctx, pop, false)
			return err
		}
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

// removeAt removes the directory (rmdir) or non-directory (unlink) rp names: its
// upper file goes, and a whiteout hides its lower one.
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
	check := func(child *dentry) error {
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
		return checkDelete(creds, parent, child)
	}
	// Fail without copying the parent up if the removal cannot happen.
	child, err := fs.getChild(ctx, parent, name, &ds)
	if err != nil {
		return err
	}
	if err := check(child); err != nil {
		return err
	}
	if err := fs.copyUp(ctx, parent, false); err != nil {
		return err
	}
	parent.dirMu.Lock()
	defer parent.dirMu.Unlock()
	// Another thread may have changed the name meanwhile.
	if child, err = fs.lookupLocked(ctx, parent, name); err != nil {
		return err
	}
	if err := check(child); err != nil {
		return err
	}
	if dir {
		// Nothing is made in child while its dirMu is held.
		child.dirMu.Lock()
		defer child.dirMu.Unlock()
		ents, err := fs.readMerged(ctx, child)
		if err != nil {
			return err
		}
		if len(ents) != 0 {
			return linux.ENOTEMPTY
		}
	}
	whiteout, err := fs.lowerHas(ctx, parent, name)
	if err != nil {
		return err
	}
	vfsObj := rp.VirtualFilesystem()
	if err := vfsObj.PrepareDeleteDentry(&child.vfsd); err != nil {
		return err
	}
	if err := fs.removeLayersLocked(ctx, parent, name, child, whiteout); err != nil {
		vfsObj.AbortDeleteDentry(&child.vfsd)
		return err
	}
	parent.addNegativeLocked(name)
	if dir {
		clear(child.children)
		child.negatives = 0
	}
	vfsObj.CommitDeleteDentry(&child.vfsd)
	ds.dropLater(child)
	return nil
}

// removeLayersLocked removes child's upper file (and, for a directory, the
// whiteouts in it) and, if whiteout, leaves a whiteout for the lower file at name.
// Preconditions: parent.dirMu is locked; parent is copied up.
func (fs *filesystem) removeLayersLocked(ctx vfs.Context, parent *dentry, name string, child *dentry, whiteout bool) error {
	pop := layerPop(parent.upperVD, name)
	if child.copiedUp.Load() {
		var err error
		if child.isDir() {
			if err = fs.clearWhiteouts(ctx, child.upperVD); err == nil {
				err = fs.vfsObj.RmdirAt(ctx, fs.creds, pop)
			}
		} else {
			err = fs.vfsObj.UnlinkAt(ctx, fs.creds, pop)
		}
		if err != nil {
			return err
		}
	}
	if whiteout {
		return fs.createWhiteout(ctx, parent.upperVD, name)
	}
	return nil
}

// checkDelete checks whether creds may remove child from parent (may_delete's
// permission part).
func checkDelete(creds *auth.Credentials, parent, child *dentry) error {
	if err := parent.checkPermissions(creds, auth.MayWrite|auth.MayExec); err != nil {
		return err
	}
	return vfs.CheckDeleteSticky(creds, parent.getMode(), parent.getKUID(), child.getKUID())
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

// RenameAt implements vfs.FilesystemImpl.RenameAt. A directory with a lower part
// cannot be renamed (EXDEV, as Linux's overlayfs without redirect_dir); files are
// copied up and renamed in the upper layer, leaving a whiteout where a lower file
// had the old name. RENAME_WHITEOUT is not supported (EINVAL).
func (fs *filesystem) RenameAt(ctx vfs.Context, rp *vfs.ResolvingPath, oldParentVD vfs.VirtualDentry, oldName string, opts vfs.RenameOptions) error {
	if opts.Flags&linux.RENAME_WHITEOUT != 0 {
		return linux.EINVAL
	}
	exchange := opts.Flags&linux.RENAME_EXCHANGE != 0
	noReplace := opts.Flags&linux.RENAME_NOREPLACE != 0
	var ds held
	defer ds.release()
	// With renameMu held for writing nothing else walks, creates or copies up in
	// the overlay.
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
	renamed, err := fs.getChild(ctx, oldParent, oldName, &ds)
	if err != nil {
		return err
	}
	replaced, err := fs.getChild(ctx, newParent, newName, &ds)
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
	if replaced != nil && (renamed == replaced || (!renamed.isDir() && renamed.ino == replaced.ino)) {
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
	if renamed.isDir() && renamed.lowerVD.Ok() {
		return linux.EXDEV
	}
	if exchange && replaced.isDir() && replaced.lowerVD.Ok() {
		return linux.EXDEV
	}
	if !exchange && replaced != nil && replaced.isDir() {
		replaced.dirMu.Lock()
		ents, err := fs.readMerged(ctx, replaced)
		replaced.dirMu.Unlock()
		if err != nil {
			return err
		}
		if len(ents) != 0 {
			return linux.ENOTEMPTY
		}
	}
	for _, d := range []*dentry{oldParent, newParent, renamed} {
		if err := fs.copyUp(ctx, d, false); err != nil {
			return err
		}
	}
	if exchange {
		if err := fs.copyUp(ctx, replaced, false); err != nil {
			return err
		}
	}

	oldParent.dirMu.Lock()
	defer oldParent.dirMu.Unlock()
	if newParent != oldParent {
		newParent.dirMu.Lock()
		defer newParent.dirMu.Unlock()
	}
	vfsObj := rp.VirtualFilesystem()
	var replacedVFSD *vfs.Dentry
	if replaced != nil {
		replacedVFSD = &replaced.vfsd
	}
	if err := vfsObj.PrepareRenameDentry(&renamed.vfsd, replacedVFSD); err != nil {
		return err
	}
	if err := fs.renameLayersLocked(ctx, oldParent, oldName, newParent, newName, renamed, replaced, exchange); err != nil {
		vfsObj.AbortRenameDentry(&renamed.vfsd, replacedVFSD)
		return err
	}
	if exchange {
		oldParent.children[oldName] = replaced
		newParent.children[newName] = renamed
		renamed.parent, replaced.parent = newParent, oldParent
		renamed.name, replaced.name = newName, oldName
		vfsObj.CommitRenameExchangeDentry(&renamed.vfsd, &replaced.vfsd)
		return nil
	}
	if replaced != nil {
		ds.dropLater(replaced)
	}
	oldParent.addNegativeLocked(oldName)
	newParent.setChildLocked(newName, renamed)
	if oldParent != newParent {
		newParent.IncRef()
		ds.dropLater(oldParent)
		renamed.parent = newParent
	}
	renamed.name = newName
	vfsObj.CommitRenameReplaceDentry(&renamed.vfsd, replacedVFSD)
	return nil
}

// renameLayersLocked does RenameAt's work in the upper layer: it clears what the
// new name's upper file has (a whiteout, or the whiteouts of an empty directory),
// renames, leaves a whiteout where a lower file had the old name, and makes a moved
// directory opaque where a lower file has its new name. Preconditions: the parents'
// dirMus are locked; both parents and the files moved are copied up.
func (fs *filesystem) renameLayersLocked(ctx vfs.Context, oldParent *dentry, oldName string, newParent *dentry, newName string, renamed, replaced *dentry, exchange bool) error {
	oldPop := layerPop(oldParent.upperVD, oldName)
	newPop := layerPop(newParent.upperVD, newName)
	if exchange {
		if err := fs.vfsObj.RenameAt(ctx, fs.creds, oldPop, newPop, &vfs.RenameOptions{Flags: linux.RENAME_EXCHANGE}); err != nil {
			return err
		}
		if err := fs.opaqueIfLowerHas(ctx, renamed, newParent, newName); err != nil {
			return err
		}
		return fs.opaqueIfLowerHas(ctx, replaced, oldParent, oldName)
	}
	switch {
	case replaced != nil && replaced.copiedUp.Load() && replaced.isDir():
		if err := fs.clearWhiteouts(ctx, replaced.upperVD); err != nil {
			return err
		}
	case replaced == nil:
		if _, err := fs.removeWhiteout(ctx, newParent.upperVD, newName); err != nil {
			return err
		}
	}
	whiteout, err := fs.lowerHas(ctx, oldParent, oldName)
	if err != nil {
		return err
	}
	if err := fs.vfsObj.RenameAt(ctx, fs.creds, oldPop, newPop, &vfs.RenameOptions{}); err != nil {
		return err
	}
	if whiteout {
		if err := fs.createWhiteout(ctx, oldParent.upperVD, oldName); err != nil {
			return err
		}
	}
	return fs.opaqueIfLowerHas(ctx, renamed, newParent, newName)
}

// opaqueIfLowerHas marks the upper directory of d, just moved to name in parent,
// opaque if the lower layer has that name. Non-directories need nothing.
func (fs *filesystem) opaqueIfLowerHas(ctx vfs.Context, d *dentry, parent *dentry, name string) error {
	if !d.isDir() {
		return nil
	}
	has, err := fs.lowerHas(ctx, parent, name)
	if err != nil || !has {
		return err
	}
	return fs.markOpaque(ctx, d.upperVD)
}

// StatAt implements vfs.FilesystemImpl.StatAt.
func (fs *filesystem) StatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.StatOptions) (linux.Statx, error) {
	var stat linux.Statx
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		var err error
		stat, err = d.stat(ctx)
		return err
	})
	return stat, err
}

// SetStatAt implements vfs.FilesystemImpl.SetStatAt.
func (fs *filesystem) SetStatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetStatOptions) error {
	return fs.resolve(ctx, rp, func(d *dentry) error {
		return fs.setStat(ctx, d, rp.Credentials(), rp.Mount(), &opts)
	})
}

// setStat changes d's status: it checks the change against the overlay's view,
// copies d up, and makes the change in the upper layer with creds (whose checks
// there see the same owner and mode). Precondition: filesystem.renameMu is locked.
func (fs *filesystem) setStat(ctx vfs.Context, d *dentry, creds *auth.Credentials, mnt *vfs.Mount, opts *vfs.SetStatOptions) error {
	stat := &opts.Stat
	if stat.Mask == 0 {
		return nil
	}
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	if err := vfs.CheckSetStat(creds, opts, d.getMode(), d.getKUID(), d.getKGID()); err != nil {
		return err
	}
	truncating := stat.Mask&linux.STATX_SIZE != 0 && stat.Size == 0
	if err := fs.copyUp(ctx, d, truncating); err != nil {
		return err
	}
	err := fs.vfsObj.SetStatAt(ctx, creds, layerPop(d.upperVD, ""), opts)
	// Even a failed change may have made part of it.
	if st, serr := fs.statLayer(ctx, d.upperVD); serr == nil {
		d.setAttrs(&st)
	}
	return err
}

// StatFSAt implements vfs.FilesystemImpl.StatFSAt.
func (fs *filesystem) StatFSAt(ctx vfs.Context, rp *vfs.ResolvingPath) (linux.Statfs, error) {
	var st linux.Statfs
	err := fs.resolve(ctx, rp, func(*dentry) error {
		var err error
		st, err = fs.statFS(ctx)
		return err
	})
	return st, err
}

// ListXattrAt implements vfs.FilesystemImpl.ListXattrAt.
func (fs *filesystem) ListXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, size uint64) ([]string, error) {
	var names []string
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		var err error
		names, err = fs.listXattr(ctx, d, rp.Credentials(), size)
		return err
	})
	return names, err
}

// GetXattrAt implements vfs.FilesystemImpl.GetXattrAt.
func (fs *filesystem) GetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.GetXattrOptions) (string, error) {
	var value string
	err := fs.resolve(ctx, rp, func(d *dentry) error {
		var err error
		value, err = fs.getXattr(ctx, d, rp.Credentials(), &opts)
		return err
	})
	return value, err
}

// SetXattrAt implements vfs.FilesystemImpl.SetXattrAt.
func (fs *filesystem) SetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetXattrOptions) error {
	return fs.resolve(ctx, rp, func(d *dentry) error {
		return fs.setXattr(ctx, d, rp.Credentials(), rp.Mount(), &opts)
	})
}

// RemoveXattrAt implements vfs.FilesystemImpl.RemoveXattrAt.
func (fs *filesystem) RemoveXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, name string) error {
	return fs.resolve(ctx, rp, func(d *dentry) error {
		return fs.removeXattr(ctx, d, rp.Credentials(), rp.Mount(), name)
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
