package lisafs

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

// ErrClosed is returned by a Client's methods once it is closed.
var ErrClosed = errors.New("lisafs: client closed")

// DefaultChannels is how many channels a Client opens when its options say 0.
const DefaultChannels = 4

// ClientOptions configure NewClient.
type ClientOptions struct {
	// Channels is how many channels (each one request in flight) the client
	// uses, the first included; 0 means DefaultChannels.
	Channels int
}

// Client is the client end of a lisafs connection. Its methods are safe for
// concurrent use: each takes an idle channel, waiting for one if all are busy.
//
// A failure on the wire (not an errno from the server, which is returned as a
// linux.Errno) breaks the whole client: every later call fails with it.
type Client struct {
	// pool holds the idle channels; every channel is in it or in use by one call.
	pool chan *sock
	all  []*sock
	// done is closed when the client closes or breaks.
	done      chan struct{}
	doneOnce  sync.Once
	closeOnce sync.Once

	// mu guards err. Lock order: leaf.
	mu  sync.Mutex
	err error
}

// NewClient starts a connection on the socket fd, which it owns, and opens the
// channels opts ask for (fewer if the server refuses more).
func NewClient(fd int, opts ClientOptions) (*Client, error) {
	n := opts.Channels
	if n <= 0 {
		n = DefaultChannels
	}
	n = min(n, MaxChannels)
	first := newSock(fd)
	c := &Client{all: []*sock{first}, done: make(chan struct{})}
	for len(c.all) < n {
		fds, errno, err := c.exchange(first, MsgChannel, &emptyMsg{}, &emptyMsg{})
		if errno == linux.EMFILE {
			break
		}
		switch {
		case err != nil:
		case errno != 0:
			err = errno
		default:
			err = expectFDs(fds, 1)
		}
		if err != nil {
			c.closeSocks()
			return nil, err
		}
		c.all = append(c.all, newSock(fds[0]))
	}
	c.pool = make(chan *sock, len(c.all))
	for _, s := range c.all {
		c.pool <- s
	}
	return c, nil
}

// Close hangs up: it waits for calls in flight to fail, then closes every channel.
// The server then releases every FD ID of the connection.
func (c *Client) Close() error {
	c.breakWith(ErrClosed)
	c.closeOnce.Do(func() {
		for range c.all {
			<-c.pool
		}
		c.closeSocks()
	})
	return nil
}

func (c *Client) closeSocks() {
	for _, s := range c.all {
		unix.Close(s.fd)
	}
}

// breakWith ends the client with err: later calls fail, calls in flight are woken
// by the shutdown of every channel.
func (c *Client) breakWith(err error) {
	c.doneOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		for _, s := range c.all {
			// Shutdown, not close: calls in flight still use the FD.
			unix.Shutdown(s.fd, unix.SHUT_RDWR)
		}
	})
}

func (c *Client) broken() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// call sends req on an idle channel and decodes the response into resp, returning
// the FDs that came with it.
func (c *Client) call(id MsgID, req, resp message) ([]int, error) {
	var s *sock
	select {
	case s = <-c.pool:
	case <-c.done:
		return nil, c.broken()
	}
	defer func() { c.pool <- s }()
	select {
	case <-c.done:
		return nil, c.broken()
	default:
	}
	fds, errno, err := c.exchange(s, id, req, resp)
	if err != nil {
		c.breakWith(err)
		return nil, err
	}
	if errno != 0 {
		return nil, errno
	}
	return fds, nil
}

// exchange is one round trip on s: the response's FDs, or the server's errno, or a
// wire failure.
func (c *Client) exchange(s *sock, id MsgID, req, resp message) ([]int, linux.Errno, error) {
	if err := s.send(id, req); err != nil {
		return nil, 0, err
	}
	rid, payload, fds, err := s.recv()
	if err != nil {
		return nil, 0, fmt.Errorf("lisafs: %v response: %w", id, err)
	}
	if rid == MsgError {
		var em errorMsg
		err := decode(payload, &em)
		if err == nil && (len(fds) != 0 || em.Errno == 0) {
			err = fmt.Errorf("%w: error response with FDs or errno 0", errMalformed)
		}
		closeAll(fds)
		if err != nil {
			return nil, 0, fmt.Errorf("lisafs: %v response: %w", id, err)
		}
		return nil, em.Errno, nil
	}
	if rid != id {
		closeAll(fds)
		return nil, 0, fmt.Errorf("%w: %v response to a %v request", errMalformed, rid, id)
	}
	if err := decode(payload, resp); err != nil {
		closeAll(fds)
		return nil, 0, fmt.Errorf("lisafs: %v response: %w", id, err)
	}
	return fds, 0, nil
}

