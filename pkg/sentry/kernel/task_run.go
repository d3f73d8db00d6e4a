package kernel

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/platform"
)

// run is the task goroutine: it runs application code on the platform and serves
// each system call, fault and signal until the task exits.
func (t *Task) run() {
	defer t.k.tasks.liveGoroutines.Done()
	// ptrace and friends tie a tracee to the OS thread that attached it, so the
	// task keeps one OS thread for its life. The goroutine never unlocks it: when
	// it returns, the OS thread exits too, taking its platform state with it.
	runtime.LockOSThread()

	for {
		if t.checkKilled() {
			t.exitTask()
			return
		}
		if t.deliverSignal() {
			continue // re-check: the signal may have killed or stopped us
		}
		as, err := t.image.mm.AddressSpace()
		if err != nil {
			t.k.logf("task %d: no address space: %v", t.ThreadID(), err)
			t.killGroup(linux.WaitStatusSignal(linux.SIGKILL, false))
			continue
		}
		if !t.enterApp() {
			continue // paused: re-check kills and signals before trying again
		}
		t.cpuMu.Lock()
		entered := time.Now()
		t.appSince = entered
		t.cpuMu.Unlock()
		info, at, err := t.pctx.Switch(as, &t.arch)
		t.leaveApp()
		t.cpuMu.Lock()
		left := time.Now()
		t.userTime.Add(int64(left.Sub(entered)))
		t.appSince = time.Time{}
		t.cpuMu.Unlock()

		switch {
		case err == nil:
			t.doSyscall()
		case errors.Is(err, platform.ErrContextInterrupt):
			// A signal or kill arrived: the top of the loop handles it.
		case errors.Is(err, platform.ErrContextSignal):
			t.handleSignalStop(info, at)
		default:
			t.k.logf("task %d: platform failed: %v", t.ThreadID(), err)
			t.killGroup(linux.WaitStatusSignal(linux.SIGKILL, false))
		}
		t.sysTime.Add(int64(time.Since(left)) - t.blockedNs)
		t.blockedNs = 0
	}
}

// doSyscall serves the system call the task stopped in.
func (t *Task) doSyscall() {
	sysno := t.arch.SyscallNo()
	args := t.arch.SyscallArgs()
	rval, err := t.ExecuteSyscall(sysno, args)
	if tr := t.k.strace; tr != nil {
		var raw [6]uintptr
		for i, a := range args {
			raw[i] = a.Value
		}
		tr.SyscallExit(t, sysno, raw, rval, err)
	}
	if err == nil {
		t.arch.SetReturn(rval)
		return
	}
	errno := ErrnoOf(err)
	if errno == 0 {
		t.k.logf("task %d: %s returned a non-errno error: %v", t.ThreadID(), t.k.syscallName(sysno), err)
		errno = linux.EIO
	}
	t.arch.SetReturn(uintptr(-int64(errno)))
}

// ErrnoOf returns the errno err stands for: a linux.Errno, or ERESTARTSYS for
// ErrInterrupted; 0 for anything else.
func ErrnoOf(err error) linux.Errno {
	var errno linux.Errno
	switch {
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, ErrInterrupted):
		return ERESTARTSYS
	}
	return 0
}

// handleSignalStop handles a platform stop for a signal: a page fault the memory
// manager can resolve, or a synchronous signal (fault, trap, illegal instruction)
// that goes to the application.
func (t *Task) handleSignalStop(info *linux.SignalInfo, at platform.AccessType) {
	switch info.Signo {
	case linux.SIGSEGV, linux.SIGBUS:
		if info.Code > 0 {
			err := t.image.mm.HandleUserFault(uintptr(info.Addr()), at)
			if err == nil {
				return
			}
			if info.Signo == linux.SIGSEGV && info.Code != linux.SEGV_ACCERR {
				// No mapping at all, whatever the host thought.
				info.Code = linux.SEGV_MAPERR
			}
			if errors.Is(err, linux.EACCES) || errors.Is(err, linux.EPERM) {
				info.Code = linux.SEGV_ACCERR
			}
		}
		t.forceSignal(info)
	case linux.SIGILL, linux.SIGFPE, linux.SIGTRAP:
		t.forceSignal(info)
	default:
		// A signal from the host that was not meant for the application: the
		// sandbox's own processes are the only ones that can signal stubs.
		t.k.logf("task %d: ignoring host signal %d", t.ThreadID(), info.Signo)
	}
}

// checkKilled reports whether the task must exit now.
func (t *Task) checkKilled() bool {
	sh := t.tg.signalHandlers
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return t.killed
}

// Start starts t's goroutine.
func (t *Task) Start() {
	t.k.tasks.liveGoroutines.Add(1)
	go t.run()
}

// String names t for logs.
func (t *Task) String() string { return fmt.Sprintf("task %d", t.ThreadID()) }
