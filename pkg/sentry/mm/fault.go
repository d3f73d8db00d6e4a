package mm

import (
	"errors"
	"fmt"
	"io"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/platform"
)

// faultAround is the aligned window a fault populates at most: untouched pages of
// private memory around the faulting one are allocated and mapped with it, so that
// touching memory sequentially costs a trap per 64 KiB rather than per page (a trap
// is the expensive part on ptrace).
const faultAround = 16 * pageSize

// maxFaultRun bounds one allocation when populating a large range, so that a huge
// populate does not need one huge contiguous range of the memory file.
const maxFaultRun = 2 << 20

// HandleUserFault resolves a fault the platform reported at addr for access at: it
// allocates or fills the page (and its untouched neighbours, up to faultAround),
// breaks copy-on-write for a write, and maps the result into the address space. A
// *FaultError (EFAULT) means the application gets SIGSEGV; other errors (ENOMEM, a
// file that could not be read) SIGBUS.
func (mm *MemoryManager) HandleUserFault(addr uintptr, at platform.AccessType) error {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	start := addr &^ (faultAround - 1)
	return mm.faultLocked(addr, at, AddrRange{start, start + faultAround})
}

// vmaForFaultLocked returns the vma that serves an access at addr: the one that
// contains it, or a stack (MAP_GROWSDOWN) just above it that grows down to it, as
// Linux's expand_stack.
func (mm *MemoryManager) vmaForFaultLocked(addr uintptr, at platform.AccessType) (*vma, error) {
	i := mm.vmas.lowerBound(addr)
	if i == len(mm.vmas) {
		return nil, &FaultError{Addr: addr}
	}
	v := mm.vmas[i]
	if v.Start > addr && (!v.growsDown || !mm.canGrowStackLocked(i, addr)) {
		return nil, &FaultError{Addr: addr}
	}
	if !v.canAccess(at) {
		return nil, &FaultError{Addr: addr, AccessErr: true}
	}
	if v.Start > addr {
		v.off -= uint64(v.Start - pageDown(addr))
		v.Start = pageDown(addr)
	}
	return v, nil
}

// canGrowStackLocked reports whether the stack vmas[i] may grow down to addr: within
// maxStackSize, and leaving stackGuardGap above the mapping below it.
//
// Precondition: mm.mu is held for reading.
func (mm *MemoryManager) canGrowStackLocked(i int, addr uintptr) bool {
	v, newStart := mm.vmas[i], pageDown(addr)
	if v.End-newStart > maxStackSize || newStart < mm.layout.MinAddr {
		return false
	}
	return i == 0 || newStart >= mm.vmas[i-1].End+stackGuardGap
}

// faultLocked makes the page at addr present for access at and maps it. want is the
// range the caller would like populated along with it: absent private pages next to
// addr within want (and the vma) are allocated in the same run.
func (mm *MemoryManager) faultLocked(addr uintptr, at platform.AccessType, want AddrRange) error {
	v, err := mm.vmaForFaultLocked(addr, at)
	if err != nil {
		return err
	}
	page := pageDown(addr)
	mapped := AddrRange{page, page + pageSize}
	p, ok := mm.pt.get(page)
	switch {
	case !ok && v.shm != nil:
		off, err := v.shm.page(v.offsetOf(page))
		if err != nil {
			return err
		}
		mm.pt.set(page, newPTE(off))
	case !ok:
		mapped = mm.absentRunLocked(page, want.Intersect(v.AddrRange))
		err := mm.fillLocked(v, mapped)
		if errors.Is(err, linux.ENOMEM) && mapped.Length() > pageSize {
			// The memory file may have room for the page, if not for a
			// contiguous run: the neighbours can wait for their own faults.
			mapped = AddrRange{page, page + pageSize}
			err = mm.fillLocked(v, mapped)
		}
		if err != nil {
			return err
		}
	case at.Write && p.cow():
		if err := mm.breakCOWLocked(page, p); err != nil {
			return err
		}
	}
	return mm.mapPagesLocked(mapped)
}

// absentRunLocked returns the run of absent pages around page (absent itself)
// within bound, at most maxFaultRun long.
//
// Precondition: mm.mu is held for reading.
func (mm *MemoryManager) absentRunLocked(page uintptr, bound AddrRange) AddrRange {
	r := AddrRange{page, page + pageSize}
	for r.Start > bound.Start && r.Length() < maxFaultRun {
		if _, ok := mm.pt.get(r.Start - pageSize); ok {
			break
		}
		r.Start -= pageSize
	}
	for r.End < bound.End && r.Length() < maxFaultRun {
		if _, ok := mm.pt.get(r.End); ok {
			break
		}
		r.End += pageSize
	}
	return r
}

