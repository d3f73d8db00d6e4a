package mm

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

// base is where tests put fixed mappings.
const base uintptr = 0x100000000

// fileOf returns a private file mapping of content.
func fileOf(content []byte, length uint64) memmap.MMapOpts {
	return memmap.MMapOpts{
		Length: length, Perms: platform.Read, MaxPerms: platform.AnyAccess, Private: true,
		Mappable: bytes.NewReader(content), Name: "/file",
	}
}

func sharedAnon(length uint64) memmap.MMapOpts {
	return memmap.MMapOpts{Length: length, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess}
}

func TestMMapErrors(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(pageSize), base))
	for _, tc := range []struct {
		name string
		opts memmap.MMapOpts
		want error
	}{
		{"zero length", anon(0), linux.EINVAL},
		{"unaligned offset", func() memmap.MMapOpts { o := fileOf(nil, pageSize); o.Offset = 1; return o }(), linux.EINVAL},
		{"unaligned fixed address", fixed(anon(pageSize), base+1), linux.EINVAL},
		{"perms beyond max", memmap.MMapOpts{Length: pageSize, Perms: platform.ReadWrite, MaxPerms: platform.Read, Private: true}, linux.EACCES},
		{"fixed noreplace over a mapping", memmap.MMapOpts{Length: pageSize, Addr: base, Fixed: true, Perms: platform.Read, MaxPerms: platform.AnyAccess, Private: true}, linux.EEXIST},
		{"fixed beyond the address space", fixed(anon(2*pageSize), testMaxAddr-pageSize), linux.ENOMEM},
		{"fixed below the minimum address", fixed(anon(pageSize), 0), linux.EPERM},
		{"length overflows", anon(^uint64(0)), linux.ENOMEM},
		{"offset overflows", func() memmap.MMapOpts {
			o := fileOf(nil, 2*pageSize)
			o.Offset = ^uint64(0) &^ (pageSize - 1)
			return o
		}(), linux.EOVERFLOW},
		{"writable shared file", memmap.MMapOpts{Length: pageSize, Perms: platform.Read, MaxPerms: platform.ReadWrite, Mappable: bytes.NewReader(nil)}, linux.ENODEV},
		{"no room", anon(1 << 47), linux.ENOMEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, err := e.mm.MMap(tc.opts)
			if err != tc.want {
				t.Errorf("MMap = %#x, %v, want %v", addr, err, tc.want)
			}
		})
	}
	if got := vmaRanges(e.mm); !slices.Equal(got, []AddrRange{{base, base + pageSize}}) {
		t.Errorf("failed MMaps changed the mappings: %v", got)
	}
}

func TestMMapPlacement(t *testing.T) {
	e := newTestEnv(t)
	mmapBase := e.mm.Layout().MmapBase
	a := mustMMap(t, e.mm, anon(pageSize))
	if a != mmapBase-pageSize {
		t.Errorf("first mapping at %#x, want just below the mmap base %#x", a, mmapBase)
	}
	b := mustMMap(t, e.mm, anon(2*pageSize))
	if b != a-2*pageSize {
		t.Errorf("second mapping at %#x, want %#x", b, a-2*pageSize)
	}
	if got := mustMMap(t, e.mm, func() memmap.MMapOpts { o := anon(pageSize); o.Addr = 0x40000000; return o }()); got != 0x40000000 {
		t.Errorf("free hint: mapped at %#x, want the hint", got)
	}
	if got := mustMMap(t, e.mm, func() memmap.MMapOpts { o := anon(pageSize); o.Addr = 0x40000001; return o }()); got != 0x40001000 {
		t.Errorf("unaligned hint: mapped at %#x, want it rounded up", got)
	}
	if got := mustMMap(t, e.mm, func() memmap.MMapOpts { o := anon(pageSize); o.Addr = a; return o }()); got != b-pageSize {
		t.Errorf("taken hint: mapped at %#x, want the next top-down gap %#x", got, b-pageSize)
	}

	// A hole left by munmap is reused when it is the highest gap that fits.
	if err := e.mm.MUnmap(b, pageSize); err != nil {
		t.Fatal(err)
	}
	if got := mustMMap(t, e.mm, anon(pageSize)); got != b {
		t.Errorf("mapping after munmap at %#x, want the hole %#x", got, b)
	}

	// MAP_FIXED replaces what was there.
	mustCopyOut(t, e.mm, a, []byte("old"))
	mustMMap(t, e.mm, fixed(anon(pageSize), a))
	if got := mustCopyIn(t, e.mm, a, 3); !bytes.Equal(got, []byte{0, 0, 0}) {
		t.Errorf("MAP_FIXED mapping reads %q, want zeros", got)
	}
}

