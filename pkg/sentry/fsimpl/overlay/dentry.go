package overlay

import (
	"strings"
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// opaqueXattr marks an upper directory that hides the lower directory of its name.
const opaqueXattr = "trusted.overlay.opaque"

// overlayXattrPrefix is the namespace of the overlay's own xattrs.
const overlayXattrPrefix = "trusted.overlay."

// maxNegativeEntries bounds a directory's negative entries; see gofer's.
const maxNegativeEntries = 1000

// dentry is a name in the overlay.
type dentry struct {
	vfsd vfs.Dentry
	fs   *filesystem

	// refs counts the reference the parent's children map holds while the name
	// exists, and those the VFS holds. At zero the dentry drops its layers and
	// its parent.
	refs atomic.Int64

	// parent and name are protected by filesystem.renameMu. A dentry holds a
	// reference on its parent.
	parent *dentry
	name   string

	// ino is the overlay's inode number, ftype the S_IFMT bits: neither changes.
	ino   uint64
	ftype uint16
	// mode, uid and gid are the overlay's view of the file, for permission
	// checks: the top layer's, updated by every change made through the overlay.
	mode atomic.Uint32
	uid  atomic.Uint32
	gid  atomic.Uint32

	// copyMu serializes copy-up. upperVD is the file in the upper layer, zero
	// until copied up; once set it never changes, and copiedUp says so, for
	// readers that take no lock. lowerVD is the file in the lower layer, zero
	// if there is none (or the directory is opaque); it never changes. The
	// dentry holds a reference on each.
	copyMu   sync.Mutex
	upperVD  vfs.VirtualDentry
	copiedUp atomic.Bool
	lowerVD  vfs.VirtualDentry

	// target caches a symlink's target.
	target atomic.Pointer[string]

	// dirMu protects children (nil values are negative entries) and negatives,
	// and is held across the layer operations that change the directory.
	dirMu     sync.Mutex
	children  map[string]*dentry
	negatives int
}

// newDentry returns a dentry of the file with the attributes of top, named name in
// parent, taking over the callers' references on upperVD and lowerVD (either may be
// zero), with one reference for the caller.
func (fs *filesystem) newDentry(parent *dentry, name string, top *linux.Statx, ino uint64, upperVD, lowerVD vfs.VirtualDentry) *dentry {
	d := &dentry{fs: fs, parent: parent, name: name, ino: ino, ftype: top.Mode & linux.S_IFMT, upperVD: upperVD, lowerVD: lowerVD}
	d.vfsd.Init(d)
	d.refs.Store(1)
	d.setAttrs(top)
	if upperVD.Ok() {
		d.copiedUp.Store(true)
	}
	if d.ftype == linux.S_IFDIR {
		d.children = make(map[string]*dentry)
	}
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
		if d.upperVD.Ok() {
			d.upperVD.DecRef()
		}
		if d.lowerVD.Ok() {
			d.lowerVD.DecRef()
		}
		if d.parent != nil {
			d.parent.DecRef()
		}
	case r < 0:
		panic("overlay: dentry.DecRef without a reference")
	}
}

func (d *dentry) isDir() bool { return d.ftype == linux.S_IFDIR }

// topVD returns the layer file that shows through: the upper if there is one.
func (d *dentry) topVD() vfs.VirtualDentry {
	if d.copiedUp.Load() {
		return d.upperVD
	}
	return d.lowerVD
}

func (d *dentry) setAttrs(st *linux.Statx) {
	d.mode.Store(uint32(st.Mode))
	d.uid.Store(st.UID)
	d.gid.Store(st.GID)
}

func (d *dentry) getMode() uint16    { return uint16(d.mode.Load()) }
func (d *dentry) getKUID() auth.KUID { return auth.KUID(d.uid.Load()) }
func (d *dentry) getKGID() auth.KGID { return auth.KGID(d.gid.Load()) }

// checkPermissions checks whether creds may access d in the ways ats asks for.
func (d *dentry) checkPermissions(creds *auth.Credentials, ats auth.AccessTypes) error {
	return auth.CheckPermission(creds, d.getMode(), d.getKUID(), d.getKGID(), ats)
}

// layerPop names name in the layer directory vd, or vd itself if name is "", never
// following a final symlink.
func layerPop(vd vfs.VirtualDentry, name string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: vd, Start: vd, Path: name}
}

// statLayer returns the status of the layer file vd.
func (fs *filesystem) statLayer(ctx vfs.Context, vd vfs.VirtualDentry) (linux.Statx, error) {
	return fs.vfsObj.StatAt(ctx, fs.creds, layerPop(vd, ""), &vfs.StatOptions{Mask: linux.STATX_BASIC_STATS | linux.STATX_BTIME})
}

// lookupLayer returns the file name in the layer directory dir and its status, or
// ENOENT.
func (fs *filesystem) lookupLayer(ctx vfs.Context, dir vfs.VirtualDentry, name string) (vfs.VirtualDentry, linux.Statx, error) {
	vd, err := fs.vfsObj.GetDentryAt(ctx, fs.creds, layerPop(dir, name), &vfs.GetDentryOptions{})
	if err != nil {
		return vfs.VirtualDentry{}, linux.Statx{}, err
	}
	st, err := fs.statLayer(ctx, vd)
	if err != nil {
		vd.DecRef()
		return vfs.VirtualDentry{}, linux.Statx{}, err
	}
	return vd, st, nil
}

// isWhiteout reports whether an upper file is a whiteout: a character device 0:0.
func isWhiteout(st *linux.Statx) bool {
	return st.Mode&linux.S_IFMT == linux.S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0
}

