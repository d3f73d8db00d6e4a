// Package sys is sysfs, /sys: the small part of Linux's device and kernel object
// tree that programs running in a container read, describing what the sandbox
// has rather than the host: its CPUs (runtime.NumCPU of the Sentry, the CPUs
// application threads can run on), an empty cgroup mount point, and transparent
// huge pages, which Visor does not use. Everything is read-only.
//
// The boot code registers the type and mounts it at /sys:
//
//	sys.Register(vfsObj)
//	vfsObj.MountAt(ctx, creds, "sysfs", &vfs.PathOperation{...Path: "/sys"}, sys.Name, &vfs.MountOptions{})
package sys

import (
	"fmt"
	"runtime"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Name is the filesystem type's name.
const Name = "sysfs"

// FilesystemType makes sysfs filesystems.
type FilesystemType struct{}

// Register registers the sysfs filesystem type with vfsObj.
func Register(vfsObj *vfs.VirtualFilesystem) error {
	return vfsObj.RegisterFilesystemType(Name, FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{
		AllowUserMount: true,
		AllowUserList:  true,
	})
}

// Name implements vfs.FilesystemType.Name.
func (FilesystemType) Name() string { return Name }

// GetFilesystem implements vfs.FilesystemType.GetFilesystem. Mount options are
// ignored.
func (ft FilesystemType) GetFilesystem(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, creds *auth.Credentials, source string, opts vfs.GetFilesystemOptions) (*vfs.Filesystem, *vfs.Dentry, error) {
	fs := kernfs.NewFilesystem(vfsObj, ft, linux.SYSFS_MAGIC)
	vfsfs, root := fs.SetRoot(newRoot(fs, runtime.NumCPU()))
	return vfsfs, root, nil
}

// newRoot builds the tree of a sysfs for a sandbox with ncpu CPUs.
func newRoot(fs *kernfs.Filesystem, ncpu int) kernfs.Directory {
	dir := func(children ...kernfs.DirEntry) *kernfs.StaticDirectory {
		return kernfs.NewStaticDirectory(fs, 0o755, children)
	}
	entry := func(name string, inode kernfs.Inode) kernfs.DirEntry {
		return kernfs.DirEntry{Name: name, Inode: inode}
	}
	file := func(name, data string) kernfs.DirEntry {
		return entry(name, kernfs.NewStaticFile(fs, 0o444, data))
	}
	cpus := fmt.Sprintf("0-%d\n", ncpu-1)
	if ncpu == 1 {
		cpus = "0\n"
	}
	cpuEntries := []kernfs.DirEntry{
		file("online", cpus),
		file("possible", cpus),
		file("present", cpus),
	}
	for i := 0; i < ncpu; i++ {
		cpuEntries = append(cpuEntries, entry(fmt.Sprintf("cpu%d", i), dir()))
	}
	return dir(
		entry("block", dir()),
		entry("bus", dir()),
		entry("class", dir()),
		entry("dev", dir()),
		entry("devices", dir(
			entry("system", dir(
				entry("cpu", dir(cpuEntries...)),
			)),
		)),
		entry("firmware", dir()),
		// A mount point for a cgroup filesystem; Visor has none to mount there yet.
		entry("fs", dir(entry("cgroup", dir()))),
		entry("kernel", dir(
			entry("mm", dir(
				entry("transparent_hugepage", dir(
					file("enabled", "always madvise [never]\n"),
					file("defrag", "always defer defer+madvise madvise [never]\n"),
				)),
			)),
		)),
		entry("module", dir()),
	)
}
