package kernel

import (
	"slices"
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// FDFlags are the per-descriptor flags (not the file description's).
type FDFlags struct {
	CloseOnExec bool
}

type fdEntry struct {
	file  *vfs.FileDescription
	flags FDFlags
}

// FDTable maps file descriptor numbers to file descriptions. It is shared by the
// tasks cloned with CLONE_FILES.
type FDTable struct {
	refs atomic.Int64

	// mu guards files and next. Lock order: after Task.mu; file descriptions
	// are released outside it.
	mu    sync.Mutex
	files map[int32]fdEntry
	// next is the lowest number that may be free.
	next int32
}

// NewFDTable returns an empty table with one reference.
func NewFDTable() *FDTable {
	t := &FDTable{files: make(map[int32]fdEntry)}
	t.refs.Store(1)
	return t
}

// IncRef adds a reference (CLONE_FILES).
func (f *FDTable) IncRef() { f.refs.Add(1) }

// DecRef drops a reference; the last one closes every descriptor.
func (f *FDTable) DecRef() {
	if f.refs.Add(-1) != 0 {
		return
	}
	f.mu.Lock()
	files := f.files
	f.files = nil
	f.mu.Unlock()
	for _, e := range files {
		e.file.DecRef()
	}
}

// Fork returns a copy of the table for a new process (fork without CLONE_FILES).
func (f *FDTable) Fork() *FDTable {
	n := NewFDTable()
	f.mu.Lock()
	defer f.mu.Unlock()
	for fd, e := range f.files {
		e.file.IncRef()
		n.files[fd] = e
	}
	n.next = f.next
	return n
}

// Get returns the file at fd with a reference the caller must drop, or nil.
func (f *FDTable) Get(fd int32) (*vfs.FileDescription, FDFlags) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.files[fd]
	if !ok {
		return nil, FDFlags{}
	}
	e.file.IncRef()
	return e.file, e.flags
}

// NewFD installs file at the lowest free number ≥ min, below limit (RLIMIT_NOFILE),
// taking a new reference to it.
func (f *FDTable) NewFD(min int32, file *vfs.FileDescription, flags FDFlags, limit uint64) (int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd := min
	if fd < f.next {
		fd = f.next
	}
	for ; ; fd++ {
		if uint64(fd) >= limit || fd < 0 {
			if min >= 0 && uint64(min) >= limit {
				return -1, linux.EINVAL
			}
			return -1, linux.EMFILE
		}
		if _, used := f.files[fd]; !used {
			break
		}
	}
	file.IncRef()
	f.files[fd] = fdEntry{file: file, flags: flags}
	if min <= f.next {
		f.next = fd + 1
	}
	return fd, nil
}

// SetFD installs file at fd (dup2), returning the file that was there (with its
// reference, for the caller to drop outside the lock) or nil.
func (f *FDTable) SetFD(fd int32, file *vfs.FileDescription, flags FDFlags, limit uint64) (*vfs.FileDescription, error) {
	if fd < 0 || uint64(fd) >= limit {
		return nil, linux.EBADF
	}
	file.IncRef()
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.files[fd]
	f.files[fd] = fdEntry{file: file, flags: flags}
	return old.file, nil
}

// Remove takes fd out of the table and returns its file, with the table's
// reference, or nil if fd was not open.
func (f *FDTable) Remove(fd int32) *vfs.FileDescription {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.files[fd]
	if !ok {
		return nil
	}
	delete(f.files, fd)
	if fd < f.next {
		f.next = fd
	}
	return e.file
}

// SetFlags sets fd's flags (F_SETFD).
func (f *FDTable) SetFlags(fd int32, flags FDFlags) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.files[fd]
	if !ok {
		return linux.EBADF
	}
	e.flags = flags
	f.files[fd] = e
	return nil
}

// RemoveCloseOnExec closes every descriptor marked close-on-exec (execve).
func (f *FDTable) RemoveCloseOnExec() {
	var closing []*vfs.FileDescription
	f.mu.Lock()
	for fd, e := range f.files {
		if e.flags.CloseOnExec {
			delete(f.files, fd)
			closing = append(closing, e.file)
			if fd < f.next {
				f.next = fd
			}
		}
	}
	f.mu.Unlock()
	for _, file := range closing {
		file.DecRef()
	}
}

// RemoveRange closes the descriptors in [first, last] (close_range) and returns
// their files for the caller to release; with cloexec it marks them instead.
func (f *FDTable) RemoveRange(first, last int32, cloexec bool) []*vfs.FileDescription {
	var closing []*vfs.FileDescription
	f.mu.Lock()
	defer f.mu.Unlock()
	for fd, e := range f.files {
		if fd < first || fd > last {
			continue
		}
		if cloexec {
			e.flags.CloseOnExec = true
			f.files[fd] = e
			continue
		}
		delete(f.files, fd)
		closing = append(closing, e.file)
		if fd < f.next {
			f.next = fd
		}
	}
	return closing
}

// FDs returns the open descriptor numbers in order, for /proc/[pid]/fd.
func (f *FDTable) FDs() []int32 {
	f.mu.Lock()
	fds := make([]int32, 0, len(f.files))
	for fd := range f.files {
		fds = append(fds, fd)
	}
	f.mu.Unlock()
	slices.Sort(fds)
	return fds
}
