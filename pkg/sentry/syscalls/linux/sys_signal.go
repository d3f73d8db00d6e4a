package linux

import (
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// RtSigaction implements rt_sigaction(2).
func RtSigaction(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	sig, newAddr, oldAddr, size := int(args[0].Int()), args[1].Pointer(), args[2].Pointer(), args[3].Uint64()
	if size != linux.SignalSetSize {
		return 0, linux.EINVAL
	}
	var act *linux.SigAction
	if newAddr != 0 {
		act = new(linux.SigAction)
		if err := t.CopyInStruct(newAddr, act); err != nil {
			return 0, err
		}
	}
	old, err := t.SigAction(sig, act)
	if err != nil {
		return 0, err
	}
	if oldAddr != 0 {
		if err := t.CopyOutStruct(oldAddr, &old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// RtSigprocmask implements rt_sigprocmask(2).
func RtSigprocmask(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	how, setAddr, oldAddr, size := args[0].Int(), args[1].Pointer(), args[2].Pointer(), args[3].Uint64()
	if size != linux.SignalSetSize {
		return 0, linux.EINVAL
	}
	old := t.SignalMask()
	if setAddr != 0 {
		v, err := t.CopyInUint64(setAddr)
		if err != nil {
			return 0, err
		}
		set := linux.SignalSet(v)
		switch how {
		case linux.SIG_BLOCK:
			t.SetSignalMask(old | set)
		case linux.SIG_UNBLOCK:
			t.SetSignalMask(old &^ set)
		case linux.SIG_SETMASK:
			t.SetSignalMask(set)
		default:
			return 0, linux.EINVAL
		}
	}
	if oldAddr != 0 {
		if err := t.CopyOutUint64(oldAddr, uint64(old)); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// RtSigreturn implements rt_sigreturn(2).
func RtSigreturn(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	rax, err := t.SignalReturn()
	if err != nil {
		// A corrupt frame: Linux sends SIGSEGV.
		t.SendSignal(&linux.SignalInfo{Signo: linux.SIGSEGV, Code: linux.SI_KERNEL})
		return 0, err
	}
	return rax, nil
}

// RtSigpending implements rt_sigpending(2).
func RtSigpending(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if args[1].Uint64() != linux.SignalSetSize {
		return 0, linux.EINVAL
	}
	return 0, t.CopyOutUint64(args[0].Pointer(), uint64(t.PendingSignals()&t.SignalMask()))
}

// RtSigsuspend implements rt_sigsuspend(2): it waits for a signal with the given
// mask in place, and always fails with EINTR once a handler has run.
func RtSigsuspend(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if args[1].Uint64() != linux.SignalSetSize {
		return 0, linux.EINVAL
	}
	mask, err := t.CopyInUint64(args[0].Pointer())
	if err != nil {
		return 0, err
	}
	t.SetSavedSignalMask(linux.SignalSet(mask))
	t.Block(nil)
	return 0, kernel.ERESTARTNOHAND
}

// Pause implements pause(2).
func Pause(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	t.Block(nil)
	return 0, kernel.ERESTARTNOHAND
}

// RtSigtimedwait implements rt_sigtimedwait(2).
func RtSigtimedwait(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	setAddr, infoAddr, timeoutAddr, size := args[0].Pointer(), args[1].Pointer(), args[2].Pointer(), args[3].Uint64()
	if size != linux.SignalSetSize {
		return 0, linux.EINVAL
	}
	v, err := t.CopyInUint64(setAddr)
	if err != nil {
		return 0, err
	}
	timeout := time.Duration(-1)
	if timeoutAddr != 0 {
		ts, err := t.CopyInTimespec(timeoutAddr)
		if err != nil {
			return 0, err
		}
		if !ts.Valid() {
			return 0, linux.EINVAL
		}
		timeout = time.Duration(ts.ToNsec())
	}
	info, err := t.WaitForSignal(linux.SignalSet(v), timeout)
	if err != nil {
		return 0, err
	}
	if infoAddr != 0 {
		if err := t.CopyOutStruct(infoAddr, info); err != nil {
			return 0, err
		}
	}
	return uintptr(info.Signo), nil
}

// Sigaltstack implements sigaltstack(2).
func Sigaltstack(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	newAddr, oldAddr := args[0].Pointer(), args[1].Pointer()
	old := t.SignalStack()
	if newAddr != 0 {
		var s linux.SignalStack
		if err := t.CopyInStruct(newAddr, &s); err != nil {
			return 0, err
		}
		if uint32(s.Flags)&^(linux.SS_DISABLE|linux.SS_AUTODISARM) != 0 {
			return 0, linux.EINVAL
		}
		if s.Flags&linux.SS_DISABLE != 0 {
			s = linux.SignalStack{Flags: linux.SS_DISABLE}
		} else if s.Size < linux.MINSIGSTKSZ {
			return 0, linux.ENOMEM
		}
		if err := t.SetSignalStack(s); err != nil {
			return 0, err
		}
	}
	if oldAddr != 0 {
		if err := t.CopyOutStruct(oldAddr, &old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// senderInfo returns the siginfo of a signal t sends with kill or tkill.
func senderInfo(t *kernel.Task, sig int, code int32) *linux.SignalInfo {
	info := &linux.SignalInfo{Signo: int32(sig), Code: code}
	info.SetPID(int32(t.ThreadGroupID()))
	info.SetUID(int32(t.Credentials().RealKUID))
	return info
}

// Kill implements kill(2).
func Kill(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pid, sig := args[0].Int(), int(args[1].Int())
	if sig < 0 || sig > linux.SIGRTMAX {
		return 0, linux.EINVAL
	}
	ns := t.Kernel().RootPIDNamespace()
	send := func(tg *kernel.ThreadGroup) error {
		if !mayKill(t, tg.Leader(), sig) {
			return linux.EPERM
		}
		return tg.SendSignal(senderInfo(t, sig, linux.SI_USER))
	}
	switch {
	case pid > 0:
		target := ns.TaskWithID(kernel.ThreadID(pid))
		if target == nil {
			return 0, linux.ESRCH
		}
		return 0, send(target.ThreadGroup())
	case pid == -1:
		// Every process the caller may signal, except init and itself: all of
		// them inside this sandbox, never a host process.
		sent, lastErr := false, error(linux.ESRCH)
		for id, tg := range ns.ThreadGroups() {
			if id == 1 || tg == t.ThreadGroup() {
				continue
			}
			if err := send(tg); err != nil {
				lastErr = err
				continue
			}
			sent = true
		}
		if sent {
			return 0, nil
		}
		return 0, lastErr
	default:
		pgid := kernel.ThreadID(-pid)
		if pid == 0 {
			pgid = t.ThreadGroup().ProcessGroupID()
		}
		members := ns.ProcessGroupMembers(pgid)
		if len(members) == 0 {
			return 0, linux.ESRCH
		}
		var lastErr error
		sent := false
		for _, tg := range members {
			if err := send(tg); err != nil {
				lastErr = err
				continue
			}
			sent = true
		}
		if sent {
			return 0, nil
		}
		return 0, lastErr
	}
}

// mayKill reports whether t may send sig to target (kill(2)'s permission rule).
func mayKill(t *kernel.Task, target *kernel.Task, sig int) bool {
	if target == nil {
		return false
	}
	c, tc := t.Credentials(), target.Credentials()
	if c.HasCapability(linux.CAP_KILL) {
		return true
	}
	if c.EffectiveKUID == tc.RealKUID || c.EffectiveKUID == tc.SavedKUID ||
		c.RealKUID == tc.RealKUID || c.RealKUID == tc.SavedKUID {
		return true
	}
	// SIGCONT may go to any process of the same session.
	return sig == linux.SIGCONT && t.ThreadGroup().SessionID() == target.ThreadGroup().SessionID()
}

// Tkill implements tkill(2).
func Tkill(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, tgkill(t, 0, args[0].Int(), int(args[1].Int()))
}

// Tgkill implements tgkill(2).
func Tgkill(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tgid := args[0].Int()
	if tgid <= 0 {
		return 0, linux.EINVAL
	}
	return 0, tgkill(t, tgid, args[1].Int(), int(args[2].Int()))
}

func tgkill(t *kernel.Task, tgid, tid int32, sig int) error {
	if tid <= 0 || sig < 0 || sig > linux.SIGRTMAX {
		return linux.EINVAL
	}
	target := t.Kernel().RootPIDNamespace().TaskWithID(kernel.ThreadID(tid))
	if target == nil || (tgid != 0 && int32(target.ThreadGroupID()) != tgid) {
		return linux.ESRCH
	}
	if !mayKill(t, target, sig) {
		return linux.EPERM
	}
	return target.SendSignal(senderInfo(t, sig, linux.SI_TKILL))
}

// RtSigqueueinfo implements rt_sigqueueinfo(2).
func RtSigqueueinfo(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pid, sig := args[0].Int(), int(args[1].Int())
	var info linux.SignalInfo
	if err := t.CopyInStruct(args[2].Pointer(), &info); err != nil {
		return 0, err
	}
	// A process may not pretend to be the kernel or kill(2) when signalling another.
	target := t.Kernel().RootPIDNamespace().TaskWithID(kernel.ThreadID(pid))
	if target == nil {
		return 0, linux.ESRCH
	}
	if (info.Code >= 0 || info.Code == linux.SI_TKILL) && target.ThreadGroup() != t.ThreadGroup() {
		return 0, linux.EPERM
	}
	info.Signo = int32(sig)
	if !mayKill(t, target, sig) {
		return 0, linux.EPERM
	}
	return 0, target.ThreadGroup().SendSignal(&info)
}
