// Package tmpfs is an in-memory filesystem: regular files, directories, symlinks,
// FIFOs, device nodes and sockets whose contents and metadata live in the Sentry's
// memory and vanish with the filesystem.
//
// Regular files keep their contents in a sparse map of pages. A private mapping of a
// file reads the pages through memmap.Mappable; shared mappings that may write are
// not supported (ENODEV) until files are backed by the memory file as gVisor's are,
// so that the application and the file see the same pages.
//
// Locking: filesystem.mu protects the shape of the tree (directories' children,
// dentries' parents and names); lookups take it for reading, changes for writing.
// Each inode's mu serializes changes to its metadata; its mode, owner, link count and
// times are atomics so that stat and permission checks during walks need no lock. A
// regular file's dataMu protects its contents and size.
package tmpfs

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Name is the filesystem type's name.
const Name = "tmpfs"

// pageSize is the unit of allocation and of st_blksize.
const pageSize = 4096

// maxFileSize is the largest size of a file (MAX_LFS_FILESIZE).
const maxFileSize = 1<<63 - 1

// bogoDirentSize is what each directory entry adds to a directory's st_size, as in
// Linux's tmpfs.
const bogoDirentSize = 20

// FilesystemType makes tmpfs filesystems.
type FilesystemType struct{}

// FilesystemOpts are GetFilesystemOptions.InternalData for the kernel's own tmpfs
// mounts.
type FilesystemOpts struct {
	// MaxSizeBytes limits the contents of all files together; writes beyond it
	// fail with ENOSPC. Zero means no limit. The size= mount option overrides
	// it.
	MaxSizeBytes uint64
	// Clock returns the time that timestamps are set to; nil means the host's
	// real time.
	Clock func() time.Time
}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem. The mount options are
// mode= (octal permissions of the root, 1777 by default), uid= and gid= (its owner,
// the mounter by default) and size= (the limit, in bytes with an optional k, m or g
// suffix).
func (fstype FilesystemType) GetFilesystem(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	fs := &filesystem{
		devMinor: vfsObj.GetAnonBlockDevMinor(),
		clock:    time.Now,
	}
	if fo, ok := opts.InternalData.(*FilesystemOpts); ok {
		fs.maxPages = (fo.MaxSizeBytes + pageSize - 1) / pageSize
		if fo.Clock != nil {
			fs.clock = fo.Clock
		}
	}
	rootMode := uint16(0o1777)
	rootKUID, rootKGID := creds.FSKUID, creds.FSKGID
	for key, value := range vfs.GenericParseMountOptions(opts.Data) {
		switch key {
		case "mode":
			m, err := strconv.ParseUint(value, 8, 16)
			if err != nil || m&^0o7777 != 0 {
				return nil, nil, linux.EINVAL
			}
			rootMode = uint16(m)
		case "uid":
			id, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return nil, nil, linux.EINVAL
			}
			if rootKUID, err = creds.UseUID(auth.UID(id)); err != nil {
				return nil, nil, err
			}
		case "gid":
			id, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				return nil, nil, linux.EINVAL
			}
			if rootKGID, err = creds.UseGID(auth.GID(id)); err != nil {
				return nil, nil, err
			}
		case "size":
			size, err := parseSize(value)
			if err != nil {
				return nil, nil, err
			}
			fs.maxPages = (size + pageSize - 1) / pageSize
		default:
			return nil, nil, linux.EINVAL
		}
	}
	fs.vfsfs.Init(vfsObj, fstype, fs)
	root := fs.newDentry(fs.newDirectory(rootKUID, rootKGID, rootMode))
	// The filesystem holds the root's link; the caller gets a reference too.
	root.IncRef()
	fs.root = root
	root.IncRef()
	return &fs.vfsfs, &root.vfsd, nil
}

// parseSize parses a size= option: bytes with an optional k, m or g suffix.
func parseSize(s string) (uint64, error) {
	shift := 0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		shift = 10
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		shift = 20
	case strings.HasSuffix(s, "g"), strings.HasSuffix(s, "G"):
		shift = 30
	}
	if shift != 0 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > (1<<64-1)>>shift {
		return 0, linux.EINVAL
	}
	return n << shift, nil
}

