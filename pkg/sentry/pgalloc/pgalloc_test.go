package pgalloc

import (
	"errors"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
)

func newFile(t testing.TB, maxSize uint64) *MemoryFile {
	t.Helper()
	f, err := NewMemoryFile(Options{MaxSize: maxSize})
	if err != nil {
		t.Fatalf("NewMemoryFile: %v", err)
	}
	t.Cleanup(f.Destroy)
	return f
}

// hostBlocks returns how much host memory the file holds, in 512-byte blocks.
func hostBlocks(t *testing.T, f *MemoryFile) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.File().Fd()), &st); err != nil {
		t.Fatalf("fstat: %v", err)
	}
	return st.Blocks
}

func TestAllocateErrors(t *testing.T) {
	f := newFile(t, 4*PageSize)
	for _, tc := range []struct {
		name   string
		length uint64
		want   error
	}{
		{"zero", 0, linux.EINVAL},
		{"unaligned", 100, linux.EINVAL},
		{"larger than the file", 5 * PageSize, linux.ENOMEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.Allocate(tc.length); !errors.Is(err, tc.want) {
				t.Errorf("Allocate(%d) = %v, want %v", tc.length, err, tc.want)
			}
		})
	}
	if got := f.Committed(); got != 0 {
		t.Errorf("Committed after failures = %d, want 0", got)
	}
}

func TestAllocateUntilFull(t *testing.T) {
	f := newFile(t, 4*PageSize)
	var got []FileRange
	for range 4 {
		fr, err := f.Allocate(PageSize)
		if err != nil {
			t.Fatalf("Allocate: %v", err)
		}
		got = append(got, fr)
	}
	if _, err := f.Allocate(PageSize); !errors.Is(err, linux.ENOMEM) {
		t.Fatalf("Allocate of a full file = %v, want ENOMEM", err)
	}
	if c := f.Committed(); c != 4*PageSize {
		t.Errorf("Committed = %d, want %d", c, 4*PageSize)
	}
	f.DecRef(got[1])
	f.DecRef(got[2])
	fr, err := f.Allocate(2 * PageSize)
	if err != nil {
		t.Fatalf("Allocate into the freed hole: %v", err)
	}
	if want := (FileRange{PageSize, 3 * PageSize}); fr != want {
		t.Errorf("Allocate reused %v, want %v", fr, want)
	}
}

func TestRefCountsAndRelease(t *testing.T) {
	f := newFile(t, 0)
	before := hostBlocks(t, f)
	fr, err := f.Allocate(16 * PageSize)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if got := f.Size(); got < fr.End || got%growChunk != 0 {
		t.Errorf("Size = %d, want the range's end rounded up to the growth chunk", got)
	}
	b := f.Slice(fr)
	for i := range b {
		if b[i] != 0 {
			t.Fatalf("new page byte %d = %d, want 0", i, b[i])
		}
		b[i] = 0xaa
	}
	if hostBlocks(t, f) <= before {
		t.Errorf("writing pages did not commit host memory")
	}
	f.IncRef(FileRange{0, 4 * PageSize})
	if got := f.RefCount(0); got != 2 {
		t.Errorf("RefCount(0) = %d, want 2", got)
	}
	f.DecRef(fr)
	if got, want := f.Committed(), uint64(4*PageSize); got != want {
		t.Errorf("Committed = %d, want %d", got, want)
	}
	// Check the host's accounting before reading freed pages: a read of a hole
	// through a shared mapping allocates a page.
	if got, want := hostBlocks(t, f), before+4*PageSize/512; got != want {
		t.Errorf("host blocks with 4 pages referenced = %d, want %d", got, want)
	}
	if b[0] != 0xaa {
		t.Errorf("a page still referenced lost its contents")
	}
	if b[4*PageSize] != 0 {
		t.Errorf("a freed page was not released (reads %#x)", b[4*PageSize])
	}
	f.DecRef(FileRange{0, 4 * PageSize})
	if got := f.Committed(); got != 0 {
		t.Errorf("Committed after all DecRefs = %d, want 0", got)
	}
	again, err := f.Allocate(16 * PageSize)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if again != fr {
		t.Errorf("Allocate after freeing everything = %v, want the freed %v", again, fr)
	}
	for i, c := range f.Slice(again) {
		if c != 0 {
			t.Fatalf("reused byte %d = %d, want 0", i, c)
		}
	}
}

func TestFreeSetCoalesces(t *testing.T) {
	f := newFile(t, 8*PageSize)
	if _, err := f.Allocate(8 * PageSize); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	// Free pages out of order; the holes must merge into one range.
	for _, i := range []uint64{3, 1, 5, 2, 4} {
		f.DecRef(FileRange{i * PageSize, (i + 1) * PageSize})
	}
	if want := []FileRange{{PageSize, 6 * PageSize}}; len(f.free) != 1 || f.free[0] != want[0] {
		t.Errorf("free set = %v, want %v", f.free, want)
	}
	if _, err := f.Allocate(5 * PageSize); err != nil {
		t.Errorf("Allocate of the merged hole: %v", err)
	}
}

func TestRefCountMisusePanics(t *testing.T) {
	f := newFile(t, 0)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"DecRef of a free page", func() { f.DecRef(FileRange{0, PageSize}) }},
		{"IncRef of a free page", func() { f.IncRef(FileRange{0, PageSize}) }},
		{"unaligned range", func() { f.Slice(FileRange{1, PageSize}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("did not panic")
				}
			}()
			if _, err := f.Allocate(PageSize); err != nil { // grow the file past page 0
				t.Fatal(err)
			}
			f.DecRef(FileRange{0, PageSize})
			tc.fn()
		})
	}
}

func TestConcurrentAllocate(t *testing.T) {
	f := newFile(t, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fr, err := f.Allocate(uint64(1+i%3) * PageSize)
				if err != nil {
					t.Errorf("Allocate: %v", err)
					return
				}
				b := f.Slice(fr)
				b[0] = byte(g)
				if b[0] != byte(g) || f.RefCount(fr.Start) != 1 {
					t.Errorf("range %v shared with another goroutine", fr)
				}
				f.DecRef(fr)
			}
		})
	}
	wg.Wait()
	if got := f.Committed(); got != 0 {
		t.Errorf("Committed = %d, want 0", got)
	}
}

func BenchmarkAllocateDecRef(b *testing.B) {
	f := newFile(b, 0)
	for b.Loop() {
		fr, err := f.Allocate(PageSize)
		if err != nil {
			b.Fatal(err)
		}
		f.DecRef(fr)
	}
}
