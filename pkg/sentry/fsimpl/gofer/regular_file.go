package gofer

import (
	"io"
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/vfs"
)

// maxFileSize is the largest size of a file (MAX_LFS_FILESIZE).
const maxFileSize = 1<<63 - 1

// hostErr converts an error of a host call on a donated FD to the errno the
// application sees.
func hostErr(err error) error {
	if errno, ok := err.(unix.Errno); ok {
		return linux.Errno(errno)
	}
	return err
}

// openHandleLocked opens the file through the Gofer with an access mode and returns
// the handle. Precondition: handleMu is locked.
func (i *inode) openHandleLocked(flags uint32) (*handle, error) {
	if i.released {
		return nil, linux.EIO
	}
	openFD, hostFD, err := i.fs.client.Open(i.controlFD, flags)
	if err != nil {
		return nil, err
	}
	if hostFD < 0 {
		_ = i.fs.client.CloseFDs(openFD)
		return nil, linux.EIO
	}
	// A fresh host FD is the moment to refresh the attributes without a round
	// trip.
	var st unix.Stat_t
	if err := unix.Fstat(hostFD, &st); err == nil {
		i.size.Store(uint64(st.Size))
		i.blocks.Store(uint64(st.Blocks))
	}
	return &handle{openFD: openFD, hostFD: hostFD}, nil
}

// setHandlesLocked makes h the read and/or write handle, closing those it replaces.
// Precondition: handleMu is locked.
func (i *inode) setHandlesLocked(h *handle, read, write bool) {
	old := []*handle{}
	if read && i.readH != nil && i.readH != h {
		old = append(old, i.readH)
	}
	if write && i.writeH != nil && i.writeH != h && i.writeH != i.readH {
		old = append(old, i.writeH)
	}
	if read {
		i.readH = h
	}
	if write {
		i.writeH = h
	}
	for _, o := range old {
		// A replaced handle may still be the other direction's.
		if o == i.readH || o == i.writeH {
			continue
		}
		unix.Close(o.hostFD)
		o.hostFD = -1
		_ = i.fs.client.CloseFDs(o.openFD)
	}
}

// ensureHandleLocked makes sure the handles for reading and/or writing exist,
// opening one host FD for both when it must open one for writing (so that a later
// read needs no round trip), or for writing only if the Gofer refuses reading.
// Precondition: handleMu is locked.
func (i *inode) ensureHandleLocked(read, write bool) error {
	needRead := read && i.readH == nil
	needWrite := write && i.writeH == nil
	if !needRead && !needWrite {
		return nil
	}
	if !needWrite {
		h, err := i.openHandleLocked(linux.O_RDONLY)
		if err != nil {
			return err
		}
		i.setHandlesLocked(h, true, false)
		return nil
	}
	h, err := i.openHandleLocked(linux.O_RDWR)
	if err == nil {
		i.setHandlesLocked(h, true, true)
		return nil
	}
	if needRead || (err != linux.EACCES && err != linux.EPERM) {
		return err
	}
	h, err = i.openHandleLocked(linux.O_WRONLY)
	if err != nil {
		return err
	}
	i.setHandlesLocked(h, false, true)
	return nil
}

// ensureHandle is ensureHandleLocked for a new file description, which it counts.
func (i *inode) ensureHandle(read, write bool) error {
	i.handleMu.Lock()
	defer i.handleMu.Unlock()
	if err := i.ensureHandleLocked(read, write); err != nil {
		return err
	}
	i.getHandleLocked()
	return nil
}

// installHandle makes h, just donated by a create, the read and/or write handle of
// a new file description, which it counts.
func (i *inode) installHandle(h *handle, read, write bool) {
	i.handleMu.Lock()
	defer i.handleMu.Unlock()
	i.setHandlesLocked(h, read, write)
	i.getHandleLocked()
}

// getHandleLocked counts a file description using the handles, which are then not
// idle. Precondition: handleMu is locked.
func (i *inode) getHandleLocked() {
	i.openFDs++
	fs := i.fs
	fs.handleLRUMu.Lock()
	if i.lruElem != nil {
		fs.handleLRU.Remove(i.lruElem)
		i.lruElem = nil
	}
	fs.handleLRUMu.Unlock()
}

// putHandle undoes ensureHandle or installHandle. The handles stay open, idle, until
// too many are.
func (i *inode) putHandle() {
	i.handleMu.Lock()
	i.openFDs--
	if i.openFDs == 0 {
		i.makeIdleLocked()
	}
	i.handleMu.Unlock()
	i.fs.evictIdleHandles()
}

// makeIdleLocked puts the inode, which has handles but no description using them,
// at the front of the idle list. Precondition: handleMu is locked.
func (i *inode) makeIdleLocked() {
	if i.readH == nil && i.writeH == nil {
		return
	}
	fs := i.fs
	fs.handleLRUMu.Lock()
	if i.lruElem != nil {
		fs.handleLRU.MoveToFront(i.lruElem)
	} else {
		i.lruElem = fs.handleLRU.PushFront(i)
	}
	fs.handleLRUMu.Unlock()
}

