package tmpfs

import (
	"sort"
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// directory is a directory's contents.
//
// getdents offsets must stay meaningful while entries come and go between calls, so
// each entry gets a serial number when it is added, larger than any before; an
// entry's offset is its serial plus 2 (0 and 1 are "." and ".."). A directory file
// resumes at the first entry whose serial is at least its offset minus 2: entries
// removed in between are skipped, entries added in between come later, and none is
// returned twice.
type directory struct {
	// The fields below are protected by filesystem.mu.

	childMap map[string]*dentry
	// entries are the children in serial order, with nil holes where children
	// were removed; holes counts those, and they are compacted away once they
	// are half the slice.
	entries    []dirEntry
	holes      int
	nextSerial uint64

	// numChildren is len(childMap), readable without filesystem.mu for stat.
	numChildren atomic.Int64
}

type dirEntry struct {
	serial uint64
	d      *dentry
}

// newDirectory returns a new, empty directory.
func (fs *filesystem) newDirectory(kuid auth.KUID, kgid auth.KGID, mode uint16) *inode {
	i := fs.newInode(kuid, kgid, linux.S_IFDIR|mode, &directory{childMap: make(map[string]*dentry)})
	// "." and the parent's entry.
	i.nlink.Store(2)
	return i
}

// insertChildLocked adds child to d, the directory's dentry, as name, taking the
// reference the tree holds on child. Precondition: filesystem.mu is locked.
func (d *dentry) insertChildLocked(child *dentry, name string) {
	dir := d.dir()
	child.parent = d
	child.name = name
	child.serial = dir.nextSerial
	dir.nextSerial++
	dir.childMap[name] = child
	dir.entries = append(dir.entries, dirEntry{serial: child.serial, d: child})
	dir.numChildren.Add(1)
	child.IncRef()
}

// removeChildLocked removes child from d, the directory's dentry. The caller drops
// the tree's reference on child. Precondition: filesystem.mu is locked.
func (d *dentry) removeChildLocked(child *dentry) {
	dir := d.dir()
	delete(dir.childMap, child.name)
	dir.numChildren.Add(-1)
	idx := dir.firstEntryFrom(child.serial)
	dir.entries[idx].d = nil
	dir.holes++
	if dir.holes > len(dir.entries)/2 {
		live := dir.entries[:0]
		for _, e := range dir.entries {
			if e.d != nil {
				live = append(live, e)
			}
		}
		clear(dir.entries[len(live):])
		dir.entries = live
		dir.holes = 0
	}
}

// firstEntryFrom returns the index of the first entry with a serial of at least
// serial.
func (dir *directory) firstEntryFrom(serial uint64) int {
	return sort.Search(len(dir.entries), func(i int) bool { return dir.entries[i].serial >= serial })
}

// directoryFD is an open directory.
type directoryFD struct {
	fileDescription
	vfs.DirectoryFileDescriptionDefaultImpl

	// mu serializes iteration and seeking. Lock order: filesystem.mu, then mu.
	mu  sync.Mutex
	off int64
}

// IterDirents implements vfs.FileDescriptionImpl.IterDirents.
func (fd *directoryFD) IterDirents(ctx vfs.Context, cb vfs.IterDirentsCallback) error {
	fs := fd.d.inode.fs
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	fd.mu.Lock()
	defer fd.mu.Unlock()
	defer fd.d.inode.touchAtime(fd.vfsfd.Mount())

	if fd.off == 0 {
		if err := cb.Handle(vfs.Dirent{Name: ".", Type: linux.DT_DIR, Ino: fd.d.inode.ino, NextOff: 1}); err != nil {
			return err
		}
		fd.off = 1
	}
	if fd.off == 1 {
		parent := fd.d.parent
		if parent == nil {
			parent = fd.d
		}
		if err := cb.Handle(vfs.Dirent{Name: "..", Type: linux.DT_DIR, Ino: parent.inode.ino, NextOff: 2}); err != nil {
			return err
		}
		fd.off = 2
	}
	dir := fd.d.dir()
	for i := dir.firstEntryFrom(uint64(fd.off - 2)); i < len(dir.entries); i++ {
		e := dir.entries[i]
		if e.d == nil {
			continue
		}
		next := int64(e.serial) + 3
		if err := cb.Handle(vfs.Dirent{Name: e.d.name, Type: vfs.DTFromMode(e.d.inode.getMode()), Ino: e.d.inode.ino, NextOff: next}); err != nil {
			return err
		}
		fd.off = next
	}
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
