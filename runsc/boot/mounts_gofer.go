package boot

import (
	"fmt"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/pkg/sentry/fsimpl/gofer"
	"visor.dev/visor/pkg/sentry/fsimpl/overlay"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/vfs"
)

// goferClient connects to the Gofer on the next of its sockets.
func (m *mounts) goferClient() (*lisafs.Client, error) {
	fd, err := m.nextGoferFD()
	if err != nil {
		return nil, err
	}
	c, err := lisafs.NewClient(fd, lisafs.ClientOptions{})
	if err != nil {
		return nil, fmt.Errorf("connecting to the Gofer: %w", err)
	}
	return c, nil
}

// goferMountOptions are the options of a mount of the tree c serves.
func goferMountOptions(c *lisafs.Client, readOnly bool) *vfs.MountOptions {
	return &vfs.MountOptions{
		ReadOnly:             readOnly,
		InternalMount:        true,
		GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &gofer.FilesystemOpts{Client: c}},
	}
}

// mountRoot makes the mount namespace whose root is the container's rootfs. Unless
// the spec asks for a read-only root, the Gofer-served tree is the read-only lower
// layer of an overlay whose upper layer is a tmpfs: the container can write
// anywhere, and its writes never reach the host's copy of the rootfs.
func (m *mounts) mountRoot(spec *specs.Spec) (vfs.VirtualDentry, error) {
	if err := m.vfs.RegisterFilesystemType(gofer.Name, gofer.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{}); err != nil {
		return vfs.VirtualDentry{}, err
	}
	if err := m.vfs.RegisterFilesystemType(overlay.Name, overlay.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserList: true}); err != nil {
		return vfs.VirtualDentry{}, err
	}
	c, err := m.goferClient()
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	if spec.Root != nil && spec.Root.Readonly {
		mntns, err := m.vfs.NewMountNamespace(m.ctx, m.creds, "rootfs", gofer.Name, goferMountOptions(c, true))
		if err != nil {
			return vfs.VirtualDentry{}, err
		}
		return mntns.Root(), nil
	}
	lower, err := m.vfs.MountDisconnected(m.ctx, m.creds, "rootfs", gofer.Name, goferMountOptions(c, true))
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	defer lower.DecRef()
	upper, err := m.vfs.MountDisconnected(m.ctx, m.creds, "overlay-upper", tmpfs.Name, &vfs.MountOptions{InternalMount: true})
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	defer upper.DecRef()
	mntns, err := m.vfs.NewMountNamespace(m.ctx, m.creds, "rootfs", overlay.Name, &vfs.MountOptions{
		InternalMount: true,
		GetFilesystemOptions: vfs.GetFilesystemOptions{InternalData: &overlay.FilesystemOpts{
			Lower: vfs.MakeVirtualDentry(lower, lower.Root()),
			Upper: vfs.MakeVirtualDentry(upper, upper.Root()),
		}},
	})
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	return mntns.Root(), nil
}

// mountBind mounts the next tree the Gofer serves at dest. The served root is a
// directory or, for a bind mount of a single file (Docker's /etc/hosts), a regular
// file; only the Gofer knows which. A missing mount point is created as runc
// creates it: a directory, or an empty file (in the root overlay's upper layer:
// the host's rootfs is never written), with any missing parent directories.
func (m *mounts) mountBind(dest string, readOnly bool) error {
	c, err := m.goferClient()
	if err != nil {
		return err
	}
	mnt, err := m.vfs.MountDisconnected(m.ctx, m.creds, "bind", gofer.Name, goferMountOptions(c, readOnly))
	if err != nil {
		return err
	}
	defer mnt.DecRef()
	served := &vfs.PathOperation{Root: vfs.MakeVirtualDentry(mnt, mnt.Root()), Start: vfs.MakeVirtualDentry(mnt, mnt.Root())}
	st, err := m.vfs.StatAt(m.ctx, m.creds, served, &vfs.StatOptions{Mask: linux.STATX_TYPE})
	if err != nil {
		return fmt.Errorf("stat of the bind mount's source: %w", err)
	}
	if dest, err = m.mountPoint(dest); err != nil {
		return err
	}
	isDir := st.Mode&linux.S_IFMT == linux.S_IFDIR
	if isDir {
		err = m.mkdirAll(dest)
	} else {
		err = m.mkfileAll(dest)
	}
	if err != nil {
		return err
	}
	_, err = m.vfs.BindAt(m.ctx, m.creds, served, m.pop(dest))
	switch {
	case err == linux.ENOTDIR && isDir:
		return fmt.Errorf("the source is a directory and %s in the container is not: %w", dest, err)
	case err == linux.ENOTDIR:
		return fmt.Errorf("the source is a file and %s in the container is a directory: %w", dest, err)
	}
	return err
}

// mkfileAll makes dest an empty regular file unless something is there already,
// and its parent directories.
func (m *mounts) mkfileAll(dest string) error {
	if err := m.mkdirAll(path.Dir(dest)); err != nil {
		return err
	}
	// Its mode never shows: the mount covers it.
	err := m.vfs.MknodAt(m.ctx, m.creds, m.pop(dest), &vfs.MknodOptions{Mode: linux.S_IFREG | 0o644})
	if err != nil && err != linux.EEXIST {
		return fmt.Errorf("creating mount point %s: %w", dest, err)
	}
	return nil
}
