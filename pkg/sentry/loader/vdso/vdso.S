// Visor's vDSO: the functions glibc (and Go, musl) look up in the vDSO the kernel
// maps into every process.
//
// This first version makes each call the real system call: the platform traps the
// syscall instruction into the Sentry, which implements it, so the result is always
// right, only not faster than the syscall itself. A fast path that reads a parameter
// page the Sentry keeps up to date (as Linux's vvar) can replace the bodies later
// without changing the symbols.
//
// The arguments of each function are already in the registers the system call takes
// them in (rdi, rsi, rdx); syscall clobbers rcx and r11, which the C calling
// convention lets a callee clobber anyway.

#define SYS_gettimeofday  96
#define SYS_time          201
#define SYS_clock_gettime 228
#define SYS_clock_getres  229
#define SYS_getcpu        309

// SYSCALL_FUNC defines __vdso_<name> making system call nr, and <name> as a weak
// alias of it, as Linux's vDSO exports both.
#define SYSCALL_FUNC(name, nr)          \
	.globl __vdso_##name;           \
	.type __vdso_##name, @function; \
	.weak name;                     \
	.type name, @function;          \
	.balign 16;                     \
__vdso_##name:                          \
name:                                   \
	.cfi_startproc;                 \
	movl $nr, %eax;                 \
	syscall;                        \
	ret;                            \
	.cfi_endproc;                   \
	.size __vdso_##name, .-__vdso_##name; \
	.size name, .-__vdso_##name

	.text
SYSCALL_FUNC(clock_gettime, SYS_clock_gettime)
SYSCALL_FUNC(gettimeofday, SYS_gettimeofday)
SYSCALL_FUNC(time, SYS_time)
SYSCALL_FUNC(getcpu, SYS_getcpu)
SYSCALL_FUNC(clock_getres, SYS_clock_getres)

	.section .note.GNU-stack, "", @progbits
