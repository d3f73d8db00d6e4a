package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/timerfd"
)

// TimerfdCreate implements timerfd_create(2): CLOCK_REALTIME, CLOCK_MONOTONIC,
// CLOCK_BOOTTIME and their _ALARM variants, with TFD_NONBLOCK and TFD_CLOEXEC.
func TimerfdCreate(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	clockID, flags := args[0].Int(), args[1].Uint()
	if flags&^(timerfd.TFD_CLOEXEC|timerfd.TFD_NONBLOCK) != 0 {
		return 0, linux.EINVAL
	}
	switch clockID {
	case linux.CLOCK_REALTIME, linux.CLOCK_MONOTONIC, linux.CLOCK_BOOTTIME,
		linux.CLOCK_REALTIME_ALARM, linux.CLOCK_BOOTTIME_ALARM:
	default:
		return 0, linux.EINVAL
	}
	clock, err := t.TimerClock(clockID)
	if err != nil {
		return 0, err
	}
	file := timerfd.New(t.Kernel().VFS(), clock, flags&timerfd.TFD_NONBLOCK)
	defer file.DecRef()
	fd, err := t.FDTable().NewFD(0, file, kernel.FDFlags{CloseOnExec: flags&timerfd.TFD_CLOEXEC != 0}, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}

// getTimerfd returns the timerfd fd names: EBADF if it names no file, EINVAL if
// not a timerfd. The caller drops the reference on the file.
func getTimerfd(t *kernel.Task, fd int32) (*timerfd.TimerFileDescription, func(), error) {
	f, err := getFD(t, fd)
	if err != nil {
		return nil, nil, err
	}
	tfd, ok := f.Impl().(*timerfd.TimerFileDescription)
	if !ok {
		f.DecRef()
		return nil, nil, linux.EINVAL
	}
	return tfd, f.DecRef, nil
}

// TimerfdSettime implements timerfd_settime(2): TFD_TIMER_ABSTIME, and
// TFD_TIMER_CANCEL_ON_SET, which never cancels: the sandbox's clock is never set.
func TimerfdSettime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := args[1].Int()
	if flags&^(timerfd.TFD_TIMER_ABSTIME|timerfd.TFD_TIMER_CANCEL_ON_SET) != 0 {
		return 0, linux.EINVAL
	}
	value, interval, err := copyInItimerspec(t, args[2].Pointer())
	if err != nil {
		return 0, err
	}
	tfd, release, err := getTimerfd(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer release()
	oldValue, oldInterval, err := tfd.SetTime(value, interval, flags&timerfd.TFD_TIMER_ABSTIME != 0)
	if err != nil {
		return 0, err
	}
	if addr := args[3].Pointer(); addr != 0 {
		return 0, copyOutItimerspec(t, addr, oldValue, oldInterval)
	}
	return 0, nil
}

// TimerfdGettime implements timerfd_gettime(2).
func TimerfdGettime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tfd, release, err := getTimerfd(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer release()
	value, interval := tfd.GetTime()
	return 0, copyOutItimerspec(t, args[1].Pointer(), value, interval)
}
