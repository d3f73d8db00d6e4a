package kernel

import (
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
)

// ThreadGroup is a process: the tasks that share a PID, signal handlers and
// process-wide signal state, and an exit status.
type ThreadGroup struct {
	ts *TaskSet

	// signalHandlers is the handler table, shared with other thread groups that
	// were cloned with CLONE_SIGHAND but not CLONE_THREAD.
	signalHandlers *signalHandlers

	// The following fields are guarded by signalHandlers.mu.

	// pendingSignals are signals sent to the whole process (kill, not tkill).
	pendingSignals pendingSignals
	// groupStopPending is set while a stop signal's group stop is being carried
	// out; groupStopped once every task has stopped.
	groupStopSignal int
	groupStopped    bool
	// groupContinued records a SIGCONT since the last wait that reported it.
	groupContinued bool
	// groupStopWaitable is set while a stop has not been reported to a waiter.
	groupStopWaitable bool
	// exiting is set once a task of the group called exit_group or a signal's
	// default action killed it; exitStatus is then the group's status.
	exiting    bool
	exitStatus linux.WaitStatus

	// The following fields are guarded by ts.mu.

	leader *Task
	tasks  map[*Task]struct{}
	// parent is the process that waits for this one; children the ones it waits for.
	parent   *ThreadGroup
	children map[*ThreadGroup]struct{}
	// liveTasks counts tasks that have not exited.
	liveTasks int
	// processGroup is the group's process group, for job control.
	processGroup *ProcessGroup
	// terminationSignal is sent to the parent when the group exits (CSIGNAL of
	// clone; SIGCHLD for fork).
	terminationSignal int
	// zombie is set once every task has exited and the group waits to be reaped.
	zombie bool
	// childEvents is closed and replaced when a child changes state, waking
	// waiters in wait4/waitid.
	childEvents chan struct{}
	// taskExited is closed and replaced when a task of the group exits.
	taskExited chan struct{}
	// exitedCh, made on demand by Exited, is closed when the group becomes a
	// zombie.
	exitedCh chan struct{}
	// subreaper is PR_SET_CHILD_SUBREAPER.
	subreaper bool
	// execed is set once a task of the group called execve: its parent may no
	// longer change its process group (setpgid fails with EACCES).
	execed bool

	// exitedUsage is what the tasks that left the group used; childUsage is
	// what the children it reaped with wait used, with their own (Linux's
	// signal_struct times, and cutime, cstime and cmaxrss).
	exitedUsage Usage
	childUsage  Usage

	// dumpable is PR_SET_DUMPABLE's value (SuidDumpDisable or SuidDumpUser).
	// Linux keeps it in the mm; every task of a group shares one. Forked
	// children inherit it, execve sets it again, and changing credentials
	// clears it.
	dumpable atomic.Int32
	timers   atomic.Pointer[processTimers] // interval and POSIX timers (timers.go)

	// limitsMu guards limits. Lock order: after signalHandlers.mu.
	limitsMu sync.Mutex
	limits   [linux.RLIM_NLIMITS]linux.Rlimit
}

// Leader returns the group's leader.
func (tg *ThreadGroup) Leader() *Task {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	return tg.leader
}

// ID returns the group's PID in the root PID namespace.
func (tg *ThreadGroup) ID() ThreadID { return tg.ts.root.IDOfThreadGroup(tg) }

// notifyChildEvent wakes the tasks of tg waiting for a child to change state.
//
// Preconditions: tg.ts.mu is locked for writing.
func (tg *ThreadGroup) notifyChildEvent() {
	close(tg.childEvents)
	tg.childEvents = make(chan struct{})
}

// Limit returns the group's resource limit for resource.
func (tg *ThreadGroup) Limit(resource int) linux.Rlimit {
	tg.limitsMu.Lock()
	defer tg.limitsMu.Unlock()
	return tg.limits[resource]
}

// SetLimit sets a resource limit, returning the old one. Raising the hard limit
// needs CAP_SYS_RESOURCE, which the caller checks.
func (tg *ThreadGroup) SetLimit(resource int, l linux.Rlimit) (linux.Rlimit, error) {
	if l.Cur > l.Max {
		return linux.Rlimit{}, linux.EINVAL
	}
	tg.limitsMu.Lock()
	defer tg.limitsMu.Unlock()
	old := tg.limits[resource]
	tg.limits[resource] = l
	return old, nil
}

// defaultLimits are the limits of the sandbox's first process, as a Linux init gets.
func defaultLimits() [linux.RLIM_NLIMITS]linux.Rlimit {
	inf := linux.Rlimit{Cur: linux.RLIM_INFINITY, Max: linux.RLIM_INFINITY}
	var l [linux.RLIM_NLIMITS]linux.Rlimit
	for i := range l {
		l[i] = inf
	}
	l[linux.RLIMIT_CORE] = linux.Rlimit{Cur: 0, Max: linux.RLIM_INFINITY}
	l[linux.RLIMIT_STACK] = linux.Rlimit{Cur: 8 << 20, Max: linux.RLIM_INFINITY}
	l[linux.RLIMIT_NOFILE] = linux.Rlimit{Cur: 1024, Max: 1048576}
	l[linux.RLIMIT_MEMLOCK] = linux.Rlimit{Cur: 8 << 20, Max: 8 << 20}
	l[linux.RLIMIT_MSGQUEUE] = linux.Rlimit{Cur: 819200, Max: 819200}
	l[linux.RLIMIT_NPROC] = linux.Rlimit{Cur: 63936, Max: 63936}
	l[linux.RLIMIT_SIGPENDING] = linux.Rlimit{Cur: 63936, Max: 63936}
	l[linux.RLIMIT_NICE] = linux.Rlimit{}
	l[linux.RLIMIT_RTPRIO] = linux.Rlimit{}
	return l
}

// Values of PR_GET_DUMPABLE, from include/linux/sched/coredump.h.
const (
	SuidDumpDisable = 0
	SuidDumpUser    = 1
)

// Dumpable returns PR_GET_DUMPABLE's value.
func (tg *ThreadGroup) Dumpable() int32 { return tg.dumpable.Load() }

// SetDumpable sets PR_SET_DUMPABLE's value.
func (tg *ThreadGroup) SetDumpable(v int32) { tg.dumpable.Store(v) }
