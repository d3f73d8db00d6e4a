package kernel

import (
	"bytes"
	"encoding/binary"

	"visor.dev/visor/pkg/abi/linux"
)

// Copying to and from application memory. All of these go through t's memory
// manager, which checks the mappings' permissions as Linux's copy_to_user and
// copy_from_user do; a bad address fails with EFAULT.
//
// Preconditions (all): called by the task goroutine.

// CopyInBytes copies len(dst) bytes from addr.
func (t *Task) CopyInBytes(addr uintptr, dst []byte) (int, error) {
	return t.image.mm.CopyIn(addr, dst)
}

// CopyOutBytes copies src to addr.
func (t *Task) CopyOutBytes(addr uintptr, src []byte) (int, error) {
	return t.image.mm.CopyOut(addr, src)
}

// CopyInUint32 reads a 32-bit value from addr.
func (t *Task) CopyInUint32(addr uintptr) (uint32, error) {
	var b [4]byte
	if _, err := t.image.mm.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// CopyOutUint32 writes a 32-bit value to addr.
func (t *Task) CopyOutUint32(addr uintptr, v uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	_, err := t.image.mm.CopyOut(addr, b[:])
	return err
}

// CopyInUint64 reads a 64-bit value from addr.
func (t *Task) CopyInUint64(addr uintptr) (uint64, error) {
	var b [8]byte
	if _, err := t.image.mm.CopyIn(addr, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// CopyOutUint64 writes a 64-bit value to addr.
func (t *Task) CopyOutUint64(addr uintptr, v uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	_, err := t.image.mm.CopyOut(addr, b[:])
	return err
}

// CopyInStruct reads the fixed-size value v points to from addr, in the
// application's (little-endian, natural) layout.
func (t *Task) CopyInStruct(addr uintptr, v any) error {
	buf := make([]byte, binary.Size(v))
	if _, err := t.image.mm.CopyIn(addr, buf); err != nil {
		return err
	}
	if err := binary.Read(bytes.NewReader(buf), binary.LittleEndian, v); err != nil {
		return linux.EFAULT
	}
	return nil
}

// CopyOutStruct writes the fixed-size value v to addr.
func (t *Task) CopyOutStruct(addr uintptr, v any) error {
	buf := make([]byte, 0, binary.Size(v))
	buf, err := binary.Append(buf, binary.LittleEndian, v)
	if err != nil {
		return linux.EFAULT
	}
	_, err = t.image.mm.CopyOut(addr, buf)
	return err
}

// CopyOutTimespec writes ts to addr; the clock calls are hot enough to skip reflection.
func (t *Task) CopyOutTimespec(addr uintptr, ts linux.Timespec) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(ts.Sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(ts.Nsec))
	_, err := t.image.mm.CopyOut(addr, b[:])
	return err
}

// CopyInTimespec reads a timespec from addr.
func (t *Task) CopyInTimespec(addr uintptr) (linux.Timespec, error) {
	var b [16]byte
	if _, err := t.image.mm.CopyIn(addr, b[:]); err != nil {
		return linux.Timespec{}, err
	}
	return linux.Timespec{Sec: int64(binary.LittleEndian.Uint64(b[0:])), Nsec: int64(binary.LittleEndian.Uint64(b[8:]))}, nil
}

// CopyInString reads a NUL-terminated string of at most maxLen bytes (without the
// NUL) from addr; a longer one fails with ENAMETOOLONG.
func (t *Task) CopyInString(addr uintptr, maxLen int) (string, error) {
	return t.image.mm.CopyInString(addr, maxLen)
}

// maxArgStrings bounds argv and envp, like Linux's MAX_ARG_STRINGS.
const maxArgStrings = 0x7fffffff

// maxArgBytes bounds the total size of argv plus envp (Linux allows a quarter of
// the stack limit; 2 MiB is the usual result).
const maxArgBytes = 2 << 20

// CopyInStringVector reads a NULL-terminated array of string pointers (argv, envp).
func (t *Task) CopyInStringVector(addr uintptr) ([]string, error) {
	var strs []string
	total := 0
	for i := 0; addr != 0; i++ {
		if i >= maxArgStrings {
			return nil, linux.E2BIG
		}
		p, err := t.CopyInUint64(addr + uintptr(8*i))
		if err != nil {
			return nil, err
		}
		if p == 0 {
			break
		}
		s, err := t.CopyInString(uintptr(p), maxArgBytes)
		if err != nil {
			if err == linux.ENAMETOOLONG {
				return nil, linux.E2BIG
			}
			return nil, err
		}
		total += len(s) + 1
		if total > maxArgBytes {
			return nil, linux.E2BIG
		}
		strs = append(strs, s)
	}
	return strs, nil
}
