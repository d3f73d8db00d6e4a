package tmpfs

import (
	"io"
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/vfs"
)

// regularFile is a regular file's contents: a sparse set of pages, where a missing
// page reads as zeros and takes no space.
type regularFile struct {
	fs *filesystem

	// dataMu protects pages and changes to size. Lock order: inode.mu, then
	// dataMu.
	dataMu sync.RWMutex
	pages  map[int64]*[pageSize]byte
	// size is the file size, readable without dataMu.
	size atomic.Int64
	// numPages is len(pages), readable without dataMu for st_blocks.
	numPages atomic.Int64
}

// newRegularFile returns a new, empty regular file.
func (fs *filesystem) newRegularFile(kuid auth.KUID, kgid auth.KGID, mode uint16) *inode {
	return fs.newInode(kuid, kgid, linux.S_IFREG|mode, &regularFile{fs: fs, pages: make(map[int64]*[pageSize]byte)})
}

// release frees the contents once the file is gone.
func (rf *regularFile) release() {
	rf.dataMu.Lock()
	defer rf.dataMu.Unlock()
	rf.fs.releasePages(uint64(len(rf.pages)))
	rf.pages = nil
	rf.numPages.Store(0)
}

// ReadAt reads the file for mappings, as io.ReaderAt.
func (rf *regularFile) ReadAt(dst []byte, off int64) (int, error) {
	if off < 0 {
		return 0, linux.EINVAL
	}
	n := rf.read(dst, off)
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// read copies the file from off into dst, stopping at its end.
func (rf *regularFile) read(dst []byte, off int64) int {
	rf.dataMu.RLock()
	defer rf.dataMu.RUnlock()
	size := rf.size.Load()
	if off >= size {
		return 0
	}
	dst = dst[:min(int64(len(dst)), size-off)]
	done := 0
	for done < len(dst) {
		pos := off + int64(done)
		pgOff := pos % pageSize
		n := min(len(dst)-done, int(pageSize-pgOff))
		if pg := rf.pages[pos/pageSize]; pg != nil {
			copy(dst[done:done+n], pg[pgOff:])
		} else {
			clear(dst[done : done+n])
		}
		done += n
	}
	return done
}

// writeLocked copies src into the file at off, allocating pages as needed. It
// stops early where the size limit leaves no page to allocate, failing with ENOSPC
// if it wrote nothing, and fails with EFBIG at the largest file size.
// Precondition: dataMu is locked.
func (rf *regularFile) writeLocked(src []byte, off int64) (int64, error) {
	if len(src) == 0 {
		return 0, nil
	}
	if off >= maxFileSize {
		return 0, linux.EFBIG
	}
	if int64(len(src)) > maxFileSize-off {
		src = src[:maxFileSize-off]
	}
	done := 0
	for done < len(src) {
		pos := off + int64(done)
		pgOff := pos % pageSize
		n := min(len(src)-done, int(pageSize-pgOff))
		pg := rf.pages[pos/pageSize]
		if pg == nil {
			if !rf.fs.reservePages(1) {
				break
			}
			pg = new([pageSize]byte)
			rf.pages[pos/pageSize] = pg
			rf.numPages.Add(1)
		}
		copy(pg[pgOff:], src[done:done+n])
		done += n
	}
	if done == 0 {
		return 0, linux.ENOSPC
	}
	if end := off + int64(done); end > rf.size.Load() {
		rf.size.Store(end)
	}
	return int64(done), nil
}

// truncate sets the file size, freeing the pages past it and zeroing the rest of
// the last page so that growing the file again shows zeros.
func (rf *regularFile) truncate(size int64) error {
	if size < 0 {
		return linux.EINVAL
	}
	rf.dataMu.Lock()
	defer rf.dataMu.Unlock()
	// Pages past the size may exist after fallocate(FALLOC_FL_KEEP_SIZE).
	rf.freeRangeLocked(size, maxFileSize)
	rf.size.Store(size)
	return nil
}

// freeRangeLocked zeroes [start, end) of the contents, freeing the pages wholly
// inside it. Precondition: dataMu is locked.
func (rf *regularFile) freeRangeLocked(start, end int64) {
	if pgOff := start % pageSize; pgOff != 0 {
		if pg := rf.pages[start/pageSize]; pg != nil {
			clear(pg[pgOff:min(pageSize, pgOff+end-start)])
		}
		start += min(pageSize-pgOff, end-start)
	}
	if pgEnd := end % pageSize; pgEnd != 0 && end > start {
		if pg := rf.pages[end/pageSize]; pg != nil {
			clear(pg[:pgEnd])
		}
		end -= pgEnd
	}
	freed := 0
	if (end-start)/pageSize > int64(len(rf.pages)) {
		for idx := range rf.pages {
			if idx >= start/pageSize && idx < end/pageSize {
				delete(rf.pages, idx)
				freed++
			}
		}
	} else {
		for idx := start / pageSize; idx < end/pageSize; idx++ {
			if _, ok := rf.pages[idx]; ok {
				delete(rf.pages, idx)
				freed++
			}
		}
	}
	rf.numPages.Add(int64(-freed))
	rf.fs.releasePages(uint64(freed))
}

// allocate implements fallocate(2): mode 0 or FALLOC_FL_KEEP_SIZE allocates pages
// for [off, off+length) (and grows the file unless KEEP_SIZE), and
// FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE frees them.
func (rf *regularFile) allocate(mode uint64, off, length int64) error {
	rf.dataMu.Lock()
	defer rf.dataMu.Unlock()
	end := off + length
	switch mode {
	case 0, linux.FALLOC_FL_KEEP_SIZE:
		if end > maxFileSize {
			return linux.EFBIG
		}
		var added []int64
		for idx := off / pageSize; idx < (end+pageSize-1)/pageSize; idx++ {
			if _, ok := rf.pages[idx]; ok {
				continue
			}
			if !rf.fs.reservePages(1) {
				for _, idx := range added {
					delete(rf.pages, idx)
				}
				rf.numPages.Add(int64(-len(added)))
				rf.fs.releasePages(uint64(len(added)))
				return linux.ENOSPC
			}
			rf.pages[idx] = new([pageSize]byte)
			added = append(added, idx)
		}
		rf.numPages.Add(int64(len(added)))
		if mode == 0 && end > rf.size.Load() {
			rf.size.Store(end)
		}
		return nil
	case linux.FALLOC_FL_PUNCH_HOLE | linux.FALLOC_FL_KEEP_SIZE:
		rf.freeRangeLocked(off, end)
		return nil
	}
	return linux.EOPNOTSUPP
}

// regularFileFD is an open regular file.
type regularFileFD struct {
	fileDescription

	// offMu protects off. Lock order: offMu, then regularFile.dataMu.
	offMu sync.Mutex
	off   int64
}

func (fd *regularFileFD) file() *regularFile { return fd.d.inode.impl.(*regularFile) }

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *regularFileFD) Read(ctx vfs.Context, dst []byte, opts vfs.ReadOptions) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fd.PRead(ctx, dst, fd.off, opts)
	fd.off += n
	return n, err
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (fd *regularFileFD) PRead(_ vfs.Context, dst []byte, offset int64, _ vfs.ReadOptions) (int64, error) {
	n := fd.file().read(dst, offset)
	if fd.vfsfd.StatusFlags()&linux.O_NOATIME == 0 {
		fd.d.inode.touchAtime(fd.vfsfd.Mount())
	}
	return int64(n), nil
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
	rf := fd.file()
	rf.dataMu.Lock()
	if fd.vfsfd.StatusFlags()&linux.O_APPEND != 0 {
		offset = rf.size.Load()
	}
	allowed, err := opts.LimitWrite(offset, len(src))
	if err != nil {
		rf.dataMu.Unlock()
		return 0, offset, err
	}
	n, err := rf.writeLocked(src[:allowed], offset)
	rf.dataMu.Unlock()
	if n > 0 {
		i := fd.d.inode
		i.touchCMtime()
		for {
			mode := i.mode.Load()
			killed := uint32(killPrivs(ctx.Credentials(), uint16(mode)))
			if killed == mode || i.mode.CompareAndSwap(mode, killed) {
				break
			}
		}
	}
	return n, offset + n, err
}

