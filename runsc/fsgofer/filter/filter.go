// Package filter is the Gofer's seccomp allow-list: every host system call the
// Gofer may make once it serves the Sentry, in this one file, each with why.
// runsc gofer installs it (Install) after it has pivoted into its empty root and
// dropped its capabilities, before it reads a single request. Anything else the
// Gofer calls kills it, with a line naming the call (pkg/seccomp).
//
// The Gofer works only on descriptors: names are resolved one component at a
// time relative to a directory it holds (openat2 with RESOLVE_BENEATH and no
// symlinks), files are re-opened through its /proc/self/fd descriptor, and every
// change is an *at call on a directory descriptor. The list was found by running
// the runsc, e2e and C++ syscall suites with the filter in log-only mode and under
// strace -f. It has no exec, no process creation, no mount, no sockets of its own
// (the lisafs connections exist already), no ptrace.
package filter

import (
	"io"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/seccomp"
)

// Install confines the calling process, the Gofer, to Rules; log receives the
// line that names a refused system call.
func Install(log io.Writer) error {
	return seccomp.Install(Rules(), seccomp.Options{Name: "gofer", Log: log})
}

// Rules returns the Gofer's allow-list.
func Rules() seccomp.Rules { return seccomp.GoRuntime().Merge(gofer) }

func eq(v uint64) seccomp.Arg { return seccomp.Eq(v) }

// gofer is what the Gofer itself calls, beyond the Go runtime.
var gofer = seccomp.Rules{
	// Walking and opening (runsc/fsgofer/node.go).
	unix.SYS_OPENAT:     nil,
	unix.SYS_OPENAT2:    nil,
	unix.SYS_STATX:      {{2: eq(unix.AT_EMPTY_PATH | unix.AT_SYMLINK_NOFOLLOW | unix.AT_STATX_SYNC_AS_STAT)}},
	unix.SYS_FSTAT:      nil,
	unix.SYS_NEWFSTATAT: {{3: eq(unix.AT_EMPTY_PATH)}},
	unix.SYS_FSTATFS:    nil,
	unix.SYS_GETDENTS64: nil,
	unix.SYS_READLINKAT: nil,
	unix.SYS_LSEEK:      nil,

	// File I/O the Sentry asks for on files it was not donated.
	unix.SYS_PREAD64:   nil,
	unix.SYS_PWRITE64:  nil,
	unix.SYS_READV:     nil,
	unix.SYS_WRITEV:    nil,
	unix.SYS_FSYNC:     nil,
	unix.SYS_FDATASYNC: nil,
	unix.SYS_FTRUNCATE: nil,
	unix.SYS_FALLOCATE: nil,

	// Changes to the tree.
	unix.SYS_MKDIRAT:   nil,
	unix.SYS_MKNODAT:   nil,
	unix.SYS_SYMLINKAT: nil,
	unix.SYS_LINKAT:    nil,
	unix.SYS_UNLINKAT:  nil,
	unix.SYS_RENAMEAT2: nil,
	unix.SYS_FCHMODAT:  nil,
	unix.SYS_FCHMOD:    nil,
	unix.SYS_FCHOWNAT:  nil,
	unix.SYS_UTIMENSAT: nil,

	// Extended attributes, on re-opened descriptors.
	unix.SYS_FGETXATTR:    nil,
	unix.SYS_FSETXATTR:    nil,
	unix.SYS_FLISTXATTR:   nil,
	unix.SYS_FREMOVEXATTR: nil,

	// lisafs: requests and replies, with donated FDs.
	unix.SYS_RECVMSG:  nil,
	unix.SYS_SENDMSG:  nil,
	unix.SYS_SHUTDOWN: nil,
	// A new channel for the Sentry (lisafs.SocketPair).
	unix.SYS_SOCKETPAIR: {{0: eq(unix.AF_UNIX), 1: eq(unix.SOCK_SEQPACKET | unix.SOCK_CLOEXEC), 2: eq(0)}},
	unix.SYS_DUP:        nil,
	unix.SYS_FCNTL: {
		{1: eq(unix.F_DUPFD_CLOEXEC)},
		{1: eq(unix.F_GETFL)},
		{1: eq(unix.F_SETFL)},
		{1: eq(unix.F_GETFD)},
		{1: eq(unix.F_SETFD)},
	},
	unix.SYS_UMASK:           nil,
	unix.SYS_RESTART_SYSCALL: nil,
}
