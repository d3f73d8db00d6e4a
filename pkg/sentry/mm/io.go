package mm

import (
	"bytes"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/platform"
)

// The Sentry's accesses to application memory, as Linux's copy_to_user and
// copy_from_user: they go through the Sentry's own mapping of the memory file, allow
// only what the mappings allow the application (reads need any access, writes need
// PROT_WRITE), fault absent pages in and break copy-on-write for writes. A copy that
// reaches memory it may not touch stops there and returns how much it did, with
// EFAULT.

// writeAccess is the access a write is: it needs PROT_WRITE and nothing else.
var writeAccess = platform.AccessType{Write: true}

// CopyIn reads len(dst) bytes at addr into dst.
func (mm *MemoryManager) CopyIn(addr uintptr, dst []byte) (int, error) {
	done := 0
	return mm.forEachBlock(addr, len(dst), platform.Read, func(b []byte) bool {
		done += copy(dst[done:], b)
		return true
	})
}

// CopyOut writes src at addr.
func (mm *MemoryManager) CopyOut(addr uintptr, src []byte) (int, error) {
	done := 0
	return mm.forEachBlock(addr, len(src), writeAccess, func(b []byte) bool {
		done += copy(b, src[done:])
		return true
	})
}

// ZeroOut writes n zero bytes at addr.
func (mm *MemoryManager) ZeroOut(addr uintptr, n int) (int, error) {
	return mm.forEachBlock(addr, n, writeAccess, func(b []byte) bool {
		clear(b)
		return true
	})
}

// CopyInString reads the NUL-terminated string at addr, of at most maxLen bytes
// before the NUL. It fails with ENAMETOOLONG if there is no NUL within maxLen bytes,
// and with EFAULT, returning what it read, if it reaches memory it cannot read.
func (mm *MemoryManager) CopyInString(addr uintptr, maxLen int) (string, error) {
	maxLen = max(maxLen, 0)
	var buf []byte
	found := false
	_, err := mm.forEachBlock(addr, maxLen+1, platform.Read, func(b []byte) bool {
		if i := bytes.IndexByte(b, 0); i >= 0 {
			buf = append(buf, b[:i]...)
			found = true
			return false
		}
		buf = append(buf, b...)
		return true
	})
	switch {
	case found:
		return string(buf), nil
	case err != nil:
		return string(buf), err
	default:
		return string(buf[:maxLen]), linux.ENAMETOOLONG
	}
}

// forEachBlock calls fn with the Sentry's view of each page-bounded piece of
// [addr, addr+n), in order, until fn returns false, for an access at. It returns
// how many bytes it passed to fn, and EFAULT if it stopped short at memory the
// access may not touch.
//
// Pages already present are accessed under mm.mu for reading, so concurrent copies
// by threads of one process do not serialize; a page that must be faulted in takes
// mm.mu for writing for the fault alone.
func (mm *MemoryManager) forEachBlock(addr uintptr, n int, at platform.AccessType, fn func(b []byte) bool) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	end := addr + uintptr(n)
	wantEnd, ok := pageUp(end)
	if end < addr || !ok {
		// Linux's access_ok refuses a range that wraps before copying anything.
		return 0, linux.EFAULT
	}
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	var v *vma
	for cur := addr; cur < end; {
		if v == nil || !v.Contains(cur) {
			v = mm.vmas.find(cur)
		}
		p, present := mm.pt.get(pageDown(cur))
		if v == nil || !v.canAccess(at) || !present || (at.Write && p.cow()) {
			mm.mu.RUnlock()
			mm.mu.Lock()
			err := mm.faultLocked(cur, at, AddrRange{pageDown(cur), wantEnd})
			mm.mu.Unlock()
			mm.mu.RLock()
			if err != nil {
				return int(cur - addr), linux.EFAULT
			}
			// The mappings may have changed while mu was dropped: look again.
			v = nil
			continue
		}
		pageOff := cur % pageSize
		chunk := min(pageSize-pageOff, end-cur)
		if !fn(mm.mf.Slice(p.fileRange())[pageOff : pageOff+chunk]) {
			return int(cur - addr + chunk), nil
		}
		cur += chunk
	}
	return int(end - addr), nil
}
