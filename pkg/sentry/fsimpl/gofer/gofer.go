// Package gofer is the Sentry's filesystem over one lisafs connection: the tree one
// Gofer serves (the container's rootfs, or a bind mount's source, which may be a
// single regular file). The Sentry never opens a host path; it names files by the
// control FDs the Gofer hands out and walks one component at a time, so every
// symlink is resolved here, by the VFS, inside the sandbox's own mount tree.
//
// # Cache policy
//
// The filesystem assumes it is the only one changing the served tree (gVisor's
// default "exclusive" policy): dentries cache the walk for as long as the name
// exists (positive and negative children maps, no eviction yet) and inodes cache
// the attributes. Attributes are taken from every stat the Gofer sends (walks,
// creates, after SetStat) and from fstat of a newly donated host FD; writes and
// namespace changes made through this filesystem update them locally.
//
// # Inodes and hard links
//
// Dentries (names) and inodes (files) are separate, as in tmpfs: each inode is keyed
// by the host's (st_dev, st_ino), so two hard links share one inode, its attributes
// and its host FDs. The inode holds one control FD; a duplicate a walk returns for a
// known inode is closed at once. st_ino is the host's inode number and st_dev the
// filesystem's own anonymous device; files of the served tree on different host
// devices could therefore collide in st_ino (a served rootfs is one device).
//
// # Regular files
//
// Reads and writes go straight to a host FD the Gofer donated, with pread and pwrite:
// no round trip per I/O. An inode shares its host FDs (a read handle and a write
// handle, usually one O_RDWR FD) among all its file descriptions. Handles stay open
// after the last description closes, so that reopening is free, but at most
// FilesystemOpts.MaxIdleHandles idle ones are kept (least recently used closed
// first). The size is the inode's cached size (exact under the exclusive policy),
// which O_APPEND and SEEK_END use; the host FD is never opened O_APPEND. Private
// mappings read through the inode (a Mappable that re-opens a read handle if the
// idle one was closed); shared writable mappings fail with ENODEV until file pages
// live in the memory file. O_SYNC/O_DSYNC are not applied per write; fsync is
// forwarded to the Gofer.
//
// # Special files
//
// A FIFO is a Sentry pipe keyed by its inode (the same rendezvous as tmpfs): a host
// FIFO donated non-blocking could not give Linux's open-waits-for-the-other-end
// semantics, and data never needs to cross to the host. Device nodes open the
// Sentry's own devices by their numbers (the Gofer never opens host devices, and
// refuses to make them: mknod of a device fails with EPERM). A unix socket file
// made by bind(2) is made on the host too (mknod S_IFSOCK) and keeps its endpoint
// on the inode (BoundEndpoint).
//
// # Locking
//
// filesystem.renameMu protects every dentry's parent and name: path operations hold
// it for reading, RenameAt for writing. A directory inode's dirMu protects its
// children map and is held across the Gofer calls that look up, create or remove a
// name in it (as Linux holds the directory's i_rwsem). An inode's metaMu serializes
// metadata changes; the attributes themselves are atomics, so stat and permission
// checks during walks take no lock. dataMu makes size changes (append, truncate,
// fallocate) atomic with respect to each other; handleMu protects the host handles.
// Lock order: renameMu, then dirMu (a parent's before its child's; RenameAt, holding
// renameMu for writing, takes two), then metaMu, then dataMu, then handleMu, then
// filesystem.handleLRUMu, then filesystem.inodeMu; vfs.Dentry locks (Prepare*Dentry)
// nest inside dirMu.
package gofer

