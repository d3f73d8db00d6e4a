package kernel

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/syscallinfo"
)

// SyscallFn is a system call handler. It returns the value the application sees in
// its return register, or an error: a linux.Errno is handed back as -errno.
type SyscallFn func(t *Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error)

// Syscall is one entry of a SyscallTable.
type Syscall struct {
	Name   string
	Fn     SyscallFn
	Status syscallinfo.Status
}

// SyscallTable maps system call numbers to their handlers for one architecture.
type SyscallTable struct {
	// Arch names the architecture, e.g. "amd64".
	Arch string
	// Table is indexed by system call number; entries with a nil Fn are numbers
	// the architecture does not assign.
	Table []Syscall
}

// Lookup returns the entry for sysno, or false if the architecture assigns no
// system call to that number.
func (s *SyscallTable) Lookup(sysno uintptr) (Syscall, bool) {
	if sysno >= uintptr(len(s.Table)) || s.Table[sysno].Fn == nil {
		return Syscall{}, false
	}
	return s.Table[sysno], true
}

// UnsupportedSyscall describes one call of a system call Visor lacks.
type UnsupportedSyscall struct {
	Sysno uintptr
	// Name is empty for numbers the architecture does not assign.
	Name string
	Args arch.SyscallArguments
}

// UnsupportedSyscallReporter is told of every call of a system call Visor lacks, so
// that runsc can log and count them.
type UnsupportedSyscallReporter interface {
	ReportUnsupportedSyscall(t *Task, ev UnsupportedSyscall)
}

type discardUnsupported struct{}

func (discardUnsupported) ReportUnsupportedSyscall(*Task, UnsupportedSyscall) {}

// ReportUnsupportedSyscall tells the kernel's reporter that t called a system call
// Visor lacks.
func (k *Kernel) ReportUnsupportedSyscall(t *Task, ev UnsupportedSyscall) {
	k.unsupported.ReportUnsupportedSyscall(t, ev)
}

// ExecuteSyscall runs system call sysno for t. Numbers the architecture does not
// assign fail with ENOSYS and are reported as unsupported, as the table's stubs do.
func (t *Task) ExecuteSyscall(sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	s, ok := t.k.syscalls.Lookup(sysno)
	if !ok {
		t.k.ReportUnsupportedSyscall(t, UnsupportedSyscall{Sysno: sysno, Args: args})
		return 0, linux.ENOSYS
	}
	return s.Fn(t, sysno, args)
}
