// Package linux implements the Linux system calls of the Sentry: one hand-written
// handler per call, in sys_<area>.go files named after Linux's, and the amd64
// dispatch table that tools/gen generates from syscalls.yaml (linux64.go). System
// calls that syscalls.yaml marks unimplemented are served by stubs that fail with the
// row's errno and report the call to the kernel.
package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// stub returns the handler of a system call Visor lacks: it reports the call, so
// runsc can log and count it, and fails with errno.
func stub(name string, errno linux.Errno) kernel.SyscallFn {
	return func(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
		t.Kernel().ReportUnsupportedSyscall(t, kernel.UnsupportedSyscall{Sysno: sysno, Name: name, Args: args})
		return 0, errno
	}
}
