package host

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Terminal ioctls, from <asm-generic/ioctls.h>.
const (
	TCGETS     = linux.TCGETS
	TCSETS     = linux.TCSETS
	TCSETSW    = 0x5403
	TCSETSF    = 0x5404
	TIOCSCTTY  = 0x540e
	TIOCGPGRP  = linux.TIOCGPGRP
	TIOCSPGRP  = linux.TIOCSPGRP
	TIOCGWINSZ = linux.TIOCGWINSZ
	TIOCSWINSZ = linux.TIOCSWINSZ
	TIOCNOTTY  = 0x5422
	TIOCGSID   = 0x5429
	TCSBRK     = 0x5409
	TCXONC     = 0x540a
	TCFLSH     = 0x540b
	TIOCOUTQ   = 0x5411
)

// termiosSize is the size of the kernel's struct termios that TCGETS and TCSETS*
// move: four flag words, the line discipline and 19 control characters.
const termiosSize = 36

// winsizeSize is the size of struct winsize.
const winsizeSize = 8

// ttyState is what the Sentry keeps of a host terminal: which session of the
// sandbox has it as controlling terminal, and its foreground process group. The
// host terminal's own session and process groups are the host's and mean nothing
// to the sandbox. Every file description of one host terminal in one sandbox
// shares one ttyState (the container's fds 0, 1 and 2 are three host FDs of one
// pty), so that a shell's tcsetpgrp on fd 2 is what a read on fd 0 checks.
type ttyState struct {
	// key is the state's entry in ttys; fds are the file descriptions of the
	// terminal, which use the state (it goes when the last does). Both are
	// guarded by ttys.mu.
	key ttyKey
	fds map[*fileDescription]struct{}

	mu sync.Mutex
	// session is the ID of the session whose controlling terminal this is, 0 if
	// none.
	session kernel.ThreadID
	// fg is the foreground process group.
	fg kernel.ThreadID
	// node is the identity of the terminal's node in the sandbox, if it has
	// one (tty_node.go).
	node *nodeID
}

// ttyKey names a host terminal in a sandbox: the sandbox's VFS (one per kernel)
// and the terminal's device number.
type ttyKey struct {
	vfs  *vfs.VirtualFilesystem
	rdev uint64
}

// ttys holds the ttyState of every host terminal open in the sandbox.
var ttys struct {
	mu sync.Mutex
	m  map[ttyKey]*ttyState
}

// attachTTY gives f, a file description of the host terminal st is the status
// of, in the sandbox of vfsObj, the terminal's state. A terminal with no device
// number (not a character device) gets a state of its own.
func attachTTY(f *fileDescription, vfsObj *vfs.VirtualFilesystem, st *unix.Stat_t) {
	key := ttyKey{vfs: vfsObj, rdev: st.Rdev}
	ttys.mu.Lock()
	defer ttys.mu.Unlock()
	var s *ttyState
	if st.Mode&unix.S_IFMT == unix.S_IFCHR {
		s = ttys.m[key]
	}
	if s == nil {
		s = &ttyState{key: key, fds: make(map[*fileDescription]struct{})}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			if ttys.m == nil {
				ttys.m = make(map[ttyKey]*ttyState)
			}
			ttys.m[key] = s
			registerTerminalDevice(vfsObj, st)
		}
	}
	s.fds[f] = struct{}{}
	f.tty = s
}

// detachTTY takes f from its terminal's state, before its host FD is closed.
func (f *fileDescription) detachTTY() {
	s := f.tty
	ttys.mu.Lock()
	defer ttys.mu.Unlock()
	delete(s.fds, f)
	if len(s.fds) == 0 && ttys.m[s.key] == s {
		delete(ttys.m, s.key)
	}
}

// OpenControllingTerminal opens the calling task's controlling terminal, what
// /dev/tty is: a new file description of the host terminal that is the
// controlling terminal of the task's session (sharing its host open file
// description), readable and writable as flags's access mode says. It fails with
// ENXIO if the session has no host terminal as controlling terminal, as Linux's
// /dev/tty does without one.
func OpenControllingTerminal(ctx vfs.Context, flags uint32) (*vfs.FileDescription, error) {
	t := taskOf(ctx)
	if t == nil {
		return nil, linux.ENXIO
	}
	vfsObj := t.Kernel().VFS()
	sid := t.ThreadGroup().SessionID()
	return openTerminal(vfsObj, flags, func(key ttyKey, s *ttyState) bool {
		return key.vfs == vfsObj && s.session == sid && sid != 0
	})
}

