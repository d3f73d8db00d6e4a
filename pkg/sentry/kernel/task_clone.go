package kernel

import (
	"encoding/binary"
	"time"

	"visor.dev/visor/pkg/abi/linux"
)

// CloneOptions are clone(2)'s arguments, decoded.
type CloneOptions struct {
	Flags uint64
	// ExitSignal is sent to the parent when the child exits (the CSIGNAL bits).
	ExitSignal int
	// Stack is the child's stack pointer; 0 keeps the parent's.
	Stack uint64
	// TLS is the child's FS base with CLONE_SETTLS.
	TLS uint64
	// ParentTID and ChildTID are where CLONE_PARENT_SETTID, CLONE_CHILD_SETTID and
	// CLONE_CHILD_CLEARTID write or clear the child's TID.
	ParentTID, ChildTID uintptr
}

// unsupportedCloneFlags are namespace and other flags Visor does not implement yet.
const unsupportedCloneFlags = linux.CLONE_NEWNS | linux.CLONE_NEWCGROUP | linux.CLONE_NEWUTS |
	linux.CLONE_NEWIPC | linux.CLONE_NEWUSER | linux.CLONE_NEWPID | linux.CLONE_NEWNET |
	linux.CLONE_PIDFD

// Clone creates a new task as clone(2) does and starts it; it returns the child's
// TID in t's PID namespace.
//
// Preconditions: called by the task goroutine.
func (t *Task) Clone(opts *CloneOptions) (ThreadID, error) {
	f := opts.Flags
	// The flag combinations Linux rejects.
	switch {
	case f&linux.CLONE_SIGHAND != 0 && f&linux.CLONE_VM == 0,
		f&linux.CLONE_THREAD != 0 && f&linux.CLONE_SIGHAND == 0,
		f&linux.CLONE_FS != 0 && f&linux.CLONE_NEWNS != 0:
		return 0, linux.EINVAL
	}
	if f&unsupportedCloneFlags != 0 {
		return 0, linux.EINVAL
	}
	if opts.ExitSignal != 0 && !validSignal(opts.ExitSignal) {
		return 0, linux.EINVAL
	}

	// The child's address space.
	var image taskImage
	if f&linux.CLONE_VM != 0 {
		t.image.mm.IncUsers()
		image.mm = t.image.mm
	} else {
		m, err := t.image.mm.Fork()
		if err != nil {
			return 0, err
		}
		image.mm = m
	}
	fail := func(err error) (ThreadID, error) {
		image.mm.DecUsers()
		return 0, err
	}

	fdt := t.FDTable()
	if f&linux.CLONE_FILES != 0 {
		fdt.IncRef()
	} else {
		fdt = fdt.Fork()
	}
	fs := t.FSContext()
	if f&linux.CLONE_FS != 0 {
		fs.IncRef()
	} else {
		fs = fs.Fork()
	}

	pctx, err := t.k.platform.NewContext()
	if err != nil {
		fdt.DecRef()
		fs.DecRef()
		return fail(err)
	}

	child := &Task{
		k:           t.k,
		arch:        t.arch,
		pctx:        pctx,
		image:       image,
		interruptCh: make(chan struct{}, 1),
		fdTable:     fdt,
		fs:          fs,
		name:        t.Name(),
		startTime:   time.Now(),
		// The child runs where its parent may, with its nice value.
		affinity: t.Affinity(),
		cpu:      t.CPU(),
		nice:     t.Nice(),
	}
	child.creds.Store(t.Credentials())
	child.noNewPrivs.Store(t.NoNewPrivs())
	// The child returns 0 from clone, on its own stack and TLS if given.
	child.arch.Regs.Rax = 0
	if opts.Stack != 0 {
		child.arch.Regs.Rsp = opts.Stack
	}
	if f&linux.CLONE_SETTLS != 0 {
		child.arch.Regs.Fs_base = opts.TLS
	}
	if f&linux.CLONE_CHILD_CLEARTID != 0 {
		child.clearChildTID = opts.ChildTID
	}

	ts := t.k.tasks
	ts.mu.Lock()
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	// A process that is exiting makes no new tasks.
	exiting := t.tg.exiting || t.killed
	mask := t.signalMask
	altStack := t.signalStack
	sh.mu.Unlock()
	if exiting {
		ts.mu.Unlock()
		pctx.Release()
		fdt.DecRef()
		fs.DecRef()
		return fail(linux.EINTR)
	}
	tid, err := ts.root.allocateTID()
	if err != nil {
		ts.mu.Unlock()
		pctx.Release()
		fdt.DecRef()
		fs.DecRef()
		return fail(err)
	}
	child.signalMask = mask
	// A thread sharing the address space with its creator must not use the
	// creator's alternate stack, so it starts without one; a forked child (or a
	// vfork child, which borrows the stack while the parent waits) keeps it, as
	// in Linux's copy_process.
	if f&(linux.CLONE_VM|linux.CLONE_VFORK) == linux.CLONE_VM {
		altStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	}
	child.signalStack = altStack

	if f&linux.CLONE_THREAD != 0 {
		child.tg = t.tg
	} else {
		handlers := t.tg.signalHandlers
		if f&linux.CLONE_SIGHAND == 0 {
			handlers = handlers.fork()
		}
		parent := t.tg
		if f&linux.CLONE_PARENT != 0 && t.tg.parent != nil {
			parent = t.tg.parent
		}
		child.tg = &ThreadGroup{
			ts:                ts,
			signalHandlers:    handlers,
			leader:            child,
			tasks:             make(map[*Task]struct{}),
			parent:            parent,
			children:          make(map[*ThreadGroup]struct{}),
			processGroup:      t.tg.processGroup,
			terminationSignal: opts.ExitSignal,
			childEvents:       make(chan struct{}),
			taskExited:        make(chan struct{}),
			limits:            t.tg.limitsCopy(),
		}
		child.tg.dumpable.Store(t.tg.Dumpable())
		parent.children[child.tg] = struct{}{}
		if pg := child.tg.processGroup; pg != nil {
			pg.members[child.tg] = struct{}{}
		}
		ts.root.tgids[child.tg] = tid
	}
	child.tg.tasks[child] = struct{}{}
	child.tg.liveTasks++
	ts.root.tasks[tid] = child
	ts.root.tids[child] = tid
	var vforkDone chan struct{}
	if f&linux.CLONE_VFORK != 0 {
		vforkDone = make(chan struct{})
		child.vforkDone = vforkDone
	}
	ts.mu.Unlock()

	var tidBytes [4]byte
	binary.LittleEndian.PutUint32(tidBytes[:], uint32(tid))
	if f&linux.CLONE_CHILD_SETTID != 0 {
		child.image.mm.CopyOut(opts.ChildTID, tidBytes[:])
	}
	if f&linux.CLONE_PARENT_SETTID != 0 {
		t.image.mm.CopyOut(opts.ParentTID, tidBytes[:])
	}

	child.Start()

	if vforkDone != nil {
		// The parent sleeps until the child execs or exits; signals don't end
		// the wait early, as in Linux the parent is not interruptible here
		// except by SIGKILL, which also reaches the child's exit.
		<-vforkDone
	}
	return tid, nil
}

// limitsCopy returns tg's resource limits.
func (tg *ThreadGroup) limitsCopy() [linux.RLIM_NLIMITS]linux.Rlimit {
	tg.limitsMu.Lock()
	defer tg.limitsMu.Unlock()
	return tg.limits
}
