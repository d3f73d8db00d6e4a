package cgroup

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Names of the config.json fields, for errors.
const (
	fieldMemLimit       = "linux.resources.memory.limit"
	fieldMemSwap        = "linux.resources.memory.swap"
	fieldMemReservation = "linux.resources.memory.reservation"
	fieldCPUShares      = "linux.resources.cpu.shares"
	fieldCPUQuota       = "linux.resources.cpu.quota"
	fieldCPUPeriod      = "linux.resources.cpu.period"
	fieldCPUCpus        = "linux.resources.cpu.cpus"
	fieldCPUMems        = "linux.resources.cpu.mems"
	fieldPidsLimit      = "linux.resources.pids.limit"
)

// Limits the kernel enforces (kernel/sched/core.c, kernel/cgroup/pids.c); checking
// them here gives an error naming the field instead of the kernel's bare EINVAL.
const (
	minShares    = 2
	maxShares    = 1 << 18
	minCFSPeriod = 1000    // µs: 1 ms
	maxCFSPeriod = 1000000 // µs: 1 s
	minCFSQuota  = 1000    // µs: 1 ms
	maxCFSQuota  = 1<<44 - 1
	maxPids      = 4 << 20 // PID_MAX_LIMIT on 64-bit
	// maxCPUIndex bounds the CPU and memory node numbers of a cpuset list, far
	// above any real machine, so that "0-4000000000" is refused, not parsed.
	maxCPUIndex = 1 << 16
	// defaultCFSPeriod is the kernel's period when only a quota is given (v2's cpu.max
	// needs both).
	defaultCFSPeriod = 100000
)

// setting is one value to write to one interface file of the sandbox's cgroup.
type setting struct {
	// ctrl is the controller the file belongs to.
	ctrl string
	// file is the interface file's name.
	file string
	// value is what is written.
	value string
	// field is the config.json field the value comes from.
	field string
	// optional settings are skipped when the file does not exist: swap limits on a
	// kernel without swap accounting, which Docker asks for by default (as runc does).
	optional bool
}

// limits are linux.resources checked, with 0 meaning "not set" throughout (as in runc).
type limits struct {
	memLimit, memSwap, memReservation int64 // -1: unlimited
	shares                            uint64
	quota                             int64 // -1: unlimited
	period                            uint64
	cpus, mems                        string
	pids                              int64 // -1: unlimited
}

