package kernel

import (
	"errors"
	"slices"
	"sync"
	"time"

	"visor.dev/visor/pkg/abi/linux"
)

// This file holds what runsc's control server asks of the kernel from outside any
// task: pausing and resuming the whole sandbox, listing its processes, signalling
// and waiting for them, and its resource usage.

// pauseState stops every task of a kernel at its next entry into application
// code (runsc pause). A paused task has not been signalled or stopped in any way
// the application can see: it simply does not run until the kernel is resumed.
type pauseState struct {
	mu sync.Mutex
	// paused is set between Pause and Resume; resumed is closed by Resume.
	paused  bool
	resumed chan struct{}
	// inApp counts tasks between their pause check and the end of their
	// Switch into application code: Pause waits for it to reach 0.
	inApp int
}

// pauseTimeout bounds how long Pause waits for tasks to leave application code.
const pauseTimeout = 10 * time.Second

// ErrPauseTimeout is returned by Pause when a task did not leave application code
// in time; the kernel stays paused.
var ErrPauseTimeout = errors.New("kernel: tasks did not stop running application code")

// Pause stops every task at its next interrupt point and returns once none runs
// application code; tasks blocked in a system call finish it but do not return
// to the application. Pausing a paused kernel does nothing.
func (k *Kernel) Pause() error {
	k.pause.mu.Lock()
	if !k.pause.paused {
		k.pause.paused = true
		k.pause.resumed = make(chan struct{})
	}
	k.pause.mu.Unlock()

	deadline := time.Now().Add(pauseTimeout)
	for {
		// Interrupting a task that is not in application code only makes its
		// next Switch return at once, which the pause check then catches.
		k.interruptApplicationCode()
		k.pause.mu.Lock()
		running := k.pause.inApp
		k.pause.mu.Unlock()
		if running == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return ErrPauseTimeout
		}
		time.Sleep(time.Millisecond)
	}
}

// Resume lets the tasks Pause stopped run again. Resuming a kernel that is not
// paused does nothing.
func (k *Kernel) Resume() {
	k.pause.mu.Lock()
	defer k.pause.mu.Unlock()
	if k.pause.paused {
		k.pause.paused = false
		close(k.pause.resumed)
	}
}

// Paused reports whether the kernel is paused.
func (k *Kernel) Paused() bool {
	k.pause.mu.Lock()
	defer k.pause.mu.Unlock()
	return k.pause.paused
}

// interruptApplicationCode makes every live task's Switch return.
func (k *Kernel) interruptApplicationCode() {
	ts := k.tasks
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	for t := range ts.root.tids {
		// A task past TaskExitNone may have released its platform context;
		// exitTask changes the state under ts.mu before it does.
		if t.exitState == TaskExitNone && t.pctx != nil {
			t.pctx.Interrupt()
		}
	}
}

// enterApp is the pause check before t switches to application code. It reports
// whether t may run it; if not, t was paused and has been resumed or
// interrupted, and must go back to the top of its run loop. A true return must
// be paired with leaveApp once the Switch returns.
//
// Preconditions: called by the task goroutine.
func (t *Task) enterApp() bool {
	p := &t.k.pause
	p.mu.Lock()
	if !p.paused {
		p.inApp++
		p.mu.Unlock()
		return true
	}
	resumed := p.resumed
	p.mu.Unlock()
	// A signal or a kill interrupts the wait so the run loop can act on it; a
	// handler's frame is built, but no application code runs until Resume.
	select {
	case <-resumed:
	case <-t.interruptCh:
	}
	return false
}

// leaveApp ends what enterApp began.
func (t *Task) leaveApp() {
	p := &t.k.pause
	p.mu.Lock()
	p.inApp--
	p.mu.Unlock()
}

// ProcessInfo describes a thread group, as ps(1) lists it.
type ProcessInfo struct {
	PID, PPID ThreadID
	// UID is the real user ID of the group's leader.
	UID uint32
	// State is /proc/[pid]/stat's letter: Z for a zombie, T when stopped, R
	// while a task runs application code, else S.
	State byte
	// Threads counts the group's live tasks.
	Threads   int
	StartTime time.Time
	// CPUTime is the user and system time of the group's tasks, live and exited.
	CPUTime time.Duration
	// Name is the leader's comm.
	Name string
}

