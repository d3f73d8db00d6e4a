package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/eventfd"
)

// Eventfd implements eventfd(2).
func Eventfd(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return eventfd2(t, args[0].Uint(), 0)
}

// Eventfd2 implements eventfd2(2): EFD_CLOEXEC, EFD_NONBLOCK and EFD_SEMAPHORE.
func Eventfd2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return eventfd2(t, args[0].Uint(), args[1].Uint())
}

func eventfd2(t *kernel.Task, initVal, flags uint32) (uintptr, error) {
	if flags&^(eventfd.EFD_SEMAPHORE|eventfd.EFD_CLOEXEC|eventfd.EFD_NONBLOCK) != 0 {
		return 0, linux.EINVAL
	}
	file := eventfd.New(t.Kernel().VFS(), uint64(initVal), flags&eventfd.EFD_SEMAPHORE != 0, flags&eventfd.EFD_NONBLOCK)
	defer file.DecRef()
	fd, err := t.FDTable().NewFD(0, file, kernel.FDFlags{CloseOnExec: flags&eventfd.EFD_CLOEXEC != 0}, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}
