package vfs

import (
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// MountFlags are the per-mount flags mount(2) sets besides read-only.
type MountFlags struct {
	// NoATime is MS_NOATIME: reads never update access times.
	NoATime bool
	// NoDev is MS_NODEV: device nodes cannot be opened.
	NoDev bool
	// NoExec is MS_NOEXEC: files cannot be executed or mapped executable.
	NoExec bool
	// NoSUID is MS_NOSUID: set-user-ID and set-group-ID bits are ignored by exec.
	NoSUID bool
}

// MountOptions are options of mounting.
type MountOptions struct {
	Flags    MountFlags
	ReadOnly bool
	// GetFilesystemOptions are passed to the filesystem type.
	GetFilesystemOptions GetFilesystemOptions
	// InternalMount lets the kernel mount types that mount(2) may not.
	InternalMount bool
}

// Mount is a filesystem (or a subtree of one, for bind mounts) attached to the mount
// tree (struct vfsmount).
type Mount struct {
	vfs  *VirtualFilesystem
	fs   *Filesystem
	root *Dentry
	// ID is the mount ID of /proc/[pid]/mountinfo.
	ID    uint64
	flags MountFlags

	readOnly atomic.Bool

	// refs is the number of references: one while the mount is in a tree (or,
	// for a disconnected mount, held by its creator), one per VirtualDentry held
	// on it, one per child mount. At zero the mount drops its root and
	// filesystem.
	refs atomic.Int64

	// The following are protected by vfs.mountMu.
	//
	// point is where the mount is attached: a dentry of its parent mount. It is
	// the zero VirtualDentry for a namespace's root and for mounts not in a tree.
	point VirtualDentry
	// ns is the namespace the mount belongs to, nil if none.
	ns *MountNamespace
	// children are the mounts attached to dentries of this one.
	children map[*Mount]struct{}
}

// Filesystem returns the filesystem mnt shows.
func (mnt *Mount) Filesystem() *Filesystem { return mnt.fs }

// Root returns the dentry at the root of mnt.
func (mnt *Mount) Root() *Dentry { return mnt.root }

// Flags returns mnt's flags.
func (mnt *Mount) Flags() MountFlags { return mnt.flags }

// ReadOnly reports whether mnt is read-only.
func (mnt *Mount) ReadOnly() bool { return mnt.readOnly.Load() }

// SetReadOnly makes mnt read-only or read-write (mount -o remount,ro).
func (mnt *Mount) SetReadOnly(ro bool) { mnt.readOnly.Store(ro) }

// CheckWritable fails with EROFS if mnt is read-only. Filesystems call it before
// changing anything through mnt.
func (mnt *Mount) CheckWritable() error {
	if mnt.ReadOnly() {
		return linux.EROFS
	}
	return nil
}

// IncRef takes a reference on mnt.
func (mnt *Mount) IncRef() { mnt.refs.Add(1) }

// DecRef drops a reference on mnt.
func (mnt *Mount) DecRef() {
	switch r := mnt.refs.Add(-1); {
	case r == 0:
		mnt.root.DecRef()
		mnt.fs.DecRef()
	case r < 0:
		panic("vfs: Mount.DecRef without a reference")
	}
}

func (mnt *Mount) addStatfsFlags(st *linux.Statfs) {
	if mnt.ReadOnly() {
		st.Flags |= linux.ST_RDONLY
	}
	if mnt.flags.NoSUID {
		st.Flags |= linux.ST_NOSUID
	}
	if mnt.flags.NoDev {
		st.Flags |= linux.ST_NODEV
	}
	if mnt.flags.NoExec {
		st.Flags |= linux.ST_NOEXEC
	}
	if mnt.flags.NoATime {
		st.Flags |= linux.ST_NOATIME
	}
}

// MountNamespace is a tree of mounts.
type MountNamespace struct {
	// Owner is the user namespace that owns the mount namespace.
	Owner *auth.UserNamespace
	root  *Mount
}

// Root returns the root of ns, with a reference the caller must drop.
func (ns *MountNamespace) Root() VirtualDentry {
	vd := VirtualDentry{mount: ns.root, dentry: ns.root.root}
	vd.IncRef()
	return vd
}

// NewMountNamespace returns a mount namespace whose root is a new filesystem of the
// type fsTypeName.
func (vfs *VirtualFilesystem) NewMountNamespace(ctx Context, creds *auth.Credentials, source, fsTypeName string, opts *MountOptions) (*MountNamespace, error) {
	mnt, err := vfs.MountDisconnected(ctx, creds, source, fsTypeName, opts)
	if err != nil {
		return nil, err
	}
	ns := &MountNamespace{Owner: creds.UserNamespace, root: mnt}
	vfs.mountMu.Lock()
	mnt.ns = ns
	vfs.mountMu.Unlock()
	return ns, nil
}

// NewDisconnectedMount returns a mount of fs at root that is in no tree, with one
// reference for the caller. It takes its own references on fs and root. The kernel
// uses such mounts for filesystems that have no path (pipefs) and to populate a
// filesystem before mounting it.
func (vfs *VirtualFilesystem) NewDisconnectedMount(fs *Filesystem, root *Dentry, opts *MountOptions) *Mount {
	fs.IncRef()
	root.IncRef()
	mnt := &Mount{
		vfs:      vfs,
		fs:       fs,
		root:     root,
		flags:    opts.Flags,
		children: make(map[*Mount]struct{}),
	}
	mnt.readOnly.Store(opts.ReadOnly)
	mnt.refs.Store(1)
	vfs.mountMu.Lock()
	vfs.lastMountID++
	mnt.ID = vfs.lastMountID
	vfs.mountMu.Unlock()
	return mnt
}

// MountDisconnected makes a new filesystem of the type fsTypeName and returns a
// disconnected mount of it (see NewDisconnectedMount).
func (vfs *VirtualFilesystem) MountDisconnected(ctx Context, creds *auth.Credentials, source, fsTypeName string, opts *MountOptions) (*Mount, error) {
	rft := vfs.getFilesystemType(fsTypeName)
	if rft == nil || (!rft.opts.AllowUserMount && !opts.InternalMount) {
		return nil, linux.ENODEV
	}
	fs, root, err := rft.fsType.GetFilesystem(ctx, vfs, creds, source, opts.GetFilesystemOptions)
	if err != nil {
		return nil, err
	}
	mnt := vfs.NewDisconnectedMount(fs, root, opts)
	root.DecRef()
	fs.DecRef()
	return mnt, nil
}

// MountAt mounts a new filesystem of the type fsTypeName at target (mount(2)). It
// returns the new mount, which the tree holds the reference on.
func (vfs *VirtualFilesystem) MountAt(ctx Context, creds *auth.Credentials, source string, target *PathOperation, fsTypeName string, opts *MountOptions) (*Mount, error) {
	if !creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return nil, linux.EPERM
	}
	mnt, err := vfs.MountDisconnected(ctx, creds, source, fsTypeName, opts)
	if err != nil {
		return nil, err
	}
	if err := vfs.connectMountAt(ctx, creds, mnt, target); err != nil {
		mnt.DecRef()
		return nil, err
	}
	return mnt, nil
}

