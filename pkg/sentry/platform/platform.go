// Package platform defines how the Sentry runs application code: an AddressSpace that
// ranges of the Sentry's memory file are mapped into, and a Context that runs one
// application thread in an address space until the thread makes a system call, takes
// a fault or signal, or is interrupted. Implementations live in subpackages (ptrace).
package platform

import (
	"errors"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
)

// AccessType is the access a mapping allows, or the access that faulted.
type AccessType struct {
	Read, Write, Execute bool
}

// Common access types.
var (
	NoAccess  = AccessType{}
	Read      = AccessType{Read: true}
	ReadWrite = AccessType{Read: true, Write: true}
	AnyAccess = AccessType{Read: true, Write: true, Execute: true}
)

// Prot returns at as mmap PROT_* bits.
func (at AccessType) Prot() int {
	p := 0
	if at.Read {
		p |= 0x1 // PROT_READ
	}
	if at.Write {
		p |= 0x2 // PROT_WRITE
	}
	if at.Execute {
		p |= 0x4 // PROT_EXEC
	}
	return p
}

// Platform makes address spaces and contexts.
type Platform interface {
	// NewAddressSpace returns a new, empty address space.
	NewAddressSpace() (AddressSpace, error)
	// NewContext returns a context to run application threads with. A context is
	// used by one task goroutine at a time.
	NewContext() (Context, error)
	// MinUserAddress and MaxUserAddress bound the addresses application mappings may
	// use: [MinUserAddress, MaxUserAddress).
	MinUserAddress() uintptr
	MaxUserAddress() uintptr
	// Release frees the platform's host resources; nothing may be used afterwards.
	Release()
}

// AddressSpace is an application address space: what the application's memory
// accesses see. The Sentry maps ranges of its memory file into it; everything else
// faults.
type AddressSpace interface {
	// MapFile maps [offset, offset+length) of the memory file at addr with access
	// at, replacing whatever was mapped there. addr, offset and length are
	// page-aligned.
	MapFile(addr uintptr, offset, length uint64, at AccessType) error
	// Unmap removes all mappings in [addr, addr+length).
	Unmap(addr uintptr, length uint64)
	// Release frees the address space. It must not be in use by any context.
	Release()
}

// Errors returned by Context.Switch.
var (
	// ErrContextSignal: the thread stopped for a signal (a fault, or a signal the
	// host sent it); the returned SignalInfo says which.
	ErrContextSignal = errors.New("interrupted by signal")
	// ErrContextInterrupt: Interrupt was called.
	ErrContextInterrupt = errors.New("interrupted by platform.Context.Interrupt()")
)

// Context runs application threads.
type Context interface {
	// Switch runs the thread whose registers are in ac, in as, until it stops.
	// It returns nil when the thread made a system call (ac then holds the
	// registers at the call: ac.SyscallNo(), ac.SyscallArgs(); on the next Switch
	// the thread resumes after the syscall instruction with ac.Regs.Rax as the
	// result). It returns ErrContextSignal with the signal's info when the thread
	// faulted or was signalled (for a fault, the AccessType is the access that
	// faulted), and ErrContextInterrupt when Interrupt was called.
	//
	// Precondition: the caller is locked to its OS thread (runtime.LockOSThread)
	// for as long as it uses the context.
	Switch(as AddressSpace, ac *arch.Context64) (*linux.SignalInfo, AccessType, error)
	// Interrupt makes a Switch in progress, or the next one, return
	// ErrContextInterrupt. It may be called from any goroutine.
	Interrupt()
	// Release frees the context.
	Release()
}
