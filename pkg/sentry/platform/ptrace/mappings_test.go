package ptrace

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"visor.dev/visor/pkg/sentry/platform"
)

func TestMappings(t *testing.T) {
	r, rw, rx := platform.Read, platform.ReadWrite, platform.AccessType{Read: true, Execute: true}
	var ms mappings
	ms.set(0x1000, 0x5000, r)
	ms.set(0x5000, 0x6000, r) // merges
	ms.set(0x2000, 0x3000, rw)
	ms.set(0x8000, 0x9000, rx)
	ms.remove(0x4000, 0x4800)
	want := []mapping{
		{0x1000, 0x2000, r},
		{0x2000, 0x3000, rw},
		{0x3000, 0x4000, r},
		{0x4800, 0x6000, r},
		{0x8000, 0x9000, rx},
	}
	if diff := cmp.Diff(want, ms.m, cmp.AllowUnexported(mapping{})); diff != "" {
		t.Fatalf("mappings (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		addr uintptr
		at   platform.AccessType
		ok   bool
	}{
		{0xfff, platform.NoAccess, false},
		{0x1000, r, true},
		{0x2fff, rw, true},
		{0x3000, r, true},
		{0x4000, platform.NoAccess, false},
		{0x47ff, platform.NoAccess, false},
		{0x4800, r, true},
		{0x6000, platform.NoAccess, false},
		{0x8800, rx, true},
		{0x9000, platform.NoAccess, false},
	} {
		if at, ok := ms.lookup(c.addr); at != c.at || ok != c.ok {
			t.Errorf("lookup(%#x) = %v, %v; want %v, %v", c.addr, at, ok, c.at, c.ok)
		}
	}
	// Overwrite across several mappings, then merge everything back.
	ms.set(0x1800, 0x8800, r)
	ms.set(0x8800, 0x9000, r)
	want = []mapping{{0x1000, 0x9000, r}}
	if diff := cmp.Diff(want, ms.m, cmp.AllowUnexported(mapping{})); diff != "" {
		t.Fatalf("mappings (-want +got):\n%s", diff)
	}
	ms.remove(0, ^uintptr(0))
	if len(ms.m) != 0 {
		t.Errorf("mappings after removing everything: %v", ms.m)
	}
}

func TestStubImage(t *testing.T) {
	img := buildStub()
	if len(img) != stubSize || string(img[:4]) != "\x7fELF" {
		t.Fatalf("bad stub image header % x", img[:16])
	}
	if got := img[offSyscall : offSyscall+3]; string(got) != "\x0f\x05\xcc" {
		t.Errorf("syscall trap % x", got)
	}
	if stubCloneEnd-stubCloneAddr != 8 || img[offClone+7] != 0xcc {
		t.Errorf("clone trap's int3 not where stubCloneEnd expects it")
	}
}
