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

// SignalSet is a set of signals, bit n-1 for signal n (kernel sigset_t on amd64).
type SignalSet uint64

// SignalSetSize is the only sigsetsize the rt_sig* calls accept.
const SignalSetSize = 8

// SignalSetOf returns the set holding sig.
func SignalSetOf(sig int) SignalSet { return SignalSet(1) << (sig - 1) }

// UnblockableSignals can never be blocked or ignored by a handler.
const UnblockableSignals = SignalSet(1)<<(SIGKILL-1) | SignalSet(1)<<(SIGSTOP-1)

// How of rt_sigprocmask(2).
const (
	SIG_BLOCK   = 0
	SIG_UNBLOCK = 1
	SIG_SETMASK = 2
)

// Special handlers of sigaction(2).
const (
	SIG_DFL = 0
	SIG_IGN = 1
)

// Flags of sigaction(2), from <asm/signal.h>.
const (
	SA_NOCLDSTOP = 0x00000001
	SA_NOCLDWAIT = 0x00000002
	SA_SIGINFO   = 0x00000004
	SA_RESTORER  = 0x04000000
	SA_ONSTACK   = 0x08000000
	SA_RESTART   = 0x10000000
	SA_NODEFER   = 0x40000000
	SA_RESETHAND = 0x80000000
)

// SigAction is the kernel's struct sigaction on amd64, as rt_sigaction(2) reads it.
type SigAction struct {
	Handler  uint64
	Flags    uint64
	Restorer uint64
	Mask     SignalSet
}

// SignalStack is stack_t, the alternate signal stack of sigaltstack(2).
type SignalStack struct {
	Addr  uint64
	Flags int32
	_     int32
	Size  uint64
}

// Flags of a SignalStack.
const (
	SS_ONSTACK    = 1
	SS_DISABLE    = 2
	SS_AUTODISARM = 1 << 31

	MINSIGSTKSZ = 2048
)

// Codes of siginfo's si_code, from <asm-generic/siginfo.h>.
const (
	SI_USER    = 0
	SI_KERNEL  = 0x80
	SI_QUEUE   = -1
	SI_TIMER   = -2
	SI_MESGQ   = -3
	SI_ASYNCIO = -4
	SI_SIGIO   = -5
	SI_TKILL   = -6

	SEGV_MAPERR = 1
	SEGV_ACCERR = 2

	BUS_ADRERR = 2

	CLD_EXITED    = 1
	CLD_KILLED    = 2
	CLD_DUMPED    = 3
	CLD_TRAPPED   = 4
	CLD_STOPPED   = 5
	CLD_CONTINUED = 6
)

// The fields of SignalInfo's union, at their offsets within Fields.

// PID returns si_pid (kill, SIGCHLD).
func (s *SignalInfo) PID() int32 { return int32(binary.LittleEndian.Uint32(s.Fields[0:4])) }

// SetPID sets si_pid.
func (s *SignalInfo) SetPID(pid int32) { binary.LittleEndian.PutUint32(s.Fields[0:4], uint32(pid)) }

// UID returns si_uid.
func (s *SignalInfo) UID() int32 { return int32(binary.LittleEndian.Uint32(s.Fields[4:8])) }

// SetUID sets si_uid.
func (s *SignalInfo) SetUID(uid int32) { binary.LittleEndian.PutUint32(s.Fields[4:8], uint32(uid)) }

// Status returns si_status (SIGCHLD).
func (s *SignalInfo) Status() int32 { return int32(binary.LittleEndian.Uint32(s.Fields[8:12])) }

// SetStatus sets si_status.
func (s *SignalInfo) SetStatus(status int32) {
	binary.LittleEndian.PutUint32(s.Fields[8:12], uint32(status))
}

// SetValue sets si_value (sigqueue, timers), after si_pid and si_uid.
func (s *SignalInfo) SetValue(v uint64) { binary.LittleEndian.PutUint64(s.Fields[8:16], v) }

// SetTimerID sets si_tid and si_overrun of a POSIX timer signal.
func (s *SignalInfo) SetTimerID(id, overrun int32) {
	binary.LittleEndian.PutUint32(s.Fields[0:4], uint32(id))
	binary.LittleEndian.PutUint32(s.Fields[4:8], uint32(overrun))
}

// SignalContext64 is struct sigcontext on amd64: the registers a signal frame saves.
type SignalContext64 struct {
	R8      uint64
	R9      uint64
	R10     uint64
	R11     uint64
	R12     uint64
	R13     uint64
	R14     uint64
	R15     uint64
	Rdi     uint64
	Rsi     uint64
	Rbp     uint64
	Rbx     uint64
	Rdx     uint64
	Rax     uint64
	Rcx     uint64
	Rsp     uint64
	Rip     uint64
	Eflags  uint64
	Cs      uint16
	Gs      uint16
	Fs      uint16
	Ss      uint16
	Err     uint64
	Trapno  uint64
	Oldmask SignalSet
	Cr2     uint64
	Fpstate uint64
	_       [8]uint64
}

// UContext64 is struct ucontext on amd64, as the kernel builds it in a signal frame.
type UContext64 struct {
	Flags    uint64
	Link     uint64
	Stack    SignalStack
	MContext SignalContext64
	Sigset   SignalSet
}
