package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/pidfd"
)

// PidfdOpen implements pidfd_open(2): PIDFD_NONBLOCK, not PIDFD_THREAD. A PID
// the sandbox does not have (a host process's, say) is ESRCH, as any PID
// outside the caller's PID namespace is on Linux.
func PidfdOpen(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pid, flags := args[0].Int(), args[1].Uint()
	if flags&^pidfd.PIDFD_NONBLOCK != 0 || pid <= 0 {
		return 0, linux.EINVAL
	}
	target := t.Kernel().RootPIDNamespace().TaskWithID(kernel.ThreadID(pid))
	if target == nil {
		return 0, linux.ESRCH
	}
	tg := target.ThreadGroup()
	if tg.Leader() != target {
		// A thread's PID names no process (that is PIDFD_THREAD's): ENOENT,
		// as since Linux 6.9 (EINVAL before).
		return 0, linux.ENOENT
	}
	file := pidfd.New(t.Kernel().VFS(), tg, flags)
	defer file.DecRef()
	fd, err := t.FDTable().NewFD(0, file, kernel.FDFlags{CloseOnExec: true}, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}

// PidfdSendSignal implements pidfd_send_signal(2), without flags (the
// PIDFD_SIGNAL_* scopes of Linux 6.9 fail with EINVAL).
func PidfdSendSignal(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	sig, infoAddr, flags := int(args[1].Int()), args[2].Pointer(), args[3].Uint()
	if flags != 0 {
		return 0, linux.EINVAL
	}
	file, _ := t.FDTable().Get(args[0].Int())
	if file == nil {
		return 0, linux.EBADF
	}
	defer file.DecRef()
	pfd, ok := file.Impl().(*pidfd.FileDescription)
	if !ok {
		return 0, linux.EBADF
	}
	if sig < 0 || sig > linux.SIGRTMAX {
		return 0, linux.EINVAL
	}
	tg := pfd.ThreadGroup()
	info := senderInfo(t, sig, linux.SI_USER)
	if infoAddr != 0 {
		info = &linux.SignalInfo{}
		if err := t.CopyInStruct(infoAddr, info); err != nil {
			return 0, err
		}
		if int(info.Signo) != sig {
			return 0, linux.EINVAL
		}
		// Only the process itself may pretend to be the kernel or kill(2).
		if tg != t.ThreadGroup() && (info.Code >= 0 || info.Code == linux.SI_TKILL) {
			return 0, linux.EPERM
		}
	}
	// Reaped: the process is gone, though the pidfd still names it.
	if t.Kernel().RootPIDNamespace().IDOfThreadGroup(tg) == 0 {
		return 0, linux.ESRCH
	}
	if !mayKill(t, tg.Leader(), sig) {
		return 0, linux.EPERM
	}
	return 0, tg.SendSignal(info)
}
