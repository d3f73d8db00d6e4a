package vfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/waiter"
)

// opathFD is the file an O_PATH open makes: a reference to a place in the tree that
// *at(2) calls, fchdir, fstat and close accept, and everything else rejects with
// EBADF.
type opathFD struct {
	vfsfd FileDescription
}

// openOPathFD opens pop with O_PATH: only search permission on the way is needed,
// and a final symlink is the file itself with O_NOFOLLOW.
func (vfs *VirtualFilesystem) openOPathFD(ctx Context, creds *auth.Credentials, pop *PathOperation, flags uint32) (*FileDescription, error) {
	p := *pop
	p.FollowFinalSymlink = flags&linux.O_NOFOLLOW == 0
	vd, err := vfs.GetDentryAt(ctx, creds, &p, &GetDentryOptions{})
	if err != nil {
		return nil, err
	}
	defer vd.DecRef()
	if flags&linux.O_DIRECTORY != 0 {
		stat, err := vfs.StatAt(ctx, creds, &PathOperation{Root: vd, Start: vd}, &StatOptions{Mask: linux.STATX_TYPE})
		if err != nil {
			return nil, err
		}
		if stat.Mode&linux.S_IFMT != linux.S_IFDIR {
			return nil, linux.ENOTDIR
		}
	}
	fd := &opathFD{}
	fd.vfsfd.Init(fd, flags&(linux.O_PATH|linux.O_DIRECTORY|linux.O_NOFOLLOW|linux.O_CLOEXEC), vd.mount, vd.dentry, &FileDescriptionOptions{})
	return &fd.vfsfd, nil
}

// The methods below reject what O_PATH files cannot do, except Stat and StatFS,
// which ask the filesystem at the file's dentry.

func (fd *opathFD) Release() {}

func (fd *opathFD) Read(Context, []byte, ReadOptions) (int64, error) { return 0, linux.EBADF }

func (fd *opathFD) PRead(Context, []byte, int64, ReadOptions) (int64, error) {
	return 0, linux.EBADF
}

func (fd *opathFD) Write(Context, []byte, WriteOptions) (int64, error) { return 0, linux.EBADF }

func (fd *opathFD) PWrite(Context, []byte, int64, WriteOptions) (int64, error) {
	return 0, linux.EBADF
}

func (fd *opathFD) Seek(Context, int64, int32) (int64, error) { return 0, linux.EBADF }

func (fd *opathFD) IterDirents(Context, IterDirentsCallback) error { return linux.EBADF }

func (fd *opathFD) Stat(ctx Context, opts StatOptions) (linux.Statx, error) {
	var stat linux.Statx
	err := fd.vfsfd.atDentry(ctx, func(rp *ResolvingPath) (err error) {
		stat, err = rp.mount.fs.impl.StatAt(ctx, rp, opts)
		return err
	})
	return stat, err
}

func (fd *opathFD) SetStat(Context, SetStatOptions) error { return linux.EBADF }

func (fd *opathFD) StatFS(ctx Context) (linux.Statfs, error) {
	var st linux.Statfs
	err := fd.vfsfd.atDentry(ctx, func(rp *ResolvingPath) (err error) {
		st, err = rp.mount.fs.impl.StatFSAt(ctx, rp)
		return err
	})
	return st, err
}

func (fd *opathFD) ListXattr(Context, uint64) ([]string, error) { return nil, linux.EBADF }

func (fd *opathFD) GetXattr(Context, GetXattrOptions) (string, error) { return "", linux.EBADF }

func (fd *opathFD) SetXattr(Context, SetXattrOptions) error { return linux.EBADF }

func (fd *opathFD) RemoveXattr(Context, string) error { return linux.EBADF }

func (fd *opathFD) Allocate(Context, uint64, uint64, uint64) error { return linux.EBADF }

func (fd *opathFD) Sync(Context) error { return linux.EBADF }

func (fd *opathFD) Ioctl(Context, UserMemory, uint32, uintptr) (uintptr, error) {
	return 0, linux.EBADF
}

func (fd *opathFD) ConfigureMMap(Context, *memmap.MMapOpts) error { return linux.EBADF }

func (fd *opathFD) Readiness(waiter.EventMask) waiter.EventMask { return 0 }

func (fd *opathFD) EventRegister(*waiter.Entry) error { return linux.EBADF }

func (fd *opathFD) EventUnregister(*waiter.Entry) {}
