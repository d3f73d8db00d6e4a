package linux

// Keys of the auxiliary vector the kernel passes on a new program's stack, from
// <linux/auxvec.h> and <asm/auxvec.h> (x86).
const (
	AT_NULL              = 0  // end of the vector
	AT_IGNORE            = 1  // entry to ignore
	AT_EXECFD            = 2  // file descriptor of the program
	AT_PHDR              = 3  // address of the program's program headers
	AT_PHENT             = 4  // size of one program header
	AT_PHNUM             = 5  // number of program headers
	AT_PAGESZ            = 6  // page size
	AT_BASE              = 7  // load address of the interpreter
	AT_FLAGS             = 8  // flags (AT_FLAGS_*)
	AT_ENTRY             = 9  // the program's entry point
	AT_NOTELF            = 10 // the program is not ELF
	AT_UID               = 11 // real user ID
	AT_EUID              = 12 // effective user ID
	AT_GID               = 13 // real group ID
	AT_EGID              = 14 // effective group ID
	AT_PLATFORM          = 15 // address of a string naming the CPU
	AT_HWCAP             = 16 // CPU capabilities (x86: CPUID leaf 1 EDX)
	AT_CLKTCK            = 17 // frequency of times(2)
	AT_SECURE            = 23 // the program runs with elevated privileges
	AT_BASE_PLATFORM     = 24 // address of a string naming the real CPU
	AT_RANDOM            = 25 // address of 16 random bytes
	AT_HWCAP2            = 26 // more CPU capabilities (HWCAP2_*)
	AT_RSEQ_FEATURE_SIZE = 27 // rseq feature size
	AT_RSEQ_ALIGN        = 28 // rseq allocation alignment
	AT_HWCAP3            = 29
	AT_HWCAP4            = 30
	AT_EXECFN            = 31 // address of the filename passed to execve
	AT_SYSINFO_EHDR      = 33 // address of the vDSO's ELF header
	AT_MINSIGSTKSZ       = 51 // minimal stack size for signal delivery
)

// AT_FLAGS_PRESERVE_ARGV0 in AT_FLAGS: binfmt_misc kept the original argv[0].
const AT_FLAGS_PRESERVE_ARGV0 = 1

// Bits of AT_HWCAP2 on x86, from <asm/hwcap2.h>.
const (
	HWCAP2_RING3MWAIT = 1 << 0
	HWCAP2_FSGSBASE   = 1 << 1
)
