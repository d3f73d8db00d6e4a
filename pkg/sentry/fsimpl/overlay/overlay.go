// Package overlay is an overlay filesystem: one read-only lower layer (the
// gofer-backed rootfs) under one writable upper layer (a tmpfs the overlay owns), so
// that a container's writes stay in the Sentry's memory and never reach the host's
// copy of its image.
//
// # Mounting the root
//
// The boot code mounts the lower and upper layers as disconnected mounts and roots a
// mount namespace in an overlay of them:
//
//	vfsObj.MustRegisterFilesystemType(gofer.Name, gofer.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{})
//	vfsObj.MustRegisterFilesystemType(tmpfs.Name, tmpfs.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserMount: true, AllowUserList: true})
//	vfsObj.MustRegisterFilesystemType(overlay.Name, overlay.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserList: true})
//	client, _ := lisafs.NewClient(goferFD, lisafs.ClientOptions{})
//	lower, _ := vfsObj.MountDisconnected(ctx, creds, "", gofer.Name, &vfs.MountOptions{ReadOnly: true, InternalMount: true,
//		GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &gofer.FilesystemOpts{Client: client}}})
//	upper, _ := vfsObj.MountDisconnected(ctx, creds, "", tmpfs.Name, &vfs.MountOptions{InternalMount: true})
//	mntns, _ := vfsObj.NewMountNamespace(ctx, creds, "", overlay.Name, &vfs.MountOptions{InternalMount: true,
//		GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &overlay.FilesystemOpts{
//			Lower: vfs.MakeVirtualDentry(lower, lower.Root()),
//			Upper: vfs.MakeVirtualDentry(upper, upper.Root()),
//		}}})
//	lower.DecRef() // the overlay holds its own references
//	upper.DecRef()
//
// New does the same for callers that want the filesystem and root themselves.
//
// # Layers
//
// The layers are reached only through the VFS (the VirtualFilesystem's path
// operations on a layer's VirtualDentry, one component at a time, never following a
// symlink), with the credentials the overlay was made with, as Linux's overlayfs
// uses its mounter's: the overlay checks permissions itself, against its own view of
// each file. Both layers are assumed to change only through the overlay, so that
// view (a dentry's layers, mode and owner) is cached for as long as the name exists.
//
// A file is in the upper layer, the lower, or (a directory) both, merged. Lookups
// look in the upper first; an upper directory merges with a lower directory of the
// same name unless it is opaque.
//
//   - Copy-up: before a lower file is changed (opened for writing or O_TRUNC,
//     chmod, chown, utimes, truncate, setxattr, link, rename) its parents are made in
//     the upper layer, then the file is copied there: data, owner, mode, times and
//     user.* xattrs. A description opened on the lower file before switches to the
//     upper copy at its next operation, keeping its offset.
//   - Whiteouts: removing a name the lower layer has leaves a character device 0:0
//     in the upper layer (Linux's representation), which hides the lower file from
//     lookups and listings.
//   - Opaque directories: a directory made where a whiteout was (rmdir then mkdir,
//     or a rename over a removed lower name) carries the xattr
//     trusted.overlay.opaque=y, and the lower directory of that name stays hidden.
//     trusted.overlay.* names are the overlay's own: applications can neither see
//     nor set them.
//   - Renaming a directory that has a lower part fails with EXDEV, as Linux's
//     overlayfs does without redirect_dir; applications (mv) then copy.
//   - Hard links to a lower file are made after copying it up; copying up one of
//     several lower links to one file breaks the link (Linux without index=on).
//
// # Inode numbers
//
// st_dev is the overlay's own anonymous device for every file. st_ino is stable
// across copy-up, in the spirit of Linux's xino: a file that came from the lower
// layer keeps the lower inode number (directories, merged or not, too); a file that
// only ever lived in the upper layer has the upper inode number with bit 63 set, so
// the two spaces never collide (lower inode numbers are assumed below 2^63). The
// overlay remembers which upper inode each copy-up made, so a later lookup of the
// copy (through a hard link made after copy-up, or after a rename) finds the
// original number. statfs reports the upper layer's figures with overlayfs's magic.
//
// # Locking
//
// filesystem.renameMu protects every dentry's parent and name: path operations, and
// copy-up, hold it for reading, RenameAt for writing. A directory's dirMu protects
// its children map and is held across the layer operations that look up, create or
// remove names in it. A dentry's copyMu serializes its copy-up. Lock order:
// renameMu, then dirMu (ancestors first), then copyMu (of the directory itself or of
// its children), then filesystem.inoMu; the layers' own locks nest inside all of
// these (the layers never call back into the overlay). vfs.Dentry locks
// (Prepare*Dentry) nest inside dirMu.
package overlay

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Name is the filesystem type's name.
const Name = "overlay"

