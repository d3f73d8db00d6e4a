package kernel

import (
	"time"

	"visor.dev/visor/pkg/abi/linux"
)

// SendSignal queues a signal for t alone (tkill, tgkill, faults).
func (t *Task) SendSignal(info *linux.SignalInfo) error {
	t.k.tasks.mu.RLock()
	defer t.k.tasks.mu.RUnlock()
	return t.sendSignalLocked(info, false)
}

// SendGroupSignal queues a signal for t's whole process (kill).
func (tg *ThreadGroup) SendSignal(info *linux.SignalInfo) error {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	if tg.leader == nil {
		return linux.ESRCH
	}
	return tg.leader.sendSignalLocked(info, true)
}

// sendSignalLocked queues a signal for t, or for its thread group when group is set.
//
// Preconditions: ts.mu is locked.
func (t *Task) sendSignalLocked(info *linux.SignalInfo, group bool) error {
	sig := int(info.Signo)
	if sig == 0 {
		return nil // kill(pid, 0) only checks that the target exists
	}
	if !validSignal(sig) {
		return linux.EINVAL
	}
	if t.exitState != TaskExitNone && !group {
		return linux.ESRCH
	}
	tg := t.tg
	sh := tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()

	if tg.exiting {
		return nil
	}
	// Stop and continue signals act when they are sent, not when delivered.
	switch {
	case sig == linux.SIGCONT:
		tg.pendingSignals.discard(stopSignals)
		for task := range tg.tasks {
			task.pendingSignals.discard(stopSignals)
		}
		tg.continueLocked()
	case isStopSignal(sig):
		tg.pendingSignals.discard(linux.SignalSetOf(linux.SIGCONT))
		for task := range tg.tasks {
			task.pendingSignals.discard(linux.SignalSetOf(linux.SIGCONT))
		}
	}
	if sig == linux.SIGKILL {
		// SIGKILL is never blocked, caught or ignored: kill the group now.
		tg.exitLocked(linux.WaitStatusSignal(linux.SIGKILL, false))
		return nil
	}
	// A signal that would be ignored is discarded at once, unless the target
	// blocks it: the handler may change before it is unblocked, or sigtimedwait
	// may take it. For a process, the target is its leader, as in Linux's kill.
	if t.discardsSignalLocked(sig) {
		return nil
	}
	if group {
		if !tg.pendingSignals.enqueue(info) {
			return nil
		}
		// Wake a task that can take it.
		for task := range tg.tasks {
			if task.signalMask&linux.SignalSetOf(sig) == 0 {
				task.interrupt()
				break
			}
		}
		return nil
	}
	if t.pendingSignals.enqueue(info) && t.signalMask&linux.SignalSetOf(sig) == 0 {
		t.interrupt()
	}
	return nil
}

// discardsSignalLocked reports whether sig sent to t would be dropped at once: it
// would be ignored, and t does not block it (nor wait for it in sigtimedwait), as
// Linux's sig_ignored.
//
// Preconditions: signalHandlers.mu is locked.
func (t *Task) discardsSignalLocked(sig int) bool {
	if (t.signalMask|t.realSignalMask)&linux.SignalSetOf(sig) != 0 {
		return false
	}
	return t.signalIgnoredLocked(sig)
}

// signalIgnoredLocked reports whether delivering sig would do nothing.
//
// Preconditions: signalHandlers.mu is locked.
func (t *Task) signalIgnoredLocked(sig int) bool {
	a := t.tg.signalHandlers.actions[sig]
	switch a.Handler {
	case linux.SIG_IGN:
		return sig != linux.SIGKILL && sig != linux.SIGSTOP
	case linux.SIG_DFL:
		return defaultAction(sig) == sigIgnore
	}
	return false
}

// forceSignal delivers a synchronous signal the task caused (a fault): if the task
// blocks or ignores it, it gets the default action, as Linux's force_sig_info.
func (t *Task) forceSignal(info *linux.SignalInfo) {
	sig := int(info.Signo)
	t.k.tasks.mu.RLock()
	defer t.k.tasks.mu.RUnlock()
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	blocked := t.signalMask&linux.SignalSetOf(sig) != 0
	if blocked || sh.actions[sig].Handler == linux.SIG_IGN {
		sh.actions[sig].Handler = linux.SIG_DFL
	}
	t.signalMask &^= linux.SignalSetOf(sig)
	t.pendingSignals.enqueue(info)
	sh.mu.Unlock()
}

