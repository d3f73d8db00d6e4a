package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// Getuid implements getuid(2).
func Getuid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNamespace.MapFromKUID(c.RealKUID)), nil
}

// Geteuid implements geteuid(2).
func Geteuid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNamespace.MapFromKUID(c.EffectiveKUID)), nil
}

// Getgid implements getgid(2).
func Getgid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNamespace.MapFromKGID(c.RealKGID)), nil
}

// Getegid implements getegid(2).
func Getegid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	return uintptr(c.UserNamespace.MapFromKGID(c.EffectiveKGID)), nil
}

// Getresuid implements getresuid(2).
func Getresuid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	ns := c.UserNamespace
	for i, id := range []auth.KUID{c.RealKUID, c.EffectiveKUID, c.SavedKUID} {
		if err := t.CopyOutUint32(args[i].Pointer(), uint32(ns.MapFromKUID(id))); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Getresgid implements getresgid(2).
func Getresgid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	ns := c.UserNamespace
	for i, id := range []auth.KGID{c.RealKGID, c.EffectiveKGID, c.SavedKGID} {
		if err := t.CopyOutUint32(args[i].Pointer(), uint32(ns.MapFromKGID(id))); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Getgroups implements getgroups(2).
func Getgroups(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	size, addr := args[0].Int(), args[1].Pointer()
	c := t.Credentials()
	if size < 0 {
		return 0, linux.EINVAL
	}
	if size == 0 {
		return uintptr(len(c.ExtraKGIDs)), nil
	}
	if int(size) < len(c.ExtraKGIDs) {
		return 0, linux.EINVAL
	}
	for i, g := range c.ExtraKGIDs {
		if err := t.CopyOutUint32(addr+uintptr(4*i), uint32(c.UserNamespace.MapFromKGID(g))); err != nil {
			return 0, err
		}
	}
	return uintptr(len(c.ExtraKGIDs)), nil
}

// Setgroups implements setgroups(2).
func Setgroups(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	size, addr := args[0].Int(), args[1].Pointer()
	if size < 0 || size > 65536 {
		return 0, linux.EINVAL
	}
	c := t.Credentials()
	if !c.HasCapability(linux.CAP_SETGID) {
		return 0, linux.EPERM
	}
	groups := make([]auth.KGID, size)
	for i := range groups {
		g, err := t.CopyInUint32(addr + uintptr(4*i))
		if err != nil {
			return 0, err
		}
		kgid := c.UserNamespace.MapToKGID(auth.GID(g))
		if !kgid.Ok() {
			return 0, linux.EINVAL
		}
		groups[i] = kgid
	}
	n := c.Fork()
	n.ExtraKGIDs = groups
	t.SetCredentials(n)
	return 0, nil
}

// setresuid sets the real, effective and saved user IDs (NoID leaves one as is),
// with Linux's rules: without CAP_SETUID each new ID must be one of the current
// three. Changing away from root clears capabilities as Linux does.
func setresuid(t *kernel.Task, r, e, s auth.UID) error {
	c := t.Credentials()
	ns := c.UserNamespace
	ids := [3]auth.KUID{auth.NoKUID, auth.NoKUID, auth.NoKUID}
	for i, id := range []auth.UID{r, e, s} {
		if id == auth.NoID {
			continue
		}
		k := ns.MapToKUID(id)
		if !k.Ok() {
			return linux.EINVAL
		}
		if !c.HasCapability(linux.CAP_SETUID) && k != c.RealKUID && k != c.EffectiveKUID && k != c.SavedKUID {
			return linux.EPERM
		}
		ids[i] = k
	}
	n := c.Fork()
	if ids[0].Ok() {
		n.RealKUID = ids[0]
	}
	if ids[1].Ok() {
		n.EffectiveKUID = ids[1]
		n.FSKUID = ids[1]
	}
	if ids[2].Ok() {
		n.SavedKUID = ids[2]
	}
	wasRoot := c.RealKUID == auth.RootKUID || c.EffectiveKUID == auth.RootKUID || c.SavedKUID == auth.RootKUID
	nowRoot := n.RealKUID == auth.RootKUID || n.EffectiveKUID == auth.RootKUID || n.SavedKUID == auth.RootKUID
	if wasRoot && !nowRoot {
		if !n.KeepCaps {
			n.PermittedCaps, n.EffectiveCaps = 0, 0
		}
		// Ambient capabilities go even with keepcaps: programs that predate
		// them expect leaving root and then exec to drop every capability.
		n.AmbientCaps = 0
	}
	if c.EffectiveKUID == auth.RootKUID && n.EffectiveKUID != auth.RootKUID {
		n.EffectiveCaps = 0
	}
	if c.EffectiveKUID != auth.RootKUID && n.EffectiveKUID == auth.RootKUID {
		n.EffectiveCaps = n.PermittedCaps
	}
	t.SetCredentials(n)
	return nil
}

// setresgid is setresuid for group IDs (CAP_SETGID).
func setresgid(t *kernel.Task, r, e, s auth.GID) error {
	c := t.Credentials()
	ns := c.UserNamespace
	ids := [3]auth.KGID{auth.NoKGID, auth.NoKGID, auth.NoKGID}
	for i, id := range []auth.GID{r, e, s} {
		if id == auth.NoID {
			continue
		}
		k := ns.MapToKGID(id)
		if !k.Ok() {
			return linux.EINVAL
		}
		if !c.HasCapability(linux.CAP_SETGID) && k != c.RealKGID && k != c.EffectiveKGID && k != c.SavedKGID {
			return linux.EPERM
		}
		ids[i] = k
	}
	n := c.Fork()
	if ids[0].Ok() {
		n.RealKGID = ids[0]
	}
	if ids[1].Ok() {
		n.EffectiveKGID = ids[1]
		n.FSKGID = ids[1]
	}
	if ids[2].Ok() {
		n.SavedKGID = ids[2]
	}
	t.SetCredentials(n)
	return nil
}

// Setuid implements setuid(2): with CAP_SETUID all three IDs change, else only
// the effective one.
func Setuid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	uid := auth.UID(args[0].Uint())
	if t.Credentials().HasCapability(linux.CAP_SETUID) {
		return 0, setresuid(t, uid, uid, uid)
	}
	return 0, setresuid(t, auth.NoID, uid, auth.NoID)
}

// Setgid implements setgid(2).
func Setgid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	gid := auth.GID(args[0].Uint())
	if t.Credentials().HasCapability(linux.CAP_SETGID) {
		return 0, setresgid(t, gid, gid, gid)
	}
	return 0, setresgid(t, auth.NoID, gid, auth.NoID)
}