// openTerminal returns a new file description of the first host terminal in
// ttys that match selects (called with the state locked), with flags's access
// mode; ENXIO if there is none.
func openTerminal(vfsObj *vfs.VirtualFilesystem, flags uint32, match func(ttyKey, *ttyState) bool) (*vfs.FileDescription, error) {
	hostFD, err := func() (int, error) {
		ttys.mu.Lock()
		defer ttys.mu.Unlock()
		for key, s := range ttys.m {
			s.mu.Lock()
			ok := match(key, s)
			s.mu.Unlock()
			if !ok {
				continue
			}
			// Any of its FDs: each is open (detachTTY runs before the close).
			for f := range s.fds {
				fd, err := unix.FcntlInt(uintptr(f.hostFD), unix.F_DUPFD_CLOEXEC, 0)
				return fd, hostErr(err)
			}
		}
		return -1, linux.ENXIO
	}()
	if err != nil {
		return nil, err
	}
	return NewFD(vfsObj, hostFD, &Options{
		IsTTY:     true,
		Readonly:  flags&linux.O_ACCMODE == linux.O_RDONLY,
		Writeonly: flags&linux.O_ACCMODE == linux.O_WRONLY,
	})
}

// sessionHasTerminal reports whether session sid of the sandbox of vfsObj has a
// controlling terminal other than except.
func sessionHasTerminal(vfsObj *vfs.VirtualFilesystem, sid kernel.ThreadID, except *ttyState) bool {
	ttys.mu.Lock()
	defer ttys.mu.Unlock()
	for key, s := range ttys.m {
		if key.vfs != vfsObj || s == except {
			continue
		}
		s.mu.Lock()
		has := s.session == sid
		s.mu.Unlock()
		if has {
			return true
		}
	}
	return false
}

// ttyOf returns the terminal state of fd, or ENOTTY.
func ttyOf(fd *vfs.FileDescription) (*ttyState, error) {
	f, ok := fd.Impl().(*fileDescription)
	if !ok || f.tty == nil {
		return nil, linux.ENOTTY
	}
	return f.tty, nil
}

