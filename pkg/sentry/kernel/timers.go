package kernel

import (
	"encoding/binary"
	"math"
	"sync"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	ktime "visor.dev/visor/pkg/sentry/kernel/time"
	"visor.dev/visor/pkg/sentry/mm"
)

// This file holds a process's timers: the interval timers of setitimer(2) and
// alarm(2), and the POSIX timers of timer_create(2). They live in
// ThreadGroup.timers, created on first use, so a forked child starts without
// any (fork does not inherit timers).
//
// Timers are stopped lazily rather than by the exit and exec paths: a timer
// whose process has exited (or whose SIGEV_THREAD_ID thread has) stops the next
// time it fires or polls its clock, and the POSIX timers of a process that
// called execve are deleted the next time one fires or the process uses them
// (they remember the address space they were created in; ITIMER_REAL and
// alarm survive execve, as on Linux).

// Notification kinds of struct sigevent, from <asm-generic/siginfo.h>.
const (
	SIGEV_SIGNAL    = 0
	SIGEV_NONE      = 1
	SIGEV_THREAD    = 2
	SIGEV_THREAD_ID = 4
)

// SigEvent is the part of struct sigevent a timer uses.
type SigEvent struct {
	Value  uint64
	Signo  int32
	Notify int32
	TID    int32
}

// processTimers is a process's timers.
type processTimers struct {
	mu sync.Mutex
	// itimers are ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF, created on first use.
	itimers [3]*ktime.Timer
	// posix are the POSIX timers by ID; mm is the address space they belong to.
	posix  map[int32]*posixTimer
	mm     *mm.MemoryManager
	nextID int32
}

// timerState returns tg's timers, creating them on first use.
func (tg *ThreadGroup) timerState() *processTimers {
	if pt := tg.timers.Load(); pt != nil {
		return pt
	}
	tg.timers.CompareAndSwap(nil, &processTimers{posix: make(map[int32]*posixTimer)})
	return tg.timers.Load()
}

// timerTargetAlive reports whether tg can still take a timer's signal: it has
// not started exiting.
func (tg *ThreadGroup) timerTargetAlive() bool {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	if tg.leader == nil || tg.zombie {
		return false
	}
	sh := tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return !tg.exiting
}

// currentMM returns the address space of tg's leader.
func (tg *ThreadGroup) currentMM() *mm.MemoryManager {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	if tg.leader == nil {
		return nil
	}
	tg.leader.mu.Lock()
	defer tg.leader.mu.Unlock()
	return tg.leader.image.mm
}

// Clocks.

// wallClock returns CLOCK_REALTIME (realtime) or CLOCK_MONOTONIC, which counts
// from the sandbox's boot.
func (k *Kernel) wallClock(realtime bool) ktime.Clock {
	if realtime {
		return ktime.ClockFunc{F: func() (int64, error) { return time.Now().UnixNano(), nil }}
	}
	boot := k.BootTime()
	return ktime.ClockFunc{F: func() (int64, error) { return int64(time.Since(boot)), nil }}
}

// processCPUClock returns tg's CPU clock: user time only if virt, else user and
// system time. It is gone once tg exits.
func processCPUClock(tg *ThreadGroup, virt bool) ktime.Clock {
	return ktime.ClockFunc{Poll: true, F: func() (int64, error) {
		if !tg.timerTargetAlive() {
			return 0, ktime.ErrClockGone
		}
		u, s := tg.CPUTime()
		if virt {
			return int64(u), nil
		}
		return int64(u + s), nil
	}}
}

// threadCPUClock returns t's CPU clock, gone once t exits.
func threadCPUClock(t *Task, virt bool) ktime.Clock {
	return ktime.ClockFunc{Poll: true, F: func() (int64, error) {
		if t.ExitState() != TaskExitNone {
			return 0, ktime.ErrClockGone
		}
		u, s := t.CPUTime()
		if virt {
			return int64(u), nil
		}
		return int64(u + s), nil
	}}
}

