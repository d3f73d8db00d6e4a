package seccomp

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   int32
	arch uint32
	ip   uint64
	args [6]uint64
}

// notif is struct seccomp_notif.
type notif struct {
	id    uint64
	pid   uint32
	flags uint32
	data  seccompData
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// Sizes the kernel's SECCOMP_IOCTL_NOTIF_* numbers encode.
var (
	_ [80]byte = [unsafe.Sizeof(notif{})]byte{}
	_ [24]byte = [unsafe.Sizeof(notifResp{})]byte{}
)

// installFilter sets no_new_privs and installs filter on every thread, returning
// the notification listener.
func installFilter(filter []unix.SockFilter) (int, error) {
	// no_new_privs is what lets an unprivileged process install a filter. It
	// goes on every thread at once; AllThreadsSyscall refuses (ENOTSUP) in a
	// binary with cgo, whose threads glibc makes (clone3, rseq, ...), which no
	// list here allows: runsc is built with CGO_ENABLED=0.
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); errno != 0 {
		if errno == unix.ENOTSUP {
			return -1, errors.New("seccomp: this binary uses cgo, whose threads the filter would kill: build it with CGO_ENABLED=0")
		}
		return -1, fmt.Errorf("seccomp: setting no_new_privs: %w", errno)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// TSYNC_ESRCH: without it a TSYNC failure returns a thread ID, which the
	// kernel cannot tell from a listener FD, so it refuses NEW_LISTENER.
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH | unix.SECCOMP_FILTER_FLAG_NEW_LISTENER)
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return -1, fmt.Errorf("seccomp: installing the filter on all threads: %w", errno)
	}
	return int(fd), nil
}

// recvNotif waits for the next violation. It blocks, so it goes through the Go
// scheduler (Syscall, not RawSyscall).
func recvNotif(listener int, n *notif) error {
	*n = notif{} // the kernel insists on a zeroed buffer
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(n)))
	if errno != 0 {
		return errno
	}
	return nil
}

// sendContinue lets the notified call id run as if it had been allowed.
func sendContinue(listener int, id uint64) {
	resp := notifResp{id: id, flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	unix.RawSyscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
}

// killSelf ends the process as SECCOMP_RET_KILL_PROCESS would have: killed by
// SIGSYS. The Go runtime's SIGSYS handler would turn the signal into a crash
// dump, so the default action comes back first; no_dumpable keeps the kernel from
// writing a core of the whole Sentry. It does not return.
func killSelf(pid int) {
	unix.RawSyscall(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 0, 0)
	// struct sigaction with sa_handler = SIG_DFL and nothing else.
	var dfl [4]uint64
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGSYS), uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	// SIGSYS dumps core, so the kernel ends the process only once a thread
	// takes the signal; sent to the process, another thread might take it
	// after this one reached exit_group below (seen under load). Sent to this
	// thread, unblocked, it is taken on the way back from tgkill.
	set := uint64(1) << (unix.SIGSYS - 1)
	unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK, uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	tid, _, _ := unix.RawSyscall(unix.SYS_GETTID, 0, 0, 0)
	unix.RawSyscall(unix.SYS_TGKILL, uintptr(pid), tid, uintptr(unix.SIGSYS))
	// Only if the signal could not be delivered (init of a PID namespace
	// ignores it): the same status a shell gives a process killed by SIGSYS.
	for {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 128+uintptr(unix.SIGSYS), 0, 0)
	}
}
