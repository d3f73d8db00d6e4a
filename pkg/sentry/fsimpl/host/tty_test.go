package host

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// ttyEnv is a kernel with two processes, each leading a session of its own, and
// a host pty whose replica is open twice in the sandbox (as fds 0 and 1 are).
type ttyEnv struct {
	k        *kernel.Kernel
	vfs      *vfs.VirtualFilesystem
	a, b     *kernel.Task
	master   int
	replica  int // the host FD under f1
	f1, f2   *vfs.FileDescription
	mem      *fakeMemory
	sidA     kernel.ThreadID
	sidB     kernel.ThreadID
	noSuchPG kernel.ThreadID
}

func newTTYEnv(t *testing.T) *ttyEnv {
	t.Helper()
	vfsObj := vfs.New()
	k, err := kernel.New(kernel.Config{Syscalls: &kernel.SyscallTable{}, VFS: vfsObj, TotalMemory: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	a, err := k.NewTestProcess(creds, nil, nil, nil, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.NewTestProcess(creds, nil, nil, nil, "b")
	if err != nil {
		t.Fatal(err)
	}
	master, replica := openPTY(t)
	t.Cleanup(func() { unix.Close(master) })
	dup, err := unix.FcntlInt(uintptr(replica), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f1, err := NewFD(vfsObj, replica, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f1.DecRef() })
	f2, err := NewFD(vfsObj, dup, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f2.DecRef() })
	return &ttyEnv{
		k: k, vfs: vfsObj, a: a, b: b, master: master, replica: replica, f1: f1, f2: f2,
		mem:  &fakeMemory{},
		sidA: a.ThreadGroup().SessionID(), sidB: b.ThreadGroup().SessionID(),
		noSuchPG: 4242,
	}
}

// setTOSTOP turns the host terminal's TOSTOP on or off.
func (e *ttyEnv) setTOSTOP(t *testing.T, on bool) {
	t.Helper()
	tios, err := unix.IoctlGetTermios(e.replica, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if on {
		tios.Lflag |= unix.TOSTOP
	} else {
		tios.Lflag &^= unix.TOSTOP
	}
	if err := unix.IoctlSetTermios(e.replica, unix.TCSETS, tios); err != nil {
		t.Fatal(err)
	}
}

// tcsets sets the terminal's current modes again through f, as t.
func (e *ttyEnv) tcsets(t *kernel.Task, f *vfs.FileDescription) error {
	if _, err := f.Ioctl(t, e.mem, TCGETS, fakeAddr); err != nil {
		return err
	}
	_, err := f.Ioctl(t, e.mem, TCSETS, fakeAddr)
	return err
}

// tiocspgrp makes pgid the foreground process group through f, as t.
func (e *ttyEnv) tiocspgrp(t *kernel.Task, f *vfs.FileDescription, pgid kernel.ThreadID) error {
	binary.LittleEndian.PutUint32(e.mem.buf[:], uint32(pgid))
	_, err := f.Ioctl(t, e.mem, TIOCSPGRP, fakeAddr)
	return err
}

func TestTTYStateIsSharedByEveryFDOfOneTerminal(t *testing.T) {
	e := newTTYEnv(t)
	if err := SetControllingTerminal(e.f1, e.sidA, e.sidA); err != nil {
		t.Fatal(err)
	}
	pg, sid, err := ForegroundProcessGroup(e.f2)
	if err != nil || pg != e.sidA || sid != e.sidA {
		t.Errorf("ForegroundProcessGroup(other fd) = %d, %d, %v; want %d, %d", pg, sid, err, e.sidA, e.sidA)
	}
	// TIOCGPGRP through the other FD, as a shell's tcgetpgrp on fd 2.
	if _, err := e.f2.Ioctl(e.a, e.mem, TIOCGPGRP, fakeAddr); err != nil {
		t.Fatalf("TIOCGPGRP: %v", err)
	}
	if got := kernel.ThreadID(binary.LittleEndian.Uint32(e.mem.buf[:])); got != e.sidA {
		t.Errorf("TIOCGPGRP = %d, want %d", got, e.sidA)
	}
	// Another session has no business with it.
	if _, err := e.f2.Ioctl(e.b, e.mem, TIOCGPGRP, fakeAddr); err != linux.ENOTTY {
		t.Errorf("TIOCGPGRP from another session: %v, want ENOTTY", err)
	}
	// Once every FD is gone, a new FD of the same terminal starts afresh.
	vfsObj := vfs.New()
	dup, _ := unix.FcntlInt(uintptr(e.replica), unix.F_DUPFD_CLOEXEC, 0)
	f3, err := NewFD(vfsObj, dup, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, sid, _ := ForegroundProcessGroup(f3); sid != 0 {
		t.Errorf("the same terminal in another sandbox has session %d, want none", sid)
	}
	f3.DecRef()
	if _, _, err := ForegroundProcessGroup(hostPipeFD(t)); err != linux.ENOTTY {
		t.Errorf("ForegroundProcessGroup(pipe) = %v, want ENOTTY", err)
	}
}

// hostPipeFD returns the read end of a host pipe as a file description.
func hostPipeFD(t *testing.T) *vfs.FileDescription {
	r, _ := hostPipe(t)
	t.Cleanup(func() { r.DecRef() })
	return r
}

func TestTIOCSCTTY(t *testing.T) {
	e := newTTYEnv(t)
	// B takes the terminal nobody has; it becomes its foreground group.
	if _, err := e.f1.Ioctl(e.b, e.mem, TIOCSCTTY, 0); err != nil {
		t.Fatalf("TIOCSCTTY by a session leader: %v", err)
	}
	if pg, sid, _ := ForegroundProcessGroup(e.f1); pg != e.sidB || sid != e.sidB {
		t.Errorf("after TIOCSCTTY: foreground %d of session %d, want %d of %d", pg, sid, e.sidB, e.sidB)
	}
	// Again by the same session: nothing to do.
	if _, err := e.f2.Ioctl(e.b, e.mem, TIOCSCTTY, 0); err != nil {
		t.Errorf("TIOCSCTTY by the owning session: %v", err)
	}
	// A may steal it only by asking to (A is root, with CAP_SYS_ADMIN).
	if _, err := e.f1.Ioctl(e.a, e.mem, TIOCSCTTY, 0); err != linux.EPERM {
		t.Errorf("TIOCSCTTY of another session's terminal: %v, want EPERM", err)
	}
	// B cannot take a second terminal.
	master2, replica2 := openPTY(t)
	defer unix.Close(master2)
	other, err := NewFD(e.vfs, replica2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.DecRef()
	if _, err := other.Ioctl(e.b, e.mem, TIOCSCTTY, 0); err != linux.EPERM {
		t.Errorf("TIOCSCTTY of a second terminal: %v, want EPERM", err)
	}
	if _, err := e.f1.Ioctl(e.a, e.mem, TIOCSCTTY, 1); err != nil {
		t.Errorf("TIOCSCTTY with steal by a privileged leader: %v", err)
	}
	if _, sid, _ := ForegroundProcessGroup(e.f1); sid != e.sidA {
		t.Errorf("after the steal: session %d, want %d", sid, e.sidA)
	}
	// B lost it, so it may take the second one now.
	if _, err := other.Ioctl(e.b, e.mem, TIOCSCTTY, 0); err != nil {
		t.Errorf("TIOCSCTTY of a second terminal after losing the first: %v", err)
	}
}

func TestJobControl(t *testing.T) {
	// A's session has the terminal. A's process group has no parent outside it,
	// so it is orphaned: a background A cannot be stopped and gets EIO instead
	// (the stop-and-restart path needs a shell and runs in the runsc tests).
	type setup struct {
		fg      bool // A's group is the foreground one
		tostop  bool
		ignore  int // a signal A ignores
		block   int // a signal A blocks
		session kernel.ThreadID
	}
	tests := []struct {
		name  string
		setup setup
		// The caller is B instead of A.
		asB                        bool
		wantRead, wantWrite        error
		wantTCSETS, wantTIOCSPGRP  error
		wantForegroundAfterSetPgrp bool
	}{
		{name: "foreground", setup: setup{fg: true, tostop: true}, wantTIOCSPGRP: nil, wantForegroundAfterSetPgrp: true},
		{name: "background orphaned", setup: setup{}, wantRead: linux.EIO, wantTCSETS: linux.EIO, wantTIOCSPGRP: linux.ENOTTY},
		{name: "background with TOSTOP", setup: setup{tostop: true}, wantRead: linux.EIO, wantWrite: linux.EIO, wantTCSETS: linux.EIO, wantTIOCSPGRP: linux.ENOTTY},
		{name: "background ignoring SIGTTIN", setup: setup{ignore: linux.SIGTTIN}, wantRead: linux.EIO, wantTCSETS: linux.EIO, wantTIOCSPGRP: linux.ENOTTY},
		{name: "background ignoring SIGTTOU", setup: setup{ignore: linux.SIGTTOU, tostop: true}, wantRead: linux.EIO, wantForegroundAfterSetPgrp: true},
		{name: "background blocking SIGTTOU", setup: setup{block: linux.SIGTTOU, tostop: true}, wantRead: linux.EIO, wantForegroundAfterSetPgrp: true},
		{name: "another session", setup: setup{tostop: true}, asB: true, wantTIOCSPGRP: linux.ENOTTY},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTTYEnv(t)
			fg := e.noSuchPG
			if tc.setup.fg {
				fg = e.sidA
			}
			if err := SetControllingTerminal(e.f1, e.sidA, fg); err != nil {
				t.Fatal(err)
			}
			e.setTOSTOP(t, tc.setup.tostop)
			if tc.setup.ignore != 0 {
				if _, err := e.a.SigAction(tc.setup.ignore, &linux.SigAction{Handler: linux.SIG_IGN}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.setup.block != 0 {
				e.a.SetSignalMask(linux.SignalSetOf(tc.setup.block))
			}
			caller := e.a
			if tc.asB {
				caller = e.b
			}
			// Something to read, so that an allowed read does not block.
			if _, err := unix.Write(e.master, []byte("x\n")); err != nil {
				t.Fatal(err)
			}
			waitReadable(t, e.f1)

			buf := make([]byte, 8)
			if _, err := e.f2.Read(caller, buf, vfs.ReadOptions{}); err != tc.wantRead {
				t.Errorf("read: %v, want %v", err, tc.wantRead)
			}
			if _, err := e.f1.Write(caller, []byte("y"), vfs.WriteOptions{}); err != tc.wantWrite {
				t.Errorf("write: %v, want %v", err, tc.wantWrite)
			}
			if err := e.tcsets(caller, e.f2); err != tc.wantTCSETS {
				t.Errorf("TCSETS: %v, want %v", err, tc.wantTCSETS)
			}
			if err := e.tiocspgrp(caller, e.f1, e.sidA); err != tc.wantTIOCSPGRP {
				t.Errorf("TIOCSPGRP: %v, want %v", err, tc.wantTIOCSPGRP)
			}
			pg, _, _ := ForegroundProcessGroup(e.f1)
			if got := pg == e.sidA; got != tc.wantForegroundAfterSetPgrp {
				t.Errorf("foreground group %d after TIOCSPGRP: A's is foreground = %v, want %v", pg, got, tc.wantForegroundAfterSetPgrp)
			}
			// No job control signal was sent: every case here is one where
			// Linux sends none.
			_, shared := e.a.PendingSignalSets()
			if stop := linux.SignalSetOf(linux.SIGTTIN) | linux.SignalSetOf(linux.SIGTTOU); shared&stop != 0 {
				t.Errorf("A has pending %#x, want no SIGTTIN or SIGTTOU", shared&stop)
			}
		})
	}
}

func TestTIOCSPGRPChecksTheGroup(t *testing.T) {
	e := newTTYEnv(t)
	if err := SetControllingTerminal(e.f1, e.sidA, e.sidA); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pgid kernel.ThreadID
		want error
	}{
		{"own group", e.sidA, nil},
		{"negative", -1, linux.EINVAL},
		{"no such group", e.noSuchPG, linux.ESRCH},
		{"another session's group", e.sidB, linux.EPERM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.tiocspgrp(e.a, e.f1, tc.pgid); err != tc.want {
				t.Errorf("TIOCSPGRP %d: %v, want %v", tc.pgid, err, tc.want)
			}
		})
	}
}

func TestSignalForeground(t *testing.T) {
	e := newTTYEnv(t)
	if err := SignalForeground(e.k, e.f1, linux.SIGINT); err != linux.ESRCH {
		t.Errorf("SignalForeground without a session: %v, want ESRCH", err)
	}
	if err := SetControllingTerminal(e.f1, e.sidA, e.sidA); err != nil {
		t.Fatal(err)
	}
	if err := SignalForeground(e.k, e.f2, linux.SIGINT); err != nil {
		t.Fatalf("SignalForeground: %v", err)
	}
	if _, shared := e.a.PendingSignalSets(); shared&linux.SignalSetOf(linux.SIGINT) == 0 {
		t.Errorf("A's pending signals %#x, want SIGINT", shared)
	}
	if _, shared := e.b.PendingSignalSets(); shared != 0 {
		t.Errorf("B (another session) has pending signals %#x", shared)
	}
	if err := SetControllingTerminal(e.f1, e.sidA, e.noSuchPG); err != nil {
		t.Fatal(err)
	}
	if err := SignalForeground(e.k, e.f1, linux.SIGINT); err != linux.ESRCH {
		t.Errorf("SignalForeground to a group with no process: %v, want ESRCH", err)
	}
}

// waitReadable waits until the host terminal under f has input.
func waitReadable(t *testing.T, f *vfs.FileDescription) {
	t.Helper()
	hfd, _ := HostFD(f)
	pfd := []unix.PollFd{{Fd: int32(hfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
		t.Fatalf("terminal not readable: %d, %v", n, err)
	}
}

func TestOpenControllingTerminal(t *testing.T) {
	e := newTTYEnv(t)
	if _, err := OpenControllingTerminal(e.a, linux.O_RDWR); err != linux.ENXIO {
		t.Errorf("open /dev/tty without a controlling terminal: %v, want ENXIO", err)
	}
	if err := SetControllingTerminal(e.f1, e.sidA, e.sidA); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name               string
		ctx                vfs.Context
		flags              uint32
		wantErr            error
		readable, writable bool
	}{
		{name: "session with the terminal", ctx: e.a, flags: linux.O_RDWR, readable: true, writable: true},
		{name: "read-only", ctx: e.a, flags: linux.O_RDONLY, readable: true},
		{name: "write-only", ctx: e.a, flags: linux.O_WRONLY, writable: true},
		{name: "another session", ctx: e.b, flags: linux.O_RDWR, wantErr: linux.ENXIO},
		{name: "not a task", ctx: testCtx(), flags: linux.O_RDWR, wantErr: linux.ENXIO},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := OpenControllingTerminal(tc.ctx, tc.flags)
			if err != tc.wantErr {
				t.Fatalf("OpenControllingTerminal: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer fd.DecRef()
			if !IsTTY(fd) || fd.IsReadable() != tc.readable || fd.IsWritable() != tc.writable {
				t.Errorf("tty %v, readable %v, writable %v; want a terminal, %v, %v", IsTTY(fd), fd.IsReadable(), fd.IsWritable(), tc.readable, tc.writable)
			}
			// It is the same terminal: its state is shared, and bytes typed
			// on the master come out of it.
			if pg, sid, _ := ForegroundProcessGroup(fd); pg != e.sidA || sid != e.sidA {
				t.Errorf("/dev/tty's foreground %d of session %d, want %d of %d", pg, sid, e.sidA, e.sidA)
			}
			if !tc.readable {
				return
			}
			if _, err := unix.Write(e.master, []byte("z\n")); err != nil {
				t.Fatal(err)
			}
			waitReadable(t, fd)
			buf := make([]byte, 8)
			if n, err := fd.Read(e.a, buf, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "z\n" {
				t.Errorf("read /dev/tty = %q, %v; want %q", buf[:n], err, "z\n")
			}
		})
	}
}

func TestTerminalNode(t *testing.T) {
	e := newTTYEnv(t)
	var st unix.Stat_t
	if err := unix.Fstat(e.replica, &st); err != nil {
		t.Fatal(err)
	}
	name, ok := terminalName(&st)
	if !ok {
		t.Fatalf("the host pty replica (device %d:%d) has no /dev/pts name", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	// /proc/[pid]/fd shows the name.
	vd := e.f1.VirtualDentry()
	root := vfs.VirtualDentry{}
	if got, err := e.vfs.PathnameWithDeleted(testCtx(), root, vd); err != nil || got != name {
		t.Errorf("pathname %q, %v; want %q", got, err, name)
	}

	// A root with /dev/pts, as devfs has.
	e.vfs.MustRegisterFilesystemType(tmpfs.Name, tmpfs.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{AllowUserMount: true, AllowUserList: true})
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	ctx := testCtx()
	mntns, err := e.vfs.NewMountNamespace(ctx, creds, "", tmpfs.Name, &vfs.MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := mntns.Root()
	pop := func(p string) *vfs.PathOperation { return &vfs.PathOperation{Root: r, Start: r, Path: p} }
	for _, dir := range []string{"/dev", "/dev/pts"} {
		if err := e.vfs.MkdirAt(ctx, creds, pop(dir), &vfs.MkdirOptions{Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ { // the second time it exists already
		if err := CreateTerminalNode(ctx, creds, r, e.f1); err != nil {
			t.Fatalf("CreateTerminalNode (%d): %v", i, err)
		}
	}
	node, err := e.vfs.StatAt(ctx, creds, pop(name), &vfs.StatOptions{})
	if err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	fst, err := e.f1.Stat(ctx, vfs.StatOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Mode&linux.S_IFMT != linux.S_IFCHR || node.RdevMajor != fst.RdevMajor || node.RdevMinor != fst.RdevMinor {
		t.Errorf("node %s: mode %#o device %d:%d; want a character device %d:%d, the terminal's", name, node.Mode, node.RdevMajor, node.RdevMinor, fst.RdevMajor, fst.RdevMinor)
	}
	// ttyname(3)'s check: fstat of the terminal is the node, for every FD of it.
	for _, f := range []*vfs.FileDescription{e.f1, e.f2} {
		fst, err := f.Stat(ctx, vfs.StatOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if fst.Ino != node.Ino || fst.DevMajor != node.DevMajor || fst.DevMinor != node.DevMinor {
			t.Errorf("fstat of the terminal: inode %d on %d:%d; want the node's, %d on %d:%d", fst.Ino, fst.DevMajor, fst.DevMinor, node.Ino, node.DevMajor, node.DevMinor)
		}
	}
	// Opening the node opens the terminal.
	fd, err := e.vfs.OpenAt(ctx, creds, pop(name), &vfs.OpenOptions{Flags: linux.O_RDWR})
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer fd.DecRef()
	if !IsTTY(fd) {
		t.Errorf("%s opened a non-terminal", name)
	}
	if _, err := unix.Write(e.master, []byte("n\n")); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, fd)
	buf := make([]byte, 4)
	if n, err := fd.Read(ctx, buf, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "n\n" {
		t.Errorf("read %s = %q, %v", name, buf[:n], err)
	}
	// Opened by a session leader without a terminal, it becomes the
	// session's, unless O_NOCTTY says not to.
	for _, tc := range []struct {
		flags uint32
		want  kernel.ThreadID
	}{
		{linux.O_RDWR | linux.O_NOCTTY, 0},
		{linux.O_RDWR, e.sidA},
	} {
		fd, err := e.vfs.OpenAt(e.a, creds, pop(name), &vfs.OpenOptions{Flags: tc.flags})
		if err != nil {
			t.Fatalf("open %s %#x as a session leader: %v", name, tc.flags, err)
		}
		fd.DecRef()
		if _, sid, _ := ForegroundProcessGroup(e.f1); sid != tc.want {
			t.Errorf("after open %s with flags %#x by a session leader: the terminal's session is %d, want %d", name, tc.flags, sid, tc.want)
		}
	}
	// A pipe has no node.
	if err := CreateTerminalNode(ctx, creds, r, hostPipeFD(t)); err != linux.ENOTTY {
		t.Errorf("CreateTerminalNode(pipe) = %v, want ENOTTY", err)
	}
}

func TestTerminalOfAnExitedSessionLeader(t *testing.T) {
	e := newTTYEnv(t)
	// The session noSuchPG has a controlling terminal, but its leader is gone
	// (as a runsc exec'd shell that exited): the terminal is nobody's.
	if err := SetControllingTerminal(e.f1, e.noSuchPG, e.noSuchPG); err != nil {
		t.Fatal(err)
	}
	if _, err := e.f1.Ioctl(e.a, e.mem, TIOCSCTTY, 0); err != nil {
		t.Fatalf("TIOCSCTTY of the terminal of a session whose leader exited: %v, want it taken", err)
	}
	if pg, sid, _ := ForegroundProcessGroup(e.f2); pg != e.sidA || sid != e.sidA {
		t.Errorf("foreground %d of session %d, want A's %d", pg, sid, e.sidA)
	}
	// A live session's terminal is not taken that way.
	if _, err := e.f1.Ioctl(e.b, e.mem, TIOCSCTTY, 0); err != linux.EPERM {
		t.Errorf("TIOCSCTTY of a live session's terminal: %v, want EPERM", err)
	}
}