// BindAt mounts the subtree source names at target (mount --bind, not recursive). It
// returns the new mount, which the tree holds the reference on.
func (vfs *VirtualFilesystem) BindAt(ctx Context, creds *auth.Credentials, source, target *PathOperation) (*Mount, error) {
	if !creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return nil, linux.EPERM
	}
	sourceVD, err := vfs.GetDentryAt(ctx, creds, source, &GetDentryOptions{})
	if err != nil {
		return nil, err
	}
	opts := MountOptions{Flags: sourceVD.mount.flags, ReadOnly: sourceVD.mount.ReadOnly()}
	mnt := vfs.NewDisconnectedMount(sourceVD.mount.fs, sourceVD.dentry, &opts)
	sourceVD.DecRef()
	if err := vfs.connectMountAt(ctx, creds, mnt, target); err != nil {
		mnt.DecRef()
		return nil, err
	}
	return mnt, nil
}

// connectMountAt attaches the disconnected mount mnt at target, taking over the
// caller's reference on mnt if it succeeds.
func (vfs *VirtualFilesystem) connectMountAt(ctx Context, creds *auth.Credentials, mnt *Mount, target *PathOperation) error {
	vd, err := vfs.GetDentryAt(ctx, creds, target, &GetDentryOptions{})
	if err != nil {
		return err
	}
	if err := vfs.checkMountTypes(ctx, creds, VirtualDentry{mount: mnt, dentry: mnt.root}, vd); err != nil {
		vd.DecRef()
		return err
	}
	d := vd.dentry
	d.mu.Lock()
	if d.IsDead() {
		d.mu.Unlock()
		vd.DecRef()
		return linux.ENOENT
	}
	vfs.mountMu.Lock()
	if vd.mount.ns == nil {
		vfs.mountMu.Unlock()
		d.mu.Unlock()
		vd.DecRef()
		return linux.EINVAL
	}
	// Something may have been mounted at vd since it was resolved: mount on
	// top of it, as the walk would have led there.
	point := vd
	for top := vfs.mounts[point]; top != nil; top = vfs.mounts[point] {
		point = VirtualDentry{mount: top, dentry: top.root}
	}
	point.IncRef()
	mnt.point = point
	mnt.ns = point.mount.ns
	vfs.mounts[point] = mnt
	point.dentry.mounts.Add(1)
	point.mount.children[mnt] = struct{}{}
	vfs.mountMu.Unlock()
	d.mu.Unlock()
	vd.DecRef()
	return nil
}

