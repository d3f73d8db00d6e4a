package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// Getpid implements getpid(2).
func Getpid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.ThreadGroupID()), nil
}

// Gettid implements gettid(2).
func Gettid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.ThreadID()), nil
}

// Getppid implements getppid(2).
func Getppid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.ParentThreadGroupID()), nil
}

// Exit implements exit(2): only the calling thread ends.
func Exit(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	t.Exit(linux.WaitStatusExit(int(args[0].Int())))
	return 0, nil
}

// ExitGroup implements exit_group(2).
func ExitGroup(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	t.ExitGroup(linux.WaitStatusExit(int(args[0].Int())))
	return 0, nil
}

// SetTidAddress implements set_tid_address(2).
func SetTidAddress(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	t.SetClearChildTID(args[0].Pointer())
	return uintptr(t.ThreadID()), nil
}

// Clone implements clone(2). On amd64 the argument order is flags, stack,
// parent_tid, child_tid, tls.
func Clone(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := args[0].Uint64()
	tid, err := t.Clone(&kernel.CloneOptions{
		Flags:      flags &^ linux.CSIGNAL,
		ExitSignal: int(flags & linux.CSIGNAL),
		Stack:      args[1].Uint64(),
		ParentTID:  args[2].Pointer(),
		ChildTID:   args[3].Pointer(),
		TLS:        args[4].Uint64(),
	})
	return uintptr(tid), err
}

// Clone3 implements clone3(2).
func Clone3(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	size := args[1].Uint64()
	// The first version of struct clone_args is 64 bytes; later ones add fields
	// that must then be zero if Visor does not know them.
	if size < 64 || size > 4096 {
		return 0, linux.EINVAL
	}
	var ca linux.CloneArgs
	if err := t.CopyInStruct(args[0].Pointer(), &ca); err != nil && size >= 88 {
		return 0, err
	}
	if size < 88 {
		ca.SetTID, ca.SetTIDSize, ca.Cgroup = 0, 0, 0
	}
	if ca.SetTID != 0 || ca.SetTIDSize != 0 || ca.ExitSignal&^linux.CSIGNAL != 0 || ca.Flags&linux.CSIGNAL != 0 {
		return 0, linux.EINVAL
	}
	if ca.Stack != 0 {
		ca.Stack += ca.StackSize // clone3 takes the lowest address of the stack
	}
	tid, err := t.Clone(&kernel.CloneOptions{
		Flags:      ca.Flags,
		ExitSignal: int(ca.ExitSignal),
		Stack:      ca.Stack,
		ParentTID:  uintptr(ca.ParentTID),
		ChildTID:   uintptr(ca.ChildTID),
		TLS:        ca.TLS,
	})
	return uintptr(tid), err
}

// Fork implements fork(2).
func Fork(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tid, err := t.Clone(&kernel.CloneOptions{ExitSignal: linux.SIGCHLD})
	return uintptr(tid), err
}

// Vfork implements vfork(2).
func Vfork(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tid, err := t.Clone(&kernel.CloneOptions{Flags: linux.CLONE_VM | linux.CLONE_VFORK, ExitSignal: linux.SIGCHLD})
	return uintptr(tid), err
}

// waitTarget decodes wait4's pid argument into options.
func waitTarget(t *kernel.Task, pid int32, opts *kernel.WaitOptions) error {
	ns := t.Kernel().RootPIDNamespace()
	switch {
	case pid < -1:
		opts.SpecificPGID = kernel.ThreadID(-pid)
	case pid == 0:
		opts.SpecificPGID = t.ThreadGroup().ProcessGroupID()
	case pid > 0:
		target := ns.TaskWithID(kernel.ThreadID(pid))
		if target == nil {
			return linux.ECHILD
		}
		opts.SpecificTG = target.ThreadGroup()
	}
	return nil
}