// TimerClock returns the clock clockid names for a timer of t's, as
// timer_create(2) takes it: CLOCK_REALTIME, CLOCK_TAI and CLOCK_REALTIME_ALARM
// read the time of day; CLOCK_MONOTONIC, CLOCK_BOOTTIME and
// CLOCK_BOOTTIME_ALARM count from the sandbox's boot; CLOCK_PROCESS_CPUTIME_ID,
// CLOCK_THREAD_CPUTIME_ID and the CPU clocks of clock_getcpuclockid(3) and
// pthread_getcpuclockid(3) are polled. The raw and coarse clocks can't drive a
// timer (EOPNOTSUPP); any other clock is invalid (EINVAL).
func (t *Task) TimerClock(clockid int32) (ktime.Clock, error) {
	switch clockid {
	case linux.CLOCK_REALTIME, linux.CLOCK_TAI, linux.CLOCK_REALTIME_ALARM:
		return t.k.wallClock(true), nil
	case linux.CLOCK_MONOTONIC, linux.CLOCK_BOOTTIME, linux.CLOCK_BOOTTIME_ALARM:
		return t.k.wallClock(false), nil
	case linux.CLOCK_MONOTONIC_RAW, linux.CLOCK_REALTIME_COARSE, linux.CLOCK_MONOTONIC_COARSE:
		return nil, linux.EOPNOTSUPP
	case linux.CLOCK_PROCESS_CPUTIME_ID:
		return processCPUClock(t.tg, false), nil
	case linux.CLOCK_THREAD_CPUTIME_ID:
		return threadCPUClock(t, false), nil
	}
	if clockid >= 0 {
		return nil, linux.EINVAL
	}
	// A CPU clock by ID, as include/linux/posix-timers.h encodes it.
	const (
		kindMask  = 3
		perThread = 4
		fdClock   = 7
		virtKind  = 1
	)
	if clockid&fdClock == fdClock || clockid&kindMask == kindMask {
		return nil, linux.EINVAL
	}
	id := ThreadID(^(clockid >> 3))
	virt := clockid&kindMask == virtKind
	thread := clockid&perThread != 0
	target := t
	if id != 0 {
		target = t.k.tasks.root.TaskWithID(id)
		if target == nil {
			return nil, linux.EINVAL
		}
	}
	if thread {
		if target.tg != t.tg {
			return nil, linux.EINVAL
		}
		return threadCPUClock(target, virt), nil
	}
	if target != t && target.tg.Leader() != target {
		return nil, linux.EINVAL
	}
	return processCPUClock(target.tg, virt), nil
}

// Interval timers.

// itimerSignals are the signals of ITIMER_REAL, ITIMER_VIRTUAL and ITIMER_PROF.
var itimerSignals = [3]int32{linux.SIGALRM, linux.SIGVTALRM, linux.SIGPROF}

// itimer returns tg's interval timer which, creating it on first use.
//
// Preconditions: which is ITIMER_REAL, ITIMER_VIRTUAL or ITIMER_PROF.
func (tg *ThreadGroup) itimer(k *Kernel, which int32) *ktime.Timer {
	pt := tg.timerState()
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.itimers[which] == nil {
		var clock ktime.Clock
		switch which {
		case linux.ITIMER_REAL:
			clock = k.wallClock(false)
		case linux.ITIMER_VIRTUAL:
			clock = processCPUClock(tg, true)
		default:
			clock = processCPUClock(tg, false)
		}
		sig := itimerSignals[which]
		pt.itimers[which] = ktime.New(clock, func(uint64) bool {
			if !tg.timerTargetAlive() {
				return false
			}
			// Linux sends them as the kernel: si_code SI_KERNEL.
			return tg.SendSignal(&linux.SignalInfo{Signo: sig, Code: linux.SI_KERNEL}) == nil
		})
	}
	return pt.itimers[which]
}

// SetITimer sets the interval timer which (setitimer(2)) to expire in value
// nanoseconds (0: disarm) and every interval nanoseconds after, returning the
// old setting. ITIMER_REAL sends SIGALRM when the wall time passes,
// ITIMER_VIRTUAL SIGVTALRM when the process's user CPU time does, ITIMER_PROF
// SIGPROF when its user and system CPU time does; the CPU timers are checked
// every ktime.PollInterval.
func (t *Task) SetITimer(which int32, value, interval int64) (oldValue, oldInterval int64, err error) {
	if which < linux.ITIMER_REAL || which > linux.ITIMER_PROF {
		return 0, 0, linux.EINVAL
	}
	if value == 0 {
		// Disarming an interval timer never used needs no timer.
		if pt := t.tg.timers.Load(); pt == nil {
			return 0, 0, nil
		}
	}
	oldValue, oldInterval, err = t.tg.itimer(t.k, which).Set(value, interval, false)
	if err == ktime.ErrClockGone {
		// The process is exiting: its CPU clocks are gone.
		return 0, 0, linux.EINVAL
	}
	return oldValue, oldInterval, err
}

