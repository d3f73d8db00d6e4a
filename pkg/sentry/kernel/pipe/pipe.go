// Package pipe implements pipes and FIFOs (named pipes) with Linux's semantics: a
// bounded byte queue, 64 KiB by default and resizable with F_SETPIPE_SZ, where writes
// of up to PIPE_BUF bytes are atomic, reads see end of file once no writer is left,
// writes fail with EPIPE once no reader is left, and opening a FIFO waits for the
// other side.
//
// Pipe files never block: a read of an empty pipe and a write to a full one return
// EAGAIN, and the caller waits on the file's events (vfs.FileDescription's
// BlockingRead and BlockingWrite do this for read(2) and write(2)). EPIPE is returned
// as linux.EPIPE; sending SIGPIPE to the writer is the kernel's job.
package pipe

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/waiter"
)

const (
	// MinimumPipeSize is the smallest capacity, one page.
	MinimumPipeSize = 4096
	// DefaultPipeSize is the capacity of a new pipe.
	DefaultPipeSize = 16 * MinimumPipeSize
	// MaximumPipeSize is the largest capacity F_SETPIPE_SZ grants without
	// CAP_SYS_RESOURCE (/proc/sys/fs/pipe-max-size).
	MaximumPipeSize = 1 << 20
	// AtomicIOBytes is PIPE_BUF: writes of at most this many bytes are never
	// interleaved with other writes.
	AtomicIOBytes = 4096
)

// Pipe is a pipe or FIFO.
type Pipe struct {
	isNamed bool

	// queue is notified of readability and writability changes.
	queue waiter.Queue

	// mu protects the fields below. Lock order: mu, then queue's lock.
	mu sync.Mutex
	// data[off:] are the bytes in the pipe.
	data []byte
	off  int
	// max is the capacity.
	max int64
	// readers and writers count the open files that read and write the pipe.
	readers, writers int
	// rCounter and wCounter count every opening of the pipe for reading and
	// writing ever; FIFO opens wait for them to change.
	rCounter, wCounter uint64
	// openCh, if not nil, is closed and cleared when readers or writers change.
	openCh chan struct{}
}

// NewPipe returns an empty pipe with the given capacity, rounded as F_SETPIPE_SZ
// rounds it. isNamed marks a FIFO.
func NewPipe(isNamed bool, sizeBytes int64) *Pipe {
	size, ok := roundPipeSize(sizeBytes)
	if !ok {
		size = DefaultPipeSize
	}
	return &Pipe{isNamed: isNamed, max: size}
}

// roundPipeSize rounds a capacity up to a power of two no smaller than a page
// (round_pipe_size), reporting false for sizes beyond 2 GiB.
func roundPipeSize(size int64) (int64, bool) {
	if size < 0 || size > 1<<31 {
		return 0, false
	}
	r := int64(MinimumPipeSize)
	for r < size {
		r <<= 1
	}
	return r, true
}

// sizeLocked returns the number of bytes in the pipe.
func (p *Pipe) sizeLocked() int64 { return int64(len(p.data) - p.off) }

// read reads into dst: EOF (0, nil) if the pipe is empty and has no writers, EAGAIN
// if it is empty and has some.
func (p *Pipe) read(dst []byte) (int64, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	if p.sizeLocked() == 0 {
		writers := p.writers
		p.mu.Unlock()
		if writers == 0 {
			return 0, nil
		}
		return 0, linux.EAGAIN
	}
	n := copy(dst, p.data[p.off:])
	p.off += n
	if p.off == len(p.data) {
		p.data, p.off = p.data[:0], 0
	}
	p.mu.Unlock()
	p.queue.Notify(waiter.WritableEvents)
	return int64(n), nil
}

// write writes what fits of src: all of it or nothing if it is at most PIPE_BUF
// bytes. It returns EAGAIN with the count written if not all of src fit, and EPIPE
// if the pipe has no readers.
func (p *Pipe) write(src []byte) (int64, error) {
	if len(src) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	if p.readers == 0 {
		p.mu.Unlock()
		return 0, linux.EPIPE
	}
	avail := p.max - p.sizeLocked()
	n := int64(len(src))
	if n > avail {
		if n <= AtomicIOBytes {
			p.mu.Unlock()
			return 0, linux.EAGAIN
		}
		n = avail
	}
	if n == 0 {
		p.mu.Unlock()
		return 0, linux.EAGAIN
	}
	if p.off > 0 && len(p.data)+int(n) > cap(p.data) {
		// Reuse the space consumed reads freed instead of growing.
		m := copy(p.data, p.data[p.off:])
		p.data, p.off = p.data[:m], 0
	}
	p.data = append(p.data, src[:n]...)
	p.mu.Unlock()
	p.queue.Notify(waiter.ReadableEvents)
	if n < int64(len(src)) {
		return n, linux.EAGAIN
	}
	return n, nil
}

// notifyOpenLocked wakes FIFO opens waiting for the other side.
// Precondition: p.mu is locked.
func (p *Pipe) notifyOpenLocked() {
	if p.openCh != nil {
		close(p.openCh)
		p.openCh = nil
	}
}

// waitFor blocks until cond, called with p.mu locked, holds.
func (p *Pipe) waitFor(b waiter.Blocker, cond func() bool) error {
	for {
		p.mu.Lock()
		if cond() {
			p.mu.Unlock()
			return nil
		}
		if p.openCh == nil {
			p.openCh = make(chan struct{})
		}
		ch := p.openCh
		p.mu.Unlock()
		if err := b.Block(ch); err != nil {
			return err
		}
	}
}

// PipeSize returns the pipe's capacity (F_GETPIPE_SZ).
func (p *Pipe) PipeSize() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

// SetPipeSize changes the pipe's capacity (F_SETPIPE_SZ) to size rounded up to a
// power-of-two number of pages, and returns the new capacity. It fails with EINVAL
// beyond 2 GiB, EPERM beyond MaximumPipeSize without CAP_SYS_RESOURCE, and EBUSY if
// the pipe holds more than the new capacity.
func (p *Pipe) SetPipeSize(hasCapSysResource bool, size int64) (int64, error) {
	n, ok := roundPipeSize(size)
	if !ok {
		return 0, linux.EINVAL
	}
	if n > MaximumPipeSize && !hasCapSysResource {
		return 0, linux.EPERM
	}
	p.mu.Lock()
	if n < p.sizeLocked() {
		p.mu.Unlock()
		return 0, linux.EBUSY
	}
	p.max = n
	p.mu.Unlock()
	p.queue.Notify(waiter.WritableEvents)
	return n, nil
}

// Queued returns the number of bytes in the pipe (FIONREAD).
func (p *Pipe) Queued() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sizeLocked()
}