// fillLocked allocates the private pages of ar (absent, in v) and fills them: zeros
// for anonymous memory, the file's contents for a file mapping, zeros past its end.
func (mm *MemoryManager) fillLocked(v *vma, ar AddrRange) error {
	fr, err := mm.mf.Allocate(uint64(ar.Length()))
	if err != nil {
		return err
	}
	if v.mappable != nil {
		off := v.offsetOf(ar.Start)
		if _, err := v.mappable.ReadAt(mm.mf.Slice(fr), int64(off)); err != nil && !errors.Is(err, io.EOF) {
			mm.mf.DecRef(fr)
			return fmt.Errorf("mm: reading %q at %#x for a fault: %w", v.name, off, err)
		}
	}
	for i := uintptr(0); i < ar.Length(); i += pageSize {
		mm.pt.set(ar.Start+i, newPTE(fr.Start+uint64(i)))
	}
	return nil
}

// breakCOWLocked gives the address space its own copy of the copy-on-write page at
// addr, before a write. If nobody else holds the page any more (the other side of
// the fork wrote its own copy or exited), the page is simply taken over: only a
// holder can add a reference, and this address space is the only holder.
func (mm *MemoryManager) breakCOWLocked(addr uintptr, p pte) error {
	old := p.fileRange()
	if mm.mf.RefCount(old.Start) == 1 {
		mm.pt.set(addr, p&^pteCOW)
		return nil
	}
	fr, err := mm.mf.Allocate(pageSize)
	if err != nil {
		return err
	}
	copy(mm.mf.Slice(fr), mm.mf.Slice(old))
	mm.pt.set(addr, newPTE(fr.Start))
	mm.mf.DecRef(old)
	return nil
}

// mapPagesLocked maps the present pages of ar into the platform address space, if
// there is one, with their vma's permissions less write for copy-on-write pages
// (pages of PROT_NONE vmas are unmapped). Runs of pages contiguous in both the
// address space and the memory file take one MapFile. Should MapFile fail, the run is unmapped instead, so that no stale,
// more permissive mapping survives; the pages fault back in later.
func (mm *MemoryManager) mapPagesLocked(ar AddrRange) error {
	if mm.as == nil {
		return nil
	}
	var firstErr error
	var run AddrRange
	var runOff uint64
	var runAt platform.AccessType
	flush := func() {
		if run.Length() == 0 {
			return
		}
		if runAt == platform.NoAccess {
			mm.as.Unmap(run.Start, uint64(run.Length()))
			return
		}
		if err := mm.as.MapFile(run.Start, runOff, uint64(run.Length()), runAt); err != nil {
			mm.as.Unmap(run.Start, uint64(run.Length()))
			if firstErr == nil {
				firstErr = fmt.Errorf("mm: mapping %v: %w", run, err)
			}
		}
	}
	for i := mm.vmas.lowerBound(ar.Start); i < len(mm.vmas) && mm.vmas[i].Start < ar.End; i++ {
		v := mm.vmas[i]
		mm.pt.forEach(v.Intersect(ar), func(addr uintptr, p pte) {
			at := v.perms
			if p.cow() {
				at.Write = false
			}
			if addr == run.End && p.offset() == runOff+uint64(run.Length()) && at == runAt {
				run.End += pageSize
				return
			}
			flush()
			run, runOff, runAt = AddrRange{addr, addr + pageSize}, p.offset(), at
		})
	}
	flush()
	return firstErr
}

// populateLocked makes every page of ar present, as MAP_POPULATE and mlock do. Pages
// of inaccessible vmas are left alone, as on Linux.
func (mm *MemoryManager) populateLocked(ar AddrRange) error {
	for i := mm.vmas.lowerBound(ar.Start); i < len(mm.vmas) && mm.vmas[i].Start < ar.End; i++ {
		v := mm.vmas[i]
		if v.perms == platform.NoAccess {
			continue
		}
		r := v.Intersect(ar)
		for addr := r.Start; addr < r.End; addr += pageSize {
			if _, ok := mm.pt.get(addr); ok {
				continue
			}
			if err := mm.faultLocked(addr, platform.NoAccess, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropPagesLocked removes ar's pages from the address space and the page table and
// drops their references, unmapping them from the platform first so that the
// application never sees a page after it is freed.
func (mm *MemoryManager) dropPagesLocked(ar AddrRange) {
	var offs []uint64
	mm.pt.forEach(ar, func(addr uintptr, p pte) {
		mm.pt.clear(addr)
		offs = append(offs, p.offset())
	})
	if mm.as != nil && len(offs) != 0 {
		mm.as.Unmap(ar.Start, uint64(ar.Length()))
	}
	for _, fr := range fileRanges(offs) {
		mm.mf.DecRef(fr)
	}
}
