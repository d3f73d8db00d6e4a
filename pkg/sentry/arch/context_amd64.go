package arch

import "visor.dev/visor/pkg/abi/linux"

// Context64 is the user-visible CPU state of one amd64 application thread: what the
// platform saves when the thread stops and restores when it resumes.
type Context64 struct {
	Regs linux.PtraceRegs
}

// SyscallNo returns the number of the system call the thread stopped in.
func (c *Context64) SyscallNo() uintptr { return uintptr(c.Regs.Orig_rax) }

// SyscallArgs returns the arguments of the system call the thread stopped in, from
// the registers the amd64 ABI passes them in.
func (c *Context64) SyscallArgs() SyscallArguments {
	r := &c.Regs
	return SyscallArguments{
		{Value: uintptr(r.Rdi)}, {Value: uintptr(r.Rsi)}, {Value: uintptr(r.Rdx)},
		{Value: uintptr(r.R10)}, {Value: uintptr(r.R8)}, {Value: uintptr(r.R9)},
	}
}

// SetReturn sets the value the system call returns to the application.
func (c *Context64) SetReturn(v uintptr) { c.Regs.Rax = uint64(v) }
