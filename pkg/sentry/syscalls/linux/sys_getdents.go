package linux

import (
	"encoding/binary"
	"errors"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// errBufferFull stops a directory iteration when the next entry does not fit.
var errBufferFull = errors.New("getdents buffer full")

// direntSize returns the size struct linux_dirent (getdents(2)) takes for a name:
// d_ino, d_off, d_reclen, the name and its NUL, and d_type in the last byte,
// padded to 8 bytes.
func direntSize(name string) int { return (8 + 8 + 2 + len(name) + 2 + 7) &^ 7 }

// appendDirent appends d as getdents(2) lays it out.
func appendDirent(buf []byte, d vfs.Dirent) []byte {
	size := direntSize(d.Name)
	start := len(buf)
	buf = binary.LittleEndian.AppendUint64(buf, d.Ino)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(d.NextOff))
	buf = binary.LittleEndian.AppendUint16(buf, uint16(size))
	buf = append(buf, d.Name...)
	for len(buf) < start+size-1 {
		buf = append(buf, 0)
	}
	return append(buf, d.Type)
}

// direntBuffer collects directory entries up to a size.
type direntBuffer struct {
	buf  []byte
	size int
	old  bool // getdents rather than getdents64
}

// Handle implements vfs.IterDirentsCallback.
func (b *direntBuffer) Handle(d vfs.Dirent) error {
	var n int
	if b.old {
		n = direntSize(d.Name)
	} else {
		n = vfs.Dirent64Size(d.Name)
	}
	if len(b.buf)+n > b.size {
		return errBufferFull
	}
	if b.old {
		b.buf = appendDirent(b.buf, d)
	} else {
		b.buf = vfs.AppendDirent64(b.buf, d)
	}
	return nil
}

// getdents reads directory entries into the buffer at addr of count bytes. A
// buffer too small for the next entry fails with EINVAL.
func getdents(t *kernel.Task, args arch.SyscallArguments, old bool) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if isOPath(f) {
		return 0, linux.EBADF
	}
	if f.Dentry().IsDead() {
		// iterate_dir refuses a removed directory (IS_DEADDIR).
		st, err := f.Stat(t, vfs.StatOptions{Mask: linux.STATX_TYPE})
		if err == nil && st.Mode&linux.S_IFMT == linux.S_IFDIR {
			return 0, linux.ENOENT
		}
	}
	addr, count := args[1].Pointer(), int(min(args[2].Uint(), linux.MAX_RW_COUNT))
	// Any entry fits in ioChunk bytes, so a larger buffer is filled in part.
	b := &direntBuffer{size: min(count, ioChunk), old: old}
	err = f.IterDirents(t, b)
	if err != nil && !errors.Is(err, errBufferFull) {
		if len(b.buf) == 0 {
			return 0, interrupted(err)
		}
	} else if errors.Is(err, errBufferFull) && len(b.buf) == 0 {
		return 0, linux.EINVAL
	}
	if len(b.buf) == 0 {
		return 0, nil
	}
	if _, err := t.CopyOutBytes(addr, b.buf); err != nil {
		return 0, linux.EFAULT
	}
	return uintptr(len(b.buf)), nil
}

// Getdents64 implements getdents64(2).
func Getdents64(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return getdents(t, args, false)
}

// Getdents implements getdents(2).
func Getdents(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return getdents(t, args, true)
}
