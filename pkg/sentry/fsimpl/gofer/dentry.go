package gofer

import (
	"container/list"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/kernel/pipe"
	"visor.dev/visor/pkg/sentry/vfs"
)

// dentry is a name in the tree. Hard links are several dentries of one inode.
type dentry struct {
	vfsd vfs.Dentry
	fs   *filesystem

	// refs counts the reference the parent's children map holds while the name
	// exists, and those the VFS holds. At zero the dentry drops its inode and its
	// parent.
	refs atomic.Int64

	// parent and name are protected by filesystem.renameMu. parent is nil only for
	// the root; a dentry holds a reference on its parent, so that ".." from a
	// removed directory still leads where it did, as in Linux.
	parent *dentry
	name   string

	inode *inode
}

// newDentry returns a dentry of i (whose reference it takes over) named name in
// parent, with one reference for the caller.
func (fs *filesystem) newDentry(parent *dentry, name string, i *inode) *dentry {
	d := &dentry{fs: fs, parent: parent, name: name, inode: i}
	d.vfsd.Init(d)
	d.refs.Store(1)
	if parent != nil {
		parent.IncRef()
	}
	return d
}

// IncRef implements vfs.DentryImpl.IncRef.
func (d *dentry) IncRef() { d.refs.Add(1) }

// DecRef implements vfs.DentryImpl.DecRef.
func (d *dentry) DecRef() {
	switch r := d.refs.Add(-1); {
	case r == 0:
		d.inode.decRef()
		// parent is stable: a dentry without references is in no tree and
		// cannot be renamed.
		if d.parent != nil {
			d.parent.DecRef()
		}
	case r < 0:
		panic("gofer: dentry.DecRef without a reference")
	}
}

func (d *dentry) isDir() bool { return d.inode.ftype == linux.S_IFDIR }

// inodeKey identifies a host file.
type inodeKey struct {
	devMajor, devMinor uint32
	ino                uint64
}

func keyOf(stat *linux.Statx) inodeKey {
	return inodeKey{devMajor: stat.DevMajor, devMinor: stat.DevMinor, ino: stat.Ino}
}

// inode is a file of the served tree.
type inode struct {
	fs  *filesystem
	key inodeKey
	// ftype is the S_IFMT bits: a file never changes type.
	ftype uint16
	// controlFD is the Gofer's handle on the file, for every call about it.
	controlFD lisafs.FDID
	// rdevMajor and rdevMinor are a device node's number.
	rdevMajor, rdevMinor uint32

	// refs counts the dentries of the inode. At zero it leaves filesystem.inodes
	// and releases its FDs.
	refs atomic.Int64

	// metaMu serializes changes to the attributes below and guards target, pipe
	// and endpoint. The attributes are atomics, readable without it.
	metaMu  sync.Mutex
	mode    atomic.Uint32
	uid     atomic.Uint32
	gid     atomic.Uint32
	nlink   atomic.Uint32
	blksize atomic.Uint32
	size    atomic.Uint64
	blocks  atomic.Uint64
	// Timestamps in nanoseconds since the epoch.
	atime, mtime, ctime, btime atomic.Int64

	// target caches a symlink's target once read; haveTarget says it is.
	target     string
	haveTarget bool
	// pipe is a FIFO's pipe, made on first open.
	pipe *pipe.Pipe
	// endpoint is what a socket file made by bind(2) is bound to.
	endpoint any

	// dirMu protects children, and is held across the Gofer calls that change
	// the directory. children maps names to dentries; a nil dentry records that
	// the name does not exist (a negative entry). negatives counts those.
	dirMu     sync.Mutex
	children  map[string]*dentry
	negatives int

	// dataMu makes size changes atomic: appends and truncations hold it for
	// writing, other writes for reading.
	dataMu sync.RWMutex

	// handleMu protects the fields below. readH and writeH are the host FDs a
	// regular file's descriptions and mappings share; they may be one handle.
	// openFDs counts the descriptions using them. released is set once the
	// inode is gone, after which no handle is opened again.
	handleMu sync.RWMutex
	readH    *handle
	writeH   *handle
	openFDs  int
	released bool
	// lruElem is the inode's place in filesystem.handleLRU, nil when it is not
	// there. Protected by filesystem.handleLRUMu.
	lruElem *list.Element
}

// handle is a file opened through the Gofer: its open FD ID and the host FD it
// donated.
type handle struct {
	openFD lisafs.FDID
	hostFD int
}

// maxNegativeEntries bounds a directory's negative entries; beyond it they are all
// forgotten, so that probing many missing names (PATH lookups) cannot grow the cache
// without bound.
const maxNegativeEntries = 1000

