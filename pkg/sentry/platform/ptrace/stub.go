package ptrace

import (
	"encoding/binary"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// The stub is a static ELF64 executable of one page, built here at run time. It has no
// libc and no stack use: every instruction in it is either run by the tracer injecting
// a system call or is a loop that parks an untraced thread in pause(2).
//
// The kernel loads it at stubLoadAddr (an address exec can never collide with). The
// first injected syscall maps the same file page again at stubAddr, the last page
// below the 47-bit user address limit, and every later syscall runs from there; the
// rest of the address space (the load-address copy, the stack, the vDSO, vvar) is then
// unmapped. Because the ELF page is mapped at file offset 0 in both places, every
// code offset is the same in both copies.

const (
	pageSize = 0x1000

	// hostTaskSize is TASK_SIZE for 4-level paging (also the default mmap limit with
	// 5-level paging): the end of the user address space.
	hostTaskSize = 0x7ffffffff000

	// stubAddr is where the stub page lives once the address space is set up. The
	// application gets [minUserAddress, stubAddr).
	stubAddr = hostTaskSize - pageSize

	// stubLoadAddr is where exec maps the stub first: far below where exec puts the
	// (randomized, up to 16 GiB below the top) stack and the vDSO.
	stubLoadAddr = 0x400000

	// minUserAddress is the lowest address the application may map. It is above the
	// usual vm.mmap_min_addr (4 KiB, 64 KiB on some distributions).
	minUserAddress = 0x10000

	// Fixed file descriptors in the stub process.
	stubMemFD  = 3 // the Sentry's memory file
	stubSelfFD = 4 // the stub ELF itself, closed once remapped
)

// Offsets of code and data in the stub page. The ELF header (64 bytes) and one program
// header (56 bytes) come first.
const (
	offEntry   = 0x80 // entry point: "loop: mov eax, SYS_pause; syscall; jmp loop"
	offSyscall = 0x90 // "syscall; int3": the tracer injects a syscall here
	offClone   = 0xa0 // "syscall; test rax,rax; jz 1f; int3; 1: pause loop"
	offFilter  = 0xc0 // seccomp BPF program (sock_filter[filterLen])
	offFprog   = 0x100
	offName    = 0x110 // "visor-stub\0", the stub's comm (PR_SET_NAME)
	offFork    = 0x120 // the zygote's fork: see forkTrap
	offCaps    = 0x160 // capset(2) arguments: a v3 header for pid 0, then empty sets
	stubSize   = 0x180 // bytes of the file; the rest of the page is zero
)

// Addresses in the relocated stub.
const (
	stubSyscallAddr = stubAddr + offSyscall
	// stubSyscallEnd is RIP after the int3 that follows the injected syscall.
	stubSyscallEnd = stubSyscallAddr + 3
	stubCloneAddr  = stubAddr + offClone
	stubCloneEnd   = stubCloneAddr + 8 // after "syscall; test; jz; int3"
	stubForkAddr   = stubAddr + offFork
	stubForkEnd    = stubForkAddr + 8 // after "syscall; test; jz; int3"
	stubFprogAddr  = stubAddr + offFprog
	stubCapHdrAddr = stubAddr + offCaps
	stubCapsAddr   = stubCapHdrAddr + 8 // two empty __user_cap_data_struct
	stubNameAddr   = stubAddr + offName
)

// stubName is the stub's comm, as ps shows it.
const stubName = "visor-stub"

var (
	// pauseLoop parks a thread: "1: mov eax, SYS_pause; syscall; jmp 1b". Threads
	// in it have no tracer yet, or lost theirs.
	pauseLoop = []byte{
		0xb8, unix.SYS_PAUSE, 0, 0, 0, // mov eax, 34
		0x0f, 0x05, // syscall
		0xeb, 0xf7, // jmp -9
	}
	// syscallTrap runs one syscall and stops with SIGTRAP.
	syscallTrap = []byte{0x0f, 0x05, 0xcc}
	// cloneTrap runs clone; the parent (rax != 0) stops with SIGTRAP, the child
	// (rax == 0) falls into the pause loop until a tracer seizes it.
	cloneTrap = append([]byte{
		0x0f, 0x05, // syscall
		0x48, 0x85, 0xc0, // test rax, rax
		0x74, 0x01, // jz +1 (skip int3)
		0xcc, // int3
	}, pauseLoop...)
	// forkTrap runs clone(CLONE_PARENT) in the zygote (see zygote.go). The
	// zygote (rax != 0) stops with SIGTRAP. The new stub process (rax == 0)
	// asks for SIGKILL when its parent, the Sentry, dies, then checks that the
	// Sentry (pid in r12) had not died already, and parks in the pause loop
	// until the Sentry seizes it; if the Sentry is gone it exits.
	forkTrap = slices.Concat([]byte{
		0x0f, 0x05, // syscall
		0x48, 0x85, 0xc0, // test rax, rax
		0x74, 0x01, // jz +1 (skip int3)
		0xcc,                          // int3
		0xb8, unix.SYS_PRCTL, 0, 0, 0, // mov eax, SYS_prctl
		0xbf, unix.PR_SET_PDEATHSIG, 0, 0, 0, // mov edi, PR_SET_PDEATHSIG
		0xbe, byte(unix.SIGKILL), 0, 0, 0, // mov esi, SIGKILL
		0x0f, 0x05, // syscall
		0xb8, unix.SYS_GETPPID, 0, 0, 0, // mov eax, SYS_getppid
		0x0f, 0x05, // syscall
		0x4c, 0x39, 0xe0, // cmp rax, r12
		0x74, 0x09, // je +9 (skip the exit)
		0xb8, unix.SYS_EXIT_GROUP, 0, 0, 0, // mov eax, SYS_exit_group
		0x31, 0xff, // xor edi, edi
		0x0f, 0x05, // syscall
	}, pauseLoop)
)

// seccomp/BPF constants.
const (
	bpfLdWAbs  = 0x20 // BPF_LD|BPF_W|BPF_ABS
	bpfJeqK    = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
	bpfJgeK    = 0x35 // BPF_JMP|BPF_JGE|BPF_K
	bpfRetK    = 0x06 // BPF_RET|BPF_K
	seccompIPl = 8    // offsetof(struct seccomp_data, instruction_pointer), low half
	seccompIPh = 12   // high half

	seccompRetAllow = 0x7fff0000
	seccompRetTrap  = 0x00030000

	filterLen = 7
)

// stubFilter returns the stub's seccomp program: a host syscall is allowed only if it
// was made from the stub page; otherwise the kernel skips it and forces a SIGSYS on
// the thread. Application syscalls never reach seccomp while their thread is traced
// with PTRACE_SYSEMU (ptrace sees the syscall first and the kernel skips it), so the
// filter matters if a thread ever runs application code without its tracer: then its
// first host syscall is refused, and the SIGSYS (no handler in the stub) kills the
// stub process. The one path that reaches seccomp from a traced thread is the
// kernel's vsyscall emulation (a call into the vsyscall page with vsyscall=xonly or
// emulate): the traced thread then stops for the SIGSYS, which the Sentry sees as a
// signal, instead of its process being killed.
func stubFilter() []byte {
	lo := uint32(stubAddr & 0xffffffff)
	hi := uint32(stubAddr >> 32)
	end := lo + pageSize
	if end < lo {
		panic("stub page straddles a 4 GiB boundary")
	}
	type insn struct {
		code   uint16
		jt, jf uint8
		k      uint32
	}
	prog := [filterLen]insn{
		{bpfLdWAbs, 0, 0, seccompIPh},
		{bpfJeqK, 0, 4, hi}, // != hi: trap
		{bpfLdWAbs, 0, 0, seccompIPl},
		{bpfJgeK, 0, 2, lo},  // < lo: trap
		{bpfJgeK, 1, 0, end}, // >= end: trap
		{bpfRetK, 0, 0, seccompRetAllow},
		{bpfRetK, 0, 0, seccompRetTrap},
	}
	b := make([]byte, 0, filterLen*8)
	for _, in := range prog {
		b = binary.LittleEndian.AppendUint16(b, in.code)
		b = append(b, in.jt, in.jf)
		b = binary.LittleEndian.AppendUint32(b, in.k)
	}
	return b
}

// buildStub returns the stub executable.
func buildStub() []byte {
	img := make([]byte, stubSize)
	le := binary.LittleEndian

	// ELF header.
	copy(img[0:], []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le.PutUint16(img[16:], 2)  // e_type = ET_EXEC
	le.PutUint16(img[18:], 62) // e_machine = EM_X86_64
	le.PutUint32(img[20:], 1)  // e_version
	le.PutUint64(img[24:], stubLoadAddr+offEntry)
	le.PutUint64(img[32:], 64) // e_phoff
	le.PutUint64(img[40:], 0)  // e_shoff
	le.PutUint32(img[48:], 0)  // e_flags
	le.PutUint16(img[52:], 64) // e_ehsize
	le.PutUint16(img[54:], 56) // e_phentsize
	le.PutUint16(img[56:], 1)  // e_phnum
	le.PutUint16(img[58:], 64) // e_shentsize
	le.PutUint16(img[60:], 0)  // e_shnum
	le.PutUint16(img[62:], 0)  // e_shstrndx

	// Program header: one PT_LOAD of the whole file, read+execute.
	ph := img[64:]
	le.PutUint32(ph[0:], 1)   // p_type = PT_LOAD
	le.PutUint32(ph[4:], 4|1) // p_flags = PF_R|PF_X
	le.PutUint64(ph[8:], 0)   // p_offset
	le.PutUint64(ph[16:], stubLoadAddr)
	le.PutUint64(ph[24:], stubLoadAddr)
	le.PutUint64(ph[32:], stubSize) // p_filesz
	le.PutUint64(ph[40:], stubSize) // p_memsz
	le.PutUint64(ph[48:], pageSize) // p_align

	put := func(off int, code []byte, limit int) {
		if off+len(code) > limit {
			panic(fmt.Sprintf("stub code at %#x overflows into %#x", off, limit))
		}
		copy(img[off:], code)
	}
	put(offEntry, pauseLoop, offSyscall)
	put(offSyscall, syscallTrap, offClone)
	put(offClone, cloneTrap, offFilter)
	put(offFilter, stubFilter(), offFprog)

	// struct sock_fprog { unsigned short len; struct sock_filter *filter; }, pointing
	// at the filter in the relocated page.
	le.PutUint16(img[offFprog:], filterLen)
	le.PutUint64(img[offFprog+8:], stubAddr+offFilter)
	put(offName, []byte(stubName+"\x00"), offFork)
	put(offFork, forkTrap, offCaps)
	// struct __user_cap_header_struct { u32 version; int pid; }; the two
	// __user_cap_data_struct after it stay zero: no capabilities.
	le.PutUint32(img[offCaps:], unix.LINUX_CAPABILITY_VERSION_3)
	return img
}
