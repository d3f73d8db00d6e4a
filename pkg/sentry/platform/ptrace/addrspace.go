package ptrace

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/platform"
)

// errReleased is returned when an address space is used after Release.
var errReleased = errors.New("ptrace: address space released")

// AddressSpace is an application address space: one stub process.
//
// The stub's first thread (the master) is a child of, and traced by, a goroutine
// locked to its OS thread for the address space's life (serve). MapFile and Unmap
// run there as injected mmap/munmap; so does the clone of each further stub thread,
// which is then handed to the OS thread of the Context that needs it (newThread).
//
// Lock order: Context.mu, then AddressSpace.mu, then AddressSpace.mapsMu.
type AddressSpace struct {
	p *Platform

	// reqs carries functions to run on the master's tracer (serve). Closed by
	// Release, under mu.
	reqs chan func()
	// served is closed when serve has killed and reaped the stub.
	served chan struct{}

	// master is the stub's first thread (tid == tgid); only serve touches it.
	master thread
	// initRegs are the master's registers at exec: valid segment selectors etc.
	// for running stub code. Set before NewAddressSpace returns; read-only after.
	initRegs linux.PtraceRegs

	// releasedFlag mirrors released for Switch's fast path.
	releasedFlag atomic.Bool

	// mu guards released, threads and the closing of reqs (do holds it for
	// reading while it sends).
	mu       sync.RWMutex
	released bool
	// threads are the stub threads handed out to contexts and not yet exited.
	// Whoever removes a thread from this set must reap it.
	threads map[*thread]struct{}
	// byTracer maps a tracer OS thread to one of the threads it traces, which
	// MapFile and Unmap use to inject their syscalls without leaving the caller's
	// OS thread.
	byTracer map[int32]*thread

	mapsMu sync.Mutex
	maps   mappings
}

var _ platform.AddressSpace = (*AddressSpace)(nil)

// NewAddressSpace implements platform.Platform.NewAddressSpace: it starts a stub
// process and empties its address space.
func (p *Platform) NewAddressSpace() (platform.AddressSpace, error) {
	as := &AddressSpace{
		p:        p,
		reqs:     make(chan func()),
		served:   make(chan struct{}),
		threads:  make(map[*thread]struct{}),
		byTracer: make(map[int32]*thread),
	}
	started := make(chan error, 1)
	go as.serve(started)
	if err := <-started; err != nil {
		<-as.served
		return nil, err
	}
	p.remember(as)
	return as, nil
}

// StubPID returns the host PID of the stub process, for diagnostics.
func (as *AddressSpace) StubPID() int { return int(as.master.tgid) }

// serve starts the stub and runs requests on the master's tracer until Release.
func (as *AddressSpace) serve(started chan<- error) {
	// Never unlocked: this OS thread is the stub's parent and tracer, and when it
	// exits (this goroutine returns while locked), PR_SET_PDEATHSIG and
	// PTRACE_O_EXITKILL kill the stub. That is also what happens if the Sentry dies.
	runtime.LockOSThread()
	defer close(as.served)

	if err := as.start(); err != nil {
		if as.master.tgid != 0 {
			unix.Kill(int(as.master.tgid), unix.SIGKILL)
			as.master.waitExit()
		}
		started <- err
		return
	}
	started <- nil
	for f := range as.reqs {
		f()
	}
	as.shutdown()
}

// start forks the stub from the zygote, then seizes it: from here on the
// calling thread is its tracer.
//
// Precondition: called on serve's locked OS thread.
func (as *AddressSpace) start() error {
	pid, err := as.p.zygote.fork()
	if err != nil {
		return err
	}
	as.master = thread{tgid: pid, tid: pid, tracer: int32(unix.Gettid()), cpu: -1}
	as.initRegs = as.p.zygote.initRegs
	if err := as.master.seize(); err != nil {
		return err
	}
	// The stub set PR_SET_PDEATHSIG itself unless the seizure came first;
	// PTRACE_O_EXITKILL covers the rest of its life, this the time the
	// Sentry is alive but not tracing it.
	if _, err := as.master.syscall(&as.initRegs, stubSyscallAddr, stubSyscallEnd, unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL)); err != nil {
		return fmt.Errorf("ptrace: setting the stub's death signal: %w", err)
	}
	return nil
}

// shutdown kills the stub process and reaps all of its threads.
//
// Precondition: called on serve's locked OS thread after Release.
func (as *AddressSpace) shutdown() {
	as.mu.Lock()
	threads := as.threads
	as.threads = nil
	as.byTracer = nil
	for t := range threads {
		t.dead = true
	}
	as.mu.Unlock()

	unix.Kill(int(as.master.tgid), unix.SIGKILL)
	// Other threads first: the kernel holds back the leader's exit status until
	// the rest of the group is reaped. Any thread of the Sentry may reap a tracee.
	for t := range threads {
		t.waitExitOrGone()
	}
	as.master.waitExit()
}

