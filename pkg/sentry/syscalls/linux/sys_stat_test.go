package linux

import (
	"encoding/binary"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

func TestStatLayout(t *testing.T) {
	if got := binary.Size(linux.Stat{}); got != 144 {
		t.Errorf("sizeof(struct stat) = %d, want 144", got)
	}
	if got := binary.Size(linux.Statx{}); got != 0x100-0x70 && got != 144 {
		t.Errorf("sizeof(struct statx fields) = %d, want 144", got)
	}
	if got := binary.Size(linux.Flock{}); got != 32 {
		t.Errorf("sizeof(struct flock) = %d, want 32", got)
	}
	if got := binary.Size(linux.OpenHow{}); got != linux.SizeOfOpenHow {
		t.Errorf("sizeof(struct open_how) = %d, want %d", got, linux.SizeOfOpenHow)
	}
}

func TestStatFromStatx(t *testing.T) {
	sx := linux.Statx{
		Mask: linux.STATX_BASIC_STATS, Blksize: 4096, Nlink: 2, UID: 1000, GID: 100,
		Mode: linux.S_IFREG | 0o644, Ino: 42, Size: 5000, Blocks: 16,
		Atime:    linux.StatxTimestamp{Sec: 1, Nsec: 2},
		Mtime:    linux.StatxTimestamp{Sec: 3, Nsec: 4},
		Ctime:    linux.StatxTimestamp{Sec: 5, Nsec: 6},
		DevMajor: 0, DevMinor: 0x123, RdevMajor: 1, RdevMinor: 3,
	}
	st := statFromStatx(&sx)
	want := linux.Stat{
		Dev: 0x100023, Ino: 42, Nlink: 2, Mode: linux.S_IFREG | 0o644, UID: 1000, GID: 100,
		Rdev: 0x103, Size: 5000, Blksize: 4096, Blocks: 16,
		ATime: linux.Timespec{Sec: 1, Nsec: 2}, MTime: linux.Timespec{Sec: 3, Nsec: 4}, CTime: linux.Timespec{Sec: 5, Nsec: 6},
	}
	if st != want {
		t.Errorf("statFromStatx = %+v, want %+v", st, want)
	}
}

func TestDeviceIDs(t *testing.T) {
	for _, tc := range []struct {
		major, minor uint32
		enc          uint64
	}{
		{1, 3, 0x103},          // /dev/null
		{0, 0x123, 0x100023},   // anonymous device 0:291
		{259, 0x100, 0x110300}, // minor above 255
	} {
		if got := linux.MakeDeviceID(tc.major, tc.minor); got != tc.enc {
			t.Errorf("MakeDeviceID(%d, %d) = %#x, want %#x", tc.major, tc.minor, got, tc.enc)
		}
		if maj, min := linux.DecodeDeviceID(uint32(tc.enc)); maj != tc.major || min != tc.minor {
			t.Errorf("DecodeDeviceID(%#x) = %d, %d; want %d, %d", tc.enc, maj, min, tc.major, tc.minor)
		}
	}
}

func TestStatxBytes(t *testing.T) {
	sx := linux.Statx{Mask: linux.STATX_INO, Ino: 0x1122334455667788, DevMajor: 7}
	b := statxBytes(&sx)
	if len(b) != linux.SizeOfStatxBuffer {
		t.Fatalf("len = %d, want %d", len(b), linux.SizeOfStatxBuffer)
	}
	if got := binary.LittleEndian.Uint32(b[0:]); got != linux.STATX_INO {
		t.Errorf("stx_mask = %#x", got)
	}
	if got := binary.LittleEndian.Uint64(b[0x20:]); got != sx.Ino {
		t.Errorf("stx_ino at 0x20 = %#x, want %#x", got, sx.Ino)
	}
	if got := binary.LittleEndian.Uint32(b[0x88:]); got != 7 {
		t.Errorf("stx_dev_major at 0x88 = %d, want 7", got)
	}
	for i := 0x90; i < len(b); i++ {
		if b[i] != 0 {
			t.Fatalf("byte %#x past the known fields = %#x, want 0", i, b[i])
		}
	}
}

func TestCheckStatx(t *testing.T) {
	for _, tc := range []struct {
		flags, mask uint32
		want        error
	}{
		{0, linux.STATX_BASIC_STATS, nil},
		{linux.AT_SYMLINK_NOFOLLOW | linux.AT_EMPTY_PATH | linux.AT_STATX_DONT_SYNC, 0xfff, nil},
		{linux.AT_STATX_FORCE_SYNC | linux.AT_STATX_DONT_SYNC, 0, linux.EINVAL},
		{linux.AT_REMOVEDIR, 0, linux.EINVAL},
		{0, linux.STATX__RESERVED, linux.EINVAL},
	} {
		if got := checkStatx(tc.flags, tc.mask); got != tc.want {
			t.Errorf("checkStatx(%#x, %#x) = %v, want %v", tc.flags, tc.mask, got, tc.want)
		}
	}
}

func TestAppendDirent(t *testing.T) {
	d := vfs.Dirent{Name: "hello", Type: linux.DT_REG, Ino: 9, NextOff: 17}
	b := appendDirent(nil, d)
	if len(b) != 32 || direntSize("hello") != 32 {
		t.Fatalf("len = %d (size %d), want 32", len(b), direntSize("hello"))
	}
	if binary.LittleEndian.Uint64(b) != 9 || binary.LittleEndian.Uint64(b[8:]) != 17 || binary.LittleEndian.Uint16(b[16:]) != 32 {
		t.Errorf("header = %x", b[:18])
	}
	if string(b[18:23]) != "hello" || b[23] != 0 {
		t.Errorf("name = %q", b[18:24])
	}
	if b[31] != linux.DT_REG {
		t.Errorf("d_type (last byte) = %d, want %d", b[31], linux.DT_REG)
	}
	// The name's NUL and d_type need two bytes after it.
	if direntSize("123456789012") != 32 || direntSize("1234567890123") != 40 {
		t.Errorf("direntSize: %d, %d; want 32, 40", direntSize("123456789012"), direntSize("1234567890123"))
	}
}

func TestDirentBufferStopsWhenFull(t *testing.T) {
	b := &direntBuffer{size: 48}
	if err := b.Handle(vfs.Dirent{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Handle(vfs.Dirent{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Handle(vfs.Dirent{Name: "c"}); err != errBufferFull {
		t.Errorf("third entry: err = %v, want errBufferFull", err)
	}
	if len(b.buf) != 48 {
		t.Errorf("buffer holds %d bytes, want 48", len(b.buf))
	}
}
