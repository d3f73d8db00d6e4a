package linux

import (
	"encoding/binary"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// timevalToNsec converts a timeval of setitimer(2), or fails with EINVAL if its
// seconds are negative or its microseconds out of [0, 1e6).
func timevalToNsec(tv linux.Timeval) (int64, error) {
	if tv.Sec < 0 || tv.Usec < 0 || tv.Usec >= 1e6 {
		return 0, linux.EINVAL
	}
	return linux.Timespec{Sec: tv.Sec, Nsec: tv.Usec * 1000}.ToNsec(), nil
}

// itimerTimeval returns a time left of an interval timer as a timeval: an armed
// timer never reads as zero.
func itimerTimeval(ns int64) linux.Timeval {
	if ns > 0 && ns < 1000 {
		ns = 1000
	}
	return linux.NsecToTimeval(ns)
}

// Getitimer implements getitimer(2).
func Getitimer(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	value, interval, err := t.ITimer(args[0].Int())
	if err != nil {
		return 0, err
	}
	if addr := args[1].Pointer(); addr != 0 {
		itv := linux.Itimerval{Interval: itimerTimeval(interval), Value: itimerTimeval(value)}
		return 0, t.CopyOutStruct(addr, &itv)
	}
	return 0, linux.EFAULT
}

// Setitimer implements setitimer(2). A null new value disarms the timer, as
// Linux allows.
func Setitimer(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	which := args[0].Int()
	var itv linux.Itimerval
	if addr := args[1].Pointer(); addr != 0 {
		if err := t.CopyInStruct(addr, &itv); err != nil {
			return 0, err
		}
	}
	value, err := timevalToNsec(itv.Value)
	if err != nil {
		return 0, err
	}
	interval, err := timevalToNsec(itv.Interval)
	if err != nil {
		return 0, err
	}
	oldValue, oldInterval, err := t.SetITimer(which, value, interval)
	if err != nil {
		return 0, err
	}
	if addr := args[2].Pointer(); addr != 0 {
		old := linux.Itimerval{Interval: itimerTimeval(oldInterval), Value: itimerTimeval(oldValue)}
		return 0, t.CopyOutStruct(addr, &old)
	}
	return 0, nil
}

// Alarm implements alarm(2): it returns the seconds that were left on the
// previous alarm, rounded to the nearest, and never 0 while one was pending.
func Alarm(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	old, _, err := t.SetITimer(linux.ITIMER_REAL, int64(args[0].Uint())*1e9, 0)
	if err != nil {
		return 0, err
	}
	ts := linux.NsecToTimespec(old)
	if (ts.Sec == 0 && ts.Nsec > 0) || ts.Nsec >= 5e8 {
		ts.Sec++
	}
	return uintptr(ts.Sec), nil
}

// sizeofSigevent is sizeof(struct sigevent).
const sizeofSigevent = 64

// TimerCreate implements timer_create(2).
func TimerCreate(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	clock, err := t.TimerClock(args[0].Int())
	if err != nil {
		return 0, err
	}
	var ev *kernel.SigEvent
	if addr := args[1].Pointer(); addr != 0 {
		var b [sizeofSigevent]byte
		if _, err := t.CopyInBytes(addr, b[:]); err != nil {
			return 0, err
		}
		ev = &kernel.SigEvent{
			Value:  binary.LittleEndian.Uint64(b[0:8]),
			Signo:  int32(binary.LittleEndian.Uint32(b[8:12])),
			Notify: int32(binary.LittleEndian.Uint32(b[12:16])),
			TID:    int32(binary.LittleEndian.Uint32(b[16:20])),
		}
	}
	id, err := t.CreateTimer(clock, ev)
	if err != nil {
		return 0, err
	}
	if err := t.CopyOutUint32(args[2].Pointer(), uint32(id)); err != nil {
		t.DeleteTimer(id)
		return 0, err
	}
	return 0, nil
}

// copyInItimerspec reads a struct itimerspec and checks both times (EINVAL).
func copyInItimerspec(t *kernel.Task, addr uintptr) (value, interval int64, err error) {
	var its linux.Itimerspec
	if err := t.CopyInStruct(addr, &its); err != nil {
		return 0, 0, err
	}
	if !its.Value.Valid() || !its.Interval.Valid() {
		return 0, 0, linux.EINVAL
	}
	return its.Value.ToNsec(), its.Interval.ToNsec(), nil
}

// copyOutItimerspec writes a timer's setting as a struct itimerspec.
func copyOutItimerspec(t *kernel.Task, addr uintptr, value, interval int64) error {
	its := linux.Itimerspec{Interval: linux.NsecToTimespec(interval), Value: linux.NsecToTimespec(value)}
	return t.CopyOutStruct(addr, &its)
}

// TimerSettime implements timer_settime(2).
func TimerSettime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	id, flags := args[0].Int(), args[1].Int()
	newAddr, oldAddr := args[2].Pointer(), args[3].Pointer()
	if newAddr == 0 {
		return 0, linux.EINVAL
	}
	value, interval, err := copyInItimerspec(t, newAddr)
	if err != nil {
		return 0, err
	}
	oldValue, oldInterval, err := t.SetTimer(id, value, interval, flags&linux.TIMER_ABSTIME != 0)
	if err != nil {
		return 0, err
	}
	if oldAddr != 0 {
		return 0, copyOutItimerspec(t, oldAddr, oldValue, oldInterval)
	}
	return 0, nil
}

// TimerGettime implements timer_gettime(2).
func TimerGettime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	value, interval, err := t.Timer(args[0].Int())
	if err != nil {
		return 0, err
	}
	return 0, copyOutItimerspec(t, args[1].Pointer(), value, interval)
}

// TimerGetoverrun implements timer_getoverrun(2).
func TimerGetoverrun(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	n, err := t.TimerOverrun(args[0].Int())
	if err != nil {
		return 0, err
	}
	return uintptr(n), nil
}

// TimerDelete implements timer_delete(2).
func TimerDelete(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, t.DeleteTimer(args[0].Int())
}
