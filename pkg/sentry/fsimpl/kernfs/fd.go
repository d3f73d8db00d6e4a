package kernfs

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// fileDescription is what every kernfs file description has: the VFS's part, its
// dentry, and the metadata methods, which go to the dentry.
type fileDescription struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	d *Dentry
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *fileDescription) Release() {}

// Stat implements vfs.FileDescriptionImpl.Stat.
func (fd *fileDescription) Stat(vfs.Context, vfs.StatOptions) (linux.Statx, error) {
	var stat linux.Statx
	fd.d.statTo(&stat)
	return stat, nil
}

// SetStat implements vfs.FileDescriptionImpl.SetStat.
func (fd *fileDescription) SetStat(ctx vfs.Context, opts vfs.SetStatOptions) error {
	return fd.d.setStat(ctx.Credentials(), fd.vfsfd.Mount(), &opts)
}

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (fd *fileDescription) StatFS(vfs.Context) (linux.Statfs, error) {
	return fd.d.fs.statFS(), nil
}

// Sync implements vfs.FileDescriptionImpl.Sync.
func (fd *fileDescription) Sync(vfs.Context) error { return nil }

// directoryFD is an open directory.
type directoryFD struct {
	fileDescription
	vfs.DirectoryFileDescriptionDefaultImpl
	dir Directory

	// mu protects off, the index of the next entry, "." and ".." counted.
	mu  sync.Mutex
	off int64
}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents. Entries are
// numbered by their place in Directory.Entries: a directory whose entries come and
// go between calls (/proc) may skip or repeat one, as Linux's /proc may.
func (fd *directoryFD) IterDirents(ctx vfs.Context, cb vfs.IterDirentsCallback) error {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	d := fd.d
	if fd.off == 0 {
		if err := cb.Handle(vfs.Dirent{Name: ".", Type: linux.DT_DIR, Ino: d.inode.Attrs().ino, NextOff: 1}); err != nil {
			return err
		}
		fd.off = 1
	}
	if fd.off == 1 {
		parent := d.parent
		if parent == nil {
			parent = d
		}
		if err := cb.Handle(vfs.Dirent{Name: "..", Type: linux.DT_DIR, Ino: parent.inode.Attrs().ino, NextOff: 2}); err != nil {
			return err
		}
		fd.off = 2
	}
	entries, err := fd.dir.Entries(ctx)
	if err != nil {
		return err
	}
	for i := fd.off - 2; i < int64(len(entries)); i++ {
		e := entries[i]
		a := e.Inode.Attrs()
		if err := cb.Handle(vfs.Dirent{Name: e.Name, Type: vfs.DTFromMode(a.mode), Ino: a.ino, NextOff: i + 3}); err != nil {
			return err
		}
		fd.off = i + 3
	}
	d.pruneChildren(entries)
	return nil
}

// Seek implements vfs.FileDescriptionImpl.Seek: SEEK_SET and SEEK_CUR to any
// non-negative offset.
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
	fd.off = offset
	return offset, nil
}

// DynamicFD is an open DynamicFile.
type DynamicFD struct {
	fileDescription
	file DynamicFile

	// mu protects off and data: what the last Generate returned, which reads
	// past offset 0 continue in.
	mu   sync.Mutex
	off  int64
	data []byte
	// generated is set once data holds a Generate's result.
	generated bool
}

// readAtLocked reads from the contents at offset, generating them anew at offset 0.
// Precondition: fd.mu is locked.
func (fd *DynamicFD) readAtLocked(ctx vfs.Context, dst []byte, offset int64) (int64, error) {
	if offset == 0 || !fd.generated {
		data, err := fd.file.Generate(ctx)
		if err != nil {
			return 0, err
		}
		fd.data, fd.generated = data, true
	}
	if offset >= int64(len(fd.data)) {
		return 0, nil
	}
	return int64(copy(dst, fd.data[offset:])), nil
}

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *DynamicFD) Read(ctx vfs.Context, dst []byte, _ vfs.ReadOptions) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	n, err := fd.readAtLocked(ctx, dst, fd.off)
	fd.off += n
	return n, err
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (fd *DynamicFD) PRead(ctx vfs.Context, dst []byte, offset int64, _ vfs.ReadOptions) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return fd.readAtLocked(ctx, dst, offset)
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *DynamicFD) Write(ctx vfs.Context, src []byte, _ vfs.WriteOptions) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	n, err := fd.writeAtLocked(ctx, src, fd.off)
	fd.off += n
	return n, err
}

// PWrite implements vfs.FileDescriptionImpl.PWrite.
func (fd *DynamicFD) PWrite(ctx vfs.Context, src []byte, offset int64, _ vfs.WriteOptions) (int64, error) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return fd.writeAtLocked(ctx, src, offset)
}

// writeAtLocked passes a write to the file. Precondition: fd.mu is locked.
func (fd *DynamicFD) writeAtLocked(ctx vfs.Context, src []byte, offset int64) (int64, error) {
	w, ok := fd.file.(WritableFile)
	if !ok {
		return 0, linux.EINVAL
	}
	if len(src) == 0 {
		return 0, nil
	}
	return w.Write(ctx, src, offset)
}

// Seek implements vfs.FileDescriptionImpl.Seek: SEEK_SET and SEEK_CUR. The size of
// generated contents is not known before they are read, so SEEK_END fails with
// EINVAL, as Linux's seq_file makes it.
func (fd *DynamicFD) Seek(_ vfs.Context, offset int64, whence int32) (int64, error) {
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
	fd.off = offset
	return offset, nil
}
