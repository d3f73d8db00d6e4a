package vfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
)

// MaxSymlinkTraversals is the number of symlinks one path resolution may follow
// (MAXSYMLINKS); the next one fails with ELOOP.
const MaxSymlinkTraversals = 40

// ResolvingPath is a path in the middle of resolution. The VFS makes one for each
// path operation and passes it to the FilesystemImpl of the mount the walk is in;
// the filesystem steps through the components it can resolve and calls the methods
// below at each step, which carry Linux's path semantics:
//
//   - Component, Advance, Done and Final iterate over the components. Empty
//     components ("a//b") never appear.
//   - CheckRoot, on "..", reports whether the walk is at the task's root, where
//     ".." stays put, and takes the walk out of a mount whose root it is at.
//   - CheckMount, on stepping into a dentry, takes the walk into what is mounted
//     there.
//   - ShouldFollowSymlink and HandleSymlink follow symlinks: the target replaces
//     the component, at most MaxSymlinkTraversals times.
//   - HandleJump moves the walk to a VirtualDentry a "magic link" such as
//     /proc/[pid]/fd/N names.
//   - MustBeDir reports a trailing slash.
//
// Methods that move the walk to another mount return an error the filesystem must
// return unchanged; the VFS then continues in that mount.
type ResolvingPath struct {
	vfs   *VirtualFilesystem
	creds *auth.Credentials
	root  VirtualDentry
	mount *Mount
	start *Dentry

	// comps are the components left to resolve from comps[pos] on. After a
	// symlink, comps holds its target's components followed by what was left.
	comps []string
	pos   int
	// compsBuf is the storage comps starts out in, kept across uses of rp.
	compsBuf []string

	mustBeDir   bool
	follow      bool
	numSymlinks int

	// nextMount and nextStart are where the walk goes on after a method
	// returned one of the errors below.
	nextMount *Mount
	nextStart *Dentry
}

// The errors with which a walk leaves a filesystem; handleError acts on them.
type (
	// resolveMountRootOrJumpError: ".." at the root of a mount; the walk goes
	// on at the mountpoint, where ".." is processed again.
	resolveMountRootOrJumpError struct{}
	// resolveMountPointError: the component just stepped into has a mount on
	// it; the walk goes on, past the component, at the mount's root.
	resolveMountPointError struct{}
	// resolveAbsSymlinkError: a symlink's absolute target; the walk goes on at
	// the root with the target's components.
	resolveAbsSymlinkError struct{}
	// resolveJumpError: a magic link; the walk goes on, past the component, at
	// the link's VirtualDentry.
	resolveJumpError struct{}
)

func (resolveMountRootOrJumpError) Error() string { return "resolving path: leaving a mount" }
func (resolveMountPointError) Error() string      { return "resolving path: entering a mount" }
func (resolveAbsSymlinkError) Error() string      { return "resolving path: absolute symlink" }
func (resolveJumpError) Error() string            { return "resolving path: jump" }

// getResolvingPath returns a ResolvingPath for pop.
func (vfs *VirtualFilesystem) getResolvingPath(creds *auth.Credentials, pop *PathOperation) (*ResolvingPath, error) {
	path := pop.Path
	if len(path) >= linux.PATH_MAX {
		return nil, linux.ENAMETOOLONG
	}
	rp := vfs.rpPool.Get().(*ResolvingPath)
	rp.vfs = vfs
	rp.creds = creds
	rp.root = pop.Root
	rp.follow = pop.FollowFinalSymlink
	if len(path) > 0 && path[0] == '/' {
		rp.mount, rp.start = pop.Root.mount, pop.Root.dentry
	} else {
		rp.mount, rp.start = pop.Start.mount, pop.Start.dentry
	}
	rp.comps = splitPath(rp.compsBuf[:0], path)
	rp.compsBuf = rp.comps
	rp.pos = 0
	rp.mustBeDir = len(path) > 0 && path[len(path)-1] == '/'
	rp.numSymlinks = 0
	return rp, nil
}

// putResolvingPath recycles rp.
func (vfs *VirtualFilesystem) putResolvingPath(rp *ResolvingPath) {
	rp.creds = nil
	rp.root = VirtualDentry{}
	rp.mount, rp.start = nil, nil
	rp.nextMount, rp.nextStart = nil, nil
	clear(rp.compsBuf)
	rp.comps = nil
	vfs.rpPool.Put(rp)
}

// splitPath appends the non-empty components of path to comps.
func splitPath(comps []string, path string) []string {
	for len(path) > 0 {
		i := 0
		for i < len(path) && path[i] != '/' {
			i++
		}
		if i > 0 {
			comps = append(comps, path[:i])
		}
		if i == len(path) {
			break
		}
		path = path[i+1:]
	}
	return comps
}

// VirtualFilesystem returns the VFS rp resolves in.
func (rp *ResolvingPath) VirtualFilesystem() *VirtualFilesystem { return rp.vfs }