// evictIdleHandles closes the least recently used idle handles beyond the limit.
func (fs *filesystem) evictIdleHandles() {
	for {
		fs.handleLRUMu.Lock()
		if fs.handleLRU.Len() <= fs.maxIdleHandles {
			fs.handleLRUMu.Unlock()
			return
		}
		i := fs.handleLRU.Remove(fs.handleLRU.Back()).(*inode)
		i.lruElem = nil
		fs.handleLRUMu.Unlock()

		// Between the two locks the inode may have been opened (openFDs) and
		// even gone idle again (back in the list): then it stays.
		i.handleMu.Lock()
		fs.handleLRUMu.Lock()
		requeued := i.lruElem != nil
		fs.handleLRUMu.Unlock()
		var fds []lisafs.FDID
		if i.openFDs == 0 && !requeued {
			fds = i.closeHandlesLocked()
		}
		i.handleMu.Unlock()
		if len(fds) > 0 {
			// A failure only leaks FD IDs until the connection ends.
			_ = fs.client.CloseFDs(fds...)
		}
	}
}

// ReadAt implements memmap.Mappable: private mappings read the file through it, after
// its descriptions may all be closed, so it re-opens a read handle when the idle one
// was evicted. A file that is gone (unlinked and released) reads as EIO.
func (i *inode) ReadAt(dst []byte, off int64) (int, error) {
	if off < 0 {
		return 0, linux.EINVAL
	}
	for {
		i.handleMu.RLock()
		if h := i.readH; h != nil {
			n, err := preadFull(h.hostFD, dst, off)
			i.handleMu.RUnlock()
			if err == nil && n < len(dst) {
				err = io.EOF
			}
			return n, err
		}
		i.handleMu.RUnlock()
		i.handleMu.Lock()
		err := i.ensureHandleLocked(true, false)
		if err == nil && i.openFDs == 0 {
			i.makeIdleLocked()
		}
		i.handleMu.Unlock()
		if err != nil {
			return 0, err
		}
		i.fs.evictIdleHandles()
	}
}

