// Package ktime implements the timers behind alarm(2), setitimer(2), the POSIX
// timers of timer_create(2) and timerfd_create(2): a Timer counts down on a
// Clock and tells its Listener how many times it expired.
//
// A timer on a wall clock (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME)
// waits for its expiry with a Go timer, so it fires within the Go runtime's
// timer resolution. A timer on a CPU clock (ITIMER_VIRTUAL, ITIMER_PROF, the
// CPU-time clocks) can't be told when the clock reaches a value: it looks at
// the clock at least every PollInterval (10 ms) of wall time, and fires at the
// first look past its expiry, with the expirations it missed counted, as
// Linux's tick-based CPU timers do.
package ktime

import (
	"errors"
	"math"
	"sync"
	"time"
)

// PollInterval is how often a timer on a polled (CPU) clock looks at it.
const PollInterval = 10 * time.Millisecond

// ErrClockGone is what a Clock returns once what it measures is gone (the
// process or thread whose CPU time it counts exited): a timer on it stops.
var ErrClockGone = errors.New("clock gone")

// Clock is what a timer counts on.
type Clock interface {
	// Now returns the clock's time in nanoseconds, or ErrClockGone.
	Now() (int64, error)
	// Polled reports whether the clock can't be waited on and must be polled:
	// it does not advance with wall time (a CPU clock).
	Polled() bool
}

// Listener is told of a timer's expirations: exp is how many times it expired
// since it was last told (at least 1). It returns false if the timer must stop:
// what it notifies is gone.
type Listener func(exp uint64) bool

// ClockFunc is a Clock that reads f.
type ClockFunc struct {
	F func() (int64, error)
	// Poll is Polled's answer.
	Poll bool
}

// Now implements Clock.Now.
func (c ClockFunc) Now() (int64, error) { return c.F() }

// Polled implements Clock.Polled.
func (c ClockFunc) Polled() bool { return c.Poll }

// Setting is a timer's state: whether it is armed, its next expiry on its
// clock, and its period (0: it fires once).
type Setting struct {
	Enabled bool
	Next    int64
	Period  int64
}

// Timer is a timer on a Clock. Its methods are safe for concurrent use.
type Timer struct {
	clock    Clock
	listener Listener

	mu      sync.Mutex
	setting Setting
	// gen counts the settings: a Go timer armed for an older one does nothing.
	gen uint64
	t   *time.Timer
	// destroyed is set by Destroy: the timer never fires again.
	destroyed bool
}

// New returns a disarmed timer on clock that notifies l.
func New(clock Clock, l Listener) *Timer { return &Timer{clock: clock, listener: l} }

// Clock returns the timer's clock.
func (t *Timer) Clock() Clock { return t.clock }

// Set arms the timer to expire at value nanoseconds on its clock (abs) or value
// nanoseconds from now, and every interval nanoseconds after that (0: once);
// value 0 disarms it. It returns the time that was left and the old interval.
// An expiry already past fires at once.
func (t *Timer) Set(value, interval int64, abs bool) (oldValue, oldInterval int64, err error) {
	now, err := t.clock.Now()
	if err != nil {
		return 0, 0, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	oldValue, oldInterval = t.remainingLocked(now)
	t.gen++
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
	if value == 0 || t.destroyed {
		t.setting = Setting{}
		return oldValue, oldInterval, nil
	}
	next := value
	if !abs {
		next = satAdd(now, value)
	}
	t.setting = Setting{Enabled: true, Next: next, Period: interval}
	t.scheduleLocked(now)
	return oldValue, oldInterval, nil
}

// Get returns the time left until the next expiry (0: disarmed) and the interval.
func (t *Timer) Get() (value, interval int64) {
	now, err := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		return 0, t.setting.Period
	}
	return t.remainingLocked(now)
}

// Setting returns the timer's state.
func (t *Timer) Setting() Setting {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.setting
}

// remainingLocked is Get at now. An armed timer whose expiry is due reports 1
// nanosecond left, as Linux does, so it never reads as disarmed.
func (t *Timer) remainingLocked(now int64) (int64, int64) {
	s := t.setting
	if !s.Enabled {
		return 0, s.Period
	}
	return max(s.Next-now, 1), s.Period
}

// Destroy disarms the timer for good.
func (t *Timer) Destroy() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.destroyed = true
	t.setting = Setting{}
	t.gen++
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}

// scheduleLocked arms a Go timer for the next expiry, or for the next look at a
// polled clock.
func (t *Timer) scheduleLocked(now int64) {
	d := time.Duration(t.setting.Next - now)
	if t.clock.Polled() {
		d = min(d, PollInterval)
	}
	d = max(d, 0)
	gen := t.gen
	t.t = time.AfterFunc(d, func() { t.fire(gen) })
}

// fire runs when the Go timer of setting gen goes off.
func (t *Timer) fire(gen uint64) {
	now, err := t.clock.Now()
	t.mu.Lock()
	if gen != t.gen || !t.setting.Enabled {
		t.mu.Unlock()
		return
	}
	t.t = nil
	if err != nil {
		t.setting = Setting{}
		t.gen++
		t.mu.Unlock()
		return
	}
	if now < t.setting.Next {
		t.scheduleLocked(now)
		t.mu.Unlock()
		return
	}
	exp := uint64(1)
	if p := t.setting.Period; p > 0 {
		missed := uint64((now - t.setting.Next) / p)
		exp += missed
		t.setting.Next = satAdd(t.setting.Next, int64(min(exp, math.MaxInt64/uint64(p)))*p)
		t.scheduleLocked(now)
	} else {
		t.setting.Enabled = false
	}
	t.mu.Unlock()
	if !t.listener(exp) {
		t.mu.Lock()
		if gen == t.gen {
			t.setting.Enabled = false
			t.gen++
			if t.t != nil {
				t.t.Stop()
				t.t = nil
			}
		}
		t.mu.Unlock()
	}
}

// satAdd returns a+b, saturating at the largest int64.
func satAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
