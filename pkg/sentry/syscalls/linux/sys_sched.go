package linux

import (
	"runtime"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// The Sentry schedules tasks with the Go runtime: every task runs on any of the
// sandbox's CPUs, and the scheduling policy is always SCHED_OTHER. A task's CPU
// affinity and nice value are kept and reported back (see kernel/task_sched.go)
// but don't change where or how much it runs.

// SchedYield implements sched_yield(2).
func SchedYield(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	runtime.Gosched()
	return 0, nil
}

// SchedGetaffinity implements sched_getaffinity(2).
func SchedGetaffinity(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	target, err := threadGroupOrTask(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	size := args[1].Uint64()
	if size*8 < uint64(kernel.NumCPUs()) || size%8 != 0 {
		return 0, linux.EINVAL
	}
	mask := target.Affinity()
	if _, err := t.CopyOutBytes(args[2].Pointer(), mask); err != nil {
		return 0, err
	}
	return uintptr(len(mask)), nil
}

// SchedSetaffinity implements sched_setaffinity(2): the task keeps the CPUs of
// the mask that the sandbox has; a mask without any is refused.
func SchedSetaffinity(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	target, err := threadGroupOrTask(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	// A shorter mask leaves the CPUs it doesn't reach out; bytes beyond the
	// sandbox's CPUs are not read.
	mask := make(kernel.CPUSet, min(args[1].Uint64(), uint64(kernel.CPUSetSize())))
	if _, err := t.CopyInBytes(args[2].Pointer(), mask); err != nil {
		return 0, err
	}
	c, tc := t.Credentials(), target.Credentials()
	if c.EffectiveKUID != tc.EffectiveKUID && c.EffectiveKUID != tc.RealKUID && !c.HasCapability(linux.CAP_SYS_NICE) {
		return 0, linux.EPERM
	}
	return 0, target.SetAffinity(mask)
}

// SchedRrGetInterval implements sched_rr_get_interval(2). Every task is
// SCHED_OTHER, which has no fixed time slice: Linux reports the fair class's
// slice in whole jiffies, which is 0 for its default slice at HZ 250.
func SchedRrGetInterval(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if _, err := threadGroupOrTask(t, args[0].Int()); err != nil {
		return 0, err
	}
	return 0, t.CopyOutTimespec(args[1].Pointer(), linux.Timespec{})
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

// Which processes getpriority and setpriority act on.
const (
	prioProcess = 0 // who is a thread ID
	prioPgrp    = 1 // who is a process group ID
	prioUser    = 2 // who is a real user ID
)

// priorityTargets returns the tasks getpriority and setpriority act on; 0 for
// who means the caller, its process group or its user.
func priorityTargets(t *kernel.Task, which, who int32) ([]*kernel.Task, error) {
	ns := t.Kernel().RootPIDNamespace()
	switch which {
	case prioProcess:
		if who == 0 {
			return []*kernel.Task{t}, nil
		}
		if target := ns.TaskWithID(kernel.ThreadID(who)); who > 0 && target != nil {
			return []*kernel.Task{target}, nil
		}
		return nil, nil
	case prioPgrp:
		pgid := kernel.ThreadID(who)
		if who == 0 {
			pgid = t.ThreadGroup().ProcessGroupID()
		}
		var tasks []*kernel.Task
		for _, tg := range ns.ProcessGroupMembers(pgid) {
			tasks = append(tasks, tg.Tasks()...)
		}
		return tasks, nil
	case prioUser:
		c := t.Credentials()
		uid := c.RealKUID
		if who != 0 {
			uid = c.UserNamespace.MapToKUID(auth.UID(who))
		}
		var tasks []*kernel.Task
		for _, tg := range ns.ThreadGroups() {
			for _, task := range tg.Tasks() {
				if task.Credentials().RealKUID == uid {
					tasks = append(tasks, task)
				}
			}
		}
		return tasks, nil
	}
	return nil, linux.EINVAL
}

// Getpriority implements getpriority(2): the highest priority among the targets,
// as 20 - nice so that it is never negative.
func Getpriority(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tasks, err := priorityTargets(t, args[0].Int(), args[1].Int())
	if err != nil {
		return 0, err
	}
	if len(tasks) == 0 {
		return 0, linux.ESRCH
	}
	best := int32(0)
	for _, task := range tasks {
		best = max(best, 20-task.Nice())
	}
	return uintptr(best), nil
}

// Setpriority implements setpriority(2) on every target, failing with the last
// refusal (or ESRCH when there is none to act on), as Linux does.
func Setpriority(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	tasks, err := priorityTargets(t, args[0].Int(), args[1].Int())
	if err != nil {
		return 0, err
	}
	err = linux.ESRCH
	for _, task := range tasks {
		if e := task.SetNice(t, args[2].Int()); e != nil {
			err = e
		} else if err == linux.ESRCH {
			err = nil
		}
	}
	return 0, err
}

// Getcpu implements getcpu(2): the CPU the task reports running on, one of its
// affinity, and NUMA node 0.
func Getcpu(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if addr := args[0].Pointer(); addr != 0 {
		if err := t.CopyOutUint32(addr, uint32(t.CPU())); err != nil {
			return 0, err
		}
	}
	if addr := args[1].Pointer(); addr != 0 {
		if err := t.CopyOutUint32(addr, 0); err != nil {
			return 0, err
		}
	}
	return 0, nil
}
