package loader

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

const (
	// platformName is AT_PLATFORM's string on x86-64.
	platformName = "x86_64"

	// stackExpand is how much room the initial stack mapping has below the
	// arguments, as Linux's setup_arg_pages; it grows down from there.
	stackExpand = 128 << 10

	// maxArgPad is the bound of the random gap Linux's arch_align_stack leaves
	// below the strings.
	maxArgPad = 8192

	// maxAuxv bounds the entries of the auxiliary vector, for sizing the stack
	// mapping before the vector's values are known.
	maxAuxv = 32

	// argMin and argMax bound the room for argv and envp (strings and pointers)
	// whatever RLIMIT_STACK: Linux's ARG_MAX (32 pages) and _STK_LIM/4*3.
	argMin = 32 * pageSize
	argMax = 6 << 20
)

// stack is the initial stack of a new program, laid out as Linux's execve and
// create_elf_tables lay it out. From the top down:
//
//	8 zero bytes
//	the filename execve was given            <- execfn (AT_EXECFN)
//	envp strings, envp[0] lowest             <- envvStart
//	argv strings, argv[0] lowest             <- argvStart
//	a random gap of 0 to 8 KiB, 16-byte aligned
//	"x86_64\0"                               <- platform (AT_PLATFORM)
//	16 random bytes                          <- random (AT_RANDOM)
//	padding to 16 bytes
//	auxv pairs, then AT_NULL, 0
//	envp pointers, then NULL
//	argv pointers, then NULL
//	argc                                     <- sp, 16-byte aligned
type stack struct {
	top        uintptr
	argv, envv []string
	filename   string

	argvStart, argvEnd uintptr
	envvStart, envvEnd uintptr
	execfn, platform   uintptr
	random             uintptr
	// bottom is the lowest address of the stack mapping.
	bottom uintptr
	// sp is set by write.
	sp uintptr
}

// newStack places the strings of a new stack below l.StackTop, checking that they
// fit the limits of Linux's execve (E2BIG).
func newStack(l *Layout, argv, envv []string, filename string, randomize bool, rnd io.Reader) (*stack, error) {
	limit := l.StackLimit
	if limit == 0 {
		limit = defaultStackLimit
	}
	limit = min(max(limit/4, argMin), argMax)

	// Room for the pointers to the strings counts against the limit too.
	need := uint64(len(argv)+len(envv)) * 8
	var argvSize, envvSize uint64
	for _, ss := range []struct {
		strs []string
		size *uint64
	}{{argv, &argvSize}, {envv, &envvSize}, {[]string{filename}, nil}} {
		for _, s := range ss.strs {
			if strings.IndexByte(s, 0) >= 0 {
				return nil, fmt.Errorf("argument or environment string with a NUL byte: %w", linux.EINVAL)
			}
			n := uint64(len(s)) + 1
			if n > linux.MAX_ARG_STRLEN {
				return nil, fmt.Errorf("argument or environment string of %d bytes: %w", n, linux.E2BIG)
			}
			if ss.size != nil {
				*ss.size += n
			}
			need += n
		}
	}
	if need > limit {
		return nil, fmt.Errorf("arguments and environment need %d bytes, over the limit of %d: %w", need, limit, linux.E2BIG)
	}
	if l.StackTop%pageSize != 0 || !l.contains(l.StackTop-1, 1) {
		return nil, fmt.Errorf("stack top %#x not a page-aligned user address: %w", l.StackTop, linux.EINVAL)
	}

	s := &stack{top: l.StackTop, argv: argv, envv: envv, filename: filename}
	p := s.top - 8
	p -= uintptr(len(filename) + 1)
	s.execfn = p
	s.envvEnd = p
	p -= uintptr(envvSize)
	s.envvStart = p
	s.argvEnd = p
	p -= uintptr(argvSize)
	s.argvStart = p
	if randomize {
		r, err := randUint64(rnd)
		if err != nil {
			return nil, err
		}
		p -= uintptr(r % maxArgPad)
	}
	p &^= 15
	p -= uintptr(len(platformName) + 1)
	s.platform = p
	p -= 16
	s.random = p

	tables := uint64(len(argv)+len(envv)+3)*8 + 2*8*maxAuxv + 16
	size := pageUp(uint64(s.top-s.random)+tables) + stackExpand
	if !l.contains(s.top-uintptr(size), size) {
		return nil, fmt.Errorf("initial stack of %d bytes below %#x: %w", size, s.top, linux.E2BIG)
	}
	s.bottom = s.top - uintptr(size)
	return s, nil
}

// mapStack maps the initial stack: a mapping that grows down (up to RLIMIT_STACK,
// which the memory manager enforces), executable if the program asked for it
// with PT_GNU_STACK.
func (s *stack) mapStack(mm MemoryManager, exec bool) error {
	perms := platform.ReadWrite
	perms.Execute = exec
	_, err := mm.MMap(memmap.MMapOpts{
		Length:    uint64(s.top - s.bottom),
		Addr:      s.bottom,
		Fixed:     true,
		Perms:     perms,
		MaxPerms:  platform.AnyAccess,
		Private:   true,
		GrowsDown: true,
		Name:      "[stack]",
	})
	if err != nil {
		return fmt.Errorf("mapping the stack at %#x: %w", s.bottom, err)
	}
	return nil
}

// write writes the stack's contents to mm, with the AT_RANDOM bytes random and the
// auxiliary vector auxv (AT_NULL is added), and sets s.sp.
func (s *stack) write(mm MemoryManager, random [16]byte, auxv []AuxEntry) error {
	if len(auxv) >= maxAuxv {
		return fmt.Errorf("auxiliary vector of %d entries, over %d: %w", len(auxv), maxAuxv, linux.EINVAL)
	}
	words := (len(s.argv) + 1) + (len(s.envv) + 1) + 1 + 2*(len(auxv)+1)
	s.sp = (s.random - uintptr(words*8)) &^ 15

	buf := make([]byte, s.top-s.sp)
	at := func(addr uintptr) []byte { return buf[addr-s.sp:] }
	putStrings := func(addr uintptr, strs []string) []uint64 {
		ptrs := make([]uint64, len(strs))
		for i, str := range strs {
			ptrs[i] = uint64(addr)
			copy(at(addr), str) // the NUL is already there
			addr += uintptr(len(str) + 1)
		}
		return ptrs
	}
	argvPtrs := putStrings(s.argvStart, s.argv)
	envvPtrs := putStrings(s.envvStart, s.envv)
	putStrings(s.execfn, []string{s.filename})
	putStrings(s.platform, []string{platformName})
	copy(at(s.random), random[:])

	words64 := make([]uint64, 0, words)
	words64 = append(words64, uint64(len(s.argv)))
	words64 = append(append(words64, argvPtrs...), 0)
	words64 = append(append(words64, envvPtrs...), 0)
	for _, e := range auxv {
		words64 = append(words64, e.Key, e.Value)
	}
	words64 = append(words64, linux.AT_NULL, 0)
	for i, w := range words64 {
		binary.LittleEndian.PutUint64(buf[i*8:], w)
	}

	if _, err := mm.CopyOut(s.sp, buf); err != nil {
		return fmt.Errorf("writing the initial stack at %#x: %w", s.sp, err)
	}
	return nil
}
