package gofer

import (
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/sentry/vfs"
)

// directoryFD is an open directory.
//
// The Gofer's directory offsets are the host filesystem's cookies, which need not be
// small or ordered, so the description reads the whole listing on its first
// IterDirents (as gVisor does) and numbers the entries itself: "." is offset 0, ".."
// 1, and the n-th entry the Gofer returned n+2. Seeking back to 0 reads the listing
// anew; entries made or removed in between show up only then, which POSIX allows.
type directoryFD struct {
	fileDescription
	vfs.DirectoryFileDescriptionDefaultImpl

	// mu protects the fields below. Lock order: filesystem.renameMu, then mu.
	mu sync.Mutex
	// openFD is the directory opened through the Gofer for Getdents64, on the
	// first read; zero until then.
	openFD  lisafs.FDID
	dirents []vfs.Dirent
	off     int64
}

// newDirectoryFD returns a description of the directory d.
func (d *dentry) newDirectoryFD(mnt *vfs.Mount, flags uint32) *vfs.FileDescription {
	fd := &directoryFD{}
	fd.d = d
	fd.vfsfd.Init(fd, flags, mnt, &d.vfsd, &vfs.FileDescriptionOptions{})
	return &fd.vfsfd
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *directoryFD) Release() {
	if fd.openFD != 0 {
		// A failure only leaks the FD ID until the connection ends.
		_ = fd.d.fs.client.CloseFDs(fd.openFD)
	}
}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *directoryFD) IterDirents(ctx vfs.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.dirents == nil {
		if err := fd.readAllLocked(); err != nil {
			return err
		}
	}
	for fd.off < int64(len(fd.dirents)) {
		if err := cb.Handle(fd.dirents[fd.off]); err != nil {
			return err
		}
		fd.off++
	}
	return nil
}

// readAllLocked reads the whole listing. Precondition: fd.mu is locked.
func (fd *directoryFD) readAllLocked() error {
	fs := fd.d.fs
	i := fd.d.inode
	if fd.openFD == 0 {
		openFD, hostFD, err := fs.client.Open(i.controlFD, linux.O_RDONLY|linux.O_DIRECTORY)
		if err != nil {
			return err
		}
		if hostFD >= 0 {
			// Directories are never donated; a Gofer that does is broken.
			_ = fs.client.CloseFDs(openFD)
			unix.Close(hostFD)
			return linux.EIO
		}
		fd.openFD = openFD
	}
	fs.renameMu.RLock()
	parent := fd.d.parent
	if parent == nil {
		parent = fd.d
	}
	parentIno := parent.inode.key.ino
	fs.renameMu.RUnlock()
	dirents := []vfs.Dirent{
		{Name: ".", Type: linux.DT_DIR, Ino: i.key.ino, NextOff: 1},
		{Name: "..", Type: linux.DT_DIR, Ino: parentIno, NextOff: 2},
	}
	var cookie int64
	for {
		batch, err := fs.client.Getdents64(fd.openFD, cookie, lisafs.MaxGetdentsSize)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			dirents = append(dirents, vfs.Dirent{Name: e.Name, Type: e.Type, Ino: e.Ino, NextOff: int64(len(dirents)) + 1})
		}
		cookie = batch[len(batch)-1].Off
	}
	fd.dirents = dirents
	return nil
}

// Seek implements vfs.FileDescriptionImpl.Seek: SEEK_SET and SEEK_CUR to any
// non-negative offset; offset 0 reads the listing anew.
func (fd *directoryFD) Seek(_ vfs.Context, offset int64, whence int32) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	switch whence {
	case linux.SEEK_SET:
	case linux.SEEK_CUR:
		offset += fd.off
	default:
		return 0, linux.EINVAL
	}
	if offset < 0 {
		return 0, linux.EINVAL
	}
	if offset == 0 {
		fd.dirents = nil
	}
	fd.off = offset
	return offset, nil
}

// Sync implements vfs.FileDescriptionImpl.Sync: directories are flushed by the
// Gofer when their entries change.
func (fd *directoryFD) Sync(vfs.Context) error { return nil }
