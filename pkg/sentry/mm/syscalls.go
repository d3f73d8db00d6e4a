package mm

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

// The memory system calls, with Linux's checks in Linux's order (mm/mmap.c,
// mprotect.c, mremap.c, madvise.c, msync.c, mincore.c, mlock.c): they take the raw
// flags the application passed and fail with the errno Linux would.

// MMap creates a mapping and returns its address, as mmap(2). Without opts.Fixed,
// opts.Addr is a hint used if the range is free; otherwise the mapping goes in the
// highest free range below the mmap base. It is MMapLimited without a limit, for
// the mappings the loader makes.
func (mm *MemoryManager) MMap(opts memmap.MMapOpts) (uintptr, error) {
	return mm.MMapLimited(opts, linux.RLIM_INFINITY)
}

// MMapLimited is MMap for an application's mmap(2): it fails with ENOMEM if the
// mapping would take the address space beyond asLimit bytes (RLIMIT_AS), counting
// the mappings it replaces as gone, as mmap_region's may_expand_vm check does.
func (mm *MemoryManager) MMapLimited(opts memmap.MMapOpts, asLimit uint64) (uintptr, error) {
	if opts.Length == 0 || opts.Offset%pageSize != 0 {
		return 0, linux.EINVAL
	}
	lr, ok := lengthToRange(0, opts.Length)
	if !ok || lr.End == 0 {
		return 0, linux.ENOMEM
	}
	length := lr.End
	if opts.Offset+uint64(length) < opts.Offset {
		return 0, linux.EOVERFLOW
	}
	if opts.Fixed && !pageAligned(opts.Addr) {
		return 0, linux.EINVAL
	}
	if !subsetOf(opts.Perms, opts.MaxPerms) {
		return 0, linux.EACCES
	}
	if !opts.Private && opts.Mappable != nil && opts.MaxPerms.Write {
		// A writable shared file mapping must write through to the file, which
		// needs the file's own page cache; memmap.Mappable only offers ReadAt.
		return 0, linux.ENODEV
	}

	mm.mu.Lock()
	defer mm.mu.Unlock()
	ar, err := mm.placeLocked(opts, length)
	if err != nil {
		return 0, err
	}
	if !mm.mayExpandLocked(uint64(ar.Length())-mm.mappedLocked(ar), asLimit) {
		return 0, linux.ENOMEM
	}
	if opts.Fixed && opts.Unmap {
		mm.unmapLocked(ar)
	}
	v := &vma{
		AddrRange: ar,
		perms:     opts.Perms,
		maxPerms:  opts.MaxPerms,
		private:   opts.Private,
		mappable:  opts.Mappable,
		off:       opts.Offset,
		growsDown: opts.GrowsDown,
		locked:    mm.lockFuture,
		name:      opts.Name,
	}
	if !opts.Private && opts.Mappable == nil {
		v.shm = newShmem(mm.mf)
	}
	if r, ok := v.mappable.(refMappable); ok {
		r.IncRef()
	}
	mm.insertVMALocked(v)
	if opts.Precommit || (mm.lockFuture && !mm.lockFutureOnFault) {
		if err := mm.populateLocked(ar); err != nil {
			mm.unmapLocked(ar)
			return 0, linux.ENOMEM
		}
	}
	return ar.Start, nil
}

// mayExpandLocked reports whether the address space may grow by n bytes within
// asLimit, as may_expand_vm. Summing the vmas is only paid for under a limit.
func (mm *MemoryManager) mayExpandLocked(n, asLimit uint64) bool {
	if asLimit == linux.RLIM_INFINITY {
		return true
	}
	total := mm.mappedLocked(AddrRange{0, ^uintptr(0)})
	return total+n >= total && total+n <= asLimit
}

// mappedLocked returns how many bytes of ar are mapped.
func (mm *MemoryManager) mappedLocked(ar AddrRange) uint64 {
	var n uint64
	for i := mm.vmas.lowerBound(ar.Start); i < len(mm.vmas) && mm.vmas[i].Start < ar.End; i++ {
		v := mm.vmas[i]
		n += uint64(min(v.End, ar.End) - max(v.Start, ar.Start))
	}
	return n
}

