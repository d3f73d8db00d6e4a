package linux

import (
	"encoding/binary"
	"errors"
	"math"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// ioChunk bounds the Sentry's buffer for one read or write: larger transfers go
// through it in pieces.
const ioChunk = 64 << 10

// ioSeg is one piece of application memory a read fills or a write drains.
type ioSeg struct {
	addr   uintptr
	length int64
}

// ioSegs is an iovec array, already checked.
type ioSegs []ioSeg

// total returns the number of bytes segs describe.
func (segs ioSegs) total() int64 {
	var n int64
	for _, s := range segs {
		n += s.length
	}
	return n
}

// walk calls fn with the pieces of segs that make up bytes [off, off+n).
func (segs ioSegs) walk(off, n int64, fn func(addr uintptr, bufOff, length int64) (int, error)) (int64, error) {
	var done int64
	for _, s := range segs {
		if n == 0 {
			break
		}
		if off >= s.length {
			off -= s.length
			continue
		}
		l := min(s.length-off, n)
		c, err := fn(s.addr+uintptr(off), done, l)
		done += int64(c)
		if err != nil {
			return done, err
		}
		n -= l
		off = 0
	}
	return done, nil
}

// copyOut writes data to bytes [off, off+len(data)) of segs.
func (segs ioSegs) copyOut(t *kernel.Task, off int64, data []byte) (int64, error) {
	return segs.walk(off, int64(len(data)), func(addr uintptr, bufOff, length int64) (int, error) {
		return t.CopyOutBytes(addr, data[bufOff:bufOff+length])
	})
}

// copyIn reads bytes [off, off+len(data)) of segs into data.
func (segs ioSegs) copyIn(t *kernel.Task, off int64, data []byte) (int64, error) {
	return segs.walk(off, int64(len(data)), func(addr uintptr, bufOff, length int64) (int, error) {
		return t.CopyInBytes(addr, data[bufOff:bufOff+length])
	})
}

// singleSeg is the buffer of read(2) and write(2), clamped to MAX_RW_COUNT.
func singleSeg(addr uintptr, count uint64) ioSegs {
	return ioSegs{{addr: addr, length: int64(min(count, linux.MAX_RW_COUNT))}}
}

// iovecSize is sizeof(struct iovec) on amd64.
const iovecSize = 16

// parseIovecs checks an iovec array as import_iovec does: at most UIO_MAXIOV
// entries (EINVAL), no negative length (EINVAL), and a total clamped to
// MAX_RW_COUNT, later entries shortened or dropped.
func parseIovecs(raw []byte) (ioSegs, error) {
	n := len(raw) / iovecSize
	segs := make(ioSegs, 0, n)
	var total int64
	for i := 0; i < n; i++ {
		base := binary.LittleEndian.Uint64(raw[i*iovecSize:])
		length := int64(binary.LittleEndian.Uint64(raw[i*iovecSize+8:]))
		if length < 0 {
			return nil, linux.EINVAL
		}
		length = min(length, linux.MAX_RW_COUNT-total)
		total += length
		segs = append(segs, ioSeg{addr: uintptr(base), length: length})
	}
	return segs, nil
}

// copyInIovecs reads and checks the iovec array at addr.
func copyInIovecs(t *kernel.Task, addr uintptr, count uint64) (ioSegs, error) {
	if count > linux.UIO_MAXIOV {
		return nil, linux.EINVAL
	}
	if count == 0 {
		return nil, nil
	}
	raw := make([]byte, count*iovecSize)
	if _, err := t.CopyInBytes(addr, raw); err != nil {
		return nil, linux.EFAULT
	}
	return parseIovecs(raw)
}

// interrupted turns the error of an interrupted wait into the errno the
// application (or the restart machinery) sees.
func interrupted(err error) error {
	if errors.Is(err, kernel.ErrInterrupted) {
		return kernel.ERESTARTSYS
	}
	return err
}

// readFunc reads into dst; first is set for the first piece of a transfer, which
// alone may block.
type readFunc func(dst []byte, first bool) (int64, error)

// doRead reads into segs with read, through a bounded buffer. It stops at the
// first short read. A fault copying out ends the read with the bytes delivered, or
// EFAULT if none were; unseek, if set, gives back what was read but not delivered.
func doRead(t *kernel.Task, segs ioSegs, read readFunc, unseek func(n int64)) (int64, error) {
	total := segs.total()
	buf := make([]byte, min(total, ioChunk))
	var done int64
	for first := true; first || done < total; first = false {
		want := min(total-done, ioChunk)
		n, err := read(buf[:want], first)
		if n > 0 {
			c, cerr := segs.copyOut(t, done, buf[:n])
			done += c
			if cerr != nil {
				if unseek != nil && c < n {
					unseek(n - c)
				}
				if done == 0 {
					return 0, linux.EFAULT
				}
				return done, nil
			}
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, interrupted(err)
		}
		if n < want || want == 0 {
			break
		}
	}
	return done, nil
}

// writeFunc writes src.
type writeFunc func(src []byte) (int64, error)

// doWrite writes segs with write, through a bounded buffer, stopping at the first
// short write. A fault copying in ends the write with the bytes written before it,
// or EFAULT if none were.
func doWrite(t *kernel.Task, segs ioSegs, write writeFunc) (int64, error) {
	total := segs.total()
	buf := make([]byte, min(total, ioChunk))
	var done int64
	for first := true; first || done < total; first = false {
		want := min(total-done, ioChunk)
		c, cerr := segs.copyIn(t, done, buf[:want])
		if c > 0 || want == 0 {
			n, err := write(buf[:c])
			done += n
			if err != nil {
				if done > 0 {
					return done, nil
				}
				return 0, interrupted(err)
			}
			if n < c {
				break
			}
		}
		if cerr != nil {
			if done > 0 {
				return done, nil
			}
			return 0, linux.EFAULT
		}
		if want == 0 {
			break
		}
	}
	return done, nil
}

// blockingReader returns the readFunc of read(2) on fd: the first piece blocks
// unless fd is non-blocking (or nowait), the rest take only what is ready.
func blockingReader(t *kernel.Task, fd *vfs.FileDescription, opts vfs.ReadOptions, nowait bool) readFunc {
	return func(dst []byte, first bool) (int64, error) {
		if first && !nowait {
			return fd.BlockingRead(t, dst, opts)
		}
		return fd.Read(t, dst, opts)
	}
}

// unseeker returns a function that moves fd's offset back, for a read whose data
// could not be delivered; nil for files without positions.
func unseeker(t *kernel.Task, fd *vfs.FileDescription) func(int64) {
	return func(n int64) { _, _ = fd.Seek(t, -n, linux.SEEK_CUR) }
}

// blockingWriter returns the writeFunc of write(2) on fd.
func blockingWriter(t *kernel.Task, fd *vfs.FileDescription, opts vfs.WriteOptions, nowait bool) writeFunc {
	return func(src []byte) (int64, error) {
		var n int64
		var err error
		if nowait {
			n, err = fd.Write(t, src, opts)
			if err == linux.EAGAIN && n > 0 {
				err = nil
			}
		} else {
			n, err = fd.BlockingWrite(t, src, opts)
		}
		if err == linux.EPIPE {
			sendSIGPIPE(t)
		}
		return n, err
	}
}

// writeOptions returns the options of an application's write: its RWF_* flags and
// its RLIMIT_FSIZE.
func writeOptions(t *kernel.Task, flags uint32) vfs.WriteOptions {
	lim := t.ThreadGroup().Limit(linux.RLIMIT_FSIZE).Cur
	return vfs.WriteOptions{Flags: flags, LimitFileSize: lim != linux.RLIM_INFINITY, FileSizeLimit: lim}
}

// fileSizeExceeded returns a write's error, first sending SIGXFSZ to t if the
// write failed for starting beyond RLIMIT_FSIZE (EFBIG under a limit), as
// generic_write_check_limits does. A write cut short at the limit is not an error
// and sends nothing.
func fileSizeExceeded(t *kernel.Task, opts vfs.WriteOptions, err error) error {
	if err == linux.EFBIG && opts.LimitFileSize {
		_ = t.SendSignal(senderInfo(t, linux.SIGXFSZ, linux.SI_USER))
	}
	return err
}

// sendSIGPIPE sends SIGPIPE to t, as a write to a pipe or socket without readers
// does.
func sendSIGPIPE(t *kernel.Task) {
	_ = t.SendSignal(senderInfo(t, linux.SIGPIPE, linux.SI_USER))
}

// getFD returns the file dirfd names, with a reference, or EBADF.
func getFD(t *kernel.Task, fd int32) (*vfs.FileDescription, error) {
	f, _ := t.FDTable().Get(fd)
	if f == nil {
		return nil, linux.EBADF
	}
	return f, nil
}

// isOPath reports whether f is an O_PATH file, which most calls reject with EBADF.
func isOPath(f *vfs.FileDescription) bool { return f.StatusFlags()&linux.O_PATH != 0 }

// checkReadable fails unless f can be read: EBADF, as vfs_read does before looking
// at the buffer.
func checkReadable(f *vfs.FileDescription) error {
	if !f.IsReadable() {
		return linux.EBADF
	}
	return nil
}

func checkWritable(f *vfs.FileDescription) error {
	if !f.IsWritable() {
		return linux.EBADF
	}
	return nil
}

// checkPos checks a positional I/O's offset as rw_verify_area does.
func checkPos(pos int64, count int64) error {
	if pos < 0 {
		return linux.EINVAL
	}
	if count > math.MaxInt64-pos {
		return linux.EOVERFLOW
	}
	return nil
}

// Read implements read(2).
func Read(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if err := checkReadable(f); err != nil {
		return 0, err
	}
	n, err := doRead(t, singleSeg(args[1].Pointer(), args[2].Uint64()), blockingReader(t, f, vfs.ReadOptions{}, false), unseeker(t, f))
	return uintptr(n), err
}

// Write implements write(2).
func Write(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if err := checkWritable(f); err != nil {
		return 0, err
	}
	opts := writeOptions(t, 0)
	n, err := doWrite(t, singleSeg(args[1].Pointer(), args[2].Uint64()), blockingWriter(t, f, opts, false))
	return uintptr(n), fileSizeExceeded(t, opts, err)
}

// preader returns the readFunc of a positional read at pos.
func preader(t *kernel.Task, f *vfs.FileDescription, pos int64, opts vfs.ReadOptions) readFunc {
	off := pos
	return func(dst []byte, _ bool) (int64, error) {
		n, err := f.PRead(t, dst, off, opts)
		off += n
		return n, err
	}
}

// pwriter returns the writeFunc of a positional write at pos.
func pwriter(t *kernel.Task, f *vfs.FileDescription, pos int64, opts vfs.WriteOptions) writeFunc {
	off := pos
	return func(src []byte) (int64, error) {
		n, err := f.PWrite(t, src, off, opts)
		off += n
		if err == linux.EPIPE {
			sendSIGPIPE(t)
		}
		return n, err
	}
}

// Pread64 implements pread64(2).
func Pread64(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if err := checkReadable(f); err != nil {
		return 0, err
	}
	segs := singleSeg(args[1].Pointer(), args[2].Uint64())
	pos := args[3].Int64()
	if err := checkPos(pos, segs.total()); err != nil {
		return 0, err
	}
	n, err := doRead(t, segs, preader(t, f, pos, vfs.ReadOptions{}), nil)
	return uintptr(n), err
}

// Pwrite64 implements pwrite64(2).
func Pwrite64(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if err := checkWritable(f); err != nil {
		return 0, err
	}
	segs := singleSeg(args[1].Pointer(), args[2].Uint64())
	pos := args[3].Int64()
	if err := checkPos(pos, segs.total()); err != nil {
		return 0, err
	}
	opts := writeOptions(t, 0)
	n, err := doWrite(t, segs, pwriter(t, f, pos, opts))
	return uintptr(n), fileSizeExceeded(t, opts, err)
}

// vectorIO runs readv(2) and its relatives: pos < 0 means the file's offset.
func vectorIO(t *kernel.Task, args arch.SyscallArguments, write bool, pos int64, rwFlags uint32) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if write {
		err = checkWritable(f)
	} else {
		err = checkReadable(f)
	}
	if err != nil {
		return 0, err
	}
	if err := checkRWFlags(f, rwFlags, write); err != nil {
		return 0, err
	}
	segs, err := copyInIovecs(t, args[1].Pointer(), args[2].Uint64())
	if err != nil {
		return 0, err
	}
	if pos >= 0 {
		if err := checkPos(pos, segs.total()); err != nil {
			return 0, err
		}
	}
	nowait := rwFlags&linux.RWF_NOWAIT != 0
	var n int64
	if write {
		opts := writeOptions(t, rwFlags)
		if pos >= 0 {
			n, err = doWrite(t, segs, pwriter(t, f, pos, opts))
		} else {
			n, err = doWrite(t, segs, blockingWriter(t, f, opts, nowait))
		}
		err = fileSizeExceeded(t, opts, err)
		if n > 0 && rwFlags&(linux.RWF_SYNC|linux.RWF_DSYNC) != 0 {
			if serr := f.Sync(t); serr != nil && serr != linux.EINVAL {
				return 0, serr
			}
		}
	} else {
		opts := vfs.ReadOptions{Flags: rwFlags}
		if pos >= 0 {
			n, err = doRead(t, segs, preader(t, f, pos, opts), nil)
		} else {
			n, err = doRead(t, segs, blockingReader(t, f, opts, nowait), unseeker(t, f))
		}
	}
	return uintptr(n), err
}

