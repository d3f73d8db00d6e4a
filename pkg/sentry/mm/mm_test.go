package mm

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/platform"
)

// Test address-space bounds: x86-64's user half without the top page, as Linux.
const (
	testMinAddr = 0x10000
	testMaxAddr = 0x7ffffffff000
)

// fakePlatform makes fakeAddressSpaces; it runs no code.
type fakePlatform struct {
	minAddr, maxAddr uintptr
	mu               sync.Mutex
	spaces           []*fakeAddressSpace
}

func (p *fakePlatform) NewAddressSpace() (platform.AddressSpace, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	as := &fakeAddressSpace{pages: make(map[uintptr]fakeMapping)}
	p.spaces = append(p.spaces, as)
	return as, nil
}

func (p *fakePlatform) NewContext() (platform.Context, error) {
	return nil, errors.New("fake platform runs no code")
}
func (p *fakePlatform) MinUserAddress() uintptr { return p.minAddr }
func (p *fakePlatform) MaxUserAddress() uintptr { return p.maxAddr }
func (p *fakePlatform) Release()                {}

type fakeMapping struct {
	off uint64
	at  platform.AccessType
}

// fakeAddressSpace records what is mapped where, page by page, as the host would.
type fakeAddressSpace struct {
	mu       sync.Mutex
	pages    map[uintptr]fakeMapping
	mapCalls int
	released bool
}

func (as *fakeAddressSpace) MapFile(addr uintptr, offset, length uint64, at platform.AccessType) error {
	as.mu.Lock()
	defer as.mu.Unlock()
	if addr%pageSize != 0 || offset%pageSize != 0 || length%pageSize != 0 || length == 0 {
		return fmt.Errorf("MapFile(%#x, %#x, %#x): unaligned", addr, offset, length)
	}
	as.mapCalls++
	for i := uint64(0); i < length; i += pageSize {
		as.pages[addr+uintptr(i)] = fakeMapping{offset + i, at}
	}
	return nil
}

func (as *fakeAddressSpace) Unmap(addr uintptr, length uint64) {
	as.mu.Lock()
	defer as.mu.Unlock()
	for i := uint64(0); i < length; i += pageSize {
		delete(as.pages, addr+uintptr(i))
	}
}

func (as *fakeAddressSpace) Release() {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.released = true
	clear(as.pages)
}

// mapping returns what is mapped at the page of addr.
func (as *fakeAddressSpace) mapping(addr uintptr) (fakeMapping, bool) {
	as.mu.Lock()
	defer as.mu.Unlock()
	m, ok := as.pages[pageDown(addr)]
	return m, ok
}

// access is what the application sees: whether an access at addr succeeds without a
// fault.
func (as *fakeAddressSpace) access(addr uintptr, at platform.AccessType) bool {
	m, ok := as.mapping(addr)
	return ok && (!at.Read || m.at.Read || m.at.Write || m.at.Execute) &&
		(!at.Write || m.at.Write) && (!at.Execute || m.at.Execute)
}

type testEnv struct {
	mm *MemoryManager
	mf *pgalloc.MemoryFile
	p  *fakePlatform
}

func newTestEnv(t testing.TB) *testEnv {
	return newTestEnvSized(t, 64<<20)
}

// newTestEnvSized returns an address space whose memory file holds memSize bytes.
func newTestEnvSized(t testing.TB, memSize uint64) *testEnv {
	t.Helper()
	mf, err := pgalloc.NewMemoryFile(pgalloc.Options{MaxSize: memSize})
	if err != nil {
		t.Fatalf("NewMemoryFile: %v", err)
	}
	t.Cleanup(mf.Destroy)
	p := &fakePlatform{minAddr: testMinAddr, maxAddr: testMaxAddr}
	mm := NewMemoryManager(p, mf)
	t.Cleanup(mm.Release)
	return &testEnv{mm: mm, mf: mf, p: p}
}

// as returns the fake address space of e.mm, creating it.
func (e *testEnv) as(t testing.TB) *fakeAddressSpace {
	t.Helper()
	as, err := e.mm.AddressSpace()
	if err != nil {
		t.Fatalf("AddressSpace: %v", err)
	}
	return as.(*fakeAddressSpace)
}