func TestMMapKeepsGuardBelowStack(t *testing.T) {
	e := newTestEnv(t)
	stack := memmap.MMapOpts{Length: pageSize, Addr: 0x200000000, Fixed: true, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess, Private: true, GrowsDown: true, Name: "[stack]"}
	mustMMap(t, e.mm, stack)
	hint := anon(pageSize)
	hint.Addr = 0x200000000 - pageSize
	if got := mustMMap(t, e.mm, hint); got >= 0x200000000-stackGuardGap && got < 0x200000000 {
		t.Errorf("hint inside the stack guard gap was honoured: %#x", got)
	}
}

func TestMMapPrecommit(t *testing.T) {
	e := newTestEnvSized(t, 4*pageSize)
	o := anon(4 * pageSize)
	o.Precommit = true
	addr := mustMMap(t, e.mm, o)
	if got := e.mm.ResidentSetSize(); got != 4*pageSize {
		t.Errorf("resident after Precommit = %d, want %d", got, 4*pageSize)
	}
	if err := e.mm.MUnmap(addr, 4*pageSize); err != nil {
		t.Fatal(err)
	}
	o.Length = 8 * pageSize
	if _, err := e.mm.MMap(o); err != linux.ENOMEM {
		t.Errorf("Precommit beyond the memory file = %v, want ENOMEM", err)
	}
	if got := e.mm.VirtualMemorySize(); got != 0 {
		t.Errorf("failed Precommit left %d bytes mapped", got)
	}
	if got := e.mf.Committed(); got != 0 {
		t.Errorf("failed Precommit left %d bytes committed", got)
	}
}

func TestMUnmap(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(3*pageSize), base))
	data := pattern(3*pageSize, 1)
	mustCopyOut(t, e.mm, base, data)
	as := e.as(t)
	before := e.mf.Committed()

	if err := e.mm.MUnmap(base+pageSize, pageSize); err != nil {
		t.Fatalf("MUnmap of the middle page: %v", err)
	}
	want := []AddrRange{{base, base + pageSize}, {base + 2*pageSize, base + 3*pageSize}}
	if got := vmaRanges(e.mm); !slices.Equal(got, want) {
		t.Errorf("vmas after splitting = %v, want %v", got, want)
	}
	if got := mustCopyIn(t, e.mm, base, pageSize); !bytes.Equal(got, data[:pageSize]) {
		t.Errorf("first page changed")
	}
	if got := mustCopyIn(t, e.mm, base+2*pageSize, pageSize); !bytes.Equal(got, data[2*pageSize:]) {
		t.Errorf("last page changed")
	}
	if n, err := e.mm.CopyIn(base+pageSize, make([]byte, 1)); n != 0 || err != linux.EFAULT {
		t.Errorf("CopyIn of the unmapped page = %d, %v, want EFAULT", n, err)
	}
	if _, ok := as.mapping(base + pageSize); ok {
		t.Errorf("the unmapped page is still mapped in the address space")
	}
	if got := e.mf.Committed(); got != before-pageSize {
		t.Errorf("Committed = %d, want %d", got, before-pageSize)
	}

	for _, tc := range []struct {
		name   string
		addr   uintptr
		length uint64
		want   error
	}{
		{"unaligned", base + 1, pageSize, linux.EINVAL},
		{"zero length", base, 0, linux.EINVAL},
		{"beyond the address space", testMaxAddr - pageSize, 2 * pageSize, linux.EINVAL},
		{"nothing mapped", 0x300000000, pageSize, nil},
		{"unaligned length", base, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErrno(t, "MUnmap", e.mm.MUnmap(tc.addr, tc.length), tc.want)
		})
	}
	if got := vmaRanges(e.mm); !slices.Equal(got, want[1:]) {
		t.Errorf("vmas = %v, want %v", got, want[1:])
	}
}

