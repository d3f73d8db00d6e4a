package linux

// Limits of execve(2), from <linux/binfmts.h>.
const (
	// MAX_ARG_STRLEN is the longest argument or environment string, with its NUL.
	MAX_ARG_STRLEN = 32 * 4096
	// MAX_ARG_STRINGS is the most arguments or environment strings.
	MAX_ARG_STRINGS = 0x7fffffff
	// BINPRM_BUF_SIZE is how much of a file the kernel reads to recognise its format
	// (a "#!" line is at most this long).
	BINPRM_BUF_SIZE = 256
)