// Setreuid implements setreuid(2).
func Setreuid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, setresuid(t, auth.UID(args[0].Uint()), auth.UID(args[1].Uint()), auth.NoID)
}

// Setregid implements setregid(2).
func Setregid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, setresgid(t, auth.GID(args[0].Uint()), auth.GID(args[1].Uint()), auth.NoID)
}

// Setresuid implements setresuid(2).
func Setresuid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, setresuid(t, auth.UID(args[0].Uint()), auth.UID(args[1].Uint()), auth.UID(args[2].Uint()))
}

// Setresgid implements setresgid(2).
func Setresgid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, setresgid(t, auth.GID(args[0].Uint()), auth.GID(args[1].Uint()), auth.GID(args[2].Uint()))
}

// Setfsuid implements setfsuid(2); it returns the previous fs UID.
func Setfsuid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	old := c.UserNamespace.MapFromKUID(c.FSKUID)
	k := c.UserNamespace.MapToKUID(auth.UID(args[0].Uint()))
	if k.Ok() && (c.HasCapability(linux.CAP_SETUID) || k == c.RealKUID || k == c.EffectiveKUID || k == c.SavedKUID || k == c.FSKUID) {
		n := c.Fork()
		n.FSKUID = k
		t.SetCredentials(n)
	}
	return uintptr(old), nil
}

// Setfsgid implements setfsgid(2); it returns the previous fs GID.
func Setfsgid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	c := t.Credentials()
	old := c.UserNamespace.MapFromKGID(c.FSKGID)
	k := c.UserNamespace.MapToKGID(auth.GID(args[0].Uint()))
	if k.Ok() && (c.HasCapability(linux.CAP_SETGID) || k == c.RealKGID || k == c.EffectiveKGID || k == c.SavedKGID || k == c.FSKGID) {
		n := c.Fork()
		n.FSKGID = k
		t.SetCredentials(n)
	}
	return uintptr(old), nil
}

// Getpgid implements getpgid(2).
func Getpgid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tg, err := threadGroupOf(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	return uintptr(tg.ProcessGroupID()), nil
}

// Getpgrp implements getpgrp(2).
func Getpgrp(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return uintptr(t.ThreadGroup().ProcessGroupID()), nil
}

// Getsid implements getsid(2).
func Getsid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tg, err := threadGroupOf(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	return uintptr(tg.SessionID()), nil
}

// Setsid implements setsid(2).
func Setsid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	id, err := t.ThreadGroup().CreateSession()
	return uintptr(id), err
}

// Setpgid implements setpgid(2).
func Setpgid(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	pid, pgid := args[0].Int(), args[1].Int()
	if pgid < 0 {
		return 0, linux.EINVAL
	}
	target := t.ThreadGroup()
	if pid != 0 {
		task := t.Kernel().RootPIDNamespace().TaskWithID(kernel.ThreadID(pid))
		if task == nil {
			return 0, linux.ESRCH
		}
		// Only a process, named by its leader's ID, has a process group to move.
		target = task.ThreadGroup()
		if target.Leader() != task {
			return 0, linux.EINVAL
		}
	}
	return 0, t.ThreadGroup().SetProcessGroup(target, kernel.ThreadID(pgid))
}

// threadGroupOf returns the process that contains the task pid names, or t's own
// for 0. A negative ID names no task: ESRCH, as find_task_by_vpid finds none.
func threadGroupOf(t *kernel.Task, pid int32) (*kernel.ThreadGroup, error) {
	if pid == 0 {
		return t.ThreadGroup(), nil
	}
	if pid < 0 {
		return nil, linux.ESRCH
	}
	target := t.Kernel().RootPIDNamespace().TaskWithID(kernel.ThreadID(pid))
	if target == nil {
		return nil, linux.ESRCH
	}
	return target.ThreadGroup(), nil
}