// SetControllingTerminal makes fd, a host terminal, the controlling terminal of
// session sid with foreground process group pgid: what the boot code does for the
// container's init (and runsc exec for a process with a terminal) before it
// runs, as runc's init does with setsid and TIOCSCTTY. It fails with ENOTTY if fd
// is not a host terminal.
func SetControllingTerminal(fd *vfs.FileDescription, sid, pgid kernel.ThreadID) error {
	s, err := ttyOf(fd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session = sid
	s.fg = pgid
	return nil
}

// ForegroundProcessGroup returns the foreground process group of fd, a host
// terminal, and the session it is the controlling terminal of; both are 0 if it
// is nobody's controlling terminal.
func ForegroundProcessGroup(fd *vfs.FileDescription) (pgid, sid kernel.ThreadID, err error) {
	s, err := ttyOf(fd)
	if err != nil {
		return 0, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fg, s.session, nil
}

// SignalForeground sends sig to every process of the foreground process group of
// fd, a host terminal of k's sandbox, as the terminal itself would (si_code
// SI_KERNEL): what the Sentry does with the ^C, ^\, ^Z and window size changes the
// host terminal signals to the Sentry. It fails with ESRCH if the terminal has no
// foreground process group with a live process.
func SignalForeground(k *kernel.Kernel, fd *vfs.FileDescription, sig int) error {
	pgid, _, err := ForegroundProcessGroup(fd)
	if err != nil {
		return err
	}
	if pgid == 0 {
		return linux.ESRCH
	}
	return signalProcessGroup(k, pgid, sig)
}

// SessionForeground returns the foreground process group of the controlling
// terminal of session sid, in the sandbox whose VFS is vfsObj, if the session has
// a host terminal as controlling terminal: whom a signal for "the foreground of
// that process's terminal" is for (^C forwarded by runsc exec).
func SessionForeground(vfsObj *vfs.VirtualFilesystem, sid kernel.ThreadID) (kernel.ThreadID, bool) {
	ttys.mu.Lock()
	defer ttys.mu.Unlock()
	for key, s := range ttys.m {
		if key.vfs != vfsObj {
			continue
		}
		s.mu.Lock()
		session, fg := s.session, s.fg
		s.mu.Unlock()
		if session == sid && sid != 0 {
			return fg, true
		}
	}
	return 0, false
}

// signalProcessGroup sends sig to each process of the process group pgid, as
// the kernel's terminal code does (kill_pgrp with priv set).
func signalProcessGroup(k *kernel.Kernel, pgid kernel.ThreadID, sig int) error {
	members := k.RootPIDNamespace().ProcessGroupMembers(pgid)
	sent := false
	for _, tg := range members {
		if tg.SendSignal(&linux.SignalInfo{Signo: int32(sig), Code: linux.SI_KERNEL}) == nil {
			sent = true
		}
	}
	if !sent {
		return linux.ESRCH
	}
	return nil
}

// checkChange is Linux's __tty_check_change, the heart of job control: a process
// of a background process group of the session whose controlling terminal this
// is may not read it (sig SIGTTIN), nor change its settings or write to it with
// TOSTOP set (sig SIGTTOU). Its whole process group gets sig, which stops it by
// default, and the call is restarted once it continues (in the foreground, if the
// shell put it there). A caller that ignores or blocks sig may go ahead, except
// that reading then fails with EIO; so does a process group with nobody in the
// session left to continue it (an orphaned one). Processes of other sessions, and
// the Sentry's own calls, are not subject to job control.
func (s *ttyState) checkChange(ctx vfs.Context, sig int) error {
	t := taskOf(ctx)
	if t == nil {
		return nil
	}
	pgid, background := s.background(t)
	if !background {
		return nil
	}
	if signalIgnoredOrBlocked(t, sig) {
		if sig == linux.SIGTTIN {
			return linux.EIO
		}
		return nil
	}
	if orphanedProcessGroup(t.Kernel(), pgid) {
		return linux.EIO
	}
	signalProcessGroup(t.Kernel(), pgid, sig)
	return kernel.ERESTARTSYS
}

// background returns t's process group and whether it is a background process
// group of the session whose controlling terminal this is.
func (s *ttyState) background(t *kernel.Task) (kernel.ThreadID, bool) {
	tg := t.ThreadGroup()
	s.mu.Lock()
	sid, fg := s.session, s.fg
	s.mu.Unlock()
	if sid == 0 || fg == 0 || tg.SessionID() != sid {
		return 0, false
	}
	// Only now, for a caller in the session: the check costs a lookup.
	if sid, fg = s.sessionOf(t.Kernel()); sid == 0 {
		return 0, false
	}
	pgid := tg.ProcessGroupID()
	return pgid, pgid != fg
}

// signalIgnoredOrBlocked is Linux's is_ignored: t blocks sig or its process
// ignores it.
func signalIgnoredOrBlocked(t *kernel.Task, sig int) bool {
	set := linux.SignalSetOf(sig)
	if t.SignalMask()&set != 0 {
		return true
	}
	ignored, _ := t.ThreadGroup().SignalDispositions()
	return ignored&set != 0
}

// orphanedProcessGroup reports whether the process group pgid is orphaned: no
// member has a parent in another process group of the same session, so no shell
// is left to continue it if it stopped (Linux's will_become_orphaned_pgrp).
func orphanedProcessGroup(k *kernel.Kernel, pgid kernel.ThreadID) bool {
	ns := k.RootPIDNamespace()
	for _, tg := range ns.ProcessGroupMembers(pgid) {
		leader := tg.Leader()
		if leader == nil || tg.Zombie() {
			continue
		}
		ppid := leader.ParentThreadGroupID()
		if ppid == 0 {
			continue
		}
		parent := ns.TaskWithID(ppid)
		if parent == nil {
			continue
		}
		ptg := parent.ThreadGroup()
		if ptg.ProcessGroupID() != pgid && ptg.SessionID() == tg.SessionID() {
			return false
		}
	}
	return true
}

// checkRead applies job control to a read of the terminal.
func (f *fileDescription) ttyCheckRead(ctx vfs.Context) error {
	return f.tty.checkChange(ctx, linux.SIGTTIN)
}

// checkWrite applies job control to a write to the terminal: it matters only with
// TOSTOP set, which is read from the host terminal, and only for a background
// process, checked first.
func (f *fileDescription) ttyCheckWrite(ctx vfs.Context) error {
	t := taskOf(ctx)
	if t == nil {
		return nil
	}
	if _, background := f.tty.background(t); !background {
		return nil
	}
	tios, err := unix.IoctlGetTermios(int(f.hostFD), unix.TCGETS)
	if err != nil || tios.Lflag&unix.TOSTOP == 0 {
		return nil
	}
	return f.tty.checkChange(ctx, linux.SIGTTOU)
}

// ttyIoctl serves the terminal ioctls.
func (f *fileDescription) ttyIoctl(ctx vfs.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	fd := int(f.hostFD)
	switch cmd {
	case TCGETS:
		tios, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return 0, hostErr(err)
		}
		_, err = mem.CopyOut(arg, marshalTermios(tios))
		return 0, err

	case TCSETS, TCSETSW, TCSETSF:
		if err := f.tty.checkChange(ctx, linux.SIGTTOU); err != nil {
			return 0, err
		}
		var b [termiosSize]byte
		if _, err := mem.CopyIn(arg, b[:]); err != nil {
			return 0, err
		}
		tios := unmarshalTermios(b[:])
		// The host terminal is the container's own: setting its modes affects
		// nothing outside the container.
		return 0, hostErr(unix.IoctlSetTermios(fd, uint(cmd), tios))

	case TIOCGWINSZ:
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil {
			return 0, hostErr(err)
		}
		var b [winsizeSize]byte
		binary.LittleEndian.PutUint16(b[0:], ws.Row)
		binary.LittleEndian.PutUint16(b[2:], ws.Col)
		binary.LittleEndian.PutUint16(b[4:], ws.Xpixel)
		binary.LittleEndian.PutUint16(b[6:], ws.Ypixel)
		_, err = mem.CopyOut(arg, b[:])
		return 0, err

	case TIOCSWINSZ:
		var b [winsizeSize]byte
		if _, err := mem.CopyIn(arg, b[:]); err != nil {
			return 0, err
		}
		ws := &unix.Winsize{
			Row:    binary.LittleEndian.Uint16(b[0:]),
			Col:    binary.LittleEndian.Uint16(b[2:]),
			Xpixel: binary.LittleEndian.Uint16(b[4:]),
			Ypixel: binary.LittleEndian.Uint16(b[6:]),
		}
		return 0, hostErr(unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws))

	case TCSBRK, TCXONC, TCFLSH:
		// tcdrain, tcflow and tcflush act on the container's own terminal's
		// queues; the argument is a number, not an address.
		if err := f.tty.checkChange(ctx, linux.SIGTTOU); err != nil {
			return 0, err
		}
		if cmd == TCSBRK && arg == 0 {
			// A break is meaningless on a pty: Linux's pty driver ignores it.
			return 0, nil
		}
		return 0, hostErr(unix.IoctlSetInt(fd, uint(cmd), int(arg)))

	case TIOCOUTQ:
		n, err := unix.IoctlGetInt(fd, unix.TIOCOUTQ)
		if err != nil {
			return 0, hostErr(err)
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(n))
		_, err = mem.CopyOut(arg, b[:])
		return 0, err

	case TIOCSCTTY:
		return 0, f.tty.setControlling(ctx, arg == 1)

	case TIOCNOTTY:
		return 0, f.tty.release(ctx)

	case TIOCGPGRP:
		pgid, err := f.tty.foreground(ctx)
		if err != nil {
			return 0, err
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(pgid))
		_, err = mem.CopyOut(arg, b[:])
		return 0, err

	case TIOCSPGRP:
		// A background process may not take the terminal unless it ignores or
		// blocks SIGTTOU, as shells do around tcsetpgrp.
		if err := f.tty.checkChange(ctx, linux.SIGTTOU); err != nil {
			if err == linux.EIO {
				return 0, linux.ENOTTY
			}
			return 0, err
		}
		var b [4]byte
		if _, err := mem.CopyIn(arg, b[:]); err != nil {
			return 0, err
		}
		return 0, f.tty.setForeground(ctx, kernel.ThreadID(int32(binary.LittleEndian.Uint32(b[:]))))

	case TIOCGSID:
		sid, err := f.tty.controllingSession(ctx)
		if err != nil {
			return 0, err
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(sid))
		_, err = mem.CopyOut(arg, b[:])
		return 0, err
	}
	return 0, linux.ENOTTY
}

