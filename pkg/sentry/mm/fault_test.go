package mm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

func TestHandleUserFault(t *testing.T) {
	rx := memmap.MMapOpts{Length: pageSize, Perms: platform.AccessType{Read: true, Execute: true}, MaxPerms: platform.AnyAccess, Private: true}
	wo := memmap.MMapOpts{Length: pageSize, Perms: platform.AccessType{Write: true}, MaxPerms: platform.AnyAccess, Private: true}
	none := memmap.MMapOpts{Length: pageSize, MaxPerms: platform.AnyAccess, Private: true}
	for _, tc := range []struct {
		name      string
		opts      memmap.MMapOpts
		addr      uintptr
		at        platform.AccessType
		accessErr bool // want a *FaultError with AccessErr
		mapErr    bool // want a *FaultError without
		wantAt    platform.AccessType
	}{
		{name: "read of anonymous memory", opts: anon(pageSize), addr: base + 10, at: platform.Read, wantAt: platform.ReadWrite},
		{name: "write of anonymous memory", opts: anon(pageSize), addr: base, at: platform.ReadWrite, wantAt: platform.ReadWrite},
		{name: "execute of r-x memory", opts: rx, addr: base, at: platform.AccessType{Execute: true}, wantAt: rx.Perms},
		{name: "read of write-only memory", opts: wo, addr: base, at: platform.Read, wantAt: wo.Perms},
		{name: "write of r-x memory", opts: rx, addr: base, at: platform.ReadWrite, accessErr: true},
		{name: "execute of rw- memory", opts: anon(pageSize), addr: base, at: platform.AccessType{Execute: true}, accessErr: true},
		{name: "read of PROT_NONE", opts: none, addr: base, at: platform.Read, accessErr: true},
		{name: "below the mapping", opts: anon(pageSize), addr: base - 1, at: platform.Read, mapErr: true},
		{name: "above the mapping", opts: anon(pageSize), addr: base + pageSize, at: platform.Read, mapErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			as := e.as(t)
			mustMMap(t, e.mm, fixed(tc.opts, base))
			err := e.mm.HandleUserFault(tc.addr, tc.at)
			if tc.accessErr || tc.mapErr {
				var fe *FaultError
				if !errors.As(err, &fe) || fe.AccessErr != tc.accessErr || fe.Addr != tc.addr || !errors.Is(err, linux.EFAULT) {
					t.Fatalf("HandleUserFault = %v, want a FaultError (AccessErr %v) that is EFAULT", err, tc.accessErr)
				}
				if _, ok := as.mapping(tc.addr); ok {
					t.Errorf("a failed fault mapped the page")
				}
				return
			}
			if err != nil {
				t.Fatalf("HandleUserFault: %v", err)
			}
			m, ok := as.mapping(tc.addr)
			if !ok || m.at != tc.wantAt {
				t.Errorf("page mapped %v with %+v, want %+v", ok, m.at, tc.wantAt)
			}
			if !as.access(tc.addr, tc.at) {
				t.Errorf("the faulting access would fault again")
			}
		})
	}
}

func TestFaultAround(t *testing.T) {
	e := newTestEnv(t)
	as := e.as(t)
	mustMMap(t, e.mm, fixed(anon(64*pageSize), base))
	// A page already present bounds the run.
	mustCopyOut(t, e.mm, base+3*pageSize, []byte{1})
	calls := as.mapCalls
	if err := e.mm.HandleUserFault(base+5*pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	if got := as.mapCalls - calls; got != 1 {
		t.Errorf("one fault made %d MapFile calls, want 1", got)
	}
	for i := uintptr(0); i < 20; i++ {
		_, mapped := as.mapping(base + i*pageSize)
		// The copy mapped page 3; the fault, the rest of the aligned 64 KiB
		// window after it.
		want := i >= 3 && i < 16
		if mapped != want {
			t.Errorf("page %d mapped = %v, want %v", i, mapped, want)
		}
	}
}

func TestStackGrowth(t *testing.T) {
	const top = 0x7ff000000000
	for _, tc := range []struct {
		name  string
		addr  uintptr
		below *AddrRange // a mapping below the stack
		want  error
	}{
		{name: "just below", addr: top - 2*pageSize - 8},
		{name: "a megabyte below", addr: top - (1 << 20)},
		{name: "beyond the stack limit", addr: top - maxStackSize - pageSize, want: linux.EFAULT},
		{name: "into the guard gap", addr: top - 64*pageSize, below: &AddrRange{top - 300*pageSize, top - 200*pageSize}, want: linux.EFAULT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.as(t)
			stack := memmap.MMapOpts{Length: pageSize, Addr: top - pageSize, Fixed: true, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess, Private: true, GrowsDown: true, Name: "[stack]"}
			mustMMap(t, e.mm, stack)
			if tc.below != nil {
				mustMMap(t, e.mm, fixed(anon(uint64(tc.below.Length())), tc.below.Start))
			}
			err := e.mm.HandleUserFault(tc.addr, platform.ReadWrite)
			wantErrno(t, "HandleUserFault", err, tc.want)
			if tc.want != nil {
				return
			}
			if got := e.mm.vmas.find(tc.addr); got == nil || got.End != top || got.Start != pageDown(tc.addr) {
				t.Errorf("stack is %v, want it grown to %#x", got, pageDown(tc.addr))
			}
			// The Sentry's copies grow the stack as well.
			if _, err := e.mm.CopyOut(pageDown(tc.addr)-8, make([]byte, 8)); err != nil {
				t.Errorf("CopyOut below the grown stack: %v", err)
			}
		})
	}
}

