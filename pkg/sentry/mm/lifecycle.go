package mm

import (
	"fmt"

	"visor.dev/visor/pkg/sentry/platform"
)

// AddressSpace returns the platform address space of mm, creating it on first use
// and mapping every page already present into it.
func (mm *MemoryManager) AddressSpace() (platform.AddressSpace, error) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.as != nil {
		return mm.as, nil
	}
	if mm.released {
		return nil, fmt.Errorf("mm: address space requested after Release")
	}
	as, err := mm.p.NewAddressSpace()
	if err != nil {
		return nil, fmt.Errorf("mm: creating the platform address space: %w", err)
	}
	mm.as = as
	// A page that fails to map here simply faults in later.
	_ = mm.mapPagesLocked(AddrRange{mm.layout.MinAddr, mm.layout.MaxAddr})
	return as, nil
}

// Fork returns a copy of mm for a child process, as fork(2) makes: shared mappings
// share their pages; private pages are shared copy-on-write, read-only in both
// address spaces until one side writes. Mappings marked MADV_DONTFORK are left out,
// MADV_WIPEONFORK ones start empty in the child, and mlock does not carry over.
func (mm *MemoryManager) Fork() (*MemoryManager, error) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.released {
		return nil, fmt.Errorf("mm: Fork after Release")
	}
	child := &MemoryManager{
		p:          mm.p,
		mf:         mm.mf,
		layout:     mm.layout,
		brkStart:   mm.brkStart,
		brk:        mm.brk,
		executable: mm.executable,
		argv:       mm.argv,
		envv:       mm.envv,
		auxv:       append([]AuxEntry(nil), mm.auxv...),
	}
	child.users.Store(1)
	var offs []uint64
	for _, v := range mm.vmas {
		if v.dontFork {
			continue
		}
		c := *v
		c.locked = false
		c.incRefs()
		child.vmas = append(child.vmas, &c)
		if v.wipeOnFork {
			continue
		}
		cowed := false
		mm.pt.forEach(v.AddrRange, func(addr uintptr, p pte) {
			if v.ownsPages() && !p.cow() {
				p |= pteCOW
				mm.pt.set(addr, p)
				cowed = true
			}
			child.pt.set(addr, p)
			offs = append(offs, p.offset())
		})
		if cowed && v.perms.Write {
			// The parent's pages are now read-only; a failure leaves them
			// unmapped, which is as safe.
			_ = mm.mapPagesLocked(v.AddrRange)
		}
	}
	for _, fr := range fileRanges(offs) {
		mm.mf.IncRef(fr)
	}
	return child, nil
}

// Release unmaps everything, drops every page reference and frees the platform
// address space. mm must not be used afterwards; a second Release does nothing.
func (mm *MemoryManager) Release() {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.released {
		return
	}
	mm.released = true
	if mm.as != nil {
		// Releasing the address space unmaps everything in one go.
		mm.as.Release()
		mm.as = nil
	}
	mm.unmapLocked(AddrRange{mm.layout.MinAddr, mm.layout.MaxAddr})
}
