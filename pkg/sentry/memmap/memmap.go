// Package memmap defines what connects an application's memory mappings to what
// backs them: the options of a new mapping, and the Mappable interface a file offers
// to be mapped. pkg/sentry/mm implements mappings; files (pkg/sentry/vfs, fsimpl) and
// the ELF loader use these types without depending on mm.
package memmap

import (
	"io"

	"visor.dev/visor/pkg/sentry/platform"
)

// Mappable is a file's contents as a mapping sees them.
//
// Private mappings copy the contents into anonymous memory when a page is first
// touched, through ReadAt; bytes past the end of the file read as zero.
type Mappable interface {
	io.ReaderAt
}

// MMapOpts are the options of a new mapping, as mmap(2) and the loader ask for it.
type MMapOpts struct {
	// Length is the length of the mapping in bytes; it is rounded up to pages.
	Length uint64
	// Addr is where the mapping should start: a hint, or the address itself when
	// Fixed is set. It is page-aligned.
	Addr uintptr
	// Fixed maps at exactly Addr (MAP_FIXED). With Unmap, mappings already there
	// are replaced; without it (MAP_FIXED_NOREPLACE), an overlap fails with EEXIST.
	Fixed bool
	Unmap bool
	// Perms is the access the mapping allows; MaxPerms the most mprotect may grant
	// later (a file opened read-only can never be mapped writable and shared).
	Perms    platform.AccessType
	MaxPerms platform.AccessType
	// Private is MAP_PRIVATE: writes are not seen by the file or by other mappings.
	Private bool
	// Mappable backs the mapping; nil means anonymous memory (zero-filled).
	Mappable Mappable
	// Offset is the offset into Mappable of the first byte; page-aligned.
	Offset uint64
	// GrowsDown is MAP_GROWSDOWN (stacks).
	GrowsDown bool
	// Precommit populates the whole mapping now rather than on first touch.
	Precommit bool
	// Name labels the mapping in /proc/[pid]/maps: a path, "[stack]", "[heap]".
	Name string
}
