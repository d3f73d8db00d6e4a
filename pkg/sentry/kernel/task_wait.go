package kernel

import (
	"visor.dev/visor/pkg/abi/linux"
)

// WaitOptions say which children a wait looks for and what it reports.
type WaitOptions struct {
	// SpecificTG, if set, is the only child waited for; else SpecificPGID, if
	// non-zero, selects children in that process group; else any child.
	SpecificTG   *ThreadGroup
	SpecificPGID ThreadID
	// Events: WEXITED, WSTOPPED (WUNTRACED), WCONTINUED.
	Events int
	// NoHang returns at once if no child is ready (WNOHANG).
	NoHang bool
	// Consume reaps an exited child (false for WNOWAIT).
	Consume bool
	// Clone selects the children whose termination signal is not SIGCHLD (__WCLONE);
	// All selects all children (__WALL).
	Clone, All bool
}

// WaitResult is what a wait found.
type WaitResult struct {
	TID    ThreadID
	UID    uint32
	Status linux.WaitStatus
	// Code is the si_code waitid reports: CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLD_CONTINUED.
	Code int32
	// Usage is what the child used, with its own waited-for children.
	Usage Usage
}

// Wait waits for a child of t's process to change state, as wait4 and waitid do.
// With NoHang and nothing ready it returns nil and no error; with no matching
// child at all, ECHILD.
func (t *Task) Wait(opts *WaitOptions) (*WaitResult, error) {
	ts := t.k.tasks
	for {
		ts.mu.Lock()
		res, any := t.waitOnceLocked(opts)
		ch := t.tg.childEvents
		ts.mu.Unlock()
		switch {
		case res != nil:
			return res, nil
		case !any:
			return nil, linux.ECHILD
		case opts.NoHang:
			return nil, nil
		}
		if err := t.Block(ch); err != nil {
			return nil, err
		}
	}
}

// waitOnceLocked looks once for a matching child that is ready, and reports
// whether any child matches at all.
//
// Preconditions: ts.mu is locked for writing.
func (t *Task) waitOnceLocked(opts *WaitOptions) (*WaitResult, bool) {
	ns := t.k.tasks.root
	any := false
	for child := range t.tg.children {
		if !t.waitMatches(child, opts) {
			continue
		}
		any = true
		if res := child.waitReadyLocked(ns, opts); res != nil {
			return res, true
		}
	}
	return nil, any
}

func (t *Task) waitMatches(child *ThreadGroup, opts *WaitOptions) bool {
	switch {
	case opts.SpecificTG != nil:
		if child != opts.SpecificTG {
			return false
		}
	case opts.SpecificPGID != 0:
		if child.processGroup == nil || child.processGroup.id != opts.SpecificPGID {
			return false
		}
	}
	if opts.All {
		return true
	}
	// __WCLONE waits only for "clone" children, the others only for the rest.
	return (child.terminationSignal != linux.SIGCHLD) == opts.Clone
}

// waitReadyLocked returns what a wait would report of tg now, consuming it as asked.
//
// Preconditions: ts.mu is locked for writing.
func (tg *ThreadGroup) waitReadyLocked(ns *PIDNamespace, opts *WaitOptions) *WaitResult {
	res := &WaitResult{TID: ns.tgids[tg]}
	if leader := tg.leader; leader != nil {
		res.UID = uint32(leader.Credentials().RealKUID)
	}
	res.Usage = tg.usageLocked()
	res.Usage.add(tg.childUsage)
	if tg.zombie {
		if opts.Events&linux.WEXITED == 0 {
			return nil
		}
		res.Status = tg.exitStatus
		res.Code = linux.CLD_EXITED
		if !res.Status.Exited() {
			res.Code = linux.CLD_KILLED
		}
		if opts.Consume {
			// Only a child reaped by wait counts in its parent's children's
			// usage, as Linux's wait_task_zombie.
			if tg.parent != nil {
				tg.parent.childUsage.add(res.Usage)
			}
			tg.reapLocked()
		}
		return res
	}
	sh := tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if tg.groupStopped && tg.groupStopWaitable && opts.Events&linux.WSTOPPED != 0 {
		res.Status = linux.WaitStatusStopped(tg.groupStopSignal)
		res.Code = linux.CLD_STOPPED
		if opts.Consume {
			tg.groupStopWaitable = false
		}
		return res
	}
	if tg.groupContinued && opts.Events&linux.WCONTINUED != 0 {
		res.Status = linux.WaitStatusContinued
		res.Code = linux.CLD_CONTINUED
		if opts.Consume {
			tg.groupContinued = false
		}
		return res
	}
	return nil
}
