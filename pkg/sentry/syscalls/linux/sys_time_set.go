package linux

import (
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// The calls that set or steer the clock. The sandbox never changes a clock (its
// clocks are the host's, which a container must not move), so each fails as
// Linux fails a caller without CAP_SYS_TIME: the same argument checks first
// (EFAULT, EINVAL, EOPNOTSUPP, in Linux's order), then EPERM. gVisor refuses
// settimeofday and adjtimex likewise (CapError(CAP_SYS_TIME): EPERM without the
// capability), adjtimex's reads included; reading the clock state through
// adjtimex (modes 0, or ADJ_OFFSET_SS_READ) needs no capability on Linux, and
// works here.

// timeSettodSecMax is TIME_SETTOD_SEC_MAX of include/linux/time64.h: KTIME_SEC_MAX
// less 30 years of uptime, the latest time settimeofday accepts.
const timeSettodSecMax = 9223372036 - 30*365*24*3600

// validSettod reports whether ts is a time Linux's timespec64_valid_settod accepts.
func validSettod(ts linux.Timespec) bool {
	return ts.Valid() && ts.Sec < timeSettodSecMax
}

// Settimeofday implements settimeofday(2).
func Settimeofday(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if addr := args[0].Pointer(); addr != 0 {
		var tv linux.Timeval
		if err := t.CopyInStruct(addr, &tv); err != nil {
			return 0, err
		}
		// Linux allows tv_usec == USEC_PER_SEC here, and refuses the
		// resulting 1e9 ns in validSettod.
		if tv.Usec < 0 || tv.Usec > 1e6 {
			return 0, linux.EINVAL
		}
		if !validSettod(linux.Timespec{Sec: tv.Sec, Nsec: tv.Usec * 1e3}) {
			return 0, linux.EINVAL
		}
	}
	if addr := args[1].Pointer(); addr != 0 {
		if _, err := t.CopyInUint64(addr); err != nil {
			return 0, err
		}
	}
	return 0, linux.EPERM
}

// ClockSettime implements clock_settime(2).
func ClockSettime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	clock := args[0].Int()
	ts, err := t.CopyInTimespec(args[1].Pointer())
	if err != nil {
		return 0, err
	}
	if _, err := clockNow(t, clock); err != nil {
		return 0, err
	}
	switch {
	case clock == linux.CLOCK_REALTIME:
		if !validSettod(ts) {
			return 0, linux.EINVAL
		}
		return 0, linux.EPERM
	case clock < 0:
		// A process's or thread's CPU clock: Linux never resets one.
		return 0, linux.EPERM
	default:
		// The other clocks cannot be set at all (no clock_set in Linux).
		return 0, linux.EINVAL
	}
}

// timex is struct __kernel_timex of include/uapi/linux/timex.h, 208 bytes.
type timex struct {
	Modes     uint32
	_         int32
	Offset    int64
	Freq      int64
	Maxerror  int64
	Esterror  int64
	Status    int32
	_         int32
	Constant  int64
	Precision int64
	Tolerance int64
	Time      linux.Timeval
	Tick      int64
	Ppsfreq   int64
	Jitter    int64
	Shift     int32
	_         int32
	Stabil    int64
	Jitcnt    int64
	Calcnt    int64
	Errcnt    int64
	Stbcnt    int64
	Tai       int32
	_         [11]int32
}

// The adjtimex modes bits the kernel checks (the kernel's, not glibc's, values)
// and the clock state it reports.
const (
	adjOffsetSingleshot = 0x0001
	adjOffsetReadonly   = 0x2000
	adjAdjtime          = 0x8000

	staUnsync = 0x0040 // the clock is not synchronized (by NTP)
	timeError = 5      // TIME_ERROR: the state Linux reports for an unsynchronized clock

	ntpPhaseLimit = 16000000 // NTP_PHASE_LIMIT, maxerror and esterror of an unsynchronized clock (us)
	maxFreqScaled = 32768000 // MAXFREQ_SCALED / PPM_SCALE: 500 ppm as ppm << 16
	tickUsec      = 1e6 / linux.CLK_TCK
)

// adjtime does what Linux's do_adjtimex does for a caller without CAP_SYS_TIME:
// refuses any change and fills tx with the state of the clock. The sandbox has no
// NTP discipline of its own, so the state is that of an unsynchronized clock
// running at its nominal rate.
func adjtime(tx *timex) (uintptr, error) {
	if tx.Modes&adjAdjtime != 0 {
		if tx.Modes&adjOffsetSingleshot == 0 {
			return 0, linux.EINVAL
		}
		if tx.Modes&adjOffsetReadonly == 0 {
			return 0, linux.EPERM
		}
	} else if tx.Modes != 0 {
		return 0, linux.EPERM
	}
	now := time.Now().UnixNano()
	*tx = timex{
		Modes:     tx.Modes,
		Maxerror:  ntpPhaseLimit,
		Esterror:  ntpPhaseLimit,
		Status:    staUnsync,
		Constant:  2,
		Precision: 1,
		Tolerance: maxFreqScaled,
		Time:      linux.NsecToTimeval(now),
		Tick:      tickUsec,
	}
	return timeError, nil
}

// Adjtimex implements adjtimex(2).
func Adjtimex(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return adjtimexAt(t, args[0].Pointer())
}

// adjtimexAt runs adjtime on the struct __kernel_timex at addr.
func adjtimexAt(t *kernel.Task, addr uintptr) (uintptr, error) {
	var tx timex
	if err := t.CopyInStruct(addr, &tx); err != nil {
		return 0, err
	}
	state, err := adjtime(&tx)
	if err != nil {
		return 0, err
	}
	if err := t.CopyOutStruct(addr, &tx); err != nil {
		return 0, err
	}
	return state, nil
}

// ClockAdjtime implements clock_adjtime(2).
func ClockAdjtime(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	clock := args[0].Int()
	var tx timex
	if err := t.CopyInStruct(args[1].Pointer(), &tx); err != nil {
		return 0, err
	}
	if _, err := clockNow(t, clock); err != nil {
		return 0, err
	}
	if clock != linux.CLOCK_REALTIME {
		// Only CLOCK_REALTIME has clock_adj in Linux.
		return 0, linux.EOPNOTSUPP
	}
	return adjtimexAt(t, args[1].Pointer())
}
