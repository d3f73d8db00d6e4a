package lisafs

import (
	"encoding/binary"
	"errors"
	"fmt"

	"visor.dev/visor/pkg/abi/linux"
)

// errMalformed is wrapped by every decoding failure: a peer that sends it is broken
// or hostile, and the connection ends.
var errMalformed = errors.New("lisafs: malformed message")

// encoder appends little-endian fields to buf.
type encoder struct {
	buf []byte
}

func (e *encoder) u8(v uint8)   { e.buf = append(e.buf, v) }
func (e *encoder) u16(v uint16) { e.buf = binary.LittleEndian.AppendUint16(e.buf, v) }
func (e *encoder) u32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }
func (e *encoder) u64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) fd(v FDID)    { e.u64(uint64(v)) }

// str writes a length-prefixed string; bytes is the same for a []byte.
func (e *encoder) str(s string) {
	e.u32(uint32(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) bytes(b []byte) {
	e.u32(uint32(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *encoder) timestamp(t linux.StatxTimestamp) {
	e.i64(t.Sec)
	e.u32(t.Nsec)
}

// statxSize is the encoded size of a linux.Statx.
const statxSize = 5*4 + 5*8 + 2 + 4*12 + 4*4

func (e *encoder) statx(s *linux.Statx) {
	e.u32(s.Mask)
	e.u32(s.Blksize)
	e.u64(s.Attributes)
	e.u32(s.Nlink)
	e.u32(s.UID)
	e.u32(s.GID)
	e.u16(s.Mode)
	e.u64(s.Ino)
	e.u64(s.Size)
	e.u64(s.Blocks)
	e.u64(s.AttributesMask)
	e.timestamp(s.Atime)
	e.timestamp(s.Btime)
	e.timestamp(s.Ctime)
	e.timestamp(s.Mtime)
	e.u32(s.RdevMajor)
	e.u32(s.RdevMinor)
	e.u32(s.DevMajor)
	e.u32(s.DevMinor)
}

// decoder reads little-endian fields from buf. The first failure sticks: later reads
// return zero values, so a message's unmarshal reads straight through and checks
// err once at the end, and a short or lying message can never index out of range.
type decoder struct {
	buf []byte
	err error
}

// take returns the next n bytes, or nil after recording a failure.
func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf) {
		d.err = fmt.Errorf("%w: need %d bytes, have %d", errMalformed, n, len(d.buf))
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) i64() int64 { return int64(d.u64()) }
func (d *decoder) fd() FDID   { return FDID(d.u64()) }

// str reads a length-prefixed string of at most max bytes.
func (d *decoder) str(max int) string {
	return string(d.rawBytes(max))
}

// bytes reads a length-prefixed byte string of at most max bytes into a new slice.
func (d *decoder) bytes(max int) []byte {
	b := d.rawBytes(max)
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (d *decoder) rawBytes(max int) []byte {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.err = fmt.Errorf("%w: string of %d bytes, limit %d", errMalformed, n, max)
		return nil
	}
	return d.take(int(n))
}

// count reads an element count of at most max whose elements take at least minSize
// bytes each, so a lying count fails here instead of allocating.
func (d *decoder) count(max, minSize int) int {
	n := d.u32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) || uint64(n)*uint64(minSize) > uint64(len(d.buf)) {
		d.err = fmt.Errorf("%w: count %d over limit %d or remaining %d bytes", errMalformed, n, max, len(d.buf))
		return 0
	}
	return int(n)
}

func (d *decoder) timestamp() linux.StatxTimestamp {
	return linux.StatxTimestamp{Sec: d.i64(), Nsec: d.u32()}
}

func (d *decoder) statx(s *linux.Statx) {
	s.Mask = d.u32()
	s.Blksize = d.u32()
	s.Attributes = d.u64()
	s.Nlink = d.u32()
	s.UID = d.u32()
	s.GID = d.u32()
	s.Mode = d.u16()
	s.Ino = d.u64()
	s.Size = d.u64()
	s.Blocks = d.u64()
	s.AttributesMask = d.u64()
	s.Atime = d.timestamp()
	s.Btime = d.timestamp()
	s.Ctime = d.timestamp()
	s.Mtime = d.timestamp()
	s.RdevMajor = d.u32()
	s.RdevMinor = d.u32()
	s.DevMajor = d.u32()
	s.DevMinor = d.u32()
}

// finish reports the first failure, or trailing bytes: a message must decode exactly.
func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errMalformed, len(d.buf))
	}
	return d.err
}

// message is one payload: a request or a response.
type message interface {
	marshal(e *encoder)
	unmarshal(d *decoder)
}

// decode unmarshals payload into m, which must consume it exactly.
func decode(payload []byte, m message) error {
	d := decoder{buf: payload}
	m.unmarshal(&d)
	return d.finish()
}

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// bool reads a byte that must be 0 or 1.
func (d *decoder) bool() bool {
	switch v := d.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bool %d", v)
		return false
	}
}

// fail records a failure unless one is already recorded.
func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
	}
}
