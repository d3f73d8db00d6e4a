package vfs

import (
	"strings"

	"visor.dev/visor/pkg/abi/linux"
)

// PathBuilder builds a path from its last component to its first.
type PathBuilder struct {
	// comps are the components, last first.
	comps []string
}

// PrependComponent adds name in front of the path.
func (b *PathBuilder) PrependComponent(name string) { b.comps = append(b.comps, name) }

// String returns the path, absolute.
func (b *PathBuilder) String() string {
	if len(b.comps) == 0 {
		return "/"
	}
	var sb strings.Builder
	for i := len(b.comps) - 1; i >= 0; i-- {
		sb.WriteByte('/')
		sb.WriteString(b.comps[i])
	}
	return sb.String()
}

// The results of FilesystemImpl.PrependPath other than nil.
type (
	// PrependPathAtVFSRootError: the path reached vfsroot.
	PrependPathAtVFSRootError struct{}
	// PrependPathAtNonMountRootError: the path reached the filesystem's root
	// without reaching the mount's.
	PrependPathAtNonMountRootError struct{}
	// PrependPathSyntheticError: the file has a made-up name, which the
	// filesystem prepended, rather than a path.
	PrependPathSyntheticError struct{}
)

func (PrependPathAtVFSRootError) Error() string      { return "vfs: prepend path at the root" }
func (PrependPathAtNonMountRootError) Error() string { return "vfs: prepend path outside the mount" }
func (PrependPathSyntheticError) Error() string      { return "vfs: synthetic path" }

// prependPath builds the path of vd as seen from vfsroot. reachable is false if
// vfsroot is not an ancestor of vd; synthetic is true for made-up names.
func (vfs *VirtualFilesystem) prependPath(ctx Context, vfsroot, vd VirtualDentry) (b PathBuilder, reachable, synthetic bool, err error) {
	for {
		err := vd.mount.fs.impl.PrependPath(ctx, vfsroot, vd, &b)
		switch err.(type) {
		case nil:
			point := vfs.getMountpointAt(vd.mount)
			if !point.Ok() {
				return b, false, false, nil
			}
			vd = point
		case PrependPathAtVFSRootError:
			return b, true, false, nil
		case PrependPathAtNonMountRootError:
			return b, false, false, nil
		case PrependPathSyntheticError:
			return b, true, true, nil
		default:
			return b, false, false, err
		}
	}
}

// PathnameWithDeleted returns the path of vd as seen from vfsroot, as
// /proc/[pid]/fd/N and /proc/[pid]/exe show it: with " (deleted)" after a deleted
// file's path, and made-up names ("pipe:[1234]") as they are.
func (vfs *VirtualFilesystem) PathnameWithDeleted(ctx Context, vfsroot, vd VirtualDentry) (string, error) {
	b, _, synthetic, err := vfs.prependPath(ctx, vfsroot, vd)
	if err != nil {
		return "", err
	}
	if synthetic {
		return b.comps[0], nil
	}
	s := b.String()
	if vd.dentry.IsDead() {
		s += " (deleted)"
	}
	return s, nil
}

// PathnameForGetcwd returns the path of the working directory vd as getcwd(2) does:
// ENOENT if it was removed, and "(unreachable)" in front of a path outside vfsroot.
func (vfs *VirtualFilesystem) PathnameForGetcwd(ctx Context, vfsroot, vd VirtualDentry) (string, error) {
	if vd.dentry.IsDead() {
		return "", linux.ENOENT
	}
	b, reachable, _, err := vfs.prependPath(ctx, vfsroot, vd)
	if err != nil {
		return "", err
	}
	if !reachable {
		return "(unreachable)" + b.String(), nil
	}
	return b.String(), nil
}