func TestMProtect(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
	mustCopyOut(t, e.mm, base, pattern(4*pageSize, 3))
	as := e.as(t)

	if err := e.mm.MProtect(base+pageSize, pageSize, linux.PROT_READ); err != nil {
		t.Fatalf("MProtect: %v", err)
	}
	if got := len(vmaRanges(e.mm)); got != 3 {
		t.Errorf("MProtect of the middle made %d vmas, want 3", got)
	}
	if m, _ := as.mapping(base + pageSize); m.at != platform.Read {
		t.Errorf("page mapped %+v after MProtect(PROT_READ)", m.at)
	}
	if n, err := e.mm.CopyOut(base+pageSize, []byte{1}); n != 0 || err != linux.EFAULT {
		t.Errorf("CopyOut to a read-only page = %d, %v, want EFAULT", n, err)
	}
	if err := e.mm.MProtect(base+pageSize, pageSize, linux.PROT_READ|linux.PROT_WRITE); err != nil {
		t.Fatalf("MProtect: %v", err)
	}
	if got := vmaRanges(e.mm); !slices.Equal(got, []AddrRange{{base, base + 4*pageSize}}) {
		t.Errorf("restoring the protection did not merge the vmas back: %v", got)
	}
	if err := e.mm.MProtect(base, 4*pageSize, linux.PROT_NONE); err != nil {
		t.Fatalf("MProtect(PROT_NONE): %v", err)
	}
	if _, ok := as.mapping(base); ok {
		t.Errorf("PROT_NONE page still mapped")
	}
	if n, err := e.mm.CopyIn(base, make([]byte, 1)); n != 0 || err != linux.EFAULT {
		t.Errorf("CopyIn from PROT_NONE = %d, %v, want EFAULT", n, err)
	}
	if err := e.mm.MProtect(base, 4*pageSize, linux.PROT_READ|linux.PROT_WRITE); err != nil {
		t.Fatalf("MProtect: %v", err)
	}
	if got := mustCopyIn(t, e.mm, base, 4*pageSize); !bytes.Equal(got, pattern(4*pageSize, 3)) {
		t.Errorf("contents changed across MProtect")
	}

	// A read-only maximum, as a read-only shared file mapping has.
	roFile := memmap.MMapOpts{Length: pageSize, Addr: base + 16*pageSize, Fixed: true, Unmap: true, Perms: platform.Read, MaxPerms: platform.Read, Mappable: bytes.NewReader([]byte("x"))}
	mustMMap(t, e.mm, roFile)
	// A hole at base+8 pages, then a mapping.
	mustMMap(t, e.mm, fixed(anon(pageSize), base+9*pageSize))
	stack := memmap.MMapOpts{Length: 4 * pageSize, Addr: base + 32*pageSize, Fixed: true, Unmap: true, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess, Private: true, GrowsDown: true}
	mustMMap(t, e.mm, stack)

	for _, tc := range []struct {
		name   string
		addr   uintptr
		length uint64
		prot   int
		want   error
	}{
		{"beyond max perms", base + 16*pageSize, pageSize, linux.PROT_READ | linux.PROT_WRITE, linux.EACCES},
		{"unaligned", base + 1, pageSize, linux.PROT_READ, linux.EINVAL},
		{"zero length", base, 0, linux.PROT_READ, nil},
		{"unknown bits", base, pageSize, 0x10, linux.EINVAL},
		{"PROT_GROWSUP", base, pageSize, linux.PROT_READ | linux.PROT_GROWSUP, linux.EINVAL},
		{"PROT_SEM is ignored", base, pageSize, linux.PROT_READ | linux.PROT_WRITE | protSem, nil},
		{"start in a hole", base + 8*pageSize, pageSize, linux.PROT_READ, linux.ENOMEM},
		{"hole inside", base + 3*pageSize, 7 * pageSize, linux.PROT_READ, linux.ENOMEM},
		{"PROT_GROWSDOWN on a non-stack", base, pageSize, linux.PROT_READ | linux.PROT_GROWSDOWN, linux.EINVAL},
		{"PROT_GROWSDOWN on a stack", base + 34*pageSize, pageSize, linux.PROT_READ | linux.PROT_GROWSDOWN, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErrno(t, "MProtect", e.mm.MProtect(tc.addr, tc.length, tc.prot), tc.want)
		})
	}
	maps := e.mm.MapsString()
	// "hole inside" applied up to the hole: the fourth page is read-only now.
	if !strings.Contains(maps, "100003000-100004000 r--p") {
		t.Errorf("MProtect up to a hole was not applied up to it:\n%s", maps)
	}
	// PROT_GROWSDOWN extended the change to the start of the stack.
	if !strings.Contains(maps, "100020000-100023000 r--p") {
		t.Errorf("PROT_GROWSDOWN did not reach the stack's start:\n%s", maps)
	}
}