// checkResources validates r, returning an error naming the first bad field.
func checkResources(r *specs.LinuxResources) (limits, error) {
	var l limits
	if r == nil {
		return l, nil
	}
	if m := r.Memory; m != nil {
		var err error
		if l.memLimit, err = memValue(fieldMemLimit, m.Limit); err != nil {
			return l, err
		}
		if l.memSwap, err = memValue(fieldMemSwap, m.Swap); err != nil {
			return l, err
		}
		if l.memReservation, err = memValue(fieldMemReservation, m.Reservation); err != nil {
			return l, err
		}
		// memory.swap is memory+swap (v1's memsw), so it cannot be below the limit.
		if l.memSwap > 0 {
			if l.memLimit <= 0 {
				return l, fmt.Errorf("config.json %s: %d needs %s to be set too (swap is the memory+swap limit)", fieldMemSwap, l.memSwap, fieldMemLimit)
			}
			if l.memSwap < l.memLimit {
				return l, fmt.Errorf("config.json %s: %d is below %s %d (swap is the memory+swap limit, so it must be at least the memory limit)", fieldMemSwap, l.memSwap, fieldMemLimit, l.memLimit)
			}
		}
		if l.memReservation > 0 && l.memLimit > 0 && l.memReservation > l.memLimit {
			return l, fmt.Errorf("config.json %s: %d is above %s %d", fieldMemReservation, l.memReservation, fieldMemLimit, l.memLimit)
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			l.shares = *c.Shares
			if l.shares < minShares || l.shares > maxShares {
				return l, fmt.Errorf("config.json %s: %d is out of range [%d, %d]", fieldCPUShares, l.shares, minShares, maxShares)
			}
		}
		if c.Period != nil && *c.Period != 0 {
			l.period = *c.Period
			if l.period < minCFSPeriod || l.period > maxCFSPeriod {
				return l, fmt.Errorf("config.json %s: %d µs is out of range [%d, %d]", fieldCPUPeriod, l.period, minCFSPeriod, maxCFSPeriod)
			}
		}
		if c.Quota != nil && *c.Quota != 0 {
			l.quota = *c.Quota
			if l.quota != -1 && (l.quota < minCFSQuota || l.quota > maxCFSQuota) {
				return l, fmt.Errorf("config.json %s: %d µs is out of range [%d, %d] (or -1 for no limit)", fieldCPUQuota, l.quota, minCFSQuota, int64(maxCFSQuota))
			}
		}
		if c.Cpus != "" {
			if err := checkList(c.Cpus); err != nil {
				return l, fmt.Errorf("config.json %s: %q: %w", fieldCPUCpus, c.Cpus, err)
			}
			l.cpus = c.Cpus
		}
		if c.Mems != "" {
			if err := checkList(c.Mems); err != nil {
				return l, fmt.Errorf("config.json %s: %q: %w", fieldCPUMems, c.Mems, err)
			}
			l.mems = c.Mems
		}
	}
	if p := r.Pids; p != nil && p.Limit != 0 {
		l.pids = p.Limit
		if l.pids < -1 || l.pids > maxPids {
			return l, fmt.Errorf("config.json %s: %d is out of range [1, %d] (or -1 for no limit)", fieldPidsLimit, l.pids, maxPids)
		}
	}
	return l, nil
}

// memValue checks a memory size: nil and 0 are unset, -1 is unlimited.
func memValue(field string, v *int64) (int64, error) {
	if v == nil {
		return 0, nil
	}
	if *v < -1 {
		return 0, fmt.Errorf("config.json %s: %d is negative (use -1 for no limit)", field, *v)
	}
	return *v, nil
}

// checkList checks a cpuset list such as "0-3,8,10-11".
func checkList(s string) error {
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := listIndex(lo)
		if err != nil {
			return err
		}
		if isRange {
			b, err := listIndex(hi)
			if err != nil {
				return err
			}
			if a > b {
				return fmt.Errorf("range %q is backwards", r)
			}
		}
	}
	return nil
}

func listIndex(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("%q is not a CPU or node number", s)
	}
	if n >= maxCPUIndex {
		return 0, fmt.Errorf("%d is not a plausible CPU or node number", n)
	}
	return n, nil
}

// v1Settings converts linux.resources to cgroup v1 interface files, in the order
// they are written: the CFS period before the quota, the memory limit before the
// memory+swap limit (which must not be below it; see v1.apply for the reverse case).
func v1Settings(r *specs.LinuxResources) ([]setting, error) {
	l, err := checkResources(r)
	if err != nil {
		return nil, err
	}
	var s []setting
	add := func(ctrl, file string, v int64, field string, optional bool) {
		s = append(s, setting{ctrl: ctrl, file: file, value: strconv.FormatInt(v, 10), field: field, optional: optional})
	}
	if l.cpus != "" {
		s = append(s, setting{ctrl: "cpuset", file: "cpuset.cpus", value: l.cpus, field: fieldCPUCpus})
	}
	if l.mems != "" {
		s = append(s, setting{ctrl: "cpuset", file: "cpuset.mems", value: l.mems, field: fieldCPUMems})
	}
	if l.shares != 0 {
		add("cpu", "cpu.shares", int64(l.shares), fieldCPUShares, false)
	}
	if l.period != 0 {
		add("cpu", "cpu.cfs_period_us", int64(l.period), fieldCPUPeriod, false)
	}
	if l.quota != 0 {
		add("cpu", "cpu.cfs_quota_us", l.quota, fieldCPUQuota, false)
	}
	if l.memLimit != 0 {
		add("memory", "memory.limit_in_bytes", l.memLimit, fieldMemLimit, false)
	}
	if l.memSwap != 0 {
		add("memory", "memory.memsw.limit_in_bytes", l.memSwap, fieldMemSwap, true)
	}
	if l.memReservation != 0 {
		add("memory", "memory.soft_limit_in_bytes", l.memReservation, fieldMemReservation, false)
	}
	if l.pids != 0 {
		s = append(s, setting{ctrl: "pids", file: "pids.max", value: maxOr(l.pids), field: fieldPidsLimit})
	}
	return s, nil
}