// expectFDs checks a response brought exactly n FDs, closing them all if not.
func expectFDs(fds []int, n int) error {
	if len(fds) != n {
		closeAll(fds)
		return fmt.Errorf("%w: %d FDs with a response that carries %d", errMalformed, len(fds), n)
	}
	return nil
}

// donated checks a response's FDs against its HasFD and returns the FD or -1.
func (c *Client) donated(fds []int, has bool) (int, error) {
	n := 0
	if has {
		n = 1
	}
	if err := expectFDs(fds, n); err != nil {
		c.breakWith(err)
		return -1, err
	}
	if has {
		return fds[0], nil
	}
	return -1, nil
}

// simple is call for a response that carries no FDs.
func (c *Client) simple(id MsgID, req, resp message) error {
	fds, err := c.call(id, req, resp)
	if err != nil {
		return err
	}
	if err := expectFDs(fds, 0); err != nil {
		c.breakWith(err)
		return err
	}
	return nil
}

// Mount returns a new control FD for the root of the served tree.
func (c *Client) Mount() (Inode, error) {
	var resp inodeMsg
	err := c.simple(MsgMount, &emptyMsg{}, &resp)
	return resp.Inode, err
}

// Walk walks names from the directory dir, one component each, and returns the
// inodes it walked (each a new control FD). It stops early, without an error, at a
// missing component (WalkComponentMissing) or at a symlink that is not the last
// component (WalkComponentSymlink: the symlink is the last inode returned). Any
// other failure returns an error and no inodes.
func (c *Client) Walk(dir FDID, names []string) (WalkStatus, []Inode, error) {
	var resp walkResp
	err := c.simple(MsgWalk, &walkReq{Dir: dir, Names: names}, &resp)
	return resp.Status, resp.Inodes, err
}

// Stat returns the attributes of fd's file.
func (c *Client) Stat(fd FDID) (linux.Statx, error) {
	var resp statMsg
	err := c.simple(MsgStat, &fdMsg{FD: fd}, &resp)
	return resp.Stat, err
}

// Open opens fd's file with open(2) flags and returns an open FD ID and the host FD
// the server donated for I/O (-1 for a directory, whose entries come from
// Getdents64). The host FD is the caller's to close.
func (c *Client) Open(fd FDID, flags uint32) (FDID, int, error) {
	var resp openResp
	fds, err := c.call(MsgOpen, &openReq{FD: fd, Flags: flags}, &resp)
	if err != nil {
		return 0, -1, err
	}
	hostFD, err := c.donated(fds, resp.HasFD)
	return resp.OpenFD, hostFD, err
}

// OpenCreate creates the regular file name in dir (it must not exist) with
// permissions mode, owned by uid and gid (NoID for the server's own), and opens it
// with flags: the new control FD, the open FD and the donated host FD.
func (c *Client) OpenCreate(dir FDID, name string, mode, uid, gid, flags uint32) (Inode, FDID, int, error) {
	var resp openCreateResp
	req := &openCreateReq{createReq: createReq{Dir: dir, Name: name, Mode: mode, UID: uid, GID: gid}, Flags: flags}
	fds, err := c.call(MsgOpenCreate, req, &resp)
	if err != nil {
		return Inode{}, 0, -1, err
	}
	hostFD, err := c.donated(fds, resp.HasFD)
	return resp.Child, resp.OpenFD, hostFD, err
}

// Mkdir makes the directory name in dir.
func (c *Client) Mkdir(dir FDID, name string, mode, uid, gid uint32) (Inode, error) {
	var resp inodeMsg
	err := c.simple(MsgMkdir, &createReq{Dir: dir, Name: name, Mode: mode, UID: uid, GID: gid}, &resp)
	return resp.Inode, err
}

// Mknod makes name in dir: mode's type is S_IFREG, S_IFIFO or S_IFSOCK.
func (c *Client) Mknod(dir FDID, name string, mode, uid, gid uint32) (Inode, error) {
	var resp inodeMsg
	err := c.simple(MsgMknod, &createReq{Dir: dir, Name: name, Mode: mode, UID: uid, GID: gid}, &resp)
	return resp.Inode, err
}

