package host

import (
	"strconv"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// A container's terminal is a host pty replica, /dev/pts/N on the host. It has
// the same name in the sandbox: /proc/[pid]/fd shows that path, the boot code
// makes a node there in the container's /dev (CreateTerminalNode), with the
// host's device number, and opening the node opens the terminal (the device is
// registered with the sandbox's VFS). fstat of the terminal then reports the
// node's device and inode numbers, as Linux reports the devpts inode's (the
// host's mean nothing in the sandbox). So ttyname(3), which checks that the node
// the link names is the file fstat describes, finds it: `tty` prints
// /dev/pts/N, as in a container of runc's.

// The device numbers of Unix98 pty replicas: majors 136 to 143.
const (
	ptyReplicaMajorFirst = 136
	ptyReplicaMajorLast  = 143
)

// terminalName returns the /dev/pts path of the host pty replica st is the
// status of, if it is one.
func terminalName(st *unix.Stat_t) (string, bool) {
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return "", false
	}
	major, minor := unix.Major(st.Rdev), unix.Minor(st.Rdev)
	if major < ptyReplicaMajorFirst || major > ptyReplicaMajorLast {
		return "", false
	}
	return "/dev/pts/" + strconv.FormatUint(uint64((major-ptyReplicaMajorFirst)<<8+minor), 10), true
}

// terminalDevice is a host pty replica as a device of the sandbox: opening its
// node opens the terminal, as long as the sandbox has an FD of it.
type terminalDevice struct {
	key ttyKey
}

// Open implements vfs.Device.Open. Without O_NOCTTY, a session leader with no
// controlling terminal makes the terminal its own if it is nobody's, as on
// Linux.
func (d terminalDevice) Open(ctx vfs.Context, _ *vfs.Mount, _ *vfs.Dentry, opts vfs.OpenOptions) (*vfs.FileDescription, error) {
	fd, err := openTerminal(d.key.vfs, opts.Flags, func(key ttyKey, _ *ttyState) bool { return key == d.key })
	if err != nil {
		return nil, err
	}
	if opts.Flags&linux.O_NOCTTY == 0 {
		fd.Impl().(*fileDescription).tty.acquireOnOpen(ctx)
	}
	return fd, nil
}

// acquireOnOpen makes the terminal the controlling terminal of the caller's
// session if the caller leads it, the session has none, and the terminal is
// nobody's (Linux's tty_open_proc_set_tty).
func (s *ttyState) acquireOnOpen(ctx vfs.Context) {
	t := taskOf(ctx)
	if t == nil {
		return
	}
	tg := t.ThreadGroup()
	sid := tg.SessionID()
	if sid != t.ThreadGroupID() {
		return
	}
	if held, _ := s.sessionOf(t.Kernel()); held != 0 || sessionHasTerminal(s.key.vfs, sid, s) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.session == 0 {
		s.session, s.fg = sid, tg.ProcessGroupID()
	}
}

// registerTerminalDevice registers the host pty replica st is the status of as
// a device of the sandbox of vfsObj, once.
func registerTerminalDevice(vfsObj *vfs.VirtualFilesystem, st *unix.Stat_t) {
	if _, ok := terminalName(st); !ok {
		return
	}
	// EEXIST: registered when an earlier FD of it was open; the device finds
	// the terminal by its key, so it serves this one too.
	vfsObj.RegisterDevice(vfs.CharDevice, unix.Major(st.Rdev), unix.Minor(st.Rdev), terminalDevice{key: ttyKey{vfs: vfsObj, rdev: st.Rdev}}, &vfs.RegisterDeviceOptions{})
}

// CreateTerminalNode makes the node of fd, a host pty replica, at its name
// under root (/dev/pts/N), so that ttyname(3) finds it. A terminal that is not a
// pty replica has no node; an existing node is left as it is.
func CreateTerminalNode(ctx vfs.Context, creds *auth.Credentials, root vfs.VirtualDentry, fd *vfs.FileDescription) error {
	f, ok := fd.Impl().(*fileDescription)
	if !ok || f.tty == nil {
		return linux.ENOTTY
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.hostFD), &st); err != nil {
		return hostErr(err)
	}
	name, ok := terminalName(&st)
	if !ok {
		return nil
	}
	err := f.tty.key.vfs.MknodAt(ctx, creds, &vfs.PathOperation{Root: root, Start: root, Path: name}, &vfs.MknodOptions{
		Mode:     linux.S_IFCHR | 0o620,
		DevMajor: unix.Major(st.Rdev),
		DevMinor: unix.Minor(st.Rdev),
	})
	if err != nil && err != linux.EEXIST {
		return err
	}
	node, err := f.tty.key.vfs.StatAt(ctx, creds, &vfs.PathOperation{Root: root, Start: root, Path: name}, &vfs.StatOptions{})
	if err != nil {
		return err
	}
	f.tty.mu.Lock()
	defer f.tty.mu.Unlock()
	f.tty.node = &nodeID{devMajor: node.DevMajor, devMinor: node.DevMinor, ino: node.Ino}
	return nil
}

// nodeID is the identity of a terminal's node in the sandbox.
type nodeID struct {
	devMajor, devMinor uint32
	ino                uint64
}

// statAsNode gives st, the status of a file description of the terminal, the
// identity of the terminal's node, if it has one.
func (s *ttyState) statAsNode(st *linux.Statx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node == nil {
		return
	}
	st.DevMajor, st.DevMinor, st.Ino = s.node.devMajor, s.node.devMinor, s.node.ino
}
