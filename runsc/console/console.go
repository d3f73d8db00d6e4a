// Package console makes the host pseudo-terminal of a container started with
// process.terminal=true and hands its master to whoever asked for it, as runc
// does.
//
// The flow (runsc create --console-socket S, or runsc exec --tty with one):
// NewPty opens a host pty pair; SendMaster connects to the unix socket S that the
// caller (containerd's shim, docker, a recvtty-style tool) listens on and sends it
// the master with SCM_RIGHTS, the message's payload being the master's name, as
// runc's utils.SendFile does; the replica becomes the container's stdio: fds 0,
// 1 and 2 of the Sentry for the container's init, or the one fd of an exec
// request. The Sentry makes it the controlling terminal of the process's session
// (see pkg/sentry/fsimpl/host). The caller then drives the master: it copies
// bytes and sets the window size with TIOCSWINSZ, which the Sentry turns into
// SIGWINCH for the container's foreground process group.
//
// Everything here runs on the host, in the runsc command, never in the Sentry.
package console

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// ptmxPath is the host's pty multiplexer.
const ptmxPath = "/dev/ptmx"

// NewPty opens a new host pseudo-terminal pair. The master is opened from
// /dev/ptmx and unlocked; the replica is opened with O_NOCTTY, so that it does not
// become the controlling terminal of the calling runsc. Both are close-on-exec:
// the caller passes the replica to the Sentry explicitly (as its stdio). The
// replica is named after its /dev/pts path (what ttyname(3) would say on the
// host), the master "/dev/ptmx".
func NewPty() (master, replica *os.File, err error) {
	mfd, err := unix.Open(ptmxPath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", ptmxPath, err)
	}
	master = os.NewFile(uintptr(mfd), ptmxPath)
	defer func() {
		if err != nil {
			master.Close()
		}
	}()
	// unlockpt(3): a new pty's replica cannot be opened until it is unlocked.
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, nil, fmt.Errorf("unlocking the pty (TIOCSPTLCK): %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return nil, nil, fmt.Errorf("getting the pty number (TIOCGPTN): %w", err)
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	rfd, err := openReplica(mfd, name)
	if err != nil {
		return nil, nil, err
	}
	return master, os.NewFile(uintptr(rfd), name), nil
}

// openReplica opens the replica of the pty whose master is mfd. TIOCGPTPEER
// (Linux 4.13) opens it through the master, so the right one is opened even when
// /dev/pts is not the devpts instance /dev/ptmx belongs to; older kernels fall
// back to the path, as runc does.
func openReplica(mfd int, name string) (int, error) {
	const flags = unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC
	fd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, flags)
	if errno == 0 {
		return int(fd), nil
	}
	if errno != unix.EINVAL && errno != unix.ENOTTY {
		return -1, fmt.Errorf("opening the pty replica (TIOCGPTPEER): %w", errno)
	}
	rfd, err := unix.Open(name, flags, 0)
	if err != nil {
		return -1, fmt.Errorf("opening the pty replica %s: %w", name, err)
	}
	return rfd, nil
}

// SendMaster connects to the unix stream socket at socketPath (the
// --console-socket) and sends master over it: one message whose payload is the
// master's name and whose control message carries its fd (SCM_RIGHTS), exactly
// what runc sends and what containerd's go-runc ReceiveMaster and runc's
// recvtty read. The caller keeps master and should close it afterwards: the
// receiver has its own copy.
//
// A path too long for sun_path (108 bytes, paths under deep state directories)
// is reached through /proc/self/fd of its directory.
func SendMaster(socketPath string, master *os.File) error {
	if master == nil {
		return errors.New("console: no master to send")
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("creating a socket for the console socket: %w", err)
	}
	defer unix.Close(fd)
	if err := connect(fd, socketPath); err != nil {
		return fmt.Errorf("connecting to the console socket %s: %w", socketPath, err)
	}
	name := master.Name()
	if name == "" {
		name = ptmxPath
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(fd, []byte(name), rights, nil, 0); err != nil {
		return fmt.Errorf("sending the pty master to %s: %w", socketPath, err)
	}
	return nil
}

// maxSunPath is the longest path a sockaddr_un holds, with its NUL.
const maxSunPath = 107

// connect connects fd to the unix socket at path, through an O_PATH fd of its
// directory if path is too long for sun_path.
func connect(fd int, path string) error {
	if len(path) <= maxSunPath {
		return unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	}
	dir, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	short := "/proc/self/fd/" + strconv.Itoa(dir) + "/" + filepath.Base(path)
	if len(short) > maxSunPath {
		return unix.ENAMETOOLONG
	}
	return unix.Connect(fd, &unix.SockaddrUnix{Name: short})
}

// Winsize returns the window size of the terminal f.
func Winsize(f *os.File) (*unix.Winsize, error) {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return nil, fmt.Errorf("getting the window size of %s: %w", f.Name(), err)
	}
	return ws, nil
}