// do runs f on the master's tracer and waits for it. It returns false if the address
// space was released.
func (as *AddressSpace) do(f func()) bool {
	done := make(chan struct{})
	as.mu.RLock()
	if as.released {
		as.mu.RUnlock()
		return false
	}
	as.reqs <- func() {
		if as.p.pin.Load() {
			as.master.bind()
		}
		f()
		close(done)
	}
	as.mu.RUnlock()
	<-done
	return true
}

// injectSyscall runs a host syscall in the stub. If the calling OS thread traces a
// stub thread of this address space (a task goroutine handling a fault, the common
// case), that thread runs it: no hand-off to another OS thread. Otherwise the master
// runs it.
//
// A thread borrowed this way is stopped (its tracer, the caller, is not in Switch);
// its registers are clobbered, which is fine: Switch sets them all before it runs
// application code again.
func (as *AddressSpace) injectSyscall(nr uintptr, args ...uintptr) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	as.mu.RLock()
	t := as.byTracer[int32(unix.Gettid())]
	released := as.released
	as.mu.RUnlock()
	if released {
		return 0, errReleased
	}
	if t != nil {
		if as.p.pin.Load() {
			t.bind()
		}
		return t.syscall(&as.initRegs, stubSyscallAddr, stubSyscallEnd, nr, args...)
	}
	return as.masterSyscall(nr, args...)
}

// masterSyscall injects a syscall into the master.
func (as *AddressSpace) masterSyscall(nr uintptr, args ...uintptr) (uintptr, error) {
	var (
		r   uintptr
		err error
	)
	if !as.do(func() { r, err = as.master.syscall(&as.initRegs, stubSyscallAddr, stubSyscallEnd, nr, args...) }) {
		return 0, errReleased
	}
	return r, err
}

// checkRange validates a page-aligned application range.
func (as *AddressSpace) checkRange(addr uintptr, length uint64) error {
	if addr%pageSize != 0 || length%pageSize != 0 || length == 0 ||
		addr < minUserAddress || uint64(addr)+length > stubAddr || uint64(addr)+length < uint64(addr) {
		return fmt.Errorf("ptrace: bad application range [%#x, %#x): %w", addr, uint64(addr)+length, unix.EINVAL)
	}
	return nil
}

// MapFile implements platform.AddressSpace.MapFile as an injected
// mmap(addr, length, prot, MAP_SHARED|MAP_FIXED, memfd, offset). It may be called
// from any goroutine.
func (as *AddressSpace) MapFile(addr uintptr, offset, length uint64, at platform.AccessType) error {
	if err := as.checkRange(addr, length); err != nil {
		return err
	}
	if offset%pageSize != 0 {
		return fmt.Errorf("ptrace: unaligned memory file offset %#x: %w", offset, unix.EINVAL)
	}
	r, err := as.injectSyscall(unix.SYS_MMAP, addr, uintptr(length), uintptr(at.Prot()),
		unix.MAP_SHARED|unix.MAP_FIXED, stubMemFD, uintptr(offset))
	if err == nil && r != addr {
		err = fmt.Errorf("ptrace: mmap at %#x returned %#x", addr, r)
	}
	if err != nil {
		// The old mapping may or may not be gone; forget it so a fault there is
		// not misclassified.
		as.mapsMu.Lock()
		as.maps.remove(addr, addr+uintptr(length))
		as.mapsMu.Unlock()
		return err
	}
	as.mapsMu.Lock()
	as.maps.set(addr, addr+uintptr(length), at)
	as.mapsMu.Unlock()
	return nil
}

// Unmap implements platform.AddressSpace.Unmap as an injected munmap. Ranges outside
// [MinUserAddress, MaxUserAddress) are clipped so the stub page can't be removed.
func (as *AddressSpace) Unmap(addr uintptr, length uint64) {
	start, end := uint64(addr), uint64(addr)+length
	if end < start || end > stubAddr {
		end = stubAddr
	}
	if start < minUserAddress {
		start = minUserAddress
	}
	start &^= pageSize - 1
	end = (end + pageSize - 1) &^ (pageSize - 1)
	if start >= end {
		return
	}
	as.mapsMu.Lock()
	as.maps.remove(uintptr(start), uintptr(end))
	as.mapsMu.Unlock()
	_, err := as.injectSyscall(unix.SYS_MUNMAP, uintptr(start), uintptr(end-start))
	if errno, ok := err.(unix.Errno); ok {
		// munmap of a valid range can't fail; if it did, the address space
		// must not be trusted. (Other errors mean the stub is dead or
		// released; its next Switch says so.)
		panic(fmt.Sprintf("ptrace: munmap [%#x, %#x) in stub %d: %v", start, end, as.master.tgid, errno))
	}
}

