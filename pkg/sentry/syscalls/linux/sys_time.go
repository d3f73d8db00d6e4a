package linux

import (
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// clockNow returns the time of clock for t, in nanoseconds.
func clockNow(t *kernel.Task, clock int32) (int64, error) {
	switch clock {
	case linux.CLOCK_REALTIME, linux.CLOCK_REALTIME_COARSE, linux.CLOCK_TAI, linux.CLOCK_REALTIME_ALARM:
		return time.Now().UnixNano(), nil
	case linux.CLOCK_MONOTONIC, linux.CLOCK_MONOTONIC_COARSE, linux.CLOCK_MONOTONIC_RAW,
		linux.CLOCK_BOOTTIME, linux.CLOCK_BOOTTIME_ALARM:
		// The sandbox's monotonic clocks start at its boot, like a fresh machine's.
		return int64(time.Since(t.Kernel().BootTime())), nil
	case linux.CLOCK_PROCESS_CPUTIME_ID:
		u, s := t.ThreadGroup().CPUTime()
		return int64(u + s), nil
	case linux.CLOCK_THREAD_CPUTIME_ID:
		u, s := t.CPUTime()
		return int64(u + s), nil
	}
	if clock < 0 {
		return cpuClockNow(t, clock)
	}
	return 0, linux.EINVAL
}

// A negative clock ID names the CPU clock of a process or thread by its ID, as
// include/linux/posix-timers.h encodes it: the ones' complement of the ID shifted
// left 3 bits, a per-thread bit, and what the clock counts. glibc's
// clock_nanosleep passes CLOCK_PROCESS_CPUTIME_ID as such a clock of ID 0 (the
// caller).
const (
	cpuClockProf      = 0 // user and system time
	cpuClockVirt      = 1 // user time
	cpuClockSched     = 2 // all time on a CPU: user and system time here
	cpuClockKindMask  = 3
	cpuClockPerThread = 4
	cpuClockFD        = 7 // a posix clock of a file descriptor: Visor has none
)

// cpuClockID returns the ID a CPU clock names (0: the caller) and whether it is
// a thread's clock.
func cpuClockID(clock int32) (kernel.ThreadID, bool) {
	return kernel.ThreadID(^(clock >> 3)), clock&cpuClockPerThread != 0
}

// cpuClockNow reads the CPU clock clock names. A thread's clock must be of a
// thread of the caller's process and a process's clock must be named by its
// leader, or the clock is invalid (EINVAL), as Linux's lookup_task.
func cpuClockNow(t *kernel.Task, clock int32) (int64, error) {
	if clock&cpuClockFD == cpuClockFD || clock&cpuClockKindMask == cpuClockKindMask {
		return 0, linux.EINVAL
	}
	id, perThread := cpuClockID(clock)
	var user, sys time.Duration
	switch {
	case id == 0 && perThread:
		user, sys = t.CPUTime()
	case id == 0:
		user, sys = t.ThreadGroup().CPUTime()
	default:
		target := t.Kernel().RootPIDNamespace().TaskWithID(id)
		if target == nil {
			return 0, linux.EINVAL
		}
		tg := target.ThreadGroup()
		if perThread {
			if tg != t.ThreadGroup() {
				return 0, linux.EINVAL
			}
			user, sys = target.CPUTime()
		} else {
			if target != t && tg.Leader() != target {
				return 0, linux.EINVAL
			}
			user, sys = tg.CPUTime()
		}
	}
	if clock&cpuClockKindMask == cpuClockVirt {
		return int64(user), nil
	}
	return int64(user + sys), nil
}

// ClockGettime implements clock_gettime(2).
func ClockGettime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	ns, err := clockNow(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	return 0, t.CopyOutTimespec(args[1].Pointer(), linux.NsecToTimespec(ns))
}

// ClockGetres implements clock_getres(2).
func ClockGetres(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := clockNow(t, args[0].Int()); err != nil {
		return 0, err
	}
	if args[1].Pointer() == 0 {
		return 0, nil
	}
	res := linux.Timespec{Nsec: 1}
	switch args[0].Int() {
	case linux.CLOCK_REALTIME_COARSE, linux.CLOCK_MONOTONIC_COARSE:
		res.Nsec = 4000000 // a 250 Hz tick, as Linux reports it
	}
	return 0, t.CopyOutTimespec(args[1].Pointer(), res)
}

// Gettimeofday implements gettimeofday(2).
func Gettimeofday(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if tv := args[0].Pointer(); tv != 0 {
		now := linux.NsecToTimeval(time.Now().UnixNano())
		if err := t.CopyOutStruct(tv, &now); err != nil {
			return 0, err
		}
	}
	if tz := args[1].Pointer(); tz != 0 {
		// The sandbox runs in UTC: no minutes west, no DST.
		if err := t.CopyOutUint64(tz, 0); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Time implements time(2).
func Time(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	now := time.Now().Unix()
	if addr := args[0].Pointer(); addr != 0 {
		if err := t.CopyOutUint64(addr, uint64(now)); err != nil {
			return 0, err
		}
	}
	return uintptr(now), nil
}

// Nanosleep implements nanosleep(2).
func Nanosleep(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	ts, err := t.CopyInTimespec(args[0].Pointer())
	if err != nil {
		return 0, err
	}
	if !ts.Valid() {
		return 0, linux.EINVAL
	}
	return 0, sleepFor(t, time.Duration(ts.ToNsec()), args[1].Pointer())
}

// sleepFor sleeps for d. Interrupted, it writes the time left to remAddr (if set)
// and fails with EINTR: Linux restarts it with the remaining time only through
// restart_syscall, which an application's handler without SA_RESTART never sees.
func sleepFor(t *kernel.Task, d time.Duration, remAddr uintptr) error {
	left, err := t.Sleep(d)
	if err == nil {
		return nil
	}
	if remAddr != 0 {
		if err := t.CopyOutTimespec(remAddr, linux.NsecToTimespec(int64(left))); err != nil {
			return err
		}
	}
	return linux.EINTR
}

// ClockNanosleep implements clock_nanosleep(2).
func ClockNanosleep(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	clock, flags, reqAddr, remAddr := args[0].Int(), args[1].Int(), args[2].Pointer(), args[3].Pointer()
	if clock == linux.CLOCK_THREAD_CPUTIME_ID {
		// A thread can't wait for its own CPU time to pass.
		return 0, linux.EINVAL
	}
	if clock < 0 {
		if id, perThread := cpuClockID(clock); perThread && (id == 0 || id == t.ThreadID()) {
			return 0, linux.EINVAL
		}
	}
	now, err := clockNow(t, clock)
	if err != nil {
		return 0, err
	}
	ts, err := t.CopyInTimespec(reqAddr)
	if err != nil {
		return 0, err
	}
	if !ts.Valid() {
		return 0, linux.EINVAL
	}
	d := time.Duration(ts.ToNsec())
	if clock == linux.CLOCK_PROCESS_CPUTIME_ID || clock < 0 {
		target := ts.ToNsec()
		if flags&linux.TIMER_ABSTIME == 0 {
			target += now
		}
		return 0, sleepOnCPUClock(t, clock, target, flags&linux.TIMER_ABSTIME == 0, remAddr)
	}
	if flags&linux.TIMER_ABSTIME != 0 {
		d = time.Duration(ts.ToNsec() - now)
		if d <= 0 {
			return 0, nil
		}
		if _, err := t.Sleep(d); err != nil {
			return 0, linux.EINTR // an absolute sleep has no time left to report
		}
		return 0, nil
	}
	return 0, sleepFor(t, d, remAddr)
}

// cpuClockTick is how often a sleep on a CPU clock looks at it: nothing reports
// a CPU clock's progress, and Linux's CPU timers also fire on the tick.
const cpuClockTick = 10 * time.Millisecond

// sleepOnCPUClock sleeps until the CPU clock clock reads target nanoseconds. It
// sleeps for the CPU time still due, at most a tick at a time: a process can't
// use it in less wall time unless several of its threads run, which the tick
// bounds. Interrupted, it fails with EINTR, after writing the CPU time still due
// to remAddr for a relative sleep. A clock whose process is gone fails with
// EINVAL.
func sleepOnCPUClock(t *kernel.Task, clock int32, target int64, relative bool, remAddr uintptr) error {
	for {
		now, err := clockNow(t, clock)
		if err != nil {
			return err
		}
		left := time.Duration(target - now)
		if left <= 0 {
			return nil
		}
		if _, err := t.Sleep(min(left, cpuClockTick)); err != nil {
			if relative && remAddr != 0 {
				now, _ := clockNow(t, clock)
				rem := linux.NsecToTimespec(max(target-now, 0))
				if err := t.CopyOutTimespec(remAddr, rem); err != nil {
					return err
				}
			}
			return linux.EINTR
		}
	}
}

// Times implements times(2).
func Times(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	toTicks := func(d time.Duration) int64 { return int64(d) / (1e9 / linux.CLK_TCK) }
	if addr := args[0].Pointer(); addr != 0 {
		tg := t.ThreadGroup()
		u, c := tg.Usage(), tg.ChildrenUsage()
		tms := linux.Tms{
			UTime: toTicks(u.UserTime), STime: toTicks(u.SysTime),
			CUTime: toTicks(c.UserTime), CSTime: toTicks(c.SysTime),
		}
		if err := t.CopyOutStruct(addr, &tms); err != nil {
			return 0, err
		}
	}
	return uintptr(toTicks(time.Since(t.Kernel().BootTime()))), nil
}
