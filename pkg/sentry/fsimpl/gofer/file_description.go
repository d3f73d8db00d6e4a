package gofer

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// fileDescription is what every gofer file description has: the VFS's part, its
// dentry, and the metadata methods, which go to the inode.
type fileDescription struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	d *dentry
}

// Stat implements vfs.FileDescriptionImpl.Stat.
func (fd *fileDescription) Stat(vfs.Context, vfs.StatOptions) (linux.Statx, error) {
	var stat linux.Statx
	fd.d.inode.statTo(&stat)
	return stat, nil
}

// SetStat implements vfs.FileDescriptionImpl.SetStat.
func (fd *fileDescription) SetStat(ctx vfs.Context, opts vfs.SetStatOptions) error {
	return fd.d.inode.setStat(ctx.Credentials(), fd.vfsfd.Mount(), &opts)
}

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (fd *fileDescription) StatFS(vfs.Context) (linux.Statfs, error) {
	return fd.d.fs.statFS()
}

// ListXattr implements vfs.FileDescriptionImpl.ListXattr.
func (fd *fileDescription) ListXattr(ctx vfs.Context, size uint64) ([]string, error) {
	return fd.d.inode.listXattr(ctx.Credentials(), size)
}

// GetXattr implements vfs.FileDescriptionImpl.GetXattr.
func (fd *fileDescription) GetXattr(ctx vfs.Context, opts vfs.GetXattrOptions) (string, error) {
	return fd.d.inode.getXattr(ctx.Credentials(), &opts)
}

// SetXattr implements vfs.FileDescriptionImpl.SetXattr.
func (fd *fileDescription) SetXattr(ctx vfs.Context, opts vfs.SetXattrOptions) error {
	return fd.d.inode.setXattr(ctx.Credentials(), fd.vfsfd.Mount(), &opts)
}

// RemoveXattr implements vfs.FileDescriptionImpl.RemoveXattr.
func (fd *fileDescription) RemoveXattr(ctx vfs.Context, name string) error {
	return fd.d.inode.removeXattr(ctx.Credentials(), fd.vfsfd.Mount(), name)
}
