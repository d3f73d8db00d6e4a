package mm

import (
	"reflect"
	"sort"

	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

// A vma is a virtual memory area: a range of addresses mapped with one set of
// attributes, as Linux's vm_area_struct. What backs each page lives in the page table.
type vma struct {
	AddrRange
	perms    platform.AccessType
	maxPerms platform.AccessType
	// private is MAP_PRIVATE. A read-only MAP_SHARED file mapping is served like a
	// private one (its pages are copies), since nothing can write through it; it
	// keeps private false so that /proc/self/maps says 's'.
	private bool
	// mappable backs a file mapping; nil for anonymous memory.
	mappable memmap.Mappable
	// off is the offset of Start in mappable, or in shm.
	off uint64
	// shm backs a shared anonymous mapping, whose pages outlive any one address
	// space; nil otherwise.
	shm       *shmem
	growsDown bool
	// locked is mlock's VM_LOCKED: pages are populated and counted as locked.
	locked bool
	// dontFork is MADV_DONTFORK: a child gets no copy of the mapping.
	dontFork bool
	// wipeOnFork is MADV_WIPEONFORK: a child gets the mapping but none of its
	// pages, so it reads zeros.
	wipeOnFork bool
	name       string
}

// refMappable is a Mappable whose contents would go with the file's last
// descriptor and name (a tmpfs file's pages): like Linux's vm_file, every vma
// that maps one holds a reference, so that pages not yet faulted in can still be
// read after close and unlink. The references are taken and dropped under
// MemoryManager.mu, so DecRef must not take it.
type refMappable interface {
	memmap.Mappable
	IncRef()
	DecRef()
}

// incRefs takes the references a new copy of v (a split, a fork, a move) holds.
func (v *vma) incRefs() {
	if v.shm != nil {
		v.shm.incRef()
	}
	if r, ok := v.mappable.(refMappable); ok {
		r.IncRef()
	}
}

// decRefs drops the references of a vma that is going away.
func (v *vma) decRefs() {
	if v.shm != nil {
		v.shm.decRef()
	}
	if r, ok := v.mappable.(refMappable); ok {
		r.DecRef()
	}
}

// ownsPages reports whether v's pages are this address space's own (anonymous or
// copied from a file), rather than pages of a shared object: only those become
// copy-on-write at fork.
func (v *vma) ownsPages() bool { return v.shm == nil }

// offsetOf returns the offset in v's mappable or shm of addr.
func (v *vma) offsetOf(addr uintptr) uint64 { return v.off + uint64(addr-v.Start) }

// canAccess reports whether v allows the access at. As on x86, any access right makes
// a page readable; writing and executing need their own right.
func (v *vma) canAccess(at platform.AccessType) bool {
	p := v.perms
	if at.Read && !(p.Read || p.Write || p.Execute) {
		return false
	}
	return (!at.Write || p.Write) && (!at.Execute || p.Execute)
}

// mergeable reports whether next, which starts where v ends, can join v as one vma:
// everything but the range is the same, and offsets continue.
func (v *vma) mergeable(next *vma) bool {
	return v.End == next.Start &&
		v.perms == next.perms && v.maxPerms == next.maxPerms &&
		v.private == next.private && v.growsDown == next.growsDown &&
		v.locked == next.locked && v.dontFork == next.dontFork &&
		v.wipeOnFork == next.wipeOnFork && v.name == next.name &&
		v.shm == next.shm && sameMappable(v.mappable, next.mappable) &&
		(v.mappable == nil && v.shm == nil || next.off == v.offsetOf(next.Start))
}

// sameMappable compares mappables without panicking on a dynamic type that is not
// comparable (such a mappable is never merged).
func sameMappable(a, b memmap.Mappable) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if reflect.TypeOf(a) != reflect.TypeOf(b) || !reflect.TypeOf(a).Comparable() {
		return false
	}
	return a == b
}

// vmaSet is an address space's vmas: a slice sorted by address, with no overlaps.
// Lookups are binary searches, O(log n); inserting or removing moves the tail of the
// slice, O(n) pointer copies. Processes have tens to hundreds of vmas (Linux caps
// them at 65530), where a memmove of the tail costs less than rebalancing a tree and
// the slice is far kinder to the cache; gVisor's segment sets buy O(log n) updates
// with much more code.
//
// vmaSet is not synchronized; MemoryManager.mu guards it.
type vmaSet []*vma

// lowerBound returns the index of the first vma that ends after addr: the one that
// contains addr, if any, else the first above it.
func (s vmaSet) lowerBound(addr uintptr) int {
	return sort.Search(len(s), func(i int) bool { return s[i].End > addr })
}

// find returns the vma that contains addr, or nil.
func (s vmaSet) find(addr uintptr) *vma {
	if i := s.lowerBound(addr); i < len(s) && s[i].Start <= addr {
		return s[i]
	}
	return nil
}

// overlaps reports whether any vma intersects ar.
func (s vmaSet) overlaps(ar AddrRange) bool {
	i := s.lowerBound(ar.Start)
	return i < len(s) && s[i].Start < ar.End
}

// splitAt splits the vma that contains addr, if any, so that one ends and the next
// starts at addr.
func (s *vmaSet) splitAt(addr uintptr) {
	i := s.lowerBound(addr)
	if i == len(*s) || (*s)[i].Start >= addr {
		return
	}
	v := (*s)[i]
	tail := *v
	tail.Start = addr
	tail.off = v.offsetOf(addr)
	tail.incRefs()
	v.End = addr
	s.insertAt(i+1, &tail)
}

// isolate splits vmas so that each one is inside ar or outside it, and returns the
// index range [i, j) of those inside.
func (s *vmaSet) isolate(ar AddrRange) (int, int) {
	s.splitAt(ar.Start)
	s.splitAt(ar.End)
	i := s.lowerBound(ar.Start)
	j := i + sort.Search(len((*s)[i:]), func(k int) bool { return (*s)[i+k].Start >= ar.End })
	return i, j
}

func (s *vmaSet) insertAt(i int, v *vma) {
	*s = append(*s, nil)
	copy((*s)[i+1:], (*s)[i:])
	(*s)[i] = v
}

// insert adds v, which must not overlap any vma, and returns its index.
func (s *vmaSet) insert(v *vma) int {
	i := s.lowerBound(v.Start)
	s.insertAt(i, v)
	return i
}

// removeRange drops the vmas [i, j) from the set.
func (s *vmaSet) removeRange(i, j int) {
	*s = append((*s)[:i], (*s)[j:]...)
}

// mergeRange merges mergeable neighbours among the vmas [i-1, j], so that attribute
// changes that make neighbours alike leave one vma, as Linux does.
func (s *vmaSet) mergeRange(i, j int) {
	lo, hi := max(i-1, 0), min(j, len(*s)-1)
	for k := hi; k > lo; k-- {
		prev, next := (*s)[k-1], (*s)[k]
		if !prev.mergeable(next) {
			continue
		}
		prev.End = next.End
		next.decRefs()
		s.removeRange(k, k+1)
	}
}
