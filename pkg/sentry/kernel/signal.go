package kernel

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
)

// signalHandlers is a table of signal actions, shared by the thread groups cloned
// with CLONE_SIGHAND.
type signalHandlers struct {
	// mu guards the actions and the signal state of every thread group and task
	// that uses this table (masks, pending signals, stop state).
	//
	// Lock order: TaskSet.mu < signalHandlers.mu < Task.mu.
	mu      sync.Mutex
	actions [linux.SIGRTMAX + 1]linux.SigAction
}

// fork returns a copy of sh for a new process (fork without CLONE_SIGHAND).
func (sh *signalHandlers) fork() *signalHandlers {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return &signalHandlers{actions: sh.actions}
}

// resetForExec resets handled signals to their default action, as execve does;
// ignored signals stay ignored. It returns a new table: one shared with another
// process (CLONE_SIGHAND) is unshared by exec.
func (sh *signalHandlers) resetForExec() *signalHandlers {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	n := &signalHandlers{}
	for sig, a := range sh.actions {
		if a.Handler == linux.SIG_IGN {
			n.actions[sig] = linux.SigAction{Handler: linux.SIG_IGN}
		}
	}
	return n
}

// pendingSignal is a queued signal.
type pendingSignal struct {
	info linux.SignalInfo
}

// pendingSignals is a queue of pending signals: one instance of each standard
// signal, and a queue of each real-time signal.
type pendingSignals struct {
	queues [linux.SIGRTMAX + 1][]pendingSignal
	set    linux.SignalSet
}

// enqueue adds a signal. A standard signal already pending is not queued twice.
func (p *pendingSignals) enqueue(info *linux.SignalInfo) bool {
	sig := int(info.Signo)
	if sig < linux.SIGRTMIN && p.set&linux.SignalSetOf(sig) != 0 {
		return false
	}
	p.queues[sig] = append(p.queues[sig], pendingSignal{info: *info})
	p.set |= linux.SignalSetOf(sig)
	return true
}

// dequeue removes and returns the lowest-numbered pending signal not in mask, or
// nil. Standard signals come before real-time ones, as Linux delivers them.
func (p *pendingSignals) dequeue(mask linux.SignalSet) *linux.SignalInfo {
	deliverable := p.set &^ mask
	if deliverable == 0 {
		return nil
	}
	for sig := 1; sig <= linux.SIGRTMAX; sig++ {
		if deliverable&linux.SignalSetOf(sig) == 0 {
			continue
		}
		q := p.queues[sig]
		info := q[0].info
		p.queues[sig] = q[1:]
		if len(p.queues[sig]) == 0 {
			p.queues[sig] = nil
			p.set &^= linux.SignalSetOf(sig)
		}
		return &info
	}
	return nil
}

// discard drops every pending instance of the signals in set.
func (p *pendingSignals) discard(set linux.SignalSet) {
	for sig := 1; sig <= linux.SIGRTMAX; sig++ {
		if set&linux.SignalSetOf(sig) != 0 {
			p.queues[sig] = nil
		}
	}
	p.set &^= set
}

// signalDefault is what a signal's default action does.
type signalDefault int

const (
	sigTerminate signalDefault = iota
	sigCoreDump
	sigIgnore
	sigStop
	sigContinue
)

// defaultAction returns the default action of sig, from signal(7).
func defaultAction(sig int) signalDefault {
	switch sig {
	case linux.SIGCHLD, linux.SIGURG, linux.SIGWINCH:
		return sigIgnore
	case linux.SIGSTOP, linux.SIGTSTP, linux.SIGTTIN, linux.SIGTTOU:
		return sigStop
	case linux.SIGCONT:
		return sigContinue
	case linux.SIGQUIT, linux.SIGILL, linux.SIGTRAP, linux.SIGABRT, linux.SIGBUS,
		linux.SIGFPE, linux.SIGSEGV, linux.SIGXCPU, linux.SIGXFSZ, linux.SIGSYS:
		return sigCoreDump
	}
	return sigTerminate
}

// isStopSignal reports whether sig's default action stops the process.
func isStopSignal(sig int) bool { return defaultAction(sig) == sigStop }

// validSignal reports whether sig is a signal number (0 is not).
func validSignal(sig int) bool { return sig >= 1 && sig <= linux.SIGRTMAX }

// stopSignals are the signals a SIGCONT discards, and that discard a pending SIGCONT.
var stopSignals = linux.SignalSetOf(linux.SIGSTOP) | linux.SignalSetOf(linux.SIGTSTP) |
	linux.SignalSetOf(linux.SIGTTIN) | linux.SignalSetOf(linux.SIGTTOU)
