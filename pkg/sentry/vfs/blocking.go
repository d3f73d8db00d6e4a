package vfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/waiter"
)

// BlockingRead is read(2) on fd: it reads, and unless fd is non-blocking waits for
// data while the read would block. The wait ends early with ctx's interruption
// error.
func (fd *FileDescription) BlockingRead(ctx Context, dst []byte, opts ReadOptions) (int64, error) {
	n, err := fd.Read(ctx, dst, opts)
	if err != linux.EAGAIN || fd.StatusFlags()&linux.O_NONBLOCK != 0 {
		return n, err
	}
	e, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	if err := fd.EventRegister(e); err != nil {
		return 0, err
	}
	defer fd.EventUnregister(e)
	for {
		// Register before retrying, so that data arriving in between wakes
		// the wait.
		n, err = fd.Read(ctx, dst, opts)
		if err != linux.EAGAIN {
			return n, err
		}
		if err := ctx.Block(ch); err != nil {
			return 0, err
		}
	}
}

// BlockingWrite is write(2) on fd: it writes, and unless fd is non-blocking waits
// for room until all of src is written. If the wait is interrupted after some bytes
// were written, it returns their count; otherwise the interruption error. A
// non-blocking write returns what it wrote, or EAGAIN if nothing.
func (fd *FileDescription) BlockingWrite(ctx Context, src []byte, opts WriteOptions) (int64, error) {
	n, err := fd.Write(ctx, src, opts)
	if err != linux.EAGAIN {
		return n, err
	}
	if fd.StatusFlags()&linux.O_NONBLOCK != 0 {
		if n > 0 {
			return n, nil
		}
		return 0, err
	}
	e, ch := waiter.NewChannelEntry(waiter.WritableEvents)
	if err := fd.EventRegister(e); err != nil {
		return n, err
	}
	defer fd.EventUnregister(e)
	total := n
	for {
		n, err := fd.Write(ctx, src[total:], opts)
		total += n
		if err != linux.EAGAIN {
			if err != nil && total > 0 {
				return total, nil
			}
			return total, err
		}
		if err := ctx.Block(ch); err != nil {
			if total > 0 {
				return total, nil
			}
			return 0, err
		}
	}
}