// preadFull reads dst at off from the host FD, until the end of the file.
func preadFull(fd int, dst []byte, off int64) (int, error) {
	done := 0
	for done < len(dst) {
		n, err := unix.Pread(fd, dst[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, hostErr(err)
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

// pwriteFull writes all of src at off to the host FD.
func pwriteFull(fd int, src []byte, off int64) (int, error) {
	done := 0
	for done < len(src) {
		n, err := unix.Pwrite(fd, src[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, hostErr(err)
		}
		done += n
	}
	return done, nil
}

// growSize raises the cached size to at least end.
func (i *inode) growSize(end int64) {
	for {
		size := i.size.Load()
		if uint64(end) <= size || i.size.CompareAndSwap(size, uint64(end)) {
			return
		}
	}
}

// fsync flushes the file's write handle, if it has one.
func (i *inode) fsync() error {
	i.handleMu.RLock()
	defer i.handleMu.RUnlock()
	if i.writeH == nil {
		return nil
	}
	return i.fs.client.FSync(i.writeH.openFD)
}

// regularFileFD is an open regular file.
type regularFileFD struct {
	fileDescription

	// offMu protects off. Lock order: offMu, then inode.dataMu.
	offMu sync.Mutex
	off   int64
}

// newRegularFD returns a description of d, whose handles ensureHandle or
// installHandle made ready (and counted it).
func (d *dentry) newRegularFD(mnt *vfs.Mount, flags uint32) *vfs.FileDescription {
	fd := &regularFileFD{}
	fd.d = d
	fd.vfsfd.Init(fd, flags, mnt, &d.vfsd, &vfs.FileDescriptionOptions{})
	return &fd.vfsfd
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *regularFileFD) Release() { fd.d.inode.putHandle() }

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *regularFileFD) Read(ctx vfs.Context, dst []byte, opts vfs.ReadOptions) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fd.PRead(ctx, dst, fd.off, opts)
	fd.off += n
	return n, err
}

// PRead implements vfs.FileDescriptionImpl.PRead: one pread on the host FD.
func (fd *regularFileFD) PRead(_ vfs.Context, dst []byte, offset int64, _ vfs.ReadOptions) (int64, error) {
	i := fd.d.inode
	i.handleMu.RLock()
	defer i.handleMu.RUnlock()
	if i.readH == nil {
		return 0, linux.EBADF
	}
	for {
		n, err := unix.Pread(i.readH.hostFD, dst, offset)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, hostErr(err)
		}
		return int64(n), nil
	}
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *regularFileFD) Write(ctx vfs.Context, src []byte, opts vfs.WriteOptions) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, end, err := fd.pwrite(ctx, src, fd.off, &opts)
	fd.off = end
	return n, err
}

// PWrite implements vfs.FileDescriptionImpl.PWrite. With O_APPEND it appends, as
// Linux's pwrite does.
func (fd *regularFileFD) PWrite(ctx vfs.Context, src []byte, offset int64, opts vfs.WriteOptions) (int64, error) {
	n, _, err := fd.pwrite(ctx, src, offset, &opts)
	return n, err
}

// pwrite writes src at offset, or at the end with O_APPEND, within opts' file size
// limit, and returns the count and the offset after the written bytes.
func (fd *regularFileFD) pwrite(ctx vfs.Context, src []byte, offset int64, opts *vfs.WriteOptions) (int64, int64, error) {
	if len(src) == 0 {
		return 0, offset, nil
	}
	i := fd.d.inode
	appending := fd.vfsfd.StatusFlags()&linux.O_APPEND != 0
	if appending {
		i.dataMu.Lock()
		offset = int64(i.size.Load())
	} else {
		i.dataMu.RLock()
	}
	unlock := func() {
		if appending {
			i.dataMu.Unlock()
		} else {
			i.dataMu.RUnlock()
		}
	}
	allowed, err := opts.LimitWrite(offset, len(src))
	if err != nil {
		unlock()
		return 0, offset, err
	}
	src = src[:allowed]
	if offset >= maxFileSize {
		unlock()
		return 0, offset, linux.EFBIG
	}
	if int64(len(src)) > maxFileSize-offset {
		src = src[:maxFileSize-offset]
	}
	i.handleMu.RLock()
	var n int
	err = linux.EBADF
	if i.writeH != nil {
		n, err = pwriteFull(i.writeH.hostFD, src, offset)
	}
	i.handleMu.RUnlock()
	if n > 0 {
		i.growSize(offset + int64(n))
	}
	unlock()
	if n > 0 {
		i.touchCMtime()
		if mode := i.getMode(); killPrivs(ctx.Credentials(), mode) != mode {
			i.killPrivsAfterWrite(ctx.Credentials())
		}
	}
	return int64(n), offset + int64(n), err
}

// killPrivsAfterWrite drops the set-ID bits a write by creds takes away. The write
// has happened, so a failure is not the write's: the bits stay.
func (i *inode) killPrivsAfterWrite(creds *auth.Credentials) {
	i.metaMu.Lock()
	defer i.metaMu.Unlock()
	mode := i.getMode()
	killed := killPrivs(creds, mode)
	if killed == mode {
		return
	}
	req := lisafs.SetStatRequest{Mask: linux.STATX_MODE, Mode: uint32(killed & linux.PermissionsMask)}
	if i.fs.client.SetStat(i.controlFD, req) == nil {
		i.mode.Store(uint32(killed))
	}
}

// Seek implements vfs.FileDescriptionImpl.Seek. The whole file counts as data:
// SEEK_HOLE finds only the hole at its end.
func (fd *regularFileFD) Seek(_ vfs.Context, offset int64, whence int32) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	size := int64(fd.d.inode.size.Load())
	switch whence {
	case linux.SEEK_SET:
	case linux.SEEK_CUR:
		offset += fd.off
	case linux.SEEK_END:
		offset += size
	case linux.SEEK_DATA, linux.SEEK_HOLE:
		if offset < 0 {
			return 0, linux.EINVAL
		}
		if offset >= size {
			return 0, linux.ENXIO
		}
		if whence == linux.SEEK_HOLE {
			offset = size
		}
	default:
		return 0, linux.EINVAL
	}
	if offset < 0 {
		return 0, linux.EINVAL
	}
	fd.off = offset
	return offset, nil
}

// Allocate implements vfs.FileDescriptionImpl.Allocate with fallocate on the host FD.
func (fd *regularFileFD) Allocate(_ vfs.Context, mode, offset, length uint64) error {
	i := fd.d.inode
	i.dataMu.Lock()
	defer i.dataMu.Unlock()
	i.handleMu.RLock()
	defer i.handleMu.RUnlock()
	if i.writeH == nil {
		return linux.EBADF
	}
	if err := unix.Fallocate(i.writeH.hostFD, uint32(mode), int64(offset), int64(length)); err != nil {
		return hostErr(err)
	}
	if mode&linux.FALLOC_FL_KEEP_SIZE == 0 {
		i.growSize(int64(offset + length))
	}
	if mode&linux.FALLOC_FL_KEEP_SIZE == 0 || mode&linux.FALLOC_FL_PUNCH_HOLE != 0 {
		i.touchCMtime()
	}
	return nil
}

// Sync implements vfs.FileDescriptionImpl.Sync.
func (fd *regularFileFD) Sync(vfs.Context) error { return fd.d.inode.fsync() }

// ConfigureMMap implements vfs.FileDescriptionImpl.ConfigureMMap. Private mappings
// read the file when first touched. A shared mapping can only be read-only: the
// file's pages are not in the memory file the application maps, so writes through
// the mapping would not reach the file.
func (fd *regularFileFD) ConfigureMMap(_ vfs.Context, opts *memmap.MMapOpts) error {
	if !opts.Private {
		if opts.Perms.Write {
			return linux.ENODEV
		}
		opts.MaxPerms.Write = false
	}
	opts.Mappable = fd.d.inode
	return nil
}
