// Package pipefs is the filesystem anonymous pipes (pipe(2)) live in. It has no
// path: each pipe is a nameless inode whose files show up in /proc/[pid]/fd as
// "pipe:[ino]", and which stat, fchmod and reopening through /proc/[pid]/fd reach
// through the VFS like any file's.
package pipefs

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/kernel/pipe"
	"visor.dev/visor/pkg/sentry/vfs"
)

// filesystemType is pipefs's type; it cannot be mounted.
type filesystemType struct{}

// Name implements vfs.FilesystemType.Name.
func (filesystemType) Name() string { return "pipefs" }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem.
func (filesystemType) GetFilesystem(vfs.Context, *vfs.VirtualFilesystem, *auth.Credentials, string, vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	return nil, nil, linux.ENODEV
}

// NewMount returns the pipefs mount of vfsObj, which the kernel makes once and passes
// to NewConnectedPipeFDs.
func NewMount(vfsObj *vfs.VirtualFilesystem) *vfs.Mount {
	fs := &filesystem{devMinor: vfsObj.GetAnonBlockDevMinor()}
	fs.vfsfs.Init(vfsObj, filesystemType{}, fs)
	// The mount's root is a pipe nothing uses; pipefs has no directories.
	root := fs.newDentry(auth.RootKUID, auth.RootKGID)
	mnt := vfsObj.NewDisconnectedMount(&fs.vfsfs, &root.vfsd, &vfs.MountOptions{})
	fs.vfsfs.DecRef()
	return mnt
}

// NewConnectedPipeFDs returns the read and write ends of a new pipe in mnt, a mount
// NewMount made (pipe2(2)). flags may hold O_NONBLOCK and O_DIRECT, and O_CLOEXEC,
// which is the caller's business; anything else fails with EINVAL.
func NewConnectedPipeFDs(ctx vfs.Context, mnt *vfs.Mount, flags uint32) (r, w *vfs.FileDescription, err error) {
	if flags&^(linux.O_NONBLOCK|linux.O_DIRECT|linux.O_CLOEXEC) != 0 {
		return nil, nil, linux.EINVAL
	}
	fs := mnt.Filesystem().Impl().(*filesystem)
	creds := ctx.Credentials()
	d := fs.newDentry(creds.FSKUID, creds.FSKGID)
	r, w = d.pipe.ReaderWriterPair(mnt, &d.vfsd, flags&^linux.O_CLOEXEC)
	return r, w, nil
}

// filesystem is pipefs.
type filesystem struct {
	vfsfs    vfs.Filesystem
	devMinor uint32
	lastIno  atomic.Uint64
}

// dentry is a pipe's inode. Pipes have no name and no children.
type dentry struct {
	vfsd vfs.Dentry
	fs   *filesystem
	pipe *pipe.Pipe
	ino  uint64

	// mu protects the metadata below. Lock order: a leaf.
	mu                  sync.Mutex
	mode                uint16
	uid                 auth.KUID
	gid                 auth.KGID
	atime, mtime, ctime int64
}

func (fs *filesystem) newDentry(kuid auth.KUID, kgid auth.KGID) *dentry {
	now := time.Now().UnixNano()
	d := &dentry{
		fs:    fs,
		pipe:  pipe.NewPipe(false, pipe.DefaultPipeSize),
		ino:   fs.lastIno.Add(1),
		mode:  linux.S_IFIFO | 0o600,
		uid:   kuid,
		gid:   kgid,
		atime: now,
		mtime: now,
		ctime: now,
	}
	d.vfsd.Init(d)
	return d
}

// IncRef implements vfs.DentryImpl.IncRef. A pipe's dentry holds nothing that needs
// releasing: the pipe goes with its last file.
func (d *dentry) IncRef() {}

// DecRef implements vfs.DentryImpl.DecRef.
func (d *dentry) DecRef() {}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release() {}

// Sync implements vfs.FilesystemImpl.Sync.
func (fs *filesystem) Sync(vfs.Context) error { return nil }

// target returns the pipe dentry rp names: only an empty path, from a pipe, names
// one.
func target(rp *vfs.ResolvingPath) (*dentry, error) {
	if !rp.Done() {
		return nil, linux.ENOTDIR
	}
	return rp.Start().Impl().(*dentry), nil
}

