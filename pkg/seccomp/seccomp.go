// Package seccomp confines a process to an allow-list of host system calls with a
// seccomp-BPF filter: the Sentry and the Gofer each declare theirs (runsc/boot/filter,
// runsc/fsgofer/filter) and install it before they touch anything untrusted.
//
// A list (Rules) names each allowed system call, optionally with the argument values
// it is allowed with (only some ioctl requests, some socket families, the clone flags
// of a new thread). Rules.Program assembles it, with golang.org/x/net/bpf, into a
// classic BPF program over struct seccomp_data:
//
//	arch != AUDIT_ARCH_X86_64            -> the default action
//	nr has the x32 bit (0x40000000)      -> the default action
//	binary search on nr; a listed nr     -> its argument checks -> SECCOMP_RET_ALLOW
//	anything else                        -> the default action
//
// Install sets no_new_privs and installs the program on every thread of the
// process (SECCOMP_FILTER_FLAG_TSYNC). A violation must kill the process and say
// which system call it was; SECCOMP_RET_KILL_PROCESS kills without a word, and
// SECCOMP_RET_TRAP raises a SIGSYS that the Go runtime turns into a crash without
// the call's name. So the default action is SECCOMP_RET_USER_NOTIF: the filter is
// installed with a listener (SECCOMP_FILTER_FLAG_NEW_LISTENER), a goroutine of the
// same process receives the notification while the offending thread waits in the
// kernel, writes "seccomp: sentry made syscall 165 (mount), not in its allow-list;
// killed", and kills the process with SIGSYS. The notifier's own system calls are
// added to every list.
//
// The notifier is Go code in the process it watches, so it needs the runtime to
// keep going while the offending thread waits: it has an OS thread of its own,
// parked in the kernel before Install returns, and the process at least two Ps.
// A call the runtime itself makes (GoRuntime) must never be refused: its thread
// may hold a runtime lock the notifier then waits for, and the process would
// hang (the call still never runs) instead of dying with its line.
package seccomp

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Arg matches one 64-bit system call argument: it matches when the argument ANDed
// with the mask equals the value. The zero Arg matches anything.
type Arg struct {
	mask, value uint64
}

// Eq matches an argument equal to v.
func Eq(v uint64) Arg { return Arg{mask: ^uint64(0), value: v} }

// MaskedEq matches an argument whose bits in mask equal v.
func MaskedEq(mask, v uint64) Arg { return Arg{mask: mask, value: v} }

// Only matches an argument that has no bits set outside allowed (flags words).
func Only(allowed uint64) Arg { return Arg{mask: ^allowed, value: 0} }

// Args match the six arguments of a system call, each position on its own; all
// must match.
type Args [6]Arg

// Rules is an allow-list: each allowed system call number and the argument
// patterns it is allowed with. A call matching any one of its patterns is allowed;
// no patterns (nil) allows it with any arguments.
type Rules map[uintptr][]Args

// Merge returns the union of r and o. A call allowed with any arguments in either
// is allowed with any arguments in the result.
func (r Rules) Merge(o Rules) Rules {
	out := make(Rules, len(r)+len(o))
	for _, src := range []Rules{r, o} {
		for nr, args := range src {
			cur, seen := out[nr]
			switch {
			case !seen:
				out[nr] = slices.Clone(args)
			case len(cur) == 0 || len(args) == 0:
				out[nr] = nil
			default:
				out[nr] = append(cur, args...)
			}
		}
	}
	return out
}

// Actions of a filter program (SECCOMP_RET_*).
const (
	actionAllow      = unix.SECCOMP_RET_ALLOW
	actionUserNotif  = unix.SECCOMP_RET_USER_NOTIF
	auditArchX86_64  = unix.AUDIT_ARCH_X86_64
	x32SyscallBit    = 0x40000000
	maxInstructions  = 4096 // BPF_MAXINSNS
	leafSize         = 4    // syscalls a search leaf tests one by one
	seccompDataNr    = 0    // offsetof(struct seccomp_data, nr)
	seccompDataArch  = 4    // offsetof(struct seccomp_data, arch)
	seccompDataArgs  = 16   // offsetof(struct seccomp_data, args)
	seccompDataSize  = 64   // sizeof(struct seccomp_data)
	maxCondJumpRange = 255  // a conditional jump's reach (uint8)
)

// program is a BPF program under construction. Conditional jumps only ever skip a
// few instructions; every longer jump is an unconditional bpf.Jump (32-bit reach)
// to a label, patched when the program is done.
type program struct {
	insns  []bpf.Instruction
	labels []int // label -> instruction index, -1 until placed
	jumps  map[int]int
}

func (p *program) add(ins ...bpf.Instruction) { p.insns = append(p.insns, ins...) }

func (p *program) newLabel() int {
	p.labels = append(p.labels, -1)
	return len(p.labels) - 1
}

func (p *program) place(label int) { p.labels[label] = len(p.insns) }

// jumpTo adds an unconditional jump to label.
func (p *program) jumpTo(label int) {
	p.jumps[len(p.insns)] = label
	p.add(bpf.Jump{})
}

func (p *program) resolve() error {
	for at, label := range p.jumps {
		to := p.labels[label]
		if to <= at {
			return fmt.Errorf("seccomp: label %d unplaced or behind its jump at %d", label, at)
		}
		p.insns[at] = bpf.Jump{Skip: uint32(to - at - 1)}
	}
	return nil
}

