package kernel

// SetParentDeathSignal sets the signal t gets when its parent exits (PR_SET_PDEATHSIG).
func (t *Task) SetParentDeathSignal(sig int) { t.parentDeathSignal.Store(int32(sig)) }

// ParentDeathSignal returns the signal set by PR_SET_PDEATHSIG.
func (t *Task) ParentDeathSignal() int { return int(t.parentDeathSignal.Load()) }

// SetNoNewPrivs sets no_new_privs, which can't be unset (PR_SET_NO_NEW_PRIVS).
func (t *Task) SetNoNewPrivs() { t.noNewPrivs.Store(true) }

// NoNewPrivs reports no_new_privs.
func (t *Task) NoNewPrivs() bool { return t.noNewPrivs.Load() }

// SetChildSubreaper makes tg adopt orphaned descendants (PR_SET_CHILD_SUBREAPER).
func (tg *ThreadGroup) SetChildSubreaper(on bool) {
	tg.ts.mu.Lock()
	defer tg.ts.mu.Unlock()
	tg.subreaper = on
}

// ChildSubreaper reports PR_SET_CHILD_SUBREAPER.
func (tg *ThreadGroup) ChildSubreaper() bool {
	tg.ts.mu.RLock()
	defer tg.ts.mu.RUnlock()
	return tg.subreaper
}
