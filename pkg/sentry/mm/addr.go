package mm

import (
	"fmt"

	"visor.dev/visor/pkg/sentry/pgalloc"
)

// pageSize is the page size of application address spaces: the host's, since the
// platform maps memory-file pages directly.
const pageSize = pgalloc.PageSize

// AddrRange is the range of application addresses [Start, End).
type AddrRange struct {
	Start, End uintptr
}

// Length returns the number of bytes in ar.
func (ar AddrRange) Length() uintptr { return ar.End - ar.Start }

// Contains reports whether addr is in ar.
func (ar AddrRange) Contains(addr uintptr) bool { return ar.Start <= addr && addr < ar.End }

// Intersect returns the addresses in both ar and o; an empty range if none.
func (ar AddrRange) Intersect(o AddrRange) AddrRange {
	r := AddrRange{max(ar.Start, o.Start), min(ar.End, o.End)}
	if r.End < r.Start {
		r.End = r.Start
	}
	return r
}

func (ar AddrRange) String() string { return fmt.Sprintf("[%#x, %#x)", ar.Start, ar.End) }

func pageAligned(addr uintptr) bool { return addr%pageSize == 0 }
func pageDown(addr uintptr) uintptr { return addr &^ (pageSize - 1) }

// pageUp rounds addr up to a page; ok is false if that overflows.
func pageUp(addr uintptr) (uintptr, bool) {
	r := (addr + pageSize - 1) &^ (pageSize - 1)
	return r, r >= addr
}

// lengthToRange returns [addr, addr+length rounded up to pages), or false if the
// rounding or the sum overflows.
func lengthToRange(addr uintptr, length uint64) (AddrRange, bool) {
	if length > uint64(^uintptr(0)) {
		return AddrRange{}, false
	}
	l, ok := pageUp(uintptr(length))
	if !ok {
		return AddrRange{}, false
	}
	end := addr + l
	return AddrRange{addr, end}, end >= addr
}
