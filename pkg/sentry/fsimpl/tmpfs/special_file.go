package tmpfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/kernel/pipe"
	"visor.dev/visor/pkg/sentry/vfs"
)

// symlink is a symbolic link.
type symlink struct {
	target string
}

func (fs *filesystem) newSymlink(kuid auth.KUID, kgid auth.KGID, target string) *inode {
	return fs.newInode(kuid, kgid, linux.S_IFLNK|0o777, &symlink{target: target})
}

// namedPipe is a FIFO. Opening it opens its pipe.
type namedPipe struct {
	pipe *pipe.Pipe
}

// deviceFile is a device node. Opening it opens the device the VFS registered under
// its number.
type deviceFile struct {
	kind         vfs.DeviceKind
	major, minor uint32
}

// socketFile is the name of a unix socket. Opening it fails with ENXIO; connect(2)
// finds the socket through Endpoint.
type socketFile struct {
	endpoint any
}

// newSpecialFile returns a FIFO, device node or socket, or EINVAL for other types.
func (fs *filesystem) newSpecialFile(kuid auth.KUID, kgid auth.KGID, opts *vfs.MknodOptions) (*inode, error) {
	mode := opts.Mode
	switch mode & linux.S_IFMT {
	case linux.S_IFIFO:
		return fs.newInode(kuid, kgid, mode, &namedPipe{pipe: pipe.NewPipe(true, pipe.DefaultPipeSize)}), nil
	case linux.S_IFCHR:
		return fs.newInode(kuid, kgid, mode, &deviceFile{kind: vfs.CharDevice, major: opts.DevMajor, minor: opts.DevMinor}), nil
	case linux.S_IFBLK:
		return fs.newInode(kuid, kgid, mode, &deviceFile{kind: vfs.BlockDevice, major: opts.DevMajor, minor: opts.DevMinor}), nil
	case linux.S_IFSOCK:
		return fs.newInode(kuid, kgid, mode, &socketFile{endpoint: opts.Endpoint}), nil
	}
	return nil, linux.EINVAL
}

// BoundEndpoint returns what the unix socket file d names is bound to, or nil if d
// is not a socket file. The socket layer calls it for connect(2).
func BoundEndpoint(d *vfs.Dentry) any {
	td, ok := d.Impl().(*dentry)
	if !ok {
		return nil
	}
	if sf, ok := td.inode.impl.(*socketFile); ok {
		return sf.endpoint
	}
	return nil
}
