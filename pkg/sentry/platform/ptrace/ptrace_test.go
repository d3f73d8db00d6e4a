package ptrace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/platform"
)

// Application addresses and memory file offsets used by the tests.
const (
	codeAddr = 0x100000
	dataAddr = 0x200000
	codeOff  = 0
	dataOffA = 0x1000
	dataOffB = 0x2000
	memSize  = 0x10000
)

// Machine code.
var (
	// getpid, then exit(rax): "mov eax,39; syscall; mov rdi,rax; mov eax,60; syscall".
	codeGetpidExit = []byte{0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x48, 0x89, 0xc7, 0xb8, 60, 0, 0, 0, 0x0f, 0x05}
	// "mov [rbx], rax"
	codeStore = []byte{0x48, 0x89, 0x03}
	// "mov rdi, [rbx]; mov eax, 39; syscall"
	codeLoadSyscall = []byte{0x48, 0x8b, 0x3b, 0xb8, 39, 0, 0, 0, 0x0f, 0x05}
	// "1: jmp 1b"
	codeSpin = []byte{0xeb, 0xfe}
	// "1: syscall; jmp 1b"
	codeSyscallLoop = []byte{0x0f, 0x05, 0xeb, 0xfc}
)

type testEnv struct {
	mem *os.File
	p   *Platform
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	fd, err := unix.MemfdCreate("visor-ptrace-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	mem := os.NewFile(uintptr(fd), "memfile")
	if err := mem.Truncate(memSize); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	p, err := New(mem)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		p.Release()
		mem.Close()
	})
	return &testEnv{mem: mem, p: p}
}

func (e *testEnv) write(t testing.TB, off int64, b []byte) {
	t.Helper()
	if _, err := e.mem.WriteAt(b, off); err != nil {
		t.Fatalf("writing memory file: %v", err)
	}
}

func (e *testEnv) writeU64(t testing.TB, off int64, v uint64) {
	t.Helper()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	e.write(t, off, b[:])
}

func (e *testEnv) newAS(t testing.TB) *AddressSpace {
	t.Helper()
	as, err := e.p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	t.Cleanup(as.Release)
	return as.(*AddressSpace)
}

// newCtx returns a context for the calling goroutine, which it locks to its OS thread
// until the test ends (the context is released first, on that thread).
func (e *testEnv) newCtx(t testing.TB) *Context {
	t.Helper()
	runtime.LockOSThread()
	c, err := e.p.NewContext()
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	return c.(*Context)
}

func release(c *Context) {
	c.Release()
	runtime.UnlockOSThread()
}

func mapFile(t testing.TB, as *AddressSpace, addr uintptr, off uint64, at platform.AccessType) {
	t.Helper()
	if err := as.MapFile(addr, off, pageSize, at); err != nil {
		t.Fatalf("MapFile(%#x, %#x, %v): %v", addr, off, at, err)
	}
}

var rx = platform.AccessType{Read: true, Execute: true}

func regsAt(rip uint64) *arch.Context64 {
	ac := &arch.Context64{}
	ac.Regs.Rip = rip
	ac.Regs.Rsp = dataAddr + pageSize
	ac.Regs.Eflags = 0x202
	return ac
}

func TestStubAddressSpace(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", as.StubPID()))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		if !strings.Contains(l, "[vsyscall]") {
			lines = append(lines, l)
		}
	}
	want := fmt.Sprintf("%x-%x r-xp", uintptr(stubAddr), uintptr(stubAddr+pageSize))
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("stub mappings:\n%s\nwant only %q (and [vsyscall])", maps, want)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", as.StubPID()))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Name:\t" + stubName, "NoNewPrivs:\t1", "Seccomp:\t2", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000"} {
		if !strings.Contains(string(status), w) {
			t.Errorf("stub status lacks %q", w)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", as.StubPID()))
	if err != nil {
		t.Fatal(err)
	}
	if len(fds) != 1 || fds[0].Name() != "3" {
		var names []string
		for _, f := range fds {
			names = append(names, f.Name())
		}
		t.Errorf("stub fds %v, want [3]", names)
	}
	if got, want := e.p.MaxUserAddress(), uintptr(stubAddr); got != want {
		t.Errorf("MaxUserAddress = %#x, want %#x", got, want)
	}
}

