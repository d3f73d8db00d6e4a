package mm

import (
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/sentry/pgalloc"
)

// shmemInodes numbers shared anonymous objects, as Linux's shmem inodes, for
// /proc/self/maps.
var shmemInodes atomic.Uint64

// shmem is the memory of a shared anonymous mapping (MAP_SHARED|MAP_ANONYMOUS), as
// Linux backs it with a file on an internal tmpfs: its pages belong to the object,
// not to an address space, so that a page first touched in a child after fork is
// still the parent's page. Every vma that maps it holds a reference; each page holds
// one memory-file reference for the object, and each page table entry its own.
//
// Lock order: MemoryManager.mu, then shmem.mu, then pgalloc.MemoryFile.mu.
type shmem struct {
	mf    *pgalloc.MemoryFile
	ino   uint64
	users atomic.Int64

	mu sync.Mutex
	// pages maps a page's offset in the object to its memory-file offset.
	// Guarded by mu.
	pages map[uint64]uint64
}

func newShmem(mf *pgalloc.MemoryFile) *shmem {
	s := &shmem{mf: mf, ino: shmemInodes.Add(1), pages: make(map[uint64]uint64)}
	s.users.Store(1)
	return s
}

func (s *shmem) incRef() { s.users.Add(1) }

// decRef drops a vma's reference; the last one frees the pages.
func (s *shmem) decRef() {
	if s.users.Add(-1) != 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	offs := make([]uint64, 0, len(s.pages))
	for _, off := range s.pages {
		offs = append(offs, off)
	}
	clear(s.pages)
	for _, fr := range fileRanges(offs) {
		s.mf.DecRef(fr)
	}
}

// page returns the memory-file offset of the page at off in the object, allocating a
// zeroed one if there is none, with a reference taken for the caller.
func (s *shmem) page(off uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fileOff, ok := s.pages[off]
	if !ok {
		fr, err := s.mf.Allocate(pgalloc.PageSize)
		if err != nil {
			return 0, err
		}
		fileOff = fr.Start
		s.pages[off] = fileOff
	}
	s.mf.IncRef(pgalloc.FileRange{Start: fileOff, End: fileOff + pgalloc.PageSize})
	return fileOff, nil
}

// resident reports whether the object has a page at off.
func (s *shmem) resident(off uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pages[off]
	return ok
}

// remove drops the object's pages in [start, end) (MADV_REMOVE): they read as zero
// when next touched. Address spaces that map them keep their references until they
// drop their own entries.
func (s *shmem) remove(start, end uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var offs []uint64
	for off, fileOff := range s.pages {
		if off >= start && off < end {
			offs = append(offs, fileOff)
			delete(s.pages, off)
		}
	}
	for _, fr := range fileRanges(offs) {
		s.mf.DecRef(fr)
	}
}