import (
	"container/list"
	"sync"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Name is the filesystem type's name.
const Name = "gofer"

// v9fsMagic is statfs's f_type for gofer mounts: gVisor reports 9p's magic rather than
// the host filesystem's, so that applications do not tune themselves to a host
// filesystem they are not really talking to.
const v9fsMagic = 0x01021997

// DefaultMaxIdleHandles is FilesystemOpts.MaxIdleHandles when it is zero.
const DefaultMaxIdleHandles = 256

// FilesystemOpts are GetFilesystemOptions.InternalData for a gofer mount: the kernel
// makes these, never mount(2).
type FilesystemOpts struct {
	// Client is the connection to the Gofer serving the tree. The filesystem
	// takes it over and closes it when released.
	Client *lisafs.Client
	// MaxIdleHandles bounds the host FDs kept open for files no description has
	// open; zero means DefaultMaxIdleHandles.
	MaxIdleHandles int
	// Clock returns the time that locally kept timestamps are set to; nil means
	// the host's real time.
	Clock func() time.Time
}

// FilesystemType makes gofer filesystems. Register it for internal mounts only
// (RegisterFilesystemTypeOptions{}): its filesystems need a Gofer connection.
type FilesystemType struct{}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem. opts.InternalData must
// be a *FilesystemOpts; mount(2) data is not accepted.
func (FilesystemType) GetFilesystem(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	fo, ok := opts.InternalData.(*FilesystemOpts)
	if !ok || fo.Client == nil || opts.Data != "" {
		return nil, nil, linux.EINVAL
	}
	return NewFilesystem(vfsObj, fo)
}

// NewFilesystem returns a filesystem of the tree the Gofer at the other end of
// opts.Client serves, and its root, each with a reference for the caller. The
// filesystem owns the client from then on, even if NewFilesystem fails. The root is
// a directory, or a regular file for a bind mount of a single file: then the
// filesystem is that one file, which can be read, written, stat'ed and changed, and
// every path beneath it fails with ENOTDIR.
func NewFilesystem(vfsObj *vfs.VirtualFilesystem, opts *FilesystemOpts) (*vfs.Filesystem, *vfs.Dentry, error) {
	client := opts.Client
	rootInode, err := client.Mount()
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	switch rootInode.Stat.Mode & linux.S_IFMT {
	case linux.S_IFDIR, linux.S_IFREG:
	default:
		client.Close()
		return nil, nil, linux.ENOTDIR
	}
	fs := &filesystem{
		client:         client,
		devMinor:       vfsObj.GetAnonBlockDevMinor(),
		clock:          time.Now,
		inodes:         make(map[inodeKey]*inode),
		maxIdleHandles: opts.MaxIdleHandles,
	}
	if opts.Clock != nil {
		fs.clock = opts.Clock
	}
	if fs.maxIdleHandles <= 0 {
		fs.maxIdleHandles = DefaultMaxIdleHandles
	}
	fs.vfsfs.Init(vfsObj, FilesystemType{}, fs)
	root := fs.newDentry(nil, "", fs.getInode(rootInode))
	// The filesystem holds root's first reference; the caller gets another.
	fs.root = root
	root.IncRef()
	return &fs.vfsfs, &root.vfsd, nil
}

// filesystem is one gofer mount's tree.
type filesystem struct {
	vfsfs  vfs.Filesystem
	client *lisafs.Client

	devMinor uint32
	clock    func() time.Time
	root     *dentry

	// renameMu protects the parent and name of every dentry; see the package
	// comment for the lock order.
	renameMu sync.RWMutex

	// inodeMu protects inodes, which maps host files to their inodes so that
	// hard links share one.
	inodeMu sync.Mutex
	inodes  map[inodeKey]*inode

	// handleLRUMu protects handleLRU: the inodes with host handles and no open
	// file description, least recently used at the back. Lock order: after
	// inode.handleMu.
	handleLRUMu    sync.Mutex
	handleLRU      list.List
	maxIdleHandles int
}

// Release implements vfs.FilesystemImpl.Release. Hanging up the connection makes the
// Gofer release every FD ID at once; the host FDs it donated are the Sentry's to
// close.
func (fs *filesystem) Release() {
	fs.inodeMu.Lock()
	inodes := make([]*inode, 0, len(fs.inodes))
	for _, i := range fs.inodes {
		inodes = append(inodes, i)
	}
	fs.inodeMu.Unlock()
	for _, i := range inodes {
		i.handleMu.Lock()
		i.closeHostFDsLocked()
		i.handleMu.Unlock()
	}
	fs.client.Close()
}

// Sync implements vfs.FilesystemImpl.Sync: every file with a write handle is flushed.
func (fs *filesystem) Sync(ctx vfs.Context) error {
	fs.inodeMu.Lock()
	var inodes []*inode
	for _, i := range fs.inodes {
		if i.ftype == linux.S_IFREG {
			inodes = append(inodes, i)
		}
	}
	fs.inodeMu.Unlock()
	var firstErr error
	for _, i := range inodes {
		if err := i.fsync(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// now returns the current time in nanoseconds.
func (fs *filesystem) now() int64 { return fs.clock().UnixNano() }

// statFS returns the status of the served tree's host filesystem.
func (fs *filesystem) statFS() (linux.Statfs, error) {
	st, err := fs.client.StatFS(fs.root.inode.controlFD)
	if err != nil {
		return linux.Statfs{}, err
	}
	return linux.Statfs{
		Type:            v9fsMagic,
		BlockSize:       st.BlockSize,
		Blocks:          st.Blocks,
		BlocksFree:      st.BlocksFree,
		BlocksAvailable: st.BlocksAvailable,
		Files:           st.Files,
		FilesFree:       st.FilesFree,
		NameLength:      st.NameLength,
		FragmentSize:    st.FragmentSize,
	}, nil
}
