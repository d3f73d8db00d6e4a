// Package loader turns execve(2) into a ready-to-run address space, as Linux's
// fs/exec.c, binfmt_script and binfmt_elf do on x86-64: it follows "#!" scripts to
// the ELF binary that runs, maps that binary, its PT_INTERP dynamic linker and
// Visor's vDSO (package vdso) into a new address space, and writes the initial stack
// (argc, argv, envp, auxv and the strings they point to).
//
// The loader knows neither the memory manager nor the VFS: Load takes the small
// interfaces below (MemoryManager, Opener, File), which the kernel implements over
// pkg/sentry/mm and pkg/sentry/vfs. The address space layout (Layout) is the
// caller's too.
//
// Errors wrap a linux.Errno (errors.As gets it), the errno execve returns:
// ENOEXEC for a file that is neither ELF nor script or a malformed ELF, ELIBBAD for
// an interpreter that is not a loadable ELF, ELOOP for scripts nested too deep,
// E2BIG for arguments that do not fit, EINVAL for segments outside the address
// space; errors of the Opener and of the MemoryManager are passed on.
package loader

import (
	"crypto/rand"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/memmap"
)

// MemoryManager is what the loader needs of a new, empty address space;
// pkg/sentry/mm's MemoryManager implements it.
type MemoryManager interface {
	// MMap creates a mapping as mmap(2) does and returns its address. Without
	// opts.Fixed, it chooses the address (below the Layout's MmapBase).
	MMap(opts memmap.MMapOpts) (uintptr, error)
	// CopyOut writes src to the address space at addr, as the kernel writes to
	// user memory; the loader writes only to the stack it mapped read-write.
	CopyOut(addr uintptr, src []byte) (int, error)
	// BrkSetup sets the start (and current end) of the heap that brk(2) grows.
	BrkSetup(addr uintptr)
}

// File is an executable, script or interpreter opened by an Opener.
type File interface {
	// ReadAt reads the file's contents; the loader reads headers with it, and
	// private mappings of the file's segments read their pages through it.
	memmap.Mappable
	// Size returns the file's size in bytes.
	Size() (int64, error)
	// Name returns the file's absolute path, as /proc/[pid]/maps and
	// /proc/[pid]/exe show it.
	Name() string
}

// Opener opens the files execve runs; the kernel implements it over its VFS for the
// task that calls execve.
type Opener interface {
	// OpenExecutable opens path to execute it, as Linux's open_exec: relative to
	// the task's working directory and root, following symlinks. The checks on
	// the file itself are the Opener's: it returns ENOENT, ENOTDIR, ELOOP or
	// ENAMETOOLONG from the path walk, and EACCES for a file that is not regular,
	// lacks execute permission for the task, or is on a noexec mount.
	OpenExecutable(path string) (File, error)
}

// Layout is where a new address space puts things.
type Layout struct {
	// MinAddr and MaxAddr bound application addresses: [MinAddr, MaxAddr).
	MinAddr, MaxAddr uintptr
	// MmapBase is where the memory manager places mappings whose address it
	// chooses (top-down below it): the interpreter and the vDSO. ET_DYN
	// executables go lower, at two thirds of MaxAddr plus a random offset kept
	// below MmapBase, as Linux's ELF_ET_DYN_BASE (Linux 5.10+ puts an ET_DYN
	// without interpreter, a static-pie, in the mmap area instead; Visor keeps it
	// at ELF_ET_DYN_BASE, which leaves its heap room to grow).
	MmapBase uintptr
	// StackTop is the page-aligned end of the stack; the stack grows down from it.
	StackTop uintptr
	// StackLimit is RLIMIT_STACK's soft limit, which bounds the size of argv and
	// envp as in Linux (a quarter of it, at most 6 MiB); 0 means 8 MiB.
	StackLimit uint64
}

// contains says whether [addr, addr+length) lies in the user address space.
func (l *Layout) contains(addr uintptr, length uint64) bool {
	return addr >= l.MinAddr && addr < l.MaxAddr && length <= uint64(l.MaxAddr-addr)
}

// Credentials are the IDs the auxiliary vector reports.
type Credentials struct {
	UID, EUID, GID, EGID uint32
	// Secure is AT_SECURE: the program gained privileges (set-user-ID and the
	// like), so that the C library ignores LD_PRELOAD and friends.
	Secure bool
}

