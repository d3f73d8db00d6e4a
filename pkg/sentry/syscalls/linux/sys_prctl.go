package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// ArchPrctl implements arch_prctl(2): the FS and GS bases (TLS).
func ArchPrctl(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	regs := &t.Arch().Regs
	code, addr := args[0].Int(), args[1].Uint64()
	switch code {
	case linux.ARCH_SET_FS:
		if addr >= 1<<47 {
			return 0, linux.EPERM
		}
		regs.Fs_base = addr
	case linux.ARCH_SET_GS:
		if addr >= 1<<47 {
			return 0, linux.EPERM
		}
		regs.Gs_base = addr
	case linux.ARCH_GET_FS:
		return 0, t.CopyOutUint64(uintptr(addr), regs.Fs_base)
	case linux.ARCH_GET_GS:
		return 0, t.CopyOutUint64(uintptr(addr), regs.Gs_base)
	case linux.ARCH_GET_CPUID:
		return 1, nil // cpuid is allowed
	case linux.ARCH_SET_CPUID:
		return 0, linux.ENODEV // faulting cpuid is not supported
	default:
		return 0, linux.EINVAL
	}
	return 0, nil
}

// Prctl implements the prctl(2) options programs use commonly.
func Prctl(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	option := args[0].Int()
	switch option {
	case linux.PR_SET_NAME:
		name, err := t.CopyInString(args[1].Pointer(), linux.TASK_COMM_LEN-1)
		if err == linux.ENAMETOOLONG {
			// Longer names are truncated, not refused: read the first 15 bytes.
			buf := make([]byte, linux.TASK_COMM_LEN-1)
			if _, err := t.CopyInBytes(args[1].Pointer(), buf); err != nil {
				return 0, err
			}
			name, err = string(buf), nil
		}
		if err != nil {
			return 0, err
		}
		t.SetName(name)
		return 0, nil
	case linux.PR_GET_NAME:
		buf := make([]byte, linux.TASK_COMM_LEN)
		copy(buf, t.Name())
		_, err := t.CopyOutBytes(args[1].Pointer(), buf)
		return 0, err
	case linux.PR_SET_PDEATHSIG:
		sig := args[1].Int()
		if sig < 0 || sig > linux.SIGRTMAX {
			return 0, linux.EINVAL
		}
		t.SetParentDeathSignal(int(sig))
		return 0, nil
	case linux.PR_GET_PDEATHSIG:
		return 0, t.CopyOutUint32(args[1].Pointer(), uint32(t.ParentDeathSignal()))
	case linux.PR_GET_DUMPABLE:
		return uintptr(t.ThreadGroup().Dumpable()), nil
	case linux.PR_SET_DUMPABLE:
		v := args[1].Int()
		if v != kernel.SuidDumpDisable && v != kernel.SuidDumpUser {
			return 0, linux.EINVAL
		}
		t.ThreadGroup().SetDumpable(v)
		return 0, nil
	case linux.PR_GET_KEEPCAPS:
		if t.Credentials().KeepCaps {
			return 1, nil
		}
		return 0, nil
	case linux.PR_SET_KEEPCAPS:
		v := args[1].Int()
		if v != 0 && v != 1 {
			return 0, linux.EINVAL
		}
		n := t.Credentials().Fork()
		n.KeepCaps = v == 1
		t.SetCredentials(n)
		return 0, nil
	case linux.PR_SET_NO_NEW_PRIVS:
		if args[1].Uint64() != 1 || args[2].Uint64() != 0 || args[3].Uint64() != 0 || args[4].Uint64() != 0 {
			return 0, linux.EINVAL
		}
		t.SetNoNewPrivs()
		return 0, nil
	case linux.PR_GET_NO_NEW_PRIVS:
		if t.NoNewPrivs() {
			return 1, nil
		}
		return 0, nil
	case linux.PR_SET_CHILD_SUBREAPER:
		t.ThreadGroup().SetChildSubreaper(args[1].Uint64() != 0)
		return 0, nil
	case linux.PR_GET_CHILD_SUBREAPER:
		v := uint32(0)
		if t.ThreadGroup().ChildSubreaper() {
			v = 1
		}
		return 0, t.CopyOutUint32(args[1].Pointer(), v)
	case linux.PR_CAPBSET_READ:
		cp := args[1].Int()
		if cp < 0 || cp > linux.CAP_LAST_CAP {
			return 0, linux.EINVAL
		}
		if t.Credentials().BoundingCaps.Has(int(cp)) {
			return 1, nil
		}
		return 0, nil
	case linux.PR_CAPBSET_DROP:
		cp := args[1].Int()
		c := t.Credentials()
		if !c.HasCapability(linux.CAP_SETPCAP) {
			return 0, linux.EPERM
		}
		if cp < 0 || cp > linux.CAP_LAST_CAP {
			return 0, linux.EINVAL
		}
		n := c.Fork()
		n.BoundingCaps &^= auth.CapabilitySetOf(int(cp))
		t.SetCredentials(n)
		return 0, nil
	case linux.PR_GET_SECCOMP:
		return 0, nil
	case linux.PR_GET_TIMERSLACK:
		return 50000, nil
	case linux.PR_SET_TIMERSLACK, linux.PR_SET_THP_DISABLE:
		return 0, nil
	case linux.PR_GET_THP_DISABLE:
		return 0, nil
	}
	return 0, linux.EINVAL
}
