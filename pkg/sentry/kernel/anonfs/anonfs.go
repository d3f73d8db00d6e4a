// Package anonfs is the filesystem of files that have no path: epoll instances,
// eventfds, and host files the Sentry was given (fsimpl/host). Linux calls these
// anonymous inodes; /proc/[pid]/fd shows them as "anon_inode:[eventpoll]" and the
// like. Each file gets a dentry of its own that names it; paths never lead into
// anonfs, and the only path operations that reach it start at one of its files
// (fstatat with AT_EMPTY_PATH, reopening through /proc/[pid]/fd).
//
// There is one anonfs mount per VirtualFilesystem, made on first use by Mount.
package anonfs

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// StatFunc returns the status of an anonymous file, for files whose status is not
// the anonymous inode's (host files).
type StatFunc func(ctx vfs.Context, opts vfs.StatOptions) (linux.Statx, error)

// filesystemType is anonfs's type; it cannot be mounted.
type filesystemType struct{}

// Name implements vfs.FilesystemType.Name.
func (filesystemType) Name() string { return "anon_inodefs" }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem.
func (filesystemType) GetFilesystem(vfs.Context, *vfs.VirtualFilesystem, *auth.Credentials, string, vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	return nil, nil, linux.ENODEV
}

// mounts maps each VirtualFilesystem to its anonfs mount.
var mounts sync.Map // *vfs.VirtualFilesystem -> *vfs.Mount

// mountMu serializes making mounts, so that each VFS gets one.
var mountMu sync.Mutex

// Mount returns vfsObj's anonfs mount, making it on first use. The mount lives as
// long as vfsObj; callers take no reference.
func Mount(vfsObj *vfs.VirtualFilesystem) *vfs.Mount {
	if m, ok := mounts.Load(vfsObj); ok {
		return m.(*vfs.Mount)
	}
	mountMu.Lock()
	defer mountMu.Unlock()
	if m, ok := mounts.Load(vfsObj); ok {
		return m.(*vfs.Mount)
	}
	fs := &filesystem{devMinor: vfsObj.GetAnonBlockDevMinor()}
	fs.vfsfs.Init(vfsObj, filesystemType{}, fs)
	root := &dentry{fs: fs, name: "anon_inode"}
	root.vfsd.Init(root)
	mnt := vfsObj.NewDisconnectedMount(&fs.vfsfs, &root.vfsd, &vfs.MountOptions{})
	fs.vfsfs.DecRef()
	mounts.Store(vfsObj, mnt)
	return mnt
}

// NewDentry returns a dentry of mnt (a mount Mount returned) for a new anonymous
// file that /proc/[pid]/fd shows as name ("anon_inode:[eventfd]"). stat, if not
// nil, answers path operations' stat of the file (fstatat with AT_EMPTY_PATH);
// otherwise they see the anonymous inode, as Stat returns it.
func NewDentry(mnt *vfs.Mount, name string, stat StatFunc) *vfs.Dentry {
	fs := mnt.Filesystem().Impl().(*filesystem)
	d := &dentry{fs: fs, name: name, stat: stat}
	d.vfsd.Init(d)
	return &d.vfsd
}

// Stat returns the status of the anonymous inode the files of mnt share, as
// fstat(2) reports it for an eventfd or epoll instance: no file type, mode 0600,
// owned by root.
func Stat(mnt *vfs.Mount) linux.Statx {
	fs := mnt.Filesystem().Impl().(*filesystem)
	return linux.Statx{
		Mask:     linux.STATX_BASIC_STATS,
		Blksize:  4096,
		Nlink:    1,
		Mode:     0o600,
		Ino:      1,
		DevMinor: fs.devMinor,
	}
}

// filesystem is anonfs.
type filesystem struct {
	vfsfs    vfs.Filesystem
	devMinor uint32
}

// dentry is one anonymous file's dentry.
type dentry struct {
	vfsd vfs.Dentry
	fs   *filesystem
	name string
	stat StatFunc
}

// IncRef implements vfs.DentryImpl.IncRef: anonymous dentries hold nothing that
// needs releasing, and go with their file.
func (d *dentry) IncRef() {}

