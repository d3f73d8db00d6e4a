package mm

import (
	"bytes"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/platform"
)

func TestForkCopyOnWrite(t *testing.T) {
	e := newTestEnv(t)
	parentAS := e.as(t)
	mustMMap(t, e.mm, fixed(anon(4*pageSize), base))
	mustMMap(t, e.mm, fixed(sharedAnon(4*pageSize), base+8*pageSize))
	orig := pattern(4*pageSize, 21)
	mustCopyOut(t, e.mm, base, orig)
	// The shared mapping's first page is touched before the fork, the rest after.
	mustCopyOut(t, e.mm, base+8*pageSize, []byte("before"))
	committed := e.mf.Committed()

	child, err := e.mm.Fork()
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	childAS, err := child.AddressSpace()
	if err != nil {
		t.Fatal(err)
	}
	if got := e.mf.Committed(); got != committed {
		t.Errorf("Fork copied pages: Committed %d -> %d", committed, got)
	}

	// Private pages are read-only in both address spaces now; shared ones are not.
	for name, as := range map[string]*fakeAddressSpace{"parent": parentAS, "child": childAS.(*fakeAddressSpace)} {
		if m, ok := as.mapping(base); !ok || m.at != platform.Read {
			t.Errorf("%s maps a copy-on-write page %v %+v, want read-only", name, ok, m.at)
		}
		if m, ok := as.mapping(base + 8*pageSize); !ok || m.at != platform.ReadWrite {
			t.Errorf("%s maps a shared page %v %+v, want read-write", name, ok, m.at)
		}
	}

	// The parent writes; the child still reads the original, and vice versa.
	mustCopyOut(t, e.mm, base, []byte("parent"))
	if got := mustCopyIn(t, child, base, 4*pageSize); !bytes.Equal(got, orig) {
		t.Errorf("the child sees the parent's write")
	}
	mustCopyOut(t, child, base+pageSize, []byte("child"))
	if got := mustCopyIn(t, e.mm, base+pageSize, 5); !bytes.Equal(got, orig[pageSize:pageSize+5]) {
		t.Errorf("the parent sees the child's write: %q", got)
	}
	if got := mustCopyIn(t, e.mm, base, 6); string(got) != "parent" {
		t.Errorf("the parent lost its own write: %q", got)
	}

	// A write fault from the application breaks copy-on-write and maps the copy
	// writable; the other side keeps the original.
	if err := child.HandleUserFault(base+2*pageSize, platform.ReadWrite); err != nil {
		t.Fatalf("write fault in the child: %v", err)
	}
	m, _ := childAS.(*fakeAddressSpace).mapping(base + 2*pageSize)
	pm, _ := parentAS.mapping(base + 2*pageSize)
	if m.at != platform.ReadWrite || m.off == pm.off {
		t.Errorf("after the child's write fault it maps %+v (offset %#x, parent's %#x), want its own writable copy", m.at, m.off, pm.off)
	}
	// The parent now holds the only reference to that page: its write fault takes
	// it over in place rather than copying.
	if err := e.mm.HandleUserFault(base+2*pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	if m2, _ := parentAS.mapping(base + 2*pageSize); m2.off != pm.off || m2.at != platform.ReadWrite {
		t.Errorf("the sole owner's write fault copied the page: %+v, was at %#x", m2, pm.off)
	}

	// Shared memory stays shared, including pages first touched after the fork.
	mustCopyOut(t, child, base+8*pageSize, []byte("BEFORE"))
	mustCopyOut(t, child, base+10*pageSize, []byte("after"))
	if got := mustCopyIn(t, e.mm, base+8*pageSize, 6); string(got) != "BEFORE" {
		t.Errorf("the parent does not see the child's write to shared memory: %q", got)
	}
	if got := mustCopyIn(t, e.mm, base+10*pageSize, 5); string(got) != "after" {
		t.Errorf("a shared page first touched after fork is not shared: %q", got)
	}

	// A grandchild shares with both.
	grandchild, err := child.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if got := mustCopyIn(t, grandchild, base+pageSize, 5); string(got) != "child" {
		t.Errorf("the grandchild reads %q, want the child's data", got)
	}
	grandchild.Release()

	child.Release()
	e.mm.Release()
	if got := e.mf.Committed(); got != 0 {
		t.Errorf("Committed after releasing every address space = %d, want 0", got)
	}
	if !parentAS.released || !childAS.(*fakeAddressSpace).released {
		t.Errorf("Release did not release the platform address spaces")
	}
}

func TestForkAdvice(t *testing.T) {
	e := newTestEnv(t)
	mustMMap(t, e.mm, fixed(anon(pageSize), base))
	mustMMap(t, e.mm, fixed(anon(pageSize), base+2*pageSize))
	mustMMap(t, e.mm, fixed(anon(pageSize), base+4*pageSize))
	for _, a := range []uintptr{base, base + 2*pageSize, base + 4*pageSize} {
		mustCopyOut(t, e.mm, a, []byte("data"))
	}
	if err := e.mm.Madvise(base, pageSize, linux.MADV_DONTFORK); err != nil {
		t.Fatal(err)
	}
	if err := e.mm.Madvise(base+2*pageSize, pageSize, linux.MADV_WIPEONFORK); err != nil {
		t.Fatal(err)
	}
	if err := e.mm.MLock(base+4*pageSize, pageSize, false); err != nil {
		t.Fatal(err)
	}
	child, err := e.mm.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.Release()
	if _, err := child.CopyIn(base, make([]byte, 1)); err != linux.EFAULT {
		t.Errorf("a MADV_DONTFORK mapping reached the child")
	}
	if got := mustCopyIn(t, child, base+2*pageSize, 4); !bytes.Equal(got, make([]byte, 4)) {
		t.Errorf("a MADV_WIPEONFORK mapping reads %q in the child, want zeros", got)
	}
	if got := mustCopyIn(t, child, base+4*pageSize, 4); string(got) != "data" {
		t.Errorf("an ordinary mapping reads %q in the child", got)
	}
	if child.LockedBytes() != 0 {
		t.Errorf("mlock carried over to the child")
	}
}

func TestRelease(t *testing.T) {
	e := newTestEnv(t)
	as := e.as(t)
	mustMMap(t, e.mm, fixed(sharedAnon(2*pageSize), base))
	mustCopyOut(t, e.mm, base, make([]byte, 2*pageSize))
	e.mm.Release()
	e.mm.Release()
	if got := e.mf.Committed(); got != 0 {
		t.Errorf("Committed after Release = %d", got)
	}
	if !as.released {
		t.Errorf("platform address space not released")
	}
	if _, err := e.mm.AddressSpace(); err == nil {
		t.Errorf("AddressSpace after Release succeeded")
	}
	if _, err := e.mm.Fork(); err == nil {
		t.Errorf("Fork after Release succeeded")
	}
}

func TestUsersReleaseAfterLast(t *testing.T) {
	e := newTestEnv(t)
	m := e.mm
	mustMMap(t, m, anon(pageSize))
	m.IncUsers()
	m.DecUsers()
	if m.released {
		t.Fatal("released while a user remains")
	}
	m.DecUsers()
	if !m.released {
		t.Fatal("not released after the last user")
	}
}