func TestSyscallRoundTrip(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	e.write(t, codeOff, codeGetpidExit)
	mapFile(t, as, codeAddr, codeOff, rx)
	mapFile(t, as, dataAddr, dataOffA, platform.ReadWrite)
	c := e.newCtx(t)
	defer release(c)

	ac := regsAt(codeAddr)
	ac.Regs.Rdi, ac.Regs.Rsi, ac.Regs.Rdx, ac.Regs.R10, ac.Regs.R8, ac.Regs.R9 = 1, 2, 3, 4, 5, 6
	ac.Regs.Fs_base = dataAddr
	si, _, err := c.Switch(as, ac)
	if err != nil {
		t.Fatalf("Switch: %v (siginfo %+v, rip %#x)", err, si, ac.Regs.Rip)
	}
	if got := ac.SyscallNo(); got != unix.SYS_GETPID {
		t.Errorf("syscall number %d, want %d", got, unix.SYS_GETPID)
	}
	args := ac.SyscallArgs()
	for i, a := range args {
		if a.Value != uintptr(i+1) {
			t.Errorf("arg %d = %d, want %d", i, a.Value, i+1)
		}
	}
	if ac.Regs.Rip != codeAddr+7 {
		t.Errorf("rip at syscall stop %#x, want %#x", ac.Regs.Rip, codeAddr+7)
	}
	if ac.Regs.Fs_base != dataAddr {
		t.Errorf("fs_base %#x, want %#x", ac.Regs.Fs_base, dataAddr)
	}

	const result = 0x1234567
	ac.SetReturn(result)
	if _, _, err := c.Switch(as, ac); err != nil {
		t.Fatalf("second Switch: %v", err)
	}
	if got := ac.SyscallNo(); got != unix.SYS_EXIT {
		t.Errorf("syscall number %d, want %d", got, unix.SYS_EXIT)
	}
	if got := ac.Regs.Rdi; got != result {
		t.Errorf("exit status %#x, want the getpid result %#x", got, result)
	}
}

func TestTLS(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	// "mov rdi, fs:[8]; mov eax, 39; syscall"
	e.write(t, codeOff, []byte{0x64, 0x48, 0x8b, 0x3c, 0x25, 8, 0, 0, 0, 0xb8, 39, 0, 0, 0, 0x0f, 0x05})
	e.writeU64(t, dataOffA+8, 0xfeedface)
	mapFile(t, as, codeAddr, codeOff, rx)
	mapFile(t, as, dataAddr, dataOffA, platform.ReadWrite)
	c := e.newCtx(t)
	defer release(c)
	ac := regsAt(codeAddr)
	ac.Regs.Fs_base = dataAddr
	if _, _, err := c.Switch(as, ac); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if ac.Regs.Rdi != 0xfeedface {
		t.Errorf("fs:[8] = %#x, want 0xfeedface", ac.Regs.Rdi)
	}
}

func TestXState(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	// "movq xmm0, rax; mov eax, 39; syscall; movq rdi, xmm1; syscall"
	e.write(t, codeOff, []byte{0x66, 0x48, 0x0f, 0x6e, 0xc0, 0xb8, 39, 0, 0, 0, 0x0f, 0x05,
		0x66, 0x48, 0x0f, 0x7e, 0xcf, 0x0f, 0x05})
	mapFile(t, as, codeAddr, codeOff, rx)
	c := e.newCtx(t)
	defer release(c)
	ac := regsAt(codeAddr)
	ac.Regs.Rax = 0x1122334455667788
	if _, _, err := c.Switch(as, ac); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	buf := make([]byte, 16384)
	xs, err := c.GetXState(as, buf)
	if err != nil {
		t.Fatalf("GetXState: %v", err)
	}
	// The FXSAVE layout puts xmm0 at byte 160, xmm1 at 176.
	if len(xs) < 192 {
		t.Fatalf("xstate only %d bytes", len(xs))
	}
	if got := binary.LittleEndian.Uint64(xs[160:]); got != 0x1122334455667788 {
		t.Errorf("xmm0 low = %#x, want 0x1122334455667788", got)
	}
	binary.LittleEndian.PutUint64(xs[176:], 0xabcdef)
	if err := c.SetXState(as, xs); err != nil {
		t.Fatalf("SetXState: %v", err)
	}
	if _, _, err := c.Switch(as, ac); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	if ac.Regs.Rdi != 0xabcdef {
		t.Errorf("xmm1 as seen by the thread = %#x, want 0xabcdef", ac.Regs.Rdi)
	}
}

