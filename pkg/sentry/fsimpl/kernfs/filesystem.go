package kernfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// step resolves rp's current component in the directory d and returns the dentry
// it names, following a symlink there if rp says to.
func step(ctx vfs.Context, rp *vfs.ResolvingPath, d *Dentry) (*Dentry, error) {
	dir, ok := d.inode.(Directory)
	if !ok {
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
		child, err := d.child(ctx, dir, name)
		if err != nil {
			return nil, err
		}
		if err := rp.CheckMount(ctx, &child.vfsd); err != nil {
			return nil, err
		}
		if sl, ok := child.inode.(Symlink); ok && rp.ShouldFollowSymlink() {
			vd, target, err := sl.Getlink(ctx)
			if err != nil {
				return nil, err
			}
			if vd.Ok() {
				// The walk goes on in vd's filesystem without a reference,
				// as it does everywhere; see vfs.ResolvingPath.
				err := rp.HandleJump(vd)
				vd.DecRef()
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

// resolve resolves all of rp.
func resolve(ctx vfs.Context, rp *vfs.ResolvingPath) (*Dentry, error) {
	d := rp.Start().Impl().(*Dentry)
	for !rp.Done() {
		var err error
		if d, err = step(ctx, rp, d); err != nil {
			return nil, err
		}
	}
	if rp.MustBeDir() && !d.isDir() {
		return nil, linux.ENOTDIR
	}
	return d, nil
}

// walkParentDir resolves rp up to its final component and returns the directory
// that holds it. Precondition: !rp.Done().
func walkParentDir(ctx vfs.Context, rp *vfs.ResolvingPath) (*Dentry, error) {
	d := rp.Start().Impl().(*Dentry)
	for !rp.Final() {
		var err error
		if d, err = step(ctx, rp, d); err != nil {
			return nil, err
		}
	}
	if !d.isDir() {
		return nil, linux.ENOTDIR
	}
	return d, nil
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *Filesystem) Release() {}

// Sync implements vfs.FilesystemImpl.Sync: there is nothing to write back.
func (fs *Filesystem) Sync(vfs.Context) error { return nil }

// AccessAt implements vfs.FilesystemImpl.AccessAt.
func (fs *Filesystem) AccessAt(ctx vfs.Context, rp *vfs.ResolvingPath, creds *auth.Credentials, ats auth.AccessTypes) error {
	d, err := resolve(ctx, rp)
	if err != nil {
		return err
	}
	if ats.MayWrite() && rp.Mount().ReadOnly() {
		return linux.EROFS
	}
	return d.checkPermissions(creds, ats)
}

// GetDentryAt implements vfs.FilesystemImpl.GetDentryAt.
func (fs *Filesystem) GetDentryAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.GetDentryOptions) (*vfs.Dentry, error) {
	d, err := resolve(ctx, rp)
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
	return &d.vfsd, nil
}

// GetParentDentryAt implements vfs.FilesystemImpl.GetParentDentryAt.
func (fs *Filesystem) GetParentDentryAt(ctx vfs.Context, rp *vfs.ResolvingPath) (*vfs.Dentry, error) {
	d, err := walkParentDir(ctx, rp)
	if err != nil {
		return nil, err
	}
	return &d.vfsd, nil
}

// OpenAt implements vfs.FilesystemImpl.OpenAt. Nothing can be created: O_CREAT of
// a name that does not exist fails with the filesystem's CreateMissingError, or
// with EACCES, as a directory without a create operation makes Linux's open fail
// (after may_o_create's permission check).
func (fs *Filesystem) OpenAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.OpenOptions) (*vfs.FileDescription, error) {
	if opts.Flags&linux.O_CREAT != 0 && !rp.Done() {
		parent, err := walkParentDir(ctx, rp)
		if err != nil {
			return nil, err
		}
		if rp.MustBeDir() {
			return nil, linux.EISDIR
		}
		name := rp.Component()
		if name == "." || name == ".." {
			return nil, linux.EISDIR
		}
		if _, err := parent.child(ctx, parent.inode.(Directory), name); err == linux.ENOENT {
			if fs.createMissingErr != nil {
				return nil, fs.createMissingErr
			}
			if err := parent.checkPermissions(rp.Credentials(), auth.MayWrite|auth.MayExec); err != nil {
				return nil, err
			}
			return nil, linux.EACCES
		}
		if opts.Flags&linux.O_EXCL != 0 {
			return nil, linux.EEXIST
		}
	}
	d, err := resolve(ctx, rp)
	if err != nil {
		return nil, err
	}
	if opts.Flags&linux.O_CREAT != 0 && d.isDir() {
		return nil, linux.EISDIR
	}
	return d.open(ctx, rp, &opts)
}

// open opens d.
func (d *Dentry) open(ctx vfs.Context, rp *vfs.ResolvingPath, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	ats := vfs.AccessTypesForOpenFlags(opts)
	if opts.Flags&linux.O_DIRECTORY != 0 && !d.isDir() {
		return nil, linux.ENOTDIR
	}
	switch inode := d.inode.(type) {
	case Directory:
		if ats.MayWrite() {
			return nil, linux.EISDIR
		}
		if err := d.checkPermissions(rp.Credentials(), ats); err != nil {
			return nil, err
		}
		fd := &directoryFD{dir: inode}
		fd.d = d
		fd.vfsfd.Init(fd, opts.Flags, rp.Mount(), &d.vfsd, &vfs.FileDescriptionOptions{})
		return &fd.vfsfd, nil
	case DynamicFile:
		if err := d.checkPermissions(rp.Credentials(), ats); err != nil {
			return nil, err
		}
		if ats.MayWrite() {
			if err := rp.Mount().CheckWritable(); err != nil {
				return nil, err
			}
			if _, ok := inode.(WritableFile); !ok {
				return nil, linux.EACCES
			}
		}
		fd := &DynamicFD{file: inode}
		fd.d = d
		fd.vfsfd.Init(fd, opts.Flags, rp.Mount(), &d.vfsd, &vfs.FileDescriptionOptions{})
		return &fd.vfsfd, nil
	case Symlink:
		// Only O_NOFOLLOW opens reach a symlink.
		return nil, linux.ELOOP
	}
	return nil, linux.ENXIO
}

// ReadlinkAt implements vfs.FilesystemImpl.ReadlinkAt.
func (fs *Filesystem) ReadlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath) (string, error) {
	d, err := resolve(ctx, rp)
	if err != nil {
		return "", err
	}
	sl, ok := d.inode.(Symlink)
	if !ok {
		return "", linux.EINVAL
	}
	return sl.Readlink(ctx)
}

// checkCreateAt fails an operation that would create the name rp ends in: with
// EEXIST if the name exists, else with the filesystem's CreateMissingError or
// EPERM, as directories without the operation do in Linux.
func (fs *Filesystem) checkCreateAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	if rp.Done() {
		return linux.EEXIST
	}
	parent, err := walkParentDir(ctx, rp)
	if err != nil {
		return err
	}
	name := rp.Component()
	if name == "." || name == ".." {
		return linux.EEXIST
	}
	if err := parent.checkPermissions(rp.Credentials(), auth.MayExec); err != nil {
		return err
	}
	if _, err := parent.child(ctx, parent.inode.(Directory), name); err == nil {
		return linux.EEXIST
	}
	if fs.createMissingErr != nil {
		return fs.createMissingErr
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	return linux.EPERM
}

// checkRemoveAt fails an operation that would remove the name rp ends in: with the
// error resolving it gives, else with EPERM.
func (fs *Filesystem) checkRemoveAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	if rp.Done() {
		return linux.EBUSY
	}
	parent, err := walkParentDir(ctx, rp)
	if err != nil {
		return err
	}
	name := rp.Component()
	if name == "." || name == ".." {
		return linux.EINVAL
	}
	if _, err := parent.child(ctx, parent.inode.(Directory), name); err != nil {
		return err
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	return linux.EPERM
}

// MkdirAt implements vfs.FilesystemImpl.MkdirAt.
func (fs *Filesystem) MkdirAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ vfs.MkdirOptions) error {
	return fs.checkCreateAt(ctx, rp)
}

