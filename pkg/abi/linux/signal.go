package linux

import "encoding/binary"

// Signal numbers from <asm/signal.h>.
const (
	SIGHUP    = 1
	SIGINT    = 2
	SIGQUIT   = 3
	SIGILL    = 4
	SIGTRAP   = 5
	SIGABRT   = 6
	SIGBUS    = 7
	SIGFPE    = 8
	SIGKILL   = 9
	SIGUSR1   = 10
	SIGSEGV   = 11
	SIGUSR2   = 12
	SIGPIPE   = 13
	SIGALRM   = 14
	SIGTERM   = 15
	SIGSTKFLT = 16
	SIGCHLD   = 17
	SIGCONT   = 18
	SIGSTOP   = 19
	SIGTSTP   = 20
	SIGTTIN   = 21
	SIGTTOU   = 22
	SIGURG    = 23
	SIGXCPU   = 24
	SIGXFSZ   = 25
	SIGVTALRM = 26
	SIGPROF   = 27
	SIGWINCH  = 28
	SIGIO     = 29
	SIGPWR    = 30
	SIGSYS    = 31
	SIGRTMIN  = 32
	SIGRTMAX  = 64
)

// SignalInfo is siginfo_t from <asm-generic/siginfo.h>: 128 bytes, of which the
// fields after the first three depend on the signal and its code.
type SignalInfo struct {
	Signo int32
	Errno int32
	Code  int32
	_     int32
	// Fields is the union of per-signal fields, as the kernel lays it out.
	Fields [112]byte
}

// Addr returns si_addr, the faulting address of SIGSEGV, SIGBUS, SIGILL and SIGFPE.
func (s *SignalInfo) Addr() uint64 { return binary.LittleEndian.Uint64(s.Fields[0:8]) }

// SetAddr sets si_addr.
func (s *SignalInfo) SetAddr(addr uint64) { binary.LittleEndian.PutUint64(s.Fields[0:8], addr) }