// wantFault runs ac and checks that it faults with sig at addr with access want.
func wantFault(t *testing.T, c *Context, as *AddressSpace, ac *arch.Context64, sig, code int32, addr uint64, want platform.AccessType) {
	t.Helper()
	si, at, err := c.Switch(as, ac)
	if !errors.Is(err, platform.ErrContextSignal) {
		t.Fatalf("Switch = %v (syscall %d at %#x), want ErrContextSignal", err, ac.SyscallNo(), ac.Regs.Rip)
	}
	if si.Signo != sig || si.Code != code || si.Addr() != addr {
		t.Errorf("signal %d code %d addr %#x, want signal %d code %d addr %#x", si.Signo, si.Code, si.Addr(), sig, code, addr)
	}
	if at != want {
		t.Errorf("access %+v, want %+v", at, want)
	}
}

func TestFaults(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	e.write(t, codeOff, codeStore)
	e.write(t, codeOff+0x100, codeLoadSyscall)
	e.writeU64(t, dataOffA, 0x77)
	mapFile(t, as, codeAddr, codeOff, rx)
	mapFile(t, as, dataAddr, dataOffA, platform.Read)
	c := e.newCtx(t)
	defer release(c)
	// Not t.Run: a subtest runs on its own goroutine, hence another OS thread than
	// the one that traces the context's stub thread.
	step := func(name string, f func(t *testing.T)) {
		t.Logf("step %q", name)
		f(t)
	}

	step("write to read-only", func(t *testing.T) {
		ac := regsAt(codeAddr)
		ac.Regs.Rbx = dataAddr + 0x10
		wantFault(t, c, as, ac, int32(unix.SIGSEGV), 2 /* SEGV_ACCERR */, dataAddr+0x10, platform.AccessType{Write: true})
		if ac.Regs.Rip != codeAddr {
			t.Errorf("rip %#x, want the faulting instruction %#x", ac.Regs.Rip, codeAddr)
		}
	})
	step("read of unmapped", func(t *testing.T) {
		ac := regsAt(codeAddr + 0x100)
		ac.Regs.Rbx = 0x300000
		wantFault(t, c, as, ac, int32(unix.SIGSEGV), 1 /* SEGV_MAPERR */, 0x300000, platform.Read)
	})
	step("execute non-executable", func(t *testing.T) {
		ac := regsAt(dataAddr)
		wantFault(t, c, as, ac, int32(unix.SIGSEGV), 2, dataAddr, platform.AccessType{Execute: true})
	})
	step("read, unmap, read", func(t *testing.T) {
		ac := regsAt(codeAddr + 0x100)
		ac.Regs.Rbx = dataAddr
		if _, _, err := c.Switch(as, ac); err != nil {
			t.Fatalf("Switch: %v", err)
		}
		if ac.Regs.Rdi != 0x77 {
			t.Errorf("read %#x, want 0x77", ac.Regs.Rdi)
		}
		as.Unmap(dataAddr, pageSize)
		ac = regsAt(codeAddr + 0x100)
		ac.Regs.Rbx = dataAddr
		wantFault(t, c, as, ac, int32(unix.SIGSEGV), 1, dataAddr, platform.Read)
		// Map it again, writable, with other contents.
		e.writeU64(t, dataOffB, 0x99)
		mapFile(t, as, dataAddr, dataOffB, platform.ReadWrite)
		ac = regsAt(codeAddr + 0x100)
		ac.Regs.Rbx = dataAddr
		if _, _, err := c.Switch(as, ac); err != nil {
			t.Fatalf("Switch: %v", err)
		}
		if ac.Regs.Rdi != 0x99 {
			t.Errorf("read %#x, want 0x99", ac.Regs.Rdi)
		}
	})
	step("int3", func(t *testing.T) {
		e.write(t, codeOff+0x200, []byte{0xcc})
		ac := regsAt(codeAddr + 0x200)
		si, _, err := c.Switch(as, ac)
		if !errors.Is(err, platform.ErrContextSignal) || si.Signo != int32(unix.SIGTRAP) {
			t.Fatalf("Switch = %v, %+v; want SIGTRAP", err, si)
		}
	})
	step("ud2", func(t *testing.T) {
		e.write(t, codeOff+0x300, []byte{0x0f, 0x0b})
		ac := regsAt(codeAddr + 0x300)
		si, _, err := c.Switch(as, ac)
		if !errors.Is(err, platform.ErrContextSignal) || si.Signo != int32(unix.SIGILL) || si.Addr() != codeAddr+0x300 {
			t.Fatalf("Switch = %v, %+v; want SIGILL at %#x", err, si, codeAddr+0x300)
		}
	})
	step("divide by zero", func(t *testing.T) {
		// "xor ecx, ecx; div ecx"
		e.write(t, codeOff+0x400, []byte{0x31, 0xc9, 0xf7, 0xf1})
		ac := regsAt(codeAddr + 0x400)
		si, _, err := c.Switch(as, ac)
		if !errors.Is(err, platform.ErrContextSignal) || si.Signo != int32(unix.SIGFPE) {
			t.Fatalf("Switch = %v, %+v; want SIGFPE", err, si)
		}
	})
	step("beyond the end of the memory file", func(t *testing.T) {
		mapFile(t, as, 0x300000, memSize, platform.Read)
		ac := regsAt(codeAddr + 0x100)
		ac.Regs.Rbx = 0x300008
		wantFault(t, c, as, ac, int32(unix.SIGBUS), 2 /* BUS_ADRERR */, 0x300008, platform.Read)
		as.Unmap(0x300000, pageSize)
	})
	step("vsyscall", func(t *testing.T) {
		// "mov rax, 0xffffffffff600000; call rax": the kernel's vsyscall
		// emulation must not run the host's gettimeofday, nor kill the stub.
		e.write(t, codeOff+0x500, []byte{0x48, 0xc7, 0xc0, 0x00, 0x00, 0x60, 0xff, 0xff, 0xd0})
		mapFile(t, as, dataAddr+pageSize, dataOffB, platform.ReadWrite)
		ac := regsAt(codeAddr + 0x500)
		ac.Regs.Rsp = dataAddr + 2*pageSize
		ac.Regs.Rdi = dataAddr + pageSize
		si, _, err := c.Switch(as, ac)
		if !errors.Is(err, platform.ErrContextSignal) {
			t.Fatalf("Switch = %v, want a signal", err)
		}
		t.Logf("vsyscall call: signal %d code %d addr %#x, rip %#x", si.Signo, si.Code, si.Addr(), ac.Regs.Rip)
		// The stub is still alive and usable.
		ac = regsAt(codeAddr + 0x100)
		ac.Regs.Rbx = dataAddr
		if _, _, err := c.Switch(as, ac); err != nil {
			t.Fatalf("Switch after the vsyscall: %v", err)
		}
	})
	step("bad range", func(t *testing.T) {
		if err := as.MapFile(stubAddr, 0, pageSize, rx); err == nil {
			t.Errorf("MapFile over the stub page succeeded")
		}
		if err := as.MapFile(0x1000, 0, pageSize, rx); err == nil {
			t.Errorf("MapFile below MinUserAddress succeeded")
		}
	})
}