// getInode returns the inode of the file in, taking a reference on it for a new
// dentry. A file already known keeps its inode; in.FD, a duplicate control FD, is
// closed and the attributes are refreshed from in.Stat.
func (fs *filesystem) getInode(in lisafs.Inode) *inode {
	key := keyOf(&in.Stat)
	fs.inodeMu.Lock()
	// An inode whose last dentry is going is being released: a new one
	// replaces it.
	if i, ok := fs.inodes[key]; ok && i.tryIncRef() {
		fs.inodeMu.Unlock()
		// A failure to close a duplicate only leaks an FD ID on the Gofer,
		// which the connection's end reclaims.
		_ = fs.client.CloseFDs(in.FD)
		i.updateFromStat(&in.Stat)
		return i
	}
	i := &inode{
		fs:        fs,
		key:       key,
		ftype:     in.Stat.Mode & linux.S_IFMT,
		controlFD: in.FD,
		rdevMajor: in.Stat.RdevMajor,
		rdevMinor: in.Stat.RdevMinor,
	}
	i.refs.Store(1)
	if i.ftype == linux.S_IFDIR {
		i.children = make(map[string]*dentry)
	}
	i.updateFromStat(&in.Stat)
	fs.inodes[key] = i
	fs.inodeMu.Unlock()
	return i
}