// Wait4 implements wait4(2).
func Wait4(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pid, statusAddr, options, rusageAddr := args[0].Int(), args[1].Pointer(), args[2].Uint(), args[3].Pointer()
	if options&^(linux.WNOHANG|linux.WUNTRACED|linux.WCONTINUED|linux.WNOTHREAD|linux.WALL|linux.WCLONE) != 0 {
		return 0, linux.EINVAL
	}
	opts := kernel.WaitOptions{
		Events:  linux.WEXITED,
		NoHang:  options&linux.WNOHANG != 0,
		Consume: true,
		Clone:   options&linux.WCLONE != 0,
		All:     options&linux.WALL != 0,
	}
	if options&linux.WUNTRACED != 0 {
		opts.Events |= linux.WSTOPPED
	}
	if options&linux.WCONTINUED != 0 {
		opts.Events |= linux.WCONTINUED
	}
	if err := waitTarget(t, pid, &opts); err != nil {
		return 0, err
	}
	res, err := t.Wait(&opts)
	if err != nil {
		if err == kernel.ErrInterrupted {
			return 0, kernel.ERESTARTSYS
		}
		return 0, err
	}
	if res == nil {
		return 0, nil
	}
	if statusAddr != 0 {
		if err := t.CopyOutUint32(statusAddr, uint32(res.Status)); err != nil {
			return 0, err
		}
	}
	if rusageAddr != 0 {
		ru := res.Usage.Rusage()
		if err := t.CopyOutStruct(rusageAddr, &ru); err != nil {
			return 0, err
		}
	}
	return uintptr(res.TID), nil
}

// Waitid implements waitid(2).
func Waitid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	idtype, id, infop, options, rusageAddr := args[0].Int(), args[1].Int(), args[2].Pointer(), args[3].Uint(), args[4].Pointer()
	if options&^(linux.WNOHANG|linux.WEXITED|linux.WSTOPPED|linux.WCONTINUED|linux.WNOWAIT|linux.WNOTHREAD|linux.WALL|linux.WCLONE) != 0 {
		return 0, linux.EINVAL
	}
	if options&(linux.WEXITED|linux.WSTOPPED|linux.WCONTINUED) == 0 {
		return 0, linux.EINVAL
	}
	opts := kernel.WaitOptions{
		Events:  int(options & (linux.WEXITED | linux.WSTOPPED | linux.WCONTINUED)),
		NoHang:  options&linux.WNOHANG != 0,
		Consume: options&linux.WNOWAIT == 0,
		Clone:   options&linux.WCLONE != 0,
		All:     options&linux.WALL != 0,
	}
	switch idtype {
	case linux.P_ALL:
	case linux.P_PID:
		if id <= 0 {
			return 0, linux.EINVAL
		}
		if err := waitTarget(t, id, &opts); err != nil {
			return 0, err
		}
	case linux.P_PGID:
		if id < 0 {
			return 0, linux.EINVAL
		}
		opts.SpecificPGID = kernel.ThreadID(id)
		if id == 0 {
			opts.SpecificPGID = t.ThreadGroup().ProcessGroupID()
		}
	default:
		return 0, linux.EINVAL
	}
	res, err := t.Wait(&opts)
	if err != nil {
		if err == kernel.ErrInterrupted {
			return 0, kernel.ERESTARTSYS
		}
		return 0, err
	}
	if infop != 0 {
		var si linux.SignalInfo
		if res != nil {
			si.Signo = linux.SIGCHLD
			si.Code = res.Code
			si.SetPID(int32(res.TID))
			si.SetUID(int32(res.UID))
			switch res.Code {
			case linux.CLD_EXITED:
				si.SetStatus(int32(res.Status.ExitStatus()))
			case linux.CLD_KILLED, linux.CLD_DUMPED:
				si.SetStatus(int32(res.Status.Signal()))
			case linux.CLD_STOPPED:
				si.SetStatus(int32(res.Status >> 8 & 0xff))
			case linux.CLD_CONTINUED:
				si.SetStatus(linux.SIGCONT)
			}
		}
		if err := t.CopyOutStruct(infop, &si); err != nil {
			return 0, err
		}
	}
	if rusageAddr != 0 {
		var ru linux.Rusage
		if res != nil {
			ru = res.Usage.Rusage()
		}
		if err := t.CopyOutStruct(rusageAddr, &ru); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
