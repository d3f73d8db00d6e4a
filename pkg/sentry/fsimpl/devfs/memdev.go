package devfs

import (
	"crypto/rand"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/vfs"
)

// The memory devices: major 1, with these minors.
const (
	memDevMajor  = 1
	nullMinor    = 3
	zeroMinor    = 5
	fullMinor    = 7
	randomMinor  = 8
	urandomMinor = 9
)

func registerMemoryDevices(vfsObj *vfs.VirtualFilesystem) error {
	for minor, name := range map[uint32]string{
		nullMinor:    "null",
		zeroMinor:    "zero",
		fullMinor:    "full",
		randomMinor:  "random",
		urandomMinor: "urandom",
	} {
		if err := vfsObj.RegisterDevice(vfs.CharDevice, memDevMajor, minor, memDevice{minor: minor}, &vfs.RegisterDeviceOptions{Pathname: name, FilePerms: 0o666}); err != nil {
			return err
		}
	}
	return nil
}

// memDevice is one of the memory devices, by its minor number.
type memDevice struct {
	minor uint32
}

// Open implements vfs.Device.Open.
func (dev memDevice) Open(_ vfs.Context, mnt *vfs.Mount, d *vfs.Dentry, opts vfs.OpenOptions) (*vfs.FileDescription, error) {
	fd := &memFD{minor: dev.minor}
	fd.vfsfd.Init(fd, opts.Flags, mnt, d, &vfs.FileDescriptionOptions{UseDentryMetadata: true})
	return &fd.vfsfd, nil
}

// memFD is an open memory device:
//
//   - null reads end of file and swallows writes;
//   - zero reads zeros, swallows writes, and maps as anonymous memory;
//   - full reads zeros and fails writes with ENOSPC;
//   - random and urandom read the host's cryptographic randomness (the Sentry's
//     crypto/rand, which never blocks once the host pool is ready) and swallow
//     writes, which Linux mixes into its pool.
//
// Seeking always succeeds and leaves the offset at 0.
type memFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	vfs.DentryMetadataFileDescriptionImpl
	minor uint32
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *memFD) Release() {}

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *memFD) Read(ctx vfs.Context, dst []byte, opts vfs.ReadOptions) (int64, error) {
	return fd.PRead(ctx, dst, 0, opts)
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (fd *memFD) PRead(_ vfs.Context, dst []byte, _ int64, _ vfs.ReadOptions) (int64, error) {
	switch fd.minor {
	case nullMinor:
		return 0, nil
	case zeroMinor, fullMinor:
		clear(dst)
	default:
		// crypto/rand.Read never fails on Linux.
		_, _ = rand.Read(dst)
	}
	return int64(len(dst)), nil
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *memFD) Write(ctx vfs.Context, src []byte, opts vfs.WriteOptions) (int64, error) {
	return fd.PWrite(ctx, src, 0, opts)
}

// PWrite implements vfs.FileDescriptionImpl.PWrite.
func (fd *memFD) PWrite(_ vfs.Context, src []byte, _ int64, _ vfs.WriteOptions) (int64, error) {
	if fd.minor == fullMinor && len(src) != 0 {
		return 0, linux.ENOSPC
	}
	return int64(len(src)), nil
}

// Seek implements vfs.FileDescriptionImpl.Seek.
func (fd *memFD) Seek(vfs.Context, int64, int32) (int64, error) { return 0, nil }

// ConfigureMMap implements vfs.FileDescriptionImpl.ConfigureMMap: /dev/zero maps as
// anonymous memory (a nil Mappable); the others cannot be mapped.
func (fd *memFD) ConfigureMMap(_ vfs.Context, opts *memmap.MMapOpts) error {
	if fd.minor != zeroMinor {
		return linux.ENODEV
	}
	opts.Mappable = nil
	return nil
}