func TestMRemap(t *testing.T) {
	data := pattern(2*pageSize, 5)
	file := pattern(2*pageSize, 9)
	for _, tc := range []struct {
		name string
		// setup maps what the test needs and returns the call's arguments.
		setup   func(t *testing.T, e *testEnv) (old uintptr, oldSize, newSize uint64, flags int, newAddr uintptr)
		want    error
		wantVMA []AddrRange // the vmas after a successful call, when given
		// check runs after a successful call with its result.
		check func(t *testing.T, e *testEnv, got uintptr)
	}{
		{
			name: "shrink",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
				return base, 4 * pageSize, 2 * pageSize, 0, 0
			},
			wantVMA: []AddrRange{{base, base + 2*pageSize}},
		},
		{
			name: "grow in place",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(2*pageSize), base))
				mustCopyOut(t, e.mm, base, data)
				return base, 2 * pageSize, 4 * pageSize, 0, 0
			},
			wantVMA: []AddrRange{{base, base + 4*pageSize}},
			check: func(t *testing.T, e *testEnv, got uintptr) {
				if b := mustCopyIn(t, e.mm, got, 2*pageSize); !bytes.Equal(b, data) {
					t.Errorf("contents changed")
				}
				mustCopyOut(t, e.mm, got+3*pageSize, []byte{1})
			},
		},
		{
			name: "grow blocked",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(2*pageSize), base))
				mustMMap(t, e.mm, fixed(anon(pageSize), base+3*pageSize))
				return base, 2 * pageSize, 4 * pageSize, 0, 0
			},
			want: linux.ENOMEM,
		},
		{
			name: "grow by moving",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(2*pageSize), base))
				mustMMap(t, e.mm, fixed(anon(pageSize), base+3*pageSize))
				mustCopyOut(t, e.mm, base, data)
				return base, 2 * pageSize, 4 * pageSize, linux.MREMAP_MAYMOVE, 0
			},
			check: func(t *testing.T, e *testEnv, got uintptr) {
				if got == base {
					t.Fatalf("did not move")
				}
				if b := mustCopyIn(t, e.mm, got, 2*pageSize); !bytes.Equal(b, data) {
					t.Errorf("contents did not move with the mapping")
				}
				if c := e.mf.Committed(); c != 2*pageSize {
					t.Errorf("Committed = %d, want 2 pages (moved, not copied)", c)
				}
				if b := mustCopyIn(t, e.mm, got+2*pageSize, 2*pageSize); !bytes.Equal(b, make([]byte, 2*pageSize)) {
					t.Errorf("the grown part is not zero")
				}
				if _, err := e.mm.CopyIn(base, make([]byte, 1)); err != linux.EFAULT {
					t.Errorf("the old range is still mapped")
				}
			},
		},
		{
			name: "fixed over a mapping",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(2*pageSize), base))
				mustCopyOut(t, e.mm, base, data)
				mustMMap(t, e.mm, fixed(anon(pageSize), base+16*pageSize))
				return base, 2 * pageSize, 2 * pageSize, linux.MREMAP_MAYMOVE | linux.MREMAP_FIXED, base + 16*pageSize
			},
			wantVMA: []AddrRange{{base + 16*pageSize, base + 18*pageSize}},
			check: func(t *testing.T, e *testEnv, got uintptr) {
				if got != base+16*pageSize {
					t.Errorf("moved to %#x", got)
				}
				if b := mustCopyIn(t, e.mm, got, 2*pageSize); !bytes.Equal(b, data) {
					t.Errorf("contents did not move with the mapping")
				}
			},
		},
		{
			name: "fixed and shrink",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
				mustCopyOut(t, e.mm, base, data)
				return base, 4 * pageSize, pageSize, linux.MREMAP_MAYMOVE | linux.MREMAP_FIXED, base + 16*pageSize
			},
			wantVMA: []AddrRange{{base + 16*pageSize, base + 17*pageSize}},
			check: func(t *testing.T, e *testEnv, got uintptr) {
				if b := mustCopyIn(t, e.mm, got, pageSize); !bytes.Equal(b, data[:pageSize]) {
					t.Errorf("contents did not move with the mapping")
				}
			},
		},
		{
			name: "private file grows from the file",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(fileOf(file, pageSize), base))
				mustMMap(t, e.mm, fixed(anon(pageSize), base+pageSize))
				mustCopyIn(t, e.mm, base, 1)
				return base, pageSize, 2 * pageSize, linux.MREMAP_MAYMOVE, 0
			},
			check: func(t *testing.T, e *testEnv, got uintptr) {
				if b := mustCopyIn(t, e.mm, got, 2*pageSize); !bytes.Equal(b, file) {
					t.Errorf("grown file mapping does not read the file")
				}
			},
		},
		{
			name: "zero old size duplicates a shared mapping",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(sharedAnon(pageSize), base))
				mustCopyOut(t, e.mm, base, []byte("shared"))
				return base, 0, pageSize, linux.MREMAP_MAYMOVE, 0
			},
			check: func(t *testing.T, e *testEnv, got uintptr) {
				if b := mustCopyIn(t, e.mm, got, 6); string(b) != "shared" {
					t.Errorf("duplicate reads %q", b)
				}
				mustCopyOut(t, e.mm, got, []byte("SHARED"))
				if b := mustCopyIn(t, e.mm, base, 6); string(b) != "SHARED" {
					t.Errorf("original reads %q after writing the duplicate", b)
				}
			},
		},
		{
			name: "zero old size of a private mapping",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				return base, 0, pageSize, linux.MREMAP_MAYMOVE, 0
			},
			want: linux.EINVAL,
		},
		{
			name: "unknown flags",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				return base, pageSize, pageSize, 8, 0
			},
			want: linux.EINVAL,
		},
		{
			name: "MREMAP_DONTUNMAP",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				return base, pageSize, pageSize, linux.MREMAP_MAYMOVE | linux.MREMAP_DONTUNMAP, 0
			},
			want: linux.EINVAL,
		},
		{
			name: "fixed without maymove",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				return base, pageSize, pageSize, linux.MREMAP_FIXED, base + 16*pageSize
			},
			want: linux.EINVAL,
		},
		{
			name: "unaligned old address",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				return base + 1, pageSize, pageSize, 0, 0
			},
			want: linux.EINVAL,
		},
		{
			name: "zero new size",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				return base, pageSize, 0, 0, 0
			},
			want: linux.EINVAL,
		},
		{
			name: "nothing mapped",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				return base, pageSize, 2 * pageSize, linux.MREMAP_MAYMOVE, 0
			},
			want: linux.EFAULT,
		},
		{
			name: "old range spans two mappings",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				mustMMap(t, e.mm, fixed(sharedAnon(pageSize), base+pageSize))
				return base, 2 * pageSize, 4 * pageSize, linux.MREMAP_MAYMOVE, 0
			},
			want: linux.EFAULT,
		},
		{
			name: "fixed overlapping the old range",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
				return base, 4 * pageSize, 4 * pageSize, linux.MREMAP_MAYMOVE | linux.MREMAP_FIXED, base + 2*pageSize
			},
			want: linux.EINVAL,
		},
		{
			name: "fixed at an unaligned address",
			setup: func(t *testing.T, e *testEnv) (uintptr, uint64, uint64, int, uintptr) {
				mustMMap(t, e.mm, fixed(anon(pageSize), base))
				return base, pageSize, pageSize, linux.MREMAP_MAYMOVE | linux.MREMAP_FIXED, base + 16*pageSize + 1
			},
			want: linux.EINVAL,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.as(t)
			old, oldSize, newSize, flags, newAddr := tc.setup(t, e)
			got, err := e.mm.MRemap(old, oldSize, newSize, flags, newAddr, linux.RLIM_INFINITY)
			if err != tc.want {
				t.Fatalf("MRemap = %#x, %v, want error %v", got, err, tc.want)
			}
			if err != nil {
				return
			}
			if tc.wantVMA != nil {
				if vmas := vmaRanges(e.mm); !slices.Equal(vmas, tc.wantVMA) {
					t.Errorf("vmas = %v, want %v", vmas, tc.wantVMA)
				}
			}
			if tc.check != nil {
				tc.check(t, e, got)
			}
		})
	}
}

