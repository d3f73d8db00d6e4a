package kernel

import (
	"errors"
	"time"

	"visor.dev/visor/pkg/abi/linux"
)

// ErrInterrupted is returned by Block and friends when the task must stop waiting:
// a signal it does not block arrived, or it is being killed. Handlers turn it into
// ERESTARTSYS (or EINTR where Linux never restarts).
var ErrInterrupted = errors.New("task interrupted")

// Internal errnos that ask for a system call to be restarted, from
// include/linux/errno.h. The application never sees them: the run loop turns them
// into EINTR or a restart depending on the signal handled.
const (
	ERESTARTSYS           = linux.Errno(512)
	ERESTARTNOINTR        = linux.Errno(513)
	ERESTARTNOHAND        = linux.Errno(514)
	ERESTART_RESTARTBLOCK = linux.Errno(516)
)

// Block waits until ch is readable (or closed) or t is interrupted.
//
// Preconditions: called by the task goroutine.
func (t *Task) Block(ch <-chan struct{}) error {
	defer t.accountBlocked(time.Now())
	select {
	case <-ch:
		return nil
	case <-t.interruptCh:
		return ErrInterrupted
	}
}

// accountBlocked records time spent blocked since start, which is not CPU time.
func (t *Task) accountBlocked(start time.Time) { t.blockedNs += int64(time.Since(start)) }

// BlockWithTimeout is Block for at most d; it returns linux.ETIMEDOUT and no time
// left when the time runs out, else the time that was left.
//
// Preconditions: called by the task goroutine.
func (t *Task) BlockWithTimeout(ch <-chan struct{}, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		select {
		case <-ch:
			return 0, nil
		default:
			return 0, linux.ETIMEDOUT
		}
	}
	start := time.Now()
	defer t.accountBlocked(start)
	deadline := start.Add(d)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return max(time.Until(deadline), 0), nil
	case <-t.interruptCh:
		return max(time.Until(deadline), 0), ErrInterrupted
	case <-timer.C:
		return 0, linux.ETIMEDOUT
	}
}

// Sleep blocks for d, or until interrupted.
//
// Preconditions: called by the task goroutine.
func (t *Task) Sleep(d time.Duration) (time.Duration, error) {
	left, err := t.BlockWithTimeout(nil, d)
	if err == linux.ETIMEDOUT {
		return 0, nil
	}
	return left, err
}

// interrupt makes t stop blocking, or stop running application code, soon.
func (t *Task) interrupt() {
	select {
	case t.interruptCh <- struct{}{}:
	default:
	}
	if t.pctx != nil {
		t.pctx.Interrupt()
	}
}

// Interrupted reports whether t has been interrupted since it last blocked, and
// consumes the interruption.
//
// Preconditions: called by the task goroutine.
func (t *Task) Interrupted() bool {
	select {
	case <-t.interruptCh:
		return true
	default:
		return false
	}
}
