package mm

import (
	"slices"

	"visor.dev/visor/pkg/sentry/pgalloc"
)

// pte is a page table entry: the memory-file offset of the page that backs one
// application page, and flags in the low bits (offsets are page-aligned).
type pte uint64

const (
	ptePresent pte = 1 << 0
	// pteCOW marks a page that may be shared with another address space (after
	// fork): it is mapped read-only, and the first write copies it unless this
	// address space turns out to hold the only reference.
	pteCOW pte = 1 << 1

	pteFlags = pgalloc.PageSize - 1
)

func newPTE(off uint64) pte { return pte(off) | ptePresent }

func (p pte) offset() uint64 { return uint64(p &^ pteFlags) }
func (p pte) cow() bool      { return p&pteCOW != 0 }
func (p pte) fileRange() pgalloc.FileRange {
	return pgalloc.FileRange{Start: p.offset(), End: p.offset() + pgalloc.PageSize}
}

// A page table chunk covers chunkSize bytes of address space: 512 pages, 2 MiB, like
// a last-level hardware page table, so that it is 4 KiB itself.
const (
	chunkShift    = 21
	chunkSize     = 1 << chunkShift
	ptesPerChunk  = chunkSize / pgalloc.PageSize
	pageShift     = 12
	chunkPageMask = ptesPerChunk - 1
)

type ptChunk struct {
	ptes [ptesPerChunk]pte
	// n is the number of present entries; an empty chunk is dropped.
	n int
}

// pageTable maps application pages to memory-file pages. It is a two-level table: a
// map of 2 MiB chunks, each an array of entries. Lookups are O(1); an operation over
// a range costs O(chunks in the range) or O(chunks present), whichever is smaller, so
// munmap of a huge sparse range stays cheap. It is independent of VMA boundaries, so
// splitting and merging VMAs never touches it.
//
// pageTable is not synchronized; MemoryManager.mu guards it.
type pageTable struct {
	chunks map[uintptr]*ptChunk
	// n is the number of present entries: the resident set in pages.
	n int
}

func (t *pageTable) get(addr uintptr) (pte, bool) {
	c := t.chunks[addr>>chunkShift]
	if c == nil {
		return 0, false
	}
	p := c.ptes[(addr>>pageShift)&chunkPageMask]
	return p, p&ptePresent != 0
}

// set makes addr's entry p, which must have ptePresent set.
func (t *pageTable) set(addr uintptr, p pte) {
	if t.chunks == nil {
		t.chunks = make(map[uintptr]*ptChunk)
	}
	c := t.chunks[addr>>chunkShift]
	if c == nil {
		c = new(ptChunk)
		t.chunks[addr>>chunkShift] = c
	}
	e := &c.ptes[(addr>>pageShift)&chunkPageMask]
	if *e&ptePresent == 0 {
		c.n++
		t.n++
	}
	*e = p
}

// clear removes addr's entry and returns what it was.
func (t *pageTable) clear(addr uintptr) (pte, bool) {
	c := t.chunks[addr>>chunkShift]
	if c == nil {
		return 0, false
	}
	e := &c.ptes[(addr>>pageShift)&chunkPageMask]
	p := *e
	if p&ptePresent == 0 {
		return 0, false
	}
	*e = 0
	t.n--
	if c.n--; c.n == 0 {
		delete(t.chunks, addr>>chunkShift)
	}
	return p, true
}

// forEach calls fn for each present entry in ar, in address order. fn may change or
// clear the entry it is given, but no other.
func (t *pageTable) forEach(ar AddrRange, fn func(addr uintptr, p pte)) {
	if ar.Length() == 0 || len(t.chunks) == 0 {
		return
	}
	first, last := ar.Start>>chunkShift, (ar.End-1)>>chunkShift
	var keys []uintptr
	if last-first+1 <= uintptr(len(t.chunks)) {
		for k := first; k <= last; k++ {
			keys = append(keys, k)
		}
	} else {
		for k := range t.chunks {
			if k >= first && k <= last {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
	}
	for _, k := range keys {
		c := t.chunks[k]
		if c == nil {
			continue
		}
		base := k << chunkShift
		lo, hi := 0, ptesPerChunk
		if k == first {
			lo = int((ar.Start - base) >> pageShift)
		}
		if k == last {
			hi = int((ar.End - base + pgalloc.PageSize - 1) >> pageShift)
		}
		for i := lo; i < hi; i++ {
			if p := c.ptes[i]; p&ptePresent != 0 {
				fn(base+uintptr(i)<<pageShift, p)
			}
		}
	}
}

// fileRanges sorts offs (page offsets in the memory file) and returns them as
// coalesced ranges, so that reference counting touches the memory file once per run
// rather than once per page.
func fileRanges(offs []uint64) []pgalloc.FileRange {
	slices.Sort(offs)
	var frs []pgalloc.FileRange
	for _, off := range offs {
		if n := len(frs); n > 0 && frs[n-1].End == off {
			frs[n-1].End += pgalloc.PageSize
			continue
		}
		frs = append(frs, pgalloc.FileRange{Start: off, End: off + pgalloc.PageSize})
	}
	return frs
}