// checkMountTypes applies Linux's rules for what may be mounted where
// (do_add_mount, graft_tree): a directory only on a directory, a non-directory only
// on a non-directory (a file bind-mounted over a file, as container runtimes do
// for /etc/hosts), both failing with ENOTDIR otherwise; a symlink is never mounted
// (EINVAL). A file type never changes, so the answer holds for the point the mount
// is finally attached at, which is point itself or what was meanwhile mounted on
// it: a mount's root has the type of its mountpoint.
func (vfs *VirtualFilesystem) checkMountTypes(ctx Context, creds *auth.Credentials, root, point VirtualDentry) error {
	rootType, err := vfs.fileType(ctx, creds, root)
	if err != nil {
		return err
	}
	if rootType == linux.S_IFLNK {
		return linux.EINVAL
	}
	pointType, err := vfs.fileType(ctx, creds, point)
	if err != nil {
		return err
	}
	if (rootType == linux.S_IFDIR) != (pointType == linux.S_IFDIR) {
		return linux.ENOTDIR
	}
	return nil
}

// fileType returns the S_IFMT bits of the file at vd.
func (vfs *VirtualFilesystem) fileType(ctx Context, creds *auth.Credentials, vd VirtualDentry) (uint16, error) {
	stat, err := vfs.StatAt(ctx, creds, &PathOperation{Root: vd, Start: vd}, &StatOptions{Mask: linux.STATX_TYPE})
	if err != nil {
		return 0, err
	}
	return stat.Mode & linux.S_IFMT, nil
}

// UmountAt unmounts the mount whose root pop names (umount2(2)). Without MNT_DETACH
// it fails with EBUSY while the mount has mounts beneath it or anything (an open
// file, a working directory) refers to it; with MNT_DETACH the mount and its
// descendants leave the tree at once and go away when the last reference does.
func (vfs *VirtualFilesystem) UmountAt(ctx Context, creds *auth.Credentials, pop *PathOperation, opts *UmountOptions) error {
	if opts.Flags&^(linux.MNT_FORCE|linux.MNT_DETACH|linux.MNT_EXPIRE|linux.UMOUNT_NOFOLLOW) != 0 {
		return linux.EINVAL
	}
	if opts.Flags&linux.MNT_EXPIRE != 0 && opts.Flags&(linux.MNT_FORCE|linux.MNT_DETACH) != 0 {
		return linux.EINVAL
	}
	if !creds.HasCapability(linux.CAP_SYS_ADMIN) {
		return linux.EPERM
	}
	p := *pop
	p.FollowFinalSymlink = opts.Flags&linux.UMOUNT_NOFOLLOW == 0
	vd, err := vfs.GetDentryAt(ctx, creds, &p, &GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef()
	if vd.dentry != vd.mount.root {
		return linux.EINVAL
	}
	mnt := vd.mount
	vfs.mountMu.Lock()
	if mnt.ns == nil || !mnt.point.Ok() {
		vfs.mountMu.Unlock()
		return linux.EINVAL
	}
	// The tree's reference and vd's are expected.
	if opts.Flags&linux.MNT_DETACH == 0 && (len(mnt.children) != 0 || mnt.refs.Load() > 2) {
		vfs.mountMu.Unlock()
		return linux.EBUSY
	}
	var detached []*Mount
	vfs.umountTreeLocked(mnt, &detached)
	vfs.mountMu.Unlock()
	for _, m := range detached {
		m.point.DecRef()
		m.point = VirtualDentry{}
		m.DecRef()
	}
	return nil
}

// umountTreeLocked takes mnt and its descendants out of the tree, appending them to
// detached; the caller drops their references on their points and the tree's
// references on them. Precondition: vfs.mountMu is locked.
func (vfs *VirtualFilesystem) umountTreeLocked(mnt *Mount, detached *[]*Mount) {
	for child := range mnt.children {
		vfs.umountTreeLocked(child, detached)
	}
	delete(vfs.mounts, mnt.point)
	mnt.point.dentry.mounts.Add(-1)
	delete(mnt.point.mount.children, mnt)
	mnt.ns = nil
	*detached = append(*detached, mnt)
}

// getMountAt returns the mount on top of those attached at d in mnt, or nil if
// there is none. It takes no reference: the walk that calls it holds none either.
func (vfs *VirtualFilesystem) getMountAt(mnt *Mount, d *Dentry) *Mount {
	vfs.mountMu.RLock()
	defer vfs.mountMu.RUnlock()
	top := vfs.mounts[VirtualDentry{mount: mnt, dentry: d}]
	if top == nil {
		return nil
	}
	for next := vfs.mounts[VirtualDentry{mount: top, dentry: top.root}]; next != nil; next = vfs.mounts[VirtualDentry{mount: top, dentry: top.root}] {
		top = next
	}
	return top
}

// getMountpointAt returns where mnt is attached, or the zero VirtualDentry if it is
// not attached (a namespace's root, a disconnected or detached mount).
func (vfs *VirtualFilesystem) getMountpointAt(mnt *Mount) VirtualDentry {
	vfs.mountMu.RLock()
	defer vfs.mountMu.RUnlock()
	return mnt.point
}
