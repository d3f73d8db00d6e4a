package tmpfs

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// memfdMounts maps each VirtualFilesystem to the tmpfs mount that holds its
// memfd_create(2) files, as Linux keeps them on its internal shm mount. The mount
// is disconnected: no path leads into it.
var memfdMounts sync.Map // *vfs.VirtualFilesystem -> *vfs.Mount

// memfdMountMu serializes making mounts, so that each VFS gets one.
var memfdMountMu sync.Mutex

// memfdMount returns vfsObj's memfd mount, making it on first use. It lives as
// long as vfsObj.
func memfdMount(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials) (*vfs.Mount, error) {
	if m, ok := memfdMounts.Load(vfsObj); ok {
		return m.(*vfs.Mount), nil
	}
	memfdMountMu.Lock()
	defer memfdMountMu.Unlock()
	if m, ok := memfdMounts.Load(vfsObj); ok {
		return m.(*vfs.Mount), nil
	}
	fs, root, err := FilesystemType{}.GetFilesystem(ctx, vfsObj, creds, "", vfs.GetFilesystemOptions{})
	if err != nil {
		return nil, err
	}
	mnt := vfsObj.NewDisconnectedMount(fs, root, &vfs.MountOptions{})
	root.DecRef()
	fs.DecRef()
	memfdMounts.Store(vfsObj, mnt)
	return mnt, nil
}

// NewMemfd returns a new memfd_create(2) file, open for reading and writing: a
// regular file of mode perms owned by creds that has no name, so that it goes
// with its last reference. /proc/[pid]/fd shows it as "/memfd:<name> (deleted)".
func NewMemfd(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, name string, perms uint16) (*vfs.FileDescription, error) {
	mnt, err := memfdMount(ctx, vfsObj, creds)
	if err != nil {
		return nil, err
	}
	fs := mnt.Filesystem().Impl().(*filesystem)
	i := fs.newRegularFile(creds.FSKUID, creds.FSKGID, perms)
	i.nlink.Store(0)
	d := fs.newDentry(i)
	// The root is the parent only for the path: the dentry is in no directory.
	d.parent = fs.root
	d.name = "memfd:" + name
	// Deleted from the start, so that its path says so. Nothing can be mounted
	// on a dentry no path reaches, so PrepareDeleteDentry cannot fail.
	_ = vfsObj.PrepareDeleteDentry(&d.vfsd)
	vfsObj.CommitDeleteDentry(&d.vfsd)
	fd := &regularFileFD{}
	fd.d = d
	fd.vfsfd.Init(fd, linux.O_RDWR|linux.O_LARGEFILE, mnt, &d.vfsd, &vfs.FileDescriptionOptions{AllowDirectIO: true})
	return &fd.vfsfd, nil
}
