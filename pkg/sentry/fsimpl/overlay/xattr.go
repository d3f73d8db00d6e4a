package overlay

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Extended attributes are the top layer's, read and written with the caller's
// credentials (the layer's permission checks see the same owner and mode as the
// overlay's); setting or removing one copies the file up first. The overlay's own
// trusted.overlay.* attributes are neither listed nor accessible.

func (fs *filesystem) listXattr(ctx vfs.Context, d *dentry, creds *auth.Credentials, size uint64) ([]string, error) {
	names, err := fs.vfsObj.ListXattrAt(ctx, creds, layerPop(d.topVD(), ""), 0)
	if err != nil {
		return nil, err
	}
	kept := names[:0]
	total := uint64(0)
	for _, name := range names {
		if !isOverlayXattr(name) {
			kept = append(kept, name)
			total += uint64(len(name)) + 1
		}
	}
	if size != 0 && total > size {
		return nil, linux.ERANGE
	}
	return kept, nil
}

func (fs *filesystem) getXattr(ctx vfs.Context, d *dentry, creds *auth.Credentials, opts *vfs.GetXattrOptions) (string, error) {
	if isOverlayXattr(opts.Name) {
		return "", linux.EOPNOTSUPP
	}
	return fs.vfsObj.GetXattrAt(ctx, creds, layerPop(d.topVD(), ""), opts)
}

// setXattr sets an xattr of d. Precondition: filesystem.renameMu is locked.
func (fs *filesystem) setXattr(ctx vfs.Context, d *dentry, creds *auth.Credentials, mnt *vfs.Mount, opts *vfs.SetXattrOptions) error {
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	if isOverlayXattr(opts.Name) {
		return linux.EOPNOTSUPP
	}
	// Check before copying up: a refused change must not copy.
	if err := vfs.CheckXattrPermissions(creds, auth.MayWrite, d.getMode(), d.getKUID(), d.getKGID(), opts.Name); err != nil {
		return err
	}
	if err := fs.copyUp(ctx, d, false); err != nil {
		return err
	}
	return fs.vfsObj.SetXattrAt(ctx, creds, layerPop(d.upperVD, ""), opts)
}

// removeXattr removes an xattr of d. Precondition: filesystem.renameMu is locked.
func (fs *filesystem) removeXattr(ctx vfs.Context, d *dentry, creds *auth.Credentials, mnt *vfs.Mount, name string) error {
	if err := mnt.CheckWritable(); err != nil {
		return err
	}
	if isOverlayXattr(name) {
		return linux.EOPNOTSUPP
	}
	if err := vfs.CheckXattrPermissions(creds, auth.MayWrite, d.getMode(), d.getKUID(), d.getKGID(), name); err != nil {
		return err
	}
	if _, err := fs.getXattr(ctx, d, fs.creds, &vfs.GetXattrOptions{Name: name}); err != nil {
		return err
	}
	if err := fs.copyUp(ctx, d, false); err != nil {
		return err
	}
	return fs.vfsObj.RemoveXattrAt(ctx, creds, layerPop(d.upperVD, ""), name)
}
