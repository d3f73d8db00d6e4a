package timerfd

import (
	"encoding/binary"
	"testing"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	ktime "visor.dev/visor/pkg/sentry/kernel/time"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

func ctx() vfs.Context {
	return vfs.NewContext(auth.NewRootCredentials(auth.NewRootUserNamespace()), waiter.UninterruptibleBlocker{})
}

func newTimerfd(t *testing.T, flags uint32) (*vfs.FileDescription, *TimerFileDescription) {
	start := time.Now()
	clock := ktime.ClockFunc{F: func() (int64, error) { return int64(time.Since(start)), nil }}
	f := New(vfs.New(), clock, flags)
	t.Cleanup(f.DecRef)
	return f, f.Impl().(*TimerFileDescription)
}

func TestReadCountsExpirations(t *testing.T) {
	f, tfd := newTimerfd(t, linux.O_NONBLOCK)
	buf := make([]byte, 8)
	if _, err := f.Read(ctx(), buf, vfs.ReadOptions{}); err != linux.EAGAIN {
		t.Fatalf("read of a disarmed timerfd: %v, want EAGAIN", err)
	}
	if got := tfd.Readiness(waiter.ReadableEvents); got != 0 {
		t.Errorf("disarmed timerfd is readable")
	}
	tfd.SetTime(int64(time.Millisecond), int64(time.Millisecond), false)
	time.Sleep(30 * time.Millisecond)
	if got := tfd.Readiness(waiter.ReadableEvents); got != waiter.ReadableEvents {
		t.Errorf("expired timerfd is not readable")
	}
	if _, err := f.Read(ctx(), buf[:7], vfs.ReadOptions{}); err != linux.EINVAL {
		t.Errorf("read of 7 bytes: %v, want EINVAL", err)
	}
	n, err := f.Read(ctx(), buf, vfs.ReadOptions{})
	if err != nil || n != 8 {
		t.Fatalf("read = %d, %v", n, err)
	}
	if v := binary.NativeEndian.Uint64(buf); v < 5 {
		t.Errorf("expirations = %d, want >= 5", v)
	}
	// Setting the timer again drops what was not read.
	tfd.SetTime(int64(time.Hour), 0, false)
	if _, err := f.Read(ctx(), buf, vfs.ReadOptions{}); err != linux.EAGAIN {
		t.Errorf("read after re-arming: %v, want EAGAIN", err)
	}
	if v, i := tfd.GetTime(); v <= int64(59*time.Minute) || i != 0 {
		t.Errorf("GetTime = %d, %d", v, i)
	}
}

func TestBlockingRead(t *testing.T) {
	f, tfd := newTimerfd(t, 0)
	tfd.SetTime(int64(10*time.Millisecond), 0, false)
	buf := make([]byte, 8)
	start := time.Now()
	n, err := f.BlockingRead(ctx(), buf, vfs.ReadOptions{})
	if err != nil || n != 8 || binary.NativeEndian.Uint64(buf) != 1 {
		t.Fatalf("blocking read = %d, %v, %d", n, err, binary.NativeEndian.Uint64(buf))
	}
	if d := time.Since(start); d < 9*time.Millisecond {
		t.Errorf("read returned after %v, before the timer expired", d)
	}
}
