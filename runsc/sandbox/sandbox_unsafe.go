package sandbox

import (
	"unsafe"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
)

// siginfoStatus decodes the child-exit siginfo waitid filled in: whether a
// child exited (si_pid is set), and its wait status.
func siginfoStatus(info *unix.Siginfo) (bool, unix.WaitStatus) {
	// For SIGCHLD, the union after si_signo, si_errno, si_code (and padding)
	// holds si_pid, si_uid, then si_status.
	type sigchld struct {
		Signo, Errno, Code int32
		_                  int32
		Pid                int32
		UID                uint32
		Status             int32
	}
	c := (*sigchld)(unsafe.Pointer(info))
	if c.Pid == 0 {
		return false, 0
	}
	switch c.Code {
	case linux.CLD_EXITED:
		return true, unix.WaitStatus(c.Status << 8)
	case linux.CLD_KILLED, linux.CLD_DUMPED:
		return true, unix.WaitStatus(c.Status)
	}
	return true, 0
}