// DecRef implements vfs.DentryImpl.DecRef.
func (d *dentry) DecRef() {}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release() {}

// Sync implements vfs.FilesystemImpl.Sync.
func (fs *filesystem) Sync(vfs.Context) error { return nil }

// target returns the dentry rp names: only an empty path, from an anonymous file,
// names one.
func target(rp *vfs.ResolvingPath) (*dentry, error) {
	if !rp.Done() {
		return nil, linux.ENOTDIR
	}
	return rp.Start().Impl().(*dentry), nil
}

// AccessAt implements vfs.FilesystemImpl.AccessAt.
func (fs *filesystem) AccessAt(_ vfs.Context, rp *vfs.ResolvingPath, creds *auth.Credentials, ats auth.AccessTypes) error {
	if _, err := target(rp); err != nil {
		return err
	}
	return auth.CheckPermission(creds, 0o600, auth.RootKUID, auth.RootKGID, ats)
}

// GetDentryAt implements vfs.FilesystemImpl.GetDentryAt.
func (fs *filesystem) GetDentryAt(_ vfs.Context, rp *vfs.ResolvingPath, opts vfs.GetDentryOptions) (*vfs.Dentry, error) {
	d, err := target(rp)
	if err != nil {
		return nil, err
	}
	if opts.CheckSearchable {
		return nil, linux.ENOTDIR
	}
	return &d.vfsd, nil
}

// GetParentDentryAt implements vfs.FilesystemImpl.GetParentDentryAt.
func (fs *filesystem) GetParentDentryAt(vfs.Context, *vfs.ResolvingPath) (*vfs.Dentry, error) {
	return nil, linux.ENOTDIR
}

// OpenAt implements vfs.FilesystemImpl.OpenAt: anonymous files cannot be reopened
// (Linux's anon_inode has no open), so reopening through /proc/[pid]/fd fails.
func (fs *filesystem) OpenAt(_ vfs.Context, rp *vfs.ResolvingPath, _ vfs.OpenOptions) (*vfs.FileDescription, error) {
	if _, err := target(rp); err != nil {
		return nil, err
	}
	return nil, linux.ENXIO
}

// ReadlinkAt implements vfs.FilesystemImpl.ReadlinkAt.
func (fs *filesystem) ReadlinkAt(_ vfs.Context, rp *vfs.ResolvingPath) (string, error) {
	if _, err := target(rp); err != nil {
		return "", err
	}
	return "", linux.EINVAL
}

// MkdirAt implements vfs.FilesystemImpl.MkdirAt.
func (fs *filesystem) MkdirAt(vfs.Context, *vfs.ResolvingPath, vfs.MkdirOptions) error {
	return linux.ENOTDIR
}

// MknodAt implements vfs.FilesystemImpl.MknodAt.
func (fs *filesystem) MknodAt(vfs.Context, *vfs.ResolvingPath, vfs.MknodOptions) error {
	return linux.ENOTDIR
}

// SymlinkAt implements vfs.FilesystemImpl.SymlinkAt.
func (fs *filesystem) SymlinkAt(vfs.Context, *vfs.ResolvingPath, string) error {
	return linux.ENOTDIR
}

// LinkAt implements vfs.FilesystemImpl.LinkAt.
func (fs *filesystem) LinkAt(vfs.Context, *vfs.ResolvingPath, vfs.VirtualDentry) error {
	return linux.ENOTDIR
}

// UnlinkAt implements vfs.FilesystemImpl.UnlinkAt.
func (fs *filesystem) UnlinkAt(vfs.Context, *vfs.ResolvingPath) error { return linux.ENOTDIR }

// RmdirAt implements vfs.FilesystemImpl.RmdirAt.
func (fs *filesystem) RmdirAt(vfs.Context, *vfs.ResolvingPath) error { return linux.ENOTDIR }

// RenameAt implements vfs.FilesystemImpl.RenameAt.
func (fs *filesystem) RenameAt(vfs.Context, *vfs.ResolvingPath, vfs.VirtualDentry, string, vfs.RenameOptions) error {
	return linux.ENOTDIR
}