// tryIncRef takes a reference on i unless it has none left.
func (i *inode) tryIncRef() bool {
	for {
		r := i.refs.Load()
		if r <= 0 {
			return false
		}
		if i.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

func (i *inode) decRef() {
	switch r := i.refs.Add(-1); {
	case r == 0:
		i.release()
	case r < 0:
		panic("gofer: inode.decRef without a reference")
	}
}

// release frees the inode once no dentry refers to it.
func (i *inode) release() {
	fs := i.fs
	fs.inodeMu.Lock()
	if fs.inodes[i.key] == i {
		delete(fs.inodes, i.key)
	}
	fs.inodeMu.Unlock()
	i.handleMu.Lock()
	i.released = true
	fs.handleLRUMu.Lock()
	if i.lruElem != nil {
		fs.handleLRU.Remove(i.lruElem)
		i.lruElem = nil
	}
	fs.handleLRUMu.Unlock()
	fds := i.closeHandlesLocked()
	i.handleMu.Unlock()
	// As in getInode, a failure only leaks FD IDs until the connection ends.
	_ = fs.client.CloseFDs(append(fds, i.controlFD)...)
}

// closeHandlesLocked closes the host FDs of the handles and forgets them, returning
// their open FD IDs for the caller to close. Precondition: handleMu is locked.
func (i *inode) closeHandlesLocked() []lisafs.FDID {
	var fds []lisafs.FDID
	for _, h := range []*handle{i.readH, i.writeH} {
		if h != nil && h.hostFD >= 0 {
			unix.Close(h.hostFD)
			h.hostFD = -1
			fds = append(fds, h.openFD)
		}
	}
	i.readH, i.writeH = nil, nil
	return fds
}

// closeHostFDsLocked closes the host FDs only: for the end of the filesystem, when
// the connection's end releases the FD IDs. Precondition: handleMu is locked.
func (i *inode) closeHostFDsLocked() {
	i.closeHandlesLocked()
	i.released = true
}

// updateFromStat caches the attributes the Gofer reported.
func (i *inode) updateFromStat(st *linux.Statx) {
	i.mode.Store(uint32(st.Mode))
	i.uid.Store(st.UID)
	i.gid.Store(st.GID)
	i.nlink.Store(st.Nlink)
	i.blksize.Store(st.Blksize)
	i.size.Store(st.Size)
	i.blocks.Store(st.Blocks)
	i.atime.Store(fromStatxTimestamp(st.Atime))
	i.mtime.Store(fromStatxTimestamp(st.Mtime))
	i.ctime.Store(fromStatxTimestamp(st.Ctime))
	if st.Mask&linux.STATX_BTIME != 0 {
		i.btime.Store(fromStatxTimestamp(st.Btime))
	}
}

// refresh re-reads the attributes from the Gofer.
func (i *inode) refresh() error {
	st, err := i.fs.client.Stat(i.controlFD)
	if err != nil {
		return err
	}
	i.updateFromStat(&st)
	return nil
}

func (i *inode) getMode() uint16    { return uint16(i.mode.Load()) }
func (i *inode) getKUID() auth.KUID { return auth.KUID(i.uid.Load()) }
func (i *inode) getKGID() auth.KGID { return auth.KGID(i.gid.Load()) }
func (i *inode) touchCtime()        { i.ctime.Store(i.fs.now()) }
func (i *inode) touchCMtime()       { now := i.fs.now(); i.mtime.Store(now); i.ctime.Store(now) }
func (i *inode) incLinks()          { i.nlink.Add(1) }
func (i *inode) decLinks()          { i.nlink.Add(^uint32(0)) }

// checkPermissions checks whether creds may access i in the ways ats asks for.
func (i *inode) checkPermissions(creds *auth.Credentials, ats auth.AccessTypes) error {
	return auth.CheckPermission(creds, i.getMode(), i.getKUID(), i.getKGID(), ats)
}

func (d *dentry) checkPermissions(creds *auth.Credentials, ats auth.AccessTypes) error {
	return d.inode.checkPermissions(creds, ats)
}

func fromStatxTimestamp(ts linux.StatxTimestamp) int64 { return ts.Sec*1e9 + int64(ts.Nsec) }

func toStatxTimestamp(ns int64) linux.StatxTimestamp {
	return linux.StatxTimestamp{Sec: ns / 1e9, Nsec: uint32(ns % 1e9)}
}

// statTo fills stat with i's cached status.
func (i *inode) statTo(stat *linux.Statx) {
	stat.Mask = linux.STATX_BASIC_STATS | linux.STATX_BTIME
	stat.Blksize = i.blksize.Load()
	stat.Nlink = i.nlink.Load()
	stat.UID = i.uid.Load()
	stat.GID = i.gid.Load()
	stat.Mode = i.getMode()
	stat.Ino = i.key.ino
	stat.Size = i.size.Load()
	stat.Blocks = i.blocks.Load()
	stat.Atime = toStatxTimestamp(i.atime.Load())
	stat.Mtime = toStatxTimestamp(i.mtime.Load())
	stat.Ctime = toStatxTimestamp(i.ctime.Load())
	stat.Btime = toStatxTimestamp(i.btime.Load())
	stat.DevMajor = 0
	stat.DevMinor = i.fs.devMinor
	if i.ftype == linux.S_IFCHR || i.ftype == linux.S_IFBLK {
		stat.RdevMajor, stat.RdevMinor = i.rdevMajor, i.rdevMinor
	}
}

// setStat changes i's status as opts asks, on behalf of creds, through mnt.
func (i *inode) setStat(creds *auth.Credentials, mnt *vfs.Mount, opts *vfs.SetStatOptions) error {
	stat := &opts.Stat
	if stat.Mask == 0 {
		return nil
	}
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	i.metaMu.Lock()
	defer i.metaMu.Unlock()
	mode := i.getMode()
	if err := vfs.CheckSetStat(creds, opts, mode, i.getKUID(), i.getKGID()); err != nil {
		return err
	}
	req := lisafs.SetStatRequest{Mask: stat.Mask, UID: stat.UID, GID: stat.GID, Size: stat.Size, Atime: stat.Atime, Mtime: stat.Mtime}
	if stat.Mask&linux.STATX_MODE != 0 {
		newMode := stat.Mode & linux.PermissionsMask
		kgid := i.getKGID()
		if stat.Mask&linux.STATX_GID != 0 {
			kgid = auth.KGID(stat.GID)
		}
		if !creds.InGroup(kgid) && !creds.HasCapability(linux.CAP_FSETID) {
			newMode &^= linux.S_ISGID
		}
		req.Mode = uint32(newMode)
	}
	if stat.Mask&linux.STATX_SIZE != 0 {
		// Truncation drops set-ID bits as a write does, unless the mode is
		// being set explicitly.
		if killed := killPrivs(creds, mode); killed != mode && stat.Mask&linux.STATX_MODE == 0 {
			req.Mask |= linux.STATX_MODE
			req.Mode = uint32(killed & linux.PermissionsMask)
		}
		i.dataMu.Lock()
		defer i.dataMu.Unlock()
	}
	if err := i.fs.client.SetStat(i.controlFD, req); err != nil {
		// A partial change (the Gofer stops at the first failure) is still
		// seen.
		_ = i.refresh()
		return err
	}
	return i.refresh()
}

// killPrivs returns the mode a file keeps after creds wrote or truncated it: without
// CAP_FSETID, the set-user-ID and set-group-ID bits go.
func killPrivs(creds *auth.Credentials, mode uint16) uint16 {
	if creds.HasCapability(linux.CAP_FSETID) {
		return mode
	}
	return vfs.KillSetIDOnChange(mode)
}

// readlink returns a symlink's target, asking the Gofer only the first time.
func (i *inode) readlink() (string, error) {
	i.metaMu.Lock()
	defer i.metaMu.Unlock()
	if !i.haveTarget {
		target, err := i.fs.client.Readlink(i.controlFD)
		if err != nil {
			return "", err
		}
		i.target, i.haveTarget = target, true
	}
	return i.target, nil
}