// filesystem is a tmpfs instance.
type filesystem struct {
	vfsfs vfs.Filesystem

	// mu protects the tree. Lock order: mu, then inode.mu, then
	// regularFile.dataMu, then vfs.Dentry locks (Prepare*Dentry).
	mu sync.RWMutex

	root     *dentry
	devMinor uint32
	lastIno  atomic.Uint64
	clock    func() time.Time

	// maxPages limits usedPages; zero means no limit.
	maxPages  uint64
	usedPages atomic.Uint64
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release() { fs.root.DecRef() }

// Sync implements vfs.FilesystemImpl.Sync: there is nothing to write back.
func (fs *filesystem) Sync(vfs.Context) error { return nil }

// now returns the current time in nanoseconds.
func (fs *filesystem) now() int64 { return fs.clock().UnixNano() }

// reservePages accounts for n more pages of file contents, failing if that exceeds
// the size limit.
func (fs *filesystem) reservePages(n uint64) bool {
	for {
		used := fs.usedPages.Load()
		if fs.maxPages != 0 && used+n > fs.maxPages {
			return false
		}
		if fs.usedPages.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// releasePages accounts for n pages of contents freed.
func (fs *filesystem) releasePages(n uint64) { fs.usedPages.Add(-n) }

// statFS returns the filesystem's status.
func (fs *filesystem) statFS() linux.Statfs {
	st := linux.Statfs{
		Type:         linux.TMPFS_MAGIC,
		BlockSize:    pageSize,
		FragmentSize: pageSize,
		NameLength:   linux.NAME_MAX,
	}
	// Linux reports no blocks at all for a tmpfs without a size limit.
	if fs.maxPages != 0 {
		used := fs.usedPages.Load()
		st.Blocks = fs.maxPages
		st.BlocksFree = fs.maxPages - min(used, fs.maxPages)
		st.BlocksAvailable = st.BlocksFree
	}
	return st
}

// dentry is a name in the tree. Hard links are several dentries of one inode.
type dentry struct {
	vfsd vfs.Dentry

	// parent and name are protected by filesystem.mu. parent is nil only for the
	// root. A removed dentry keeps them, so that ".." from a removed directory
	// still leads where it did, as in Linux.
	parent *dentry
	name   string
	// serial is the dentry's position among its parent's entries; see
	// directory. Protected by filesystem.mu.
	serial uint64

	inode *inode
}

// newDentry returns a dentry of inode, not yet in the tree.
func (fs *filesystem) newDentry(i *inode) *dentry {
	d := &dentry{inode: i}
	d.vfsd.Init(d)
	return d
}

// IncRef implements vfs.DentryImpl.IncRef. References on a dentry are references on
// its inode.
func (d *dentry) IncRef() { d.inode.incRef() }

// DecRef implements vfs.DentryImpl.DecRef.
func (d *dentry) DecRef() { d.inode.decRef() }

// inode is a file.
type inode struct {
	fs *filesystem

	// refs counts the inode's links (one per dentry in the tree) and the
	// references the VFS holds on its dentries (open files, working
	// directories). When it drops to zero the contents are freed.
	refs atomic.Int64

	ino uint64

	// mu serializes metadata changes. Lock order: filesystem.mu, then mu.
	mu sync.Mutex
	// mode (type and permissions), nlink, uid and gid change under mu.
	mode  atomic.Uint32
	nlink atomic.Uint32
	uid   atomic.Uint32
	gid   atomic.Uint32
	// Timestamps in nanoseconds since the epoch.
	atime, mtime, ctime, btime atomic.Int64
	// xattrs are the extended attributes. Protected by mu.
	xattrs map[string]string

	// impl is the file's type: *regularFile, *directory, *symlink,
	// *namedPipe, *deviceFile or *socketFile.
	impl any
}

// init sets i up as a new file of fs.
func (i *inode) init(fs *filesystem, kuid auth.KUID, kgid auth.KGID, mode uint16, impl any) {
	i.fs = fs
	i.ino = fs.lastIno.Add(1)
	i.mode.Store(uint32(mode))
	i.nlink.Store(1)
	i.uid.Store(uint32(kuid))
	i.gid.Store(uint32(kgid))
	now := fs.now()
	i.atime.Store(now)
	i.mtime.Store(now)
	i.ctime.Store(now)
	i.btime.Store(now)
	i.impl = impl
}

func (i *inode) incRef() { i.refs.Add(1) }

func (i *inode) decRef() {
	switch r := i.refs.Add(-1); {
	case r == 0:
		if rf, ok := i.impl.(*regularFile); ok {
			rf.release()
		}
	case r < 0:
		panic("tmpfs: inode.decRef without a reference")
	}
}

func (i *inode) getMode() uint16    { return uint16(i.mode.Load()) }
func (i *inode) getKUID() auth.KUID { return auth.KUID(i.uid.Load()) }
func (i *inode) getKGID() auth.KGID { return auth.KGID(i.gid.Load()) }
func (i *inode) isDir() bool        { return i.getMode()&linux.S_IFMT == linux.S_IFDIR }
func (i *inode) fileType() uint16   { return i.getMode() & linux.S_IFMT }
func (i *inode) incLinks()          { i.nlink.Add(1) }
func (i *inode) decLinks()          { i.nlink.Add(^uint32(0)) }
func (i *inode) touchCtime()        { i.ctime.Store(i.fs.now()) }
func (i *inode) touchCMtime()       { now := i.fs.now(); i.mtime.Store(now); i.ctime.Store(now) }
func (d *dentry) isDir() bool       { return d.inode.isDir() }
func (d *dentry) dir() *directory   { dir, _ := d.inode.impl.(*directory); return dir }
func (d *dentry) checkPermissions(creds *auth.Credentials, ats auth.AccessTypes) error {
	return d.inode.checkPermissions(creds, ats)
}

// checkPermissions checks whether creds may access i in the ways ats asks for.
func (i *inode) checkPermissions(creds *auth.Credentials, ats auth.AccessTypes) error {
	return auth.CheckPermission(creds, i.getMode(), i.getKUID(), i.getKGID(), ats)
}

// touchAtime updates the access time after a read through mnt, with relatime's
// rule (Linux's default): only if it is not newer than the modification or change
// time, or is a day old.
func (i *inode) touchAtime(mnt *vfs.Mount) {
	if mnt.Flags().NoATime || mnt.ReadOnly() {
		return
	}
	now := i.fs.now()
	atime := i.atime.Load()
	if atime <= i.mtime.Load() || atime <= i.ctime.Load() || now-atime >= int64(24*time.Hour) {
		i.atime.Store(now)
	}
}

// statTo fills stat with i's status.
func (i *inode) statTo(stat *linux.Statx) {
	stat.Mask = linux.STATX_BASIC_STATS | linux.STATX_BTIME
	stat.Blksize = pageSize
	stat.Nlink = i.nlink.Load()
	stat.UID = i.uid.Load()
	stat.GID = i.gid.Load()
	stat.Mode = i.getMode()
	stat.Ino = i.ino
	stat.Atime = toStatxTimestamp(i.atime.Load())
	stat.Mtime = toStatxTimestamp(i.mtime.Load())
	stat.Ctime = toStatxTimestamp(i.ctime.Load())
	stat.Btime = toStatxTimestamp(i.btime.Load())
	stat.DevMinor = i.fs.devMinor
	switch impl := i.impl.(type) {
	case *regularFile:
		stat.Size = uint64(impl.size.Load())
		stat.Blocks = uint64(impl.numPages.Load()) * (pageSize / 512)
	case *directory:
		stat.Size = uint64(bogoDirentSize * (impl.numChildren.Load() + 2))
	case *symlink:
		stat.Size = uint64(len(impl.target))
	case *deviceFile:
		stat.RdevMajor, stat.RdevMinor = impl.major, impl.minor
	}
}

func toStatxTimestamp(ns int64) linux.StatxTimestamp {
	return linux.StatxTimestamp{Sec: ns / 1e9, Nsec: uint32(ns % 1e9)}
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
	i.mu.Lock()
	defer i.mu.Unlock()
	mode := i.getMode()
	kuid, kgid := i.getKUID(), i.getKGID()
	if err := vfs.CheckSetStat(creds, opts, mode, kuid, kgid); err != nil {
		return err
	}
	now := i.fs.now()
	changed := false
	if stat.Mask&linux.STATX_SIZE != 0 {
		rf := i.impl.(*regularFile)
		if err := rf.truncate(int64(stat.Size)); err != nil {
			return err
		}
		i.mtime.Store(now)
		changed = true
		mode = killPrivs(creds, mode)
	}
	if stat.Mask&(linux.STATX_UID|linux.STATX_GID) != 0 {
		if stat.Mask&linux.STATX_UID != 0 {
			i.uid.Store(stat.UID)
			kuid = auth.KUID(stat.UID)
		}
		if stat.Mask&linux.STATX_GID != 0 {
			i.gid.Store(stat.GID)
			kgid = auth.KGID(stat.GID)
		}
		mode = vfs.KillSetIDOnChange(mode)
		changed = true
	}
	if stat.Mask&linux.STATX_MODE != 0 {
		mode = mode&linux.S_IFMT | stat.Mode&linux.PermissionsMask
		if !creds.InGroup(kgid) && !creds.HasCapability(linux.CAP_FSETID) {
			mode &^= linux.S_ISGID
		}
		changed = true
	}
	i.mode.Store(uint32(mode))
	if stat.Mask&linux.STATX_ATIME != 0 && stat.Atime.Nsec != linux.UTIME_OMIT {
		i.atime.Store(timestampOrNow(stat.Atime, now))
		changed = true
	}
	if stat.Mask&linux.STATX_MTIME != 0 && stat.Mtime.Nsec != linux.UTIME_OMIT {
		i.mtime.Store(timestampOrNow(stat.Mtime, now))
		changed = true
	}
	if changed {
		i.ctime.Store(now)
	}
	return nil
}

func timestampOrNow(ts linux.StatxTimestamp, now int64) int64 {
	if ts.Nsec == linux.UTIME_NOW {
		return now
	}
	return ts.Sec*1e9 + int64(ts.Nsec)
}

// killPrivs returns the mode a file keeps after creds wrote or truncated it:
// without CAP_FSETID, the set-user-ID and set-group-ID bits go.
func killPrivs(creds *auth.Credentials, mode uint16) uint16 {
	if creds.HasCapability(linux.CAP_FSETID) {
		return mode
	}
	return vfs.KillSetIDOnChange(mode)
}

// newInode returns a new file of fs.
func (fs *filesystem) newInode(kuid auth.KUID, kgid auth.KGID, mode uint16, impl any) *inode {
	i := &inode{}
	i.init(fs, kuid, kgid, mode, impl)
	return i
}
