package waiter

import "visor.dev/visor/pkg/abi/linux"

// Blocker is what an operation that must wait needs from the task it runs for: the
// kernel's Task implements it, so that a signal can cut a sleep short.
type Blocker interface {
	// Block sleeps until ch is ready, returning nil, or until the task is
	// interrupted (a signal arrives), returning a non-nil error: ErrInterrupted,
	// or the restart errno the task's signal handling chose. Callers return that
	// error unchanged after undoing any partial work.
	Block(ch <-chan struct{}) error
}

// ErrInterrupted is the error a Blocker returns when it is interrupted and no restart
// applies.
var ErrInterrupted error = linux.EINTR

// UninterruptibleBlocker is a Blocker that is never interrupted: for the kernel's own
// work and for tests.
type UninterruptibleBlocker struct{}

// Block implements Blocker.
func (UninterruptibleBlocker) Block(ch <-chan struct{}) error {
	<-ch
	return nil
}

// InterruptibleBlocker is a Blocker that is interrupted when Interrupt is closed: for
// tests and for kernel work that can be cancelled.
type InterruptibleBlocker struct {
	Interrupt <-chan struct{}
}

// Block implements Blocker.
func (b InterruptibleBlocker) Block(ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-b.Interrupt:
		return ErrInterrupted
	}
}