// Program assembles r into a seccomp filter program that allows r's system calls
// and returns defaultAction (a SECCOMP_RET_* value) for everything else, including
// calls through another architecture's or the x32 ABI.
func (r Rules) Program(defaultAction uint32) ([]bpf.Instruction, error) {
	nrs := slices.Sorted(maps.Keys(r))
	for _, nr := range nrs {
		if nr >= x32SyscallBit {
			return nil, fmt.Errorf("seccomp: system call number %#x is not an x86-64 one", nr)
		}
		for _, a := range r[nr] {
			for i, m := range a {
				if m.value&^m.mask != 0 {
					return nil, fmt.Errorf("seccomp: syscall %d argument %d: value %#x has bits outside mask %#x, so it never matches", nr, i, m.value, m.mask)
				}
			}
		}
	}
	p := &program{jumps: make(map[int]int)}
	p.add(
		bpf.LoadAbsolute{Off: seccompDataArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: auditArchX86_64, SkipTrue: 1},
		bpf.RetConstant{Val: defaultAction},
		bpf.LoadAbsolute{Off: seccompDataNr, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32SyscallBit, SkipFalse: 1},
		bpf.RetConstant{Val: defaultAction},
	)
	blocks := make([]int, len(nrs))
	for i := range blocks {
		blocks[i] = p.newLabel()
	}
	p.search(nrs, blocks, defaultAction)
	for i, nr := range nrs {
		p.place(blocks[i])
		if err := p.argChecks(nr, r[nr], defaultAction); err != nil {
			return nil, err
		}
	}
	if err := p.resolve(); err != nil {
		return nil, err
	}
	if len(p.insns) > maxInstructions {
		return nil, fmt.Errorf("seccomp: program of %d instructions is over the kernel's limit of %d", len(p.insns), maxInstructions)
	}
	return p.insns, nil
}

// search emits a binary search for the syscall number in A among nrs (sorted),
// jumping to the matching block, or returning defaultAction.
func (p *program) search(nrs []uintptr, blocks []int, defaultAction uint32) {
	if len(nrs) <= leafSize {
		for i, nr := range nrs {
			p.add(bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(nr), SkipFalse: 1})
			p.jumpTo(blocks[i])
		}
		p.add(bpf.RetConstant{Val: defaultAction})
		return
	}
	mid := len(nrs) / 2
	upper := p.newLabel()
	p.add(bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(nrs[mid]), SkipFalse: 1})
	p.jumpTo(upper)
	p.search(nrs[:mid], blocks[:mid], defaultAction)
	p.place(upper)
	p.search(nrs[mid:], blocks[mid:], defaultAction)
}

// argChecks emits the block of one system call: each pattern in turn, allowing the
// call at the first that matches; defaultAction if none does.
func (p *program) argChecks(nr uintptr, patterns []Args, defaultAction uint32) error {
	if len(patterns) == 0 {
		p.add(bpf.RetConstant{Val: actionAllow})
		return nil
	}
	for _, a := range patterns {
		start := len(p.insns)
		var fails []int // conditional jumps to patch to the next pattern
		for i, m := range a {
			// seccomp_data.args are u64 in host (little-endian) order: the low
			// word first. A zero mask half has nothing to check.
			for half := range 2 {
				mask := uint32(m.mask >> (32 * half))
				value := uint32(m.value >> (32 * half))
				if mask == 0 {
					continue
				}
				p.add(bpf.LoadAbsolute{Off: uint32(seccompDataArgs + 8*i + 4*half), Size: 4})
				if mask != ^uint32(0) {
					p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
				}
				fails = append(fails, len(p.insns))
				p.add(bpf.JumpIf{Cond: bpf.JumpEqual, Val: value})
			}
		}
		p.add(bpf.RetConstant{Val: actionAllow})
		next := len(p.insns)
		if next-start > maxCondJumpRange {
			return fmt.Errorf("seccomp: syscall %d: argument pattern too long (%d instructions)", nr, next-start)
		}
		for _, at := range fails {
			j := p.insns[at].(bpf.JumpIf)
			j.SkipFalse = uint8(next - at - 1)
			p.insns[at] = j
		}
	}
	p.add(bpf.RetConstant{Val: defaultAction})
	return nil
}

// Assemble returns the kernel form of a program.
func Assemble(insns []bpf.Instruction) ([]unix.SockFilter, error) {
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assembling the filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, ri := range raw {
		out[i] = unix.SockFilter{Code: ri.Op, Jt: ri.Jt, Jf: ri.Jf, K: ri.K}
	}
	return out, nil
}

// Allowed runs prog, as Rules.Program made it, in x/net/bpf's interpreter on an
// x86-64 call of system call nr with args, and reports whether it allows the
// call: how tests check what a list lets through.
func Allowed(prog []bpf.Instruction, nr uintptr, args ...uint64) (bool, error) {
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return false, err
	}
	// The kernel loads seccomp_data words in host order (little-endian, the
	// low word of each u64 first); the interpreter loads big-endian words, as
	// in a network packet. So each 32-bit word is written big-endian at the
	// offset where the kernel has it.
	in := make([]byte, seccompDataSize)
	be := binary.BigEndian
	be.PutUint32(in[seccompDataNr:], uint32(nr))
	be.PutUint32(in[seccompDataArch:], auditArchX86_64)
	for i, a := range args {
		be.PutUint32(in[seccompDataArgs+8*i:], uint32(a))
		be.PutUint32(in[seccompDataArgs+8*i+4:], uint32(a>>32))
	}
	out, err := vm.Run(in)
	if err != nil {
		return false, err
	}
	return uint32(out) == actionAllow, nil
}