// Release implements platform.AddressSpace.Release: it kills the stub process and
// reaps it. Stub threads that contexts still hold become dead; contexts drop them.
func (as *AddressSpace) Release() {
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		return
	}
	as.released = true
	as.releasedFlag.Store(true)
	close(as.reqs)
	as.mu.Unlock()
	<-as.served
	as.p.forget(as)
}

// newThread makes a stub thread traced by the calling OS thread (tracer): the master
// clones it into the pause loop, untraced; the caller seizes it and interrupts it
// into a ptrace-stop. PTRACE_SEIZE + PTRACE_INTERRUPT (rather than PTRACE_ATTACH
// and SIGSTOP) keep job-control stops out of the picture: a SIGSTOP would stop the
// whole stub thread group.
//
// Precondition: the caller is locked to its OS thread, whose TID is tracer.
func (as *AddressSpace) newThread(tracer int32) (*thread, error) {
	var (
		tid uintptr
		err error
	)
	if !as.do(func() {
		tid, err = as.master.syscall(&as.initRegs, stubCloneAddr, stubCloneEnd, unix.SYS_CLONE, stubThreadClone, 0, 0, 0, 0)
	}) {
		return nil, errReleased
	}
	if err != nil {
		return nil, fmt.Errorf("ptrace: cloning a stub thread: %w", err)
	}
	t := &thread{tgid: as.master.tgid, tid: int32(tid), tracer: tracer, cpu: -1}
	// On failure the thread parks in pause(2) untraced; it dies with the process.
	if err := t.seize(); err != nil {
		return nil, err
	}
	as.mu.Lock()
	if as.released {
		as.mu.Unlock()
		// shutdown didn't see it; it is ours to reap once the kill lands.
		t.waitExit()
		return nil, errReleased
	}
	as.threads[t] = struct{}{}
	as.byTracer[tracer] = t
	as.mu.Unlock()
	return t, nil
}

// dropThread removes t from the address space, and reports whether the caller now
// owns reaping it (false: it is dead already, or Release is reaping it).
func (as *AddressSpace) dropThread(t *thread) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	if t.dead {
		return false
	}
	t.dead = true
	if _, ok := as.threads[t]; !ok {
		return false
	}
	delete(as.threads, t)
	if as.byTracer[t.tracer] == t {
		delete(as.byTracer, t.tracer)
		// Another thread with the same tracer (a second context on the same
		// OS thread) can stand in.
		for o := range as.threads {
			if o.tracer == t.tracer {
				as.byTracer[t.tracer] = o
				break
			}
		}
	}
	return true
}

// faultAccess works out the access that caused a fault of signal si at regs.
//
// ptrace can't read the page-fault error code (the kernel only exposes it in the
// sigcontext of a signal frame, and the stub never takes one), so it is recovered
// from what the platform knows:
//   - the fault address within the 16 bytes at rip, on a page not mapped
//     executable: an instruction fetch, Execute;
//   - SEGV_ACCERR on a page this address space mapped readable but not writable:
//     Write (x86 has no write-only pages, so a read there can't fault);
//   - everything else, notably SEGV_MAPERR (nothing mapped): Read.
//
// A write to an unmapped page is thus first reported as a Read. The Sentry maps the
// page for reading (and writing, if nothing prevents it); if it maps it read-only
// the retry faults with SEGV_ACCERR and is reported as a Write. So every fault is
// resolved, at worst with one extra round.
func (as *AddressSpace) faultAccess(si *linux.SignalInfo, regs *linux.PtraceRegs) platform.AccessType {
	addr := si.Addr()
	as.mapsMu.Lock()
	at, mapped := as.maps.lookup(uintptr(addr))
	as.mapsMu.Unlock()
	if addr >= regs.Rip && addr < regs.Rip+16 && !(mapped && at.Execute) {
		return platform.AccessType{Execute: true}
	}
	if si.Signo == int32(unix.SIGSEGV) && si.Code == segvAccErr && mapped && at.Read && !at.Write {
		return platform.AccessType{Write: true}
	}
	return platform.AccessType{Read: true}
}

// SEGV_ACCERR: the page is mapped but the access isn't allowed.
const segvAccErr = 2