// Symlink makes name in dir a symlink to target.
func (c *Client) Symlink(dir FDID, name, target string, uid, gid uint32) (Inode, error) {
	var resp inodeMsg
	err := c.simple(MsgSymlink, &symlinkReq{Dir: dir, Name: name, Target: target, UID: uid, GID: gid}, &resp)
	return resp.Inode, err
}

// Link makes name in dir a hard link to target's file.
func (c *Client) Link(dir FDID, name string, target FDID) (Inode, error) {
	var resp inodeMsg
	err := c.simple(MsgLink, &linkReq{Dir: dir, Name: name, Target: target}, &resp)
	return resp.Inode, err
}

// UnlinkAt removes name from dir; flags may be linux.AT_REMOVEDIR.
func (c *Client) UnlinkAt(dir FDID, name string, flags uint32) error {
	return c.simple(MsgUnlinkAt, &unlinkAtReq{Dir: dir, Name: name, Flags: flags}, &emptyMsg{})
}

// RenameAt renames oldName in oldDir to newName in newDir; flags are renameat2(2)'s
// RENAME_NOREPLACE and RENAME_EXCHANGE.
func (c *Client) RenameAt(oldDir FDID, oldName string, newDir FDID, newName string, flags uint32) error {
	req := &renameAtReq{OldDir: oldDir, OldName: oldName, NewDir: newDir, NewName: newName, Flags: flags}
	return c.simple(MsgRenameAt, req, &emptyMsg{})
}

// Readlink returns the target of the symlink fd.
func (c *Client) Readlink(fd FDID) (string, error) {
	var resp stringMsg
	err := c.simple(MsgReadlink, &fdMsg{FD: fd}, &resp)
	return resp.S, err
}

// Getdents64 returns entries of the open directory fd from offset (0, or a Dirent.Off
// from an earlier call to go on after that entry), in about count bytes at most
// (capped at MaxGetdentsSize). No entries means the end. "." and ".." are left out.
func (c *Client) Getdents64(fd FDID, offset int64, count uint32) ([]Dirent, error) {
	var resp getdentsResp
	err := c.simple(MsgGetdents64, &getdentsReq{FD: fd, Offset: offset, Count: count}, &resp)
	return resp.Dirents, err
}

// SetStat changes the attributes req.Mask names, in the order owner, mode, size,
// times, and stops at the first failure.
func (c *Client) SetStat(fd FDID, req SetStatRequest) error {
	return c.simple(MsgSetStat, &setStatReq{FD: fd, SetStatRequest: req}, &emptyMsg{})
}

// StatFS returns statfs(2) of the file system holding fd's file.
func (c *Client) StatFS(fd FDID) (StatFS, error) {
	var resp statFSMsg
	err := c.simple(MsgStatFS, &fdMsg{FD: fd}, &resp)
	return resp.StatFS, err
}

// GetXattr returns the value of fd's extended attribute name.
func (c *Client) GetXattr(fd FDID, name string) ([]byte, error) {
	var resp bytesMsg
	err := c.simple(MsgGetXattr, &xattrReq{FD: fd, Name: name}, &resp)
	return resp.B, err
}

// SetXattr sets fd's extended attribute name; flags are XATTR_CREATE or
// XATTR_REPLACE.
func (c *Client) SetXattr(fd FDID, name string, value []byte, flags uint32) error {
	return c.simple(MsgSetXattr, &setXattrReq{FD: fd, Name: name, Value: value, Flags: flags}, &emptyMsg{})
}

// ListXattr returns the names of fd's extended attributes.
func (c *Client) ListXattr(fd FDID) ([]string, error) {
	var resp namesMsg
	err := c.simple(MsgListXattr, &fdMsg{FD: fd}, &resp)
	return resp.Names, err
}

// RemoveXattr removes fd's extended attribute name.
func (c *Client) RemoveXattr(fd FDID, name string) error {
	return c.simple(MsgRemoveXattr, &xattrReq{FD: fd, Name: name}, &emptyMsg{})
}

// CloseFDs releases FD IDs, control or open, in batches of MaxCloseBatch.
func (c *Client) CloseFDs(fds ...FDID) error {
	for len(fds) > 0 {
		n := min(len(fds), MaxCloseBatch)
		if err := c.simple(MsgClose, &closeReq{FDs: fds[:n]}, &emptyMsg{}); err != nil {
			return err
		}
		fds = fds[n:]
	}
	return nil
}

// FSync flushes the open file fd to storage.
func (c *Client) FSync(fd FDID) error {
	return c.simple(MsgFSync, &fdMsg{FD: fd}, &emptyMsg{})
}
