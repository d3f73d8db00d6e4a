package linux

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// prlimit gets and sets a resource limit of tg.
func prlimit(t *kernel.Task, tg *kernel.ThreadGroup, resource int, newAddr, oldAddr uintptr) error {
	if resource < 0 || resource >= linux.RLIM_NLIMITS {
		return linux.EINVAL
	}
	old := tg.Limit(resource)
	if newAddr != 0 {
		var l linux.Rlimit
		if err := t.CopyInStruct(newAddr, &l); err != nil {
			return err
		}
		if l.Max > old.Max && !t.Credentials().HasCapability(linux.CAP_SYS_RESOURCE) {
			return linux.EPERM
		}
		if resource == linux.RLIMIT_NOFILE && l.Max > 1048576 {
			return linux.EPERM // Linux's fs.nr_open
		}
		if _, err := tg.SetLimit(resource, l); err != nil {
			return err
		}
	}
	if oldAddr != 0 {
		return t.CopyOutStruct(oldAddr, &old)
	}
	return nil
}

// Getrlimit implements getrlimit(2).
func Getrlimit(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, prlimit(t, t.ThreadGroup(), int(args[0].Int()), 0, args[1].Pointer())
}

// Setrlimit implements setrlimit(2).
func Setrlimit(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return 0, prlimit(t, t.ThreadGroup(), int(args[0].Int()), args[1].Pointer(), 0)
}

// Prlimit64 implements prlimit64(2).
func Prlimit64(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tg, err := threadGroupOf(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	if tg != t.ThreadGroup() && args[2].Pointer() != 0 && !t.Credentials().HasCapability(linux.CAP_SYS_RESOURCE) {
		return 0, linux.EPERM
	}
	return 0, prlimit(t, tg, int(args[1].Int()), args[2].Pointer(), args[3].Pointer())
}

// Getrusage implements getrusage(2) with the CPU times and resident set sizes
// Visor accounts.
func Getrusage(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	var u kernel.Usage
	switch args[0].Int() {
	case linux.RUSAGE_SELF:
		u = t.ThreadGroup().Usage()
		u.MaxRSS = max(u.MaxRSS, t.MemoryManager().ResidentSetSize())
	case linux.RUSAGE_THREAD:
		u.UserTime, u.SysTime = t.CPUTime()
		u.MaxRSS = t.MemoryManager().ResidentSetSize()
	case linux.RUSAGE_CHILDREN:
		u = t.ThreadGroup().ChildrenUsage()
	default:
		return 0, linux.EINVAL
	}
	ru := u.Rusage()
	return 0, t.CopyOutStruct(args[1].Pointer(), &ru)
}
