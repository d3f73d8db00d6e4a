package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// shimArg, as the runner's first argument, makes it the shim that starts a
// native test binary: `runner <shimArg> BIN ARGS...` resets every ignored
// signal to its default disposition, unblocks every signal, and executes BIN
// with ARGS (argv[0] being the shim's own argv[0]) and the shim's environment.
//
// A test binary must start as a fresh Linux process would, but what the
// runner inherited leaks into a child it starts with os/exec: an ignored
// signal stays ignored across fork and execve (Bazel starts tests with
// signals 32 and 33 ignored, which /proc/[pid]/status then shows), and a Go
// child starts with the signal mask the Go runtime saved when the runner
// started. Go has no API to set SIG_DFL for a signal it did not install a
// handler for, nor to pick a child's mask; raw rt_sigaction and
// rt_sigprocmask on a locked thread right before execve can.
const shimArg = "--visor-runner-exec-shim"

// maybeShim runs the shim, never returning, if args (os.Args) ask for it.
func maybeShim(args []string) {
	if len(args) < 3 || args[1] != shimArg {
		return
	}
	err := execWithDefaultSignals(args[2], append([]string{args[0]}, args[3:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "runner: starting %s: %v\n", args[2], err)
	os.Exit(127)
}

// sigaction is the kernel's struct sigaction on amd64 and arm64.
type sigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	sigDFL = 0
	sigIGN = 1
	nsig   = 64

	sigSetmask = 2 // rt_sigprocmask's SIG_SETMASK
)

// execWithDefaultSignals executes bin with no signal ignored or blocked.
func execWithDefaultSignals(bin string, argv, env []string) error {
	// The mask is per thread and execve keeps the caller's: do both on one.
	runtime.LockOSThread()
	for sig := 1; sig <= nsig; sig++ {
		if sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		var old sigaction
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
			continue
		}
		// Signals the Go runtime handles become SIG_DFL at execve anyway;
		// only the ignored ones, which the runtime leaves alone, need it.
		if old.handler != sigIGN {
			continue
		}
		dfl := sigaction{handler: sigDFL}
		if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0); e != 0 {
			return fmt.Errorf("resetting signal %d: %w", sig, e)
		}
	}
	var empty uint64
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGPROCMASK, sigSetmask, uintptr(unsafe.Pointer(&empty)), 0, 8, 0, 0); e != 0 {
		return fmt.Errorf("unblocking signals: %w", e)
	}
	return syscall.Exec(bin, argv, env)
}
