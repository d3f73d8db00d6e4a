package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// capUserData is one struct __user_cap_data_struct: 32 capabilities of each set.
// Versions 2 and 3 of the interface pass two of them (capabilities 0-31, then
// 32-63), version 1 only the first.
type capUserData struct {
	Effective   uint32
	Permitted   uint32
	Inheritable uint32
}

// capDataCount validates the version in the capget/capset header at addr and
// returns how many capUserData the caller passes. An unknown version fails with
// EINVAL after the preferred one (3) is written back into the header, which is
// how libcap discovers it.
func capDataCount(t *kernel.Task, addr uintptr) (int, error) {
	version, err := t.CopyInUint32(addr)
	if err != nil {
		return 0, err
	}
	switch version {
	case linux.LINUX_CAPABILITY_VERSION_1:
		return 1, nil
	case linux.LINUX_CAPABILITY_VERSION_2, linux.LINUX_CAPABILITY_VERSION_3:
		return 2, nil
	}
	if err := t.CopyOutUint32(addr, linux.LINUX_CAPABILITY_VERSION_3); err != nil {
		return 0, err
	}
	return 0, linux.EINVAL
}

// Capget implements capget(2).
func Capget(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	hdrAddr, dataAddr := args[0].Pointer(), args[1].Pointer()
	n, err := capDataCount(t, hdrAddr)
	if dataAddr == 0 {
		// A query of the version alone: it succeeds even for a bad version,
		// whose preferred replacement is now in the header.
		if err == linux.EINVAL {
			return 0, nil
		}
		return 0, err
	}
	if err != nil {
		return 0, err
	}
	pid, err := t.CopyInUint32(hdrAddr + 4)
	if err != nil {
		return 0, err
	}
	if int32(pid) < 0 {
		return 0, linux.EINVAL
	}
	c := t.Credentials()
	if pid != 0 {
		target := t.Kernel().RootPIDNamespace().TaskWithID(kernel.ThreadID(pid))
		if target == nil {
			return 0, linux.ESRCH
		}
		c = target.Credentials()
	}
	for i := 0; i < n; i++ {
		shift := 32 * uint(i)
		d := capUserData{
			Effective:   uint32(c.EffectiveCaps >> shift),
			Permitted:   uint32(c.PermittedCaps >> shift),
			Inheritable: uint32(c.InheritableCaps >> shift),
		}
		if err := t.CopyOutStruct(dataAddr+uintptr(12*i), &d); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Capset implements capset(2): a task may only change its own capabilities, and
// only lower them, with Linux's rules (cap_capset).
func Capset(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	hdrAddr, dataAddr := args[0].Pointer(), args[1].Pointer()
	n, err := capDataCount(t, hdrAddr)
	if err != nil {
		return 0, err
	}
	pid, err := t.CopyInUint32(hdrAddr + 4)
	if err != nil {
		return 0, err
	}
	if pid != 0 && kernel.ThreadID(pid) != t.ThreadID() {
		return 0, linux.EPERM
	}
	var effective, permitted, inheritable auth.CapabilitySet
	for i := 0; i < n; i++ {
		var d capUserData
		if err := t.CopyInStruct(dataAddr+uintptr(12*i), &d); err != nil {
			return 0, err
		}
		shift := 32 * uint(i)
		effective |= auth.CapabilitySet(d.Effective) << shift
		permitted |= auth.CapabilitySet(d.Permitted) << shift
		inheritable |= auth.CapabilitySet(d.Inheritable) << shift
	}
	// Bits beyond the last capability are dropped, not refused.
	effective &= auth.AllCapabilities
	permitted &= auth.AllCapabilities
	inheritable &= auth.AllCapabilities

	c := t.Credentials()
	subset := func(a, b auth.CapabilitySet) bool { return a&^b == 0 }
	switch {
	// Without CAP_SETPCAP, the inheritable set may only take what is
	// inheritable or permitted already...
	case !c.HasCapability(linux.CAP_SETPCAP) && !subset(inheritable, c.InheritableCaps|c.PermittedCaps),
		// ...and never anything outside the bounding set.
		!subset(inheritable, c.InheritableCaps|c.BoundingCaps),
		// The permitted set only shrinks; the effective set stays inside it.
		!subset(permitted, c.PermittedCaps),
		!subset(effective, permitted):
		return 0, linux.EPERM
	}
	nc := c.Fork()
	nc.EffectiveCaps, nc.PermittedCaps, nc.InheritableCaps = effective, permitted, inheritable
	// An ambient capability must stay permitted and inheritable.
	nc.AmbientCaps &= permitted & inheritable
	t.SetCredentials(nc)
	return 0, nil
}