func marshalTermios(t *unix.Termios) []byte {
	b := make([]byte, termiosSize)
	binary.LittleEndian.PutUint32(b[0:], t.Iflag)
	binary.LittleEndian.PutUint32(b[4:], t.Oflag)
	binary.LittleEndian.PutUint32(b[8:], t.Cflag)
	binary.LittleEndian.PutUint32(b[12:], t.Lflag)
	b[16] = t.Line
	copy(b[17:], t.Cc[:])
	return b
}

func unmarshalTermios(b []byte) *unix.Termios {
	t := &unix.Termios{
		Iflag: binary.LittleEndian.Uint32(b[0:]),
		Oflag: binary.LittleEndian.Uint32(b[4:]),
		Cflag: binary.LittleEndian.Uint32(b[8:]),
		Lflag: binary.LittleEndian.Uint32(b[12:]),
		Line:  b[16],
	}
	copy(t.Cc[:], b[17:termiosSize])
	return t
}

// taskOf returns the task ctx is, or nil for the kernel's own contexts.
func taskOf(ctx vfs.Context) *kernel.Task {
	t, _ := ctx.(*kernel.Task)
	return t
}

// controllingSession returns the session whose controlling terminal this is,
// failing with ENOTTY unless it is the caller's.
func (s *ttyState) controllingSession(ctx vfs.Context) (kernel.ThreadID, error) {
	t := taskOf(ctx)
	var k *kernel.Kernel
	if t != nil {
		k = t.Kernel()
	}
	sid, _ := s.sessionOf(k)
	if sid == 0 || (t != nil && t.ThreadGroup().SessionID() != sid) {
		return 0, linux.ENOTTY
	}
	return sid, nil
}

