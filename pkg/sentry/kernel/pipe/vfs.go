package pipe

import (
	"encoding/binary"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// ReaderWriterPair returns the two ends of an anonymous pipe (pipe2(2)), opened at d
// in mnt with the status flags in flags (O_NONBLOCK, O_DIRECT).
func (p *Pipe) ReaderWriterPair(mnt *vfs.Mount, d *vfs.Dentry, flags uint32) (r, w *vfs.FileDescription) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r = p.newFDLocked(mnt, d, flags&^linux.O_ACCMODE|linux.O_RDONLY)
	w = p.newFDLocked(mnt, d, flags&^linux.O_ACCMODE|linux.O_WRONLY)
	return r, w
}

// Open opens the FIFO p at d in mnt with the open(2) flags in flags. Opening for
// reading waits for a writer, and opening for writing for a reader, unless
// O_NONBLOCK is set: then a read-only open succeeds at once and a write-only one
// fails with ENXIO if there is no reader. Opening for both never waits. A wait ends
// early with ctx's interruption error.
func (p *Pipe) Open(ctx vfs.Context, mnt *vfs.Mount, d *vfs.Dentry, flags uint32) (*vfs.FileDescription, error) {
	nonblock := flags&linux.O_NONBLOCK != 0
	p.mu.Lock()
	var fd *vfs.FileDescription
	var wait func() bool
	switch flags & linux.O_ACCMODE {
	case linux.O_RDONLY:
		fd = p.newFDLocked(mnt, d, flags)
		if p.writers == 0 && !nonblock {
			w := p.wCounter
			wait = func() bool { return p.wCounter != w }
		}
	case linux.O_WRONLY:
		if p.readers == 0 && nonblock {
			p.mu.Unlock()
			return nil, linux.ENXIO
		}
		fd = p.newFDLocked(mnt, d, flags)
		if p.readers == 0 {
			r := p.rCounter
			wait = func() bool { return p.rCounter != r }
		}
	case linux.O_RDWR:
		fd = p.newFDLocked(mnt, d, flags)
	default:
		p.mu.Unlock()
		return nil, linux.EINVAL
	}
	p.mu.Unlock()
	if wait != nil {
		if err := p.waitFor(ctx, wait); err != nil {
			fd.DecRef()
			return nil, err
		}
	}
	return fd, nil
}

// newFDLocked returns a new file of p, counting it as a reader and/or writer as
// flags says. Precondition: p.mu is locked.
func (p *Pipe) newFDLocked(mnt *vfs.Mount, d *vfs.Dentry, flags uint32) *vfs.FileDescription {
	fd := &VFSPipeFD{pipe: p, lastWCounter: p.wCounter}
	fd.vfsfd.Init(fd, flags, mnt, d, &vfs.FileDescriptionOptions{
		DenyPRead:         true,
		DenyPWrite:        true,
		UseDentryMetadata: true,
	})
	if fd.vfsfd.IsReadable() {
		p.readers++
		p.rCounter++
	}
	if fd.vfsfd.IsWritable() {
		p.writers++
		p.wCounter++
	}
	p.notifyOpenLocked()
	return &fd.vfsfd
}

// VFSPipeFD is an open end of a pipe or FIFO.
type VFSPipeFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	vfs.DentryMetadataFileDescriptionImpl

	pipe *Pipe
	// lastWCounter is the pipe's wCounter when the file was opened: a reader
	// reports hang-up only if a writer opened since (Linux's f_version), so a
	// FIFO reader that opened with O_NONBLOCK before any writer is not told of
	// a hang-up that did not happen.
	lastWCounter uint64
}

// Pipe returns the pipe fd is an end of.
func (fd *VFSPipeFD) Pipe() *Pipe { return fd.pipe }

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *VFSPipeFD) Release() {
	p := fd.pipe
	var events waiter.EventMask
	p.mu.Lock()
	if fd.vfsfd.IsReadable() {
		p.readers--
		if p.readers == 0 {
			// Writers see EPOLLERR and EPIPE.
			events |= waiter.EventErr | waiter.WritableEvents
		}
	}
	if fd.vfsfd.IsWritable() {
		p.writers--
		if p.writers == 0 {
			// Readers see end of file.
			events |= waiter.EventHUp | waiter.ReadableEvents
		}
	}
	p.notifyOpenLocked()
	p.mu.Unlock()
	if events != 0 {
		p.queue.Notify(events)
	}
}

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *VFSPipeFD) Read(_ vfs.Context, dst []byte, _ vfs.ReadOptions) (int64, error) {
	return fd.pipe.read(dst)
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *VFSPipeFD) Write(_ vfs.Context, src []byte, _ vfs.WriteOptions) (int64, error) {
	return fd.pipe.write(src)
}

// Readiness implements waiter.Waitable.Readiness.
func (fd *VFSPipeFD) Readiness(mask waiter.EventMask) waiter.EventMask {
	p := fd.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	var ready waiter.EventMask
	if fd.vfsfd.IsReadable() {
		if p.sizeLocked() > 0 {
			ready |= waiter.ReadableEvents
		}
		if p.writers == 0 && p.wCounter != fd.lastWCounter {
			ready |= waiter.EventHUp
		}
	}
	if fd.vfsfd.IsWritable() {
		if p.max-p.sizeLocked() >= AtomicIOBytes {
			ready |= waiter.WritableEvents
		}
		if p.readers == 0 {
			ready |= waiter.EventErr
		}
	}
	return ready & mask
}

// EventRegister implements waiter.Waitable.EventRegister.
func (fd *VFSPipeFD) EventRegister(e *waiter.Entry) error {
	fd.pipe.queue.EventRegister(e)
	return nil
}

// EventUnregister implements waiter.Waitable.EventUnregister.
func (fd *VFSPipeFD) EventUnregister(e *waiter.Entry) { fd.pipe.queue.EventUnregister(e) }

// Ioctl implements vfs.FileDescriptionImpl.Ioctl: FIONREAD.
func (fd *VFSPipeFD) Ioctl(_ vfs.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	switch cmd {
	case linux.FIONREAD:
		var buf [4]byte
		binary.LittleEndian.PutUint32(buf[:], uint32(min(fd.pipe.Queued(), 1<<31-1)))
		_, err := mem.CopyOut(arg, buf[:])
		return 0, err
	}
	return 0, linux.ENOTTY
}

// PipeSize returns the pipe's capacity (F_GETPIPE_SZ).
func (fd *VFSPipeFD) PipeSize() int64 { return fd.pipe.PipeSize() }

// SetPipeSize changes the pipe's capacity (F_SETPIPE_SZ); see Pipe.SetPipeSize.
func (fd *VFSPipeFD) SetPipeSize(ctx vfs.Context, size int64) (int64, error) {
	return fd.pipe.SetPipeSize(ctx.Credentials().HasCapability(linux.CAP_SYS_RESOURCE), size)
}