// checkRWFlags checks preadv2(2)'s and pwritev2(2)'s RWF_* flags. RWF_APPEND and
// RWF_NOAPPEND are accepted only where they change nothing (the file's O_APPEND
// already says the same); RWF_ATOMIC is not supported.
func checkRWFlags(f *vfs.FileDescription, flags uint32, write bool) error {
	const known = linux.RWF_HIPRI | linux.RWF_DSYNC | linux.RWF_SYNC | linux.RWF_NOWAIT |
		linux.RWF_APPEND | linux.RWF_NOAPPEND | linux.RWF_DONTCACHE
	if flags&^known != 0 {
		return linux.EOPNOTSUPP
	}
	appending := f.StatusFlags()&linux.O_APPEND != 0
	if flags&linux.RWF_APPEND != 0 && (!write || !appending) {
		return linux.EOPNOTSUPP
	}
	if flags&linux.RWF_NOAPPEND != 0 && (!write || appending) {
		return linux.EOPNOTSUPP
	}
	return nil
}

// Readv implements readv(2).
func Readv(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return vectorIO(t, args, false, -1, 0)
}

// Writev implements writev(2).
func Writev(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return vectorIO(t, args, true, -1, 0)
}

// Preadv implements preadv(2). On amd64 the offset is all in pos_l.
func Preadv(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pos := args[3].Int64()
	if pos < 0 {
		return 0, linux.EINVAL
	}
	return vectorIO(t, args, false, pos, 0)
}