func TestIsolation(t *testing.T) {
	e := newTestEnv(t)
	e.write(t, codeOff, codeLoadSyscall)
	e.writeU64(t, dataOffA, 0xaaaa)
	e.writeU64(t, dataOffB, 0xbbbb)
	as1, as2 := e.newAS(t), e.newAS(t)
	for _, m := range []struct {
		as  *AddressSpace
		off uint64
	}{{as1, dataOffA}, {as2, dataOffB}} {
		mapFile(t, m.as, codeAddr, codeOff, rx)
		mapFile(t, m.as, dataAddr, m.off, platform.Read)
	}
	c := e.newCtx(t)
	defer release(c)
	for _, r := range []struct {
		as   *AddressSpace
		want uint64
	}{{as1, 0xaaaa}, {as2, 0xbbbb}, {as1, 0xaaaa}} {
		ac := regsAt(codeAddr)
		ac.Regs.Rbx = dataAddr
		if _, _, err := c.Switch(r.as, ac); err != nil {
			t.Fatalf("Switch: %v", err)
		}
		if ac.Regs.Rdi != r.want {
			t.Errorf("stub %d read %#x, want %#x", r.as.StubPID(), ac.Regs.Rdi, r.want)
		}
	}
}

func TestThreadsOnTwoOSThreads(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	e.write(t, codeOff, codeSyscallLoop)
	mapFile(t, as, codeAddr, codeOff, rx)

	const n = 2
	var wg sync.WaitGroup
	tids := make([]int32, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.newCtx(t)
			defer release(c)
			ac := regsAt(codeAddr)
			for j := 0; j < 1000; j++ {
				ac.Regs.Rax = uint64(j)
				if _, _, err := c.Switch(as, ac); err != nil {
					errs[i] = err
					return
				}
				if ac.Regs.Orig_rax != uint64(j) {
					errs[i] = fmt.Errorf("round %d: syscall %d", j, ac.Regs.Orig_rax)
					return
				}
			}
			tids[i] = c.last.tid
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if tids[0] == tids[1] || tids[0] == as.master.tid {
		t.Errorf("stub threads %v share a thread (master %d)", tids, as.master.tid)
	}
	// Both contexts were released on their own OS threads: their stub threads
	// exited, only the master is left.
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", as.StubPID()))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 {
		t.Errorf("stub has %d threads after the contexts were released, want 1", len(tasks))
	}
}