// StatAt implements vfs.FilesystemImpl.StatAt.
func (fs *filesystem) StatAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.StatOptions) (linux.Statx, error) {
	d, err := target(rp)
	if err != nil {
		return linux.Statx{}, err
	}
	if d.stat != nil {
		return d.stat(ctx, opts)
	}
	return Stat(rp.Mount()), nil
}

// SetStatAt implements vfs.FilesystemImpl.SetStatAt. The anonymous inode is shared
// by every such file, so changing it would change them all: Visor refuses.
func (fs *filesystem) SetStatAt(_ vfs.Context, rp *vfs.ResolvingPath, _ vfs.SetStatOptions) error {
	if _, err := target(rp); err != nil {
		return err
	}
	return linux.EPERM
}

// StatFSAt implements vfs.FilesystemImpl.StatFSAt.
func (fs *filesystem) StatFSAt(_ vfs.Context, rp *vfs.ResolvingPath) (linux.Statfs, error) {
	if _, err := target(rp); err != nil {
		return linux.Statfs{}, err
	}
	return StatFS(), nil
}

// StatFS returns the status of anonfs, as fstatfs(2) of an anonymous file reports it.
func StatFS() linux.Statfs {
	return linux.Statfs{Type: linux.ANON_INODE_FS_MAGIC, BlockSize: 4096, FragmentSize: 4096, NameLength: linux.NAME_MAX}
}

// ListXattrAt implements vfs.FilesystemImpl.ListXattrAt.
func (fs *filesystem) ListXattrAt(_ vfs.Context, rp *vfs.ResolvingPath, _ uint64) ([]string, error) {
	if _, err := target(rp); err != nil {
		return nil, err
	}
	return nil, nil
}

// GetXattrAt implements vfs.FilesystemImpl.GetXattrAt.
func (fs *filesystem) GetXattrAt(_ vfs.Context, rp *vfs.ResolvingPath, _ vfs.GetXattrOptions) (string, error) {
	if _, err := target(rp); err != nil {
		return "", err
	}
	return "", linux.EOPNOTSUPP
}

// SetXattrAt implements vfs.FilesystemImpl.SetXattrAt.
func (fs *filesystem) SetXattrAt(_ vfs.Context, rp *vfs.ResolvingPath, _ vfs.SetXattrOptions) error {
	if _, err := target(rp); err != nil {
		return err
	}
	return linux.EOPNOTSUPP
}

// RemoveXattrAt implements vfs.FilesystemImpl.RemoveXattrAt.
func (fs *filesystem) RemoveXattrAt(_ vfs.Context, rp *vfs.ResolvingPath, _ string) error {
	if _, err := target(rp); err != nil {
		return err
	}
	return linux.EOPNOTSUPP
}

// PrependPath implements vfs.FilesystemImpl.PrependPath: the file's name, which
// is not a path.
func (fs *filesystem) PrependPath(_ vfs.Context, _, vd vfs.VirtualDentry, b *vfs.PathBuilder) error {
	b.PrependComponent(vd.Dentry().Impl().(*dentry).name)
	return vfs.PrependPathSyntheticError{}
}

// FileDescriptionImpl gives an anonymous file's implementation Stat and SetStat as
// Linux's anonymous inodes have them. Embed it beside vfs.FileDescriptionDefaultImpl,
// and set Mnt; StatFS, which both define, is the implementation's to write (StatFS
// above returns what it should).
type FileDescriptionImpl struct {
	// Mnt is the anonfs mount the file is in.
	Mnt *vfs.Mount
}

// Stat implements vfs.FileDescriptionImpl.Stat.
func (f FileDescriptionImpl) Stat(vfs.Context, vfs.StatOptions) (linux.Statx, error) {
	return Stat(f.Mnt), nil
}

// SetStat implements vfs.FileDescriptionImpl.SetStat.
func (FileDescriptionImpl) SetStat(vfs.Context, vfs.SetStatOptions) error { return linux.EPERM }
