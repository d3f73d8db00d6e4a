package linux

import (
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
)

// futexDeadline reads a futex timeout: relative for FUTEX_WAIT, absolute on the
// chosen clock for FUTEX_WAIT_BITSET. The zero time means no timeout.
func futexDeadline(t *kernel.Task, addr uintptr, absolute, realtime bool) (time.Time, error) {
	if addr == 0 {
		return time.Time{}, nil
	}
	ts, err := t.CopyInTimespec(addr)
	if err != nil {
		return time.Time{}, err
	}
	if !ts.Valid() {
		return time.Time{}, linux.EINVAL
	}
	switch {
	case !absolute:
		return time.Now().Add(time.Duration(ts.ToNsec())), nil
	case realtime:
		return time.Unix(ts.Sec, ts.Nsec), nil
	default:
		return t.Kernel().BootTime().Add(time.Duration(ts.ToNsec())), nil
	}
}

// Futex implements futex(2), except the priority-inheritance operations.
func Futex(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	addr, op, val := args[0].Pointer(), args[1].Int(), args[2].Uint()
	timeoutAddr, addr2, val3 := args[3].Pointer(), args[4].Pointer(), args[5].Uint()
	cmd := op & linux.FUTEX_CMD_MASK
	private := op&linux.FUTEX_PRIVATE_FLAG != 0
	realtime := op&linux.FUTEX_CLOCK_REALTIME != 0
	f := t.Kernel().Futexes()
	m := t.MemoryManager()
	if addr%4 != 0 {
		return 0, linux.EINVAL
	}

	// FUTEX_CLOCK_REALTIME only means something to the waits with absolute
	// timeouts.
	if realtime && cmd != linux.FUTEX_WAIT_BITSET && cmd != linux.FUTEX_WAIT_REQUEUE_PI && cmd != linux.FUTEX_LOCK_PI2 {
		return 0, linux.ENOSYS
	}
	switch cmd {
	case linux.FUTEX_WAIT, linux.FUTEX_WAIT_BITSET:
		bitset := uint32(linux.FUTEX_BITSET_MATCH_ANY)
		if cmd == linux.FUTEX_WAIT_BITSET {
			bitset = val3
		}
		deadline, err := futexDeadline(t, timeoutAddr, cmd == linux.FUTEX_WAIT_BITSET, realtime)
		if err != nil {
			return 0, err
		}
		err = f.Wait(t, addr, private, val, bitset, deadline)
		if err == kernel.ErrInterrupted {
			// A relative FUTEX_WAIT restarts through restart_syscall in Linux;
			// glibc retries on EINTR either way.
			return 0, kernel.ERESTARTSYS
		}
		return 0, err
	case linux.FUTEX_WAKE, linux.FUTEX_WAKE_BITSET:
		bitset := uint32(linux.FUTEX_BITSET_MATCH_ANY)
		if cmd == linux.FUTEX_WAKE_BITSET {
			bitset = val3
			if bitset == 0 {
				return 0, linux.EINVAL
			}
		}
		n := int(int32(val))
		if n <= 0 {
			n = 1 // Linux wakes at least one for nonpositive counts
		}
		return uintptr(f.Wake(m, addr, private, bitset, n)), nil
	case linux.FUTEX_REQUEUE, linux.FUTEX_CMP_REQUEUE:
		nRequeue := int(timeoutAddr) // val2 is passed in the timeout slot
		if int32(val) < 0 || int32(nRequeue) < 0 {
			return 0, linux.EINVAL
		}
		n, err := f.Requeue(m, addr, addr2, private, cmd == linux.FUTEX_CMP_REQUEUE, val3, int(val), nRequeue)
		return uintptr(n), err
	case linux.FUTEX_WAKE_OP:
		n, err := f.WakeOp(m, addr, addr2, private, int(val), int(timeoutAddr), val3)
		return uintptr(n), err
	case linux.FUTEX_LOCK_PI, linux.FUTEX_UNLOCK_PI, linux.FUTEX_TRYLOCK_PI,
		linux.FUTEX_WAIT_REQUEUE_PI, linux.FUTEX_CMP_REQUEUE_PI, linux.FUTEX_LOCK_PI2:
		return 0, linux.ENOSYS
	}
	return 0, linux.ENOSYS
}

// SetRobustList implements set_robust_list(2).
func SetRobustList(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if args[1].Uint64() != 24 { // sizeof(struct robust_list_head)
		return 0, linux.EINVAL
	}
	t.SetRobustList(args[0].Pointer())
	return 0, nil
}

// GetRobustList implements get_robust_list(2).
func GetRobustList(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	target, err := threadGroupOrTask(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	if err := t.CopyOutUint64(args[1].Pointer(), uint64(target.RobustList())); err != nil {
		return 0, err
	}
	return 0, t.CopyOutUint64(args[2].Pointer(), 24)
}
