// Package eventfd implements eventfd(2): a file holding a 64-bit counter that
// write(2) adds to and read(2) takes, used as a light-weight wait/notify
// mechanism.
//
// A read of an eventfd returns the counter and resets it to zero, or with
// EFD_SEMAPHORE returns 1 and decrements it; it needs a buffer of at least 8
// bytes (EINVAL) and would block while the counter is zero. A write adds the
// 8-byte value it is given; it fails with EINVAL for 0xffffffffffffffff and would
// block while the sum would exceed 0xfffffffffffffffe. Like every file, an eventfd
// never blocks itself: it returns EAGAIN and the caller waits for its events
// (vfs.FileDescription's BlockingRead and BlockingWrite).
package eventfd

import (
	"encoding/binary"
	"math"
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/anonfs"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// Flags of eventfd2(2), from <linux/eventfd.h>.
const (
	EFD_SEMAPHORE = 1
	EFD_CLOEXEC   = linux.O_CLOEXEC
	EFD_NONBLOCK  = linux.O_NONBLOCK
)

// MaxCounter is the largest value the counter holds.
const MaxCounter = math.MaxUint64 - 1

// EventFileDescription is an eventfd.
type EventFileDescription struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	anonfs.FileDescriptionImpl

	// queue is notified when the counter changes.
	queue waiter.Queue

	// semMode is EFD_SEMAPHORE.
	semMode bool

	// mu protects val. Lock order: mu, then queue's lock.
	mu  sync.Mutex
	val uint64
}

// New returns a new eventfd in vfsObj's anonfs whose counter starts at initVal.
// flags are the open(2)-style status flags (O_NONBLOCK); semMode is
// EFD_SEMAPHORE. The caller holds the one reference.
func New(vfsObj *vfs.VirtualFilesystem, initVal uint64, semMode bool, flags uint32) *vfs.FileDescription {
	mnt := anonfs.Mount(vfsObj)
	d := anonfs.NewDentry(mnt, "anon_inode:[eventfd]", nil)
	efd := &EventFileDescription{semMode: semMode, val: initVal}
	efd.Mnt = mnt
	efd.vfsfd.Init(efd, linux.O_RDWR|flags&linux.O_NONBLOCK, mnt, d, &vfs.FileDescriptionOptions{
		DenyPRead:  true,
		DenyPWrite: true,
	})
	return &efd.vfsfd
}

// Release implements vfs.FileDescriptionImpl.Release.
func (efd *EventFileDescription) Release() {}

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (efd *EventFileDescription) StatFS(vfs.Context) (linux.Statfs, error) {
	return anonfs.StatFS(), nil
}

// Value returns the counter, for /proc/[pid]/fdinfo ("eventfd-count").
func (efd *EventFileDescription) Value() uint64 {
	efd.mu.Lock()
	defer efd.mu.Unlock()
	return efd.val
}

// Seek implements vfs.FileDescriptionImpl.Seek: it does nothing, as Linux's
// noop_llseek.
func (efd *EventFileDescription) Seek(vfs.Context, int64, int32) (int64, error) { return 0, nil }

// Read implements vfs.FileDescriptionImpl.Read.
func (efd *EventFileDescription) Read(_ vfs.Context, dst []byte, _ vfs.ReadOptions) (int64, error) {
	if len(dst) < 8 {
		return 0, linux.EINVAL
	}
	v, err := efd.take()
	if err != nil {
		return 0, err
	}
	binary.NativeEndian.PutUint64(dst, v)
	return 8, nil
}

// take takes what a read returns from the counter, or fails with EAGAIN if it is
// zero.
func (efd *EventFileDescription) take() (uint64, error) {
	efd.mu.Lock()
	if efd.val == 0 {
		efd.mu.Unlock()
		return 0, linux.EAGAIN
	}
	var v uint64
	if efd.semMode {
		v = 1
		efd.val--
	} else {
		v = efd.val
		efd.val = 0
	}
	efd.mu.Unlock()
	efd.queue.Notify(waiter.WritableEvents)
	return v, nil
}

// Write implements vfs.FileDescriptionImpl.Write.
func (efd *EventFileDescription) Write(_ vfs.Context, src []byte, _ vfs.WriteOptions) (int64, error) {
	if len(src) < 8 {
		return 0, linux.EINVAL
	}
	if err := efd.Signal(binary.NativeEndian.Uint64(src)); err != nil {
		return 0, err
	}
	return 8, nil
}

// Signal adds v to the counter, as a write of v does: it fails with EINVAL if v is
// 0xffffffffffffffff and with EAGAIN if the counter would exceed MaxCounter.
func (efd *EventFileDescription) Signal(v uint64) error {
	if v == math.MaxUint64 {
		return linux.EINVAL
	}
	efd.mu.Lock()
	if v > MaxCounter-efd.val {
		efd.mu.Unlock()
		return linux.EAGAIN
	}
	efd.val += v
	efd.mu.Unlock()
	// Linux wakes readers on every write, even of zero.
	efd.queue.Notify(waiter.ReadableEvents)
	return nil
}

// Readiness implements waiter.Waitable.Readiness.
func (efd *EventFileDescription) Readiness(mask waiter.EventMask) waiter.EventMask {
	efd.mu.Lock()
	defer efd.mu.Unlock()
	var ready waiter.EventMask
	if efd.val > 0 {
		ready |= waiter.ReadableEvents
	}
	if efd.val < MaxCounter {
		ready |= waiter.WritableEvents
	}
	return ready & mask
}

// EventRegister implements waiter.Waitable.EventRegister.
func (efd *EventFileDescription) EventRegister(e *waiter.Entry) error {
	efd.queue.EventRegister(e)
	return nil
}

// EventUnregister implements waiter.Waitable.EventUnregister.
func (efd *EventFileDescription) EventUnregister(e *waiter.Entry) { efd.queue.EventUnregister(e) }