// Args are the arguments of Load.
type Args struct {
	// MM is the new, empty address space to load into.
	MM MemoryManager
	// Opener opens Filename and the interpreters it names.
	Opener Opener
	// Filename is the path execve was given. AT_EXECFN points at a copy of it,
	// and a script's interpreter gets it as the script's path.
	Filename string
	// Argv and Envv are execve's argument and environment strings. An empty
	// Argv gets an empty argv[0], as Linux does since 5.18.
	Argv, Envv []string
	Layout     Layout
	Creds      Credentials
	// NoRandomize places a PIE executable at exactly two thirds of MaxAddr and the
	// stack contents at its very top (personality(ADDR_NO_RANDOMIZE)).
	NoRandomize bool
	// Rand supplies AT_RANDOM's 16 bytes and the random offsets of addresses;
	// nil means crypto/rand.
	Rand io.Reader
}

// Image is a loaded program, ready to run.
type Image struct {
	// Entry is where the first thread starts: the dynamic linker's entry point if
	// there is one, else the executable's.
	Entry uintptr
	// StackPointer is the first thread's rsp: it points at argc.
	StackPointer uintptr
	// Auxv is the auxiliary vector on the stack, without AT_NULL: the kernel keeps
	// it for /proc/[pid]/auxv.
	Auxv []AuxEntry
	// ArgvStart, ArgvEnd, EnvvStart and EnvvEnd bound the argument and environment
	// strings on the stack, for /proc/[pid]/cmdline and environ.
	ArgvStart, ArgvEnd, EnvvStart, EnvvEnd uintptr
	// BrkStart is where the heap starts: the page-aligned end of the executable's
	// highest segment. Load has passed it to MemoryManager.BrkSetup.
	BrkStart uintptr
	// VDSOAddr is where the vDSO is mapped (AT_SYSINFO_EHDR).
	VDSOAddr uintptr
	// Executable is the ELF file that runs: for a script, its (innermost)
	// interpreter, as /proc/[pid]/exe shows. Executable.Name() is its path.
	Executable File
}

// AuxEntry is one entry of the auxiliary vector.
type AuxEntry struct {
	Key, Value uint64
}

const (
	// maxScriptDepth is how many "#!" interpreters may be followed before the
	// file to run must be ELF. Linux's exec_binprm gives up at depth 6 (its
	// comment says 4 levels, but Linux 6.18 runs a chain of 5 scripts and
	// returns ELOOP for 6).
	maxScriptDepth = 5

	// defaultStackLimit is RLIMIT_STACK's usual soft limit.
	defaultStackLimit = 8 << 20
)

