// Package ptrace is the ptrace platform: application code runs in stub processes and
// every system call, fault and signal stops it under ptrace and comes back to the
// Sentry.
//
// An AddressSpace is a stub process: a one-page static executable (stub.go) with no
// libc, whose address space is emptied at start-up except for its own page at the top
// of the user address space. Only one stub, the zygote, is exec'd, when the platform
// starts; every address space's stub is forked from it (zygote.go), so the Sentry
// needs neither a host path nor fork and exec of its own afterwards. Ranges of the Sentry's memory file (passed to the stub as
// fd 3) are mapped into it by injecting mmap and munmap syscalls into the stub's first
// thread, the master, which a goroutine locked to its OS thread traces for the
// address space's life.
//
// Application threads run on further stub threads under PTRACE_SYSEMU: a syscall
// stops the thread at syscall entry, the kernel skips it, and the Sentry sets the
// result in rax before resuming. ptrace requests must come from the OS thread that
// attached the tracee, and task goroutines are locked to their own OS threads, so each
// Context gets, per address space and tracer OS thread, its own stub thread: cloned
// by the master into a pause(2) loop, then PTRACE_SEIZEd by the caller.
//
// Hardening: the stub has no_new_privs and a seccomp filter that kills it for any
// host syscall made from outside its own page, so application code that ever ran
// untraced (its tracer gone) could not make a single host syscall. The stub is
// killed when its tracers exit (PTRACE_O_EXITKILL) and when the zygote's tracer
// thread, its parent, or the Sentry dies (PR_SET_PDEATHSIG).
//
// Floating-point state: each stub thread keeps its own x87/SSE/AVX registers between
// switches, so a thread's FP state persists as long as it keeps its Context and
// AddressSpace. The Sentry does not save it; Context.GetXState and SetXState read
// and write it (NT_X86_XSTATE) for signal frames, fork and exec.
//
// The Sentry must not reap children with wait4(-1) (or waitid P_ALL): that would
// steal the ptrace stops this package waits for.
package ptrace

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/sentry/platform"
)

// Platform is the ptrace platform.
type Platform struct {
	memFile *os.File
	// zygote is the stub every address space's stub is forked from.
	zygote *zygote
	// pin makes Switch bind each stub thread to its tracer's current CPU.
	pin atomic.Bool

	mu sync.Mutex // guards spaces
	// spaces are the live address spaces, released with the platform.
	spaces map[*AddressSpace]struct{}
}

var _ platform.Platform = (*Platform)(nil)

// New returns a ptrace platform whose address spaces map ranges of memFile, the
// Sentry's memory file. It starts the zygote (see zygote.go), so it needs the
// host's /proc; once it returns, the platform needs no host path, nor any system
// call that creates a process other than ptrace's own.
func New(memFile *os.File) (*Platform, error) {
	fd, err := stubFile()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	z, err := startZygote(int(memFile.Fd()), fd)
	if err != nil {
		return nil, err
	}
	p := &Platform{memFile: memFile, zygote: z, spaces: make(map[*AddressSpace]struct{})}
	p.pin.Store(true)
	return p, nil
}

// stubFile writes the stub executable to a memfd and returns a read-only fd of it
// (exec refuses a file that is open for writing).
func stubFile() (int, error) {
	const mfdExec = 0x10 // MFD_EXEC: executable even under vm.memfd_noexec=1
	wfd, err := unix.MemfdCreate("visor-ptrace-stub", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|mfdExec)
	if err == unix.EINVAL {
		wfd, err = unix.MemfdCreate("visor-ptrace-stub", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("ptrace: creating the stub file: %w", err)
	}
	defer unix.Close(wfd)
	img := buildStub()
	if n, err := unix.Pwrite(wfd, img, 0); err != nil || n != len(img) {
		return -1, fmt.Errorf("ptrace: writing the stub file: %d bytes, %v", n, err)
	}
	if _, err := unix.FcntlInt(uintptr(wfd), unix.F_ADD_SEALS,
		unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return -1, fmt.Errorf("ptrace: sealing the stub file: %w", err)
	}
	rfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", wfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("ptrace: reopening the stub file: %w", err)
	}
	return rfd, nil
}

// SetCPUPinning turns on or off binding each stub thread to the CPU its tracer last
// switched to it from (on by default). See thread.bind.
func (p *Platform) SetCPUPinning(on bool) { p.pin.Store(on) }

// NewContext implements platform.Platform.NewContext.
func (p *Platform) NewContext() (platform.Context, error) {
	return &Context{p: p, threads: make(map[threadKey]*thread)}, nil
}

// MinUserAddress implements platform.Platform.MinUserAddress.
func (*Platform) MinUserAddress() uintptr { return minUserAddress }

// MaxUserAddress implements platform.Platform.MaxUserAddress: the stub page sits
// right above it, at the top of the 47-bit user address space.
func (*Platform) MaxUserAddress() uintptr { return stubAddr }

// Release implements platform.Platform.Release: it releases every address space
// still alive.
func (p *Platform) Release() {
	p.mu.Lock()
	spaces := p.spaces
	p.spaces = nil
	p.mu.Unlock()
	for as := range spaces {
		as.Release()
	}
	if p.zygote != nil {
		p.zygote.stop()
		p.zygote = nil
	}
}

// remember and forget track live address spaces.
func (p *Platform) remember(as *AddressSpace) {
	p.mu.Lock()
	if p.spaces != nil {
		p.spaces[as] = struct{}{}
	}
	p.mu.Unlock()
}

func (p *Platform) forget(as *AddressSpace) {
	p.mu.Lock()
	delete(p.spaces, as)
	p.mu.Unlock()
}
