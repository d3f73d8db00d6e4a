package kernel

import (
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/sentry/vfs"
)

// FSContext is a task's root directory, working directory and umask, shared by
// the tasks cloned with CLONE_FS.
type FSContext struct {
	refs atomic.Int64

	// mu guards the fields below. Lock order: after Task.mu.
	mu    sync.Mutex
	root  vfs.VirtualDentry
	cwd   vfs.VirtualDentry
	umask uint32
}

// NewFSContext returns a context rooted at root with working directory cwd, taking
// references to both.
func NewFSContext(root, cwd vfs.VirtualDentry, umask uint32) *FSContext {
	root.IncRef()
	cwd.IncRef()
	fs := &FSContext{root: root, cwd: cwd, umask: umask}
	fs.refs.Store(1)
	return fs
}

// IncRef adds a reference (CLONE_FS).
func (fs *FSContext) IncRef() { fs.refs.Add(1) }

// DecRef drops a reference; the last one releases the directories.
func (fs *FSContext) DecRef() {
	if fs.refs.Add(-1) != 0 {
		return
	}
	fs.mu.Lock()
	root, cwd := fs.root, fs.cwd
	fs.mu.Unlock()
	root.DecRef()
	cwd.DecRef()
}

// Fork returns a copy for a new task that does not share it.
func (fs *FSContext) Fork() *FSContext {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return NewFSContext(fs.root, fs.cwd, fs.umask)
}

// RootDirectory returns the root with a reference the caller must drop.
func (fs *FSContext) RootDirectory() vfs.VirtualDentry {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.root.IncRef()
	return fs.root
}

// WorkingDirectory returns the working directory with a reference the caller must drop.
func (fs *FSContext) WorkingDirectory() vfs.VirtualDentry {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.cwd.IncRef()
	return fs.cwd
}

// SetWorkingDirectory changes the working directory (chdir), taking a reference.
func (fs *FSContext) SetWorkingDirectory(d vfs.VirtualDentry) {
	d.IncRef()
	fs.mu.Lock()
	old := fs.cwd
	fs.cwd = d
	fs.mu.Unlock()
	old.DecRef()
}

// SetRootDirectory changes the root (chroot), taking a reference.
func (fs *FSContext) SetRootDirectory(d vfs.VirtualDentry) {
	d.IncRef()
	fs.mu.Lock()
	old := fs.root
	fs.root = d
	fs.mu.Unlock()
	old.DecRef()
}

// Umask returns the file mode creation mask.
func (fs *FSContext) Umask() uint32 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.umask
}

// SwapUmask sets the mask and returns the old one (umask(2)).
func (fs *FSContext) SwapUmask(mask uint32) uint32 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	old := fs.umask
	fs.umask = mask & 0o777
	return old
}