// Load runs execve's loading: it opens args.Filename, follows "#!" scripts, maps
// the ELF executable, its interpreter and the vDSO into args.MM, sets up the heap
// start, and writes the initial stack. On error, args.MM may hold some of the
// mappings and should be discarded, as Linux's execve fails into a dying process
// past the point of no return.
func Load(args Args) (*Image, error) {
	rnd := args.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	argv := args.Argv
	if len(argv) == 0 {
		argv = []string{""}
	}

	f, argv, err := resolve(args.Opener, args.Filename, argv)
	if err != nil {
		return nil, err
	}
	info, err := parseELF(f, f.Name())
	if err != nil {
		return nil, err
	}
	var interp File
	var interpInfo *elfInfo
	if info.interp != "" {
		if interp, err = args.Opener.OpenExecutable(info.interp); err != nil {
			return nil, fmt.Errorf("%s: opening interpreter %s: %w", f.Name(), info.interp, err)
		}
		if interpInfo, err = parseELF(interp, interp.Name()); err != nil {
			// Linux reports a bad interpreter as ELIBBAD, not ENOEXEC.
			if errors.Is(err, linux.ENOEXEC) {
				err = fmt.Errorf("bad interpreter: %v: %w", err, linux.ELIBBAD)
			}
			return nil, err
		}
	}

	st, err := newStack(&args.Layout, argv, args.Envv, args.Filename, !args.NoRandomize, rnd)
	if err != nil {
		return nil, err
	}
	if err := st.mapStack(args.MM, info.execStack); err != nil {
		return nil, err
	}

	var load uintptr
	if info.typ == elf.ET_DYN {
		if load, err = pieBase(&args.Layout, info, !args.NoRandomize, rnd); err != nil {
			return nil, err
		}
	}
	exe, err := mapELF(args.MM, f, info, load, &args.Layout)
	if err != nil {
		return nil, err
	}
	entry := exe.entry()
	var interpBase uintptr
	if interp != nil {
		ld, err := mapELF(args.MM, interp, interpInfo, 0, &args.Layout)
		if err != nil {
			return nil, err
		}
		entry, interpBase = ld.entry(), ld.bias
	}
	vdsoAddr, err := mapVDSO(args.MM)
	if err != nil {
		return nil, err
	}
	brk := exe.end()
	args.MM.BrkSetup(brk)

	var random [16]byte
	if _, err := io.ReadFull(rnd, random[:]); err != nil {
		return nil, fmt.Errorf("AT_RANDOM: %w", err)
	}
	auxv := []AuxEntry{
		{linux.AT_SYSINFO_EHDR, uint64(vdsoAddr)},
		{linux.AT_MINSIGSTKSZ, minSigStackSize},
		{linux.AT_HWCAP, hwcap},
		{linux.AT_PAGESZ, pageSize},
		{linux.AT_CLKTCK, clockTicks},
		{linux.AT_PHDR, info.phdrAddr + uint64(exe.bias)},
		{linux.AT_PHENT, phdrSize},
		{linux.AT_PHNUM, uint64(info.phnum)},
		{linux.AT_BASE, uint64(interpBase)},
		{linux.AT_FLAGS, 0},
		{linux.AT_ENTRY, uint64(exe.entry())},
		{linux.AT_UID, uint64(args.Creds.UID)},
		{linux.AT_EUID, uint64(args.Creds.EUID)},
		{linux.AT_GID, uint64(args.Creds.GID)},
		{linux.AT_EGID, uint64(args.Creds.EGID)},
		{linux.AT_SECURE, boolToUint64(args.Creds.Secure)},
		{linux.AT_RANDOM, uint64(st.random)},
		{linux.AT_HWCAP2, hwcap2},
		{linux.AT_EXECFN, uint64(st.execfn)},
		{linux.AT_PLATFORM, uint64(st.platform)},
	}
	if err := st.write(args.MM, random, auxv); err != nil {
		return nil, err
	}
	return &Image{
		Entry:        entry,
		StackPointer: st.sp,
		Auxv:         auxv,
		ArgvStart:    st.argvStart,
		ArgvEnd:      st.argvEnd,
		EnvvStart:    st.envvStart,
		EnvvEnd:      st.envvEnd,
		BrkStart:     brk,
		VDSOAddr:     vdsoAddr,
		Executable:   f,
	}, nil
}

// resolve opens filename and follows "#!" scripts to the ELF file that runs,
// rewriting argv as each script asks.
func resolve(o Opener, filename string, argv []string) (File, []string, error) {
	path := filename
	f, err := o.OpenExecutable(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	for depth := 0; ; depth++ {
		if depth > maxScriptDepth {
			return nil, nil, fmt.Errorf("%s: scripts nested deeper than %d: %w", filename, maxScriptDepth, linux.ELOOP)
		}
		buf := make([]byte, linux.BINPRM_BUF_SIZE)
		n, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			return nil, nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		buf = buf[:n]
		if isELF(buf) {
			return f, argv, nil
		}
		interp, err := parseScript(buf)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		argv = scriptArgv(interp, argv, path)
		path = interp[0]
		if f, err = o.OpenExecutable(path); err != nil {
			return nil, nil, fmt.Errorf("%s: interpreter %s: %w", filename, path, err)
		}
	}
}

// pieBase returns where an ET_DYN executable's lowest segment goes: Linux's
// ELF_ET_DYN_BASE, two thirds of the address space, plus a random offset of up to
// 2^28 pages (mmap_rnd_bits on x86-64) that keeps the image below MmapBase, aligned
// to the segments' largest p_align (for transparent huge pages).
func pieBase(l *Layout, info *elfInfo, randomize bool, rnd io.Reader) (uintptr, error) {
	base := pageDown(uint64(l.MaxAddr) / 3 * 2)
	if randomize {
		room := uint64(1) << (28 + 12)
		span := info.end - info.start
		if top := uint64(l.MmapBase); base+span+room > top {
			room = 0
			if top > base+span {
				room = top - base - span
			}
		}
		if pages := room / pageSize; pages > 0 {
			r, err := randUint64(rnd)
			if err != nil {
				return 0, err
			}
			base += r % pages * pageSize
		}
	}
	return uintptr(base &^ (info.maxAlign - 1)), nil
}

// randUint64 reads a random uint64 from rnd.
func randUint64(rnd io.Reader) (uint64, error) {
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return 0, fmt.Errorf("reading random bytes: %w", err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func boolToUint64(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
