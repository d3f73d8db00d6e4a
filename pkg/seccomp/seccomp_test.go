package seccomp

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const auditArchI386 = 0x40000003

// call is a seccomp_data input.
type call struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

func x8664(nr uintptr, args ...uint64) call {
	c := call{nr: uint32(nr), arch: auditArchX86_64}
	copy(c.args[:], args)
	return c
}

// encode lays c out as the interpreter must see it. The kernel loads seccomp_data
// words in host order (little-endian, the low word of each u64 first); x/net/bpf's
// interpreter loads big-endian words, as in a network packet. So each 32-bit word
// is written big-endian at the offset where the kernel has it.
func (c call) encode() []byte {
	b := make([]byte, seccompDataSize)
	be := binary.BigEndian
	be.PutUint32(b[seccompDataNr:], c.nr)
	be.PutUint32(b[seccompDataArch:], c.arch)
	for i, a := range c.args {
		be.PutUint32(b[seccompDataArgs+8*i:], uint32(a))
		be.PutUint32(b[seccompDataArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

// run runs prog on c in the interpreter and returns the action.
func run(t *testing.T, prog []bpf.Instruction, c call) uint32 {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	out, err := vm.Run(c.encode())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return uint32(out)
}

const deny = actionUserNotif

var testRules = Rules{
	unix.SYS_READ:  nil,
	unix.SYS_IOCTL: {{1: Eq(unix.TCGETS)}, {1: Eq(unix.TIOCGWINSZ)}},
	unix.SYS_SOCKET: {
		{0: Eq(unix.AF_UNIX), 1: MaskedEq(0xf, unix.SOCK_STREAM)},
		{0: Eq(unix.AF_UNIX), 1: MaskedEq(0xf, unix.SOCK_SEQPACKET)},
	},
	unix.SYS_CLONE: {{0: Eq(threadCloneFlags)}},
	unix.SYS_MMAP:  {{3: Only(unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED)}},
	unix.SYS_FCNTL: {{1: Eq(unix.F_GETFL)}, {1: Eq(unix.F_SETFL), 2: Only(unix.O_NONBLOCK)}},
	// Only the high word is checked.
	unix.SYS_LSEEK:   {{1: MaskedEq(0xffffffff00000000, 0x100000000)}},
	unix.SYS_TGKILL:  {{0: Eq(7), 1: Eq(8), 2: Eq(uint64(unix.SIGURG))}},
	unix.SYS_SECCOMP: nil,
}

func TestProgram(t *testing.T) {
	prog, err := testRules.Program(deny)
	if err != nil {
		t.Fatalf("Program: %v", err)
	}
	cases := []struct {
		name string
		c    call
		want uint32
	}{
		{"listed, any args", x8664(unix.SYS_READ, 0, 1, 2), actionAllow},
		{"listed, any args, last number", x8664(unix.SYS_SECCOMP), actionAllow},
		{"not listed", x8664(unix.SYS_WRITE, 1, 0, 0), deny},
		{"not listed, number 0 neighbour", x8664(unix.SYS_OPEN), deny},
		{"not listed, beyond every number", x8664(1000), deny},
		{"ioctl first alternative", x8664(unix.SYS_IOCTL, 1, unix.TCGETS), actionAllow},
		{"ioctl second alternative", x8664(unix.SYS_IOCTL, 1, unix.TIOCGWINSZ), actionAllow},
		{"ioctl other request", x8664(unix.SYS_IOCTL, 1, unix.TCSETS), deny},
		{"ioctl request with high bits", x8664(unix.SYS_IOCTL, 1, 1<<32|unix.TCGETS), deny},
		{"socket unix stream", x8664(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC), actionAllow},
		{"socket unix seqpacket", x8664(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_SEQPACKET), actionAllow},
		{"socket unix dgram", x8664(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_DGRAM), deny},
		{"socket inet", x8664(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM), deny},
		{"clone of a thread", x8664(unix.SYS_CLONE, threadCloneFlags), actionAllow},
		{"clone of a process", x8664(unix.SYS_CLONE, uint64(unix.SIGCHLD)), deny},
		{"clone of a thread, one flag more", x8664(unix.SYS_CLONE, threadCloneFlags|unix.CLONE_NEWUSER), deny},
		{"mmap allowed flags", x8664(unix.SYS_MMAP, 0, 4096, 3, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS), actionAllow},
		{"mmap shared", x8664(unix.SYS_MMAP, 0, 4096, 3, unix.MAP_SHARED, 3), deny},
		{"fcntl getfl", x8664(unix.SYS_FCNTL, 3, unix.F_GETFL), actionAllow},
		{"fcntl setfl nonblock", x8664(unix.SYS_FCNTL, 3, unix.F_SETFL, unix.O_NONBLOCK), actionAllow},
		{"fcntl setfl append", x8664(unix.SYS_FCNTL, 3, unix.F_SETFL, unix.O_APPEND), deny},
		{"fcntl dupfd", x8664(unix.SYS_FCNTL, 3, unix.F_DUPFD), deny},
		{"lseek high word matches", x8664(unix.SYS_LSEEK, 3, 0x1_0000_1234), actionAllow},
		{"lseek high word differs", x8664(unix.SYS_LSEEK, 3, 0x1234), deny},
		{"tgkill all three args", x8664(unix.SYS_TGKILL, 7, 8, uint64(unix.SIGURG)), actionAllow},
		{"tgkill last arg differs", x8664(unix.SYS_TGKILL, 7, 8, uint64(unix.SIGKILL)), deny},
		{"too few args given: the rest are 0", x8664(unix.SYS_TGKILL, 7, 8), deny},
		{"i386 ABI", call{nr: unix.SYS_READ, arch: auditArchI386}, deny},
		{"x32 ABI", call{nr: x32SyscallBit | unix.SYS_READ, arch: auditArchX86_64}, deny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := run(t, prog, tc.c); got != tc.want {
				t.Errorf("action %#x, want %#x", got, tc.want)
			}
			if tc.c.arch != auditArchX86_64 {
				return
			}
			// Allowed, the exported form, agrees.
			ok, err := Allowed(prog, uintptr(tc.c.nr), tc.c.args[:]...)
			if err != nil {
				t.Fatalf("Allowed: %v", err)
			}
			if ok != (tc.want == actionAllow) {
				t.Errorf("Allowed = %v, want %v", ok, tc.want == actionAllow)
			}
		})
	}
}

// TestProgramLarge checks the binary search over a list long enough that its
// jumps reach past a conditional jump's 255 instructions.
func TestProgramLarge(t *testing.T) {
	rules := Rules{}
	for nr := uintptr(0); nr < 460; nr += 2 {
		rules[nr] = nil
	}
	// A few with patterns, so blocks differ in length.
	for _, nr := range []uintptr{10, 200, 458} {
		rules[nr] = []Args{{0: Eq(uint64(nr))}}
	}
	prog, err := rules.Program(deny)
	if err != nil {
		t.Fatalf("Program: %v", err)
	}
	if len(prog) <= maxCondJumpRange {
		t.Fatalf("program of %d instructions does not exercise long jumps", len(prog))
	}
	for nr := uintptr(0); nr < 470; nr++ {
		want := uint32(deny)
		if _, ok := rules[nr]; ok && nr%2 == 0 {
			want = actionAllow
		}
		arg := uint64(nr)
		if got := run(t, prog, x8664(nr, arg)); got != want {
			t.Errorf("syscall %d: action %#x, want %#x", nr, got, want)
		}
		if nr == 10 || nr == 200 || nr == 458 {
			if got := run(t, prog, x8664(nr, arg+1)); got != deny {
				t.Errorf("syscall %d with a wrong argument: action %#x, want %#x", nr, got, uint32(deny))
			}
		}
	}
}

func TestProgramErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules Rules
	}{
		{"x32 number", Rules{x32SyscallBit | 1: nil}},
		{"value outside mask", Rules{unix.SYS_READ: {{0: MaskedEq(0xf, 0x10)}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.rules.Program(deny); err == nil {
				t.Error("Program succeeded, want an error")
			}
		})
	}
}

func TestMerge(t *testing.T) {
	a := Rules{
		unix.SYS_READ:  nil,
		unix.SYS_IOCTL: {{1: Eq(1)}},
		unix.SYS_FCNTL: {{1: Eq(1)}},
	}
	b := Rules{
		unix.SYS_IOCTL: {{1: Eq(2)}},
		unix.SYS_FCNTL: nil,
		unix.SYS_WRITE: {{0: Eq(1)}},
	}
	m := a.Merge(b)
	prog, err := m.Program(deny)
	if err != nil {
		t.Fatalf("Program: %v", err)
	}
	for _, tc := range []struct {
		c    call
		want uint32
	}{
		{x8664(unix.SYS_READ), actionAllow},
		{x8664(unix.SYS_IOCTL, 0, 1), actionAllow},
		{x8664(unix.SYS_IOCTL, 0, 2), actionAllow},
		{x8664(unix.SYS_IOCTL, 0, 3), deny},
		{x8664(unix.SYS_FCNTL, 0, 9), actionAllow}, // any args in b wins
		{x8664(unix.SYS_WRITE, 1), actionAllow},
		{x8664(unix.SYS_WRITE, 2), deny},
	} {
		if got := run(t, prog, tc.c); got != tc.want {
			t.Errorf("syscall %d args %v: action %#x, want %#x", tc.c.nr, tc.c.args[:2], got, tc.want)
		}
	}
	if len(a[unix.SYS_IOCTL]) != 1 {
		t.Errorf("Merge changed its receiver: %v", a[unix.SYS_IOCTL])
	}
}

func TestAssemble(t *testing.T) {
	prog, err := testRules.Program(deny)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Assemble(prog)
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	if len(raw) != len(prog) {
		t.Fatalf("%d kernel instructions for %d", len(raw), len(prog))
	}
	// The first instruction loads the architecture: BPF_LD|BPF_W|BPF_ABS, k=4.
	if raw[0].Code != 0x20 || raw[0].K != seccompDataArch {
		t.Errorf("first instruction %+v, want ld [4]", raw[0])
	}
}