// v2Settings converts linux.resources to cgroup v2 interface files, as runc does:
// shares become cpu.weight, quota and period become cpu.max, and memory.swap (v1's
// memory+swap) becomes memory.swap.max, the swap alone.
func v2Settings(r *specs.LinuxResources) ([]setting, error) {
	l, err := checkResources(r)
	if err != nil {
		return nil, err
	}
	var s []setting
	if l.cpus != "" {
		s = append(s, setting{ctrl: "cpuset", file: "cpuset.cpus", value: l.cpus, field: fieldCPUCpus})
	}
	if l.mems != "" {
		s = append(s, setting{ctrl: "cpuset", file: "cpuset.mems", value: l.mems, field: fieldCPUMems})
	}
	if l.shares != 0 {
		s = append(s, setting{ctrl: "cpu", file: "cpu.weight", value: strconv.FormatUint(sharesToWeight(l.shares), 10), field: fieldCPUShares})
	}
	if l.quota != 0 || l.period != 0 {
		period := l.period
		if period == 0 {
			period = defaultCFSPeriod
		}
		field := fieldCPUQuota
		if l.quota == 0 {
			field = fieldCPUPeriod
		}
		s = append(s, setting{ctrl: "cpu", file: "cpu.max", value: maxOr(l.quota) + " " + strconv.FormatUint(period, 10), field: field})
	}
	if l.memLimit != 0 {
		s = append(s, setting{ctrl: "memory", file: "memory.max", value: maxOr(l.memLimit), field: fieldMemLimit})
	}
	if swap, ok := swapToV2(l.memSwap, l.memLimit); ok {
		s = append(s, setting{ctrl: "memory", file: "memory.swap.max", value: swap, field: fieldMemSwap, optional: true})
	}
	if l.memReservation != 0 {
		s = append(s, setting{ctrl: "memory", file: "memory.low", value: maxOr(l.memReservation), field: fieldMemReservation})
	}
	if l.pids != 0 {
		s = append(s, setting{ctrl: "pids", file: "pids.max", value: maxOr(l.pids), field: fieldPidsLimit})
	}
	return s, nil
}

// maxOr formats a checked limit for v2 (and v1's pids.max): a positive value as is,
// -1 (and, for a cpu.max quota, 0: only the period was given) as "max", no limit.
func maxOr(v int64) string {
	if v <= 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// sharesToWeight maps cgroup v1 cpu.shares [2, 262144] linearly onto v2 cpu.weight
// [1, 10000], the conversion runc and crun use.
func sharesToWeight(shares uint64) uint64 {
	return 1 + ((shares-minShares)*9999)/(maxShares-minShares)
}

// swapToV2 converts the memory+swap limit (checked by checkResources) to v2's swap-only
// memory.swap.max; ok is false when there is nothing to write. An unlimited memory
// limit with no swap limit makes swap unlimited too, as it is on v1.
func swapToV2(swap, limit int64) (value string, ok bool) {
	switch {
	case limit == -1 && swap == 0:
		return "max", true
	case swap == 0:
		return "", false
	case swap == -1:
		return "max", true
	default:
		return strconv.FormatInt(swap-limit, 10), true
	}
}