// SetWinsize sets the window size of the terminal f (either side of a pty): the
// kernel sends SIGWINCH to the terminal's foreground process group if it
// changed.
func SetWinsize(f *os.File, ws *unix.Winsize) error {
	if err := unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		return fmt.Errorf("setting the window size of %s: %w", f.Name(), err)
	}
	return nil
}

// CopyWinsize gives the terminal dst the window size of the terminal src: what
// `runsc run` and `runsc exec --tty` in the foreground do from the user's
// terminal to the container's pty, at start and on each SIGWINCH.
func CopyWinsize(dst, src *os.File) error {
	ws, err := Winsize(src)
	if err != nil {
		return err
	}
	return SetWinsize(dst, ws)
}

// TerminalSignals are the signals a terminal's line discipline sends on its own
// to the foreground process group of the session it is the controlling
// terminal of: ^C, ^\, ^Z, and a window size change (TIOCSWINSZ on the master).
// SIGHUP, sent to the session leader when the master is closed, is the other
// signal a controlling terminal brings.
var TerminalSignals = []os.Signal{unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGWINCH}

// ForwardSignals makes tty the calling process's controlling terminal and calls
// forward with each of TerminalSignals and SIGHUP the process then gets, until
// stop is called. It is for a runsc process that hands tty to a process in the
// sandbox (runsc exec with a terminal): the host kernel knows nothing of the
// sandbox's process groups, so the signals the terminal generates must go to
// some host process, which passes them on (a control "signal" request for the
// foreground process group of the sandboxed process's terminal; SIGHUP for the
// process itself, its session's leader).
//
// The caller must lead a session (started with Setsid) with no controlling
// terminal, and tty must be nobody's controlling terminal yet, as a pty made by
// NewPty is: it never steals a terminal. Or tty is the caller's controlling
// terminal already (runsc exec --tty on the user's terminal): then only the
// signals it gets while in the foreground are forwarded. While forwarding, the
// caller's own process group is the terminal's foreground one, so it must not
// read or write tty itself if the process in the sandbox makes another group
// foreground.
func ForwardSignals(tty *os.File, forward func(unix.Signal)) (stop func(), err error) {
	sigs := make(chan os.Signal, 16)
	// Before the terminal is ours: from then on ^Z could stop us.
	signal.Notify(sigs, append([]os.Signal{unix.SIGHUP}, TerminalSignals...)...)
	if !isControllingTerminal(tty) {
		if err := unix.IoctlSetInt(int(tty.Fd()), unix.TIOCSCTTY, 0); err != nil {
			signal.Stop(sigs)
			return nil, fmt.Errorf("making %s the controlling terminal (TIOCSCTTY): %w", tty.Name(), err)
		}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case s := <-sigs:
				forward(s.(unix.Signal))
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-finished
	}, nil
}

// isControllingTerminal reports whether tty is the calling process's controlling
// terminal: the terminal's session is the caller's.
func isControllingTerminal(tty *os.File) bool {
	sid, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGSID)
	if err != nil {
		return false
	}
	own, err := unix.Getsid(0)
	return err == nil && own == sid
}
