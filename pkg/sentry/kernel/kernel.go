// Package kernel is the core of the Sentry: the Kernel that owns the sandbox's tasks
// and the Task that runs one application thread — the process tree, PIDs,
// credentials, signals, futexes and timers. Tasks run application code through a
// platform (pkg/sentry/platform) and dispatch its system calls through a
// SyscallTable, whose handlers live in pkg/sentry/syscalls/linux.
package kernel

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/platform"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Release is the kernel release Visor reports in uname(2) and /proc: Linux's
// version whose system call ABI it follows, marked as Visor's own.
const Release = "6.1.0-visor"

// Version is uname(2)'s version field.
const Version = "#1 SMP Visor"

// Config is what a Kernel is built from.
type Config struct {
	// Platform runs application code; MemoryFile backs application memory.
	Platform   platform.Platform
	MemoryFile *pgalloc.MemoryFile
	// VFS holds the sandbox's mounts.
	VFS *vfs.VirtualFilesystem
	// Syscalls is the table application system calls are dispatched through.
	Syscalls *SyscallTable
	// Unsupported is told of each system call the application makes that Visor
	// lacks. Nil discards the events.
	Unsupported UnsupportedSyscallReporter
	// Strace, if set, is told of every system call (runsc --strace).
	Strace SyscallTracer
	// TotalMemory is the memory the sandbox reports having (sysinfo, /proc/meminfo);
	// 0 means the host's.
	TotalMemory uint64
	// Hostname and Domainname are what uname(2) reports.
	Hostname, Domainname string
	// Logf logs Sentry-internal events; nil discards them.
	Logf func(format string, args ...any)
}

// SyscallTracer sees every system call as it returns (strace).
type SyscallTracer interface {
	SyscallExit(t *Task, sysno uintptr, args [6]uintptr, rval uintptr, err error)
}

// Kernel is one sandbox's kernel.
type Kernel struct {
	platform    platform.Platform
	mf          *pgalloc.MemoryFile
	vfs         *vfs.VirtualFilesystem
	syscalls    *SyscallTable
	unsupported UnsupportedSyscallReporter
	strace      SyscallTracer
	logger      func(format string, args ...any)

	tasks   *TaskSet
	futexes *FutexManager

	// xstateSize is the size of the host's XSAVE area, learnt from the first
	// signal frame; sigreturn reads that much back.
	xstateSize atomic.Int32

	totalMemory uint64

	// bootTime is when the host booted, by the wall clock: CLOCK_MONOTONIC,
	// CLOCK_BOOTTIME and uptime count from it.
	bootTime time.Time

	// utsMu guards the UTS names (sethostname changes them).
	utsMu      sync.Mutex
	hostname   string
	domainname string

	// initExit is closed when the sandbox's init exits; initStatus is then its status.
	initOnce   sync.Once
	initExit   chan struct{}
	initStatus linux.WaitStatus

	// pause stops every task while the sandbox is paused (kernel_control.go).
	pause pauseState
}

// New returns a Kernel built from cfg.
func New(cfg Config) (*Kernel, error) {
	if cfg.Syscalls == nil {
		return nil, errors.New("kernel: no system call table")
	}
	unsupported := cfg.Unsupported
	if unsupported == nil {
		unsupported = discardUnsupported{}
	}
	logger := cfg.Logf
	if logger == nil {
		logger = func(string, ...any) {}
	}
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = "localhost"
	}
	domainname := cfg.Domainname
	if domainname == "" {
		domainname = "(none)"
	}
	totalMemory := cfg.TotalMemory
	if totalMemory == 0 {
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return nil, fmt.Errorf("kernel: reading the host's memory size: %w", err)
		}
		totalMemory = si.Totalram * uint64(si.Unit)
	}
	// The sandbox's monotonic and boot clocks count from the host's boot: programs
	// subtract seconds from CLOCK_MONOTONIC and expect a valid time, as on any
	// machine that has been up for a while.
	var sinceBoot unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &sinceBoot); err != nil {
		return nil, fmt.Errorf("kernel: reading the host's boot time: %w", err)
	}
	return &Kernel{
		totalMemory: totalMemory,
		platform:    cfg.Platform,
		mf:          cfg.MemoryFile,
		vfs:         cfg.VFS,
		syscalls:    cfg.Syscalls,
		unsupported: unsupported,
		strace:      cfg.Strace,
		logger:      logger,
		tasks:       newTaskSet(),
		futexes:     newFutexManager(),
		bootTime:    time.Now().Add(-time.Duration(sinceBoot.Nano())),
		hostname:    hostname,
		domainname:  domainname,
		initExit:    make(chan struct{}),
	}, nil
}

// SyscallTable returns the table the kernel dispatches system calls through.
func (k *Kernel) SyscallTable() *SyscallTable { return k.syscalls }

// Platform returns the platform application code runs on.
func (k *Kernel) Platform() platform.Platform { return k.platform }

// MemoryFile returns the file that backs application memory.
func (k *Kernel) MemoryFile() *pgalloc.MemoryFile { return k.mf }

// VFS returns the sandbox's virtual filesystem.
func (k *Kernel) VFS() *vfs.VirtualFilesystem { return k.vfs }

// TotalMemory returns the memory the sandbox reports having.
func (k *Kernel) TotalMemory() uint64 { return k.totalMemory }

// Futexes returns the kernel's futex waiters.
func (k *Kernel) Futexes() *FutexManager { return k.futexes }

// RootPIDNamespace returns the sandbox's PID namespace.
func (k *Kernel) RootPIDNamespace() *PIDNamespace { return k.tasks.root }

// BootTime returns when the sandbox's clocks started: the host's boot.
func (k *Kernel) BootTime() time.Time { return k.bootTime }

// UTSNames returns the host and domain names.
func (k *Kernel) UTSNames() (hostname, domainname string) {
	k.utsMu.Lock()
	defer k.utsMu.Unlock()
	return k.hostname, k.domainname
}

// SetHostname sets the host name (sethostname).
func (k *Kernel) SetHostname(name string) {
	k.utsMu.Lock()
	defer k.utsMu.Unlock()
	k.hostname = name
}

// SetDomainname sets the NIS domain name (setdomainname).
func (k *Kernel) SetDomainname(name string) {
	k.utsMu.Lock()
	defer k.utsMu.Unlock()
	k.domainname = name
}

func (k *Kernel) logf(format string, args ...any) { k.logger(format, args...) }

func (k *Kernel) syscallName(sysno uintptr) string {
	if s, ok := k.syscalls.Lookup(sysno); ok {
		return s.Name
	}
	return "unknown"
}

// initExited records the status of the sandbox's init.
func (k *Kernel) initExited(status linux.WaitStatus) {
	k.initOnce.Do(func() {
		k.initStatus = status
		close(k.initExit)
	})
}

// WaitExited waits until the sandbox's init has exited and every task goroutine
// has returned, and returns init's status: the container's.
func (k *Kernel) WaitExited() linux.WaitStatus {
	<-k.initExit
	k.tasks.liveGoroutines.Wait()
	return k.initStatus
}

// Kill sends sig to every process of the sandbox (runsc kill --all), init last.
func (k *Kernel) Kill(sig int) {
	for id, tg := range k.tasks.root.ThreadGroups() {
		if id != 1 {
			tg.SendSignal(&linux.SignalInfo{Signo: int32(sig), Code: linux.SI_KERNEL})
		}
	}
	if init := k.tasks.root.TaskWithID(1); init != nil {
		init.tg.SendSignal(&linux.SignalInfo{Signo: int32(sig), Code: linux.SI_KERNEL})
	}
}
