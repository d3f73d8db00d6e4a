package vfs

import (
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
)

// Dentry is the VFS's part of a filesystem's dentry, a node of its tree: the
// filesystem's dentry type embeds it and points it back to itself with Init.
//
// Dentries are reference counted by their implementation; the VFS takes and drops
// references through DentryImpl.
type Dentry struct {
	impl DentryImpl

	// mu serializes deletion and renaming of the dentry against mounting on it.
	// Lock order: filesystem locks, then mu, then VirtualFilesystem.mountMu.
	mu sync.Mutex
	// dead is set, under mu, once the dentry has been unlinked, removed or
	// replaced by a rename: nothing can be mounted on it any more and
	// directories no longer accept new entries.
	dead atomic.Bool
	// mounts is the number of mounts with this dentry as their mountpoint. It
	// changes under VirtualFilesystem.mountMu and is read without it to skip the
	// mount table for the many dentries nothing is mounted on.
	mounts atomic.Int32
}

// DentryImpl is what a filesystem's dentry provides the VFS.
type DentryImpl interface {
	// IncRef takes a reference on the dentry.
	IncRef()
	// DecRef drops a reference.
	DecRef()
}

// Init makes d the VFS part of impl.
func (d *Dentry) Init(impl DentryImpl) { d.impl = impl }

// Impl returns the filesystem's dentry d belongs to.
func (d *Dentry) Impl() DentryImpl { return d.impl }

// IsDead reports whether d has been deleted.
func (d *Dentry) IsDead() bool { return d.dead.Load() }

// isMounted reports whether anything may be mounted on d.
func (d *Dentry) isMounted() bool { return d.mounts.Load() != 0 }

// IncRef takes a reference on d.
func (d *Dentry) IncRef() { d.impl.IncRef() }

// DecRef drops a reference on d.
func (d *Dentry) DecRef() { d.impl.DecRef() }

// PrepareDeleteDentry starts deleting d (unlink, rmdir): it fails with EBUSY if d is
// a mountpoint. On success d is locked until CommitDeleteDentry or AbortDeleteDentry.
func (vfs *VirtualFilesystem) PrepareDeleteDentry(d *Dentry) error {
	d.mu.Lock()
	if d.isMounted() {
		d.mu.Unlock()
		return linux.EBUSY
	}
	return nil
}

// AbortDeleteDentry ends a deletion PrepareDeleteDentry started without deleting.
func (vfs *VirtualFilesystem) AbortDeleteDentry(d *Dentry) { d.mu.Unlock() }

// CommitDeleteDentry marks d deleted and ends the deletion.
func (vfs *VirtualFilesystem) CommitDeleteDentry(d *Dentry) {
	d.dead.Store(true)
	d.mu.Unlock()
}

// PrepareRenameDentry starts renaming from over to (nil if the new name is unused):
// it fails with EBUSY if either is a mountpoint. On success both are locked until
// CommitRenameReplaceDentry or AbortRenameDentry.
func (vfs *VirtualFilesystem) PrepareRenameDentry(from, to *Dentry) error {
	from.mu.Lock()
	if from.isMounted() {
		from.mu.Unlock()
		return linux.EBUSY
	}
	if to != nil {
		to.mu.Lock()
		if to.isMounted() {
			to.mu.Unlock()
			from.mu.Unlock()
			return linux.EBUSY
		}
	}
	return nil
}

// AbortRenameDentry ends a rename PrepareRenameDentry started without renaming.
func (vfs *VirtualFilesystem) AbortRenameDentry(from, to *Dentry) {
	from.mu.Unlock()
	if to != nil {
		to.mu.Unlock()
	}
}

// CommitRenameReplaceDentry ends a rename, marking to, which the rename replaced,
// deleted.
func (vfs *VirtualFilesystem) CommitRenameReplaceDentry(from, to *Dentry) {
	from.mu.Unlock()
	if to != nil {
		to.dead.Store(true)
		to.mu.Unlock()
	}
}

// CommitRenameExchangeDentry ends a RENAME_EXCHANGE.
func (vfs *VirtualFilesystem) CommitRenameExchangeDentry(from, to *Dentry) {
	from.mu.Unlock()
	to.mu.Unlock()
}

// VirtualDentry is a place in the mount tree: a dentry as reached through a mount.
// The zero value is no place.
type VirtualDentry struct {
	mount  *Mount
	dentry *Dentry
}

// MakeVirtualDentry returns the VirtualDentry of d in mnt, taking no references.
func MakeVirtualDentry(mnt *Mount, d *Dentry) VirtualDentry {
	return VirtualDentry{mount: mnt, dentry: d}
}

// Ok reports whether vd is a place.
func (vd VirtualDentry) Ok() bool { return vd.mount != nil }

// Mount returns vd's mount.
func (vd VirtualDentry) Mount() *Mount { return vd.mount }

// Dentry returns vd's dentry.
func (vd VirtualDentry) Dentry() *Dentry { return vd.dentry }

// IncRef takes a reference on vd's mount and dentry.
func (vd VirtualDentry) IncRef() {
	vd.mount.IncRef()
	vd.dentry.IncRef()
}

// DecRef drops a reference on vd's mount and dentry.
func (vd VirtualDentry) DecRef() {
	vd.dentry.DecRef()
	vd.mount.DecRef()
}
