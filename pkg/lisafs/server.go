package lisafs

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

// Backend is the file system a Server serves.
type Backend interface {
	// Mount returns the root of the served tree: a new control FD each call. The
	// root is a directory, or a single regular file (a bind mount of one file).
	Mount() (ControlFD, linux.Statx, error)
}

// ControlFD is the server side of a control FD: one file of the served tree.
//
// Every name a method gets has passed CheckName. Methods run concurrently: a
// connection's channels share its FDs. A ControlFD or OpenFD argument (Link's
// target, RenameAt's newDir) comes from the same Backend. Errors should be errnos
// (linux.Errno or unix.Errno); any other error reaches the client as EIO.
type ControlFD interface {
	// Stat returns the file's attributes.
	Stat() (linux.Statx, error)
	// Walk returns the child name of this directory, never following a symlink.
	Walk(name string) (ControlFD, linux.Statx, error)
	// Open opens the file for I/O with open(2) flags. donate is a host FD for the
	// client, or -1; the Server sends and closes it.
	Open(flags uint32) (fd OpenFD, donate int, err error)
	// OpenCreate creates and opens the regular file name in this directory.
	OpenCreate(name string, mode, uid, gid, flags uint32) (child ControlFD, stat linux.Statx, fd OpenFD, donate int, err error)
	Mkdir(name string, mode, uid, gid uint32) (ControlFD, linux.Statx, error)
	// Mknod makes a file whose type mode carries.
	Mknod(name string, mode, uid, gid uint32) (ControlFD, linux.Statx, error)
	Symlink(name, target string, uid, gid uint32) (ControlFD, linux.Statx, error)
	// Link makes name in this directory a hard link to target.
	Link(name string, target ControlFD) (ControlFD, linux.Statx, error)
	// UnlinkAt removes name from this directory; flags may hold AT_REMOVEDIR.
	UnlinkAt(name string, flags uint32) error
	// RenameAt renames oldName in this directory to newName in newDir; flags are
	// renameat2(2)'s.
	RenameAt(oldName string, newDir ControlFD, newName string, flags uint32) error
	Readlink() (string, error)
	SetStat(req SetStatRequest) error
	StatFS() (StatFS, error)
	GetXattr(name string) ([]byte, error)
	SetXattr(name string, value []byte, flags uint32) error
	ListXattr() ([]string, error)
	RemoveXattr(name string) error
	// Close releases the file; the Server calls it once, when no request uses it.
	Close()
}

// OpenFD is the server side of an open FD.
type OpenFD interface {
	// Getdents64 returns the entries of an open directory from the position
	// offset (0 is the start; otherwise a Dirent.Off returned earlier), in at most
	// about count bytes of entries; none means the end.
	Getdents64(offset int64, count uint32) ([]Dirent, error)
	FSync() error
	// Close releases the file; the Server calls it once, when no request uses it.
	Close()
}

// Server serves a Backend over lisafs connections.
type Server struct {
	backend Backend
}

// NewServer returns a Server of b.
func NewServer(b Backend) *Server {
	return &Server{backend: b}
}

// ServeConn serves one connection that starts on the socket fd, which it owns and
// closes. It returns when every channel of the connection is closed, having released
// every FD the client held: nil if the client hung up, or the protocol error that
// made the server hang up.
func (s *Server) ServeConn(fd int) error {
	c := &connection{
		server:   s,
		fds:      make(map[FDID]*fdEntry),
		channels: make(map[int]struct{}),
	}
	c.mu.Lock()
	c.startChannelLocked(fd)
	c.mu.Unlock()
	c.wg.Wait()
	c.releaseAll()
	return c.err
}

// connection is the server side of one lisafs connection.
type connection struct {
	server *Server

	// wg counts the channel goroutines.
	wg sync.WaitGroup

	// mu guards everything below. Lock order: mu is a leaf; no Backend method is
	// called with it held.
	mu       sync.Mutex
	fds      map[FDID]*fdEntry
	lastFD   FDID
	channels map[int]struct{} // sockets of live channels
	err      error            // the first protocol error: the connection is ending
}

// fdEntry is one FD ID's file. refs counts the table's reference (until Close) and
// each request using it, so a Close racing a request on another channel never
// closes a file in use.
type fdEntry struct {
	control ControlFD // exactly one of control and open is set
	open    OpenFD
	refs    int // guarded by connection.mu
}

