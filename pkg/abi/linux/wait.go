package linux

// Options of wait4(2) and waitid(2), from <linux/wait.h>.
const (
	WNOHANG    = 0x00000001
	WUNTRACED  = 0x00000002
	WSTOPPED   = WUNTRACED
	WEXITED    = 0x00000004
	WCONTINUED = 0x00000008
	WNOWAIT    = 0x01000000
	WNOTHREAD  = 0x20000000
	WALL       = 0x40000000
	WCLONE     = 0x80000000
)

// The idtype of waitid(2).
const (
	P_ALL   = 0
	P_PID   = 1
	P_PGID  = 2
	P_PIDFD = 3
)

// WaitStatus is the status wait4(2) reports, encoded as <sys/wait.h> decodes it.
type WaitStatus uint32

// WaitStatusExit is the status of a process that exited with code.
func WaitStatusExit(code int) WaitStatus { return WaitStatus((code & 0xff) << 8) }

// WaitStatusSignal is the status of a process killed by sig, with core if it dumped.
func WaitStatusSignal(sig int, core bool) WaitStatus {
	s := WaitStatus(sig & 0x7f)
	if core {
		s |= 0x80
	}
	return s
}

// WaitStatusStopped is the status of a process stopped by sig.
func WaitStatusStopped(sig int) WaitStatus { return WaitStatus(sig&0xff)<<8 | 0x7f }

// WaitStatusContinued is the status of a process continued by SIGCONT.
const WaitStatusContinued WaitStatus = 0xffff

// Exited, ExitStatus, Signaled and Signal decode s as WIFEXITED etc. do.
func (s WaitStatus) Exited() bool    { return s&0x7f == 0 }
func (s WaitStatus) ExitStatus() int { return int(s>>8) & 0xff }
func (s WaitStatus) Signaled() bool  { return s&0x7f != 0 && s&0x7f != 0x7f }
func (s WaitStatus) Signal() int     { return int(s & 0x7f) }
