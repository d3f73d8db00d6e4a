package fsgofer

import (
	"bytes"
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
)

// fileFD is an open regular file. The client does its I/O on the donated duplicate;
// this one serves FSync.
type fileFD struct {
	fd int
}

func (f *fileFD) Getdents64(int64, uint32) ([]lisafs.Dirent, error) { return nil, linux.ENOTDIR }
func (f *fileFD) FSync() error                                      { return unix.Fsync(f.fd) }
func (f *fileFD) Close()                                            { unix.Close(f.fd) }

// fifoFD is an open FIFO: everything happens on the donated FD.
type fifoFD struct{}

func (fifoFD) Getdents64(int64, uint32) ([]lisafs.Dirent, error) { return nil, linux.ENOTDIR }
func (fifoFD) FSync() error                                      { return linux.EINVAL }
func (fifoFD) Close()                                            {}

// dirFD is an open directory, read through Getdents64 (never donated).
type dirFD struct {
	fd int

	// mu serializes reads of the directory: they move its one position. Lock
	// order: after Gofer.mu; nothing is locked under it.
	mu sync.Mutex
	// off is the position of fd: the Off of the last entry returned, or what the
	// last seek set.
	off int64
	buf []byte
}

// minGetdentsBuf is room for at least one linux_dirent64 with a NAME_MAX name.
const minGetdentsBuf = 512

// Getdents64 implements lisafs.OpenFD.Getdents64. An encoded Dirent is never larger
// than its linux_dirent64, so count bytes of host entries fit count bytes of reply.
func (d *dirFD) Getdents64(offset int64, count uint32) ([]lisafs.Dirent, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if offset != d.off {
		if _, err := unix.Seek(d.fd, offset, unix.SEEK_SET); err != nil {
			return nil, err
		}
		d.off = offset
	}
	size := max(int(count), minGetdentsBuf)
	if cap(d.buf) < size {
		d.buf = make([]byte, size)
	}
	buf := d.buf[:size]
	for {
		m, err := unix.Getdents(d.fd, buf)
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return nil, nil
		}
		dents, last, err := parseDirents(buf[:m])
		if err != nil {
			return nil, err
		}
		d.off = last
		// A batch of only "." and ".." is not the end: read on.
		if len(dents) > 0 {
			return dents, nil
		}
	}
}

// parseDirents decodes linux_dirent64 records, leaving out "." and "..", and returns
// the offset of the last record.
func parseDirents(b []byte) ([]lisafs.Dirent, int64, error) {
	const hdr = 8 + 8 + 2 + 1 // d_ino, d_off, d_reclen, d_type
	var dents []lisafs.Dirent
	var last int64
	for len(b) > 0 {
		if len(b) < hdr {
			return nil, 0, linux.EIO
		}
		reclen := int(binary.LittleEndian.Uint16(b[16:18]))
		if reclen < hdr || reclen > len(b) {
			return nil, 0, linux.EIO
		}
		rec := b[:reclen]
		b = b[reclen:]
		name := rec[hdr:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		last = int64(binary.LittleEndian.Uint64(rec[8:16]))
		if s := string(name); s != "." && s != ".." {
			dents = append(dents, lisafs.Dirent{
				Ino:  binary.LittleEndian.Uint64(rec[0:8]),
				Off:  last,
				Type: rec[18],
				Name: s,
			})
		}
	}
	return dents, last, nil
}

// Close implements lisafs.OpenFD.Close.
func (d *dirFD) Close() {
	unix.Close(d.fd)
}

// FSync implements lisafs.OpenFD.FSync: a directory's entries are flushed too.
func (d *dirFD) FSync() error {
	return unix.Fsync(d.fd)
}
