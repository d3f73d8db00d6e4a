package kernel

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/loader"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// PathOperation returns the path operation for path relative to the directory
// dirfd names (AT_FDCWD: the working directory), with references on Root and
// Start that the caller drops with ReleasePathOperation.
//
// Preconditions: called by the task goroutine.
func (t *Task) PathOperation(dirfd int32, path string, followFinal bool) (*vfs.PathOperation, error) {
	fs := t.FSContext()
	root := fs.RootDirectory()
	var start vfs.VirtualDentry
	if dirfd == linux.AT_FDCWD || (len(path) > 0 && path[0] == '/') {
		start = fs.WorkingDirectory()
	} else {
		f, _ := t.FDTable().Get(dirfd)
		if f == nil {
			root.DecRef()
			return nil, linux.EBADF
		}
		start = f.VirtualDentry()
		start.IncRef()
		f.DecRef()
	}
	return &vfs.PathOperation{Root: root, Start: start, Path: path, FollowFinalSymlink: followFinal}, nil
}

// ReleasePathOperation drops the references PathOperation took.
func ReleasePathOperation(pop *vfs.PathOperation) {
	pop.Root.DecRef()
	pop.Start.DecRef()
}

// executableOpener opens the files execve runs, for t.
func (t *Task) executableOpener() loader.Opener { return execOpener{t} }

type execOpener struct{ t *Task }

// OpenExecutable implements loader.Opener as Linux's open_exec: the file must be
// regular, executable by the task, and not on a noexec mount.
func (o execOpener) OpenExecutable(path string) (loader.File, error) {
	t := o.t
	if path == "" {
		return nil, linux.ENOENT
	}
	pop, err := t.PathOperation(linux.AT_FDCWD, path, true)
	if err != nil {
		return nil, err
	}
	defer ReleasePathOperation(pop)
	creds := t.Credentials()
	vfsObj := t.k.vfs
	if err := vfsObj.AccessAt(t, creds, auth.MayExec, pop); err != nil {
		return nil, err
	}
	fd, err := vfsObj.OpenAt(t, creds, pop, &vfs.OpenOptions{Flags: linux.O_RDONLY})
	if err != nil {
		return nil, err
	}
	stat, err := fd.Stat(t, vfs.StatOptions{Mask: linux.STATX_TYPE | linux.STATX_SIZE})
	if err != nil {
		fd.DecRef()
		return nil, err
	}
	if stat.Mode&linux.S_IFMT != linux.S_IFREG || fd.Mount().Flags().NoExec {
		fd.DecRef()
		return nil, linux.EACCES
	}
	name, err := vfsObj.PathnameWithDeleted(t, pop.Root, fd.VirtualDentry())
	if err != nil {
		name = path
	}
	// Page faults read through the file long after execve, from whichever task
	// touches the page first: they read with the opener's credentials, and wait
	// for I/O uninterruptibly as Linux's page cache does.
	ctx := vfs.NewContext(creds, waiter.UninterruptibleBlocker{})
	return &execFile{ctx: ctx, fd: fd, name: name, size: int64(stat.Size)}, nil
}

// execFile is an executable opened for the loader. It keeps its file description
// for as long as private mappings may read pages from it.
type execFile struct {
	ctx  vfs.Context
	fd   *vfs.FileDescription
	name string
	size int64
}

// ReadAt implements memmap.Mappable; reads past the end return zeros.
func (f *execFile) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.fd.PRead(f.ctx, b, off, vfs.ReadOptions{})
	if n < int64(len(b)) && (err == nil || n >= 0) {
		clear(b[n:])
		return len(b), nil
	}
	return int(n), err
}

func (f *execFile) Size() (int64, error) { return f.size, nil }
func (f *execFile) Name() string         { return f.name }