// failingReader is a file whose reads fail.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestPrivateFileMapping(t *testing.T) {
	e := newTestEnv(t)
	content := pattern(pageSize+pageSize/2, 13) // a page and a half
	o := fileOf(content, 3*pageSize)
	o.Perms = platform.ReadWrite
	o.Offset = 0
	mustMMap(t, e.mm, fixed(o, base))
	got := mustCopyIn(t, e.mm, base, 3*pageSize)
	if !bytes.Equal(got[:len(content)], content) {
		t.Errorf("file mapping does not read the file")
	}
	if !bytes.Equal(got[len(content):], make([]byte, 3*pageSize-len(content))) {
		t.Errorf("file mapping is not zero past the end of the file")
	}
	// Writes are private: the file keeps its contents.
	mustCopyOut(t, e.mm, base, []byte("private"))
	buf := make([]byte, 7)
	o.Mappable.ReadAt(buf, 0)
	if !bytes.Equal(buf, content[:7]) {
		t.Errorf("a write to a private mapping reached the file")
	}

	// An offset into the file.
	o2 := fileOf(content, pageSize)
	o2.Offset = pageSize
	mustMMap(t, e.mm, fixed(o2, base+8*pageSize))
	if got := mustCopyIn(t, e.mm, base+8*pageSize, pageSize/2); !bytes.Equal(got, content[pageSize:]) {
		t.Errorf("mapping at offset one page reads the wrong bytes")
	}

	// A file that cannot be read fails the fault, not with EFAULT.
	bad := memmap.MMapOpts{Length: pageSize, Addr: base + 16*pageSize, Fixed: true, Perms: platform.Read, MaxPerms: platform.AnyAccess, Private: true, Mappable: failingReader{}}
	mustMMap(t, e.mm, bad)
	err := e.mm.HandleUserFault(base+16*pageSize, platform.Read)
	if err == nil || errors.Is(err, linux.EFAULT) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("fault of an unreadable file = %v, want the read error", err)
	}
	if e.mf.Committed() != 4*pageSize {
		t.Errorf("failed fill leaked pages: Committed = %d", e.mf.Committed())
	}
}

func TestAddressSpaceMapsPresentPages(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(2*pageSize), base))
	mustMMap(t, e.mm, fixed(func() memmap.MMapOpts { o := anon(pageSize); o.Perms = platform.Read; return o }(), base+4*pageSize))
	mustCopyOut(t, e.mm, base, make([]byte, 2*pageSize))
	mustCopyIn(t, e.mm, base+4*pageSize, 1)
	as := e.as(t)
	for _, tc := range []struct {
		addr uintptr
		at   platform.AccessType
	}{{base, platform.ReadWrite}, {base + pageSize, platform.ReadWrite}, {base + 4*pageSize, platform.Read}} {
		if m, ok := as.mapping(tc.addr); !ok || m.at != tc.at {
			t.Errorf("page %#x mapped %v %+v, want %+v", tc.addr, ok, m.at, tc.at)
		}
	}
	if as.mapCalls != 2 {
		t.Errorf("mapping present pages took %d MapFile calls, want 2 (one per run)", as.mapCalls)
	}
	again, _ := e.mm.AddressSpace()
	if again != platform.AddressSpace(as) {
		t.Errorf("AddressSpace made a second address space")
	}
}

func TestFaultInFragmentedMemory(t *testing.T) {
	e := newTestEnvSized(t, 4*pageSize)
	mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
	for i := uintptr(0); i < 4; i++ {
		mustCopyOut(t, e.mm, base+i*pageSize, []byte{1})
	}
	// Free every other page: two free pages, not contiguous.
	for _, i := range []uintptr{1, 3} {
		if err := e.mm.MUnmap(base+i*pageSize, pageSize); err != nil {
			t.Fatal(err)
		}
	}
	mustMMap(t, e.mm, fixed(anon(2*pageSize), base+16*pageSize))
	for i := uintptr(0); i < 2; i++ {
		if err := e.mm.HandleUserFault(base+(16+i)*pageSize, platform.ReadWrite); err != nil {
			t.Errorf("fault of page %d with a page free: %v", i, err)
		}
	}
	mustMMap(t, e.mm, fixed(anon(pageSize), base+32*pageSize))
	if err := e.mm.HandleUserFault(base+32*pageSize, platform.ReadWrite); !errors.Is(err, linux.ENOMEM) {
		t.Errorf("fault with the memory file full = %v, want ENOMEM", err)
	}
}
