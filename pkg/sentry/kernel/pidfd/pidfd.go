// Package pidfd implements the file pidfd_open(2) returns: a handle on a process
// that stays valid while the PID may be reused. It polls readable (EPOLLIN) once
// every task of the process has exited, and pidfd_send_signal(2) signals the
// process it names. Reading or writing it fails with EINVAL, as on Linux.
package pidfd

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/anonfs"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// PIDFD_NONBLOCK is pidfd_open's one flag of Linux's that Visor supports; it
// sets O_NONBLOCK on the file (which matters only to waitid(P_PIDFD) on Linux).
const PIDFD_NONBLOCK = linux.O_NONBLOCK

// FileDescription is a pidfd.
type FileDescription struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	anonfs.FileDescriptionImpl

	tg *kernel.ThreadGroup

	// queue is notified when tg exits.
	queue waiter.Queue

	// mu guards watching and done. watching is set once a goroutine waits for
	// tg's exit on behalf of queue; done, closed by Release, ends it early.
	mu       sync.Mutex
	watching bool
	done     chan struct{}
}

// New returns a pidfd of tg in vfsObj's anonfs, with the status flags flags
// (O_NONBLOCK). The caller holds the one reference.
func New(vfsObj *vfs.VirtualFilesystem, tg *kernel.ThreadGroup, flags uint32) *vfs.FileDescription {
	mnt := anonfs.Mount(vfsObj)
	d := anonfs.NewDentry(mnt, "anon_inode:[pidfd]", nil)
	fd := &FileDescription{tg: tg, done: make(chan struct{})}
	fd.Mnt = mnt
	fd.vfsfd.Init(fd, linux.O_RDWR|flags&linux.O_NONBLOCK, mnt, d, &vfs.FileDescriptionOptions{
		DenyPRead:  true,
		DenyPWrite: true,
	})
	return &fd.vfsfd
}

// ThreadGroup returns the process fd names.
func (fd *FileDescription) ThreadGroup() *kernel.ThreadGroup { return fd.tg }

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *FileDescription) Release() {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	close(fd.done)
}

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (fd *FileDescription) StatFS(vfs.Context) (linux.Statfs, error) {
	return anonfs.StatFS(), nil
}

// exited reports whether every task of the process has exited.
func (fd *FileDescription) exited() bool {
	select {
	case <-fd.tg.Exited():
		return true
	default:
		return false
	}
}

// Readiness implements waiter.Waitable.Readiness.
func (fd *FileDescription) Readiness(mask waiter.EventMask) waiter.EventMask {
	if fd.exited() {
		return waiter.ReadableEvents & mask
	}
	return 0
}

// EventRegister implements waiter.Waitable.EventRegister. The first
// registration starts a goroutine that notifies the queue when the process
// exits (or the pidfd is released first).
func (fd *FileDescription) EventRegister(e *waiter.Entry) error {
	fd.queue.EventRegister(e)
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if !fd.watching {
		fd.watching = true
		exited, done := fd.tg.Exited(), fd.done
		go func() {
			select {
			case <-exited:
				fd.queue.Notify(waiter.ReadableEvents)
			case <-done:
			}
		}()
	}
	return nil
}

// EventUnregister implements waiter.Waitable.EventUnregister.
func (fd *FileDescription) EventUnregister(e *waiter.Entry) { fd.queue.EventUnregister(e) }