func TestBrk(t *testing.T) {
	e := newTestEnv(t)
	if got := e.mm.Brk(0x601000); got != 0 {
		t.Errorf("Brk before BrkSetup = %#x, want 0 (no heap)", got)
	}
	const start = 0x601000
	e.mm.BrkSetup(start - 100) // rounded up to the page
	if got := e.mm.Brk(0); got != start {
		t.Fatalf("Brk(0) = %#x, want the start %#x", got, uintptr(start))
	}
	if got := e.mm.Brk(start + 100); got != start+100 {
		t.Fatalf("Brk(start+100) = %#x", got)
	}
	mustCopyOut(t, e.mm, start, []byte("heap"))
	if got := e.mm.Brk(start + 3*pageSize + 5); got != start+3*pageSize+5 {
		t.Fatalf("growing Brk = %#x", got)
	}
	if got := vmaRanges(e.mm); !slices.Equal(got, []AddrRange{{start, start + 4*pageSize}}) {
		t.Errorf("heap vmas = %v, want one of 4 pages", got)
	}
	if !strings.Contains(e.mm.MapsString(), "[heap]") {
		t.Errorf("maps has no [heap]:\n%s", e.mm.MapsString())
	}
	mustCopyOut(t, e.mm, start+4*pageSize-1, []byte{1})
	if got := mustCopyIn(t, e.mm, start, 4); string(got) != "heap" {
		t.Errorf("heap reads %q after growing", got)
	}

	if got := e.mm.Brk(start + pageSize); got != start+pageSize {
		t.Fatalf("shrinking Brk = %#x", got)
	}
	if _, err := e.mm.CopyIn(start+pageSize, make([]byte, 1)); err != linux.EFAULT {
		t.Errorf("memory above a shrunk break is still mapped (%v)", err)
	}
	if got := e.mm.Brk(start + 2*pageSize); got != start+2*pageSize {
		t.Fatalf("regrowing Brk = %#x", got)
	}
	if got := mustCopyIn(t, e.mm, start+2*pageSize-1, 1); got[0] != 0 {
		t.Errorf("regrown heap page reads %d, want 0", got[0])
	}

	cur := e.mm.Brk(0)
	if got := e.mm.Brk(start - 1); got != cur {
		t.Errorf("Brk below the start = %#x, want the old break %#x", got, cur)
	}
	mustMMap(t, e.mm, fixed(anon(pageSize), 0x610000))
	if got := e.mm.Brk(0x610000 + pageSize); got != cur {
		t.Errorf("Brk into a mapping = %#x, want the old break %#x", got, cur)
	}
	if got := e.mm.Brk(0x610000 - pageSize + 1); got != cur {
		t.Errorf("Brk leaving no page below a mapping = %#x, want the old break %#x", got, cur)
	}
	if got := e.mm.Brk(0x60f000); got != 0x60f000 {
		t.Errorf("Brk up to a page below a mapping = %#x", got)
	}
}