// continueLocked ends a group stop (SIGCONT).
//
// Preconditions: ts.mu and signalHandlers.mu are locked.
func (tg *ThreadGroup) continueLocked() {
	if tg.groupStopSignal == 0 && !tg.groupStopped {
		return
	}
	wasStopped := tg.groupStopped
	tg.groupStopSignal = 0
	tg.groupStopped = false
	tg.groupStopWaitable = false
	for task := range tg.tasks {
		task.stopped = false
		task.interrupt()
	}
	if wasStopped {
		tg.groupContinued = true
		tg.notifyParentLocked(linux.CLD_CONTINUED, linux.SIGCONT)
	}
}

// notifyParentLocked tells tg's parent of a stop or continue: it wakes waiters and
// sends SIGCHLD unless the parent asked not to hear of stops (SA_NOCLDSTOP).
//
// Preconditions: ts.mu is locked; tg.signalHandlers.mu is locked.
func (tg *ThreadGroup) notifyParentLocked(code int32, status int) {
	parent := tg.parent
	if parent == nil || parent.leader == nil {
		return
	}
	// Waking waiters needs ts.mu for writing, which the caller may hold only for
	// reading; close the channel from a fresh goroutine that takes it.
	go func() {
		tg.ts.mu.Lock()
		parent.notifyChildEvent()
		tg.ts.mu.Unlock()
	}()
	psh := parent.signalHandlers
	if psh != tg.signalHandlers {
		psh.mu.Lock()
		defer psh.mu.Unlock()
	}
	if psh.actions[linux.SIGCHLD].Flags&linux.SA_NOCLDSTOP != 0 {
		return
	}
	info := &linux.SignalInfo{Signo: linux.SIGCHLD, Code: code}
	info.SetPID(int32(tg.ts.root.tgids[tg]))
	info.SetStatus(int32(status))
	if !parent.pendingSignals.enqueue(info) {
		return
	}
	for task := range parent.tasks {
		if task.signalMask&linux.SignalSetOf(linux.SIGCHLD) == 0 {
			task.interrupt()
			break
		}
	}
}

// exitLocked starts the exit of the whole group with status: every task is killed.
//
// Preconditions: signalHandlers.mu is locked; ts.mu is locked.
func (tg *ThreadGroup) exitLocked(status linux.WaitStatus) {
	if tg.exiting {
		return
	}
	tg.exiting = true
	tg.exitStatus = status
	tg.groupStopSignal = 0
	tg.groupStopped = false
	for task := range tg.tasks {
		task.killed = true
		task.stopped = false
		task.interrupt()
	}
}

// killGroup kills t's whole process with status.
func (t *Task) killGroup(status linux.WaitStatus) {
	t.k.tasks.mu.RLock()
	defer t.k.tasks.mu.RUnlock()
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.tg.exitLocked(status)
}

// deliverSignal takes one pending signal that t does not block and acts on it: runs
// its handler (by building a signal frame), or its default action. It also parks
// the task while its group is stopped, and settles a syscall interrupted with a
// restart errno. It reports whether it did anything the caller must re-check.
func (t *Task) deliverSignal() bool {
	t.k.tasks.mu.RLock()
	sh := t.tg.signalHandlers
	sh.mu.Lock()

	if t.killed {
		sh.mu.Unlock()
		t.k.tasks.mu.RUnlock()
		return true
	}
	if t.tg.groupStopSignal != 0 {
		stopped := t.participateInGroupStopLocked()
		sh.mu.Unlock()
		t.k.tasks.mu.RUnlock()
		t.Block(stopped)
		return true
	}

	info := t.pendingSignals.dequeue(t.signalMask)
	if info == nil {
		info = t.tg.pendingSignals.dequeue(t.signalMask)
	}
	if info == nil {
		t.settleRestartLocked(false, 0)
		if t.haveSavedSignalMask {
			t.signalMask = t.savedSignalMask
			t.haveSavedSignalMask = false
		}
		sh.mu.Unlock()
		t.k.tasks.mu.RUnlock()
		return false
	}

	sig := int(info.Signo)
	act := sh.actions[sig]
	switch act.Handler {
	case linux.SIG_IGN:
		t.settleRestartLocked(false, 0)
	case linux.SIG_DFL:
		switch defaultAction(sig) {
		case sigIgnore, sigContinue:
			t.settleRestartLocked(false, 0)
		case sigStop:
			t.settleRestartLocked(false, 0)
			t.tg.groupStopSignal = sig
			for task := range t.tg.tasks {
				task.interrupt()
			}
		case sigTerminate:
			t.tg.exitLocked(linux.WaitStatusSignal(sig, false))
		case sigCoreDump:
			// Visor writes no core files; the status says one was not dumped,
			// as Linux reports with RLIMIT_CORE 0.
			t.tg.exitLocked(linux.WaitStatusSignal(sig, false))
		}
	default:
		t.settleRestartLocked(true, act.Flags)
		oldMask := t.signalMask
		if t.haveSavedSignalMask {
			oldMask = t.savedSignalMask
			t.haveSavedSignalMask = false
		}
		if err := t.setupSignalFrameLocked(info, &act, oldMask); err != nil {
			// No room for the frame: Linux kills the task with SIGSEGV.
			sh.actions[linux.SIGSEGV].Handler = linux.SIG_DFL
			t.tg.exitLocked(linux.WaitStatusSignal(linux.SIGSEGV, false))
			break
		}
		mask := t.signalMask | act.Mask
		if act.Flags&linux.SA_NODEFER == 0 {
			mask |= linux.SignalSetOf(sig)
		}
		t.signalMask = mask &^ linux.UnblockableSignals
		if act.Flags&linux.SA_RESETHAND != 0 {
			sh.actions[sig] = linux.SigAction{}
		}
	}
	sh.mu.Unlock()
	t.k.tasks.mu.RUnlock()
	return true
}

