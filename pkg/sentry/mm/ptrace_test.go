package mm_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/mm"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/platform"
	"visor.dev/visor/pkg/sentry/platform/ptrace"
)

// These tests run real application code on the ptrace platform in address spaces
// that mm manages: every page the code touches arrives through HandleUserFault.

const (
	codeAddr = 0x400000
	dataAddr = 0x600000
)

// The code page: at codeAddr, "mov [rbx], rax; mov rdi, [rbx]; mov eax, 39 (getpid);
// syscall" stores rax at rbx, loads it back, and stops at a system call with what it
// loaded as the first argument; at loadAddr, the same without the store.
const loadAddr = codeAddr + 3

var codeStoreLoadSyscall = []byte{0x48, 0x89, 0x03, 0x48, 0x8b, 0x3b, 0xb8, 39, 0, 0, 0, 0x0f, 0x05}

type ptraceEnv struct {
	mf  *pgalloc.MemoryFile
	p   *ptrace.Platform
	ctx platform.Context
}

func newPtraceEnv(t *testing.T) *ptraceEnv {
	t.Helper()
	mf, err := pgalloc.NewMemoryFile(pgalloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := ptrace.New(mf.File())
	if err != nil {
		mf.Destroy()
		t.Fatalf("ptrace.New: %v", err)
	}
	// Contexts are used from one OS thread.
	runtime.LockOSThread()
	ctx, err := p.NewContext()
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() {
		ctx.Release()
		runtime.UnlockOSThread()
		p.Release()
		mf.Destroy()
	})
	return &ptraceEnv{mf: mf, p: p, ctx: ctx}
}

// run runs the code at rip in m with rax = value and rbx = addr, resolving faults
// through m, until the code makes its system call; it returns that call's first
// argument. A fault m refuses is returned as its error.
func (e *ptraceEnv) run(t *testing.T, m *mm.MemoryManager, rip uint64, value uint64, addr uintptr) (uint64, error) {
	t.Helper()
	as, err := m.AddressSpace()
	if err != nil {
		t.Fatalf("AddressSpace: %v", err)
	}
	ac := &arch.Context64{}
	ac.Regs.Rip = rip
	ac.Regs.Rax = value
	ac.Regs.Rbx = uint64(addr)
	ac.Regs.Eflags = 0x202
	for faults := 0; faults < 10; faults++ {
		si, at, err := e.ctx.Switch(as, ac)
		switch {
		case err == nil:
			if ac.SyscallNo() != unix.SYS_GETPID {
				t.Fatalf("stopped at syscall %d", ac.SyscallNo())
			}
			return uint64(ac.SyscallArgs()[0].Value), nil
		case errors.Is(err, platform.ErrContextSignal):
			if ferr := m.HandleUserFault(uintptr(si.Addr()), at); ferr != nil {
				return 0, ferr
			}
		default:
			t.Fatalf("Switch: %v", err)
		}
	}
	t.Fatalf("the code kept faulting")
	return 0, nil
}

func readU64(t *testing.T, m *mm.MemoryManager, addr uintptr) uint64 {
	t.Helper()
	var b [8]byte
	if _, err := m.CopyIn(addr, b[:]); err != nil {
		t.Fatalf("CopyIn: %v", err)
	}
	return binary.LittleEndian.Uint64(b[:])
}

func TestPtraceFaultsAndFork(t *testing.T) {
	e := newPtraceEnv(t)
	parent := mm.NewMemoryManager(e.p, e.mf)
	defer parent.Release()
	code := memmap.MMapOpts{
		Length: 4096, Addr: codeAddr, Fixed: true,
		Perms: platform.AccessType{Read: true, Execute: true}, MaxPerms: platform.AnyAccess,
		Private: true, Mappable: bytes.NewReader(codeStoreLoadSyscall), Name: "/code",
	}
	data := memmap.MMapOpts{
		Length: 4096, Addr: dataAddr, Fixed: true,
		Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess, Private: true,
	}
	for _, o := range []memmap.MMapOpts{code, data} {
		if _, err := parent.MMap(o); err != nil {
			t.Fatalf("MMap: %v", err)
		}
	}

	got, err := e.run(t, parent, codeAddr, 0x1111, dataAddr)
	if err != nil || got != 0x1111 {
		t.Fatalf("parent loaded %#x, %v, want 0x1111", got, err)
	}
	if v := readU64(t, parent, dataAddr); v != 0x1111 {
		t.Errorf("the Sentry reads %#x where the application stored 0x1111", v)
	}

	// After fork, each side's store goes to its own copy.
	child, err := parent.Fork()
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	if got, err := e.run(t, child, codeAddr, 0x2222, dataAddr); err != nil || got != 0x2222 {
		t.Fatalf("child loaded %#x, %v, want 0x2222", got, err)
	}
	if v := readU64(t, parent, dataAddr); v != 0x1111 {
		t.Errorf("the child's store reached the parent: %#x", v)
	}
	if got, err := e.run(t, parent, codeAddr, 0x3333, dataAddr); err != nil || got != 0x3333 {
		t.Fatalf("parent loaded %#x, %v, want 0x3333", got, err)
	}
	if v := readU64(t, child, dataAddr); v != 0x2222 {
		t.Errorf("the parent's store reached the child: %#x", v)
	}

	// The Sentry's writes are what the application reads.
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 0x4444)
	if _, err := child.CopyOut(dataAddr+8, b[:]); err != nil {
		t.Fatal(err)
	}
	if got, err := e.run(t, child, loadAddr, 0, dataAddr+8); err != nil || got != 0x4444 {
		t.Errorf("child loaded %#x, %v, want what the Sentry wrote, 0x4444", got, err)
	}

	// A store to memory that is not mapped is a SIGSEGV for the kernel to deliver.
	_, err = e.run(t, parent, codeAddr, 1, 0x700000)
	var fe *mm.FaultError
	if !errors.As(err, &fe) || fe.AccessErr || fe.Addr != 0x700000 || !errors.Is(err, linux.EFAULT) {
		t.Errorf("store to unmapped memory: %v, want a mapping FaultError", err)
	}
	// And so is a store to read-only memory.
	if err := parent.MProtect(dataAddr, 4096, linux.PROT_READ); err != nil {
		t.Fatal(err)
	}
	_, err = e.run(t, parent, codeAddr, 1, dataAddr)
	if !errors.As(err, &fe) || !fe.AccessErr {
		t.Errorf("store to read-only memory: %v, want an access FaultError", err)
	}

	child.Release()
	parent.Release()
	if c := e.mf.Committed(); c != 0 {
		t.Errorf("Committed after releasing both = %d, want 0", c)
	}
}
