// Package kernfs is the plumbing of the Sentry's synthetic filesystems, /proc and
// /sys: filesystems whose files are views of kernel state, generated when they are
// read, rather than stored data.
//
// A filesystem is a tree of Inodes that the filesystem implementation builds: a
// directory implements Directory (StaticDirectory is one with a fixed set of
// children), a file whose contents are generated implements DynamicFile, and a
// symlink implements Symlink, possibly as a "magic link" (/proc/[pid]/cwd) that
// leads to a VirtualDentry rather than a path. kernfs provides everything else:
// path resolution with Linux's rules, permission checks, file descriptions with
// seq_file-like reads, getdents, stat and statfs. The tree is read-only as far as
// names go: creating, linking, renaming or removing anything fails as in Linux's
// procfs (EPERM, or EEXIST for a name that exists).
//
// Dentries: a directory's children are looked up through Directory.Lookup on every
// walk, so that dynamic directories (/proc itself, /proc/[pid]/fd) always reflect
// the kernel. A dentry is cached per name and reused while Lookup returns the same
// Inode, which keeps dentries of unchanging files stable, as mounts on them
// (runc's masked /proc paths) and getcwd need; lookups that fail and complete
// directory listings drop cached dentries of names that went away.
//
// Reference counting: kernfs dentries hold nothing that needs releasing (inodes
// are views; the Go garbage collector frees them), so IncRef and DecRef do nothing.
package kernfs

