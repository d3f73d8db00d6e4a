package vfs

import (
	"encoding/binary"

	"visor.dev/visor/pkg/abi/linux"
)

// Dirent is one directory entry as IterDirents reports it.
type Dirent struct {
	// Name is the entry's name.
	Name string
	// Type is its DT_* type.
	Type uint8
	// Ino is its inode number.
	Ino uint64
	// NextOff is the directory offset just past the entry: seeking there
	// resumes iteration after it (d_off).
	NextOff int64
}

// IterDirentsCallback receives the entries of a directory.
type IterDirentsCallback interface {
	// Handle takes one entry. If it fails (getdents' buffer is full), the
	// iteration stops without consuming the entry, and IterDirents returns the
	// error.
	Handle(dirent Dirent) error
}

// IterDirentsCallbackFunc is a function as an IterDirentsCallback.
type IterDirentsCallbackFunc func(dirent Dirent) error

// Handle implements IterDirentsCallback.
func (f IterDirentsCallbackFunc) Handle(dirent Dirent) error { return f(dirent) }

// DTFromMode returns the DT_* type of a file of mode (IFTODT).
func DTFromMode(mode uint16) uint8 { return uint8((mode & linux.S_IFMT) >> 12) }

// dirent64HeaderSize is the size of struct linux_dirent64 before its name.
const dirent64HeaderSize = 8 + 8 + 2 + 1

// Dirent64Size returns the size struct linux_dirent64 takes for a name: the header,
// the name and its NUL, padded to 8 bytes.
func Dirent64Size(name string) int {
	return (dirent64HeaderSize + len(name) + 1 + 7) &^ 7
}

// AppendDirent64 appends d as getdents64(2) lays it out in its buffer.
func AppendDirent64(buf []byte, d Dirent) []byte {
	size := Dirent64Size(d.Name)
	buf = binary.LittleEndian.AppendUint64(buf, d.Ino)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(d.NextOff))
	buf = binary.LittleEndian.AppendUint16(buf, uint16(size))
	buf = append(buf, d.Type)
	buf = append(buf, d.Name...)
	for pad := size - dirent64HeaderSize - len(d.Name); pad > 0; pad-- {
		buf = append(buf, 0)
	}
	return buf
}
