package ptrace

import (
	"sort"

	"visor.dev/visor/pkg/sentry/platform"
)

// mapping is one range [start, end) of an address space mapped with access at.
type mapping struct {
	start, end uintptr
	at         platform.AccessType
}

// mappings records the access of every range mapped into an address space, so a
// fault can be classified (see faultAccess): ptrace can't see the page-fault error
// code, but knowing how the faulting page is mapped recovers it in the cases that
// matter. It is a sorted slice of disjoint ranges, adjacent ranges of equal access
// merged; updates are O(n), which is fine while the Sentry maps in large runs.
//
// mappings is not synchronized; AddressSpace.mapsMu guards it.
type mappings struct {
	m []mapping
}

// find returns the index of the first mapping whose end is above addr.
func (ms *mappings) find(addr uintptr) int {
	return sort.Search(len(ms.m), func(i int) bool { return ms.m[i].end > addr })
}

// lookup returns the access addr is mapped with and whether it is mapped at all.
func (ms *mappings) lookup(addr uintptr) (platform.AccessType, bool) {
	i := ms.find(addr)
	if i < len(ms.m) && ms.m[i].start <= addr {
		return ms.m[i].at, true
	}
	return platform.NoAccess, false
}

// remove drops [start, end) from the map, splitting mappings that straddle its ends.
func (ms *mappings) remove(start, end uintptr) {
	if start >= end {
		return
	}
	i := ms.find(start)
	j := i
	var keep []mapping
	for ; j < len(ms.m) && ms.m[j].start < end; j++ {
		m := ms.m[j]
		if m.start < start {
			keep = append(keep, mapping{m.start, start, m.at})
		}
		if m.end > end {
			keep = append(keep, mapping{end, m.end, m.at})
		}
	}
	ms.m = append(ms.m[:i], append(keep, ms.m[j:]...)...)
}

// set records [start, end) as mapped with at, replacing what was there.
func (ms *mappings) set(start, end uintptr, at platform.AccessType) {
	if start >= end {
		return
	}
	ms.remove(start, end)
	i := ms.find(start)
	// Merge with neighbours of the same access.
	if i > 0 && ms.m[i-1].end == start && ms.m[i-1].at == at {
		i--
		start = ms.m[i].start
		ms.m = append(ms.m[:i], ms.m[i+1:]...)
	}
	if i < len(ms.m) && ms.m[i].start == end && ms.m[i].at == at {
		end = ms.m[i].end
		ms.m = append(ms.m[:i], ms.m[i+1:]...)
	}
	ms.m = append(ms.m, mapping{})
	copy(ms.m[i+1:], ms.m[i:])
	ms.m[i] = mapping{start, end, at}
}