import (
	"sync"
	"sync/atomic"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// blockSize is st_blksize and the statfs block size.
const blockSize = 4096

// Filesystem is one instance of a synthetic filesystem. It implements
// vfs.FilesystemImpl.
type Filesystem struct {
	vfsfs vfs.Filesystem

	// magic is statfs's f_type.
	magic uint64
	// devMinor is st_dev's minor number (the major is 0).
	devMinor uint32
	lastIno  atomic.Uint64

	// createMissingErr, if set, is how creating a name that does not exist
	// fails; see SetCreateMissingError.
	createMissingErr error

	// mu protects every dentry's children cache.
	mu   sync.Mutex
	root *Dentry
}

// NewFilesystem returns a filesystem of fsType whose statfs type is magic, with one
// reference for the caller. Its root is set with SetRoot once the tree, which needs
// the filesystem for inode numbers, is built.
func NewFilesystem(vfsObj *vfs.VirtualFilesystem, fsType vfs.FilesystemType, magic uint64) *Filesystem {
	fs := &Filesystem{magic: magic, devMinor: vfsObj.GetAnonBlockDevMinor()}
	fs.vfsfs.Init(vfsObj, fsType, fs)
	return fs
}

// SetRoot makes dir the root of fs and returns fs and its root as
// vfs.FilesystemType.GetFilesystem does.
func (fs *Filesystem) SetRoot(dir Directory) (*vfs.Filesystem, *vfs.Dentry) {
	fs.root = fs.newDentry(nil, "", dir)
	return &fs.vfsfs, &fs.root.vfsd
}

// SetCreateMissingError makes creating a file of any kind at a name that does not
// exist fail with err. Linux's procfs lookups fail with ENOENT instead of making
// negative dentries, so there mkdir, mknod, symlink, link and open(O_CREAT) of a
// new name fail with ENOENT; without it they fail as sysfs's do, with EPERM (and
// EACCES for open). Call it before the filesystem is used.
func (fs *Filesystem) SetCreateMissingError(err error) { fs.createMissingErr = err }

// VFSFilesystem returns fs's part the VFS knows.
func (fs *Filesystem) VFSFilesystem() *vfs.Filesystem { return &fs.vfsfs }

// NextIno returns a new inode number.
func (fs *Filesystem) NextIno() uint64 { return fs.lastIno.Add(1) }

// DevMinor returns the minor number of fs's anonymous device.
func (fs *Filesystem) DevMinor() uint32 { return fs.devMinor }

// Inode is a file of a synthetic filesystem. Implementations embed InodeAttrs,
// which implements it, and implement one of Directory, DynamicFile and Symlink.
type Inode interface {
	// Attrs returns the inode's fixed attributes.
	Attrs() *InodeAttrs
	// Owner returns the file's owner and group.
	Owner() (auth.KUID, auth.KGID)
}

// InodeAttrs are the attributes every inode has. Its Owner is root, which inodes
// owned by someone else (/proc/[pid]'s, owned by the process's user) override.
type InodeAttrs struct {
	ino uint64
	// mode is the file type and permissions.
	mode uint16
	// ctime is when the inode was made, which Linux's procfs reports as all of
	// its times.
	ctime    int64
	devMinor uint32
}

// Init sets a's inode number from fs and its mode, the type included.
func (a *InodeAttrs) Init(fs *Filesystem, mode uint16) {
	a.ino = fs.NextIno()
	a.mode = mode
	a.ctime = time.Now().UnixNano()
	a.devMinor = fs.devMinor
}

// Attrs implements Inode.Attrs.
func (a *InodeAttrs) Attrs() *InodeAttrs { return a }

// Owner implements Inode.Owner.
func (a *InodeAttrs) Owner() (auth.KUID, auth.KGID) { return auth.RootKUID, auth.RootKGID }

// Ino returns the inode number.
func (a *InodeAttrs) Ino() uint64 { return a.ino }

// Mode returns the file type and permissions.
func (a *InodeAttrs) Mode() uint16 { return a.mode }

// fileType returns the S_IFMT bits.
func (a *InodeAttrs) fileType() uint16 { return a.mode & linux.S_IFMT }

// DirEntry is one entry of a directory listing.
type DirEntry struct {
	Name  string
	Inode Inode
}

// Directory is a directory inode.
type Directory interface {
	Inode
	// Lookup returns the child called name; ENOENT if there is none. name is
	// never "." or "..".
	Lookup(ctx vfs.Context, name string) (Inode, error)
	// Entries returns the children in the order getdents lists them, which
	// must be stable for a directory offset to stay meaningful.
	Entries(ctx vfs.Context) ([]DirEntry, error)
}

// DynamicFile is a regular file whose contents are generated.
type DynamicFile interface {
	Inode
	// Generate returns the file's contents now. A read at offset 0 calls it;
	// reads further on continue in what the last call returned, as Linux's
	// seq_file reads do, so a file read in pieces is consistent.
	Generate(ctx vfs.Context) ([]byte, error)
}

// WritableFile is a DynamicFile that accepts writes.
type WritableFile interface {
	DynamicFile
	// Write takes src, written at offset, and returns how much it took.
	Write(ctx vfs.Context, src []byte, offset int64) (int64, error)
}

// Symlink is a symbolic link inode.
type Symlink interface {
	Inode
	// Readlink returns the link's target as readlink(2) shows it.
	Readlink(ctx vfs.Context) (string, error)
	// Getlink returns what following the link leads to: either a
	// VirtualDentry, with a reference the caller drops (a magic link), or, if
	// that is not Ok, a path to resolve.
	Getlink(ctx vfs.Context) (vfs.VirtualDentry, string, error)
}

// Dentry is a name in a synthetic filesystem's tree. It implements
// vfs.DentryImpl.
type Dentry struct {
	vfsd   vfs.Dentry
	fs     *Filesystem
	parent *Dentry
	name   string
	inode  Inode

	// children caches the dentries of names looked up in a directory.
	// Protected by fs.mu.
	children map[string]*Dentry
}

func (fs *Filesystem) newDentry(parent *Dentry, name string, inode Inode) *Dentry {
	d := &Dentry{fs: fs, parent: parent, name: name, inode: inode}
	d.vfsd.Init(d)
	return d
}

// IncRef implements vfs.DentryImpl.IncRef; see the package comment.
func (d *Dentry) IncRef() {}

// DecRef implements vfs.DentryImpl.DecRef.
func (d *Dentry) DecRef() {}

// VFSDentry returns d's part the VFS knows.
func (d *Dentry) VFSDentry() *vfs.Dentry { return &d.vfsd }

// Inode returns d's inode.
func (d *Dentry) Inode() Inode { return d.inode }

func (d *Dentry) isDir() bool { return d.inode.Attrs().fileType() == linux.S_IFDIR }

// checkPermissions checks whether creds may access d in the ways ats asks for.
func (d *Dentry) checkPermissions(creds *auth.Credentials, ats auth.AccessTypes) error {
	kuid, kgid := d.inode.Owner()
	return auth.CheckPermission(creds, d.inode.Attrs().mode, kuid, kgid, ats)
}

// child returns the dentry of name in the directory d, reusing the cached one
// while it shows the same inode.
func (d *Dentry) child(ctx vfs.Context, dir Directory, name string) (*Dentry, error) {
	inode, err := dir.Lookup(ctx, name)
	fs := d.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err != nil {
		delete(d.children, name)
		return nil, err
	}
	if c, ok := d.children[name]; ok && c.inode == inode {
		return c, nil
	}
	c := fs.newDentry(d, name, inode)
	if d.children == nil {
		d.children = make(map[string]*Dentry)
	}
	d.children[name] = c
	return c, nil
}

// pruneChildren drops cached dentries whose names are not in entries.
func (d *Dentry) pruneChildren(entries []DirEntry) {
	fs := d.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(d.children) == 0 {
		return
	}
	live := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		live[e.Name] = struct{}{}
	}
	for name := range d.children {
		if _, ok := live[name]; !ok {
			delete(d.children, name)
		}
	}
}

// statTo fills stat with d's status.
func (d *Dentry) statTo(stat *linux.Statx) {
	a := d.inode.Attrs()
	kuid, kgid := d.inode.Owner()
	ts := linux.StatxTimestamp{Sec: a.ctime / 1e9, Nsec: uint32(a.ctime % 1e9)}
	*stat = linux.Statx{
		Mask:     linux.STATX_BASIC_STATS,
		Blksize:  blockSize,
		Nlink:    1,
		UID:      uint32(kuid),
		GID:      uint32(kgid),
		Mode:     a.mode,
		Ino:      a.ino,
		Atime:    ts,
		Mtime:    ts,
		Ctime:    ts,
		DevMinor: a.devMinor,
	}
	if a.fileType() == linux.S_IFDIR {
		stat.Nlink = 2
	}
}
