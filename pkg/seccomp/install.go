package seccomp

import (
	"fmt"
	"io"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/syscallinfo"
)

// Options configure Install.
type Options struct {
	// Name names the process in the violation line: "sentry", "gofer".
	Name string
	// Log receives the violation line. It must be usable under the filter (a
	// file or a pipe, written with write(2)).
	Log io.Writer
	// LogOnly reports every violation and then lets the call run, instead of
	// killing the process: how a process's list is found (run its tests with it
	// and collect the lines), never how a sandbox runs.
	LogOnly bool
}

// Install confines every thread of the calling process to rules (plus what its
// own violation notifier needs), for good: it sets no_new_privs, installs the
// filter on all threads, and starts the goroutine that reports and punishes
// violations. Threads created later inherit the filter.
func Install(rules Rules, opts Options) error {
	if opts.Log == nil {
		return fmt.Errorf("seccomp: Install needs a log for violations")
	}
	pid := unix.Getpid()
	insns, err := rules.Merge(notifierRules(pid)).Program(actionUserNotif)
	if err != nil {
		return err
	}
	filter, err := Assemble(insns)
	if err != nil {
		return err
	}
	listener, err := installFilter(filter)
	if err != nil {
		return err
	}
	// The notifier must be able to run while a violating thread is stuck in
	// the kernel. A thread stuck in a raw system call (the runtime's own, or
	// RawSyscall) keeps its P, so one P is not enough.
	if runtime.GOMAXPROCS(0) < 2 {
		runtime.GOMAXPROCS(2)
	}
	n := &notifier{listener: listener, opts: opts, pid: pid, table: syscallinfo.AMD64(), line: make([]byte, 0, 512)}
	ready := make(chan struct{})
	go n.run(ready)
	<-ready
	return nil
}

// notifierRules are the system calls of the notifier goroutine beyond what the Go
// runtime needs anyway to run a goroutine that blocks in a system call.
func notifierRules(pid int) Rules {
	return Rules{
		unix.SYS_IOCTL: {
			{1: Eq(unix.SECCOMP_IOCTL_NOTIF_RECV)},
			{1: Eq(unix.SECCOMP_IOCTL_NOTIF_SEND)},
		},
		unix.SYS_WRITE:        nil,
		unix.SYS_PRCTL:        {{0: Eq(unix.PR_SET_DUMPABLE), 1: Eq(0)}},
		unix.SYS_RT_SIGACTION: {{0: Eq(uint64(unix.SIGSYS))}},
		// killSelf's: SIGSYS unblocked and sent to its own thread.
		unix.SYS_RT_SIGPROCMASK: {{0: Eq(unix.SIG_UNBLOCK)}},
		unix.SYS_GETTID:         nil,
		unix.SYS_TGKILL:         {{0: Eq(uint64(pid)), 2: Eq(uint64(unix.SIGSYS))}},
		unix.SYS_EXIT_GROUP:     nil,
	}
}

// notifier receives the filter's notifications: each is a thread of this process
// stopped in a system call the list does not allow.
type notifier struct {
	listener int
	opts     Options
	pid      int
	table    syscallinfo.Table
	// line is the buffer the report is built in, allocated up front: the thread
	// that broke the rules may hold a runtime lock the allocator needs.
	line []byte
}

// run receives violations until the process dies. It keeps an OS thread of its
// own, which waits in the kernel for the next violation and so needs no P to be
// there when one comes.
func (n *notifier) run(ready chan<- struct{}) {
	runtime.LockOSThread()
	close(ready)
	var req notif
	for {
		if err := recvNotif(n.listener, &req); err != nil {
			// EINTR: a signal for this thread (Go preempts with SIGURG).
			// ENOENT: the thread went away (killed) before we read it.
			if err == unix.EINTR || err == unix.ENOENT {
				continue
			}
			n.line = fmt.Appendf(n.line[:0], "seccomp: %s: receiving violations failed: %v; killed\n", n.opts.Name, err)
			n.opts.Log.Write(n.line)
			killSelf(n.pid)
		}
		n.report(&req)
		if !n.opts.LogOnly {
			killSelf(n.pid)
		}
		// The call runs as if the filter had allowed it. ENOENT: the thread
		// is gone, nothing to let go.
		sendContinue(n.listener, req.id)
	}
}

// report writes the violation line for req.
func (n *notifier) report(req *notif) {
	b := append(n.line[:0], "seccomp: "...)
	b = append(b, n.opts.Name...)
	b = append(b, " made syscall "...)
	d := &req.data
	nr := uint64(uint32(d.nr))
	switch {
	case d.arch != auditArchX86_64:
		b = strconv.AppendUint(b, nr, 10)
		b = append(b, " of architecture 0x"...)
		b = strconv.AppendUint(b, uint64(d.arch), 16)
		b = append(b, " (not x86-64)"...)
	case nr&x32SyscallBit != 0:
		b = append(b, "0x"...)
		b = strconv.AppendUint(b, nr, 16)
		b = append(b, " (x32 ABI)"...)
	default:
		b = strconv.AppendUint(b, nr, 10)
		b = append(b, " ("...)
		if sc, ok := n.table.Lookup(uintptr(nr)); ok {
			b = append(b, sc.Name...)
		} else {
			b = append(b, "unknown"...)
		}
		b = append(b, ')')
	}
	b = append(b, ", not in its allow-list; "...)
	if n.opts.LogOnly {
		b = append(b, "allowed (log-only)"...)
	} else {
		b = append(b, "killed"...)
	}
	b = append(b, " [thread "...)
	b = strconv.AppendUint(b, uint64(req.pid), 10)
	b = append(b, " args"...)
	for _, a := range d.args {
		b = append(b, " 0x"...)
		b = strconv.AppendUint(b, a, 16)
	}
	b = append(b, "]\n"...)
	n.line = b
	n.opts.Log.Write(b)
}