func TestMadvise(t *testing.T) {
	file := pattern(2*pageSize, 11)
	for _, tc := range []struct {
		name   string
		opts   memmap.MMapOpts
		advice int
		// before is written before the advice; after is what reads back.
		before, after []byte
		want          error
	}{
		{"DONTNEED zeroes private anonymous memory", anon(2 * pageSize), linux.MADV_DONTNEED, []byte("data"), []byte{0, 0, 0, 0}, nil},
		{"FREE zeroes private anonymous memory", anon(2 * pageSize), linux.MADV_FREE, []byte("data"), []byte{0, 0, 0, 0}, nil},
		{"DONTNEED rereads a private file", func() memmap.MMapOpts { o := fileOf(file, 2*pageSize); o.Perms = platform.ReadWrite; return o }(), linux.MADV_DONTNEED, []byte("data"), file[:4], nil},
		{"DONTNEED keeps shared memory", sharedAnon(2 * pageSize), linux.MADV_DONTNEED, []byte("data"), []byte("data"), nil},
		{"REMOVE frees shared memory", sharedAnon(2 * pageSize), linux.MADV_REMOVE, []byte("data"), []byte{0, 0, 0, 0}, nil},
		{"WILLNEED changes nothing", anon(2 * pageSize), linux.MADV_WILLNEED, []byte("data"), []byte("data"), nil},
		{"FREE of shared memory", sharedAnon(2 * pageSize), linux.MADV_FREE, []byte("data"), []byte("data"), linux.EINVAL},
		{"REMOVE of private memory", anon(2 * pageSize), linux.MADV_REMOVE, []byte("data"), []byte("data"), linux.EINVAL},
		{"WIPEONFORK of shared memory", sharedAnon(2 * pageSize), linux.MADV_WIPEONFORK, nil, nil, linux.EINVAL},
		{"unknown advice", anon(2 * pageSize), 100, nil, nil, linux.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.as(t)
			mustMMap(t, e.mm, fixed(tc.opts, base))
			if tc.before != nil {
				mustCopyOut(t, e.mm, base, tc.before)
			}
			wantErrno(t, "Madvise", e.mm.Madvise(base, 2*pageSize, tc.advice), tc.want)
			if tc.after != nil {
				if got := mustCopyIn(t, e.mm, base, len(tc.after)); !bytes.Equal(got, tc.after) {
					t.Errorf("reads %q after the advice, want %q", got, tc.after)
				}
			}
		})
	}

	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(pageSize), base))
	mustMMap(t, e.mm, fixed(anon(pageSize), base+2*pageSize))
	locked := fixed(anon(pageSize), base+4*pageSize)
	mustMMap(t, e.mm, locked)
	if err := e.mm.MLock(base+4*pageSize, pageSize, false); err != nil {
		t.Fatal(err)
	}
	roShared := memmap.MMapOpts{Length: pageSize, Addr: base + 6*pageSize, Fixed: true, Perms: platform.Read, MaxPerms: platform.Read, Mappable: bytes.NewReader(file)}
	mustMMap(t, e.mm, roShared)
	mustCopyOut(t, e.mm, base, []byte("x"))
	for _, tc := range []struct {
		name   string
		addr   uintptr
		length uint64
		advice int
		want   error
	}{
		{"unaligned", base + 1, pageSize, linux.MADV_DONTNEED, linux.EINVAL},
		{"zero length", base, 0, linux.MADV_DONTNEED, nil},
		{"hole", base, 3 * pageSize, linux.MADV_DONTNEED, linux.ENOMEM},
		{"locked", base + 4*pageSize, pageSize, linux.MADV_DONTNEED, linux.EINVAL},
		{"REMOVE of a read-only shared file", base + 6*pageSize, pageSize, linux.MADV_REMOVE, linux.EACCES},
		{"length overflows", base, ^uint64(0), linux.MADV_NORMAL, linux.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErrno(t, "Madvise", e.mm.Madvise(tc.addr, tc.length, tc.advice), tc.want)
		})
	}
	// The mapped part of the range with a hole took the advice anyway.
	if got := mustCopyIn(t, e.mm, base, 1); got[0] != 0 {
		t.Errorf("DONTNEED over a hole did not drop the mapped page")
	}
}

