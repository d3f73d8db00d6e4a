// Package fsgofer is the Gofer's file system: it serves one host directory (a
// container's rootfs or a bind mount's source) or one host regular file (a bind mount
// of a single file, such as the /etc/hosts Docker mounts) over lisafs, and is the
// only code in Visor that opens host files on the Sentry's behalf.
//
// Security is the point of it. The Sentry names files only by FD IDs and single path
// components, and this package resolves every component itself, relative to a
// directory it already holds, with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS) and O_PATH|O_NOFOLLOW: a symlink is returned to the client
// as a symlink (the Sentry resolves it within the sandbox's own mount tree), "." and
// ".." and names with '/' or NUL are refused, and no path string is ever resolved
// from the root. Each file the client holds is an O_PATH descriptor of its inode;
// files are opened for I/O by re-opening that inode through /proc/self/fd, never by
// name. Read-only mode refuses every mutation with EROFS and only ever opens files
// read-only. Device files are never opened (see node.Open).
package fsgofer

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
)

// Options configure a Gofer.
type Options struct {
	// ReadOnly refuses every change to the served tree with EROFS and opens files
	// for reading only.
	ReadOnly bool
}

// Gofer serves one host directory or regular file. It is safe to serve several connections at once.
type Gofer struct {
	opts Options
	// root is an O_PATH descriptor of the served directory or file.
	root int
	// procSelfFD is an O_PATH descriptor of /proc/self/fd, through which files are
	// re-opened by inode; holding it lets the Gofer run chrooted away from /proc.
	procSelfFD int
	server     *lisafs.Server

	// mu is held for reading by each Serve and for writing by Close, so root and
	// procSelfFD outlive every connection: a closed and reused descriptor number
	// under procSelfFD would re-open files from some other directory. Lock order:
	// Gofer.mu (held across Serve), then lisafs's connection locks and dirFD.mu.
	mu     sync.RWMutex
	closed bool // guarded by mu
}

// New opens root (an absolute host path, trusted: symlinks in it are followed, as
// mount(2) follows them in a bind mount's source) and /proc/self/fd for serving.
// root is a directory, or a regular file for a bind mount of a single file: then the
// served tree is that one file, and walking from it fails with ENOTDIR. Call New
// before the Gofer chroots or pivots away from the host's /proc. It sets the
// process umask to 0: the Sentry applies the application's umask itself, and the
// mode a create asks for is the mode it gets.
func New(root string, opts Options) (*Gofer, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fsgofer: opening root %q: %w", root, err)
	}
	// The type is checked on the inode just opened: whatever the path meanwhile
	// names, a device, FIFO or socket is never served.
	var st unix.Stat_t
	if err := unix.Fstat(rootFD, &st); err != nil {
		unix.Close(rootFD)
		return nil, fmt.Errorf("fsgofer: root %q: %w", root, err)
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFDIR && t != unix.S_IFREG {
		unix.Close(rootFD)
		return nil, fmt.Errorf("fsgofer: root %q (file type %#o) is neither a directory nor a regular file: %w", root, t, linux.EINVAL)
	}
	procFD, err := openProcSelfFD()
	if err != nil {
		unix.Close(rootFD)
		return nil, err
	}
	unix.Umask(0)
	g := &Gofer{opts: opts, root: rootFD, procSelfFD: procFD}
	g.server = lisafs.NewServer(g)
	return g, nil
}

func openProcSelfFD() (int, error) {
	fd, err := unix.Open("/proc/self/fd", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("fsgofer: opening /proc/self/fd: %w", err)
	}
	// Re-opening by inode trusts this directory completely: make sure it is procfs.
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return -1, fmt.Errorf("fsgofer: /proc/self/fd is not procfs (type %#x, err %v)", fs.Type, err)
	}
	return fd, nil
}

// Serve serves one lisafs connection on the socket fd, which it owns; it returns
// when the client hangs up (nil) or breaks the protocol (the error). Every file the
// connection opened is closed by then.
func (g *Gofer) Serve(fd int) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		unix.Close(fd)
		return errClosed
	}
	return g.server.ServeConn(fd)
}

var errClosed = errors.New("fsgofer: gofer closed")

// Close releases the Gofer's own descriptors once every connection has ended.
func (g *Gofer) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		unix.Close(g.root)
		unix.Close(g.procSelfFD)
	}
	return nil
}

// Serve serves root over the connection on the socket fd until it ends: the whole
// of a Gofer with one connection.
func Serve(fd int, root string, opts Options) error {
	g, err := New(root, opts)
	if err != nil {
		unix.Close(fd)
		return err
	}
	defer g.Close()
	return g.Serve(fd)
}