// ITimer returns the time left on the interval timer which and its interval
// (getitimer(2)).
func (t *Task) ITimer(which int32) (value, interval int64, err error) {
	if which < linux.ITIMER_REAL || which > linux.ITIMER_PROF {
		return 0, 0, linux.EINVAL
	}
	pt := t.tg.timers.Load()
	if pt == nil {
		return 0, 0, nil
	}
	pt.mu.Lock()
	it := pt.itimers[which]
	pt.mu.Unlock()
	if it == nil {
		return 0, 0, nil
	}
	value, interval = it.Get()
	return value, interval, nil
}

// POSIX timers.

// posixTimer is a timer of timer_create(2).
type posixTimer struct {
	id    int32
	tg    *ThreadGroup
	mm    *mm.MemoryManager
	timer *ktime.Timer
	ev    SigEvent
	// target is the thread of SIGEV_THREAD_ID; nil for the process.
	target *Task

	// mu guards the overrun state: queued is set while the timer's last signal
	// may still be pending; overrun counts the expirations since it was queued,
	// overrunLast those of the signal delivered before (timer_getoverrun).
	mu          sync.Mutex
	queued      bool
	overrun     int32
	overrunLast int32
}

// delayTimerMax is DELAYTIMER_MAX: overrun counts saturate there.
const delayTimerMax = math.MaxInt32

// satAddOverrun returns o+n, saturating at delayTimerMax.
func satAddOverrun(o int32, n uint64) int32 {
	if n >= uint64(delayTimerMax-o) {
		return delayTimerMax
	}
	return o + int32(n)
}

// timerIDOf returns si_timerid (si_tid) of a SI_TIMER signal.
func timerIDOf(info *linux.SignalInfo) int32 {
	return int32(binary.LittleEndian.Uint32(info.Fields[0:4]))
}

// findQueuedLocked returns the pending signal pt queued, or nil.
//
// Preconditions: ts.mu and signalHandlers.mu are locked.
func (pt *posixTimer) findQueuedLocked() *linux.SignalInfo {
	q := &pt.tg.pendingSignals
	if pt.target != nil {
		q = &pt.target.pendingSignals
	}
	for i := range q.queues[pt.ev.Signo] {
		info := &q.queues[pt.ev.Signo][i].info
		if info.Code == linux.SI_TIMER && timerIDOf(info) == pt.id {
			return info
		}
	}
	return nil
}

// settleLocked notes the delivery of pt's signal if it is no longer pending:
// its overrun becomes the one timer_getoverrun reports.
//
// Preconditions: pt.mu, ts.mu and signalHandlers.mu are locked.
func (pt *posixTimer) settleLocked() *linux.SignalInfo {
	info := pt.findQueuedLocked()
	if pt.queued && info == nil {
		pt.overrunLast = pt.overrun
		pt.overrun = 0
		pt.queued = false
	}
	return info
}

