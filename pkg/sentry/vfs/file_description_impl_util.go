package vfs

import (
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/waiter"
)

// FileDescriptionDefaultImpl gives a FileDescriptionImpl the behaviour Linux has
// for a file that lacks an operation. It implements everything but Release, Stat
// and SetStat. Files are always ready and waiting on them never ends, as for regular files.
type FileDescriptionDefaultImpl struct{}

// Read implements FileDescriptionImpl.Read.
func (FileDescriptionDefaultImpl) Read(Context, []byte, ReadOptions) (int64, error) {
	return 0, linux.EINVAL
}

// PRead implements FileDescriptionImpl.PRead.
func (FileDescriptionDefaultImpl) PRead(Context, []byte, int64, ReadOptions) (int64, error) {
	return 0, linux.ESPIPE
}

// Write implements FileDescriptionImpl.Write.
func (FileDescriptionDefaultImpl) Write(Context, []byte, WriteOptions) (int64, error) {
	return 0, linux.EINVAL
}

// PWrite implements FileDescriptionImpl.PWrite.
func (FileDescriptionDefaultImpl) PWrite(Context, []byte, int64, WriteOptions) (int64, error) {
	return 0, linux.ESPIPE
}

// Seek implements FileDescriptionImpl.Seek.
func (FileDescriptionDefaultImpl) Seek(Context, int64, int32) (int64, error) {
	return 0, linux.ESPIPE
}

// IterDirents implements FileDescriptionImpl.IterDirents.
func (FileDescriptionDefaultImpl) IterDirents(Context, IterDirentsCallback) error {
	return linux.ENOTDIR
}

// StatFS implements FileDescriptionImpl.StatFS.
func (FileDescriptionDefaultImpl) StatFS(Context) (linux.Statfs, error) {
	return linux.Statfs{}, linux.ENOSYS
}

// ListXattr implements FileDescriptionImpl.ListXattr.
func (FileDescriptionDefaultImpl) ListXattr(Context, uint64) ([]string, error) {
	return nil, linux.EOPNOTSUPP
}

// GetXattr implements FileDescriptionImpl.GetXattr.
func (FileDescriptionDefaultImpl) GetXattr(Context, GetXattrOptions) (string, error) {
	return "", linux.EOPNOTSUPP
}

// SetXattr implements FileDescriptionImpl.SetXattr.
func (FileDescriptionDefaultImpl) SetXattr(Context, SetXattrOptions) error {
	return linux.EOPNOTSUPP
}

// RemoveXattr implements FileDescriptionImpl.RemoveXattr.
func (FileDescriptionDefaultImpl) RemoveXattr(Context, string) error { return linux.EOPNOTSUPP }

// Allocate implements FileDescriptionImpl.Allocate.
func (FileDescriptionDefaultImpl) Allocate(Context, uint64, uint64, uint64) error {
	return linux.ENODEV
}

// Sync implements FileDescriptionImpl.Sync.
func (FileDescriptionDefaultImpl) Sync(Context) error { return linux.EINVAL }

// Ioctl implements FileDescriptionImpl.Ioctl.
func (FileDescriptionDefaultImpl) Ioctl(Context, UserMemory, uint32, uintptr) (uintptr, error) {
	return 0, linux.ENOTTY
}

// ConfigureMMap implements FileDescriptionImpl.ConfigureMMap.
func (FileDescriptionDefaultImpl) ConfigureMMap(Context, *memmap.MMapOpts) error {
	return linux.ENODEV
}

// Readiness implements waiter.Waitable.Readiness.
func (FileDescriptionDefaultImpl) Readiness(mask waiter.EventMask) waiter.EventMask {
	return mask & (waiter.ReadableEvents | waiter.WritableEvents)
}

// EventRegister implements waiter.Waitable.EventRegister.
func (FileDescriptionDefaultImpl) EventRegister(*waiter.Entry) error { return nil }

// EventUnregister implements waiter.Waitable.EventUnregister.
func (FileDescriptionDefaultImpl) EventUnregister(*waiter.Entry) {}

// DirectoryFileDescriptionDefaultImpl overrides FileDescriptionDefaultImpl's data
// operations for directories, which fail with EISDIR. Embed it beside
// FileDescriptionDefaultImpl.
type DirectoryFileDescriptionDefaultImpl struct{}

// Read implements FileDescriptionImpl.Read.
func (DirectoryFileDescriptionDefaultImpl) Read(Context, []byte, ReadOptions) (int64, error) {
	return 0, linux.EISDIR
}

// PRead implements FileDescriptionImpl.PRead.
func (DirectoryFileDescriptionDefaultImpl) PRead(Context, []byte, int64, ReadOptions) (int64, error) {
	return 0, linux.EISDIR
}

// Write implements FileDescriptionImpl.Write.
func (DirectoryFileDescriptionDefaultImpl) Write(Context, []byte, WriteOptions) (int64, error) {
	return 0, linux.EISDIR
}

// PWrite implements FileDescriptionImpl.PWrite.
func (DirectoryFileDescriptionDefaultImpl) PWrite(Context, []byte, int64, WriteOptions) (int64, error) {
	return 0, linux.EISDIR
}

// Allocate implements FileDescriptionImpl.Allocate.
func (DirectoryFileDescriptionDefaultImpl) Allocate(Context, uint64, uint64, uint64) error {
	return linux.EISDIR
}

// DentryMetadataFileDescriptionImpl gives a FileDescriptionImpl opened with
// FileDescriptionOptions.UseDentryMetadata the metadata methods, which the VFS never
// calls on it. Embed it beside FileDescriptionDefaultImpl.
type DentryMetadataFileDescriptionImpl struct{}

// Stat implements FileDescriptionImpl.Stat.
func (DentryMetadataFileDescriptionImpl) Stat(Context, StatOptions) (linux.Statx, error) {
	panic("vfs: Stat of a UseDentryMetadata file reached its implementation")
}

// SetStat implements FileDescriptionImpl.SetStat.
func (DentryMetadataFileDescriptionImpl) SetStat(Context, SetStatOptions) error {
	panic("vfs: SetStat of a UseDentryMetadata file reached its implementation")
}
