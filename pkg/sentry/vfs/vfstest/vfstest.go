// Package vfstest sets up a VFS for tests of the VFS and of filesystems: a mount
// namespace rooted in a filesystem of the type under test, a context, credentials,
// and shorthands for the common path operations.
package vfstest

import (
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// Env is a VFS with a mount namespace, and the identity tests act with.
type Env struct {
	T     testing.TB
	VFS   *vfs.VirtualFilesystem
	Ctx   vfs.Context
	Creds *auth.Credentials
	MntNS *vfs.MountNamespace
	// Root is the root of MntNS, and also the working directory.
	Root vfs.VirtualDentry
}

// New returns an Env whose root is a new filesystem of fsType, registered as name,
// acting as root.
func New(t testing.TB, name string, fsType vfs.FilesystemType) *Env {
	vfsObj := vfs.New()
	vfsObj.MustRegisterFilesystemType(name, fsType, &vfs.RegisterFilesystemTypeOptions{AllowUserMount: true})
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	ctx := vfs.NewContext(creds, waiter.UninterruptibleBlocker{})
	mntns, err := vfsObj.NewMountNamespace(ctx, creds, "", name, &vfs.MountOptions{})
	if err != nil {
		t.Fatalf("NewMountNamespace: %v", err)
	}
	return &Env{T: t, VFS: vfsObj, Ctx: ctx, Creds: creds, MntNS: mntns, Root: mntns.Root()}
}

// As returns a copy of e that acts with creds.
func (e *Env) As(creds *auth.Credentials) *Env {
	ne := *e
	ne.Creds = creds
	ne.Ctx = vfs.NewContext(creds, waiter.UninterruptibleBlocker{})
	return &ne
}

// User returns credentials of an unprivileged user in e's user namespace.
func (e *Env) User(uid auth.KUID, gid auth.KGID) *auth.Credentials {
	return auth.NewUserCredentials(uid, gid, nil, nil, e.Creds.UserNamespace)
}

// Pop returns a PathOperation for path from the root, following a final symlink.
func (e *Env) Pop(path string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: e.Root, Start: e.Root, Path: path, FollowFinalSymlink: true}
}

// PopNoFollow is Pop without following a final symlink.
func (e *Env) PopNoFollow(path string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: e.Root, Start: e.Root, Path: path}
}

// Mkdir makes a directory.
func (e *Env) Mkdir(path string, mode uint16) error {
	return e.VFS.MkdirAt(e.Ctx, e.Creds, e.Pop(path), &vfs.MkdirOptions{Mode: mode})
}

// Symlink makes a symlink at path to target.
func (e *Env) Symlink(target, path string) error {
	return e.VFS.SymlinkAt(e.Ctx, e.Creds, e.Pop(path), target)
}

// Open opens path.
func (e *Env) Open(path string, flags uint32, mode uint16) (*vfs.FileDescription, error) {
	return e.VFS.OpenAt(e.Ctx, e.Creds, e.Pop(path), &vfs.OpenOptions{Flags: flags, Mode: mode})
}

// Stat stats path, following a final symlink.
func (e *Env) Stat(path string) (linux.Statx, error) {
	return e.VFS.StatAt(e.Ctx, e.Creds, e.Pop(path), &vfs.StatOptions{Mask: linux.STATX_BASIC_STATS})
}

// Lstat stats path without following a final symlink.
func (e *Env) Lstat(path string) (linux.Statx, error) {
	return e.VFS.StatAt(e.Ctx, e.Creds, e.PopNoFollow(path), &vfs.StatOptions{Mask: linux.STATX_BASIC_STATS})
}

// MustMkdirAll makes each directory of paths, failing the test on error.
func (e *Env) MustMkdirAll(paths ...string) {
	e.T.Helper()
	for _, p := range paths {
		if err := e.Mkdir(p, 0o755); err != nil {
			e.T.Fatalf("mkdir %q: %v", p, err)
		}
	}
}

// WriteFile creates or truncates path and writes data to it.
func (e *Env) WriteFile(path, data string) error {
	fd, err := e.Open(path, linux.O_WRONLY|linux.O_CREAT|linux.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer fd.DecRef()
	_, err = fd.Write(e.Ctx, []byte(data), vfs.WriteOptions{})
	return err
}

// MustWriteFile is WriteFile, failing the test on error.
func (e *Env) MustWriteFile(path, data string) {
	e.T.Helper()
	if err := e.WriteFile(path, data); err != nil {
		e.T.Fatalf("write %q: %v", path, err)
	}
}

// ReadFile returns the contents of path.
func (e *Env) ReadFile(path string) (string, error) {
	fd, err := e.Open(path, linux.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer fd.DecRef()
	return ReadAll(e.Ctx, fd)
}

// ReadAll reads fd from its offset to its end.
func ReadAll(ctx vfs.Context, fd *vfs.FileDescription) (string, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := fd.Read(ctx, buf, vfs.ReadOptions{})
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out), err
		}
		if n == 0 {
			return string(out), nil
		}
	}
}

// Dirents returns the names fd's directory iteration yields from its offset on.
func Dirents(ctx vfs.Context, fd *vfs.FileDescription) ([]string, error) {
	var names []string
	err := fd.IterDirents(ctx, vfs.IterDirentsCallbackFunc(func(d vfs.Dirent) error {
		names = append(names, d.Name)
		return nil
	}))
	return names, err
}
