// Package mm owns application address spaces: for each process, its virtual memory
// areas (what mmap, brk and the loader created, with their permissions and backing),
// the memory-file pages that back them, and the platform address space those pages
// are mapped into. It implements the memory system calls with Linux's semantics,
// resolves the faults the platform reports, copies data between the Sentry and
// application memory, forks address spaces copy-on-write, and renders
// /proc/[pid]/maps.
//
// Pages come from pgalloc's memory file. Private pages belong to one address space
// (shared copy-on-write after fork); shared anonymous pages belong to a shmem object
// that every mapping of it references.
package mm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/platform"
)

// Layout is where things go in an address space; the loader places the stack and
// the executable by it.
type Layout struct {
	// MinAddr and MaxAddr bound application mappings: [MinAddr, MaxAddr).
	MinAddr, MaxAddr uintptr
	// MmapBase is where mmap places mappings without a usable hint: the highest free
	// range below it.
	MmapBase uintptr
	// StackTop is the end of the initial stack.
	StackTop uintptr
}

// Linux's placement: mmap_base sits below the stack by the stack rlimit plus a guard,
// but never less than 128 MiB (MIN_GAP in mm/util.c), so the stack can grow.
const (
	minMmapGap = 128 << 20
	// stackGuardGap is Linux's stack_guard_gap: 256 pages no mapping may take
	// below a stack, so that its growth always has room.
	stackGuardGap = 256 * pageSize
	// maxStackSize bounds automatic stack growth, as the default RLIMIT_STACK.
	maxStackSize = 8 << 20
)

// AuxEntry is one entry of the auxiliary vector the loader gave the process.
type AuxEntry struct {
	Key, Value uint64
}

// MemoryManager is one application address space. Threads that share an address
// space (CLONE_VM) share a MemoryManager, counted by IncUsers and DecUsers; the
// last user's DecUsers releases it.
//
// Lock order: MemoryManager.mu, then shmem.mu, then pgalloc.MemoryFile.mu; the
// platform's address space is called with mu held. Methods whose names end in
// Locked need mu held for writing unless their comment says otherwise.
type MemoryManager struct {
	p      platform.Platform
	mf     *pgalloc.MemoryFile
	layout Layout

	// users counts the tasks using mm; it starts at 1.
	users atomic.Int32

	// mu guards everything below. Copies to and from pages already present take
	// it for reading; anything that changes mappings or pages takes it for writing.
	mu   sync.RWMutex
	vmas vmaSet
	pt   pageTable
	// as is created on first use (AddressSpace); nil until then and after
	// Release.
	as platform.AddressSpace
	// brkStart is where the heap starts; brk is the current break, which the
	// heap's last page contains.
	brkStart, brk uintptr
	// lockFuture is mlockall(MCL_FUTURE): new mappings are locked;
	// lockFutureOnFault adds MCL_ONFAULT (locked but not populated).
	lockFuture, lockFutureOnFault bool
	released                      bool

	// What /proc/[pid]/{exe,cmdline,environ,auxv} read; the loader sets them.
	executable string
	argv, envv AddrRange
	auxv       []AuxEntry
}

// FaultError is a fault that Linux answers with SIGSEGV: no mapping at Addr
// (SEGV_MAPERR), or one that does not allow the access (SEGV_ACCERR, AccessErr). It
// unwraps to EFAULT.
type FaultError struct {
	Addr      uintptr
	AccessErr bool
}

func (e *FaultError) Error() string {
	if e.AccessErr {
		return fmt.Sprintf("access not permitted at %#x", e.Addr)
	}
	return fmt.Sprintf("no mapping at %#x", e.Addr)
}

// Unwrap returns EFAULT, so errors.Is(err, linux.EFAULT) holds.
func (e *FaultError) Unwrap() error { return linux.EFAULT }

// NewMemoryManager returns an empty address space whose pages come from mf and
// whose platform address space p makes when it is first needed.
func NewMemoryManager(p platform.Platform, mf *pgalloc.MemoryFile) *MemoryManager {
	maxAddr := pageDown(p.MaxUserAddress())
	minAddr, _ := pageUp(p.MinUserAddress())
	mm := &MemoryManager{
		p:  p,
		mf: mf,
		layout: Layout{
			MinAddr:  minAddr,
			MaxAddr:  maxAddr,
			MmapBase: pageDown(maxAddr - min(minMmapGap, (maxAddr-minAddr)/2)),
			StackTop: maxAddr,
		},
	}
	mm.users.Store(1)
	return mm
}

// Layout returns where things go in mm.
func (mm *MemoryManager) Layout() Layout { return mm.layout }

// SetExecutable records the path of the program mm runs, /proc/[pid]/exe.
func (mm *MemoryManager) SetExecutable(path string) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.executable = path
}

// Executable returns the path SetExecutable recorded.
func (mm *MemoryManager) Executable() string {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	return mm.executable
}

// SetArgv records where the argument strings are in application memory:
// /proc/[pid]/cmdline reads them from there, so a process that rewrites its argv
// changes what ps shows, as on Linux.
func (mm *MemoryManager) SetArgv(ar AddrRange) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.argv = ar
}

// Argv returns the range SetArgv recorded.
func (mm *MemoryManager) Argv() AddrRange {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	return mm.argv
}

// SetEnvv records where the environment strings are, for /proc/[pid]/environ.
func (mm *MemoryManager) SetEnvv(ar AddrRange) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.envv = ar
}

// Envv returns the range SetEnvv recorded.
func (mm *MemoryManager) Envv() AddrRange {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	return mm.envv
}

// SetAuxv records the auxiliary vector, for /proc/[pid]/auxv.
func (mm *MemoryManager) SetAuxv(auxv []AuxEntry) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.auxv = append([]AuxEntry(nil), auxv...)
}

// Auxv returns a copy of the vector SetAuxv recorded.
func (mm *MemoryManager) Auxv() []AuxEntry {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	return append([]AuxEntry(nil), mm.auxv...)
}

// VirtualMemorySize returns the bytes mapped, /proc/[pid]/status's VmSize.
func (mm *MemoryManager) VirtualMemorySize() uint64 {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	var n uint64
	for _, v := range mm.vmas {
		n += uint64(v.Length())
	}
	return n
}

// ResidentSetSize returns the bytes of pages present, VmRSS.
func (mm *MemoryManager) ResidentSetSize() uint64 {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	return uint64(mm.pt.n) * pageSize
}

// LockedBytes returns the bytes in mlocked mappings, VmLck.
func (mm *MemoryManager) LockedBytes() uint64 {
	mm.mu.RLock()
	defer mm.mu.RUnlock()
	var n uint64
	for _, v := range mm.vmas {
		if v.locked {
			n += uint64(v.Length())
		}
	}
	return n
}
