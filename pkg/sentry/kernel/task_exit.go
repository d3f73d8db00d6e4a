package kernel

import (
	"encoding/binary"

	"visor.dev/visor/pkg/abi/linux"
)

// Exit ends t alone with status (exit(2)): other threads of its process go on.
func (t *Task) Exit(status linux.WaitStatus) {
	t.k.tasks.mu.Lock()
	defer t.k.tasks.mu.Unlock()
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t.exitStatus = status
	t.killed = true
}

// ExitGroup ends t's whole process with status (exit_group(2)).
func (t *Task) ExitGroup(status linux.WaitStatus) { t.killGroup(status) }

// exitTask releases t's resources and takes it out of the task tree; run by the
// task goroutine once it must exit.
func (t *Task) exitTask() {
	t.exitRobustList()
	if addr := t.clearChildTID; addr != 0 {
		// The thread library waits for this word to become zero (pthread_join).
		var zero [4]byte
		if _, err := t.image.mm.CopyOut(addr, zero[:]); err == nil {
			t.k.futexes.Wake(t.image.mm, addr, false, ^uint32(0), 1)
		}
	}

	rss := t.image.mm.ResidentSetSize()
	ts := t.k.tasks
	ts.mu.Lock()
	t.exitState = TaskExitInitiated
	tg := t.tg
	tg.exitedUsage.MaxRSS = max(tg.exitedUsage.MaxRSS, rss)
	sh := tg.signalHandlers
	sh.mu.Lock()
	if tg.exiting {
		t.exitStatus = tg.exitStatus
	}
	sh.mu.Unlock()
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	tg.liveTasks--
	close(tg.taskExited)
	tg.taskExited = make(chan struct{})
	last := tg.liveTasks == 0
	if !last && t != tg.leader {
		t.releaseLocked()
	}
	if last {
		if !tg.exiting {
			tg.exitStatus = t.exitStatus
		}
		tg.exitedLocked()
	}
	ts.mu.Unlock()

	t.releaseResources()
	t.pctx.Release()
}

// releaseResources drops t's references to what it shares with other tasks.
func (t *Task) releaseResources() {
	t.mu.Lock()
	fdt, fs := t.fdTable, t.fs
	t.fdTable, t.fs = nil, nil
	t.mu.Unlock()
	if fdt != nil {
		fdt.DecRef()
	}
	if fs != nil {
		fs.DecRef()
	}
	if m := t.image.mm; m != nil {
		m.DecUsers()
	}
}

// releaseLocked takes t out of the PID namespace: it can no longer be found.
//
// Preconditions: ts.mu is locked for writing.
func (t *Task) releaseLocked() {
	ns := t.k.tasks.root
	if tid, ok := ns.tids[t]; ok {
		delete(ns.tasks, tid)
		delete(ns.tids, t)
	}
	if _, ok := t.tg.tasks[t]; ok {
		// The group's CPU time keeps what its exited tasks used.
		user, sys := t.CPUTime()
		t.tg.exitedUsage.UserTime += user
		t.tg.exitedUsage.SysTime += sys
		delete(t.tg.tasks, t)
	}
	t.exitState = TaskExitDead
}

