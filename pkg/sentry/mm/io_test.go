package mm

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

func TestCopy(t *testing.T) {
	e := newTestEnv(t)
	// Two adjacent mappings with different attributes, so a copy crosses vmas, then
	// a read-only page, then a hole.
	mustMMap(t, e.mm, fixed(anon(2*pageSize), base))
	mustMMap(t, e.mm, fixed(sharedAnon(2*pageSize), base+2*pageSize))
	ro := anon(pageSize)
	ro.Perms = platform.Read
	mustMMap(t, e.mm, fixed(ro, base+4*pageSize))
	wo := anon(pageSize)
	wo.Perms = platform.AccessType{Write: true}
	mustMMap(t, e.mm, fixed(wo, base+8*pageSize))

	data := pattern(3*pageSize, 17)
	mustCopyOut(t, e.mm, base+pageSize/2, data)
	if got := mustCopyIn(t, e.mm, base+pageSize/2, len(data)); !bytes.Equal(got, data) {
		t.Errorf("CopyIn across vmas did not read what CopyOut wrote")
	}

	for _, tc := range []struct {
		name   string
		write  bool
		addr   uintptr
		n      int
		wantN  int
		wantOK bool
	}{
		{name: "read into a hole", addr: base + 5*pageSize - 10, n: 20, wantN: 10},
		{name: "write into a read-only page", write: true, addr: base + 4*pageSize - 10, n: 20, wantN: 10},
		{name: "read of write-only memory", addr: base + 8*pageSize, n: 20, wantN: 20, wantOK: true},
		{name: "read at the top of the address space", addr: ^uintptr(0) - 5, n: 20, wantN: 0},
		{name: "nothing", addr: 0, n: 0, wantN: 0, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n int
			var err error
			if tc.write {
				n, err = e.mm.CopyOut(tc.addr, make([]byte, tc.n))
			} else {
				n, err = e.mm.CopyIn(tc.addr, make([]byte, tc.n))
			}
			if n != tc.wantN || (err == nil) != tc.wantOK || (err != nil && err != linux.EFAULT) {
				t.Errorf("copy = %d, %v, want %d, ok=%v", n, err, tc.wantN, tc.wantOK)
			}
		})
	}

	if n, err := e.mm.ZeroOut(base+pageSize, 2*pageSize); n != 2*pageSize || err != nil {
		t.Fatalf("ZeroOut = %d, %v", n, err)
	}
	if got := mustCopyIn(t, e.mm, base+pageSize, 2*pageSize); !bytes.Equal(got, make([]byte, 2*pageSize)) {
		t.Errorf("ZeroOut did not zero")
	}
}

func TestCopyInString(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(pageSize), base))
	mustCopyOut(t, e.mm, base, []byte("hello\x00"))
	end := base + pageSize - 4
	mustCopyOut(t, e.mm, end, []byte("tail")) // no NUL before the hole
	for _, tc := range []struct {
		name   string
		addr   uintptr
		maxLen int
		want   string
		err    error
	}{
		{"string", base, 100, "hello", nil},
		{"exactly maxLen", base, 5, "hello", nil},
		{"too long", base, 4, "hell", linux.ENAMETOOLONG},
		{"empty", base + 5, 10, "", nil},
		{"runs into a hole", end, 100, "tail", linux.EFAULT},
		{"unmapped", base + pageSize, 100, "", linux.EFAULT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.mm.CopyInString(tc.addr, tc.maxLen)
			if got != tc.want || err != tc.err {
				t.Errorf("CopyInString = %q, %v, want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
	// A string across a page boundary.
	mustMMap(t, e.mm, fixed(anon(pageSize), base+pageSize))
	mustCopyOut(t, e.mm, end, []byte("tail and more\x00"))
	if got, err := e.mm.CopyInString(end, 100); got != "tail and more" || err != nil {
		t.Errorf("CopyInString across pages = %q, %v", got, err)
	}
}

// TestConcurrentCopies runs copies, faults and mapping changes from several
// goroutines at once; run it with -race.
func TestConcurrentCopies(t *testing.T) {
	e := newTestEnv(t)
	e.as(t)
	const workers = 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			region := base + uintptr(w)*64*pageSize
			for i := range 50 {
				mustMMap(t, e.mm, fixed(anon(16*pageSize), region))
				data := pattern(16*pageSize, byte(w*50+i))
				mustCopyOut(t, e.mm, region, data)
				if err := e.mm.HandleUserFault(region+17, platform.ReadWrite); err != nil {
					t.Error(err)
					return
				}
				if got := mustCopyIn(t, e.mm, region, len(data)); !bytes.Equal(got, data) {
					t.Errorf("worker %d read back other data", w)
					return
				}
				_ = e.mm.MapsString()
				if err := e.mm.MUnmap(region, 16*pageSize); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := e.mf.Committed(); got != 0 {
		t.Errorf("Committed = %d after every region was unmapped", got)
	}
	if maps := e.mm.MapsString(); strings.TrimSpace(maps) != "" {
		t.Errorf("mappings left:\n%s", maps)
	}
}

var _ memmap.Mappable = (*bytes.Reader)(nil)
