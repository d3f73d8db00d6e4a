package kernel

import (
	"sync"
	"sync/atomic"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/mm"
	"visor.dev/visor/pkg/sentry/platform"
)

// Task is one application thread as the Sentry sees it. Each task runs on its own
// goroutine (the task goroutine), locked to one OS thread, which alone touches the
// fields documented as owned by it.
type Task struct {
	k  *Kernel
	tg *ThreadGroup

	// Owned by the task goroutine.
	arch arch.Context64
	pctx platform.Context
	// image is what execve replaces.
	image taskImage
	// restart is set when a syscall is to be restarted by restart_syscall.
	restart func(t *Task) (uintptr, error)

	// interruptCh is signalled (non-blocking send) when the task must stop
	// blocking: a signal arrived, or it must exit.
	interruptCh chan struct{}

	// The following fields are guarded by ts.mu.
	exitState  TaskExitState
	exitStatus linux.WaitStatus
	// vforkParent is blocked in vfork until this task execs or exits.
	vforkDone chan struct{}

	// The following fields are guarded by tg.signalHandlers.mu.
	signalMask     linux.SignalSet
	pendingSignals pendingSignals
	// savedSignalMask is restored after a signal handler runs (or no signal is
	// delivered) for sigsuspend, ppoll and pselect.
	savedSignalMask     linux.SignalSet
	haveSavedSignalMask bool
	// realSignalMask is the mask to restore while sigtimedwait has unblocked
	// the signals it waits for; zero otherwise.
	realSignalMask linux.SignalSet
	signalStack    linux.SignalStack
	// killed is set when the task must exit without running more app code.
	killed bool
	// stopped is set while the task takes part in a group stop.
	stopped bool

	// mu guards the fields below that other tasks read.
	//
	// Lock order: after signalHandlers.mu.
	mu      sync.Mutex
	fdTable *FDTable
	fs      *FSContext
	name    string

	creds atomic.Pointer[auth.Credentials]

	// parentDeathSignal is PR_SET_PDEATHSIG; noNewPrivs is PR_SET_NO_NEW_PRIVS.
	parentDeathSignal atomic.Int32
	noNewPrivs        atomic.Bool

	// affinity is the CPUs t may run on, cpu the one it reports running on,
	// nice its nice value; guarded by mu.
	affinity CPUSet
	cpu      int32
	nice     int32

	// Owned by the task goroutine; read by others only for /proc.
	clearChildTID uintptr
	robustList    uintptr

	// Accounting, updated by the task goroutine.
	startTime time.Time
	userTime  atomic.Int64 // nanoseconds in application code
	// appSince is when t last entered application code, zero while it is in
	// the Sentry: the CPU clocks count a thread that spins in
	// application code without ever trapping. cpuMu (a leaf lock) makes
	// appSince and userTime change together, so the clocks never go back.
	cpuMu    sync.Mutex
	appSince time.Time
	sysTime  atomic.Int64 // nanoseconds in the Sentry
	// blockedNs is time spent blocked in the current syscall, which is not CPU
	// time; owned by the task goroutine.
	blockedNs int64
}

// taskImage is the part of a task that execve replaces.
type taskImage struct {
	mm *mm.MemoryManager
}

// TaskExitState is where a task is on its way out.
type TaskExitState int

const (
	// TaskExitNone: running.
	TaskExitNone TaskExitState = iota
	// TaskExitInitiated: exiting, releasing its resources.
	TaskExitInitiated
	// TaskExitZombie: exited, waiting to be reaped (thread group leaders only).
	TaskExitZombie
	// TaskExitDead: gone.
	TaskExitDead
)

// Kernel returns the kernel t belongs to.
func (t *Task) Kernel() *Kernel { return t.k }

// ThreadGroup returns t's process.
func (t *Task) ThreadGroup() *ThreadGroup { return t.tg }

// Arch returns t's registers. Only the task goroutine may use them.
func (t *Task) Arch() *arch.Context64 { return &t.arch }

// MemoryManager returns t's address space. Only the task goroutine may call it.
func (t *Task) MemoryManager() *mm.MemoryManager { return t.image.mm }

// Credentials returns t's credentials. They are immutable: changes make new ones.
func (t *Task) Credentials() *auth.Credentials { return t.creds.Load() }

// SetCredentials replaces t's credentials. As Linux's commit_creds, a change of
// the effective or filesystem IDs, or a gain of permitted capabilities, makes the
// process non-dumpable, so a less privileged identity can't inspect what a more
// privileged one left in memory.
func (t *Task) SetCredentials(c *auth.Credentials) {
	old := t.creds.Swap(c)
	if old.EffectiveKUID != c.EffectiveKUID || old.EffectiveKGID != c.EffectiveKGID ||
		old.FSKUID != c.FSKUID || old.FSKGID != c.FSKGID ||
		c.PermittedCaps&^old.PermittedCaps != 0 {
		t.tg.SetDumpable(SuidDumpDisable)
	}
}

// FDTable returns t's file descriptor table.
func (t *Task) FDTable() *FDTable {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fdTable
}

// FSContext returns t's root, working directory and umask.
func (t *Task) FSContext() *FSContext {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fs
}

// Name returns t's name (comm), as prctl(PR_GET_NAME) and /proc/[pid]/comm give it.
func (t *Task) Name() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.name
}

// SetName sets t's name, truncated as Linux truncates it.
func (t *Task) SetName(name string) {
	if len(name) > linux.TASK_COMM_LEN-1 {
		name = name[:linux.TASK_COMM_LEN-1]
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.name = name
}

// ThreadID returns t's ID in the sandbox's PID namespace.
func (t *Task) ThreadID() ThreadID { return t.k.tasks.root.IDOfTask(t) }

// ThreadGroupID returns t's process ID in the sandbox's PID namespace.
func (t *Task) ThreadGroupID() ThreadID { return t.k.tasks.root.IDOfThreadGroup(t.tg) }

// ParentThreadGroupID returns the PID of t's parent process, 0 for the first process.
func (t *Task) ParentThreadGroupID() ThreadID {
	ts := t.k.tasks
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	if t.tg.parent == nil {
		return 0
	}
	return ts.root.tgids[t.tg.parent]
}

// SetClearChildTID sets the address cleared and futex-woken when t exits.
func (t *Task) SetClearChildTID(addr uintptr) { t.clearChildTID = addr }

// SetRobustList sets t's robust futex list head.
func (t *Task) SetRobustList(addr uintptr) { t.robustList = addr }

// RobustList returns t's robust futex list head.
func (t *Task) RobustList() uintptr { return t.robustList }

// CPUTime returns the time t has spent in application code and in the Sentry.
func (t *Task) CPUTime() (user, sys time.Duration) {
	t.cpuMu.Lock()
	user = time.Duration(t.userTime.Load())
	if !t.appSince.IsZero() {
		user += time.Since(t.appSince)
	}
	t.cpuMu.Unlock()
	return user, time.Duration(t.sysTime.Load())
}

// StartTime returns when t was created.
func (t *Task) StartTime() time.Time { return t.startTime }
