package linux

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/abi/linux"
)

func iovecBytes(iovs ...[2]uint64) []byte {
	var b []byte
	for _, iov := range iovs {
		b = binary.LittleEndian.AppendUint64(b, iov[0])
		b = binary.LittleEndian.AppendUint64(b, iov[1])
	}
	return b
}

func TestParseIovecs(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want ioSegs
		err  error
	}{
		{"empty", nil, ioSegs{}, nil},
		{"two", iovecBytes([2]uint64{0x1000, 10}, [2]uint64{0x2000, 0}), ioSegs{{0x1000, 10}, {0x2000, 0}}, nil},
		{"negative length", iovecBytes([2]uint64{0x1000, 10}, [2]uint64{0x2000, 1 << 63}), nil, linux.EINVAL},
		{
			"total clamped to MAX_RW_COUNT",
			iovecBytes([2]uint64{0x1000, linux.MAX_RW_COUNT - 5}, [2]uint64{0x2000, 10}, [2]uint64{0x3000, 10}),
			ioSegs{{0x1000, linux.MAX_RW_COUNT - 5}, {0x2000, 5}, {0x3000, 0}},
			nil,
		},
	} {
		got, err := parseIovecs(tc.raw)
		if err != tc.err {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil {
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(ioSeg{})); diff != "" {
				t.Errorf("%s: segments (-want +got):\n%s", tc.name, diff)
			}
		}
	}
}

func TestIoSegsWalk(t *testing.T) {
	segs := ioSegs{{0x1000, 4}, {0x2000, 0}, {0x3000, 6}}
	if segs.total() != 10 {
		t.Fatalf("total = %d, want 10", segs.total())
	}
	type piece struct {
		Addr           uintptr
		BufOff, Length int64
	}
	for _, tc := range []struct {
		off, n int64
		want   []piece
	}{
		{0, 10, []piece{{0x1000, 0, 4}, {0x3000, 4, 6}}},
		{2, 4, []piece{{0x1002, 0, 2}, {0x3000, 2, 2}}},
		{5, 5, []piece{{0x3001, 0, 5}}},
		{0, 3, []piece{{0x1000, 0, 3}}},
	} {
		var got []piece
		n, err := segs.walk(tc.off, tc.n, func(addr uintptr, bufOff, length int64) (int, error) {
			got = append(got, piece{addr, bufOff, length})
			return int(length), nil
		})
		if err != nil || n != tc.n {
			t.Errorf("walk(%d, %d) = %d, %v", tc.off, tc.n, n, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("walk(%d, %d) pieces (-want +got):\n%s", tc.off, tc.n, diff)
		}
	}
	// A fault stops the walk with what was done.
	n, err := segs.walk(0, 10, func(addr uintptr, bufOff, length int64) (int, error) {
		if addr == 0x3000 {
			return 1, linux.EFAULT
		}
		return int(length), nil
	})
	if n != 5 || err != linux.EFAULT {
		t.Errorf("faulting walk = %d, %v; want 5, EFAULT", n, err)
	}
}

func TestCheckPos(t *testing.T) {
	for _, tc := range []struct {
		pos, count int64
		want       error
	}{
		{0, 100, nil},
		{-1, 1, linux.EINVAL},
		{math.MaxInt64 - 10, 10, nil},
		{math.MaxInt64 - 10, 11, linux.EOVERFLOW},
	} {
		if got := checkPos(tc.pos, tc.count); got != tc.want {
			t.Errorf("checkPos(%d, %d) = %v, want %v", tc.pos, tc.count, got, tc.want)
		}
	}
}