// sessionOf returns the session whose controlling terminal this is and its
// foreground process group. A session whose leader has exited has none: Linux
// takes the terminal from the session then (disassociate_ctty), so the
// terminal is forgotten here, and a later session that gets the old leader's
// ID does not find itself with a terminal. k nil skips the check (the Sentry's
// own calls).
func (s *ttyState) sessionOf(k *kernel.Kernel) (sid, fg kernel.ThreadID) {
	s.mu.Lock()
	sid, fg = s.session, s.fg
	s.mu.Unlock()
	if sid == 0 || k == nil || !sessionLeaderGone(k, sid) {
		return sid, fg
	}
	s.mu.Lock()
	if s.session == sid {
		s.session, s.fg = 0, 0
	}
	s.mu.Unlock()
	return 0, 0
}

// sessionLeaderGone reports whether the leader of session sid has exited. The
// leader is in the process group numbered sid as long as it lives (a session
// leader cannot change its process group).
func sessionLeaderGone(k *kernel.Kernel, sid kernel.ThreadID) bool {
	for _, tg := range k.RootPIDNamespace().ProcessGroupMembers(sid) {
		if tg.ID() == sid && !tg.Zombie() {
			return false
		}
	}
	return true
}

// foreground returns the foreground process group (TIOCGPGRP).
func (s *ttyState) foreground(ctx vfs.Context) (kernel.ThreadID, error) {
	if _, err := s.controllingSession(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fg, nil
}

// setForeground sets the foreground process group (TIOCSPGRP): it must be a
// process group of the caller's session, whose controlling terminal this must be.
func (s *ttyState) setForeground(ctx vfs.Context, pgid kernel.ThreadID) error {
	sid, err := s.controllingSession(ctx)
	if err != nil {
		return err
	}
	if pgid < 0 {
		return linux.EINVAL
	}
	if t := taskOf(ctx); t != nil {
		members := t.Kernel().RootPIDNamespace().ProcessGroupMembers(pgid)
		if len(members) == 0 {
			return linux.ESRCH
		}
		if members[0].SessionID() != sid {
			return linux.EPERM
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fg = pgid
	return nil
}

// setControlling makes this the controlling terminal of the caller's session
// (TIOCSCTTY). The caller must lead its session and have no controlling terminal
// yet; taking the terminal from another session needs steal and CAP_SYS_ADMIN.
func (s *ttyState) setControlling(ctx vfs.Context, steal bool) error {
	t := taskOf(ctx)
	if t == nil {
		return linux.EPERM
	}
	tg := t.ThreadGroup()
	sid := tg.SessionID()
	if held, _ := s.sessionOf(t.Kernel()); held == sid {
		return nil
	}
	if sid != t.ThreadGroupID() || sessionHasTerminal(s.key.vfs, sid, s) {
		return linux.EPERM
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session != 0 && !(steal && t.Credentials().HasCapability(linux.CAP_SYS_ADMIN)) {
		return linux.EPERM
	}
	s.session = sid
	s.fg = tg.ProcessGroupID()
	return nil
}

// release gives up the terminal as the caller's controlling terminal (TIOCNOTTY).
func (s *ttyState) release(ctx vfs.Context) error {
	if _, err := s.controllingSession(ctx); err != nil {
		return err
	}
	t := taskOf(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only the session leader's giving it up detaches the session.
	if t == nil || t.ThreadGroup().SessionID() == t.ThreadGroupID() {
		s.session, s.fg = 0, 0
	}
	return nil
}
