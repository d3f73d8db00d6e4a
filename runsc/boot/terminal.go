package boot

import (
	"os"
	"os/signal"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/host"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// A container with process.terminal=true gets a host pty replica as its stdio
// (runsc create makes the pty and sends the master to the console socket). Inside
// the sandbox, that terminal is made the controlling terminal of init's session,
// with init's process group in the foreground, before init runs: what runc's
// init does with setsid and TIOCSCTTY. Job control between the sandbox's process
// groups is then the Sentry's (pkg/sentry/fsimpl/host).
//
// What the host's line discipline does by itself must reach the sandbox too: ^C,
// ^\ and ^Z make the host kernel signal the foreground process group of the
// host terminal, and a window size change (TIOCSWINSZ on the master, from the
// shim) sends SIGWINCH there. So the Sentry makes the pty its own controlling
// terminal on the host (it leads a session of its own, and its process group is
// then the terminal's foreground one; its stub processes are in sessions of
// their own and get nothing), and passes SIGINT, SIGQUIT, SIGTSTP and SIGWINCH on
// to the foreground process group of the terminal inside the sandbox, as the
// terminal would have sent them. The window size itself is the host
// terminal's, which TIOCGWINSZ reads. A hangup (the master closed) sends the
// Sentry SIGHUP, which goes to init, the session leader, with the other signals
// the Sentry passes to init.

// terminalSignals are the signals the host terminal sends the Sentry on the
// sandbox's behalf, each passed on to the sandbox's foreground process group.
var terminalSignals = []os.Signal{unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGWINCH}

// terminal is the container's terminal: init's stdio, a host terminal.
type terminal struct {
	k    *kernel.Kernel
	fd   *vfs.FileDescription // init's fd 0, referenced
	logf func(string, ...any)
	sigs chan os.Signal
	done chan struct{}
}

// newTerminal returns the container's terminal if p asks for one and fd 0 of
// fdt, init's stdin, is a host terminal; otherwise nil, and there is nothing
// more to do (a nil *terminal's methods do nothing). It makes the terminal's
// node in the container's /dev/pts, sets its size to p.ConsoleSize if the spec
// has one, makes it the Sentry's controlling terminal on the host, and starts
// passing on the signals it sends. Call it before init runs, and pass
// beforeStart as init's kernel.CreateProcessArgs.BeforeStart; release it when
// the sandbox is done.
func newTerminal(k *kernel.Kernel, m *mounts, p *specs.Process, fdt *kernel.FDTable, logf func(string, ...any)) *terminal {
	if p == nil || !p.Terminal {
		return nil
	}
	fd, _ := fdt.Get(0)
	if fd == nil {
		logf("process.terminal is true, but the container has no stdin")
		return nil
	}
	if !host.IsTTY(fd) {
		fd.DecRef()
		logf("process.terminal is true, but the container's stdin is not a terminal: no job control")
		return nil
	}
	m.terminalNode(fd, logf)
	hostFD, _ := host.HostFD(fd)
	if cs := p.ConsoleSize; cs != nil && cs.Height > 0 && cs.Width > 0 {
		ws := &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}
		if err := unix.IoctlSetWinsize(hostFD, unix.TIOCSWINSZ, ws); err != nil {
			logf("setting the terminal's size to process.consoleSize: %v", err)
		}
	}
	tm := &terminal{k: k, fd: fd, logf: logf, sigs: make(chan os.Signal, 16), done: make(chan struct{})}
	// Notify before taking the terminal: from then on the host may signal the
	// Sentry, and a SIGTSTP it did not handle would stop it.
	signal.Notify(tm.sigs, terminalSignals...)
	// The Sentry is the terminal's foreground on the host, so the host never
	// sends it these; should it be in the background of a terminal that is not
	// its own, the calls it makes for the sandbox must not stop it.
	signal.Ignore(unix.SIGTTIN, unix.SIGTTOU)
	if err := takeHostTerminal(hostFD); err != nil {
		logf("making the container's terminal the Sentry's controlling terminal: %v; ^C, ^Z and window size changes on it will not reach the container", err)
	}
	go tm.forward()
	return tm
}

