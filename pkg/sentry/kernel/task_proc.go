package kernel

import (
	"slices"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/mm"
)

// This file holds what /proc reads of tasks and processes from goroutines other
// than theirs. Each accessor takes the locks the field it reads is guarded by.

// GetMemoryManager returns t's address space with a user reference (mm.IncUsers)
// that the caller drops with DecUsers, or nil if t has none: it has begun to exit,
// or it is a test task that never had one. Unlike MemoryManager it may be called
// from any goroutine.
func (t *Task) GetMemoryManager() *mm.MemoryManager {
	// A task that is still TaskExitNone under ts.mu has not reached
	// releaseResources, which drops the task's own user reference only after
	// exitTask set the exit state under ts.mu for writing; so while we hold
	// ts.mu for reading the address space has at least that user.
	ts := t.k.tasks
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	if t.exitState != TaskExitNone {
		return nil
	}
	// Exec swaps image.mm under t.mu and drops the old one's user only after
	// unlocking, so whichever we see here still has a user too.
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.image.mm
	if m != nil {
		m.IncUsers()
	}
	return m
}

// ExitState returns where t is on its way out.
func (t *Task) ExitState() TaskExitState {
	ts := t.k.tasks
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return t.exitState
}

// Stopped reports whether t is stopped by a group stop (SIGSTOP and friends).
func (t *Task) Stopped() bool {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return t.stopped
}

// PendingSignalSets returns the signals pending for t alone and those pending for
// its whole process, separately: /proc/[pid]/status's SigPnd and ShdPnd.
func (t *Task) PendingSignalSets() (thread, shared linux.SignalSet) {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return t.pendingSignals.set, t.tg.pendingSignals.set
}

// QueuedSignals returns the number of signals queued for t and its process, the
// first half of /proc/[pid]/status's SigQ.
func (t *Task) QueuedSignals() int {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := 0
	for sig := range t.pendingSignals.queues {
		n += len(t.pendingSignals.queues[sig]) + len(t.tg.pendingSignals.queues[sig])
	}
	return n
}

// SignalDispositions returns the signals tg ignores and those it has handlers for:
// /proc/[pid]/status's SigIgn and SigCgt.
func (tg *ThreadGroup) SignalDispositions() (ignored, caught linux.SignalSet) {
	sh := tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for sig := 1; sig <= linux.SIGRTMAX; sig++ {
		switch sh.actions[sig].Handler {
		case linux.SIG_DFL:
		case linux.SIG_IGN:
			ignored |= linux.SignalSetOf(sig)
		default:
			caught |= linux.SignalSetOf(sig)
		}
	}
	return ignored, caught
}

// Tasks returns tg's tasks that are still in the PID namespace, by ascending TID:
// /proc/[pid]/task.
func (tg *ThreadGroup) Tasks() []*Task {
	ts := tg.ts
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	tasks := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		if _, ok := ts.root.tids[t]; ok {
			tasks = append(tasks, t)
		}
	}
	slices.SortFunc(tasks, func(a, b *Task) int { return int(ts.root.tids[a] - ts.root.tids[b]) })
	return tasks
}

// Zombie reports whether every task of tg has exited and it waits to be reaped.
func (tg *ThreadGroup) Zombie() bool {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	return tg.zombie
}

// TerminationSignal returns the signal tg's parent gets when tg exits, /proc's
// exit_signal.
func (tg *ThreadGroup) TerminationSignal() int {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	return tg.terminationSignal
}

// MaxID returns the largest ID ns hands out: /proc/sys/kernel/pid_max.
func (ns *PIDNamespace) MaxID() ThreadID { return maxThreadID }

// LastID returns the ID ns handed out last: /proc/loadavg's last field.
func (ns *PIDNamespace) LastID() ThreadID {
	ns.owner.mu.RLock()
	defer ns.owner.mu.RUnlock()
	return ns.last
}

// NewTestProcess returns a task that, unlike NewTestTask's, is a process of k's PID
// namespace, in a session of its own, with the given identity, file table,
// filesystem context and address space (each may be nil; the task takes over the
// caller's references). It runs no code: it is for tests of what looks tasks up,
// such as /proc.
func (k *Kernel) NewTestProcess(creds *auth.Credentials, fdt *FDTable, fs *FSContext, m *mm.MemoryManager, name string) (*Task, error) {
	t := NewTestTask(k)
	t.creds.Store(creds)
	t.fdTable = fdt
	t.fs = fs
	t.image.mm = m
	t.name = truncateName(name)
	t.startTime = time.Now()
	t.tg.terminationSignal = linux.SIGCHLD
	ts := k.tasks
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tid, err := ts.root.allocateTID()
	if err != nil {
		return nil, err
	}
	ts.root.tasks[tid] = t
	ts.root.tids[t] = tid
	ts.root.tgids[t.tg] = tid
	t.tg.newSessionLocked()
	return t, nil
}
