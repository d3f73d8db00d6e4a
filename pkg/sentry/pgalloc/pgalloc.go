// Package pgalloc owns the memory file: the one host memfd that backs all application
// memory of a sandbox. It hands out page-aligned ranges of the file, counts references
// per page so that address spaces can share pages copy-on-write after fork, gives
// freed pages back to the host and reuses their offsets, and maps the whole file into
// the Sentry so that the Sentry reads and writes application memory directly.
//
// The platform maps ranges of the same file (File) into application address spaces;
// pgalloc knows nothing of addresses, only of offsets into the file.
package pgalloc

import (
	"fmt"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

// PageSize is the host page size, the granularity of everything in the file.
const PageSize = 4096

// DefaultMaxSize is the size of the Sentry's mapping of the file when Options do not
// name one: the most application memory one sandbox can have allocated at once. The
// mapping reserves only address space (file-backed shared mappings are not charged to
// the host's commit limit), so it can be generous.
const DefaultMaxSize = 256 << 30

// growChunk is how much the file grows by at least when no free range fits, so that
// a stream of one-page allocations does not cost one ftruncate each. Growing the file
// commits nothing: a memfd is sparse until written.
const growChunk = 64 << 20

// FileRange is the range of file offsets [Start, End).
type FileRange struct {
	Start, End uint64
}

// Length returns the number of bytes in fr.
func (fr FileRange) Length() uint64 { return fr.End - fr.Start }

func (fr FileRange) String() string { return fmt.Sprintf("[%#x, %#x)", fr.Start, fr.End) }

// Options configure a MemoryFile.
type Options struct {
	// MaxSize bounds the file, and is the length of the Sentry's mapping of it;
	// Allocate fails with ENOMEM beyond it. Rounded up to pages; 0 means
	// DefaultMaxSize.
	MaxSize uint64
}

// MemoryFile is the memory file. All methods are safe for concurrent use.
//
// Lock order: MemoryFile.mu is a leaf. Callers (pkg/sentry/mm) call in with their
// own locks held; MemoryFile never calls out while holding mu, except to the host.
type MemoryFile struct {
	file *os.File
	// mapping is the Sentry's MAP_SHARED view of the whole file, made once with
	// length maxSize: the file grows under it, so slices of it never move.
	mapping []byte
	maxSize uint64

	mu sync.Mutex
	// size is the file's length; it only grows. Guarded by mu.
	size uint64
	// refs holds the reference count of each page of [0, size). Guarded by mu.
	refs []uint32
	// free holds the ranges of [0, size) with no references, sorted and coalesced;
	// their pages hold no host memory and read as zero. Guarded by mu.
	free []FileRange
	// committed is the number of bytes with at least one reference. Guarded by mu.
	committed uint64
}

// NewMemoryFile creates an empty memory file and maps it into the Sentry.
func NewMemoryFile(opts Options) (*MemoryFile, error) {
	maxSize := pageRoundUp(opts.MaxSize)
	if maxSize == 0 {
		maxSize = DefaultMaxSize
	}
	fd, err := unix.MemfdCreate("visor-memory", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("pgalloc: memfd_create: %w", err)
	}
	file := os.NewFile(uintptr(fd), "visor-memory")
	// MAP_NORESERVE because the mapping is a reservation of address space, not a
	// promise of memory; pages beyond the file's size are never touched.
	mapping, err := unix.Mmap(fd, 0, int(maxSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("pgalloc: mapping %d bytes of the memory file: %w", maxSize, err)
	}
	return &MemoryFile{file: file, mapping: mapping, maxSize: maxSize}, nil
}

// File returns the memory file, for the platform to map ranges of it. The caller must
// not close it or change its size.
func (f *MemoryFile) File() *os.File { return f.file }

// Destroy unmaps and closes the file. No range of it may be in use.
func (f *MemoryFile) Destroy() {
	unix.Munmap(f.mapping)
	f.file.Close()
}

// Allocate returns a new range of length bytes (a positive multiple of PageSize),
// zero-filled, with one reference on each page. It fails with ENOMEM when the file
// cannot hold it.
func (f *MemoryFile) Allocate(length uint64) (FileRange, error) {
	if length == 0 || length%PageSize != 0 {
		return FileRange{}, fmt.Errorf("pgalloc: allocating %d bytes: %w", length, linux.EINVAL)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fr, ok := f.takeFreeLocked(length)
	if !ok {
		var err error
		if fr, err = f.growLocked(length); err != nil {
			return FileRange{}, err
		}
	}
	for i := fr.Start / PageSize; i < fr.End/PageSize; i++ {
		f.refs[i] = 1
	}
	f.committed += length
	return fr, nil
}

// takeFreeLocked removes length bytes from the first free range that holds them.
// First fit keeps allocations at low offsets, which keeps the file compact.
//
// Precondition: f.mu is held.
func (f *MemoryFile) takeFreeLocked(length uint64) (FileRange, bool) {
	for i, r := range f.free {
		if r.Length() < length {
			continue
		}
		fr := FileRange{r.Start, r.Start + length}
		if r.Length() == length {
			f.free = append(f.free[:i], f.free[i+1:]...)
		} else {
			f.free[i].Start += length
		}
		return fr, true
	}
	return FileRange{}, false
}

// growLocked grows the file so that length bytes fit at its end (joined to a free
// range that ends there, if any), and returns that range, removed from the free set.
//
// Precondition: f.mu is held.
func (f *MemoryFile) growLocked(length uint64) (FileRange, error) {
	start := f.size
	if n := len(f.free); n > 0 && f.free[n-1].End == f.size {
		start = f.free[n-1].Start
		f.free = f.free[:n-1]
	}
	end := start + length
	if end > f.maxSize || end < start {
		if start != f.size {
			f.free = append(f.free, FileRange{start, f.size})
		}
		return FileRange{}, fmt.Errorf("pgalloc: allocating %d bytes with %d of %d in use: %w", length, f.committed, f.maxSize, linux.ENOMEM)
	}
	newSize := max(end, min(f.size+growChunk, f.maxSize))
	if err := f.file.Truncate(int64(newSize)); err != nil {
		if start != f.size {
			f.free = append(f.free, FileRange{start, f.size})
		}
		return FileRange{}, fmt.Errorf("pgalloc: growing the memory file to %d bytes: %w", newSize, linux.ENOMEM)
	}
	f.refs = append(f.refs, make([]uint32, (newSize-f.size)/PageSize)...)
	if end != newSize {
		f.free = append(f.free, FileRange{end, newSize})
	}
	f.size = newSize
	return FileRange{start, end}, nil
}

// IncRef takes one more reference on each page of fr, all of which must already be
// referenced: only a holder can share a page.
func (f *MemoryFile) IncRef(fr FileRange) {
	f.checkRange(fr)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := fr.Start / PageSize; i < fr.End/PageSize; i++ {
		if f.refs[i] == 0 {
			panic(fmt.Sprintf("pgalloc: IncRef of free page %#x", i*PageSize))
		}
		f.refs[i]++
	}
}

// DecRef drops one reference on each page of fr. Pages left with none are released
// to the host and become free for Allocate.
func (f *MemoryFile) DecRef(fr FileRange) {
	f.checkRange(fr)
	f.mu.Lock()
	defer f.mu.Unlock()
	runStart := fr.Start
	for off := fr.Start; off < fr.End; off += PageSize {
		i := off / PageSize
		if f.refs[i] == 0 {
			panic(fmt.Sprintf("pgalloc: DecRef of free page %#x", off))
		}
		f.refs[i]--
		if f.refs[i] != 0 {
			f.releaseLocked(FileRange{runStart, off})
			runStart = off + PageSize
		}
	}
	f.releaseLocked(FileRange{runStart, fr.End})
}

// releaseLocked gives the unreferenced pages of fr back to the host, so that they
// cost nothing and read as zero when they are allocated again, and frees them.
//
// Precondition: f.mu is held.
func (f *MemoryFile) releaseLocked(fr FileRange) {
	if fr.Length() == 0 {
		return
	}
	if err := unix.Fallocate(int(f.file.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(fr.Start), int64(fr.Length())); err != nil {
		// memfds support hole punching; should the host refuse, zeroing keeps the
		// promise that Allocate returns zeroed pages, at the cost of the memory.
		clear(f.mapping[fr.Start:fr.End])
	}
	f.committed -= fr.Length()
	f.insertFreeLocked(fr)
}

// insertFreeLocked adds fr to the free set, merging it with its neighbours.
//
// Precondition: f.mu is held.
func (f *MemoryFile) insertFreeLocked(fr FileRange) {
	i := sort.Search(len(f.free), func(i int) bool { return f.free[i].Start >= fr.End })
	// f.free[i-1], if any, is the range before fr; f.free[i] the one after.
	if i > 0 && f.free[i-1].End == fr.Start {
		f.free[i-1].End = fr.End
		if i < len(f.free) && f.free[i].Start == fr.End {
			f.free[i-1].End = f.free[i].End
			f.free = append(f.free[:i], f.free[i+1:]...)
		}
		return
	}
	if i < len(f.free) && f.free[i].Start == fr.End {
		f.free[i].Start = fr.Start
		return
	}
	f.free = append(f.free, FileRange{})
	copy(f.free[i+1:], f.free[i:])
	f.free[i] = fr
}

// RefCount returns the number of references on the page at offset off. A caller that
// holds the only reference knows nobody else can take one, so it may write the page
// in place rather than copy it.
func (f *MemoryFile) RefCount(off uint64) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off >= f.size {
		return 0
	}
	return f.refs[off/PageSize]
}

// Slice returns the Sentry's view of fr: reads and writes of it are reads and writes
// of the pages application address spaces map.
//
// Precondition: the caller holds a reference on every page of fr for as long as it
// uses the slice; a freed page may be handed to another address space.
func (f *MemoryFile) Slice(fr FileRange) []byte {
	f.checkRange(fr)
	return f.mapping[fr.Start:fr.End:fr.End]
}

// Committed returns the number of bytes allocated and not yet freed: what application
// memory costs the host at most.
func (f *MemoryFile) Committed() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.committed
}

// Size returns the length of the file, committed or not.
func (f *MemoryFile) Size() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size
}

// checkRange panics if fr is not a page-aligned range within the mapping: callers
// only pass ranges Allocate returned, so anything else is a bug in the Sentry.
func (f *MemoryFile) checkRange(fr FileRange) {
	if fr.Start%PageSize != 0 || fr.End%PageSize != 0 || fr.Start > fr.End || fr.End > f.maxSize {
		panic(fmt.Sprintf("pgalloc: invalid range %v", fr))
	}
}

func pageRoundUp(n uint64) uint64 { return (n + PageSize - 1) &^ (PageSize - 1) }
