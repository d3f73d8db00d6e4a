package kernel

import "visor.dev/visor/pkg/abi/linux"

// ProcessGroupID returns the ID of tg's process group, 0 if it has none.
func (tg *ThreadGroup) ProcessGroupID() ThreadID {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	if tg.processGroup == nil {
		return 0
	}
	return tg.processGroup.id
}

// SessionID returns the ID of tg's session, 0 if it has none.
func (tg *ThreadGroup) SessionID() ThreadID {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	if tg.processGroup == nil {
		return 0
	}
	return tg.processGroup.session.id
}

// newSessionLocked makes tg the leader of a new session and process group, both
// numbered with tg's PID.
//
// Preconditions: ts.mu is locked for writing.
func (tg *ThreadGroup) newSessionLocked() {
	ns := tg.ts.root
	id := ns.tgids[tg]
	s := &Session{id: id, leader: tg}
	pg := &ProcessGroup{id: id, session: s, members: map[*ThreadGroup]struct{}{tg: {}}}
	if tg.processGroup != nil {
		tg.leaveProcessGroupLocked()
	}
	tg.processGroup = pg
	if ns.processGroups == nil {
		ns.processGroups = make(map[ThreadID]*ProcessGroup)
		ns.sessions = make(map[ThreadID]*Session)
	}
	ns.processGroups[id] = pg
	ns.sessions[id] = s
}

// leaveProcessGroupLocked takes tg out of its process group.
//
// Preconditions: ts.mu is locked for writing.
func (tg *ThreadGroup) leaveProcessGroupLocked() {
	pg := tg.processGroup
	delete(pg.members, tg)
	if len(pg.members) == 0 {
		delete(tg.ts.root.processGroups, pg.id)
	}
	tg.processGroup = nil
}

// CreateSession implements setsid(2): it fails with EPERM if tg already leads a
// process group.
func (tg *ThreadGroup) CreateSession() (ThreadID, error) {
	ts := tg.ts
	ts.mu.Lock()
	defer ts.mu.Unlock()
	id := ts.root.tgids[tg]
	if _, ok := ts.root.processGroups[id]; ok {
		return 0, linux.EPERM
	}
	tg.newSessionLocked()
	return id, nil
}

// SetProcessGroup implements setpgid(2) for target (tg itself or a child), moving
// it to the process group pgid (0: its own PID), which must exist in the caller's
// session unless it is target's own new group. A child that has called execve can
// no longer be moved (EACCES), so a shell cannot race a program that set up its
// own job control.
func (tg *ThreadGroup) SetProcessGroup(target *ThreadGroup, pgid ThreadID) error {
	ts := tg.ts
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if target != tg && target.parent != tg {
		return linux.ESRCH
	}
	if tg.processGroup == nil || target.processGroup == nil {
		return linux.EPERM
	}
	session := tg.processGroup.session
	if target != tg {
		if target.processGroup.session != session {
			return linux.EPERM
		}
		if target.execed {
			return linux.EACCES
		}
	}
	targetID := ts.root.tgids[target]
	if session.leader == target {
		return linux.EPERM
	}
	if pgid == 0 {
		pgid = targetID
	}
	if target.processGroup.id == pgid {
		return nil
	}
	pg := ts.root.processGroups[pgid]
	switch {
	case pg == nil && pgid == targetID:
		pg = &ProcessGroup{id: pgid, session: session, members: make(map[*ThreadGroup]struct{})}
		ts.root.processGroups[pgid] = pg
	case pg == nil || pg.session != session:
		return linux.EPERM
	}
	target.leaveProcessGroupLocked()
	target.processGroup = pg
	pg.members[target] = struct{}{}
	return nil
}

// ProcessGroupMembers returns the processes in the process group pgid.
func (ns *PIDNamespace) ProcessGroupMembers(pgid ThreadID) []*ThreadGroup {
	ns.owner.mu.RLock()
	defer ns.owner.mu.RUnlock()
	pg := ns.processGroups[pgid]
	if pg == nil {
		return nil
	}
	tgs := make([]*ThreadGroup, 0, len(pg.members))
	for tg := range pg.members {
		tgs = append(tgs, tg)
	}
	return tgs
}
