// Package compat owns `runsc compat`: it runs a command natively on the host under
// a ptrace tracer that follows every thread and process the command creates,
// counts the system calls they make, and reports how far Visor supports each one.
// It answers "would this program run on Visor?" before anyone writes a bundle.
package compat

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ABI is the system call ABI a call was made through. x86-64 Linux has three, with
// their own numbers; Visor implements only AMD64.
type ABI int

// The x86-64 system call ABIs.
const (
	AMD64 ABI = iota
	X32       // amd64 instructions with x32 numbers: __X32_SYSCALL_BIT is set
	I386      // int $0x80 or a 32-bit process
)

func (a ABI) String() string {
	switch a {
	case AMD64:
		return "amd64"
	case X32:
		return "x32"
	case I386:
		return "i386"
	}
	return fmt.Sprintf("ABI(%d)", int(a))
}

// x32SyscallBit marks an x32 system call number (arch/x86/include/uapi/asm/unistd.h).
const x32SyscallBit = 0x40000000

// Sysno identifies a system call as the tracee made it.
type Sysno struct {
	ABI ABI
	Nr  uint64 // as the tracee passed it, x32 bit included
}

// Result is what tracing a command found.
type Result struct {
	// Counts is how many times each system call was entered, by all threads and
	// processes of the command together.
	Counts map[Sysno]uint64
	// Status is how the command's first process ended.
	Status unix.WaitStatus
}

// StartError reports that the command could not be started at all, as opposed to
// a command that started and failed.
type StartError struct {
	Path string
	Err  error
}

func (e *StartError) Error() string { return fmt.Sprintf("cannot start %q: %v", e.Path, e.Err) }

// startError wraps err from starting path. exec.LookPath's errors repeat the path,
// so only their cause is kept.
func startError(path string, err error) *StartError {
	if ee, ok := errors.AsType[*exec.Error](err); ok {
		err = ee.Err
	}
	return &StartError{Path: path, Err: err}
}

func (e *StartError) Unwrap() error { return e.Err }

// ptraceOptions makes the kernel mark syscall stops (SIGTRAP|0x80), attach us to
// every thread and process the tracee creates, report execs as events instead of a
// plain SIGTRAP, and kill the tracees if we die so none runs on untraced.
const ptraceOptions = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK |
	unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL

// Trace runs argv with the stdio and environment of this process, waits until it
// and every process it started have ended, and returns the system calls they made.
//
// Trace waits for any child of this process, so the caller must not have other
// children running while it does.
func Trace(argv []string) (*Result, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to trace")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, startError(argv[0], err)
	}

	// The kernel accepts ptrace requests only from the tracer thread, the one that
	// forked the tracee, so the whole trace runs on one locked OS thread. That thread
	// is never unlocked: when the goroutine ends, the runtime discards the thread,
	// and with PTRACE_O_EXITKILL that kills any tracee an error left behind.
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		runtime.LockOSThread()
		res, err := trace(path, argv)
		done <- outcome{res, err}
	}()
	o := <-done
	return o.res, o.err
}

// trace starts and traces the command. It must run on a locked OS thread.
func trace(path string, argv []string) (*Result, error) {
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{os.Stdin.Fd(), os.Stdout.Fd(), os.Stderr.Fd()},
		Sys:   &syscall.SysProcAttr{Ptrace: true}, // PTRACE_TRACEME before execve
	})
	if err != nil {
		return nil, startError(path, err)
	}

	t := tracer{
		res:  &Result{Counts: make(map[Sysno]uint64)},
		main: pid,
		seen: make(map[int]bool),
	}
	if err := t.loop(); err != nil {
		return nil, err
	}
	return t.res, nil
}

// tracer is the state of one trace.
type tracer struct {
	res  *Result
	main int // the command's first process
	// seen holds the threads that have stopped at least once. A thread's first stop
	// is special: the SIGTRAP after the first execve for main, the SIGSTOP the kernel
	// queues for an auto-attached thread or process for the others.
	seen map[int]bool
}

// loop handles tracee stops until no tracee is left.
func (t *tracer) loop() error {
	for {
		var ws unix.WaitStatus
		// __WALL: threads report like processes, and must be waited for too.
		tid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return nil // every tracee has ended
		case err != nil:
			return fmt.Errorf("wait4: %w", err)
		}
		switch {
		case ws.Exited() || ws.Signaled():
			delete(t.seen, tid)
			if tid == t.main {
				t.res.Status = ws
			}
		case ws.Stopped():
			if err := t.stopped(tid, ws); err != nil {
				return err
			}
		}
	}
}