// placeLocked returns where a new mapping of length bytes goes.
func (mm *MemoryManager) placeLocked(opts memmap.MMapOpts, length uintptr) (AddrRange, error) {
	if opts.Fixed {
		ar := AddrRange{opts.Addr, opts.Addr + length}
		if ar.End < ar.Start || ar.End > mm.layout.MaxAddr {
			return AddrRange{}, linux.ENOMEM
		}
		if ar.Start < mm.layout.MinAddr {
			// Linux refuses mappings below mmap_min_addr with EPERM.
			return AddrRange{}, linux.EPERM
		}
		if !opts.Unmap && mm.vmas.overlaps(ar) {
			return AddrRange{}, linux.EEXIST
		}
		return ar, nil
	}
	if hint, ok := pageUp(opts.Addr); ok && hint != 0 {
		ar := AddrRange{hint, hint + length}
		if ar.End > ar.Start && ar.Start >= mm.layout.MinAddr && ar.End <= mm.layout.MaxAddr && mm.fitsLocked(ar) {
			return ar, nil
		}
	}
	start, ok := mm.findGapLocked(length)
	if !ok {
		return AddrRange{}, linux.ENOMEM
	}
	return AddrRange{start, start + length}, nil
}

// startGap returns the lowest address a mapping below v may end at: v's start, less
// the guard gap below a stack.
func (v *vma) startGap() uintptr {
	if v.growsDown && v.Start >= stackGuardGap {
		return v.Start - stackGuardGap
	}
	return v.Start
}

// fitsLocked reports whether ar is free, guard gaps included.
//
// Precondition: mm.mu is held for reading.
func (mm *MemoryManager) fitsLocked(ar AddrRange) bool {
	i := mm.vmas.lowerBound(ar.Start)
	return i == len(mm.vmas) || ar.End <= mm.vmas[i].startGap()
}

// findGapLocked finds room for length bytes: the highest free range below the mmap
// base, else the lowest above it, as Linux's top-down allocator falls back to
// bottom-up.
//
// Precondition: mm.mu is held for reading.
func (mm *MemoryManager) findGapLocked(length uintptr) (uintptr, bool) {
	l, s := mm.layout, mm.vmas
	base := mm.vmas.lowerBound(l.MmapBase)
	for k := base; k >= 0; k-- {
		end := l.MmapBase
		if k < len(s) {
			end = min(end, s[k].startGap())
		}
		start := l.MinAddr
		if k > 0 {
			start = max(start, s[k-1].End)
		}
		if end >= start && end-start >= length {
			return end - length, true
		}
	}
	for k := base; k <= len(s); k++ {
		start := l.MmapBase
		if k > 0 {
			start = max(start, s[k-1].End)
		}
		end := l.MaxAddr
		if k < len(s) {
			end = s[k].startGap()
		}
		if end >= start && end-start >= length {
			return start, true
		}
	}
	return 0, false
}

// insertVMALocked adds v, which overlaps nothing, merging it with like neighbours.
func (mm *MemoryManager) insertVMALocked(v *vma) {
	i := mm.vmas.insert(v)
	mm.vmas.mergeRange(i, i+1)
}

// unmapLocked removes every mapping and page in ar.
func (mm *MemoryManager) unmapLocked(ar AddrRange) {
	mm.dropPagesLocked(ar)
	i, j := mm.vmas.isolate(ar)
	for _, v := range mm.vmas[i:j] {
		v.decRefs()
	}
	mm.vmas.removeRange(i, j)
}