// Credentials returns the credentials to check permissions with.
func (rp *ResolvingPath) Credentials() *auth.Credentials { return rp.creds }

// Mount returns the mount the walk is in.
func (rp *ResolvingPath) Mount() *Mount { return rp.mount }

// Start returns the dentry the walk (re)started at in the current filesystem.
func (rp *ResolvingPath) Start() *Dentry { return rp.start }

// Done reports whether every component has been resolved.
func (rp *ResolvingPath) Done() bool { return rp.pos >= len(rp.comps) }

// Final reports whether the current component is the last.
func (rp *ResolvingPath) Final() bool { return rp.pos == len(rp.comps)-1 }

// Component returns the current component. Precondition: !rp.Done().
func (rp *ResolvingPath) Component() string { return rp.comps[rp.pos] }

// Advance moves to the next component. Precondition: !rp.Done().
func (rp *ResolvingPath) Advance() { rp.pos++ }

// MustBeDir reports whether the file the path names must be a directory: the path
// (or the target of a symlink that was its final component) ends with a slash.
func (rp *ResolvingPath) MustBeDir() bool { return rp.mustBeDir }

// ShouldFollowSymlink reports whether a symlink as the current component is to be
// followed: always, except as the final component of an operation that does not
// follow final symlinks (O_NOFOLLOW, lstat, unlink) without a trailing slash.
func (rp *ResolvingPath) ShouldFollowSymlink() bool {
	return !rp.Final() || rp.follow || rp.mustBeDir
}

// CheckRoot is called with the dentry a ".." component is resolved from. It returns
// true if d is the task's root, where ".." stays at d. If d is the root of the
// mount the walk is in, it returns an error that moves the walk to where that mount
// is attached (so that ".." is resolved there); a mount that is not attached
// anywhere is a root too.
func (rp *ResolvingPath) CheckRoot(ctx Context, d *Dentry) (bool, error) {
	if d == rp.root.dentry && rp.mount == rp.root.mount {
		return true, nil
	}
	if d != rp.mount.root {
		return false, nil
	}
	point := rp.vfs.getMountpointAt(rp.mount)
	if !point.Ok() {
		return true, nil
	}
	rp.nextMount, rp.nextStart = point.mount, point.dentry
	return false, resolveMountRootOrJumpError{}
}

// CheckMount is called with each dentry the walk steps into (before Advance). If
// something is mounted there, it returns an error that moves the walk into it.
func (rp *ResolvingPath) CheckMount(ctx Context, d *Dentry) error {
	if !d.isMounted() {
		return nil
	}
	if mnt := rp.vfs.getMountAt(rp.mount, d); mnt != nil {
		rp.nextMount, rp.nextStart = mnt, mnt.root
		return resolveMountPointError{}
	}
	return nil
}

// HandleSymlink replaces the current component, a symlink to be followed, by the
// components of its target. A relative target is resolved from the directory the
// symlink is in, where the filesystem goes on; an absolute one makes HandleSymlink
// return an error that restarts the walk at the root. It fails with ELOOP once
// MaxSymlinkTraversals symlinks have been followed, and with ENOENT for an empty
// target.
func (rp *ResolvingPath) HandleSymlink(target string) error {
	if target == "" {
		return linux.ENOENT
	}
	if rp.numSymlinks >= MaxSymlinkTraversals {
		return linux.ELOOP
	}
	rp.numSymlinks++
	if rp.Final() && target[len(target)-1] == '/' {
		rp.mustBeDir = true
	}
	rest := rp.comps[rp.pos+1:]
	comps := splitPath(make([]string, 0, len(rest)+4), target)
	rp.comps = append(comps, rest...)
	rp.pos = 0
	if target[0] == '/' {
		rp.nextMount, rp.nextStart = rp.root.mount, rp.root.dentry
		return resolveAbsSymlinkError{}
	}
	return nil
}

// HandleJump is HandleSymlink for a symlink whose target is not a path but vd, as
// /proc/[pid]/fd/N and /proc/[pid]/cwd are. It returns an error that moves the walk
// to vd, past the current component.
func (rp *ResolvingPath) HandleJump(vd VirtualDentry) error {
	if rp.numSymlinks >= MaxSymlinkTraversals {
		return linux.ELOOP
	}
	rp.numSymlinks++
	rp.nextMount, rp.nextStart = vd.mount, vd.dentry
	return resolveJumpError{}
}

// handleError moves the walk as err, returned by a filesystem, says, and reports
// whether it was one of the errors that do so.
func (rp *ResolvingPath) handleError(ctx Context, err error) bool {
	switch err.(type) {
	case resolveMountRootOrJumpError, resolveAbsSymlinkError:
	case resolveMountPointError, resolveJumpError:
		rp.Advance()
	default:
		return false
	}
	rp.mount, rp.start = rp.nextMount, rp.nextStart
	rp.nextMount, rp.nextStart = nil, nil
	return true
}
