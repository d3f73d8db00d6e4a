package overlay

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// listLayer returns the entries of the layer directory vd, but "." and "..".
func (fs *filesystem) listLayer(ctx vfs.Context, vd vfs.VirtualDentry) ([]vfs.Dirent, error) {
	fd, err := fs.vfsObj.OpenAt(ctx, fs.creds, layerPop(vd, ""), &vfs.OpenOptions{Flags: linux.O_RDONLY | linux.O_DIRECTORY})
	if err != nil {
		return nil, err
	}
	defer fd.DecRef()
	var ents []vfs.Dirent
	err = fd.IterDirents(ctx, vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error {
		if d.Name != "." && d.Name != ".." {
			ents = append(ents, d)
		}
		return nil
	}))
	return ents, err
}

// readMerged returns the entries of the directory d as the overlay shows them, but
// "." and "..": the upper directory's, but whiteouts, then the lower directory's
// that the upper neither has nor whites out. Inode numbers are the overlay's.
func (fs *filesystem) readMerged(ctx vfs.Context, d *dentry) ([]vfs.Dirent, error) {
	var out []vfs.Dirent
	// upperIdx maps each upper name (whiteouts included, as -1) to its index in
	// out.
	var upperIdx map[string]int
	if d.copiedUp.Load() {
		ents, err := fs.listLayer(ctx, d.upperVD)
		if err != nil {
			return nil, err
		}
		if d.lowerVD.Ok() {
			upperIdx = make(map[string]int, len(ents))
		}
		for _, e := range ents {
			if e.Type == linux.DT_CHR {
				st, err := fs.vfsObj.StatAt(ctx, fs.creds, layerPop(d.upperVD, e.Name), &vfs.StatOptions{Mask: linux.STATX_TYPE})
				if err != nil {
					return nil, err
				}
				if isWhiteout(&st) {
					if upperIdx != nil {
						upperIdx[e.Name] = -1
					}
					continue
				}
			}
			if upperIdx != nil {
				upperIdx[e.Name] = len(out)
			}
			e.Ino = fs.upperIno(e.Ino)
			out = append(out, e)
		}
	}
	if !d.lowerVD.Ok() {
		return out, nil
	}
	ents, err := fs.listLayer(ctx, d.lowerVD)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		i, inUpper := upperIdx[e.Name]
		if !inUpper {
			out = append(out, e)
			continue
		}
		// A merged directory has the lower directory's inode number.
		if i >= 0 && e.Type == linux.DT_DIR && out[i].Type == linux.DT_DIR && !fs.isOpaque(ctx, layerPop(d.upperVD, e.Name)) {
			out[i].Ino = e.Ino
		}
	}
	return out, nil
}

// directoryFD is an open directory. As gofer's, it reads the whole merged listing on
// its first IterDirents and numbers the entries itself; seeking to 0 reads it anew.
type directoryFD struct {
	fileDescription
	vfs.DirectoryFileDescriptionDefaultImpl

	// mu protects dirents and off. Lock order: filesystem.renameMu, then mu.
	mu      sync.Mutex
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
func (fd *directoryFD) Release() {}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *directoryFD) IterDirents(ctx vfs.Context, cb vfs.IterDirentsCallback) error {
	fs := fd.d.fs
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.dirents == nil {
		fs.renameMu.RLock()
		parent := fd.d.parent
		if parent == nil {
			parent = fd.d
		}
		ents, err := fs.readMerged(ctx, fd.d)
		fs.renameMu.RUnlock()
		if err != nil {
			return err
		}
		dirents := make([]vfs.Dirent, 0, len(ents)+2)
		dirents = append(dirents,
			vfs.Dirent{Name: ".", Type: linux.DT_DIR, Ino: fd.d.ino, NextOff: 1},
			vfs.Dirent{Name: "..", Type: linux.DT_DIR, Ino: parent.ino, NextOff: 2})
		for _, e := range ents {
			e.NextOff = int64(len(dirents)) + 1
			dirents = append(dirents, e)
		}
		fd.dirents = dirents
	}
	for fd.off < int64(len(fd.dirents)) {
		if err := cb.Handle(fd.dirents[fd.off]); err != nil {
			return err
		}
		fd.off++
	}
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

// Sync implements vfs.FileDescriptionImpl.Sync.
func (fd *directoryFD) Sync(vfs.Context) error { return nil }