func (e *fdEntry) close() {
	if e.control != nil {
		e.control.Close()
	} else {
		e.open.Close()
	}
}

// startChannelLocked serves fd as a channel on a new goroutine.
func (c *connection) startChannelLocked(fd int) {
	c.channels[fd] = struct{}{}
	c.wg.Add(1)
	go c.serveChannel(newSock(fd))
}

// serveChannel answers requests on one channel until the client hangs up or breaks
// the protocol.
func (c *connection) serveChannel(s *sock) {
	defer c.wg.Done()
	for {
		if err := c.serveOne(s); err != nil {
			if !hungUp(err) {
				c.fail(err)
			}
			break
		}
	}
	c.mu.Lock()
	delete(c.channels, s.fd)
	c.mu.Unlock()
	unix.Close(s.fd)
}

// hungUp reports whether err only says the client went away.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET)
}

// fail records a protocol error and hangs up every channel; their goroutines then
// see EOF and exit.
func (c *connection) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
	for fd := range c.channels {
		// Shutdown, not close: another goroutine may be blocked on fd, and a
		// closed FD number could be reused under it.
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
}

// serveOne answers one request. An error is the end of the channel.
func (c *connection) serveOne(s *sock) error {
	id, payload, fds, err := s.recv()
	if err != nil {
		return err
	}
	if len(fds) != 0 {
		closeAll(fds)
		return fmt.Errorf("%w: %v request carries FDs", errMalformed, id)
	}
	if id >= numMsgs || handlers[id] == nil {
		return fmt.Errorf("%w: unknown message %v", errMalformed, id)
	}
	resp, donate, err := handlers[id](c, payload)
	if errors.Is(err, errMalformed) {
		return fmt.Errorf("%v request: %w", id, err)
	}
	if err == nil {
		var fds []int
		if donate >= 0 {
			fds = []int{donate}
		}
		err = s.send(id, resp, fds...)
		if donate >= 0 {
			unix.Close(donate)
		}
		if !errors.Is(err, errTooBig) {
			return err
		}
		// The answer does not fit a message: the client gets EIO and carries on.
		err = linux.EIO
	}
	return s.send(MsgError, &errorMsg{Errno: toErrno(err)})
}

// toErrno is the errno a client sees for err.
func toErrno(err error) linux.Errno {
	var le linux.Errno
	if errors.As(err, &le) && le != 0 {
		return le
	}
	var ue unix.Errno
	if errors.As(err, &ue) && ue != 0 {
		return linux.Errno(ue)
	}
	return linux.EIO
}

// install adds a file to the table and returns its new FD ID.
func (c *connection) install(e *fdEntry) FDID {
	e.refs = 1
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastFD++
	c.fds[c.lastFD] = e
	return c.lastFD
}

func (c *connection) installControl(fd ControlFD) FDID { return c.install(&fdEntry{control: fd}) }
func (c *connection) installOpen(fd OpenFD) FDID       { return c.install(&fdEntry{open: fd}) }

// lookup takes a reference on id's file; the caller puts it back with release.
func (c *connection) lookup(id FDID) (*fdEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.fds[id]
	if !ok {
		return nil, linux.EBADF
	}
	e.refs++
	return e, nil
}

func (c *connection) release(e *fdEntry) {
	c.mu.Lock()
	e.refs--
	last := e.refs == 0
	c.mu.Unlock()
	if last {
		e.close()
	}
}

// lookupControl is lookup for a control FD.
func (c *connection) lookupControl(id FDID) (*fdEntry, error) {
	e, err := c.lookup(id)
	if err == nil && e.control == nil {
		c.release(e)
		return nil, linux.EBADF
	}
	return e, err
}

// lookupOpen is lookup for an open FD.
func (c *connection) lookupOpen(id FDID) (*fdEntry, error) {
	e, err := c.lookup(id)
	if err == nil && e.open == nil {
		c.release(e)
		return nil, linux.EBADF
	}
	return e, err
}

// remove drops the table's reference to id.
func (c *connection) remove(id FDID) {
	c.mu.Lock()
	e, ok := c.fds[id]
	delete(c.fds, id)
	c.mu.Unlock()
	if ok {
		c.release(e)
	}
}

// releaseAll drops every table reference when the connection is over.
func (c *connection) releaseAll() {
	c.mu.Lock()
	fds := c.fds
	c.fds = nil
	c.mu.Unlock()
	for _, e := range fds {
		c.release(e)
	}
}
