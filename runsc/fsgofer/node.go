package fsgofer

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
)

// Mount implements lisafs.Backend.Mount.
func (g *Gofer) Mount() (lisafs.ControlFD, linux.Statx, error) {
	fd, err := unix.FcntlInt(uintptr(g.root), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, linux.Statx{}, err
	}
	return g.controlFD(g.newNode(fd))
}

// controlFD converts newNode's results without turning a nil *node into a non-nil
// interface.
func (g *Gofer) controlFD(n *node, st linux.Statx, err error) (lisafs.ControlFD, linux.Statx, error) {
	if err != nil {
		return nil, linux.Statx{}, err
	}
	return n, st, nil
}

// node is one file of the served tree: lisafs's control FD.
type node struct {
	g *Gofer
	// fd is an O_PATH|O_NOFOLLOW descriptor of the file's inode.
	fd int
	// ftype is the file's S_IFMT bits. An inode never changes type, so checks on
	// it cannot race with the host.
	ftype uint32
}

// newNode takes ownership of the O_PATH descriptor fd.
func (g *Gofer) newNode(fd int) (*node, linux.Statx, error) {
	st, err := statFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, linux.Statx{}, err
	}
	return &node{g: g, fd: fd, ftype: uint32(st.Mode) & linux.S_IFMT}, st, nil
}