// stopped handles one ptrace stop of tid and resumes it.
func (t *tracer) stopped(tid int, ws unix.WaitStatus) error {
	sig := ws.StopSignal()
	first := !t.seen[tid]
	t.seen[tid] = true

	if first && tid == t.main {
		// Auto-attached tracees inherit the options, so setting them once here covers
		// every thread and process the command will create.
		if err := unix.PtraceSetOptions(tid, ptraceOptions); err != nil {
			return fmt.Errorf("PTRACE_SETOPTIONS on %d: %w", tid, err)
		}
		if sig == unix.SIGTRAP {
			// The SIGTRAP that follows a PTRACE_TRACEME'd execve: the command is
			// loaded and has run nothing yet. Its execve entry came before the
			// options, so it was not stopped at, but the command made it.
			t.res.Counts[Sysno{ABI: AMD64, Nr: unix.SYS_EXECVE}]++
			return resume(tid, 0)
		}
		// A signal got to the child before its execve did; handle it as any other.
	}

	switch {
	case first && tid != t.main && sig == unix.SIGSTOP:
		// An auto-attached thread or process starts with this SIGSTOP; it is
		// ptrace's, not the program's, so it must not be delivered.
		return resume(tid, 0)

	case sig == unix.SIGTRAP|0x80: // syscall-enter or syscall-exit stop
		return t.syscallStop(tid)

	case sig == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXEC:
		// A thread other than the leader that execs takes over the leader's id, and
		// its own id vanishes without an exit report. Forget it, or a new thread that
		// reuses the id would have its attach SIGSTOP delivered.
		former, err := unix.PtraceGetEventMsg(tid) // fails only if tid was killed
		if err == nil && int(former) != tid {
			delete(t.seen, int(former))
		}
		return resume(tid, 0)

	case sig == unix.SIGTRAP && ws.TrapCause() != 0:
		// PTRACE_EVENT_{FORK,VFORK,CLONE}. The new thread or process is attached
		// already and reports its own first stop; nothing to do here.
		return resume(tid, 0)
	}

	// Either a signal-delivery stop, where the signal is delivered only if we pass it
	// on, or a group-stop, which has no signal left to deliver. Only the former has
	// siginfo.
	if err := getSiginfo(tid); err != nil {
		switch {
		case errors.Is(err, unix.EINVAL):
			// Group-stop. Without PTRACE_SEIZE there is no PTRACE_LISTEN, so like
			// strace we resume the thread: a job-control stop of a traced command
			// does not hold, but the command is never left stopped either.
			return resume(tid, 0)
		case errors.Is(err, unix.ESRCH):
			return nil // killed meanwhile; its exit is reported next
		}
		return fmt.Errorf("PTRACE_GETSIGINFO on %d: %w", tid, err)
	}
	return resume(tid, sig)
}

// syscallStop counts the system call tid is entering; exits are only resumed.
func (t *tracer) syscallStop(tid int) error {
	info, err := getSyscallInfo(tid)
	switch {
	case errors.Is(err, unix.ESRCH):
		return nil // killed meanwhile (SIGKILL needs no stop); its exit comes next
	case err != nil:
		return fmt.Errorf("PTRACE_GET_SYSCALL_INFO on %d (needs Linux 5.3 or later): %w", tid, err)
	}
	if info.op == unix.PTRACE_SYSCALL_INFO_ENTRY {
		t.res.Counts[info.sysno()]++
	}
	return resume(tid, 0)
}

// resume restarts tid until its next syscall stop, delivering sig if it is not 0.
func resume(tid int, sig unix.Signal) error {
	err := unix.PtraceSyscall(tid, int(sig))
	if errors.Is(err, unix.ESRCH) {
		// A tracee can be SIGKILLed while stopped; its exit is reported next.
		return nil
	}
	if err != nil {
		return fmt.Errorf("PTRACE_SYSCALL on %d: %w", tid, err)
	}
	return nil
}

// getSiginfo fails with EINVAL if tid is in a group-stop, not a signal-delivery stop.
func getSiginfo(tid int) error {
	var si unix.Siginfo
	return ptrace(unix.PTRACE_GETSIGINFO, tid, 0, uintptr(unsafe.Pointer(&si)))
}

// syscallInfo is the start of struct ptrace_syscall_info (include/uapi/linux/ptrace.h)
// with the entry member of its union, the only one read.
type syscallInfo struct {
	op                 uint8
	_                  [3]uint8
	arch               uint32
	instructionPointer uint64
	stackPointer       uint64
	nr                 uint64
	args               [6]uint64
}

// sysno says which system call info is about. The audit arch tells a 32-bit call
// from an amd64 one with the same number; the x32 bit tells x32 from amd64.
func (info *syscallInfo) sysno() Sysno {
	switch {
	case info.arch == unix.AUDIT_ARCH_I386:
		return Sysno{ABI: I386, Nr: info.nr}
	case info.nr&x32SyscallBit != 0 && info.nr < 1<<32:
		// The kernel checks the x32 bit only in a number that fits 32 bits; a larger
		// one, like -1 as a probe, is just a bad amd64 number.
		return Sysno{ABI: X32, Nr: info.nr}
	}
	return Sysno{ABI: AMD64, Nr: info.nr}
}

// getSyscallInfo reads which system call tid is stopped at. PTRACE_GET_SYSCALL_INFO
// says whether a stop is an entry or an exit, so no per-thread toggle can drift.
func getSyscallInfo(tid int) (syscallInfo, error) {
	var info syscallInfo
	err := ptrace(unix.PTRACE_GET_SYSCALL_INFO, tid, unsafe.Sizeof(info), uintptr(unsafe.Pointer(&info)))
	return info, err
}

// ptrace makes a ptrace request x/sys/unix has no wrapper for.
func ptrace(req int, tid int, addr, data uintptr) error {
	if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