func TestInterrupt(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	e.write(t, codeOff, codeSpin)
	e.write(t, codeOff+0x100, codeSyscallLoop)
	mapFile(t, as, codeAddr, codeOff, rx)
	c := e.newCtx(t)
	defer release(c)

	// Interrupt a spinning thread from another goroutine.
	ac := regsAt(codeAddr)
	go func() {
		time.Sleep(50 * time.Millisecond)
		c.Interrupt()
	}()
	start := time.Now()
	if _, _, err := c.Switch(as, ac); !errors.Is(err, platform.ErrContextInterrupt) {
		t.Fatalf("Switch = %v, want ErrContextInterrupt", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("interrupt took %v", d)
	}
	if ac.Regs.Rip != codeAddr {
		t.Errorf("rip %#x, want %#x", ac.Regs.Rip, codeAddr)
	}

	// A pending interrupt makes the next Switch return at once, only once.
	c.Interrupt()
	ac = regsAt(codeAddr + 0x100)
	ac.Regs.Rax = 39
	if _, _, err := c.Switch(as, ac); !errors.Is(err, platform.ErrContextInterrupt) {
		t.Fatalf("Switch = %v, want ErrContextInterrupt", err)
	}
	if _, _, err := c.Switch(as, ac); err != nil || ac.SyscallNo() != 39 {
		t.Fatalf("Switch = %v, syscall %d; want syscall 39", err, ac.SyscallNo())
	}

	// An interrupt that races with a stop: the stale signal is dropped later.
	c.mu.Lock()
	c.running = c.last
	c.mu.Unlock()
	c.Interrupt() // signals the (stopped) thread
	c.mu.Lock()
	c.running = nil
	c.mu.Unlock()
	if _, _, err := c.Switch(as, ac); !errors.Is(err, platform.ErrContextInterrupt) {
		t.Fatalf("Switch = %v, want ErrContextInterrupt", err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := c.Switch(as, ac); err != nil {
			t.Fatalf("Switch %d after the interrupt = %v, want a syscall stop", i, err)
		}
	}
}

func TestRelease(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	e.write(t, codeOff, codeSpin)
	mapFile(t, as, codeAddr, codeOff, rx)
	c := e.newCtx(t)
	defer release(c)
	// Leave a thread of the stub stopped in application code.
	go func() {
		time.Sleep(10 * time.Millisecond)
		c.Interrupt()
	}()
	if _, _, err := c.Switch(as, regsAt(codeAddr)); !errors.Is(err, platform.ErrContextInterrupt) {
		t.Fatalf("Switch = %v", err)
	}
	pid := as.StubPID()
	proc := fmt.Sprintf("/proc/%d", pid)
	if _, err := os.Stat(proc); err != nil {
		t.Fatalf("stub not running: %v", err)
	}
	as.Release()
	if _, err := os.Stat(proc); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Release (err %v)", proc, err)
	}
	if _, _, err := c.Switch(as, regsAt(codeAddr)); err == nil {
		t.Errorf("Switch on a released address space succeeded")
	}
	if err := as.MapFile(codeAddr, codeOff, pageSize, rx); err == nil {
		t.Errorf("MapFile on a released address space succeeded")
	}
	as.Unmap(codeAddr, pageSize) // must not panic

	// The context goes on to another address space (as after an exec) and
	// forgets the released one's thread.
	as2 := e.newAS(t)
	e.write(t, codeOff+0x100, codeSyscallLoop)
	mapFile(t, as2, codeAddr, codeOff, rx)
	if _, _, err := c.Switch(as2, regsAt(codeAddr+0x100)); err != nil {
		t.Fatalf("Switch in a second address space: %v", err)
	}
	if len(c.threads) != 1 {
		t.Errorf("context holds %d threads, want 1", len(c.threads))
	}
}

func TestStubDeath(t *testing.T) {
	e := newTestEnv(t)
	as := e.newAS(t)
	e.write(t, codeOff, codeSyscallLoop)
	mapFile(t, as, codeAddr, codeOff, rx)
	c := e.newCtx(t)
	defer release(c)
	if _, _, err := c.Switch(as, regsAt(codeAddr)); err != nil {
		t.Fatal(err)
	}
	unix.Kill(as.StubPID(), unix.SIGKILL)
	if _, _, err := c.Switch(as, regsAt(codeAddr)); !errors.Is(err, errStubDied) {
		t.Errorf("Switch after the stub was killed = %v, want errStubDied", err)
	}
}

func BenchmarkSyscallRoundTrip(b *testing.B) {
	for _, pin := range []bool{false, true} {
		b.Run(fmt.Sprintf("pin=%v", pin), func(b *testing.B) {
			e := newTestEnv(b)
			e.p.SetCPUPinning(pin)
			as := e.newAS(b)
			e.write(b, codeOff, codeSyscallLoop)
			mapFile(b, as, codeAddr, codeOff, rx)
			c := e.newCtx(b)
			defer release(c)
			ac := regsAt(codeAddr)
			ac.Regs.Rax = 39
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := c.Switch(as, ac); err != nil {
					b.Fatal(err)
				}
				ac.Regs.Rax = 39
			}
		})
	}
}