// Pwritev implements pwritev(2).
func Pwritev(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pos := args[3].Int64()
	if pos < 0 {
		return 0, linux.EINVAL
	}
	return vectorIO(t, args, true, pos, 0)
}

// Preadv2 implements preadv2(2): offset -1 reads at the file's offset.
func Preadv2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pos := args[3].Int64()
	if pos < -1 {
		return 0, linux.EINVAL
	}
	return vectorIO(t, args, false, pos, args[5].Uint())
}

// Pwritev2 implements pwritev2(2).
func Pwritev2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pos := args[3].Int64()
	if pos < -1 {
		return 0, linux.EINVAL
	}
	return vectorIO(t, args, true, pos, args[5].Uint())
}

// Lseek implements lseek(2).
func Lseek(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	whence := args[2].Int()
	if whence < linux.SEEK_SET || whence > linux.SEEK_HOLE {
		return 0, linux.EINVAL
	}
	off, err := f.Seek(t, args[1].Int64(), whence)
	return uintptr(off), err
}

// Sendfile implements sendfile(2).
func Sendfile(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	out, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	in, err := getFD(t, args[1].Int())
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	if !in.IsReadable() || !out.IsWritable() {
		return 0, linux.EBADF
	}
	if out.StatusFlags()&linux.O_APPEND != 0 {
		return 0, linux.EINVAL
	}
	offAddr := args[2].Pointer()
	count := int64(min(args[3].Uint64(), linux.MAX_RW_COUNT))
	var off int64
	if offAddr != 0 {
		o, err := t.CopyInUint64(offAddr)
		if err != nil {
			return 0, err
		}
		off = int64(o)
		if err := checkPos(off, count); err != nil {
			return 0, err
		}
	}
	read := func(dst []byte, first bool) (int64, error) {
		if offAddr != 0 {
			n, err := in.PRead(t, dst, off, vfs.ReadOptions{})
			off += n
			return n, err
		}
		if first && out.StatusFlags()&linux.O_NONBLOCK == 0 {
			return in.BlockingRead(t, dst, vfs.ReadOptions{})
		}
		return in.Read(t, dst, vfs.ReadOptions{})
	}
	wopts := writeOptions(t, 0)
	n, err := copyFileData(t, count, read, blockingWriter(t, out, wopts, false), func(unwritten int64) {
		if offAddr != 0 {
			off -= unwritten
		} else {
			_, _ = in.Seek(t, -unwritten, linux.SEEK_CUR)
		}
	})
	err = fileSizeExceeded(t, wopts, err)
	if offAddr != 0 {
		if cerr := t.CopyOutUint64(offAddr, uint64(off)); cerr != nil && err == nil {
			err = cerr
		}
	}
	return uintptr(n), err
}

