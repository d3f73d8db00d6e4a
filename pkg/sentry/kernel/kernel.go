// Package kernel is the core of the Sentry: the Kernel that owns the sandbox's tasks
// and the Task that runs one application thread. It dispatches system calls through a
// SyscallTable; the handlers themselves live in pkg/sentry/syscalls/linux.
package kernel

import "errors"

// Config is what a Kernel is built from.
type Config struct {
	// Syscalls is the table application system calls are dispatched through.
	Syscalls *SyscallTable
	// Unsupported is told of each system call the application makes that Visor
	// lacks. Nil discards the events.
	Unsupported UnsupportedSyscallReporter
}

// Kernel is one sandbox's kernel.
type Kernel struct {
	syscalls    *SyscallTable
	unsupported UnsupportedSyscallReporter
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
	return &Kernel{syscalls: cfg.Syscalls, unsupported: unsupported}, nil
}

// SyscallTable returns the table the kernel dispatches system calls through.
func (k *Kernel) SyscallTable() *SyscallTable { return k.syscalls }

// NewTask returns a task of k.
func (k *Kernel) NewTask() *Task { return &Task{k: k} }
