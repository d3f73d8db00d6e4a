package overlay

import (
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/vfs"
)

// regularFileFD is an open regular file: a description of the file in one layer,
// opened with the same flags, to which it forwards I/O. A description opened on the
// lower file (for reading: opening for writing copies up) moves to the upper copy
// at its first operation after the file is copied up, keeping its offset, so that it
// sees the file's writes as Linux ≥ 4.19 readers do.
type regularFileFD struct {
	fileDescription

	// mu serializes the move to the upper layer. layerFD changes, under mu,
	// only while onLower is set; once onLower is clear it never changes and is
	// read without mu.
	mu      sync.Mutex
	layerFD *vfs.FileDescription
	onLower atomic.Bool
}

// newRegularFD returns a description of d forwarding to layerFD, whose reference it
// takes over.
func (d *dentry) newRegularFD(mnt *vfs.Mount, flags uint32, layerFD *vfs.FileDescription, onLower bool) *vfs.FileDescription {
	fd := &regularFileFD{layerFD: layerFD}
	fd.d = d
	fd.onLower.Store(onLower)
	fd.vfsfd.Init(fd, flags, mnt, &d.vfsd, &vfs.FileDescriptionOptions{AllowDirectIO: true})
	return &fd.vfsfd
}

// layer returns the layer description to use, moving to the upper layer first if
// the file was copied up. If ref is set it took a reference, which the caller drops
// (put) when done: a description on the lower layer may be replaced meanwhile.
func (fd *regularFileFD) layer(ctx vfs.Context) (lfd *vfs.FileDescription, ref bool, err error) {
	if !fd.onLower.Load() {
		return fd.layerFD, false, nil
	}
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.onLower.Load() && fd.d.copiedUp.Load() {
		fs := fd.d.fs
		flags := fd.vfsfd.StatusFlags() &^ (linux.O_CREAT | linux.O_EXCL | linux.O_TRUNC)
		upper, err := fs.vfsObj.OpenAt(ctx, fs.creds, layerPop(fd.d.upperVD, ""), &vfs.OpenOptions{Flags: flags})
		if err != nil {
			return nil, false, err
		}
		if off, err := fd.layerFD.Seek(ctx, 0, linux.SEEK_CUR); err == nil {
			if _, err := upper.Seek(ctx, off, linux.SEEK_SET); err != nil {
				upper.DecRef()
				return nil, false, err
			}
		}
		fd.layerFD.DecRef()
		fd.layerFD = upper
		fd.onLower.Store(false)
		return upper, false, nil
	}
	if !fd.onLower.Load() {
		return fd.layerFD, false, nil
	}
	fd.layerFD.IncRef()
	return fd.layerFD, true, nil
}

// put drops the reference layer took, if it took one.
func put(lfd *vfs.FileDescription, ref bool) {
	if ref {
		lfd.DecRef()
	}
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *regularFileFD) Release() { fd.layerFD.DecRef() }

// syncStatusFlags gives the layer description the status flags F_SETFL changed on
// fd: O_APPEND decides where the layer writes.
func (fd *regularFileFD) syncStatusFlags(ctx vfs.Context, lfd *vfs.FileDescription) error {
	const mask = linux.O_APPEND | linux.O_NONBLOCK | linux.O_DIRECT | linux.O_NOATIME
	want := fd.vfsfd.StatusFlags() & mask
	if lfd.StatusFlags()&mask == want {
		return nil
	}
	return lfd.SetStatusFlags(ctx, fd.d.fs.creds, want)
}

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *regularFileFD) Read(ctx vfs.Context, dst []byte, opts vfs.ReadOptions) (int64, error) {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return 0, err
	}
	defer put(lfd, ref)
	return lfd.Read(ctx, dst, opts)
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (fd *regularFileFD) PRead(ctx vfs.Context, dst []byte, offset int64, opts vfs.ReadOptions) (int64, error) {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return 0, err
	}
	defer put(lfd, ref)
	return lfd.PRead(ctx, dst, offset, opts)
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *regularFileFD) Write(ctx vfs.Context, src []byte, opts vfs.WriteOptions) (int64, error) {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return 0, err
	}
	defer put(lfd, ref)
	if err := fd.syncStatusFlags(ctx, lfd); err != nil {
		return 0, err
	}
	return lfd.Write(ctx, src, opts)
}

// PWrite implements vfs.FileDescriptionImpl.PWrite.
func (fd *regularFileFD) PWrite(ctx vfs.Context, src []byte, offset int64, opts vfs.WriteOptions) (int64, error) {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return 0, err
	}
	defer put(lfd, ref)
	if err := fd.syncStatusFlags(ctx, lfd); err != nil {
		return 0, err
	}
	return lfd.PWrite(ctx, src, offset, opts)
}

// Seek implements vfs.FileDescriptionImpl.Seek.
func (fd *regularFileFD) Seek(ctx vfs.Context, offset int64, whence int32) (int64, error) {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return 0, err
	}
	defer put(lfd, ref)
	return lfd.Seek(ctx, offset, whence)
}

// Allocate implements vfs.FileDescriptionImpl.Allocate.
func (fd *regularFileFD) Allocate(ctx vfs.Context, mode, offset, length uint64) error {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return err
	}
	defer put(lfd, ref)
	return lfd.Allocate(ctx, mode, offset, length)
}

// Sync implements vfs.FileDescriptionImpl.Sync.
func (fd *regularFileFD) Sync(ctx vfs.Context) error {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return err
	}
	defer put(lfd, ref)
	return lfd.Sync(ctx)
}

// Ioctl implements vfs.FileDescriptionImpl.Ioctl.
func (fd *regularFileFD) Ioctl(ctx vfs.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return 0, err
	}
	defer put(lfd, ref)
	return lfd.Ioctl(ctx, mem, cmd, arg)
}

// ConfigureMMap implements vfs.FileDescriptionImpl.ConfigureMMap: the mapping is of
// the layer file the description is on. A private mapping of a lower file keeps
// reading the lower file after a copy-up.
func (fd *regularFileFD) ConfigureMMap(ctx vfs.Context, opts *memmap.MMapOpts) error {
	lfd, ref, err := fd.layer(ctx)
	if err != nil {
		return err
	}
	defer put(lfd, ref)
	return lfd.ConfigureMMap(ctx, opts)
}
