package kernel

import (
	"runtime"

	"visor.dev/visor/pkg/abi/linux"
)

// Scheduling state an application sets and reads back. The Sentry's tasks run on
// goroutines the Go runtime places on any of the host's CPUs: a task's CPU
// affinity and nice value change what it is told (sched_getaffinity, getcpu,
// getpriority), not where or how much it runs.

// Bounds of a nice value.
const (
	MinNice = -20
	MaxNice = 19
)

// NumCPUs is how many CPUs the sandbox has, numbered from 0.
func NumCPUs() int { return runtime.NumCPU() }

// CPUSet is a set of CPUs as sched_setaffinity's mask holds it: CPU i is bit
// i%8 of byte i/8. Its length is a whole number of 64-bit words covering the
// sandbox's CPUs.
type CPUSet []byte

// CPUSetSize is the length of a CPUSet: what sched_getaffinity returns.
func CPUSetSize() int { return (NumCPUs() + 63) / 64 * 8 }

// allCPUs returns the set of every CPU of the sandbox.
func allCPUs() CPUSet {
	s := make(CPUSet, CPUSetSize())
	for cpu := 0; cpu < NumCPUs(); cpu++ {
		s[cpu/8] |= 1 << (cpu % 8)
	}
	return s
}

// has reports whether cpu is in s.
func (s CPUSet) has(cpu int) bool { return cpu/8 < len(s) && s[cpu/8]&(1<<(cpu%8)) != 0 }

// first returns the lowest CPU in s, or -1.
func (s CPUSet) first() int {
	for cpu := 0; cpu < len(s)*8; cpu++ {
		if s.has(cpu) {
			return cpu
		}
	}
	return -1
}

// Affinity returns t's CPU affinity.
func (t *Task) Affinity() CPUSet {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(CPUSet(nil), t.affinity...)
}

// SetAffinity restricts t to the CPUs of mask that the sandbox has; a mask with
// none of them fails with EINVAL. t then reports running on one of them.
func (t *Task) SetAffinity(mask CPUSet) error {
	s := allCPUs()
	for i := range s {
		if i < len(mask) {
			s[i] &= mask[i]
		} else {
			s[i] = 0
		}
	}
	first := s.first()
	if first < 0 {
		return linux.EINVAL
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.affinity = s
	if !s.has(int(t.cpu)) {
		t.cpu = int32(first)
	}
	return nil
}

// CPU returns the CPU t reports running on (getcpu): always one it may run on.
func (t *Task) CPU() int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cpu
}

// Nice returns t's nice value.
func (t *Task) Nice() int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nice
}

// SetNice sets t's nice value, clamped to [MinNice, MaxNice], with Linux's rules
// (set_one_prio): the caller (whose credentials are c) must own t or have
// CAP_SYS_NICE (EPERM), and may lower the value (raise priority) only within t's
// RLIMIT_NICE or with CAP_SYS_NICE (EACCES).
func (t *Task) SetNice(caller *Task, nice int32) error {
	nice = min(max(nice, MinNice), MaxNice)
	c, tc := caller.Credentials(), t.Credentials()
	privileged := c.HasCapability(linux.CAP_SYS_NICE)
	if c.EffectiveKUID != tc.RealKUID && c.EffectiveKUID != tc.EffectiveKUID && !privileged {
		return linux.EPERM
	}
	// RLIMIT_NICE holds 20 - nice: the lowest nice value allowed, inverted.
	limit := t.tg.Limit(linux.RLIMIT_NICE).Cur
	t.mu.Lock()
	defer t.mu.Unlock()
	if nice < t.nice && uint64(20-nice) > limit && !privileged {
		return linux.EACCES
	}
	t.nice = nice
	return nil
}
