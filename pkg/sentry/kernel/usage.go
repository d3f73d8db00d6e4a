package kernel

import (
	"time"

	"visor.dev/visor/pkg/abi/linux"
)

// Usage is the resource use getrusage and wait4 report.
type Usage struct {
	UserTime, SysTime time.Duration
	// MaxRSS is the largest resident set, in bytes. Visor keeps no high-water
	// mark of its own: the resident set is sampled when a task exits and when
	// a process asks for its own usage.
	MaxRSS uint64
}

// add accumulates o into u: times add up, the largest resident set wins.
func (u *Usage) add(o Usage) {
	u.UserTime += o.UserTime
	u.SysTime += o.SysTime
	u.MaxRSS = max(u.MaxRSS, o.MaxRSS)
}

// Rusage returns u as struct rusage (ru_maxrss is in kilobytes).
func (u Usage) Rusage() linux.Rusage {
	return linux.Rusage{
		UTime:  linux.NsecToTimeval(int64(u.UserTime)),
		STime:  linux.NsecToTimeval(int64(u.SysTime)),
		MaxRSS: int64(u.MaxRSS / 1024),
	}
}

// Usage returns what tg's tasks, live and exited, have used.
func (tg *ThreadGroup) Usage() Usage {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	return tg.usageLocked()
}

// usageLocked is Usage.
//
// Preconditions: ts.mu is locked.
func (tg *ThreadGroup) usageLocked() Usage {
	u := tg.exitedUsage
	for t := range tg.tasks {
		user, sys := t.CPUTime()
		u.UserTime += user
		u.SysTime += sys
	}
	return u
}

// ChildrenUsage returns what tg's children that it waited for used, with their
// own waited-for children (Linux's cutime, cstime and cmaxrss).
func (tg *ThreadGroup) ChildrenUsage() Usage {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	return tg.childUsage
}

// CPUTime returns the time tg's tasks, live and exited, have spent in
// application code and in the Sentry.
func (tg *ThreadGroup) CPUTime() (user, sys time.Duration) {
	u := tg.Usage()
	return u.UserTime, u.SysTime
}
