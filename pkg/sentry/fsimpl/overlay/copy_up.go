package overlay

import (
	"strings"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// copyBufSize is the chunk in which copy-up copies file data.
const copyBufSize = 64 << 10

// copyUp makes sure d is in the upper layer, copying it (and first its parents) from
// the lower layer if it is not. skipData leaves a regular file's copy empty, for a
// caller about to truncate it. Preconditions: filesystem.renameMu is locked, either
// way; no dirMu is held.
func (fs *filesystem) copyUp(ctx vfs.Context, d *dentry, skipData bool) error {
	if d.copiedUp.Load() {
		return nil
	}
	// The root is always in the upper layer, so d has a parent.
	parent := d.parent
	if err := fs.copyUp(ctx, parent, false); err != nil {
		return err
	}
	parent.dirMu.Lock()
	defer parent.dirMu.Unlock()
	d.copyMu.Lock()
	defer d.copyMu.Unlock()
	if d.copiedUp.Load() {
		return nil
	}
	if d.vfsd.IsDead() {
		// Its name is gone (a whiteout may be there): Linux would copy it to
		// an unnamed file; changing a removed lower file is not supported.
		return linux.ENOENT
	}
	return fs.copyUpLocked(ctx, parent, d, skipData)
}

// copyUpLocked copies d into parent's upper directory. Preconditions: parent.dirMu
// and d.copyMu are locked; parent is copied up, d is not.
func (fs *filesystem) copyUpLocked(ctx vfs.Context, parent *dentry, d *dentry, skipData bool) error {
	vfsObj := fs.vfsObj
	st, err := fs.statLayer(ctx, d.lowerVD)
	if err != nil {
		return err
	}
	pop := layerPop(parent.upperVD, d.name)
	switch d.ftype {
	case linux.S_IFREG:
		err = fs.copyData(ctx, d.lowerVD, pop, st.Mode, skipData)
	case linux.S_IFDIR:
		err = vfsObj.MkdirAt(ctx, fs.creds, pop, &vfs.MkdirOptions{Mode: st.Mode & linux.PermissionsMask})
	case linux.S_IFLNK:
		var target string
		if target, err = d.readlink(ctx); err == nil {
			err = vfsObj.SymlinkAt(ctx, fs.creds, pop, target)
		}
	default:
		err = vfsObj.MknodAt(ctx, fs.creds, pop, &vfs.MknodOptions{Mode: st.Mode, DevMajor: st.RdevMajor, DevMinor: st.RdevMinor})
	}
	if err != nil {
		return err
	}
	upperVD, err := vfsObj.GetDentryAt(ctx, fs.creds, pop, &vfs.GetDentryOptions{})
	if err == nil {
		err = fs.copyAttrs(ctx, upperVD, &st)
		if err == nil {
			err = fs.copyXattrs(ctx, d.lowerVD, upperVD)
		}
		if err != nil {
			upperVD.DecRef()
		}
	}
	var upperStat linux.Statx
	if err == nil {
		if upperStat, err = fs.statLayer(ctx, upperVD); err != nil {
			upperVD.DecRef()
		}
	}
	if err != nil {
		fs.removeUpper(ctx, pop, d.isDir())
		return err
	}
	fs.inoMu.Lock()
	fs.inoByUpper[upperStat.Ino] = d.ino
	fs.inoMu.Unlock()
	d.upperVD = upperVD
	d.copiedUp.Store(true)
	return nil
}

// copyData makes the regular file pop in the upper layer and copies the lower file
// lower into it, unless skipData.
func (fs *filesystem) copyData(ctx vfs.Context, lower vfs.VirtualDentry, pop *vfs.PathOperation, mode uint16, skipData bool) error {
	vfsObj := fs.vfsObj
	dst, err := vfsObj.OpenAt(ctx, fs.creds, pop, &vfs.OpenOptions{Flags: linux.O_WRONLY | linux.O_CREAT | linux.O_EXCL, Mode: mode & linux.PermissionsMask})
	if err != nil {
		return err
	}
	defer dst.DecRef()
	if skipData {
		return nil
	}
	src, err := vfsObj.OpenAt(ctx, fs.creds, layerPop(lower, ""), &vfs.OpenOptions{Flags: linux.O_RDONLY})
	if err != nil {
		fs.removeUpper(ctx, pop, false)
		return err
	}
	defer src.DecRef()
	buf := make([]byte, copyBufSize)
	for off := int64(0); ; {
		n, err := src.PRead(ctx, buf, off, vfs.ReadOptions{})
		if n > 0 {
			if _, werr := dst.PWrite(ctx, buf[:n], off, vfs.WriteOptions{}); werr != nil {
				err = werr
			}
			off += n
		}
		if err != nil {
			fs.removeUpper(ctx, pop, false)
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// copyAttrs gives the upper file vd the owner, mode and times of st.
func (fs *filesystem) copyAttrs(ctx vfs.Context, vd vfs.VirtualDentry, st *linux.Statx) error {
	// The owner goes first: changing it clears set-ID bits, which the mode
	// restores.
	mask := uint32(linux.STATX_UID | linux.STATX_GID | linux.STATX_MODE | linux.STATX_ATIME | linux.STATX_MTIME)
	if st.Mode&linux.S_IFMT == linux.S_IFLNK {
		mask &^= linux.STATX_MODE
	}
	return fs.vfsObj.SetStatAt(ctx, fs.creds, layerPop(vd, ""), &vfs.SetStatOptions{Stat: linux.Statx{
		Mask:  mask,
		UID:   st.UID,
		GID:   st.GID,
		Mode:  st.Mode & linux.PermissionsMask,
		Atime: st.Atime,
		Mtime: st.Mtime,
	}})
}

// copyXattrs copies the user.* extended attributes of the lower file to the upper.
// A lower file without any, or whose filesystem has none, copies nothing.
func (fs *filesystem) copyXattrs(ctx vfs.Context, lower, upper vfs.VirtualDentry) error {
	vfsObj := fs.vfsObj
	names, err := vfsObj.ListXattrAt(ctx, fs.creds, layerPop(lower, ""), 0)
	if err != nil {
		if err == linux.EOPNOTSUPP {
			return nil
		}
		return err
	}
	for _, name := range names {
		if !strings.HasPrefix(name, vfs.XattrUserPrefix) {
			continue
		}
		value, err := vfsObj.GetXattrAt(ctx, fs.creds, layerPop(lower, ""), &vfs.GetXattrOptions{Name: name})
		if err != nil {
			return err
		}
		if err := vfsObj.SetXattrAt(ctx, fs.creds, layerPop(upper, ""), &vfs.SetXattrOptions{Name: name, Value: value}); err != nil {
			return err
		}
	}
	return nil
}

// removeUpper removes what a failed copy-up or create left at pop. The failure being
// reported matters more than one of this cleanup.
func (fs *filesystem) removeUpper(ctx vfs.Context, pop *vfs.PathOperation, dir bool) {
	if dir {
		_ = fs.vfsObj.RmdirAt(ctx, fs.creds, pop)
	} else {
		_ = fs.vfsObj.UnlinkAt(ctx, fs.creds, pop)
	}
}

// createWhiteout leaves a whiteout at name in the upper directory dir.
func (fs *filesystem) createWhiteout(ctx vfs.Context, dir vfs.VirtualDentry, name string) error {
	return fs.vfsObj.MknodAt(ctx, fs.creds, layerPop(dir, name), &vfs.MknodOptions{Mode: linux.S_IFCHR})
}

// removeWhiteout removes the whiteout at name in the upper directory dir, if there
// is one, and reports whether there was.
func (fs *filesystem) removeWhiteout(ctx vfs.Context, dir vfs.VirtualDentry, name string) (bool, error) {
	st, err := fs.vfsObj.StatAt(ctx, fs.creds, layerPop(dir, name), &vfs.StatOptions{Mask: linux.STATX_TYPE})
	if err == linux.ENOENT {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !isWhiteout(&st) {
		// The overlay saw no file here, so only a whiteout can be.
		return false, linux.EIO
	}
	return true, fs.vfsObj.UnlinkAt(ctx, fs.creds, layerPop(dir, name))
}

// clearWhiteouts removes every whiteout in the upper directory dir, of a directory
// empty in the overlay that is about to be removed or replaced.
func (fs *filesystem) clearWhiteouts(ctx vfs.Context, dir vfs.VirtualDentry) error {
	ents, err := fs.listLayer(ctx, dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Type == linux.DT_CHR {
			if _, err := fs.removeWhiteout(ctx, dir, e.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// markOpaque makes the upper directory vd hide the lower directory of its name.
func (fs *filesystem) markOpaque(ctx vfs.Context, vd vfs.VirtualDentry) error {
	return fs.vfsObj.SetXattrAt(ctx, fs.creds, layerPop(vd, ""), &vfs.SetXattrOptions{Name: opaqueXattr, Value: "y"})
}