// terminalNode makes the node of fd, a host terminal, in the container's
// /dev/pts, so that ttyname(3) finds it (see pkg/sentry/fsimpl/host): for init's
// terminal, and for that of a process runsc exec starts with one.
func (m *mounts) terminalNode(fd *vfs.FileDescription, logf func(string, ...any)) {
	if err := host.CreateTerminalNode(m.ctx, m.creds, m.root, fd); err != nil {
		logf("making the terminal's node in /dev/pts: %v", err)
	}
}

// takeHostTerminal makes the host terminal hostFD the calling process's
// controlling terminal: it must lead a session (runsc starts the Sentry in one
// of its own; else it makes one) that has none yet, and the terminal must be
// nobody else's. It never steals a terminal.
func takeHostTerminal(hostFD int) error {
	if sid, err := unix.Getsid(0); err != nil || sid != unix.Getpid() {
		if _, err := unix.Setsid(); err != nil {
			return err
		}
	}
	return unix.IoctlSetInt(hostFD, unix.TIOCSCTTY, 0)
}

// beforeStart makes the terminal the controlling terminal of tg's session, tg's
// process group in the foreground: a kernel.CreateProcessArgs.BeforeStart.
func (tm *terminal) beforeStart(tg *kernel.ThreadGroup) {
	if tm == nil {
		return
	}
	if err := host.SetControllingTerminal(tm.fd, tg.SessionID(), tg.ProcessGroupID()); err != nil {
		tm.logf("making the terminal the controlling terminal of pid %d: %v", tg.ID(), err)
	}
}

// forwards reports whether the terminal, rather than the Sentry's forwarding to
// init, passes sig on: SIGINT from the terminal is for its foreground process
// group, not for init.
func (tm *terminal) forwards(sig os.Signal) bool {
	if tm == nil {
		return false
	}
	for _, s := range terminalSignals {
		if s == sig {
			return true
		}
	}
	return false
}

// forward passes the terminal's signals on until release.
func (tm *terminal) forward() {
	for {
		select {
		case s := <-tm.sigs:
			sig := int(s.(unix.Signal))
			if err := host.SignalForeground(tm.k, tm.fd, sig); err != nil && err != linux.ESRCH {
				tm.logf("passing signal %d on to the terminal's foreground process group: %v", sig, err)
			}
		case <-tm.done:
			return
		}
	}
}

// release stops passing signals on and drops the terminal.
func (tm *terminal) release() {
	if tm == nil {
		return
	}
	signal.Stop(tm.sigs)
	close(tm.done)
	tm.fd.DecRef()
}

// signalForeground sends sig to the foreground process group of the
// controlling terminal of process pid's session, as the terminal would; to pid
// itself if its session has no terminal. It fails with ESRCH if pid does not
// exist.
//
// It is for a process runsc exec started with a terminal. That terminal is not
// the Sentry's controlling terminal on the host (the Sentry has init's, or
// none), so the host sends the signals it generates (^C, ^\, ^Z, SIGWINCH) to
// whichever host process has it as controlling terminal: the runsc exec that
// made it, which passes them on with a control "signal" request for the
// foreground of the exec'd process's terminal, served here.
func signalForeground(k *kernel.Kernel, pid kernel.ThreadID, sig int) error {
	t := k.RootPIDNamespace().TaskWithID(pid)
	if t == nil {
		return linux.ESRCH
	}
	tg := t.ThreadGroup()
	info := &linux.SignalInfo{Signo: int32(sig), Code: linux.SI_KERNEL}
	pgid, ok := host.SessionForeground(k.VFS(), tg.SessionID())
	if !ok || pgid == 0 {
		return tg.SendSignal(info)
	}
	members := k.RootPIDNamespace().ProcessGroupMembers(pgid)
	if len(members) == 0 {
		return linux.ESRCH
	}
	for _, m := range members {
		m.SendSignal(info)
	}
	return nil
}