// MknodAt implements vfs.FilesystemImpl.MknodAt.
func (fs *Filesystem) MknodAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ vfs.MknodOptions) error {
	return fs.checkCreateAt(ctx, rp)
}

// SymlinkAt implements vfs.FilesystemImpl.SymlinkAt.
func (fs *Filesystem) SymlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ string) error {
	return fs.checkCreateAt(ctx, rp)
}

// LinkAt implements vfs.FilesystemImpl.LinkAt.
func (fs *Filesystem) LinkAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ vfs.VirtualDentry) error {
	return fs.checkCreateAt(ctx, rp)
}

// UnlinkAt implements vfs.FilesystemImpl.UnlinkAt.
func (fs *Filesystem) UnlinkAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	return fs.checkRemoveAt(ctx, rp)
}

// RmdirAt implements vfs.FilesystemImpl.RmdirAt.
func (fs *Filesystem) RmdirAt(ctx vfs.Context, rp *vfs.ResolvingPath) error {
	return fs.checkRemoveAt(ctx, rp)
}

// RenameAt implements vfs.FilesystemImpl.RenameAt.
func (fs *Filesystem) RenameAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ vfs.VirtualDentry, _ string, _ vfs.RenameOptions) error {
	if rp.Done() {
		return linux.EBUSY
	}
	if _, err := walkParentDir(ctx, rp); err != nil {
		return err
	}
	if err := rp.Mount().CheckWritable(); err != nil {
		return err
	}
	return linux.EPERM
}

