// Package devfs is /dev: a tmpfs filled, when it is mounted, with a node for each
// device registered with the VFS under a pathname, the /dev/fd and
// /dev/std{in,out,err} symlinks into /proc/self/fd, and the pts and shm directories.
// It also provides the devices every Linux system has: null, zero, full, random,
// urandom (memdev.go) and tty.
package devfs

import (
	"path"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/host"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// Name is the filesystem type's name.
const Name = "devtmpfs"

// Register registers the standard devices and the devtmpfs filesystem type with
// vfsObj. The kernel calls it once at boot, before mounting /dev.
func Register(vfsObj *vfs.VirtualFilesystem) error {
	if err := registerMemoryDevices(vfsObj); err != nil {
		return err
	}
	if err := vfsObj.RegisterDevice(vfs.CharDevice, ttyMajor, ttyMinor, ttyDevice{}, &vfs.RegisterDeviceOptions{Pathname: "tty", FilePerms: 0o666}); err != nil {
		return err
	}
	return vfsObj.RegisterFilesystemType(Name, FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserMount: true, AllowUserList: true})
}

// FilesystemType makes devtmpfs filesystems.
type FilesystemType struct{}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// symlinks are the symlinks every /dev has.
var symlinks = [][2]string{
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
}

// GetFilesystem implements vfs.FilesystemType.GetFilesystem: a tmpfs whose root is
// 0755, populated as root.
func (FilesystemType) GetFilesystem(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	data := "mode=0755"
	if opts.Data != "" {
		data += "," + opts.Data
	}
	fs, root, err := tmpfs.FilesystemType{}.GetFilesystem(ctx, vfsObj, creds, source, vfs.GetFilesystemOptions{Data: data, InternalData: opts.InternalData})
	if err != nil {
		return nil, nil, err
	}
	if err := populate(vfsObj, creds.UserNamespace, fs, root); err != nil {
		root.DecRef()
		fs.DecRef()
		return nil, nil, err
	}
	return fs, root, nil
}

// populate makes the nodes, symlinks and directories of a new /dev through a
// disconnected mount of it.
func populate(vfsObj *vfs.VirtualFilesystem, ns *auth.UserNamespace, fs *vfs.Filesystem, root *vfs.Dentry) error {
	mnt := vfsObj.NewDisconnectedMount(fs, root, &vfs.MountOptions{})
	defer mnt.DecRef()
	rootCreds := auth.NewRootCredentials(ns)
	ctx := vfs.NewContext(rootCreds, waiter.UninterruptibleBlocker{})
	vd := vfs.MakeVirtualDentry(mnt, root)
	pop := func(p string) *vfs.PathOperation { return &vfs.PathOperation{Root: vd, Start: vd, Path: p} }
	mkdir := func(p string, mode uint16) error {
		if err := vfsObj.MkdirAt(ctx, rootCreds, pop(p), &vfs.MkdirOptions{Mode: mode}); err != nil && err != linux.EEXIST {
			return err
		}
		return nil
	}

	if err := mkdir("pts", 0o755); err != nil {
		return err
	}
	if err := mkdir("shm", 0o1777); err != nil {
		return err
	}
	for _, l := range symlinks {
		if err := vfsObj.SymlinkAt(ctx, rootCreds, pop(l[0]), l[1]); err != nil {
			return err
		}
	}
	for _, node := range vfsObj.DeviceNodes() {
		if dir := path.Dir(node.Pathname); dir != "." {
			if err := mkdir(dir, 0o755); err != nil {
				return err
			}
		}
		mode := uint16(linux.S_IFCHR)
		if node.Kind == vfs.BlockDevice {
			mode = linux.S_IFBLK
		}
		if err := vfsObj.MknodAt(ctx, rootCreds, pop(node.Pathname), &vfs.MknodOptions{
			Mode:     mode | node.FilePerms,
			DevMajor: node.Major,
			DevMinor: node.Minor,
		}); err != nil {
			return err
		}
	}
	return nil
}

// The device number of /dev/tty.
const (
	ttyMajor = 5
	ttyMinor = 0
)

// ttyDevice is /dev/tty, the task's controlling terminal: the container's
// terminal (a host one, see fsimpl/host), or ENXIO without one, as on Linux.
type ttyDevice struct{}

// Open implements vfs.Device.Open.
func (ttyDevice) Open(ctx vfs.Context, _ *vfs.Mount, _ *vfs.Dentry, opts vfs.OpenOptions) (*vfs.FileDescription, error) {
	return host.OpenControllingTerminal(ctx, opts.Flags)
}
