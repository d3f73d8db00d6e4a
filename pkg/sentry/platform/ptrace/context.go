package ptrace

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/platform"
)

// threadKey names the stub thread a context uses in one address space from one tracer
// OS thread.
type threadKey struct {
	as     *AddressSpace
	tracer int32
}

// Context runs application threads on stub threads.
//
// Lock order: Context.mu, then AddressSpace.mu.
type Context struct {
	p *Platform

	// mu guards interrupted and running, which Interrupt uses from any goroutine.
	mu sync.Mutex
	// interrupted is set by Interrupt and consumed by the Switch it interrupts.
	interrupted bool
	// running is the stub thread a Switch is running, nil between Switches.
	running *thread

	// threads are this context's stub threads. Only the goroutine using the context
	// (Switch, Release, GetXState, SetXState) touches the map.
	threads map[threadKey]*thread
	// last caches the most recently used thread.
	last    *thread
	lastKey threadKey
}

var _ platform.Context = (*Context)(nil)

// errStubDied is wrapped in Switch's error when the stub thread died under it.
var errStubDied = errors.New("ptrace: stub thread died")

// thread returns the caller's stub thread in as, creating it if needed.
//
// Precondition: the caller is locked to its OS thread.
func (c *Context) thread(as *AddressSpace) (*thread, error) {
	key := threadKey{as, int32(unix.Gettid())}
	if c.last != nil && c.lastKey == key {
		return c.last, nil
	}
	t, ok := c.threads[key]
	if !ok {
		// Forget threads of released address spaces (a task's context outlives
		// the address spaces of every exec), so they and their AddressSpace can
		// be collected. Release killed and reaped them.
		for k := range c.threads {
			if k.as.releasedFlag.Load() {
				delete(c.threads, k)
			}
		}
		var err error
		if t, err = as.newThread(key.tracer); err != nil {
			return nil, err
		}
		c.threads[key] = t
	}
	c.last, c.lastKey = t, key
	return t, nil
}

// forgetThread drops t from the context after it died.
func (c *Context) forgetThread(key threadKey) {
	delete(c.threads, key)
	if c.lastKey == key {
		c.last = nil
	}
}

// Switch implements platform.Context.Switch.
//
// The registers are set with PTRACE_SETREGS, except: the segment selectors are the
// stub's (the application can't choose them), and orig_rax is -1, so that when the
// thread resumes from a stop that interrupted a host syscall (the pause(2) a new
// thread parks in) the kernel doesn't restart it on top of the application's
// registers.
//
// Precondition: the caller is locked to its OS thread.
func (c *Context) Switch(pas platform.AddressSpace, ac *arch.Context64) (*linux.SignalInfo, platform.AccessType, error) {
	as, ok := pas.(*AddressSpace)
	if !ok {
		return nil, platform.NoAccess, fmt.Errorf("ptrace: foreign address space %T", pas)
	}
	if as.releasedFlag.Load() {
		return nil, platform.NoAccess, errReleased
	}
	t, err := c.thread(as)
	if err != nil {
		return nil, platform.NoAccess, err
	}

	c.mu.Lock()
	if c.interrupted {
		c.interrupted = false
		c.mu.Unlock()
		return nil, platform.NoAccess, platform.ErrContextInterrupt
	}
	c.running = t
	c.mu.Unlock()

	si, at, err := c.run(as, t, ac)

	c.mu.Lock()
	c.running = nil
	c.mu.Unlock()
	if errors.Is(err, errStubDied) {
		c.forgetThread(c.lastKey)
		as.dropThread(t) // reaped already by run's wait
	}
	return si, at, err
}

// run runs t with ac's registers until a stop worth reporting.
//
// Precondition: called by t's tracer; t is stopped; c.running == t.
func (c *Context) run(as *AddressSpace, t *thread, ac *arch.Context64) (*linux.SignalInfo, platform.AccessType, error) {
	if c.p.pin.Load() {
		t.bind()
	}
	regs := ac.Regs
	init := &as.initRegs
	regs.Cs, regs.Ss, regs.Ds, regs.Es, regs.Fs, regs.Gs = init.Cs, init.Ss, init.Ds, init.Es, init.Fs, init.Gs
	regs.Orig_rax = ^uint64(0)
	if err := setRegs(t.tid, &regs); err != nil {
		return nil, platform.NoAccess, t.ptraceError("PTRACE_SETREGS", err)
	}
	for {
		if err := t.resume(unix.PTRACE_SYSEMU); err != nil {
			return nil, platform.NoAccess, t.ptraceError("PTRACE_SYSEMU", err)
		}
		st, err := t.wait()
		if err != nil {
			return nil, platform.NoAccess, fmt.Errorf("ptrace: waiting for stub thread %d: %v: %w", t.tid, err, errStubDied)
		}
		if !st.stopped() {
			return nil, platform.NoAccess, fmt.Errorf("ptrace: stub thread %d %v: %w", t.tid, st, errStubDied)
		}
		sig := st.stopSig()
		switch {
		case sig == int(syscallStopSig):
			// Syscall-entry stop: rip is after the syscall instruction,
			// orig_rax is the syscall number.
			if err := getRegs(t.tid, &ac.Regs); err != nil {
				return nil, platform.NoAccess, t.ptraceError("PTRACE_GETREGS", err)
			}
			return nil, platform.NoAccess, nil

		case st.event() != 0:
			// PTRACE_EVENT_STOP: a group-stop (someone sent the stub
			// SIGSTOP) or a stray PTRACE_INTERRUPT. Keep running.
			continue

		case sig == int(signalInterrupt):
			c.mu.Lock()
			pending := c.interrupted
			c.interrupted = false
			c.mu.Unlock()
			if !pending {
				// The signal of an Interrupt that an earlier stop
				// already answered; suppress it.
				continue
			}
			if err := getRegs(t.tid, &ac.Regs); err != nil {
				return nil, platform.NoAccess, t.ptraceError("PTRACE_GETREGS", err)
			}
			return nil, platform.NoAccess, platform.ErrContextInterrupt

		default:
			// Signal-delivery-stop: a fault or a signal sent to the thread.
			// It is suppressed: the next resume passes no signal.
			si := new(linux.SignalInfo)
			if err := getSigInfo(t.tid, si); err != nil {
				return nil, platform.NoAccess, t.ptraceError("PTRACE_GETSIGINFO", err)
			}
			if err := getRegs(t.tid, &ac.Regs); err != nil {
				return nil, platform.NoAccess, t.ptraceError("PTRACE_GETREGS", err)
			}
			at := platform.NoAccess
			switch si.Signo {
			case int32(unix.SIGSEGV), int32(unix.SIGBUS):
				if si.Code > 0 { // sent by the kernel for a fault
					at = as.faultAccess(si, &ac.Regs)
				}
			}
			return si, at, platform.ErrContextSignal
		}
	}
}

