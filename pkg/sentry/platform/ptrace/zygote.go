package ptrace

import (
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

// zygote is the stub every address space's stub process is forked from.
//
// The zygote is the only stub that is exec'd: New starts it, through
// /proc/self/fd, while the Sentry still sees the host's /proc. The Sentry then
// runs chrooted in an empty directory (runsc/boot) where no path can be exec'd,
// under a seccomp filter that allows neither fork nor exec. Each address space
// instead gets a copy of the zygote: an injected clone(CLONE_PARENT) makes the new
// stub a child of the Sentry (so it can be traced and waited for like the zygote),
// with the zygote's address space (only the stub page), fds (the memory file) and
// hardening (no_new_privs, no capabilities, the stub's seccomp filter) already in
// place, and without
// the Sentry's own filter, which it never had.
//
// A goroutine locked to its OS thread traces the zygote for the platform's life.
// That thread is also the parent the zygote's children see, and their
// PR_SET_PDEATHSIG fires when it exits: at Release, or when the Sentry dies.
type zygote struct {
	// reqs carries functions to run on the zygote's tracer; closed by stop.
	reqs chan func()
	// done is closed when the zygote is dead and reaped.
	done chan struct{}

	stub thread
	// initRegs are the zygote's registers at exec, which every stub forked from
	// it shares (segment selectors and the like).
	initRegs linux.PtraceRegs
}

// startZygote execs and sets up the zygote.
func startZygote(memFile, stubFD int) (*zygote, error) {
	z := &zygote{reqs: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: see zygote.
		runtime.LockOSThread()
		defer close(z.done)
		if err := z.start(memFile, stubFD); err != nil {
			if z.stub.tgid != 0 {
				unix.Kill(int(z.stub.tgid), unix.SIGKILL)
				z.stub.waitExit()
			}
			started <- err
			return
		}
		started <- nil
		for f := range z.reqs {
			f()
		}
		unix.Kill(int(z.stub.tgid), unix.SIGKILL)
		z.stub.waitExit()
	}()
	if err := <-started; err != nil {
		<-z.done
		return nil, err
	}
	return z, nil
}

// start forks and execs the zygote and sets up its address space.
//
// Precondition: called on the zygote's locked OS thread.
func (z *zygote) start(memFile, stubFD int) error {
	// The stub gets no stdio; fd 3 is the memory file, fd 4 its own executable,
	// which exec finds through /proc (the path resolves in the child, after the
	// fds were arranged). Setsid keeps terminal signals away from it.
	none := ^uintptr(0)
	attr := &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{none, none, none, uintptr(memFile), uintptr(stubFD)},
		Sys: &syscall.SysProcAttr{
			Ptrace:    true,
			Pdeathsig: syscall.SIGKILL,
			Setsid:    true,
		},
	}
	pid, err := syscall.ForkExec(fmt.Sprintf("/proc/self/fd/%d", stubSelfFD), []string{"visor-stub"}, attr)
	if err != nil {
		return fmt.Errorf("starting the ptrace stub: %w", err)
	}
	z.stub = thread{tgid: int32(pid), tid: int32(pid), tracer: int32(unix.Gettid()), cpu: -1}

	// PTRACE_TRACEME + exec: the stub stops with SIGTRAP before its first
	// instruction.
	st, err := z.stub.wait()
	if err != nil {
		return fmt.Errorf("waiting for the ptrace stub: %w", err)
	}
	if !st.stopped() || st.stopSig() != int(unix.SIGTRAP) {
		return fmt.Errorf("ptrace stub %d %v, want a SIGTRAP stop at exec", pid, st)
	}
	if err := ptraceRaw(unix.PTRACE_SETOPTIONS, z.stub.tid, 0, ptraceOptions); err != nil {
		return fmt.Errorf("PTRACE_SETOPTIONS on stub %d: %w", pid, err)
	}
	if err := getRegs(z.stub.tid, &z.initRegs); err != nil {
		return fmt.Errorf("PTRACE_GETREGS on stub %d: %w", pid, err)
	}

	// Map the stub page at stubAddr, running from the exec-time copy.
	m := &z.stub
	r, err := m.syscall(&z.initRegs, stubLoadAddr+offSyscall, stubLoadAddr+offSyscall+3,
		unix.SYS_MMAP, stubAddr, pageSize, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_FIXED, stubSelfFD, 0)
	if err != nil {
		return fmt.Errorf("mapping the stub page: %w", err)
	}
	if r != stubAddr {
		return fmt.Errorf("mapping the stub page: got %#x, want %#x", r, uintptr(stubAddr))
	}
	// From now on run from stubAddr. Unmap everything else below the top of the
	// user address space (stubAddr+pageSize == hostTaskSize): the ELF's first copy,
	// the stack, the vDSO and vvar. The vsyscall page is above TASK_SIZE and can't
	// be unmapped; it is outside [MinUserAddress, MaxUserAddress) anyway.
	steps := []struct {
		what string
		nr   uintptr
		args []uintptr
	}{
		{"unmapping the stub's initial mappings", unix.SYS_MUNMAP, []uintptr{0, stubAddr}},
		// Drop fd 4 and any non-close-on-exec fd the Sentry leaked.
		{"closing stub fds", closeRangeSyscall, []uintptr{stubSelfFD, ^uintptr(0) >> 32, 0}},
		{"naming the stub", unix.SYS_PRCTL, []uintptr{unix.PR_SET_NAME, stubNameAddr, 0, 0, 0}},
		{"setting no_new_privs", unix.SYS_PRCTL, []uintptr{unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0}},
		// A stub needs no capability, and the Sentry, which drops all of its
		// own, can only trace processes whose capabilities it has.
		{"dropping the stub's capabilities", unix.SYS_CAPSET, []uintptr{stubCapHdrAddr, stubCapsAddr}},
		{"installing the stub's seccomp filter", unix.SYS_SECCOMP, []uintptr{seccompSetModeFilt, 0, stubFprogAddr}},
	}
	for _, s := range steps {
		if _, err := m.syscall(&z.initRegs, stubSyscallAddr, stubSyscallEnd, s.nr, s.args...); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return nil
}

// fork makes a new stub process, a child of the Sentry parked untraced in the
// pause loop, and returns its PID. Any goroutine may call it.
func (z *zygote) fork() (int32, error) {
	var (
		pid uintptr
		err error
	)
	done := make(chan struct{})
	z.reqs <- func() {
		defer close(done)
		regs := z.initRegs
		regs.R12 = uint64(unix.Getpid()) // the parent forkTrap's child checks for
		pid, err = z.stub.syscall(&regs, stubForkAddr, stubForkEnd, unix.SYS_CLONE, unix.CLONE_PARENT|uintptr(unix.SIGCHLD), 0, 0, 0, 0)
	}
	<-done
	if err != nil {
		return 0, fmt.Errorf("ptrace: forking a stub from the zygote: %w", err)
	}
	return int32(pid), nil
}

// stop kills and reaps the zygote. Stubs forked from it that are still alive get
// their PR_SET_PDEATHSIG when its tracer thread exits.
func (z *zygote) stop() {
	close(z.reqs)
	<-z.done
}