// isOpaque reports whether the upper directory pop names hides the lower one.
func (fs *filesystem) isOpaque(ctx vfs.Context, pop *vfs.PathOperation) bool {
	v, err := fs.vfsObj.GetXattrAt(ctx, fs.creds, pop, &vfs.GetXattrOptions{Name: opaqueXattr})
	return err == nil && v == "y"
}

// lowerHas reports whether the lower layer has name under the directory parent (a
// removal of name must then leave a whiteout).
func (fs *filesystem) lowerHas(ctx vfs.Context, parent *dentry, name string) (bool, error) {
	if !parent.lowerVD.Ok() {
		return false, nil
	}
	_, err := fs.vfsObj.StatAt(ctx, fs.creds, layerPop(parent.lowerVD, name), &vfs.StatOptions{Mask: linux.STATX_TYPE})
	switch err {
	case nil:
		return true, nil
	case linux.ENOENT:
		return false, nil
	}
	return false, err
}

// lookupLocked returns the child name of the directory parent, looking in the layers
// when the cache does not know it, or ENOENT. The child is only safe to use while
// dirMu stays locked; take a reference to keep it. Preconditions:
// filesystem.renameMu is locked; parent.dirMu is locked.
func (fs *filesystem) lookupLocked(ctx vfs.Context, parent *dentry, name string) (*dentry, error) {
	if child, ok := parent.children[name]; ok {
		if child == nil {
			return nil, linux.ENOENT
		}
		return child, nil
	}
	if parent.vfsd.IsDead() {
		return nil, linux.ENOENT
	}
	var upperVD, lowerVD vfs.VirtualDentry
	var upperStat, lowerStat linux.Statx
	release := func() {
		if upperVD.Ok() {
			upperVD.DecRef()
		}
		if lowerVD.Ok() {
			lowerVD.DecRef()
		}
	}
	if parent.copiedUp.Load() {
		vd, st, err := fs.lookupLayer(ctx, parent.upperVD, name)
		switch {
		case err == nil && isWhiteout(&st):
			vd.DecRef()
			parent.addNegativeLocked(name)
			return nil, linux.ENOENT
		case err == nil:
			upperVD, upperStat = vd, st
		case err != linux.ENOENT:
			return nil, err
		}
	}
	// Below an upper non-directory nothing shows; below an upper directory, only
	// a lower directory (merged), unless the upper one is opaque.
	if parent.lowerVD.Ok() && (!upperVD.Ok() || upperStat.Mode&linux.S_IFMT == linux.S_IFDIR) {
		vd, st, err := fs.lookupLayer(ctx, parent.lowerVD, name)
		switch {
		case err == nil && upperVD.Ok() && (st.Mode&linux.S_IFMT != linux.S_IFDIR || fs.isOpaque(ctx, layerPop(upperVD, ""))):
			vd.DecRef()
		case err == nil:
			lowerVD, lowerStat = vd, st
		case err != linux.ENOENT:
			release()
			return nil, err
		}
	}
	var child *dentry
	switch {
	case upperVD.Ok() && lowerVD.Ok():
		child = fs.newDentry(parent, name, &upperStat, lowerStat.Ino, upperVD, lowerVD)
	case upperVD.Ok():
		child = fs.newDentry(parent, name, &upperStat, fs.upperIno(upperStat.Ino), upperVD, lowerVD)
	case lowerVD.Ok():
		child = fs.newDentry(parent, name, &lowerStat, lowerStat.Ino, upperVD, lowerVD)
	default:
		parent.addNegativeLocked(name)
		return nil, linux.ENOENT
	}
	parent.setChildLocked(name, child)
	return child, nil
}

// setChildLocked makes name a positive entry for d. Precondition: dirMu is locked.
func (dir *dentry) setChildLocked(name string, d *dentry) {
	if old, ok := dir.children[name]; ok && old == nil {
		dir.negatives--
	}
	dir.children[name] = d
}

// addNegativeLocked records that name does not exist. Precondition: dirMu is locked.
func (dir *dentry) addNegativeLocked(name string) {
	if dir.negatives >= maxNegativeEntries {
		for n, d := range dir.children {
			if d == nil {
				delete(dir.children, n)
			}
		}
		dir.negatives = 0
	}
	if old, ok := dir.children[name]; ok && old == nil {
		return
	}
	dir.children[name] = nil
	dir.negatives++
}

// readlink returns a symlink's target.
func (d *dentry) readlink(ctx vfs.Context) (string, error) {
	if t := d.target.Load(); t != nil {
		return *t, nil
	}
	target, err := d.fs.vfsObj.ReadlinkAt(ctx, d.fs.creds, layerPop(d.topVD(), ""))
	if err != nil {
		return "", err
	}
	d.target.Store(&target)
	return target, nil
}

// stat returns d's status: the top layer's, with the overlay's device and inode
// number.
func (d *dentry) stat(ctx vfs.Context) (linux.Statx, error) {
	st, err := d.fs.statLayer(ctx, d.topVD())
	if err != nil {
		return st, err
	}
	st.Ino = d.ino
	st.DevMajor, st.DevMinor = 0, d.fs.devMinor
	return st, nil
}

// isOverlayXattr reports whether name is one of the overlay's own xattrs.
func isOverlayXattr(name string) bool { return strings.HasPrefix(name, overlayXattrPrefix) }

// TopLayer returns the layer file behind the overlay dentry d: the upper one if the
// file was copied up or made through the overlay, else the lower one; ok is false if
// d is not an overlay dentry. The socket layer uses it to find the endpoint a unix
// socket file bound through the overlay keeps in its layer (tmpfs.BoundEndpoint).
func TopLayer(d *vfs.Dentry) (vd vfs.VirtualDentry, ok bool) {
	od, ok := d.Impl().(*dentry)
	if !ok {
		return vfs.VirtualDentry{}, false
	}
	return od.topVD(), true
}
