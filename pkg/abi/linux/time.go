package linux

// Clock IDs, from <linux/time.h>.
const (
	CLOCK_REALTIME           = 0
	CLOCK_MONOTONIC          = 1
	CLOCK_PROCESS_CPUTIME_ID = 2
	CLOCK_THREAD_CPUTIME_ID  = 3
	CLOCK_MONOTONIC_RAW      = 4
	CLOCK_REALTIME_COARSE    = 5
	CLOCK_MONOTONIC_COARSE   = 6
	CLOCK_BOOTTIME           = 7
	CLOCK_REALTIME_ALARM     = 8
	CLOCK_BOOTTIME_ALARM     = 9
	CLOCK_TAI                = 11

	// TIMER_ABSTIME is the flag of clock_nanosleep and timer_settime for an absolute time.
	TIMER_ABSTIME = 1
)

// Interval timers of setitimer(2).
const (
	ITIMER_REAL    = 0
	ITIMER_VIRTUAL = 1
	ITIMER_PROF    = 2
)

// CLOCKS_PER_SEC-like tick rate that times(2) and /proc report in (USER_HZ).
const CLK_TCK = 100

// Timespec is struct timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Timeval is struct timeval.
type Timeval struct {
	Sec  int64
	Usec int64
}

// Itimerval is struct itimerval.
type Itimerval struct {
	Interval Timeval
	Value    Timeval
}

// Itimerspec is struct itimerspec.
type Itimerspec struct {
	Interval Timespec
	Value    Timespec
}

// Tms is struct tms, what times(2) fills in, in clock ticks.
type Tms struct {
	UTime  int64
	STime  int64
	CUTime int64
	CSTime int64
}

// Valid reports whether ts is a valid timespec: nanoseconds in [0, 1e9).
func (ts Timespec) Valid() bool { return ts.Sec >= 0 && ts.Nsec >= 0 && ts.Nsec < 1e9 }

// ToNsec returns ts in nanoseconds, saturating on overflow.
func (ts Timespec) ToNsec() int64 {
	const max = int64(^uint64(0) >> 1)
	if ts.Sec > max/1e9 {
		return max
	}
	return ts.Sec*1e9 + ts.Nsec
}

// NsecToTimespec returns ns as a timespec.
func NsecToTimespec(ns int64) Timespec { return Timespec{Sec: ns / 1e9, Nsec: ns % 1e9} }

// NsecToTimeval returns ns as a timeval.
func NsecToTimeval(ns int64) Timeval { return Timeval{Sec: ns / 1e9, Usec: ns % 1e9 / 1e3} }
