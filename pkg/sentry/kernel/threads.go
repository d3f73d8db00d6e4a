package kernel

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
)

// ThreadID is a thread or process ID as a PID namespace numbers it.
type ThreadID int32

// maxThreadID is the largest ID a PID namespace hands out (Linux's default pid_max).
const maxThreadID = 4194304

// TaskSet is every task of a kernel, and the lock that guards the task tree.
type TaskSet struct {
	// mu guards the task tree: parent and child links, thread group membership,
	// PID namespace maps, exit states and the process group/session structure.
	//
	// Lock order: TaskSet.mu < signalHandlers.mu < Task.mu.
	mu sync.RWMutex

	// root is the PID namespace of the sandbox: its first task is PID 1.
	root *PIDNamespace

	// liveGoroutines counts task goroutines that have not returned.
	liveGoroutines sync.WaitGroup

	// reapedUsage is what the thread groups reaped so far used, so that the
	// sandbox's total usage (Kernel.Usage) keeps it. Guarded by mu.
	reapedUsage Usage
}

func newTaskSet() *TaskSet {
	ts := &TaskSet{}
	ts.root = &PIDNamespace{
		owner: ts,
		last:  0,
		tasks: make(map[ThreadID]*Task),
		tids:  make(map[*Task]ThreadID),
		tgids: make(map[*ThreadGroup]ThreadID),
	}
	return ts
}

// PIDNamespace numbers the tasks and thread groups it contains.
type PIDNamespace struct {
	owner *TaskSet

	// The following fields are guarded by owner.mu.
	last  ThreadID
	tasks map[ThreadID]*Task
	tids  map[*Task]ThreadID
	tgids map[*ThreadGroup]ThreadID
	// processGroups and sessions by ID, for kill(-pgid) and setpgid.
	processGroups map[ThreadID]*ProcessGroup
	sessions      map[ThreadID]*Session
}

// allocateTID returns a free ID.
//
// Preconditions: ns.owner.mu is locked for writing.
func (ns *PIDNamespace) allocateTID() (ThreadID, error) {
	for i := 0; i < maxThreadID; i++ {
		ns.last++
		if ns.last > maxThreadID {
			ns.last = 1
		}
		if _, used := ns.tasks[ns.last]; used {
			continue
		}
		if _, used := ns.processGroups[ns.last]; used {
			continue
		}
		if _, used := ns.sessions[ns.last]; used {
			continue
		}
		return ns.last, nil
	}
	return 0, linux.EAGAIN
}

// TaskWithID returns the task numbered tid, or nil.
func (ns *PIDNamespace) TaskWithID(tid ThreadID) *Task {
	ns.owner.mu.RLock()
	defer ns.owner.mu.RUnlock()
	return ns.tasks[tid]
}

// IDOfTask returns t's ID in ns, or 0 if t is not in ns.
func (ns *PIDNamespace) IDOfTask(t *Task) ThreadID {
	ns.owner.mu.RLock()
	defer ns.owner.mu.RUnlock()
	return ns.tids[t]
}

// IDOfThreadGroup returns tg's ID (its leader's) in ns, or 0.
func (ns *PIDNamespace) IDOfThreadGroup(tg *ThreadGroup) ThreadID {
	ns.owner.mu.RLock()
	defer ns.owner.mu.RUnlock()
	return ns.tgids[tg]
}

// ThreadGroups returns the thread groups in ns that have not been reaped, by ID.
func (ns *PIDNamespace) ThreadGroups() map[ThreadID]*ThreadGroup {
	ns.owner.mu.RLock()
	defer ns.owner.mu.RUnlock()
	tgs := make(map[ThreadID]*ThreadGroup, len(ns.tgids))
	for tg, id := range ns.tgids {
		tgs[id] = tg
	}
	return tgs
}

// ProcessGroup is a set of thread groups that job control treats as one.
type ProcessGroup struct {
	id      ThreadID
	session *Session
	// members is guarded by TaskSet.mu.
	members map[*ThreadGroup]struct{}
}

// Session is a set of process groups, with at most one controlling terminal.
type Session struct {
	id ThreadID
	// leader is the thread group that created the session.
	leader *ThreadGroup
}
