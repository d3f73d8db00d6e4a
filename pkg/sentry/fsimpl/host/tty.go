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
)

// termiosSize is the size of the kernel's struct termios that TCGETS and TCSETS*
// move: four flag words, the line discipline and 19 control characters.
const termiosSize = 36

// winsizeSize is the size of struct winsize.
const winsizeSize = 8

// ttyState is what the Sentry keeps of a host terminal: which session of the
// sandbox has it as controlling terminal, and its foreground process group. The
// host terminal's own session and process groups are the host's and mean nothing
// to the sandbox.
type ttyState struct {
	mu sync.Mutex
	// session is the ID of the session whose controlling terminal this is, 0 if
	// none.
	session kernel.ThreadID
	// fg is the foreground process group.
	fg kernel.ThreadID
}

// SetControllingTerminal makes fd, a host terminal, the controlling terminal of
// session sid with foreground process group pgid: what the boot code does for the
// container's init when the container has a terminal, as runc does with
// TIOCSCTTY. It fails with ENOTTY if fd is not a host terminal.
func SetControllingTerminal(fd *vfs.FileDescription, sid, pgid kernel.ThreadID) error {
	f, ok := fd.Impl().(*fileDescription)
	if !ok || f.tty == nil {
		return linux.ENOTTY
	}
	f.tty.mu.Lock()
	defer f.tty.mu.Unlock()
	f.tty.session = sid
	f.tty.fg = pgid
	return nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session == 0 || (t != nil && t.ThreadGroup().SessionID() != s.session) {
		return 0, linux.ENOTTY
	}
	return s.session, nil
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
// (TIOCSCTTY). The caller must lead its session; taking the terminal from another
// session needs steal and CAP_SYS_ADMIN.
func (s *ttyState) setControlling(ctx vfs.Context, steal bool) error {
	t := taskOf(ctx)
	if t == nil {
		return linux.EPERM
	}
	tg := t.ThreadGroup()
	sid := tg.SessionID()
	if sid != t.ThreadGroupID() {
		return linux.EPERM
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session == sid {
		return nil
	}
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
