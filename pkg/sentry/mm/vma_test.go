package mm

import (
	"bytes"
	"slices"
	"testing"
)

// sliceFile is a Mappable whose dynamic type is not comparable.
type sliceFile []byte

func (f sliceFile) ReadAt(b []byte, off int64) (int, error) { return bytes.NewReader(f).ReadAt(b, off) }

func TestVMAMerging(t *testing.T) {
	file := bytes.NewReader(make([]byte, 4*pageSize))
	other := bytes.NewReader(make([]byte, 4*pageSize))
	e := newTestEnv(t)
	at := func(i uintptr) uintptr { return base + i*pageSize }
	first := fixed(fileOf(nil, pageSize), at(0))
	first.Mappable = file
	mustMMap(t, e.mm, first)
	// The same file at the next offset joins the first mapping.
	next := fixed(fileOf(nil, pageSize), at(1))
	next.Mappable, next.Offset = file, pageSize
	mustMMap(t, e.mm, next)
	// The same file at a discontiguous offset, another file, and a file that cannot
	// be compared do not.
	gap := fixed(fileOf(nil, pageSize), at(2))
	gap.Mappable, gap.Offset = file, 3*pageSize
	mustMMap(t, e.mm, gap)
	otherFile := fixed(fileOf(nil, pageSize), at(3))
	otherFile.Mappable, otherFile.Offset = other, 4*pageSize
	mustMMap(t, e.mm, otherFile)
	for i := uintptr(4); i < 6; i++ {
		o := fixed(fileOf(nil, pageSize), at(i))
		o.Mappable, o.Offset = sliceFile(nil), uint64(i)*pageSize
		mustMMap(t, e.mm, o)
	}
	want := []AddrRange{{at(0), at(2)}, {at(2), at(3)}, {at(3), at(4)}, {at(4), at(5)}, {at(5), at(6)}}
	if got := vmaRanges(e.mm); !slices.Equal(got, want) {
		t.Errorf("vmas = %v, want %v", got, want)
	}
}