// copyFileData moves up to count bytes from read to write through a bounded
// buffer, stopping at a short read or write; giveBack returns to the source what
// was read but not written.
func copyFileData(t *kernel.Task, count int64, read readFunc, write writeFunc, giveBack func(int64)) (int64, error) {
	buf := make([]byte, min(count, ioChunk))
	var done int64
	for first := true; done < count; first = false {
		want := min(count-done, ioChunk)
		n, err := read(buf[:want], first)
		if n > 0 {
			w, werr := write(buf[:n])
			done += w
			if w < n {
				giveBack(n - w)
			}
			if werr != nil {
				if done > 0 {
					return done, nil
				}
				return 0, interrupted(werr)
			}
			if w < n {
				break
			}
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, interrupted(err)
		}
		if n < want {
			break
		}
	}
	return done, nil
}

// CopyFileRange implements copy_file_range(2), by copying through the Sentry.
func CopyFileRange(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	offInAddr, offOutAddr := args[1].Pointer(), args[3].Pointer()
	count := int64(min(args[4].Uint64(), linux.MAX_RW_COUNT))
	if args[5].Uint() != 0 {
		return 0, linux.EINVAL
	}
	in, err := getFD(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := getFD(t, args[2].Int())
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	if !in.IsReadable() || !out.IsWritable() || out.StatusFlags()&linux.O_APPEND != 0 {
		return 0, linux.EBADF
	}
	for _, f := range []*vfs.FileDescription{in, out} {
		st, err := f.Stat(t, vfs.StatOptions{Mask: linux.STATX_TYPE})
		if err != nil {
			return 0, err
		}
		switch st.Mode & linux.S_IFMT {
		case linux.S_IFREG:
		case linux.S_IFDIR:
			return 0, linux.EISDIR
		default:
			return 0, linux.EINVAL
		}
	}
	var offIn, offOut int64
	var err2 error
	if offInAddr != 0 {
		o, err := t.CopyInUint64(offInAddr)
		if err != nil {
			return 0, err
		}
		offIn = int64(o)
	} else if offIn, err2 = in.Seek(t, 0, linux.SEEK_CUR); err2 != nil {
		return 0, err2
	}
	if offOutAddr != 0 {
		o, err := t.CopyInUint64(offOutAddr)
		if err != nil {
			return 0, err
		}
		offOut = int64(o)
	} else if offOut, err2 = out.Seek(t, 0, linux.SEEK_CUR); err2 != nil {
		return 0, err2
	}
	if err := checkPos(offIn, count); err != nil {
		return 0, linux.EINVAL
	}
	if err := checkPos(offOut, count); err != nil {
		return 0, linux.EINVAL
	}
	if count == 0 {
		return 0, nil
	}
	if sameFile(t, in, out) && offIn < offOut+count && offOut < offIn+count {
		return 0, linux.EINVAL
	}
	read := func(dst []byte, _ bool) (int64, error) {
		n, err := in.PRead(t, dst, offIn, vfs.ReadOptions{})
		offIn += n
		return n, err
	}
	wopts := writeOptions(t, 0)
	write := func(src []byte) (int64, error) {
		n, err := out.PWrite(t, src, offOut, wopts)
		offOut += n
		return n, err
	}
	n, err := copyFileData(t, count, read, write, func(unwritten int64) { offIn -= unwritten })
	err = fileSizeExceeded(t, wopts, err)
	if n > 0 {
		if offInAddr != 0 {
			_ = t.CopyOutUint64(offInAddr, uint64(offIn))
		} else {
			_, _ = in.Seek(t, offIn, linux.SEEK_SET)
		}
		if offOutAddr != 0 {
			_ = t.CopyOutUint64(offOutAddr, uint64(offOut))
		} else {
			_, _ = out.Seek(t, offOut, linux.SEEK_SET)
		}
	}
	return uintptr(n), err
}

// sameFile reports whether a and b are the same file (inode).
func sameFile(t *kernel.Task, a, b *vfs.FileDescription) bool {
	ka, err1 := fileKey(t, a)
	kb, err2 := fileKey(t, b)
	return err1 == nil && err2 == nil && ka == kb
}
