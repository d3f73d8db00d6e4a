package boot

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// mountBind mounts the next tree the Gofer serves at dest.
func (m *mounts) mountBind(dest string, readOnly bool) error {
	c, err := m.goferClient()
	if err != nil {
		return err
	}
	if err := m.mkdirAll(dest); err != nil {
		c.Close()
		return err
	}
	_, err = m.vfs.MountAt(m.ctx, m.creds, "bind", m.pop(dest), gofer.Name, goferMountOptions(c, readOnly))
	return err
}
