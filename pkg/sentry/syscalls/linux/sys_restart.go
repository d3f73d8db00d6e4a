package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// RestartSyscall implements restart_syscall(2). Visor restarts interrupted calls
// by re-running them (ERESTARTSYS), so an application never needs this; called
// directly it fails as Linux does with no restart pending.
func RestartSyscall(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, linux.EINTR
}