// expired is pt's ktime.Listener.
func (pt *posixTimer) expired(exp uint64) bool {
	if pt.tg.currentMM() != pt.mm {
		// The process called execve: its timers are gone.
		pt.tg.deletePosixTimer(pt.id, pt)
		return false
	}
	if !pt.tg.timerTargetAlive() {
		return false
	}
	if pt.ev.Notify == SIGEV_NONE {
		return true
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	ts := pt.tg.ts
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	target, group := pt.target, false
	if target == nil {
		target, group = pt.tg.leader, true
	}
	if target == nil || (!group && target.exitState != TaskExitNone) {
		return false // the thread it signals is gone
	}
	sh := pt.tg.signalHandlers
	sh.mu.Lock()
	if info := pt.settleLocked(); info != nil {
		// The last signal is still pending: count the expirations in it.
		pt.overrun = satAddOverrun(pt.overrun, exp)
		info.SetTimerID(pt.id, pt.overrun)
		sh.mu.Unlock()
		return true
	}
	sh.mu.Unlock()
	pt.overrun = satAddOverrun(0, exp-1)
	pt.queued = true
	info := &linux.SignalInfo{Signo: pt.ev.Signo, Code: linux.SI_TIMER}
	info.SetTimerID(pt.id, pt.overrun)
	info.SetValue(pt.ev.Value)
	return target.sendSignalLocked(info, group) == nil
}

// posixTimersLocked returns tg's POSIX timers for t, after deleting those of an
// address space execve replaced.
//
// Preconditions: pt.mu is locked.
func (p *processTimers) posixTimersLocked(t *Task) map[int32]*posixTimer {
	if cur := t.MemoryManager(); p.mm != cur {
		for id, pt := range p.posix {
			pt.timer.Destroy()
			delete(p.posix, id)
		}
		p.mm = cur
	}
	return p.posix
}

// deletePosixTimer deletes timer id if it is still pt.
func (tg *ThreadGroup) deletePosixTimer(id int32, pt *posixTimer) {
	p := tg.timerState()
	p.mu.Lock()
	if p.posix[id] == pt {
		delete(p.posix, id)
	}
	p.mu.Unlock()
	pt.timer.Destroy()
}

// CreateTimer creates a POSIX timer on clock that notifies as ev says (nil: send
// SIGALRM with the timer's ID as value), and returns its ID (timer_create(2)).
func (t *Task) CreateTimer(clock ktime.Clock, ev *SigEvent) (int32, error) {
	var target *Task
	if ev != nil {
		switch ev.Notify {
		case SIGEV_SIGNAL | SIGEV_THREAD_ID:
			target = t.k.tasks.root.TaskWithID(ThreadID(ev.TID))
			if target == nil || target.tg != t.tg {
				return 0, linux.EINVAL
			}
			fallthrough
		case SIGEV_SIGNAL, SIGEV_THREAD:
			if ev.Signo <= 0 || ev.Signo > linux.SIGRTMAX {
				return 0, linux.EINVAL
			}
		case SIGEV_NONE:
		default:
			return 0, linux.EINVAL
		}
	}
	p := t.tg.timerState()
	p.mu.Lock()
	defer p.mu.Unlock()
	timers := p.posixTimersLocked(t)
	if len(timers) >= math.MaxInt32 {
		return 0, linux.EAGAIN
	}
	id := p.nextID
	for timers[id] != nil {
		id = (id + 1) & math.MaxInt32
	}
	p.nextID = (id + 1) & math.MaxInt32
	pt := &posixTimer{id: id, tg: t.tg, mm: p.mm, target: target}
	if ev != nil {
		pt.ev = *ev
	} else {
		pt.ev = SigEvent{Notify: SIGEV_SIGNAL, Signo: linux.SIGALRM, Value: uint64(id)}
	}
	pt.timer = ktime.New(clock, pt.expired)
	timers[id] = pt
	return id, nil
}

// posixTimer returns t's process's timer id, or EINVAL.
func (t *Task) posixTimer(id int32) (*posixTimer, error) {
	p := t.tg.timers.Load()
	if p == nil {
		return nil, linux.EINVAL
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pt := p.posixTimersLocked(t)[id]
	if pt == nil {
		return nil, linux.EINVAL
	}
	return pt, nil
}

// SetTimer arms POSIX timer id to expire at value (abs) or in value nanoseconds
// (0: disarm), then every interval nanoseconds; it returns the old setting
// (timer_settime(2)).
func (t *Task) SetTimer(id int32, value, interval int64, abs bool) (oldValue, oldInterval int64, err error) {
	pt, err := t.posixTimer(id)
	if err != nil {
		return 0, 0, err
	}
	pt.mu.Lock()
	// A new setting starts a new overrun count.
	pt.overrun, pt.overrunLast = 0, 0
	pt.mu.Unlock()
	oldValue, oldInterval, err = pt.timer.Set(value, interval, abs)
	if err == ktime.ErrClockGone {
		return 0, 0, linux.EINVAL
	}
	return oldValue, oldInterval, err
}

// Timer returns the time left on POSIX timer id and its interval
// (timer_gettime(2)).
func (t *Task) Timer(id int32) (value, interval int64, err error) {
	pt, err := t.posixTimer(id)
	if err != nil {
		return 0, 0, err
	}
	value, interval = pt.timer.Get()
	return value, interval, nil
}

// TimerOverrun returns the overrun count of the last signal POSIX timer id
// delivered: how many more times it expired while the signal was pending
// (timer_getoverrun(2)).
func (t *Task) TimerOverrun(id int32) (int32, error) {
	pt, err := t.posixTimer(id)
	if err != nil {
		return 0, err
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	ts := t.k.tasks
	ts.mu.RLock()
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	pt.settleLocked()
	sh.mu.Unlock()
	ts.mu.RUnlock()
	return pt.overrunLast, nil
}

// DeleteTimer deletes POSIX timer id (timer_delete(2)).
func (t *Task) DeleteTimer(id int32) error {
	pt, err := t.posixTimer(id)
	if err != nil {
		return err
	}
	t.tg.deletePosixTimer(id, pt)
	return nil
}
