package proc

import (
	"fmt"
	"strconv"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/kernfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// fdDir is /proc/[pid]/fd, a magic link per open descriptor, or, with info set,
// /proc/[pid]/fdinfo, a file per descriptor describing it.
type fdDir struct {
	taskInode
	fs   *filesystem
	info bool
}

// newFDDir returns the entry name of t's directory for fd or fdinfo.
func (fs *filesystem) newFDDir(t *kernel.Task, name string, info bool) kernfs.DirEntry {
	d := &fdDir{taskInode: taskInode{t: t}, fs: fs, info: info}
	d.Init(fs.kfs, linux.S_IFDIR|0o500)
	return kernfs.DirEntry{Name: name, Inode: d}
}

// files returns t's descriptor table, failing if t has none left or the caller may
// not look at it.
func (d *fdDir) files(ctx vfs.Context) (*kernel.FDTable, error) {
	if !mayAccess(ctx, d.t) {
		return nil, linux.EACCES
	}
	fdt := d.t.FDTable()
	if fdt == nil || !alive(d.t) {
		return nil, linux.ENOENT
	}
	return fdt, nil
}

// Lookup implements kernfs.Directory.Lookup.
func (d *fdDir) Lookup(ctx vfs.Context, name string) (kernfs.Inode, error) {
	fdt, err := d.files(ctx)
	if err != nil {
		return nil, err
	}
	fd, err := strconv.ParseUint(name, 10, 31)
	if err != nil || strconv.FormatUint(fd, 10) != name {
		return nil, linux.ENOENT
	}
	file, _ := fdt.Get(int32(fd))
	if file == nil {
		return nil, linux.ENOENT
	}
	defer file.DecRef()
	return d.newEntry(int32(fd), file), nil
}

// Entries implements kernfs.Directory.Entries.
func (d *fdDir) Entries(ctx vfs.Context) ([]kernfs.DirEntry, error) {
	fdt, err := d.files(ctx)
	if err != nil {
		return nil, err
	}
	var entries []kernfs.DirEntry
	for _, fd := range fdt.FDs() {
		file, _ := fdt.Get(fd)
		if file == nil {
			continue // closed since FDs
		}
		entries = append(entries, kernfs.DirEntry{Name: strconv.Itoa(int(fd)), Inode: d.newEntry(fd, file)})
		file.DecRef()
	}
	return entries, nil
}

// newEntry returns the inode of descriptor fd, open to file.
func (d *fdDir) newEntry(fd int32, file *vfs.FileDescription) kernfs.Inode {
	if d.info {
		f := d.fs.newTaskFile(d.t, 0o444, func(ctx vfs.Context) ([]byte, error) { return d.fdinfo(ctx, fd) }, nil)
		return f
	}
	// As in Linux, a link's permissions say how the file is open.
	var perms uint16
	if file.IsReadable() {
		perms |= 0o500
	}
	if file.IsWritable() {
		perms |= 0o300
	}
	l := &fdLink{taskInode: taskInode{t: d.t}, fs: d.fs, fd: fd}
	l.Init(d.fs.kfs, linux.S_IFLNK|perms)
	return l
}

// fdinfo is /proc/[pid]/fdinfo/[fd]: the file's offset, flags (with O_CLOEXEC for
// a close-on-exec descriptor), mount ID and inode number.
func (d *fdDir) fdinfo(ctx vfs.Context, fd int32) ([]byte, error) {
	fdt, err := d.files(ctx)
	if err != nil {
		return nil, err
	}
	file, flags := fdt.Get(fd)
	if file == nil {
		return nil, linux.ENOENT
	}
	defer file.DecRef()
	// Files without an offset (pipes, sockets) show 0.
	pos, err := file.Seek(ctx, 0, linux.SEEK_CUR)
	if err != nil {
		pos = 0
	}
	statusFlags := file.StatusFlags()
	if flags.CloseOnExec {
		statusFlags |= linux.O_CLOEXEC
	}
	var ino uint64
	if stat, err := file.Stat(ctx, vfs.StatOptions{Mask: linux.STATX_INO}); err == nil {
		ino = stat.Ino
	}
	return fmt.Appendf(nil, "pos:\t%d\nflags:\t0%o\nmnt_id:\t%d\nino:\t%d\n", pos, statusFlags, file.Mount().ID, ino), nil
}

// fdLink is /proc/[pid]/fd/[fd]: following it opens the file itself, wherever it
// is (even deleted, or a pipe); readlink shows its path, or a made-up name
// ("pipe:[ino]").
type fdLink struct {
	taskInode
	fs *filesystem
	fd int32
}

// Readlink implements kernfs.Symlink.Readlink.
func (l *fdLink) Readlink(ctx vfs.Context) (string, error) {
	vd, _, err := l.Getlink(ctx)
	if err != nil {
		return "", err
	}
	defer vd.DecRef()
	return l.fs.pathname(ctx, l.t, vd)
}

// Getlink implements kernfs.Symlink.Getlink.
func (l *fdLink) Getlink(ctx vfs.Context) (vfs.VirtualDentry, string, error) {
	if !mayAccess(ctx, l.t) {
		return vfs.VirtualDentry{}, "", linux.EACCES
	}
	fdt := l.t.FDTable()
	if fdt == nil {
		return vfs.VirtualDentry{}, "", linux.ENOENT
	}
	file, _ := fdt.Get(l.fd)
	if file == nil {
		return vfs.VirtualDentry{}, "", linux.ENOENT
	}
	defer file.DecRef()
	vd := file.VirtualDentry()
	vd.IncRef()
	return vd, "", nil
}