// settleRestartLocked decides what a system call that returned a restart errno
// returns: it is restarted unless a handler runs that forbids it, in which case
// it fails with EINTR.
//
// Preconditions: called by the task goroutine, right after a syscall returned (the
// registers hold its result) or between syscalls.
func (t *Task) settleRestartLocked(handler bool, flags uint64) {
	r := &t.arch.Regs
	if r.Orig_rax == ^uint64(0) {
		return // not in a syscall
	}
	errno := linux.Errno(-int64(r.Rax))
	restart := false
	switch errno {
	case ERESTARTNOINTR:
		restart = true
	case ERESTARTSYS:
		restart = !handler || flags&linux.SA_RESTART != 0
	case ERESTARTNOHAND, ERESTART_RESTARTBLOCK:
		restart = !handler
	default:
		return
	}
	if !restart {
		r.Rax = negErrno(linux.EINTR)
		return
	}
	// Back up over the 2-byte syscall instruction so it runs again.
	r.Rip -= 2
	if errno == ERESTART_RESTARTBLOCK {
		r.Rax = sysRestartSyscall
	} else {
		r.Rax = r.Orig_rax
	}
	// Don't settle the same syscall twice.
	r.Orig_rax = ^uint64(0)
}

// sysRestartSyscall is restart_syscall(2)'s number on amd64.
const sysRestartSyscall = 219

// participateInGroupStopLocked marks t stopped and returns a channel that is
// readable once the stop ends. The last task to stop reports it to the parent.
//
// Preconditions: ts.mu and signalHandlers.mu are locked.
func (t *Task) participateInGroupStopLocked() <-chan struct{} {
	tg := t.tg
	if !t.stopped {
		t.stopped = true
		all := true
		for task := range tg.tasks {
			all = all && (task.stopped || task.exitState != TaskExitNone)
		}
		if all && !tg.groupStopped {
			tg.groupStopped = true
			tg.groupStopWaitable = true
			tg.notifyParentLocked(linux.CLD_STOPPED, tg.groupStopSignal)
		}
	}
	// The interrupt channel doubles as the wake-up: SIGCONT and SIGKILL interrupt
	// every task of the group. A closed channel would make Block return at once.
	return nil
}

// SignalMask returns t's blocked signals.
func (t *Task) SignalMask() linux.SignalSet {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return t.signalMask
}

// SetSignalMask sets t's blocked signals (SIGKILL and SIGSTOP can't be blocked).
func (t *Task) SetSignalMask(mask linux.SignalSet) {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.setSignalMaskLocked(mask)
}

// setSignalMaskLocked sets the mask and wakes t if that unblocked a pending signal.
//
// Preconditions: signalHandlers.mu is locked.
func (t *Task) setSignalMaskLocked(mask linux.SignalSet) {
	old := t.signalMask
	t.signalMask = mask &^ linux.UnblockableSignals
	unblocked := old &^ t.signalMask
	if unblocked&(t.pendingSignals.set|t.tg.pendingSignals.set) != 0 {
		t.interrupt()
	}
}

// SetSavedSignalMask makes mask t's blocked signals until the next signal is
// delivered or the current syscall returns, then restores the current mask
// (sigsuspend, ppoll, pselect6, epoll_pwait).
func (t *Task) SetSavedSignalMask(mask linux.SignalSet) {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.savedSignalMask = t.signalMask
	t.haveSavedSignalMask = true
	t.setSignalMaskLocked(mask)
}

// PendingSignals returns the signals pending for t or its process.
func (t *Task) PendingSignals() linux.SignalSet {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return t.pendingSignals.set | t.tg.pendingSignals.set
}