// Processes returns every thread group of the sandbox, zombies included, by PID.
func (k *Kernel) Processes() []ProcessInfo {
	ts := k.tasks
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	ns := ts.root
	procs := make([]ProcessInfo, 0, len(ns.tgids))
	for tg, id := range ns.tgids {
		leader := tg.leader
		p := ProcessInfo{
			PID:       id,
			UID:       uint32(leader.Credentials().RealKUID),
			StartTime: leader.startTime,
			Name:      leader.Name(),
		}
		if tg.parent != nil {
			p.PPID = ns.tgids[tg.parent]
		}
		u := tg.usageLocked()
		p.CPUTime = u.UserTime + u.SysTime
		running := false
		for t := range tg.tasks {
			if t.exitState == TaskExitNone {
				p.Threads++
			}
			t.cpuMu.Lock()
			running = running || !t.appSince.IsZero()
			t.cpuMu.Unlock()
		}
		sh := tg.signalHandlers
		sh.mu.Lock()
		stopped := tg.groupStopped
		sh.mu.Unlock()
		switch {
		case tg.zombie:
			p.State = 'Z'
		case stopped:
			p.State = 'T'
		case running:
			p.State = 'R'
		default:
			p.State = 'S'
		}
		procs = append(procs, p)
	}
	slices.SortFunc(procs, func(a, b ProcessInfo) int { return int(a.PID - b.PID) })
	return procs
}

// ThreadGroupWithID returns the thread group whose PID is id, zombies included,
// or nil if there is none (never was, or reaped).
func (ns *PIDNamespace) ThreadGroupWithID(id ThreadID) *ThreadGroup {
	ns.owner.mu.RLock()
	defer ns.owner.mu.RUnlock()
	t := ns.tasks[id]
	if t == nil || ns.tgids[t.tg] != id {
		return nil
	}
	return t.tg
}

// SignalProcess sends sig to the process whose PID is pid, as kill(2) from outside
// the sandbox would: ESRCH if there is none.
func (k *Kernel) SignalProcess(pid ThreadID, sig int) error {
	if !validSignal(sig) {
		return linux.EINVAL
	}
	tg := k.tasks.root.ThreadGroupWithID(pid)
	if tg == nil {
		return linux.ESRCH
	}
	return tg.SendSignal(&linux.SignalInfo{Signo: int32(sig), Code: linux.SI_USER})
}

// closedChan is an Exited channel for a group that has already exited.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Exited returns a channel closed once every task of tg has exited; ExitStatus is
// then its status. Unlike wait(2) it reaps nothing, and anyone may wait.
func (tg *ThreadGroup) Exited() <-chan struct{} {
	ts := tg.ts
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if tg.zombie {
		return closedChan
	}
	if tg.exitedCh == nil {
		tg.exitedCh = make(chan struct{})
	}
	return tg.exitedCh
}

// ExitStatus returns tg's exit status once Exited is closed.
func (tg *ThreadGroup) ExitStatus() linux.WaitStatus {
	sh := tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return tg.exitStatus
}

// notifyExitedLocked closes the channel Exited handed out.
//
// Preconditions: ts.mu is locked for writing; tg has just become a zombie.
func (tg *ThreadGroup) notifyExitedLocked() {
	if tg.exitedCh != nil {
		close(tg.exitedCh)
		tg.exitedCh = nil
	}
}

// Usage returns what every task of the sandbox, live and gone, has used.
func (k *Kernel) Usage() Usage {
	ts := k.tasks
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	u := ts.reapedUsage
	for tg := range ts.root.tgids {
		u.add(tg.usageLocked())
	}
	return u
}

// TaskCount returns the number of tasks that have not exited.
func (k *Kernel) TaskCount() int {
	ts := k.tasks
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	n := 0
	for t := range ts.root.tids {
		if t.exitState == TaskExitNone {
			n++
		}
	}
	return n
}