// AccessAt implements vfs.FilesystemImpl.AccessAt.
func (fs *filesystem) AccessAt(_ vfs.Context, rp *vfs.ResolvingPath, creds *auth.Credentials, ats auth.AccessTypes) error {
	d, err := target(rp)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return auth.CheckPermission(creds, d.mode, d.uid, d.gid, ats)
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

// OpenAt implements vfs.FilesystemImpl.OpenAt: reopening a pipe through
// /proc/[pid]/fd opens it as a FIFO.
func (fs *filesystem) OpenAt(ctx vfs.Context, rp *vfs.ResolvingPath, opts vfs.OpenOptions) (*vfs.FileDescription, error) {
	d, err := target(rp)
	if err != nil {
		return nil, err
	}
	if opts.Flags&linux.O_DIRECTORY != 0 {
		return nil, linux.ENOTDIR
	}
	d.mu.Lock()
	err = auth.CheckPermission(rp.Credentials(), d.mode, d.uid, d.gid, vfs.AccessTypesForOpenFlags(&opts))
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return d.pipe.Open(ctx, rp.Mount(), &d.vfsd, opts.Flags)
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
func (fs *filesystem) StatAt(_ vfs.Context, rp *vfs.ResolvingPath, _ vfs.StatOptions) (linux.Statx, error) {
	d, err := target(rp)
	if err != nil {
		return linux.Statx{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return linux.Statx{
		Mask:     linux.STATX_BASIC_STATS,
		Blksize:  pipe.AtomicIOBytes,
		Nlink:    1,
		UID:      uint32(d.uid),
		GID:      uint32(d.gid),
		Mode:     d.mode,
		Ino:      d.ino,
		Atime:    timestamp(d.atime),
		Mtime:    timestamp(d.mtime),
		Ctime:    timestamp(d.ctime),
		DevMinor: fs.devMinor,
	}, nil
}

func timestamp(ns int64) linux.StatxTimestamp {
	return linux.StatxTimestamp{Sec: ns / 1e9, Nsec: uint32(ns % 1e9)}
}

// SetStatAt implements vfs.FilesystemImpl.SetStatAt: mode, owner and times.
func (fs *filesystem) SetStatAt(_ vfs.Context, rp *vfs.ResolvingPath, opts vfs.SetStatOptions) error {
	d, err := target(rp)
	if err != nil {
		return err
	}
	creds := rp.Credentials()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := vfs.CheckSetStat(creds, &opts, d.mode, d.uid, d.gid); err != nil {
		return err
	}
	stat := &opts.Stat
	now := time.Now().UnixNano()
	if stat.Mask&linux.STATX_MODE != 0 {
		d.mode = linux.S_IFIFO | stat.Mode&linux.PermissionsMask
	}
	if stat.Mask&linux.STATX_UID != 0 {
		d.uid = auth.KUID(stat.UID)
	}
	if stat.Mask&linux.STATX_GID != 0 {
		d.gid = auth.KGID(stat.GID)
	}
	setTime := func(dst *int64, ts linux.StatxTimestamp) {
		switch ts.Nsec {
		case linux.UTIME_OMIT:
		case linux.UTIME_NOW:
			*dst = now
		default:
			*dst = ts.Sec*1e9 + int64(ts.Nsec)
		}
	}
	if stat.Mask&linux.STATX_ATIME != 0 {
		setTime(&d.atime, stat.Atime)
	}
	if stat.Mask&linux.STATX_MTIME != 0 {
		setTime(&d.mtime, stat.Mtime)
	}
	if stat.Mask != 0 {
		d.ctime = now
	}
	return nil
}

// StatFSAt implements vfs.FilesystemImpl.StatFSAt.
func (fs *filesystem) StatFSAt(_ vfs.Context, rp *vfs.ResolvingPath) (linux.Statfs, error) {
	if _, err := target(rp); err != nil {
		return linux.Statfs{}, err
	}
	return linux.Statfs{Type: linux.PIPEFS_MAGIC, BlockSize: pipe.MinimumPipeSize, FragmentSize: pipe.MinimumPipeSize, NameLength: linux.NAME_MAX}, nil
}

// ListXattrAt implements vfs.FilesystemImpl.ListXattrAt: pipes have no extended
// attributes.
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

// PrependPath implements vfs.FilesystemImpl.PrependPath: a pipe is "pipe:[ino]".
func (fs *filesystem) PrependPath(_ vfs.Context, _, vd vfs.VirtualDentry, b *vfs.PathBuilder) error {
	d := vd.Dentry().Impl().(*dentry)
	b.PrependComponent("pipe:[" + strconv.FormatUint(d.ino, 10) + "]")
	return vfs.PrependPathSyntheticError{}
}