func anon(length uint64) memmap.MMapOpts {
	return memmap.MMapOpts{Length: length, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess, Private: true}
}

func fixed(opts memmap.MMapOpts, addr uintptr) memmap.MMapOpts {
	opts.Addr, opts.Fixed, opts.Unmap = addr, true, true
	return opts
}

func mustMMap(t testing.TB, mm *MemoryManager, opts memmap.MMapOpts) uintptr {
	t.Helper()
	addr, err := mm.MMap(opts)
	if err != nil {
		t.Fatalf("MMap(%+v): %v", opts, err)
	}
	return addr
}

func mustCopyOut(t testing.TB, mm *MemoryManager, addr uintptr, b []byte) {
	t.Helper()
	if n, err := mm.CopyOut(addr, b); n != len(b) || err != nil {
		t.Fatalf("CopyOut(%#x, %d bytes) = %d, %v", addr, len(b), n, err)
	}
}

func mustCopyIn(t testing.TB, mm *MemoryManager, addr uintptr, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if got, err := mm.CopyIn(addr, b); got != n || err != nil {
		t.Fatalf("CopyIn(%#x, %d bytes) = %d, %v", addr, n, got, err)
	}
	return b
}

// vmaRanges lists the vmas' ranges, to compare with what a test expects.
func vmaRanges(mm *MemoryManager) []AddrRange {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	var rs []AddrRange
	for _, v := range mm.vmas {
		rs = append(rs, v.AddrRange)
	}
	return rs
}

func wantErrno(t *testing.T, what string, err error, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: %v, want success", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func TestLayout(t *testing.T) {
	e := newTestEnv(t)
	want := Layout{
		MinAddr:  testMinAddr,
		MaxAddr:  testMaxAddr,
		MmapBase: 0x7ffff7fff000, // Linux's, without randomization
		StackTop: testMaxAddr,
	}
	if got := e.mm.Layout(); got != want {
		t.Errorf("Layout() = %+v, want %+v", got, want)
	}
}

func TestMetadata(t *testing.T) {
	e := newTestEnv(t)
	e.mm.SetExecutable("/bin/true")
	e.mm.SetArgv(AddrRange{0x1000, 0x1010})
	e.mm.SetEnvv(AddrRange{0x1010, 0x1020})
	auxv := []AuxEntry{{linux.AT_PAGESZ, pageSize}, {linux.AT_NULL, 0}}
	e.mm.SetAuxv(auxv)
	auxv[0].Value = 0 // SetAuxv copies.
	child, err := e.mm.Fork()
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	defer child.Release()
	for _, mm := range []*MemoryManager{e.mm, child} {
		if got := mm.Executable(); got != "/bin/true" {
			t.Errorf("Executable() = %q", got)
		}
		if got := mm.Argv(); got != (AddrRange{0x1000, 0x1010}) {
			t.Errorf("Argv() = %v", got)
		}
		if got := mm.Envv(); got != (AddrRange{0x1010, 0x1020}) {
			t.Errorf("Envv() = %v", got)
		}
		if got := mm.Auxv(); len(got) != 2 || got[0] != (AuxEntry{linux.AT_PAGESZ, pageSize}) {
			t.Errorf("Auxv() = %v", got)
		}
	}
}

func TestAccounting(t *testing.T) {
	e := newTestEnv(t)
	addr := mustMMap(t, e.mm, anon(4*pageSize))
	mustCopyOut(t, e.mm, addr, []byte{1})
	if got := e.mm.VirtualMemorySize(); got != 4*pageSize {
		t.Errorf("VirtualMemorySize = %d", got)
	}
	// A copy faults in only the pages it touches.
	if got := e.mm.ResidentSetSize(); got != pageSize {
		t.Errorf("ResidentSetSize = %d", got)
	}
	if got := e.mf.Committed(); got != pageSize {
		t.Errorf("Committed = %d", got)
	}
	e.mm.Release()
	if got := e.mf.Committed(); got != 0 {
		t.Errorf("Committed after Release = %d", got)
	}
}

// pattern returns n bytes of recognizable data.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}
