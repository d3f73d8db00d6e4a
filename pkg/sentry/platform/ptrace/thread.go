package ptrace

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

// thread is one host thread of a stub process.
//
// All ptrace requests on a thread must come from its tracer, the OS thread that
// attached it (ptrace's thread affinity), and the thread must be in a ptrace-stop.
// Every method says so as its precondition. Waiting (wait4) is different: the kernel
// lets any thread of the tracer's process reap a tracee, which is how Release can
// clean up threads whose tracer is busy or gone.
type thread struct {
	tgid, tid int32
	// tracer is the host TID of the OS thread that traces this thread.
	tracer int32
	// cpu is the CPU this thread was last bound to (Platform pinning), or -1.
	cpu int32
	// dead is set, under AddressSpace.mu, once the thread has exited or its
	// process was killed; it must then not be touched (its TID may be reused).
	dead bool
}

// waitStatus is a decoded wait4 status.
type waitStatus struct {
	raw uint32
}

func (s waitStatus) exited() bool   { return s.raw&0x7f == 0 }
func (s waitStatus) signaled() bool { return !s.exited() && !s.stopped() }
func (s waitStatus) stopped() bool  { return s.raw&0xff == 0x7f }

// stopSig is the signal of a stop. For a syscall-stop under PTRACE_O_TRACESYSGOOD it
// is SIGTRAP|0x80.
func (s waitStatus) stopSig() int { return int(s.raw>>8) & 0xff }

// event is the PTRACE_EVENT_* of a stop, 0 for signal-delivery and syscall stops.
func (s waitStatus) event() int { return int(s.raw >> 16) }

func (s waitStatus) String() string {
	switch {
	case s.exited():
		return fmt.Sprintf("exited with status %d", (s.raw>>8)&0xff)
	case s.stopped():
		return fmt.Sprintf("stopped by signal %d (event %d)", s.stopSig(), s.event())
	default:
		return fmt.Sprintf("killed by signal %d", s.raw&0x7f)
	}
}

const (
	syscallStopSig     = unix.SIGTRAP | 0x80
	ptraceEventStop    = 128 // PTRACE_EVENT_STOP
	ptraceOptions      = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL
	signalInterrupt    = unix.SIGCHLD // see Context.Interrupt
	errnoMax           = 4095
	stubThreadClone    = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM
	closeRangeSyscall  = 436 // close_range(2)
	seccompSetModeFilt = 1   // SECCOMP_SET_MODE_FILTER
)

// wait waits for t to stop or exit. It may be called from any thread of the Sentry.
func (t *thread) wait() (waitStatus, error) {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(int(t.tid), &ws, unix.WALL, nil)
		if err == unix.EINTR {
			continue
		}
		return waitStatus{uint32(ws)}, err
	}
}

// waitExit reaps t, discarding stop reports, after it was sent SIGKILL or made to
// exit. ECHILD means someone else reaped it already.
func (t *thread) waitExit() {
	for {
		st, err := t.wait()
		if err != nil || !st.stopped() {
			return
		}
	}
}