func TestMSync(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(pageSize), base))
	mustMMap(t, e.mm, fixed(anon(pageSize), base+2*pageSize))
	if err := e.mm.MLock(base+2*pageSize, pageSize, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		addr   uintptr
		length uint64
		flags  int
		want   error
	}{
		{"sync", base, pageSize, linux.MS_SYNC, nil},
		{"async", base, pageSize, linux.MS_ASYNC, nil},
		{"zero length", base, 0, linux.MS_SYNC, nil},
		{"unknown flags", base, pageSize, 8, linux.EINVAL},
		{"async and sync", base, pageSize, linux.MS_ASYNC | linux.MS_SYNC, linux.EINVAL},
		{"unaligned", base + 1, pageSize, linux.MS_SYNC, linux.EINVAL},
		{"hole", base, 3 * pageSize, linux.MS_SYNC, linux.ENOMEM},
		{"invalidate locked", base + 2*pageSize, pageSize, linux.MS_INVALIDATE, linux.EBUSY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErrno(t, "MSync", e.mm.MSync(tc.addr, tc.length, tc.flags), tc.want)
		})
	}
}

func TestMIncore(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
	mustCopyOut(t, e.mm, base, make([]byte, 4*pageSize))
	if err := e.mm.Madvise(base+2*pageSize, 2*pageSize, linux.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	got, err := e.mm.MIncore(base, 4*pageSize-1)
	if err != nil {
		t.Fatalf("MIncore: %v", err)
	}
	if want := []byte{1, 1, 0, 0}; !bytes.Equal(got, want) {
		t.Errorf("MIncore = %v, want %v", got, want)
	}
	if _, err := e.mm.MIncore(base+1, pageSize); err != linux.EINVAL {
		t.Errorf("MIncore unaligned = %v, want EINVAL", err)
	}
	if _, err := e.mm.MIncore(base, 5*pageSize); err != linux.ENOMEM {
		t.Errorf("MIncore over a hole = %v, want ENOMEM", err)
	}

	// Shared memory is resident if its object has the page, whoever touched it.
	mustMMap(t, e.mm, fixed(sharedAnon(pageSize), base+8*pageSize))
	child, err := e.mm.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	mustCopyOut(t, child, base+8*pageSize, []byte{1})
	if got, _ := e.mm.MIncore(base+8*pageSize, pageSize); got[0] != 1 {
		t.Errorf("shared page touched by the child is not resident in the parent")
	}
}

func TestMLock(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
	if err := e.mm.MLock(base+10, 2*pageSize, false); err != nil {
		t.Fatalf("MLock: %v", err)
	}
	if got := e.mm.LockedBytes(); got != 3*pageSize {
		t.Errorf("LockedBytes = %d, want 3 pages (the range widened to pages)", got)
	}
	if got := e.mm.ResidentSetSize(); got < 3*pageSize {
		t.Errorf("MLock populated %d bytes, want at least 3 pages", got)
	}
	if !strings.Contains(e.mm.MapsString(), "100000000-100003000") {
		t.Errorf("MLock did not split the vma:\n%s", e.mm.MapsString())
	}
	if err := e.mm.MUnlock(base, 4*pageSize); err != nil {
		t.Fatalf("MUnlock: %v", err)
	}
	if got := len(vmaRanges(e.mm)); got != 1 || e.mm.LockedBytes() != 0 {
		t.Errorf("after MUnlock: %d vmas, %d locked bytes", got, e.mm.LockedBytes())
	}
	wantErrno(t, "MLock over a hole", e.mm.MLock(base, 5*pageSize, false), linux.ENOMEM)
	wantErrno(t, "MLock of nothing", e.mm.MLock(base+8*pageSize, pageSize, false), linux.ENOMEM)
	e.mm.MUnlockAll()

	for _, flags := range []int{0, linux.MCL_ONFAULT, 8} {
		wantErrno(t, "MLockAll", e.mm.MLockAll(flags), linux.EINVAL)
	}
	if err := e.mm.MLockAll(linux.MCL_CURRENT | linux.MCL_FUTURE); err != nil {
		t.Fatalf("MLockAll: %v", err)
	}
	mustMMap(t, e.mm, fixed(anon(2*pageSize), base+8*pageSize))
	if got := e.mm.LockedBytes(); got != 6*pageSize {
		t.Errorf("LockedBytes after MCL_FUTURE and a new mapping = %d, want 6 pages", got)
	}
	if got := e.mm.ResidentSetSize(); got != 6*pageSize {
		t.Errorf("resident = %d, want everything (6 pages)", got)
	}
	e.mm.MUnlockAll()
	mustMMap(t, e.mm, fixed(anon(2*pageSize), base+16*pageSize))
	if got := e.mm.LockedBytes(); got != 0 {
		t.Errorf("LockedBytes after MUnlockAll = %d", got)
	}
}

// countedFile is a file mapping that counts the references its vmas hold.
type countedFile struct {
	*bytes.Reader
	refs *int
}

func (f countedFile) IncRef() { *f.refs++ }
func (f countedFile) DecRef() { *f.refs-- }

// TestMappingHoldsFile checks that every vma of a file mapping holds the file, as
// Linux's vm_file does, through splits, merges, moves and forks, and lets go when
// the last one goes.
func TestMappingHoldsFile(t *testing.T) {
	e := newTestEnv(t)
	refs := 0
	f := countedFile{bytes.NewReader(pattern(4*pageSize, 3)), &refs}
	opts := fixed(memmap.MMapOpts{Length: 4 * pageSize, Perms: platform.Read, MaxPerms: platform.AnyAccess, Private: true, Mappable: f}, base)
	mustMMap(t, e.mm, opts)
	if refs != 1 {
		t.Fatalf("after mmap: %d references, want 1", refs)
	}
	if err := e.mm.MProtect(base+pageSize, pageSize, linux.PROT_READ|linux.PROT_WRITE); err != nil {
		t.Fatalf("MProtect: %v", err)
	}
	if refs != 3 {
		t.Errorf("after splitting into 3 vmas: %d references, want 3", refs)
	}
	if err := e.mm.MProtect(base+pageSize, pageSize, linux.PROT_READ); err != nil {
		t.Fatalf("MProtect: %v", err)
	}
	if refs != 1 {
		t.Errorf("after merging back: %d references, want 1", refs)
	}
	if _, err := e.mm.MRemap(base, pageSize, pageSize, linux.MREMAP_MAYMOVE|linux.MREMAP_FIXED, base+16*pageSize, linux.RLIM_INFINITY); err != nil {
		t.Fatalf("MRemap: %v", err)
	}
	if refs != 2 {
		t.Errorf("after moving a page away: %d references, want 2", refs)
	}
	child, err := e.mm.Fork()
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	if refs != 4 {
		t.Errorf("after fork: %d references, want 4", refs)
	}
	child.Release()
	if err := e.mm.MUnmap(base, 32*pageSize); err != nil {
		t.Fatalf("MUnmap: %v", err)
	}
	if refs != 0 {
		t.Errorf("after unmapping everything: %d references, want 0", refs)
	}
}

// TestAddressSpaceLimit checks RLIMIT_AS as may_expand_vm applies it: mappings and
// remaps that would grow the address space beyond the limit fail with ENOMEM,
// and pages a fixed mapping replaces do not count.
func TestAddressSpaceLimit(t *testing.T) {
	e := newTestEnv(t)
	const limit = 8 * pageSize
	if _, err := e.mm.MMapLimited(anon(9*pageSize), limit); err != linux.ENOMEM {
		t.Errorf("mapping more than the limit: %v, want ENOMEM", err)
	}
	if _, err := e.mm.MMapLimited(fixed(anon(6*pageSize), base), limit); err != nil {
		t.Fatalf("mapping below the limit: %v", err)
	}
	if _, err := e.mm.MMapLimited(anon(3*pageSize), limit); err != linux.ENOMEM {
		t.Errorf("mapping past the limit: %v, want ENOMEM", err)
	}
	// Replacing 4 mapped pages and adding 2 makes 8: at the limit, not over it.
	if _, err := e.mm.MMapLimited(fixed(anon(6*pageSize), base+2*pageSize), limit); err != nil {
		t.Errorf("fixed mapping over mapped pages: %v", err)
	}
	if _, err := e.mm.MRemap(base, 8*pageSize, 9*pageSize, linux.MREMAP_MAYMOVE, 0, limit); err != linux.ENOMEM {
		t.Errorf("growing past the limit: %v, want ENOMEM", err)
	}
	if _, err := e.mm.MRemap(base, 8*pageSize, 4*pageSize, 0, 0, limit); err != nil {
		t.Errorf("shrinking: %v", err)
	}
	if _, err := e.mm.MRemap(base, 4*pageSize, 8*pageSize, linux.MREMAP_MAYMOVE, 0, limit); err != nil {
		t.Errorf("growing back to the limit: %v", err)
	}
}
