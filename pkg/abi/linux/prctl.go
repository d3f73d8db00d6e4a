package linux

// Options of prctl(2) that Visor knows, from <linux/prctl.h>.
const (
	PR_SET_PDEATHSIG       = 1
	PR_GET_PDEATHSIG       = 2
	PR_GET_DUMPABLE        = 3
	PR_SET_DUMPABLE        = 4
	PR_GET_KEEPCAPS        = 7
	PR_SET_KEEPCAPS        = 8
	PR_GET_TIMING          = 13
	PR_SET_NAME            = 15
	PR_GET_NAME            = 16
	PR_GET_SECCOMP         = 21
	PR_SET_SECCOMP         = 22
	PR_CAPBSET_READ        = 23
	PR_CAPBSET_DROP        = 24
	PR_GET_SECUREBITS      = 27
	PR_SET_SECUREBITS      = 28
	PR_GET_TIMERSLACK      = 30
	PR_SET_TIMERSLACK      = 29
	PR_SET_MM              = 35
	PR_SET_CHILD_SUBREAPER = 36
	PR_GET_CHILD_SUBREAPER = 37
	PR_SET_NO_NEW_PRIVS    = 38
	PR_GET_NO_NEW_PRIVS    = 39
	PR_GET_TID_ADDRESS     = 40
	PR_SET_THP_DISABLE     = 41
	PR_GET_THP_DISABLE     = 42
	PR_CAP_AMBIENT         = 47

	// TASK_COMM_LEN is the size of a task's name, NUL included.
	TASK_COMM_LEN = 16
)

// Codes of arch_prctl(2), from <asm/prctl.h>.
const (
	ARCH_SET_GS    = 0x1001
	ARCH_SET_FS    = 0x1002
	ARCH_GET_FS    = 0x1003
	ARCH_GET_GS    = 0x1004
	ARCH_GET_CPUID = 0x1011
	ARCH_SET_CPUID = 0x1012
)