// BenchmarkMapFile maps a page from a goroutine with no stub thread (the master runs
// the mmap) and from a task goroutine that has one (its own thread runs it).
func BenchmarkMapFile(b *testing.B) {
	for _, own := range []bool{false, true} {
		b.Run(fmt.Sprintf("ownthread=%v", own), func(b *testing.B) {
			e := newTestEnv(b)
			as := e.newAS(b)
			if own {
				e.write(b, codeOff, codeSyscallLoop)
				mapFile(b, as, codeAddr, codeOff, rx)
				c := e.newCtx(b)
				defer release(c)
				if _, _, err := c.Switch(as, regsAt(codeAddr)); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := as.MapFile(dataAddr, dataOffA, pageSize, platform.ReadWrite); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestStubsForkedFromZygote checks that address spaces' stubs are forked from
// the zygote (no exec after New) as children of the Sentry, which traces and
// reaps them.
func TestStubsForkedFromZygote(t *testing.T) {
	e := newTestEnv(t)
	zygote := int(e.p.zygote.stub.tgid)
	seen := map[int]bool{zygote: true}
	for range 2 {
		pid := e.newAS(t).StubPID()
		if seen[pid] {
			t.Fatalf("stub %d is the zygote or another address space's", pid)
		}
		seen[pid] = true
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		if w := fmt.Sprintf("PPid:\t%d\n", os.Getpid()); !strings.Contains(string(status), w) {
			t.Errorf("stub %d status lacks %q:\n%s", pid, w, status)
		}
		// Traced by one of this process's threads.
		if strings.Contains(string(status), "TracerPid:\t0\n") {
			t.Errorf("stub %d is not traced:\n%s", pid, status)
		}
	}
}