// Seek implements vfs.FileDescriptionImpl.Seek. The whole file counts as data:
// SEEK_HOLE finds only the hole at its end.
func (fd *regularFileFD) Seek(_ vfs.Context, offset int64, whence int32) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	size := fd.file().size.Load()
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

// Allocate implements vfs.FileDescriptionImpl.Allocate.
func (fd *regularFileFD) Allocate(_ vfs.Context, mode, offset, length uint64) error {
	if err := fd.file().allocate(mode, int64(offset), int64(length)); err != nil {
		return err
	}
	if mode&linux.FALLOC_FL_KEEP_SIZE == 0 || mode&linux.FALLOC_FL_PUNCH_HOLE != 0 {
		fd.d.inode.touchCMtime()
	}
	return nil
}

// ConfigureMMap implements vfs.FileDescriptionImpl.ConfigureMMap. Private mappings
// read the file's pages as they are when first touched. A shared mapping can only
// be read-only: the contents are not yet in the memory file the application maps,
// so writes through the mapping would not reach the file.
func (fd *regularFileFD) ConfigureMMap(_ vfs.Context, opts *memmap.MMapOpts) error {
	if !opts.Private {
		if opts.Perms.Write {
			return linux.ENODEV
		}
		opts.MaxPerms.Write = false
	}
	opts.Mappable = mappable{fd.d.inode}
	return nil
}

// mappable is the memmap.Mappable of a regular file. Its IncRef and DecRef let
// each mapping (pkg/sentry/mm) hold the inode, as Linux's vm_file does, so that
// the file's pages outlive its last descriptor and name while a mapping may still
// fault them in. It is comparable, so that adjacent mappings of one file merge.
type mappable struct{ i *inode }

// ReadAt implements memmap.Mappable.
func (m mappable) ReadAt(dst []byte, off int64) (int, error) {
	return m.i.impl.(*regularFile).ReadAt(dst, off)
}

// IncRef takes a mapping's reference on the inode.
func (m mappable) IncRef() { m.i.incRef() }

// DecRef drops a mapping's reference; the last one frees the file's pages.
func (m mappable) DecRef() { m.i.decRef() }