// exitedLocked runs when the last task of tg exits: the process becomes a zombie
// for its parent to reap, its children go to a new parent, and if it was the
// sandbox's init, everything else dies with it.
//
// Preconditions: ts.mu is locked for writing.
func (tg *ThreadGroup) exitedLocked() {
	ts := tg.ts
	k := tg.leader.k
	for task := range tg.tasks {
		if task != tg.leader {
			task.releaseLocked()
		}
	}
	tg.leader.exitState = TaskExitZombie
	tg.zombie = true
	tg.notifyExitedLocked()

	if ts.root.tgids[tg] == 1 {
		// The container's init exited: like a PID namespace's, every other
		// process is killed, and the container's status is init's.
		for other := range ts.root.tgids {
			if other == tg {
				continue
			}
			osh := other.signalHandlers
			osh.mu.Lock()
			other.exitLocked(linux.WaitStatusSignal(linux.SIGKILL, false))
			osh.mu.Unlock()
		}
		k.initExited(tg.exitStatus)
	}

	// Children go to the nearest subreaper above, or to init.
	newParent := ts.root.initTGLocked()
	for p := tg.parent; p != nil; p = p.parent {
		if p.subreaper && !p.zombie {
			newParent = p
			break
		}
	}
	for child := range tg.children {
		delete(tg.children, child)
		if newParent == nil || newParent == tg {
			child.parent = nil
			if child.zombie {
				child.reapLocked()
			}
			continue
		}
		if sig := child.leader.ParentDeathSignal(); sig != 0 && !child.zombie {
			child.leader.sendSignalLocked(&linux.SignalInfo{Signo: int32(sig), Code: linux.SI_USER}, true)
		}
		child.parent = newParent
		newParent.children[child] = struct{}{}
		if child.zombie {
			newParent.notifyChildEvent()
		}
	}

	parent := tg.parent
	if parent == nil {
		tg.reapLocked()
		return
	}
	sig := tg.terminationSignal
	psh := parent.signalHandlers
	psh.mu.Lock()
	act := psh.actions[linux.SIGCHLD]
	// A parent that ignores SIGCHLD or set SA_NOCLDWAIT never sees zombies.
	autoReap := sig == linux.SIGCHLD && (act.Handler == linux.SIG_IGN || act.Flags&linux.SA_NOCLDWAIT != 0)
	if sig != 0 {
		info := &linux.SignalInfo{Signo: int32(sig)}
		status := tg.exitStatus
		if status.Exited() {
			info.Code = linux.CLD_EXITED
			info.SetStatus(int32(status.ExitStatus()))
		} else {
			info.Code = linux.CLD_KILLED
			info.SetStatus(int32(status.Signal()))
		}
		info.SetPID(int32(ts.root.tgids[tg]))
		if parent.leader != nil && !parent.leader.discardsSignalLocked(sig) {
			if parent.pendingSignals.enqueue(info) {
				for task := range parent.tasks {
					if task.signalMask&linux.SignalSetOf(sig) == 0 {
						task.interrupt()
						break
					}
				}
			}
		}
	}
	psh.mu.Unlock()
	if autoReap {
		tg.reapLocked()
	}
	parent.notifyChildEvent()
}

// reapLocked removes the zombie tg for good.
//
// Preconditions: ts.mu is locked for writing.
func (tg *ThreadGroup) reapLocked() {
	ns := tg.ts.root
	if tg.parent != nil {
		delete(tg.parent.children, tg)
	}
	tg.leader.releaseLocked()
	tg.ts.reapedUsage.add(tg.usageLocked())
	delete(ns.tgids, tg)
	if pg := tg.processGroup; pg != nil {
		delete(pg.members, tg)
		if len(pg.members) == 0 {
			delete(ns.processGroups, pg.id)
		}
	}
}

// initTGLocked returns the sandbox's init process, or nil once it is gone.
//
// Preconditions: ts.mu is locked.
func (ns *PIDNamespace) initTGLocked() *ThreadGroup {
	t := ns.tasks[1]
	if t == nil || t.tg.zombie {
		return nil
	}
	return t.tg
}

// exitRobustList releases the robust futexes t holds (set_robust_list): each
// is marked FUTEX_OWNER_DIED and one waiter woken, so other threads don't hang
// on a lock whose owner died.
func (t *Task) exitRobustList() {
	head := t.robustList
	if head == 0 {
		return
	}
	m := t.image.mm
	var buf [24]byte
	if _, err := m.CopyIn(head, buf[:]); err != nil {
		return
	}
	next := binary.LittleEndian.Uint64(buf[0:8])
	offset := int64(binary.LittleEndian.Uint64(buf[8:16]))
	pending := binary.LittleEndian.Uint64(buf[16:24])
	tid := uint32(t.ThreadID())
	for i := 0; next != uint64(head) && next != 0 && i < linux.ROBUST_LIST_LIMIT; i++ {
		var word [8]byte
		if _, err := m.CopyIn(uintptr(next), word[:]); err != nil {
			break
		}
		entry := next
		next = binary.LittleEndian.Uint64(word[:])
		if entry != pending {
			t.releaseRobustFutex(uintptr(int64(entry)+offset), tid)
		}
	}
	if pending != 0 {
		t.releaseRobustFutex(uintptr(int64(pending)+offset), tid)
	}
}

// releaseRobustFutex marks the futex at addr as owned by a dead thread if tid owns it.
func (t *Task) releaseRobustFutex(addr uintptr, tid uint32) {
	m := t.image.mm
	var b [4]byte
	if _, err := m.CopyIn(addr, b[:]); err != nil {
		return
	}
	v := binary.LittleEndian.Uint32(b[:])
	if v&linux.FUTEX_TID_MASK != tid {
		return
	}
	v = v&linux.FUTEX_WAITERS | linux.FUTEX_OWNER_DIED
	binary.LittleEndian.PutUint32(b[:], v)
	if _, err := m.CopyOut(addr, b[:]); err != nil {
		return
	}
	if v&linux.FUTEX_WAITERS != 0 {
		t.k.futexes.Wake(m, addr, false, ^uint32(0), 1)
	}
}