// MUnmap removes the mappings in [addr, addr+length), as munmap(2); unmapped parts
// of the range are not an error.
func (mm *MemoryManager) MUnmap(addr uintptr, length uint64) error {
	if !pageAligned(addr) || length == 0 {
		return linux.EINVAL
	}
	ar, ok := lengthToRange(addr, length)
	if !ok || ar.End > mm.layout.MaxAddr {
		return linux.EINVAL
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.unmapLocked(ar)
	return nil
}

// protSem is PROT_SEM, which x86 accepts and ignores.
const protSem = 0x8

// MProtect changes the access the mappings in [addr, addr+length) allow, as
// mprotect(2). prot is PROT_* bits; with PROT_GROWSDOWN the change extends down to
// the start of the stack mapping addr is in. Linux applies the change up to the
// first hole (ENOMEM) or mapping whose maximum access it exceeds (EACCES), and so
// does MProtect.
func (mm *MemoryManager) MProtect(addr uintptr, length uint64, prot int) error {
	if prot&^(linux.PROT_READ|linux.PROT_WRITE|linux.PROT_EXEC|protSem|linux.PROT_GROWSDOWN) != 0 {
		return linux.EINVAL
	}
	if !pageAligned(addr) {
		return linux.EINVAL
	}
	if length == 0 {
		return nil
	}
	ar, ok := lengthToRange(addr, length)
	if !ok {
		return linux.ENOMEM
	}
	perms := platform.AccessType{
		Read:    prot&linux.PROT_READ != 0,
		Write:   prot&linux.PROT_WRITE != 0,
		Execute: prot&linux.PROT_EXEC != 0,
	}

	mm.mu.Lock()
	defer mm.mu.Unlock()
	i := mm.vmas.lowerBound(ar.Start)
	if i == len(mm.vmas) || mm.vmas[i].Start >= ar.End {
		return linux.ENOMEM
	}
	if prot&linux.PROT_GROWSDOWN != 0 {
		if !mm.vmas[i].growsDown {
			return linux.EINVAL
		}
		ar.Start = mm.vmas[i].Start
	} else if mm.vmas[i].Start > ar.Start {
		return linux.ENOMEM
	}
	var err error
	cur := ar.Start
	for k := i; cur < ar.End; k++ {
		if k == len(mm.vmas) || mm.vmas[k].Start > cur {
			err = linux.ENOMEM
			break
		}
		if !subsetOf(perms, mm.vmas[k].maxPerms) {
			err = linux.EACCES
			break
		}
		cur = mm.vmas[k].End
	}
	done := AddrRange{ar.Start, min(cur, ar.End)}
	if done.Length() != 0 {
		i, j := mm.vmas.isolate(done)
		for _, v := range mm.vmas[i:j] {
			v.perms = perms
		}
		mm.vmas.mergeRange(i, j)
		// A page that fails to remap is left unmapped and faults back in.
		_ = mm.mapPagesLocked(done)
	}
	return err
}

// MRemap grows, shrinks or moves the mapping at oldAddr, as mremap(2), and returns
// its new address. flags are MREMAP_* bits; newAddr is used with MREMAP_FIXED.
// Contents move with the mapping: pages are moved, not copied. Growing beyond
// asLimit bytes of address space (RLIMIT_AS) fails with ENOMEM.
func (mm *MemoryManager) MRemap(oldAddr uintptr, oldSize, newSize uint64, flags int, newAddr uintptr, asLimit uint64) (uintptr, error) {
	// MREMAP_DONTUNMAP is not supported; Linux before 5.7 failed it the same way.
	if flags&^(linux.MREMAP_MAYMOVE|linux.MREMAP_FIXED) != 0 {
		return 0, linux.EINVAL
	}
	mayMove := flags&linux.MREMAP_MAYMOVE != 0
	fixed := flags&linux.MREMAP_FIXED != 0
	if fixed && !mayMove {
		return 0, linux.EINVAL
	}
	if !pageAligned(oldAddr) {
		return 0, linux.EINVAL
	}
	oldR, ok1 := lengthToRange(oldAddr, oldSize)
	nr, ok2 := lengthToRange(0, newSize)
	if !ok1 || !ok2 || nr.End == 0 {
		return 0, linux.EINVAL
	}
	newLen := nr.End

	mm.mu.Lock()
	defer mm.mu.Unlock()
	v := mm.vmas.find(oldAddr)
	if v == nil || oldR.End > v.End {
		return 0, linux.EFAULT
	}
	if oldR.Length() == 0 && v.private {
		// Only a shared mapping can be duplicated by remapping zero bytes of it.
		return 0, linux.EINVAL
	}

	if fixed {
		newR := AddrRange{newAddr, newAddr + newLen}
		if !pageAligned(newAddr) || newR.End < newR.Start || newR.End > mm.layout.MaxAddr || newR.Start < mm.layout.MinAddr {
			return 0, linux.EINVAL
		}
		if newR.Start < oldR.End && oldR.Start < newR.End {
			return 0, linux.EINVAL
		}
		mm.unmapLocked(newR)
		if oldR.Length() > newLen {
			mm.unmapLocked(AddrRange{oldR.Start + newLen, oldR.End})
			oldR.End = oldR.Start + newLen
		}
		if !mm.mayExpandLocked(uint64(newLen-oldR.Length()), asLimit) {
			return 0, linux.ENOMEM
		}
		return mm.moveLocked(oldR, newR), nil
	}

	if oldR.Length() != 0 && newLen <= oldR.Length() {
		mm.unmapLocked(AddrRange{oldR.Start + newLen, oldR.End})
		return oldAddr, nil
	}
	if !mm.mayExpandLocked(uint64(newLen-oldR.Length()), asLimit) {
		return 0, linux.ENOMEM
	}
	if oldR.Length() != 0 && oldR.End == v.End {
		ext := AddrRange{v.End, v.End + (newLen - oldR.Length())}
		if ext.End > ext.Start && ext.End <= mm.layout.MaxAddr && mm.fitsLocked(ext) {
			v.End = ext.End
			if v.locked {
				if err := mm.populateLocked(ext); err != nil {
					mm.unmapLocked(ext)
					return 0, linux.ENOMEM
				}
			}
			mm.vmas.mergeRange(mm.vmas.lowerBound(oldAddr), mm.vmas.lowerBound(oldAddr)+1)
			return oldAddr, nil
		}
	}
	if !mayMove {
		return 0, linux.ENOMEM
	}
	start, ok := mm.findGapLocked(newLen)
	if !ok {
		return 0, linux.ENOMEM
	}
	return mm.moveLocked(oldR, AddrRange{start, start + newLen}), nil
}

// moveLocked moves the mapping of oldR, which lies in one vma, to newR, which is
// free and at least as long, and returns newR.Start. Pages move with their page
// table entries; the extra length, if any, is populated on demand. An empty oldR
// duplicates the (shared) mapping at oldR.Start instead.
func (mm *MemoryManager) moveLocked(oldR, newR AddrRange) uintptr {
	old := mm.vmas.find(oldR.Start)
	nv := *old
	nv.AddrRange = newR
	nv.off = old.offsetOf(oldR.Start)
	nv.incRefs()
	if oldR.Length() != 0 {
		type moved struct {
			addr uintptr
			p    pte
		}
		var pages []moved
		mm.pt.forEach(oldR, func(addr uintptr, p pte) {
			pages = append(pages, moved{addr, p})
		})
		for _, m := range pages {
			mm.pt.clear(m.addr)
		}
		if mm.as != nil && len(pages) != 0 {
			mm.as.Unmap(oldR.Start, uint64(oldR.Length()))
		}
		for _, m := range pages {
			mm.pt.set(newR.Start+(m.addr-oldR.Start), m.p)
		}
		mm.unmapLocked(oldR)
	}
	mm.insertVMALocked(&nv)
	if nv.locked {
		// Memory is what failed, and Linux's mremap leaves a locked mapping
		// partially populated then too; the rest faults in.
		_ = mm.populateLocked(newR)
	}
	_ = mm.mapPagesLocked(newR)
	return newR.Start
}

// BrkSetup sets the start of the heap, and the break, to start rounded up to a page.
// The loader calls it once, after mapping the executable.
func (mm *MemoryManager) BrkSetup(start uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	s, _ := pageUp(start)
	mm.brkStart, mm.brk = s, s
}

// Brk moves the break to addr and returns the new break, as brk(2): the heap grows
// or shrinks by whole pages. A break below the heap's start, or one whose growth
// would run into another mapping, leaves the break where it was, and that is what
// Brk returns, as Linux does; brk(0) reads the break.
func (mm *MemoryManager) Brk(addr uintptr) uintptr {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if addr < mm.brkStart || mm.brkStart < mm.layout.MinAddr || mm.released {
		// Below the heap, or no heap: BrkSetup was never called.
		return mm.brk
	}
	oldEnd, _ := pageUp(mm.brk)
	newEnd, ok := pageUp(addr)
	if !ok || newEnd > mm.layout.MaxAddr {
		return mm.brk
	}
	switch {
	case newEnd < oldEnd:
		mm.unmapLocked(AddrRange{newEnd, oldEnd})
	case newEnd > oldEnd:
		// Linux keeps a page free above the heap (find_vma_intersection up to
		// newbrk + PAGE_SIZE in brk()).
		if mm.vmas.overlaps(AddrRange{oldEnd, newEnd + pageSize}) {
			return mm.brk
		}
		grown := AddrRange{oldEnd, newEnd}
		mm.insertVMALocked(&vma{
			AddrRange: grown,
			perms:     platform.ReadWrite,
			maxPerms:  platform.AnyAccess,
			private:   true,
			locked:    mm.lockFuture,
			name:      "[heap]",
		})
		if mm.lockFuture && !mm.lockFutureOnFault {
			if err := mm.populateLocked(grown); err != nil {
				mm.unmapLocked(grown)
				return mm.brk
			}
		}
	}
	mm.brk = addr
	return addr
}

// Madvise gives advice about [addr, addr+length), as madvise(2). MADV_DONTNEED and
// MADV_FREE drop private pages (they read back as zeros, or the file's contents,
// when next touched); MADV_REMOVE frees shared anonymous pages; MADV_DONTFORK,
// MADV_DOFORK, MADV_WIPEONFORK and MADV_KEEPONFORK change what fork copies; the other
// advice Linux knows is accepted and changes nothing. Unmapped parts of the range
// fail the call with ENOMEM after the mapped parts took the advice.
func (mm *MemoryManager) Madvise(addr uintptr, length uint64, advice int) error {
	switch advice {
	case linux.MADV_NORMAL, linux.MADV_RANDOM, linux.MADV_SEQUENTIAL, linux.MADV_WILLNEED,
		linux.MADV_DONTNEED, linux.MADV_FREE, linux.MADV_REMOVE, linux.MADV_DONTFORK,
		linux.MADV_DOFORK, linux.MADV_MERGEABLE, linux.MADV_HUGEPAGE, linux.MADV_NOHUGEPAGE,
		linux.MADV_DONTDUMP, linux.MADV_DODUMP, linux.MADV_WIPEONFORK, linux.MADV_KEEPONFORK:
	default:
		return linux.EINVAL
	}
	if !pageAligned(addr) {
		return linux.EINVAL
	}
	ar, ok := lengthToRange(addr, length)
	if !ok || (length != 0 && ar.Length() == 0) {
		return linux.EINVAL
	}
	if ar.Length() == 0 {
		return nil
	}

	mm.mu.Lock()
	defer mm.mu.Unlock()
	var err error
	if mm.holeLocked(ar) {
		err = linux.ENOMEM
	}
	i, j := mm.vmas.isolate(ar)
	for _, v := range mm.vmas[i:j] {
		switch advice {
		case linux.MADV_DONTNEED, linux.MADV_FREE:
			if v.locked || (advice == linux.MADV_FREE && (v.mappable != nil || v.shm != nil)) {
				err = linux.EINVAL
				continue
			}
			mm.dropPagesLocked(v.AddrRange)
		case linux.MADV_REMOVE:
			switch {
			case v.locked || (v.shm == nil && v.mappable == nil):
				err = linux.EINVAL
			case v.shm == nil:
				// A file mapping that cannot write to the file.
				err = linux.EACCES
			default:
				mm.dropPagesLocked(v.AddrRange)
				v.shm.remove(v.off, v.offsetOf(v.End))
			}
		case linux.MADV_DONTFORK, linux.MADV_DOFORK:
			v.dontFork = advice == linux.MADV_DONTFORK
		case linux.MADV_WIPEONFORK:
			if v.shm != nil || v.mappable != nil {
				err = linux.EINVAL
				continue
			}
			v.wipeOnFork = true
		case linux.MADV_KEEPONFORK:
			v.wipeOnFork = false
		}
	}
	mm.vmas.mergeRange(i, j)
	return err
}

// holeLocked reports whether any part of ar is unmapped.
//
// Precondition: mm.mu is held for reading.
func (mm *MemoryManager) holeLocked(ar AddrRange) bool {
	cur := ar.Start
	for i := mm.vmas.lowerBound(ar.Start); cur < ar.End; i++ {
		if i == len(mm.vmas) || mm.vmas[i].Start > cur {
			return true
		}
		cur = mm.vmas[i].End
	}
	return false
}

// MSync flushes [addr, addr+length) to the files it maps, as msync(2). flags are
// MS_* bits. Writable shared file mappings do not exist yet (MMap refuses them), so
// there is never anything to write back; the checks are Linux's.
func (mm *MemoryManager) MSync(addr uintptr, length uint64, flags int) error {
	if flags&^(linux.MS_ASYNC|linux.MS_INVALIDATE|linux.MS_SYNC) != 0 {
		return linux.EINVAL
	}
	if !pageAligned(addr) || (flags&linux.MS_ASYNC != 0 && flags&linux.MS_SYNC != 0) {
		return linux.EINVAL
	}
	ar, ok := lengthToRange(addr, length)
	if !ok {
		return linux.ENOMEM
	}
	if ar.Length() == 0 {
		return nil
	}
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	if flags&linux.MS_INVALIDATE != 0 {
		for i := mm.vmas.lowerBound(ar.Start); i < len(mm.vmas) && mm.vmas[i].Start < ar.End; i++ {
			if mm.vmas[i].locked {
				return linux.EBUSY
			}
		}
	}
	if mm.holeLocked(ar) {
		return linux.ENOMEM
	}
	return nil
}

// MIncore reports which pages of [addr, addr+length) are resident, one byte per page
// with bit 0 set for a resident page, as mincore(2).
func (mm *MemoryManager) MIncore(addr uintptr, length uint64) ([]byte, error) {
	if !pageAligned(addr) {
		return nil, linux.EINVAL
	}
	ar, ok := lengthToRange(addr, length)
	if !ok || ar.End > mm.layout.MaxAddr {
		return nil, linux.ENOMEM
	}
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	if mm.holeLocked(ar) {
		return nil, linux.ENOMEM
	}
	vec := make([]byte, ar.Length()/pageSize)
	for i := mm.vmas.lowerBound(ar.Start); i < len(mm.vmas) && mm.vmas[i].Start < ar.End; i++ {
		v := mm.vmas[i]
		r := v.Intersect(ar)
		for a := r.Start; a < r.End; a += pageSize {
			_, present := mm.pt.get(a)
			if present || (v.shm != nil && v.shm.resident(v.offsetOf(a))) {
				vec[(a-ar.Start)/pageSize] = 1
			}
		}
	}
	return vec, nil
}

// MLock locks the mappings in [addr, addr+length), as mlock(2) and mlock2(2):
// their pages are populated now unless onFault (MLOCK_ONFAULT). Locking is
// accounting only; nothing is ever swapped. RLIMIT_MEMLOCK is not enforced.
func (mm *MemoryManager) MLock(addr uintptr, length uint64, onFault bool) error {
	return mm.setLocked(addr, length, true, !onFault)
}

// MUnlock unlocks the mappings in [addr, addr+length), as munlock(2).
func (mm *MemoryManager) MUnlock(addr uintptr, length uint64) error {
	return mm.setLocked(addr, length, false, false)
}

func (mm *MemoryManager) setLocked(addr uintptr, length uint64, locked, populate bool) error {
	// mlock takes any address: the range is widened to whole pages.
	ar, ok := lengthToRange(pageDown(addr), length+uint64(addr%pageSize))
	if !ok || length+uint64(addr%pageSize) < length {
		return linux.EINVAL
	}
	if ar.Length() == 0 {
		return nil
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	i := mm.vmas.lowerBound(ar.Start)
	if i == len(mm.vmas) || mm.vmas[i].Start > ar.Start {
		return linux.ENOMEM
	}
	var err error
	cur := ar.Start
	for k := i; cur < ar.End; k++ {
		if k == len(mm.vmas) || mm.vmas[k].Start > cur {
			err = linux.ENOMEM
			break
		}
		cur = mm.vmas[k].End
	}
	done := AddrRange{ar.Start, min(cur, ar.End)}
	i, j := mm.vmas.isolate(done)
	for _, v := range mm.vmas[i:j] {
		v.locked = locked
	}
	mm.vmas.mergeRange(i, j)
	if err == nil && populate {
		if perr := mm.populateLocked(done); perr != nil {
			return linux.ENOMEM
		}
	}
	return err
}

// MLockAll locks every mapping (MCL_CURRENT) and/or every future one (MCL_FUTURE),
// populating them unless MCL_ONFAULT, as mlockall(2).
func (mm *MemoryManager) MLockAll(flags int) error {
	if flags == 0 || flags&^(linux.MCL_CURRENT|linux.MCL_FUTURE|linux.MCL_ONFAULT) != 0 || flags == linux.MCL_ONFAULT {
		return linux.EINVAL
	}
	onFault := flags&linux.MCL_ONFAULT != 0
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.lockFuture = flags&linux.MCL_FUTURE != 0
	mm.lockFutureOnFault = mm.lockFuture && onFault
	if flags&linux.MCL_CURRENT == 0 {
		return nil
	}
	for _, v := range mm.vmas {
		v.locked = true
	}
	mm.vmas.mergeRange(0, len(mm.vmas))
	if !onFault {
		if err := mm.populateLocked(AddrRange{mm.layout.MinAddr, mm.layout.MaxAddr}); err != nil {
			return linux.ENOMEM
		}
	}
	return nil
}

// MUnlockAll unlocks every mapping and stops locking new ones, as munlockall(2).
func (mm *MemoryManager) MUnlockAll() {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.lockFuture, mm.lockFutureOnFault = false, false
	for _, v := range mm.vmas {
		v.locked = false
	}
	mm.vmas.mergeRange(0, len(mm.vmas))
}

func subsetOf(a, b platform.AccessType) bool {
	return (!a.Read || b.Read) && (!a.Write || b.Write) && (!a.Execute || b.Execute)
}
