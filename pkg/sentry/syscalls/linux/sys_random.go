package linux

import (
	"crypto/rand"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// Flags of getrandom(2).
const (
	grndNonblock = 0x1
	grndRandom   = 0x2
	grndInsecure = 0x4
)

// Getrandom implements getrandom(2) from the Sentry's own entropy (Go's
// crypto/rand), which never blocks once the host has booted.
func Getrandom(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	addr, length, flags := args[0].Pointer(), args[1].Uint64(), args[2].Uint()
	if flags&^(grndNonblock|grndRandom|grndInsecure) != 0 || flags&(grndRandom|grndInsecure) == grndRandom|grndInsecure {
		return 0, linux.EINVAL
	}
	// Like Linux, return at most 32 MiB - 1 per call.
	if length > 1<<25-1 {
		length = 1<<25 - 1
	}
	buf := make([]byte, length)
	rand.Read(buf)
	n, err := t.CopyOutBytes(addr, buf)
	if n > 0 {
		return uintptr(n), nil
	}
	return 0, err
}
