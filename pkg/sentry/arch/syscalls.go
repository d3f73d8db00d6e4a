package arch

// SyscallArgument is one raw system call argument, as the application passed it in a
// register. Handlers interpret it with the accessor for the argument's C type.
type SyscallArgument struct {
	Value uintptr
}

// SyscallArguments are the six argument registers of a system call.
type SyscallArguments [6]SyscallArgument

// Int returns the argument as a C int (the low 32 bits, sign-extended).
func (a SyscallArgument) Int() int32 { return int32(a.Value) }

// Uint returns the argument as a C unsigned int (the low 32 bits).
func (a SyscallArgument) Uint() uint32 { return uint32(a.Value) }

// Int64 returns the argument as a 64-bit signed value (long, off_t, ...).
func (a SyscallArgument) Int64() int64 { return int64(a.Value) }

// Uint64 returns the argument as a 64-bit unsigned value (unsigned long, size_t, ...).
func (a SyscallArgument) Uint64() uint64 { return uint64(a.Value) }

// Pointer returns the argument as an address in the application's address space.
func (a SyscallArgument) Pointer() uintptr { return a.Value }