// overlayfsSuperMagic is statfs's f_type for overlays (OVERLAYFS_SUPER_MAGIC).
const overlayfsSuperMagic = 0x794c7630

// FilesystemOpts are GetFilesystemOptions.InternalData for an overlay: the kernel
// makes these, never mount(2).
type FilesystemOpts struct {
	// Lower is the root of the read-only lower layer. The overlay never changes
	// it.
	Lower vfs.VirtualDentry
	// Upper is the root of the writable upper layer, which the overlay owns: a
	// tmpfs (it must support device nodes for whiteouts and trusted.* xattrs for
	// opaque directories), changed by nothing else.
	Upper vfs.VirtualDentry
}

// FilesystemType makes overlays. Register it for internal mounts only.
type FilesystemType struct{}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem. opts.InternalData must
// be a *FilesystemOpts; mount(2) data is not accepted.
func (FilesystemType) GetFilesystem(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	fo, ok := opts.InternalData.(*FilesystemOpts)
	if !ok || opts.Data != "" {
		return nil, nil, linux.EINVAL
	}
	return New(ctx, vfsObj, creds, fo)
}

// New returns an overlay of opts.Upper over opts.Lower and its root, each with a
// reference for the caller. The overlay takes its own references on the layers and
// does all its layer operations with creds (the kernel's: root). The upper root
// takes the lower root's mode, owner and times, so that the merged root looks like
// the image's.
func New(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, opts *FilesystemOpts) (*vfs.Filesystem, *vfs.Dentry, error) {
	if !opts.Lower.Ok() || !opts.Upper.Ok() {
		return nil, nil, linux.EINVAL
	}
	fs := &filesystem{
		vfsObj:     vfsObj,
		creds:      creds,
		devMinor:   vfsObj.GetAnonBlockDevMinor(),
		inoByUpper: make(map[uint64]uint64),
	}
	lowerStat, err := fs.statLayer(ctx, opts.Lower)
	if err != nil {
		return nil, nil, err
	}
	upperStat, err := fs.statLayer(ctx, opts.Upper)
	if err != nil {
		return nil, nil, err
	}
	if lowerStat.Mode&linux.S_IFMT != linux.S_IFDIR || upperStat.Mode&linux.S_IFMT != linux.S_IFDIR {
		return nil, nil, linux.ENOTDIR
	}
	if err := fs.copyAttrs(ctx, opts.Upper, &lowerStat); err != nil {
		return nil, nil, err
	}
	fs.vfsfs.Init(vfsObj, FilesystemType{}, fs)
	opts.Lower.IncRef()
	opts.Upper.IncRef()
	root := fs.newDentry(nil, "", &lowerStat, lowerStat.Ino, opts.Upper, opts.Lower)
	fs.root = root
	root.IncRef()
	return &fs.vfsfs, &root.vfsd, nil
}

// filesystem is an overlay.
type filesystem struct {
	vfsfs  vfs.Filesystem
	vfsObj *vfs.VirtualFilesystem
	// creds are the credentials of every layer operation.
	creds    *auth.Credentials
	devMinor uint32
	root     *dentry

	// renameMu protects the parent and name of every dentry; see the package
	// comment for the lock order.
	renameMu sync.RWMutex

	// inoMu protects inoByUpper, which maps the upper inode number of each
	// copied-up file to its overlay inode number.
	inoMu      sync.Mutex
	inoByUpper map[uint64]uint64
}

// Release implements vfs.FilesystemImpl.Release.
func (fs *filesystem) Release() { fs.root.DecRef() }

// Sync implements vfs.FilesystemImpl.Sync: the upper layer lives in memory and the
// lower is never written.
func (fs *filesystem) Sync(vfs.Context) error { return nil }

// upperIno returns the overlay inode number of a file found in the upper layer only.
func (fs *filesystem) upperIno(upperIno uint64) uint64 {
	fs.inoMu.Lock()
	defer fs.inoMu.Unlock()
	if ino, ok := fs.inoByUpper[upperIno]; ok {
		return ino
	}
	return upperIno | 1<<63
}

// statFS returns the upper layer's figures as the overlay's.
func (fs *filesystem) statFS(ctx vfs.Context) (linux.Statfs, error) {
	st, err := fs.vfsObj.StatFSAt(ctx, fs.creds, layerPop(fs.root.upperVD, ""))
	if err != nil {
		return linux.Statfs{}, err
	}
	st.Type = overlayfsSuperMagic
	st.Flags = 0
	return st, nil
}