// SigAction sets the action of sig (if act is non-nil) and returns the old one.
func (t *Task) SigAction(sig int, act *linux.SigAction) (linux.SigAction, error) {
	if !validSignal(sig) {
		return linux.SigAction{}, linux.EINVAL
	}
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := sh.actions[sig]
	if act != nil {
		if sig == linux.SIGKILL || sig == linux.SIGSTOP {
			return linux.SigAction{}, linux.EINVAL
		}
		a := *act
		a.Mask &^= linux.UnblockableSignals
		sh.actions[sig] = a
		// Setting a signal to be ignored discards it where pending (POSIX).
		if t.signalIgnoredLocked(sig) {
			set := linux.SignalSetOf(sig)
			t.tg.pendingSignals.discard(set)
			for task := range t.tg.tasks {
				task.pendingSignals.discard(set)
			}
		}
	}
	return old, nil
}

// WaitForSignal implements sigtimedwait: it removes and returns a pending signal
// in set, waiting for one at most timeout (forever if negative). It fails with
// EAGAIN when the time runs out and EINTR when another signal interrupts it.
//
// The signals of set are normally blocked by the caller, so sending one would
// wake no task. While t waits they are unblocked (the old mask is kept in
// realSignalMask, as Linux's real_blocked), which makes senders pick and wake t;
// t takes the signal before returning to application code, so no handler runs.
//
// Preconditions: called by the task goroutine.
func (t *Task) WaitForSignal(set linux.SignalSet, timeout time.Duration) (*linux.SignalInfo, error) {
	set &^= linux.UnblockableSignals
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	sh := t.tg.signalHandlers
	for {
		sh.mu.Lock()
		if info := t.dequeueSignalLocked(set); info != nil {
			sh.mu.Unlock()
			return info, nil
		}
		if t.killed || t.tg.groupStopSignal != 0 ||
			(t.pendingSignals.set|t.tg.pendingSignals.set)&^t.signalMask != 0 {
			// t must exit or stop, or a signal it does not block is pending:
			// that interrupts the wait (Linux's sigtimedwait gives EINTR
			// after a stop, too).
			sh.mu.Unlock()
			return nil, linux.EINTR
		}
		left := time.Duration(-1)
		if timeout >= 0 {
			if left = time.Until(deadline); left <= 0 {
				sh.mu.Unlock()
				return nil, linux.EAGAIN
			}
		}
		t.realSignalMask = t.signalMask
		t.signalMask &^= set
		sh.mu.Unlock()

		var err error
		if left >= 0 {
			_, err = t.BlockWithTimeout(nil, left)
		} else {
			err = t.Block(nil)
		}

		sh.mu.Lock()
		t.signalMask = t.realSignalMask
		t.realSignalMask = 0
		sh.mu.Unlock()
		if err == linux.ETIMEDOUT {
			// One last look: a signal may have come with the deadline.
			sh.mu.Lock()
			info := t.dequeueSignalLocked(set)
			sh.mu.Unlock()
			if info != nil {
				return info, nil
			}
			return nil, linux.EAGAIN
		}
	}
}

// dequeueSignalLocked removes and returns a signal of set pending for t or its
// process, or nil.
//
// Preconditions: signalHandlers.mu is locked.
func (t *Task) dequeueSignalLocked(set linux.SignalSet) *linux.SignalInfo {
	if info := t.pendingSignals.dequeue(^set); info != nil {
		return info
	}
	return t.tg.pendingSignals.dequeue(^set)
}

// SignalStack returns t's alternate signal stack.
func (t *Task) SignalStack() linux.SignalStack {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := t.signalStack
	if s.Flags&linux.SS_DISABLE == 0 && t.onSignalStackLocked() {
		s.Flags |= linux.SS_ONSTACK
	}
	return s
}

// SetSignalStack sets t's alternate signal stack; it fails with EPERM while t runs
// on the current one.
func (t *Task) SetSignalStack(s linux.SignalStack) error {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if t.onSignalStackLocked() {
		return linux.EPERM
	}
	t.signalStack = s
	return nil
}

// onSignalStackLocked reports whether t's stack pointer is on its alternate stack.
func (t *Task) onSignalStackLocked() bool {
	s := t.signalStack
	if s.Flags&linux.SS_DISABLE != 0 || s.Size == 0 {
		return false
	}
	sp := t.arch.Regs.Rsp
	return sp > s.Addr && sp-s.Addr <= s.Size
}

// negErrno returns -errno as a register value.
func negErrno(errno linux.Errno) uint64 { return uint64(-int64(errno)) }
