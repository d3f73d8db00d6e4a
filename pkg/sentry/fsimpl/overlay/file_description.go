package overlay

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// fileDescription is what overlay regular file and directory descriptions have: the
// VFS's part, the dentry, and the metadata methods, which go to the dentry (and so
// copy the file up to change it).
type fileDescription struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	d *dentry
}

// Stat implements vfs.FileDescriptionImpl.Stat.
func (fd *fileDescription) Stat(ctx vfs.Context, _ vfs.StatOptions) (linux.Statx, error) {
	return fd.d.stat(ctx)
}

// SetStat implements vfs.FileDescriptionImpl.SetStat.
func (fd *fileDescription) SetStat(ctx vfs.Context, opts vfs.SetStatOptions) error {
	fs := fd.d.fs
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	return fs.setStat(ctx, fd.d, ctx.Credentials(), fd.vfsfd.Mount(), &opts)
}

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (fd *fileDescription) StatFS(ctx vfs.Context) (linux.Statfs, error) {
	return fd.d.fs.statFS(ctx)
}

// ListXattr implements vfs.FileDescriptionImpl.ListXattr.
func (fd *fileDescription) ListXattr(ctx vfs.Context, size uint64) ([]string, error) {
	return fd.d.fs.listXattr(ctx, fd.d, ctx.Credentials(), size)
}

// GetXattr implements vfs.FileDescriptionImpl.GetXattr.
func (fd *fileDescription) GetXattr(ctx vfs.Context, opts vfs.GetXattrOptions) (string, error) {
	return fd.d.fs.getXattr(ctx, fd.d, ctx.Credentials(), &opts)
}

// SetXattr implements vfs.FileDescriptionImpl.SetXattr.
func (fd *fileDescription) SetXattr(ctx vfs.Context, opts vfs.SetXattrOptions) error {
	fs := fd.d.fs
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	return fs.setXattr(ctx, fd.d, ctx.Credentials(), fd.vfsfd.Mount(), &opts)
}

// RemoveXattr implements vfs.FileDescriptionImpl.RemoveXattr.
func (fd *fileDescription) RemoveXattr(ctx vfs.Context, name string) error {
	fs := fd.d.fs
	fs.renameMu.RLock()
	defer fs.renameMu.RUnlock()
	return fs.removeXattr(ctx, fd.d, ctx.Credentials(), fd.vfsfd.Mount(), name)
}