// ptraceError reports a failed ptrace request on t. ESRCH means t is not in a
// ptrace-stop any more: it was killed (with its whole stub process, since nothing
// kills single stub threads); reap it and say it died.
//
// Precondition: called by t's tracer.
func (t *thread) ptraceError(req string, err error) error {
	if tid := int32(unix.Gettid()); tid != t.tracer {
		return fmt.Errorf("ptrace: %s on stub thread %d from OS thread %d, but its tracer is %d (is the caller locked to its OS thread?): %w", req, t.tid, tid, t.tracer, err)
	}
	if err == unix.ESRCH {
		t.waitExit()
		return fmt.Errorf("ptrace: %s on stub thread %d: %v: %w", req, t.tid, err, errStubDied)
	}
	return fmt.Errorf("ptrace: %s on stub thread %d: %w", req, t.tid, err)
}

// Interrupt implements platform.Context.Interrupt: it marks the context interrupted
// and, if a Switch is running a thread, sends that thread signalInterrupt (SIGCHLD:
// nothing in the stub makes children, and if the thread were ever untraced the
// default action is to ignore it). The stop for it makes the Switch return
// ErrContextInterrupt.
func (c *Context) Interrupt() {
	c.mu.Lock()
	c.interrupted = true
	if t := c.running; t != nil {
		unix.Tgkill(int(t.tgid), int(t.tid), signalInterrupt)
	}
	c.mu.Unlock()
}

// Release implements platform.Context.Release: the context's stub threads exit.
//
// Precondition: called on the OS thread that used the context, before that thread
// exits. Threads this thread can't ptrace (used from another OS thread, in violation
// of Switch's precondition) stay parked until their address space is released; a
// tracer OS thread that exits while its stub thread is alive kills the whole stub
// process (PTRACE_O_EXITKILL), as the only safe thing for a thread that was left
// in the middle of application code.
func (c *Context) Release() {
	tracer := int32(unix.Gettid())
	for key, t := range c.threads {
		if key.tracer != tracer {
			continue
		}
		delete(c.threads, key)
		if !key.as.dropThread(t) {
			continue
		}
		// exit(2) ends just this thread; the seccomp filter allows it from
		// the stub page.
		t.syscall(&key.as.initRegs, stubSyscallAddr, stubSyscallEnd, unix.SYS_EXIT, 0)
		t.waitExit()
	}
	c.last = nil
}

// xthread returns the caller's stub thread in as, which must exist.
func (c *Context) xthread(pas platform.AddressSpace) (*thread, error) {
	as, ok := pas.(*AddressSpace)
	if !ok {
		return nil, fmt.Errorf("ptrace: foreign address space %T", pas)
	}
	t, ok := c.threads[threadKey{as, int32(unix.Gettid())}]
	if !ok {
		return nil, fmt.Errorf("ptrace: no stub thread in this address space for this OS thread")
	}
	return t, nil
}

// GetXState returns the XSAVE area (x87, SSE, AVX, ... state; the kernel's
// NT_X86_XSTATE regset layout) of the thread this context runs in as, as left by the
// last Switch. buf must be large enough: CPUID leaf 0xd (EBX of sub-leaf 0) gives
// the exact size, about 2.7 KiB with AVX-512 and 11 KiB with AMX; 16 KiB is ample.
// The filled prefix is returned.
//
// Precondition: as Switch; not concurrently with it; a Switch in as has run.
func (c *Context) GetXState(as platform.AddressSpace, buf []byte) ([]byte, error) {
	t, err := c.xthread(as)
	if err != nil {
		return nil, err
	}
	n, err := getRegSet(t.tid, ntX86XState, buf)
	if err != nil {
		return nil, fmt.Errorf("ptrace: PTRACE_GETREGSET NT_X86_XSTATE: %w", err)
	}
	return buf[:n], nil
}

// SetXState sets the XSAVE area of the thread this context runs in as (see
// GetXState); the next Switch runs with it.
//
// Precondition: as GetXState.
func (c *Context) SetXState(as platform.AddressSpace, state []byte) error {
	t, err := c.xthread(as)
	if err != nil {
		return err
	}
	if err := setRegSet(t.tid, ntX86XState, state); err != nil {
		return fmt.Errorf("ptrace: PTRACE_SETREGSET NT_X86_XSTATE: %w", err)
	}
	return nil
}
