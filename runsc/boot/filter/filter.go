// Package filter is the Sentry's seccomp allow-list: every host system call the
// Sentry may make once it runs the container, in this one file, each with why.
// runsc/boot installs it (Install) after the Sentry has chrooted into an empty
// directory and before the container's first process exists. Anything else the
// Sentry calls kills it, with a line naming the call (pkg/seccomp).
//
// The list was found by running the Sentry's test suites (the runsc/boot and
// runsc/cmd tests, the e2e tests, the C++ syscall suite under runsc) with the
// filter in log-only mode (strace -f cannot trace the Sentry: it would take the
// ptrace platform's place as its stubs' tracer). What it does not need: opening any
// host path (the Gofer does that; the Sentry is chrooted anyway), exec, creating
// processes (stubs are forked from the ptrace platform's zygote, which is started
// before the filter), mount, chroot, setns, unshare, module loading, raw or
// network sockets.
package filter

import (
	"io"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"

	"visor.dev/visor/pkg/seccomp"
)

// Install confines the calling process, the Sentry, to Rules; log receives the
// line that names a refused system call.
func Install(log io.Writer) error {
	return seccomp.Install(Rules(), seccomp.Options{Name: "sentry", Log: log})
}

// Rules returns the Sentry's allow-list.
func Rules() seccomp.Rules { return seccomp.GoRuntime().Merge(sentry) }

func eq(v uint64) seccomp.Arg { return seccomp.Eq(v) }

// sentry is what the Sentry itself calls, beyond the Go runtime.
var sentry = seccomp.Rules{
	// The ptrace platform (pkg/sentry/platform/ptrace): stub threads are
	// traced, stopped, resumed and waited for; syscalls are injected with
	// GETREGS/SETREGS; FP state is read and written as NT_X86_XSTATE.
	unix.SYS_PTRACE: {
		{0: eq(unix.PTRACE_CONT)},
		{0: eq(unix.PTRACE_SYSEMU)},
		{0: eq(unix.PTRACE_GETREGS)},
		{0: eq(unix.PTRACE_SETREGS)},
		{0: eq(unix.PTRACE_GETREGSET)},
		{0: eq(unix.PTRACE_SETREGSET)},
		{0: eq(unix.PTRACE_GETSIGINFO)},
		{0: eq(unix.PTRACE_SETOPTIONS)},
		{0: eq(unix.PTRACE_SEIZE)},
		{0: eq(unix.PTRACE_INTERRUPT)},
	},
	unix.SYS_WAIT4: {
		{2: eq(unix.WALL)},
		{2: eq(unix.WALL | unix.WNOHANG)},
	},
	// Stubs are killed with SIGKILL; tgkill (the runtime's list) interrupts
	// a running stub thread.
	unix.SYS_KILL:              {{1: eq(uint64(unix.SIGKILL))}},
	unix.SYS_SCHED_SETAFFINITY: nil,
	unix.SYS_GETCPU:            nil,

	// The memory file (pkg/sentry/pgalloc): a memfd created before the
	// filter, mapped shared; freed ranges are punched out.
	unix.SYS_FALLOCATE: nil,
	unix.SYS_FTRUNCATE: nil,

	// Host FDs: the Gofer's donated files (read, written, stat'ed), the
	// container's stdio and terminal, pipes, the control socket's requests.
	unix.SYS_READV:      nil,
	unix.SYS_WRITEV:     nil,
	unix.SYS_PWRITE64:   nil,
	unix.SYS_PREADV:     nil,
	unix.SYS_PWRITEV:    nil,
	unix.SYS_LSEEK:      nil,
	unix.SYS_FSTAT:      nil,
	unix.SYS_NEWFSTATAT: {{3: eq(unix.AT_EMPTY_PATH)}},
	unix.SYS_FSYNC:      nil,
	unix.SYS_FDATASYNC:  nil,
	unix.SYS_DUP:        nil,
	unix.SYS_DUP3:       nil,
	unix.SYS_FCNTL: {
		{1: eq(unix.F_DUPFD_CLOEXEC)},
		{1: eq(unix.F_GETFL)},
		{1: eq(unix.F_SETFL)},
		{1: eq(unix.F_GETFD)},
		{1: eq(unix.F_SETFD)},
	},
	unix.SYS_POLL:  nil,
	unix.SYS_PPOLL: nil,
	// Terminals (pkg/sentry/fsimpl/host, runsc/boot/terminal.go): the
	// container's terminal is a host pty replica the Sentry's tty driver
	// forwards termios and window size to.
	unix.SYS_IOCTL: {
		{1: eq(unix.TCGETS)},
		{1: eq(unix.TCSETS)},
		{1: eq(unix.TCSETSW)},
		{1: eq(unix.TCSETSF)},
		{1: eq(unix.TIOCGWINSZ)},
		{1: eq(unix.TIOCSWINSZ)},
		{1: eq(unix.TCSBRK)},
		{1: eq(unix.TCXONC)},
		{1: eq(unix.TCFLSH)},
		{1: eq(unix.TIOCOUTQ)},
		{1: eq(linux.FIONREAD)},
		{1: eq(unix.TIOCSCTTY)},
	},
	unix.SYS_GETSID: nil,
	unix.SYS_SETSID: nil,

	// Unix sockets: lisafs to the Gofer and the control socket (accept,
	// messages with FDs, the send buffer grown for large responses).
	unix.SYS_SENDMSG:  nil,
	unix.SYS_RECVMSG:  nil,
	unix.SYS_SHUTDOWN: nil,
	unix.SYS_ACCEPT4:  nil,
	unix.SYS_GETSOCKOPT: {
		{1: eq(unix.SOL_SOCKET), 2: eq(unix.SO_SNDBUF)},
	},
	unix.SYS_SETSOCKOPT: {
		{1: eq(unix.SOL_SOCKET), 2: eq(unix.SO_SNDBUF)},
	},

	// Time and the machine, for the sandbox's clocks and /proc.
	unix.SYS_SYSINFO:         nil,
	unix.SYS_GETRUSAGE:       nil,
	unix.SYS_CLOCK_GETRES:    nil,
	unix.SYS_GETTIMEOFDAY:    nil,
	unix.SYS_RESTART_SYSCALL: nil,
}
