package kernel

// NewTestTask returns a task of k that belongs to a process of its own but runs no
// code: for unit tests of system call handlers that touch only kernel state.
func NewTestTask(k *Kernel) *Task {
	t := &Task{k: k, interruptCh: make(chan struct{}, 1), affinity: allCPUs()}
	t.tg = &ThreadGroup{
		ts:             k.tasks,
		signalHandlers: &signalHandlers{},
		leader:         t,
		tasks:          map[*Task]struct{}{t: {}},
		children:       make(map[*ThreadGroup]struct{}),
		childEvents:    make(chan struct{}),
		taskExited:     make(chan struct{}),
		liveTasks:      1,
		limits:         defaultLimits(),
	}
	return t
}