// StatAt implements vfs.FilesystemImpl.StatAt.
func (fs *Filesystem) StatAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ vfs.StatOptions) (linux.Statx, error) {
	d, err := resolve(ctx, rp)
	if err != nil {
		return linux.Statx{}, err
	}
	var stat linux.Statx
	d.statTo(&stat)
	return stat, nil
}

// SetStatAt implements vfs.FilesystemImpl.SetStatAt: synthetic files keep their
// modes, owners and times (EPERM), as Linux's /proc files mostly do.
func (fs *Filesystem) SetStatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetStatOptions) error {
	d, err := resolve(ctx, rp)
	if err != nil {
		return err
	}
	return d.setStat(rp.Credentials(), rp.Mount(), &opts)
}

// setStat refuses every change but an empty one and, on a writable file, a
// truncation, which shells do for "echo x > /proc/..." and Linux's procfs accepts
// without effect.
func (d *Dentry) setStat(creds *auth.Credentials, mnt *vfs.Mount, opts *vfs.SetStatOptions) error {
	mask := opts.Stat.Mask
	if mask == 0 {
		return nil
	}
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	if mask == linux.STATX_SIZE {
		if _, ok := d.inode.(WritableFile); ok {
			return nil
		}
	}
	return linux.EPERM
}

// StatFSAt implements vfs.FilesystemImpl.StatFSAt.
func (fs *Filesystem) StatFSAt(ctx vfs.Context, rp *vfs.ResolvingPath) (linux.Statfs, error) {
	if _, err := resolve(ctx, rp); err != nil {
		return linux.Statfs{}, err
	}
	return fs.statFS(), nil
}

func (fs *Filesystem) statFS() linux.Statfs {
	return linux.Statfs{Type: fs.magic, BlockSize: blockSize, FragmentSize: blockSize, NameLength: linux.NAME_MAX}
}

// ListXattrAt implements vfs.FilesystemImpl.ListXattrAt: synthetic files have no
// extended attributes.
func (fs *Filesystem) ListXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ uint64) ([]string, error) {
	if _, err := resolve(ctx, rp); err != nil {
		return nil, err
	}
	return nil, nil
}

// GetXattrAt implements vfs.FilesystemImpl.GetXattrAt.
func (fs *Filesystem) GetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ vfs.GetXattrOptions) (string, error) {
	if _, err := resolve(ctx, rp); err != nil {
		return "", err
	}
	return "", linux.ENODATA
}

// SetXattrAt implements vfs.FilesystemImpl.SetXattrAt.
func (fs *Filesystem) SetXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ vfs.SetXattrOptions) error {
	if _, err := resolve(ctx, rp); err != nil {
		return err
	}
	return linux.EPERM
}

// RemoveXattrAt implements vfs.FilesystemImpl.RemoveXattrAt.
func (fs *Filesystem) RemoveXattrAt(ctx vfs.Context, rp *vfs.ResolvingPath, _ string) error {
	if _, err := resolve(ctx, rp); err != nil {
		return err
	}
	return linux.ENODATA
}

// PrependPath implements vfs.FilesystemImpl.PrependPath.
func (fs *Filesystem) PrependPath(_ vfs.Context, vfsroot, vd vfs.VirtualDentry, b *vfs.PathBuilder) error {
	mnt := vd.Mount()
	d := vd.Dentry().Impl().(*Dentry)
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