// waitExitOrGone is waitExit for a thread whose tracer may have exited first
// (a task goroutine's OS thread ends with the task): the tracer's exit detaches
// the thread, and a detached thread is reaped by the kernel without a word to
// anyone, so a wait4 blocked on its TID would never return. It polls instead, and
// stops once the TID is gone from its process (tgkill with signal 0 says ESRCH;
// the Sentry runs without /proc).
func (t *thread) waitExitOrGone() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(int(t.tid), &ws, unix.WALL|unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return // ECHILD: reaped already, or not ours any more
		case pid != 0 && !(waitStatus{uint32(ws)}).stopped():
			return
		case pid == 0:
			if unix.Tgkill(int(t.tgid), int(t.tid), 0) == unix.ESRCH {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// seize makes the calling OS thread the tracer of t, a stub thread parked
// untraced in the pause loop, and waits for it to stop. PTRACE_SEIZE +
// PTRACE_INTERRUPT (rather than PTRACE_ATTACH and SIGSTOP) keep job-control stops
// out of the picture: a SIGSTOP would stop the whole stub thread group.
//
// Precondition: the caller is locked to its OS thread, whose TID is t.tracer.
func (t *thread) seize() error {
	if err := ptraceRaw(unix.PTRACE_SEIZE, t.tid, 0, ptraceOptions); err != nil {
		return fmt.Errorf("ptrace: PTRACE_SEIZE of stub thread %d: %w", t.tid, err)
	}
	if err := ptraceRaw(unix.PTRACE_INTERRUPT, t.tid, 0, 0); err != nil {
		return fmt.Errorf("ptrace: PTRACE_INTERRUPT of stub thread %d: %w", t.tid, err)
	}
	for {
		st, err := t.wait()
		if err != nil {
			return fmt.Errorf("ptrace: waiting for stub thread %d: %w", t.tid, err)
		}
		if !st.stopped() {
			return fmt.Errorf("ptrace: new stub thread %d %v", t.tid, st)
		}
		if st.event() == ptraceEventStop {
			return nil
		}
		// A signal got there first; suppress it and wait for the interrupt.
		if err := t.resume(unix.PTRACE_CONT); err != nil {
			return fmt.Errorf("ptrace: PTRACE_CONT of stub thread %d: %w", t.tid, err)
		}
	}
}

// resume restarts t with the given ptrace request, suppressing any pending
// signal-delivery (data 0).
//
// Precondition: called by t's tracer; t is stopped.
func (t *thread) resume(req int) error {
	return ptraceRaw(req, t.tid, 0, 0)
}

// syscall makes t execute one host system call: registers init with rip at the
// "syscall; int3" at pc, nr in rax and the arguments in their registers, then runs to
// the int3 and returns rax. end is rip after the int3. Signals that arrive meanwhile
// are suppressed (the stub's syscalls don't block, so none is interrupted).
//
// Precondition: called by t's tracer; t is stopped.
func (t *thread) syscall(init *linux.PtraceRegs, pc, end uintptr, nr uintptr, args ...uintptr) (uintptr, error) {
	regs := *init
	regs.Rip = uint64(pc)
	regs.Rax = uint64(nr)
	regs.Orig_rax = ^uint64(0)
	argRegs := []*uint64{&regs.Rdi, &regs.Rsi, &regs.Rdx, &regs.R10, &regs.R8, &regs.R9}
	for i, a := range args {
		*argRegs[i] = uint64(a)
	}
	if err := setRegs(t.tid, &regs); err != nil {
		return 0, fmt.Errorf("PTRACE_SETREGS on stub thread %d: %w", t.tid, err)
	}
	for {
		if err := t.resume(unix.PTRACE_CONT); err != nil {
			return 0, fmt.Errorf("PTRACE_CONT on stub thread %d: %w", t.tid, err)
		}
		st, err := t.wait()
		if err != nil {
			return 0, fmt.Errorf("waiting for stub thread %d: %w", t.tid, err)
		}
		if !st.stopped() {
			return 0, fmt.Errorf("stub thread %d %v during injected syscall %d", t.tid, st, nr)
		}
		if st.stopSig() == int(unix.SIGTRAP) && st.event() == 0 {
			break
		}
		// Anything else (a stray signal, a group-stop) is suppressed; the
		// thread continues toward the int3.
	}
	if err := getRegs(t.tid, &regs); err != nil {
		return 0, fmt.Errorf("PTRACE_GETREGS on stub thread %d: %w", t.tid, err)
	}
	if regs.Rip != uint64(end) {
		return 0, fmt.Errorf("stub thread %d stopped at %#x after injected syscall %d, want %#x", t.tid, regs.Rip, nr, end)
	}
	if r := regs.Rax; r > ^uint64(errnoMax) {
		return 0, unix.Errno(-int64(r))
	}
	return uintptr(regs.Rax), nil
}

// bind pins t to the CPU the caller runs on, if it isn't already. A ptrace round trip
// is two context switches; when tracer and tracee are on different CPUs each one is
// a cross-CPU wakeup (an IPI and a cold cache), which dominates the cost.
//
// Precondition: called by t's tracer (so the tracer's CPU is meant).
func (t *thread) bind() {
	cpu, err := getCPU()
	if err != nil || int32(cpu) == t.cpu {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	if unix.SchedSetaffinity(int(t.tid), &set) == nil {
		t.cpu = int32(cpu)
	}
}
