// Package timerfd implements timerfd_create(2): a file that counts the
// expirations of a timer. A read returns the count as 8 bytes and resets it; it
// needs a buffer of at least 8 bytes (EINVAL) and would block while the count is
// zero (the file returns EAGAIN and vfs.FileDescription's BlockingRead waits
// for it to become readable). The file is readable, for poll, epoll and select,
// while the count is not zero.
package timerfd

import (
	"encoding/binary"
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/anonfs"
	ktime "visor.dev/visor/pkg/sentry/kernel/time"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// Flags of timerfd_create(2) and timerfd_settime(2), from <linux/timerfd.h>.
const (
	TFD_CLOEXEC             = linux.O_CLOEXEC
	TFD_NONBLOCK            = linux.O_NONBLOCK
	TFD_TIMER_ABSTIME       = 1
	TFD_TIMER_CANCEL_ON_SET = 2
)

// TimerFileDescription is a timerfd.
type TimerFileDescription struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	anonfs.FileDescriptionImpl

	// queue is notified when the count goes from zero to more.
	queue waiter.Queue

	timer *ktime.Timer

	// mu guards val, the expirations not read yet.
	mu  sync.Mutex
	val uint64
}

// New returns a new disarmed timerfd on clock in vfsObj's anonfs. flags are the
// open(2)-style status flags (O_NONBLOCK). The caller holds the one reference.
func New(vfsObj *vfs.VirtualFilesystem, clock ktime.Clock, flags uint32) *vfs.FileDescription {
	mnt := anonfs.Mount(vfsObj)
	d := anonfs.NewDentry(mnt, "anon_inode:[timerfd]", nil)
	tfd := &TimerFileDescription{}
	tfd.timer = ktime.New(clock, tfd.expired)
	tfd.Mnt = mnt
	tfd.vfsfd.Init(tfd, linux.O_RDONLY|flags&linux.O_NONBLOCK, mnt, d, &vfs.FileDescriptionOptions{
		DenyPRead:  true,
		DenyPWrite: true,
	})
	return &tfd.vfsfd
}

// expired is the timer's ktime.Listener.
func (tfd *TimerFileDescription) expired(exp uint64) bool {
	tfd.mu.Lock()
	tfd.val += exp
	tfd.mu.Unlock()
	tfd.queue.Notify(waiter.ReadableEvents)
	return true
}

// SetTime arms the timer to expire at value (abs) or in value nanoseconds (0:
// disarm) and every interval nanoseconds after, returning the old setting. The
// expirations not read yet are dropped, as on Linux.
func (tfd *TimerFileDescription) SetTime(value, interval int64, abs bool) (oldValue, oldInterval int64, err error) {
	tfd.mu.Lock()
	tfd.val = 0
	tfd.mu.Unlock()
	return tfd.timer.Set(value, interval, abs)
}

// GetTime returns the time left until the next expiry (0: disarmed) and the
// interval.
func (tfd *TimerFileDescription) GetTime() (value, interval int64) { return tfd.timer.Get() }

// Release implements vfs.FileDescriptionImpl.Release.
func (tfd *TimerFileDescription) Release() { tfd.timer.Destroy() }

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (tfd *TimerFileDescription) StatFS(vfs.Context) (linux.Statfs, error) {
	return anonfs.StatFS(), nil
}

// Seek implements vfs.FileDescriptionImpl.Seek: it does nothing, as Linux's
// noop_llseek.
func (tfd *TimerFileDescription) Seek(vfs.Context, int64, int32) (int64, error) { return 0, nil }

// Read implements vfs.FileDescriptionImpl.Read.
func (tfd *TimerFileDescription) Read(_ vfs.Context, dst []byte, _ vfs.ReadOptions) (int64, error) {
	if len(dst) < 8 {
		return 0, linux.EINVAL
	}
	tfd.mu.Lock()
	v := tfd.val
	tfd.val = 0
	tfd.mu.Unlock()
	if v == 0 {
		return 0, linux.EAGAIN
	}
	binary.NativeEndian.PutUint64(dst, v)
	return 8, nil
}

// Readiness implements waiter.Waitable.Readiness.
func (tfd *TimerFileDescription) Readiness(mask waiter.EventMask) waiter.EventMask {
	tfd.mu.Lock()
	defer tfd.mu.Unlock()
	if tfd.val > 0 {
		return waiter.ReadableEvents & mask
	}
	return 0
}

// EventRegister implements waiter.Waitable.EventRegister.
func (tfd *TimerFileDescription) EventRegister(e *waiter.Entry) error {
	tfd.queue.EventRegister(e)
	return nil
}

// EventUnregister implements waiter.Waitable.EventUnregister.
func (tfd *TimerFileDescription) EventUnregister(e *waiter.Entry) { tfd.queue.EventUnregister(e) }
