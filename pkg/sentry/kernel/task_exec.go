package kernel

import (
	"path"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/loader"
	"visor.dev/visor/pkg/sentry/mm"
)

// loadImage loads filename into a new address space for t.
func (t *Task) loadImage(filename string, argv, envv []string) (*mm.MemoryManager, *loader.Image, error) {
	m := mm.NewMemoryManager(t.k.platform, t.k.mf)
	l := m.Layout()
	c := t.Credentials()
	ns := c.UserNamespace
	img, err := loader.Load(loader.Args{
		MM:       m,
		Opener:   t.executableOpener(),
		Filename: filename,
		Argv:     argv,
		Envv:     envv,
		Layout: loader.Layout{
			MinAddr:    l.MinAddr,
			MaxAddr:    l.MaxAddr,
			MmapBase:   l.MmapBase,
			StackTop:   l.StackTop,
			StackLimit: t.tg.Limit(linux.RLIMIT_STACK).Cur,
		},
		Creds: loader.Credentials{
			UID:  uint32(ns.MapFromKUID(c.RealKUID)),
			EUID: uint32(ns.MapFromKUID(c.EffectiveKUID)),
			GID:  uint32(ns.MapFromKGID(c.RealKGID)),
			EGID: uint32(ns.MapFromKGID(c.EffectiveKGID)),
		},
	})
	if err != nil {
		m.DecUsers()
		return nil, nil, err
	}
	m.SetExecutable(img.Executable.Name())
	m.SetArgv(mm.AddrRange{Start: img.ArgvStart, End: img.ArgvEnd})
	m.SetEnvv(mm.AddrRange{Start: img.EnvvStart, End: img.EnvvEnd})
	auxv := make([]mm.AuxEntry, len(img.Auxv))
	for i, e := range img.Auxv {
		auxv[i] = mm.AuxEntry{Key: e.Key, Value: e.Value}
	}
	m.SetAuxv(auxv)
	return m, img, nil
}

// initialRegisters returns the registers a new program starts with.
func initialRegisters(img *loader.Image, cs, ss uint64) arch.Context64 {
	var ac arch.Context64
	r := &ac.Regs
	r.Rip = uint64(img.Entry)
	r.Rsp = uint64(img.StackPointer)
	r.Cs, r.Ss = cs, ss
	r.Eflags = 0x202 // interrupts enabled, the reserved bit
	r.Orig_rax = ^uint64(0)
	return ac
}

// Exec replaces t's program (execve): it loads filename, then, past the point
// of no return, kills t's other threads, and gives t the new address space,
// default signal handlers and a file table without close-on-exec descriptors.
//
// Preconditions: called by the task goroutine.
func (t *Task) Exec(filename string, argv, envv []string) error {
	newMM, img, err := t.loadImage(filename, argv, envv)
	if err != nil {
		return err
	}
	if err := t.deThread(); err != nil {
		newMM.DecUsers()
		return err
	}

	ts := t.k.tasks
	ts.mu.Lock()
	// resetForExec takes the old table's lock itself; the new table is only
	// reachable once published under ts.mu.
	t.tg.signalHandlers = t.tg.signalHandlers.resetForExec()
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	t.signalStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	sh.mu.Unlock()
	t.tg.execed = true
	// A new program is dumpable again (Visor runs no set-user-ID programs).
	t.tg.SetDumpable(SuidDumpUser)
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	ts.mu.Unlock()

	// Others read image.mm under t.mu (/proc); the task goroutine owns writes.
	t.mu.Lock()
	old := t.image.mm
	t.image.mm = newMM
	t.mu.Unlock()
	old.DecUsers()

	// A file table shared with another process is unshared first, so close-on-exec
	// does not reach into it.
	t.mu.Lock()
	fdt := t.fdTable
	if fdt.refs.Load() > 1 {
		t.fdTable = fdt.Fork()
		fdt.DecRef()
	}
	fdt = t.fdTable
	t.mu.Unlock()
	fdt.RemoveCloseOnExec()

	t.SetName(path.Base(filename))
	t.clearChildTID = 0
	t.robustList = 0
	t.arch = initialRegisters(img, t.arch.Regs.Cs, t.arch.Regs.Ss)
	return nil
}

// deThread kills every other task of t's process and waits for them to exit, as
// execve does; if t is not the leader, it takes over the leader's PID.
//
// Preconditions: called by the task goroutine.
func (t *Task) deThread() error {
	ts := t.k.tasks
	tg := t.tg
	for {
		ts.mu.Lock()
		sh := tg.signalHandlers
		sh.mu.Lock()
		if tg.exiting || t.killed {
			sh.mu.Unlock()
			ts.mu.Unlock()
			return ErrInterrupted
		}
		others := 0
		for task := range tg.tasks {
			if task == t || task.exitState != TaskExitNone {
				continue
			}
			others++
			task.killed = true
			task.interrupt()
		}
		sh.mu.Unlock()
		if others == 0 {
			if leader := tg.leader; leader != t {
				// Take over the leader's identity: its PID and its place as the
				// process's thread.
				ns := ts.root
				leaderTID := ns.tids[leader]
				myTID := ns.tids[t]
				delete(ns.tasks, myTID)
				delete(ns.tids, leader)
				delete(tg.tasks, leader)
				leader.exitState = TaskExitDead
				ns.tasks[leaderTID] = t
				ns.tids[t] = leaderTID
				tg.leader = t
			}
			ts.mu.Unlock()
			return nil
		}
		ch := tg.taskExited
		ts.mu.Unlock()
		// Only a fatal signal ends the wait early, and the loop's check sees it.
		t.Block(ch)
	}
}