// resolveHow is how every name is resolved: beneath the directory, following no
// symlink of any kind. Names are single components already, so this is defence in
// depth against a bug in name checking.
const resolveHow = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openAt opens name in the directory dirFD without following anything.
func openAt(dirFD int, name string, flags uint64, mode uint32) (int, error) {
	if err := lisafs.CheckName(name); err != nil {
		return -1, err
	}
	how := unix.OpenHow{Flags: flags | unix.O_NOFOLLOW | unix.O_CLOEXEC, Mode: uint64(mode), Resolve: resolveHow}
	for {
		fd, err := unix.Openat2(dirFD, name, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// walkAt returns a node for name in the directory dirFD.
func (g *Gofer) walkAt(dirFD int, name string) (*node, linux.Statx, error) {
	fd, err := openAt(dirFD, name, unix.O_PATH, 0)
	if err != nil {
		return nil, linux.Statx{}, err
	}
	return g.newNode(fd)
}

// reopen opens the inode of the O_PATH descriptor fd anew with flags. The caller has
// checked the file is not a symlink: the magic link would lead to the symlink's
// inode, which open refuses anyway (ELOOP).
func (g *Gofer) reopen(fd int, flags int) (int, error) {
	for {
		nfd, err := unix.Openat(g.procSelfFD, strconv.Itoa(fd), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != unix.EINTR {
			return nfd, err
		}
	}
}

func statFD(fd int) (linux.Statx, error) {
	var s unix.Statx_t
	err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT,
		unix.STATX_BASIC_STATS|unix.STATX_BTIME, &s)
	if err != nil {
		return linux.Statx{}, err
	}
	ts := func(t unix.StatxTimestamp) linux.StatxTimestamp {
		return linux.StatxTimestamp{Sec: t.Sec, Nsec: t.Nsec}
	}
	return linux.Statx{
		Mask:           s.Mask,
		Blksize:        s.Blksize,
		Attributes:     s.Attributes,
		Nlink:          s.Nlink,
		UID:            s.Uid,
		GID:            s.Gid,
		Mode:           s.Mode,
		Ino:            s.Ino,
		Size:           s.Size,
		Blocks:         s.Blocks,
		AttributesMask: s.Attributes_mask,
		Atime:          ts(s.Atime),
		Btime:          ts(s.Btime),
		Ctime:          ts(s.Ctime),
		Mtime:          ts(s.Mtime),
		RdevMajor:      s.Rdev_major,
		RdevMinor:      s.Rdev_minor,
		DevMajor:       s.Dev_major,
		DevMinor:       s.Dev_minor,
	}, nil
}

// writable fails in read-only mode.
func (n *node) writable() error {
	if n.g.opts.ReadOnly {
		return linux.EROFS
	}
	return nil
}

// dir fails unless the node is a directory; mutating ones also need writable.
func (n *node) dir() error {
	if n.ftype != linux.S_IFDIR {
		return linux.ENOTDIR
	}
	return nil
}

func (n *node) mutableDir() error {
	if err := n.dir(); err != nil {
		return err
	}
	return n.writable()
}

// Stat implements lisafs.ControlFD.Stat.
func (n *node) Stat() (linux.Statx, error) {
	return statFD(n.fd)
}

// Walk implements lisafs.ControlFD.Walk.
func (n *node) Walk(name string) (lisafs.ControlFD, linux.Statx, error) {
	if err := n.dir(); err != nil {
		return nil, linux.Statx{}, err
	}
	return n.g.controlFD(n.g.walkAt(n.fd, name))
}

// Open flags the client may ask for. Anything else (O_CREAT, O_PATH, O_TMPFILE, ...)
// has no business here and is refused.
const (
	allowedOpenFlags = linux.O_ACCMODE | linux.O_TRUNC | linux.O_APPEND | linux.O_NONBLOCK |
		linux.O_SYNC | linux.O_DIRECT | linux.O_NOATIME | linux.O_LARGEFILE |
		linux.O_DIRECTORY | linux.O_NOFOLLOW | linux.O_CLOEXEC | linux.O_NOCTTY
	// hostOpenFlags are those passed on to the host's open.
	hostOpenFlags = linux.O_ACCMODE | linux.O_TRUNC | linux.O_APPEND | linux.O_NONBLOCK |
		linux.O_SYNC | linux.O_DIRECT | linux.O_NOATIME
)

// checkOpenFlags validates a client's open flags and returns the host's.
func (n *node) checkOpenFlags(flags uint32) (int, error) {
	if flags&^allowedOpenFlags != 0 || flags&linux.O_ACCMODE == linux.O_ACCMODE {
		return 0, linux.EINVAL
	}
	if n.g.opts.ReadOnly && (flags&linux.O_ACCMODE != linux.O_RDONLY || flags&linux.O_TRUNC != 0) {
		return 0, linux.EROFS
	}
	return int(flags & hostOpenFlags), nil
}

// Open implements lisafs.ControlFD.Open.
//
// Regular files are opened and a duplicate is donated; the Gofer keeps its own for
// FSync. FIFOs are opened non-blocking (a blocked open would stall the channel; the
// Sentry does its own waiting) and donated without keeping a copy, which would hold
// the pipe open and hide EOF from readers. Directories are opened for Getdents64 but
// never donated: a host directory FD in the Sentry would let it open host paths.
// Sockets fail with ENXIO as on Linux. Character and block devices fail with EPERM,
// always: the Sentry implements /dev itself and never needs a host device, while a
// device node in an image (or put there by someone on the host) would hand the
// sandbox raw host hardware or kernel interfaces.
func (n *node) Open(flags uint32) (lisafs.OpenFD, int, error) {
	hostFlags, err := n.checkOpenFlags(flags)
	if err != nil {
		return nil, -1, err
	}
	if flags&linux.O_DIRECTORY != 0 && n.ftype != linux.S_IFDIR {
		return nil, -1, linux.ENOTDIR
	}
	switch n.ftype {
	case linux.S_IFDIR:
		if flags&(linux.O_ACCMODE|linux.O_TRUNC) != linux.O_RDONLY {
			return nil, -1, linux.EISDIR
		}
		fd, err := n.g.reopen(n.fd, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return nil, -1, err
		}
		return &dirFD{fd: fd}, -1, nil
	case linux.S_IFREG:
		fd, err := n.g.reopen(n.fd, hostFlags)
		if err != nil {
			return nil, -1, err
		}
		return donateRegular(fd)
	case linux.S_IFIFO:
		fd, err := n.g.reopen(n.fd, hostFlags|unix.O_NONBLOCK)
		if err != nil {
			return nil, -1, err
		}
		return fifoFD{}, fd, nil
	case linux.S_IFLNK:
		return nil, -1, linux.ELOOP
	case linux.S_IFSOCK:
		return nil, -1, linux.ENXIO
	default:
		return nil, -1, linux.EPERM
	}
}

// donateRegular keeps the open regular file fd and returns a duplicate to donate.
func donateRegular(fd int) (lisafs.OpenFD, int, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return nil, -1, err
	}
	return &fileFD{fd: fd}, dup, nil
}

// chown sets the owner of a file the client just made, unless it asked for NoID.
func chown(fd int, uid, gid uint32) error {
	if uid == lisafs.NoID && gid == lisafs.NoID {
		return nil
	}
	return unix.Fchownat(fd, "", int(int32(uid)), int(int32(gid)), unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
}

// OpenCreate implements lisafs.ControlFD.OpenCreate.
func (n *node) OpenCreate(name string, mode, uid, gid, flags uint32) (lisafs.ControlFD, linux.Statx, lisafs.OpenFD, int, error) {
	fail := func(err error) (lisafs.ControlFD, linux.Statx, lisafs.OpenFD, int, error) {
		return nil, linux.Statx{}, nil, -1, err
	}
	if err := n.mutableDir(); err != nil {
		return fail(err)
	}
	hostFlags, err := n.checkOpenFlags(flags)
	if err != nil {
		return fail(err)
	}
	if flags&linux.O_DIRECTORY != 0 {
		return fail(linux.EINVAL)
	}
	fd, err := openAt(n.fd, name, uint64(hostFlags|unix.O_CREAT|unix.O_EXCL), mode&linux.PermissionsMask)
	if err != nil {
		return fail(err)
	}
	// The control FD is the new inode itself, not whatever the name may meanwhile
	// have become.
	cfd, err := n.g.reopen(fd, unix.O_PATH)
	if err == nil {
		err = chown(cfd, uid, gid)
		if err != nil {
			unix.Close(cfd)
		}
	}
	if err != nil {
		unix.Close(fd)
		unix.Unlinkat(n.fd, name, 0)
		return fail(err)
	}
	child, st, err := n.g.newNode(cfd)
	if err != nil {
		unix.Close(fd)
		return fail(err)
	}
	ofd, donate, err := donateRegular(fd)
	if err != nil {
		child.Close()
		return fail(err)
	}
	return child, st, ofd, donate, nil
}

// made finishes a request that made name in n: it takes a node for the new file and
// sets its owner, removing the file again if that fails.
func (n *node) made(name string, uid, gid uint32, unlinkFlags int) (lisafs.ControlFD, linux.Statx, error) {
	child, _, err := n.g.walkAt(n.fd, name)
	if err == nil {
		if err = chown(child.fd, uid, gid); err != nil {
			child.Close()
		}
	}
	if err != nil {
		unix.Unlinkat(n.fd, name, unlinkFlags)
		return nil, linux.Statx{}, err
	}
	// Stat after chown: ctime and owner are those the client will see next.
	st, err := child.Stat()
	if err != nil {
		child.Close()
		return nil, linux.Statx{}, err
	}
	return child, st, nil
}

// Mkdir implements lisafs.ControlFD.Mkdir.
func (n *node) Mkdir(name string, mode, uid, gid uint32) (lisafs.ControlFD, linux.Statx, error) {
	if err := n.mutableDir(); err != nil {
		return nil, linux.Statx{}, err
	}
	if err := lisafs.CheckName(name); err != nil {
		return nil, linux.Statx{}, err
	}
	if err := unix.Mkdirat(n.fd, name, mode&linux.PermissionsMask); err != nil {
		return nil, linux.Statx{}, err
	}
	return n.made(name, uid, gid, unix.AT_REMOVEDIR)
}

// Mknod implements lisafs.ControlFD.Mknod. Only regular files, FIFOs and sockets:
// a device node would be a way to reach host devices (see Open).
func (n *node) Mknod(name string, mode, uid, gid uint32) (lisafs.ControlFD, linux.Statx, error) {
	if err := n.mutableDir(); err != nil {
		return nil, linux.Statx{}, err
	}
	if err := lisafs.CheckName(name); err != nil {
		return nil, linux.Statx{}, err
	}
	switch mode & linux.S_IFMT {
	case 0, linux.S_IFREG, linux.S_IFIFO, linux.S_IFSOCK:
	default:
		return nil, linux.Statx{}, linux.EPERM
	}
	if err := unix.Mknodat(n.fd, name, mode&(linux.S_IFMT|linux.PermissionsMask), 0); err != nil {
		return nil, linux.Statx{}, err
	}
	return n.made(name, uid, gid, 0)
}

// Symlink implements lisafs.ControlFD.Symlink. The target is stored, never resolved
// here: it may point anywhere, and means something only inside the sandbox.
func (n *node) Symlink(name, target string, uid, gid uint32) (lisafs.ControlFD, linux.Statx, error) {
	if err := n.mutableDir(); err != nil {
		return nil, linux.Statx{}, err
	}
	if err := lisafs.CheckName(name); err != nil {
		return nil, linux.Statx{}, err
	}
	switch {
	case target == "":
		return nil, linux.Statx{}, linux.ENOENT
	case strings.IndexByte(target, 0) >= 0:
		return nil, linux.Statx{}, linux.EINVAL
	}
	if err := unix.Symlinkat(target, n.fd, name); err != nil {
		return nil, linux.Statx{}, err
	}
	return n.made(name, uid, gid, 0)
}

// Link implements lisafs.ControlFD.Link. The link is made from the target's inode
// through /proc/self/fd, so no path is resolved and a symlink target is linked
// itself, not followed.
func (n *node) Link(name string, target lisafs.ControlFD) (lisafs.ControlFD, linux.Statx, error) {
	if err := n.mutableDir(); err != nil {
		return nil, linux.Statx{}, err
	}
	if err := lisafs.CheckName(name); err != nil {
		return nil, linux.Statx{}, err
	}
	t, ok := target.(*node)
	if !ok || t.g != n.g {
		return nil, linux.Statx{}, linux.EXDEV
	}
	if t.ftype == linux.S_IFDIR {
		return nil, linux.Statx{}, linux.EPERM
	}
	if err := unix.Linkat(n.g.procSelfFD, strconv.Itoa(t.fd), n.fd, name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return nil, linux.Statx{}, err
	}
	return n.g.controlFD(n.g.walkAt(n.fd, name))
}

// UnlinkAt implements lisafs.ControlFD.UnlinkAt.
func (n *node) UnlinkAt(name string, flags uint32) error {
	if err := n.mutableDir(); err != nil {
		return err
	}
	if err := lisafs.CheckName(name); err != nil {
		return err
	}
	if flags&^linux.AT_REMOVEDIR != 0 {
		return linux.EINVAL
	}
	return unix.Unlinkat(n.fd, name, int(flags))
}

// RenameAt implements lisafs.ControlFD.RenameAt.
func (n *node) RenameAt(oldName string, newDir lisafs.ControlFD, newName string, flags uint32) error {
	if err := n.mutableDir(); err != nil {
		return err
	}
	nd, ok := newDir.(*node)
	if !ok || nd.g != n.g {
		return linux.EXDEV
	}
	if err := nd.dir(); err != nil {
		return err
	}
	if err := lisafs.CheckName(oldName); err != nil {
		return err
	}
	if err := lisafs.CheckName(newName); err != nil {
		return err
	}
	if flags&^(linux.RENAME_NOREPLACE|linux.RENAME_EXCHANGE) != 0 {
		return linux.EINVAL
	}
	return unix.Renameat2(n.fd, oldName, nd.fd, newName, uint(flags))
}

// Readlink implements lisafs.ControlFD.Readlink.
func (n *node) Readlink() (string, error) {
	if n.ftype != linux.S_IFLNK {
		return "", linux.EINVAL
	}
	buf := make([]byte, linux.PATH_MAX)
	m, err := unix.Readlinkat(n.fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:m]), nil
}

// SetStat implements lisafs.ControlFD.SetStat: owner first (chown clears set-ID
// bits, so a mode set with it must come after), then mode, size, and times last
// (truncating changes mtime).
func (n *node) SetStat(req lisafs.SetStatRequest) error {
	if err := n.writable(); err != nil {
		return err
	}
	if req.Mask&(linux.STATX_UID|linux.STATX_GID) != 0 {
		uid, gid := -1, -1
		if req.Mask&linux.STATX_UID != 0 {
			uid = int(req.UID)
		}
		if req.Mask&linux.STATX_GID != 0 {
			gid = int(req.GID)
		}
		if err := unix.Fchownat(n.fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	if req.Mask&linux.STATX_MODE != 0 {
		if n.ftype == linux.S_IFLNK {
			return linux.EOPNOTSUPP
		}
		if err := unix.Fchmodat(n.g.procSelfFD, strconv.Itoa(n.fd), req.Mode&linux.PermissionsMask, 0); err != nil {
			return err
		}
	}
	if req.Mask&linux.STATX_SIZE != 0 {
		if err := n.truncate(int64(req.Size)); err != nil {
			return err
		}
	}
	if req.Mask&(linux.STATX_ATIME|linux.STATX_MTIME) != 0 {
		ts := [2]unix.Timespec{{Nsec: linux.UTIME_OMIT}, {Nsec: linux.UTIME_OMIT}}
		if req.Mask&linux.STATX_ATIME != 0 {
			ts[0] = unix.Timespec{Sec: req.Atime.Sec, Nsec: int64(req.Atime.Nsec)}
		}
		if req.Mask&linux.STATX_MTIME != 0 {
			ts[1] = unix.Timespec{Sec: req.Mtime.Sec, Nsec: int64(req.Mtime.Nsec)}
		}
		if err := unix.UtimesNanoAt(n.fd, "", ts[:], unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

func (n *node) truncate(size int64) error {
	switch n.ftype {
	case linux.S_IFREG:
	case linux.S_IFDIR:
		return linux.EISDIR
	default:
		return linux.EINVAL
	}
	if size < 0 {
		return linux.EINVAL
	}
	fd, err := n.g.reopen(n.fd, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Ftruncate(fd, size)
}

// StatFS implements lisafs.ControlFD.StatFS.
func (n *node) StatFS() (lisafs.StatFS, error) {
	var s unix.Statfs_t
	if err := unix.Fstatfs(n.fd, &s); err != nil {
		return lisafs.StatFS{}, err
	}
	return lisafs.StatFS{
		Type:            uint64(s.Type),
		BlockSize:       s.Bsize,
		Blocks:          s.Blocks,
		BlocksFree:      s.Bfree,
		BlocksAvailable: s.Bavail,
		Files:           s.Files,
		FilesFree:       s.Ffree,
		NameLength:      uint64(s.Namelen),
		FragmentSize:    s.Frsize,
	}, nil
}

// Close implements lisafs.ControlFD.Close.
func (n *node) Close() {
	unix.Close(n.fd)
}
