package linux

// Operations and flags of futex(2), from <linux/futex.h>.
const (
	FUTEX_WAIT            = 0
	FUTEX_WAKE            = 1
	FUTEX_FD              = 2
	FUTEX_REQUEUE         = 3
	FUTEX_CMP_REQUEUE     = 4
	FUTEX_WAKE_OP         = 5
	FUTEX_LOCK_PI         = 6
	FUTEX_UNLOCK_PI       = 7
	FUTEX_TRYLOCK_PI      = 8
	FUTEX_WAIT_BITSET     = 9
	FUTEX_WAKE_BITSET     = 10
	FUTEX_WAIT_REQUEUE_PI = 11
	FUTEX_CMP_REQUEUE_PI  = 12
	FUTEX_LOCK_PI2        = 13

	FUTEX_PRIVATE_FLAG   = 128
	FUTEX_CLOCK_REALTIME = 256
	FUTEX_CMD_MASK       = ^(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)

	FUTEX_BITSET_MATCH_ANY = 0xffffffff

	// Bits of a robust futex word.
	FUTEX_WAITERS    = 0x80000000
	FUTEX_OWNER_DIED = 0x40000000
	FUTEX_TID_MASK   = 0x3fffffff
)

// Fields of FUTEX_WAKE_OP's encoded operation.
const (
	FUTEX_OP_SET  = 0
	FUTEX_OP_ADD  = 1
	FUTEX_OP_OR   = 2
	FUTEX_OP_ANDN = 3
	FUTEX_OP_XOR  = 4

	FUTEX_OP_OPARG_SHIFT = 8

	FUTEX_OP_CMP_EQ = 0
	FUTEX_OP_CMP_NE = 1
	FUTEX_OP_CMP_LT = 2
	FUTEX_OP_CMP_LE = 3
	FUTEX_OP_CMP_GT = 4
	FUTEX_OP_CMP_GE = 5
)

// RobustListHead is struct robust_list_head.
type RobustListHead struct {
	List          uint64
	FutexOffset   int64
	ListOpPending uint64
}

// ROBUST_LIST_LIMIT bounds how many entries exit walks, against loops.
const ROBUST_LIST_LIMIT = 2048
