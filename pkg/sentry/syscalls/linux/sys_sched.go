package linux

import (
	"runtime"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// The Sentry schedules tasks with the Go runtime: every task may run on any of the
// sandbox's CPUs, and the scheduling policy is always SCHED_OTHER. The calls below
// report that and accept what doesn't change it.

// SchedYield implements sched_yield(2).
func SchedYield(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	runtime.Gosched()
	return 0, nil
}

// numCPUs is how many CPUs the sandbox has.
func numCPUs() int { return runtime.NumCPU() }

// SchedGetaffinity implements sched_getaffinity(2): every CPU of the sandbox.
func SchedGetaffinity(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := threadGroupOrTask(t, args[0].Int()); err != nil {
		return 0, err
	}
	size := args[1].Uint64()
	n := numCPUs()
	need := uint64((n + 63) / 64 * 8)
	if size < need || size%8 != 0 {
		return 0, linux.EINVAL
	}
	mask := make([]byte, need)
	for cpu := 0; cpu < n; cpu++ {
		mask[cpu/8] |= 1 << (cpu % 8)
	}
	if _, err := t.CopyOutBytes(args[2].Pointer(), mask); err != nil {
		return 0, err
	}
	return uintptr(need), nil
}

// SchedSetaffinity implements sched_setaffinity(2): a mask with at least one of
// the sandbox's CPUs is accepted (tasks still run anywhere).
func SchedSetaffinity(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := threadGroupOrTask(t, args[0].Int()); err != nil {
		return 0, err
	}
	size := args[1].Uint64()
	if size > 1<<16 {
		size = 1 << 16
	}
	mask := make([]byte, size)
	if _, err := t.CopyInBytes(args[2].Pointer(), mask); err != nil {
		return 0, err
	}
	for cpu := 0; cpu < numCPUs() && cpu/8 < len(mask); cpu++ {
		if mask[cpu/8]&(1<<(cpu%8)) != 0 {
			return 0, nil
		}
	}
	return 0, linux.EINVAL
}

// threadGroupOrTask checks that tid names a task (0: the caller).
func threadGroupOrTask(t *kernel.Task, tid int32) (*kernel.Task, error) {
	if tid < 0 {
		return nil, linux.EINVAL
	}
	if tid == 0 {
		return t, nil
	}
	target := t.Kernel().RootPIDNamespace().TaskWithID(kernel.ThreadID(tid))
	if target == nil {
		return nil, linux.ESRCH
	}
	return target, nil
}

// SchedGetscheduler implements sched_getscheduler(2).
func SchedGetscheduler(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := threadGroupOrTask(t, args[0].Int()); err != nil {
		return 0, err
	}
	return linux.SCHED_NORMAL, nil
}

// SchedSetscheduler implements sched_setscheduler(2): only SCHED_OTHER, SCHED_BATCH
// and SCHED_IDLE with priority 0 are accepted; real-time policies need a privilege
// the sandbox does not grant.
func SchedSetscheduler(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := threadGroupOrTask(t, args[0].Int()); err != nil {
		return 0, err
	}
	prio, err := t.CopyInUint32(args[2].Pointer())
	if err != nil {
		return 0, err
	}
	switch args[1].Int() {
	case linux.SCHED_NORMAL, linux.SCHED_BATCH, linux.SCHED_IDLE:
		if prio != 0 {
			return 0, linux.EINVAL
		}
		return 0, nil
	case linux.SCHED_FIFO, linux.SCHED_RR:
		return 0, linux.EPERM
	}
	return 0, linux.EINVAL
}

// SchedGetparam implements sched_getparam(2): priority 0.
func SchedGetparam(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := threadGroupOrTask(t, args[0].Int()); err != nil {
		return 0, err
	}
	return 0, t.CopyOutUint32(args[1].Pointer(), 0)
}

// SchedSetparam implements sched_setparam(2).
func SchedSetparam(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := threadGroupOrTask(t, args[0].Int()); err != nil {
		return 0, err
	}
	prio, err := t.CopyInUint32(args[1].Pointer())
	if err != nil {
		return 0, err
	}
	if prio != 0 {
		return 0, linux.EINVAL
	}
	return 0, nil
}

// SchedGetPriorityMax implements sched_get_priority_max(2).
func SchedGetPriorityMax(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	switch args[0].Int() {
	case linux.SCHED_FIFO, linux.SCHED_RR:
		return 99, nil
	case linux.SCHED_NORMAL, linux.SCHED_BATCH, linux.SCHED_IDLE, linux.SCHED_DEADLINE:
		return 0, nil
	}
	return 0, linux.EINVAL
}

// SchedGetPriorityMin implements sched_get_priority_min(2).
func SchedGetPriorityMin(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	switch args[0].Int() {
	case linux.SCHED_FIFO, linux.SCHED_RR:
		return 1, nil
	case linux.SCHED_NORMAL, linux.SCHED_BATCH, linux.SCHED_IDLE, linux.SCHED_DEADLINE:
		return 0, nil
	}
	return 0, linux.EINVAL
}

// Getpriority implements getpriority(2): every process has nice 0, which the
// syscall returns as 20 - nice.
func Getpriority(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	which, who := args[0].Int(), args[1].Int()
	switch which {
	case 0: // PRIO_PROCESS
		if _, err := threadGroupOrTask(t, who); err != nil {
			return 0, err
		}
	case 1, 2: // PRIO_PGRP, PRIO_USER
	default:
		return 0, linux.EINVAL
	}
	return 20, nil
}

// Setpriority implements setpriority(2): raising priority (nice < 0) needs
// CAP_SYS_NICE; lowering is accepted and has no effect on scheduling.
func Setpriority(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	which, who, nice := args[0].Int(), args[1].Int(), args[2].Int()
	switch which {
	case 0:
		if _, err := threadGroupOrTask(t, who); err != nil {
			return 0, err
		}
	case 1, 2:
	default:
		return 0, linux.EINVAL
	}
	if nice < 0 && !t.Credentials().HasCapability(linux.CAP_SYS_NICE) {
		return 0, linux.EACCES
	}
	return 0, nil
}

// Getcpu implements getcpu(2).
func Getcpu(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	for _, addr := range []uintptr{args[0].Pointer(), args[1].Pointer()} {
		if addr != 0 {
			if err := t.CopyOutUint32(addr, 0); err != nil {
				return 0, err
			}
		}
	}
	return 0, nil
}
