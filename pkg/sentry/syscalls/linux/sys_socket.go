package linux

import (
	"encoding/binary"
	"sync"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/socket"
	"visor.dev/visor/pkg/sentry/socket/unix"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

func init() {
	unix.PairCreds = func(ctx vfs.Context) unix.Creds {
		if t, ok := ctx.(*kernel.Task); ok {
			return taskCreds(t)
		}
		return unix.NoCreds
	}
}

// taskCreds are t's credentials as sockets pass them: its process ID and
// effective user and group.
func taskCreds(t *kernel.Task) unix.Creds {
	c := t.Credentials()
	return unix.Creds{Pid: int32(t.ThreadGroupID()), UID: uint32(c.EffectiveKUID), GID: uint32(c.EffectiveKGID)}
}

// abstractNamespaces holds each kernel's (sandbox's) abstract unix namespace.
var (
	abstractMu         sync.Mutex
	abstractNamespaces = map[*kernel.Kernel]*unix.Namespace{}
)

func abstractNamespace(t *kernel.Task) *unix.Namespace {
	abstractMu.Lock()
	defer abstractMu.Unlock()
	ns, ok := abstractNamespaces[t.Kernel()]
	if !ok {
		ns = unix.NewNamespace()
		abstractNamespaces[t.Kernel()] = ns
	}
	return ns
}

// getSocket returns the socket fd names, with a reference on its file: EBADF
// for no file, ENOTSOCK for a file that is not a socket.
func getSocket(t *kernel.Task, fd int32) (*vfs.FileDescription, *unix.SocketFD, error) {
	f, err := getFD(t, fd)
	if err != nil {
		return nil, nil, err
	}
	s, ok := f.Impl().(*unix.SocketFD)
	if !ok {
		f.DecRef()
		return nil, nil, linux.ENOTSOCK
	}
	return f, s, nil
}

// socketFlags splits socket(2)'s type into the type and its SOCK_NONBLOCK and
// SOCK_CLOEXEC flags, failing with EINVAL for other flags.
func socketFlags(typ int32) (int, uint32, bool, error) {
	stype := int(typ & socket.SOCK_TYPE_MASK)
	flags := uint32(typ) &^ socket.SOCK_TYPE_MASK
	if flags&^(socket.SOCK_NONBLOCK|socket.SOCK_CLOEXEC) != 0 {
		return 0, 0, false, linux.EINVAL
	}
	return stype, flags & socket.SOCK_NONBLOCK, flags&socket.SOCK_CLOEXEC != 0, nil
}

func familyOf(family, protocol int32) (socket.Family, error) {
	if family < 0 || family >= socket.AF_MAX {
		return nil, linux.EAFNOSUPPORT
	}
	f := socket.FamilyOf(int(family))
	if f == nil {
		return nil, socket.UnsupportedFamilyError(int(family), int(protocol))
	}
	return f, nil
}

// Socket implements socket(2): AF_UNIX. Other families fail with EAFNOSUPPORT
// (AF_NETLINK's audit protocol with EPROTONOSUPPORT).
func Socket(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	family, typ, protocol := args[0].Int(), args[1].Int(), args[2].Int()
	stype, flags, cloexec, err := socketFlags(typ)
	if err != nil {
		return 0, err
	}
	fam, err := familyOf(family, protocol)
	if err != nil {
		return 0, err
	}
	f, err := fam.Socket(t, vfsOf(t), stype, int(protocol), flags)
	if err != nil {
		return 0, err
	}
	return installFD(t, f, cloexec)
}

// Socketpair implements socketpair(2).
func Socketpair(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	family, typ, protocol := args[0].Int(), args[1].Int(), args[2].Int()
	stype, flags, cloexec, err := socketFlags(typ)
	if err != nil {
		return 0, err
	}
	fam, err := familyOf(family, protocol)
	if err != nil {
		if family == socket.AF_INET || family == socket.AF_INET6 {
			// Linux's TCP/IP sockets never come in pairs.
			return 0, linux.EOPNOTSUPP
		}
		return 0, err
	}
	a, b, err := fam.Pair(t, vfsOf(t), stype, int(protocol), flags)
	if err != nil {
		return 0, err
	}
	defer a.DecRef()
	defer b.DecRef()
	return 0, newFDPair(t, a, b, cloexec, args[3].Pointer())
}

// copyInSockaddr reads an address of addrlen bytes: EINVAL if the length is
// negative or longer than sockaddr_storage.
func copyInSockaddr(t *kernel.Task, addr uintptr, addrlen int32) ([]byte, error) {
	if addrlen < 0 || addrlen > socket.SockaddrMax {
		return nil, linux.EINVAL
	}
	b := make([]byte, addrlen)
	if _, err := t.CopyInBytes(addr, b); err != nil {
		return nil, linux.EFAULT
	}
	return b, nil
}

// copyOutSockaddr writes sa to addr, truncated to the length at lenAddr, and its
// full length to lenAddr, as move_addr_to_user does.
func copyOutSockaddr(t *kernel.Task, addr, lenAddr uintptr, sa []byte) error {
	if lenAddr == 0 {
		return nil
	}
	l, err := t.CopyInUint32(lenAddr)
	if err != nil {
		return err
	}
	if int32(l) < 0 {
		return linux.EINVAL
	}
	if n := min(int(l), len(sa)); n > 0 {
		if _, err := t.CopyOutBytes(addr, sa[:n]); err != nil {
			return linux.EFAULT
		}
	}
	return t.CopyOutUint32(lenAddr, uint32(len(sa)))
}

// resolveUnix returns the socket a names: in the abstract namespace, or bound at
// a path, which must resolve (ENOENT...) and be writable (EACCES). A name nobody
// is bound to is ECONNREFUSED.
func resolveUnix(t *kernel.Task, a unix.Address) (*unix.Endpoint, error) {
	if a.Abstract() {
		if ep := abstractNamespace(t).Lookup(a.Name); ep != nil {
			return ep, nil
		}
		return nil, linux.ECONNREFUSED
	}
	pop, err := pathOp(t, linux.AT_FDCWD, a.Name, true, false)
	if err != nil {
		return nil, err
	}
	defer kernel.ReleasePathOperation(pop)
	vd, err := vfsOf(t).GetDentryAt(t, t.Credentials(), pop, &vfs.GetDentryOptions{})
	if err != nil {
		return nil, err
	}
	defer vd.DecRef()
	if err := vfsOf(t).AccessAt(t, t.Credentials(), auth.MayWrite, pop); err != nil {
		return nil, err
	}
	if ep := unix.BoundEndpoint(vd.Dentry()); ep != nil {
		return ep, nil
	}
	return nil, linux.ECONNREFUSED
}

// Bind implements bind(2).
func Bind(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	raw, err := copyInSockaddr(t, args[1].Pointer(), args[2].Int())
	if err != nil {
		return 0, err
	}
	a, err := unix.ParseAddress(raw)
	if err != nil {
		return 0, err
	}
	ep := s.Endpoint()
	if ep.Bound() && a.Name != "" && !a.Abstract() {
		// Linux makes the file before it looks at the socket: an existing
		// path wins over the socket being bound already.
		if pop, err := pathOp(t, linux.AT_FDCWD, a.Name, false, false); err == nil {
			vd, err := vfsOf(t).GetDentryAt(t, t.Credentials(), pop, &vfs.GetDentryOptions{})
			kernel.ReleasePathOperation(pop)
			if err == nil {
				vd.DecRef()
				return 0, linux.EADDRINUSE
			}
		}
	}
	return 0, ep.Bind(abstractNamespace(t), a, func(path string) error {
		pop, err := pathOp(t, linux.AT_FDCWD, path, false, false)
		if err != nil {
			return err
		}
		defer kernel.ReleasePathOperation(pop)
		perm := 0o777 &^ t.FSContext().Umask()
		return vfsOf(t).MknodAt(t, t.Credentials(), pop, &vfs.MknodOptions{Mode: uint16(linux.S_IFSOCK | perm), Endpoint: ep})
	})
}

// Listen implements listen(2).
func Listen(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, s.Endpoint().Listen(int(args[1].Int()), taskCreds(t))
}

// nonBlocking reports whether an operation on f with msg flags must not wait.
func nonBlocking(f *vfs.FileDescription, flags uint32) bool {
	return f.StatusFlags()&linux.O_NONBLOCK != 0 || flags&socket.MSG_DONTWAIT != 0
}

// waitEvents waits until one of ws reports one of mask's events, for at most
// timeout if it is positive (then EAGAIN when it runs out). attempt runs after
// the waits are registered, and the wait ends when it returns anything but
// EAGAIN.
func waitEvents(t *kernel.Task, mask waiter.EventMask, timeout time.Duration, attempt func() error, ws ...waiter.Waitable) error {
	ch := make(waiter.ChannelNotifier, 1)
	for _, w := range ws {
		e := &waiter.Entry{}
		e.Init(ch, mask)
		if err := w.EventRegister(e); err != nil {
			return err
		}
		defer w.EventUnregister(e)
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if err := attempt(); err != linux.EAGAIN {
			return err
		}
		var err error
		if timeout > 0 {
			_, err = t.BlockWithTimeout(ch, time.Until(deadline))
			if err == linux.ETIMEDOUT {
				return linux.EAGAIN
			}
		} else {
			err = t.Block(ch)
		}
		if err != nil {
			return interrupted(err)
		}
	}
}

// sockTimeout returns the SO_RCVTIMEO or SO_SNDTIMEO of s.
func sockTimeout(s *unix.SocketFD, opt int) time.Duration {
	b := s.Option(opt)
	if len(b) < 16 {
		return 0
	}
	sec := int64(binary.LittleEndian.Uint64(b))
	usec := int64(binary.LittleEndian.Uint64(b[8:]))
	return time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
}

// Connect implements connect(2).
func Connect(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	raw, err := copyInSockaddr(t, args[1].Pointer(), args[2].Int())
	if err != nil {
		return 0, err
	}
	ep := s.Endpoint()
	if len(raw) >= 2 && raw[0] == socket.AF_UNSPEC && raw[1] == 0 && ep.Type() == socket.SOCK_DGRAM {
		return 0, ep.Disconnect()
	}
	a, err := unix.ParseAddress(raw)
	if err != nil {
		return 0, err
	}
	if a.Name == "" {
		return 0, linux.EINVAL
	}
	target, err := resolveUnix(t, a)
	if err != nil {
		return 0, err
	}
	ns, creds := abstractNamespace(t), taskCreds(t)
	attempt := func() error { return ep.Connect(ns, target, creds) }
	if err := attempt(); err != linux.EAGAIN || nonBlocking(f, 0) {
		return 0, err
	}
	return 0, waitEvents(t, waiter.WritableEvents|waiter.ReadableEvents, sockTimeout(s, socket.SO_SNDTIMEO), attempt, target, ep)
}

// accept is accept(2) and accept4(2).
func accept(t *kernel.Task, fd int32, addr, lenAddr uintptr, flags int32) (uintptr, error) {
	if flags&^(socket.SOCK_NONBLOCK|socket.SOCK_CLOEXEC) != 0 {
		return 0, linux.EINVAL
	}
	f, s, err := getSocket(t, fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	ep := s.Endpoint()
	var child *unix.Endpoint
	attempt := func() error {
		c, err := ep.Accept()
		child = c
		return err
	}
	if err := attempt(); err == linux.EAGAIN && !nonBlocking(f, 0) {
		err = waitEvents(t, waiter.ReadableEvents, sockTimeout(s, socket.SO_RCVTIMEO), attempt, ep)
		if err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, err
	}
	nf := unix.NewFile(vfsOf(t), child, uint32(flags)&socket.SOCK_NONBLOCK)
	if addr != 0 {
		peer, _ := child.PeerName()
		if err := copyOutSockaddr(t, addr, lenAddr, peer.Sockaddr()); err != nil {
			nf.DecRef()
			return 0, err
		}
	}
	return installFD(t, nf, flags&socket.SOCK_CLOEXEC != 0)
}

// Accept implements accept(2).
func Accept(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return accept(t, args[0].Int(), args[1].Pointer(), args[2].Pointer(), 0)
}

// Accept4 implements accept4(2): SOCK_NONBLOCK and SOCK_CLOEXEC.
func Accept4(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return accept(t, args[0].Int(), args[1].Pointer(), args[2].Pointer(), args[3].Int())
}

// sockName is getsockname(2) and getpeername(2).
func sockName(t *kernel.Task, args arch.SyscallArguments, peer bool) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var a unix.Address
	if peer {
		if a, err = s.Endpoint().PeerName(); err != nil {
			return 0, err
		}
	} else {
		a = s.Endpoint().Name()
	}
	return 0, copyOutSockaddr(t, args[1].Pointer(), args[2].Pointer(), a.Sockaddr())
}

// Getsockname implements getsockname(2).
func Getsockname(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return sockName(t, args, false)
}

// Getpeername implements getpeername(2).
func Getpeername(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return sockName(t, args, true)
}

// Shutdown implements shutdown(2).
func Shutdown(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return 0, s.Endpoint().Shutdown(int(args[1].Int()))
}

// sendMessage is the common part of sendto, sendmsg and sendmmsg: it sends the
// bytes of segs to the address to (nil: the peer) with the control messages cm,
// whose files it consumes.
func sendMessage(t *kernel.Task, f *vfs.FileDescription, s *unix.SocketFD, segs ioSegs, to []byte, cm *unix.ControlMessages, flags uint32) (int64, error) {
	defer cm.Release()
	if flags&socket.MSG_OOB != 0 {
		return 0, linux.EOPNOTSUPP
	}
	ep := s.Endpoint()
	opts := unix.SendOptions{Creds: taskCreds(t)}
	if to != nil {
		a, err := unix.ParseAddress(to)
		if err != nil {
			return 0, err
		}
		opts.HaveTo = true
		if ep.Type() == socket.SOCK_DGRAM {
			if a.Name == "" {
				return 0, linux.EINVAL
			}
			target, err := resolveUnix(t, a)
			if err != nil && err != linux.ECONNREFUSED {
				return 0, err
			}
			opts.To = target
		}
	}
	total := segs.total()
	buf := make([]byte, total)
	if c, err := segs.copyIn(t, 0, buf); err != nil {
		if c == 0 || ep.Type() != socket.SOCK_STREAM {
			return 0, linux.EFAULT
		}
		buf = buf[:c]
	}
	var done int
	attempt := func() error {
		n, err := ep.Send(buf[done:], cm, opts)
		done += n
		if err == nil && done < len(buf) {
			err = linux.EAGAIN
		}
		return err
	}
	err := attempt()
	if err == linux.EAGAIN && !nonBlocking(f, flags) {
		ws := []waiter.Waitable{ep}
		if opts.To != nil {
			ws = append(ws, opts.To)
		} else if p := ep.Peer(); p != nil && ep.Type() == socket.SOCK_DGRAM {
			ws = append(ws, p)
		}
		err = waitEvents(t, waiter.WritableEvents, sockTimeout(s, socket.SO_SNDTIMEO), attempt, ws...)
	}
	if err == linux.EPIPE && flags&socket.MSG_NOSIGNAL == 0 {
		sendSIGPIPE(t)
	}
	if err != nil && done > 0 {
		return int64(done), nil
	}
	return int64(done), err
}

// recvResult is what recvMessage returns.
type recvResult struct {
	n        int64
	msgFlags uint32
	res      unix.RecvResult
}

// recvMessage is the common part of recvfrom, recvmsg and recvmmsg: it receives
// into segs. The caller owns the files in the result's control messages.
func recvMessage(t *kernel.Task, f *vfs.FileDescription, s *unix.SocketFD, segs ioSegs, flags uint32) (recvResult, error) {
	var r recvResult
	if flags&socket.MSG_OOB != 0 {
		return r, linux.EOPNOTSUPP
	}
	ep := s.Endpoint()
	total := segs.total()
	buf := make([]byte, total)
	opts := unix.RecvOptions{Peek: flags&socket.MSG_PEEK != 0, Creds: ep.PassCred()}
	stream := ep.Type() == socket.SOCK_STREAM
	waitAll := stream && flags&socket.MSG_WAITALL != 0 && !opts.Peek
	var done int
	first := true
	attempt := func() error {
		for {
			n, res, err := ep.Recv(buf[done:], opts)
			if err != nil {
				if done > 0 && err == linux.EAGAIN && !waitAll {
					return nil
				}
				if done > 0 && err != linux.EAGAIN {
					return nil
				}
				return err
			}
			done += n
			if first {
				r.res = res
				first = false
			} else {
				r.res.Control.Rights = append(r.res.Control.Rights, res.Control.Rights...)
			}
			if !stream {
				r.res.MsgLen = res.MsgLen
				return nil
			}
			if n == 0 || !waitAll || done >= len(buf) || len(res.Control.Rights) > 0 {
				return nil
			}
		}
	}
	err := attempt()
	if err == linux.EAGAIN && !nonBlocking(f, flags) {
		err = waitEvents(t, waiter.ReadableEvents, sockTimeout(s, socket.SO_RCVTIMEO), attempt, ep)
	}
	if err != nil && done == 0 {
		r.res.Control.Release()
		return recvResult{}, err
	}
	c, cerr := segs.copyOut(t, 0, buf[:done])
	if cerr != nil && c == 0 && done > 0 {
		r.res.Control.Release()
		return recvResult{}, linux.EFAULT
	}
	r.n = int64(done)
	if !stream && r.res.MsgLen > len(buf) {
		r.msgFlags |= socket.MSG_TRUNC
		if flags&socket.MSG_TRUNC != 0 {
			r.n = int64(r.res.MsgLen)
		}
	}
	return r, nil
}

// Sendto implements sendto(2).
func Sendto(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	var to []byte
	if args[4].Pointer() != 0 && args[5].Int() != 0 {
		if to, err = copyInSockaddr(t, args[4].Pointer(), args[5].Int()); err != nil {
			return 0, err
		}
	}
	n, err := sendMessage(t, f, s, singleSeg(args[1].Pointer(), args[2].Uint64()), to, nil, args[3].Uint())
	return uintptr(n), err
}

// Recvfrom implements recvfrom(2).
func Recvfrom(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	r, err := recvMessage(t, f, s, singleSeg(args[1].Pointer(), args[2].Uint64()), args[3].Uint())
	if err != nil {
		return 0, err
	}
	r.res.Control.Release()
	if args[4].Pointer() != 0 {
		if err := copyOutSockaddr(t, args[4].Pointer(), args[5].Pointer(), fromSockaddr(r.res.From)); err != nil {
			return 0, err
		}
	}
	return uintptr(r.n), nil
}

// fromSockaddr is the source address recv reports: nothing for an unnamed
// sender.
func fromSockaddr(a unix.Address) []byte {
	if a.Name == "" {
		return nil
	}
	return a.Sockaddr()
}

// msghdr layout on amd64.
const (
	msghdrSize     = 56
	mmsghdrSize    = 64
	cmsghdrSize    = 16
	ucredSize      = 12
	optmemMax      = 131072
	msgNameOff     = 0
	msgNamelenOff  = 8
	msgIovOff      = 16
	msgIovlenOff   = 24
	msgControlOff  = 32
	msgControllenO = 40
	msgFlagsOff    = 48
)

func cmsgAlign(n int) int { return (n + 7) &^ 7 }

// msghdr is a struct msghdr read from the application.
type msghdr struct {
	name       uintptr
	namelen    uint32
	iov        uintptr
	iovlen     uint64
	control    uintptr
	controllen uint64
}

func copyInMsghdr(t *kernel.Task, addr uintptr) (msghdr, error) {
	var b [msghdrSize]byte
	if _, err := t.CopyInBytes(addr, b[:]); err != nil {
		return msghdr{}, linux.EFAULT
	}
	le := binary.LittleEndian
	return msghdr{
		name:       uintptr(le.Uint64(b[msgNameOff:])),
		namelen:    le.Uint32(b[msgNamelenOff:]),
		iov:        uintptr(le.Uint64(b[msgIovOff:])),
		iovlen:     le.Uint64(b[msgIovlenOff:]),
		control:    uintptr(le.Uint64(b[msgControlOff:])),
		controllen: le.Uint64(b[msgControllenO:]),
	}, nil
}

// parseControl reads sendmsg's control messages: SCM_RIGHTS (files, with
// references the result holds) and SCM_CREDENTIALS (checked: EPERM for
// credentials the sender may not claim).
func parseControl(t *kernel.Task, b []byte) (*unix.ControlMessages, error) {
	cm := &unix.ControlMessages{}
	le := binary.LittleEndian
	for off := 0; off+cmsghdrSize <= len(b); {
		l := le.Uint64(b[off:])
		level := int32(le.Uint32(b[off+8:]))
		typ := int32(le.Uint32(b[off+12:]))
		if l < cmsghdrSize || l > uint64(len(b)-off) {
			cm.Release()
			return nil, linux.EINVAL
		}
		data := b[off+cmsghdrSize : off+int(l)]
		off += cmsgAlign(int(l))
		if level != socket.SOL_SOCKET {
			continue
		}
		switch typ {
		case socket.SCM_RIGHTS:
			n := len(data) / 4
			if len(cm.Rights)+n > socket.SCM_MAX_FD {
				cm.Release()
				return nil, linux.EINVAL
			}
			for i := 0; i < n; i++ {
				f, err := getFD(t, int32(le.Uint32(data[4*i:])))
				if err != nil {
					cm.Release()
					return nil, err
				}
				cm.Rights = append(cm.Rights, f)
			}
		case socket.SCM_CREDENTIALS:
			if len(data) != ucredSize {
				cm.Release()
				return nil, linux.EINVAL
			}
			c := unix.Creds{Pid: int32(le.Uint32(data)), UID: le.Uint32(data[4:]), GID: le.Uint32(data[8:])}
			if err := checkCreds(t, c); err != nil {
				cm.Release()
				return nil, err
			}
			cm.Creds = &c
		default:
			cm.Release()
			return nil, linux.EINVAL
		}
	}
	return cm, nil
}

// checkCreds is scm_check_creds.
func checkCreds(t *kernel.Task, c unix.Creds) error {
	cr := t.Credentials()
	pidOK := c.Pid == int32(t.ThreadGroupID()) || cr.HasCapability(linux.CAP_SYS_ADMIN)
	uid := auth.KUID(c.UID)
	uidOK := uid == cr.RealKUID || uid == cr.EffectiveKUID || uid == cr.SavedKUID || cr.HasCapability(linux.CAP_SETUID)
	gid := auth.KGID(c.GID)
	gidOK := gid == cr.RealKGID || gid == cr.EffectiveKGID || gid == cr.SavedKGID || cr.HasCapability(linux.CAP_SETGID)
	if !pidOK || !uidOK || !gidOK {
		return linux.EPERM
	}
	return nil
}

// sendmsg sends the message described at addr.
func sendmsg(t *kernel.Task, f *vfs.FileDescription, s *unix.SocketFD, addr uintptr, flags uint32) (int64, error) {
	h, err := copyInMsghdr(t, addr)
	if err != nil {
		return 0, err
	}
	var to []byte
	if h.name != 0 && h.namelen != 0 {
		if to, err = copyInSockaddr(t, h.name, int32(h.namelen)); err != nil {
			return 0, err
		}
	}
	segs, err := copyInIovecs(t, h.iov, h.iovlen)
	if err != nil {
		return 0, err
	}
	var cm *unix.ControlMessages
	if h.controllen > 0 {
		if h.controllen > optmemMax {
			return 0, linux.ENOBUFS
		}
		b := make([]byte, h.controllen)
		if _, err := t.CopyInBytes(h.control, b); err != nil {
			return 0, linux.EFAULT
		}
		if cm, err = parseControl(t, b); err != nil {
			return 0, err
		}
	}
	return sendMessage(t, f, s, segs, to, cm, flags)
}

// recvmsg receives one message into the struct msghdr at addr.
func recvmsg(t *kernel.Task, f *vfs.FileDescription, s *unix.SocketFD, addr uintptr, flags uint32) (int64, error) {
	h, err := copyInMsghdr(t, addr)
	if err != nil {
		return 0, err
	}
	segs, err := copyInIovecs(t, h.iov, h.iovlen)
	if err != nil {
		return 0, err
	}
	if int32(h.namelen) < 0 {
		return 0, linux.EINVAL
	}
	r, err := recvMessage(t, f, s, segs, flags)
	if err != nil {
		return 0, err
	}
	defer r.res.Control.Release()
	le := binary.LittleEndian
	// The source address.
	from := fromSockaddr(r.res.From)
	namelen := uint32(0)
	if h.name != 0 {
		if n := min(int(h.namelen), len(from)); n > 0 {
			if _, err := t.CopyOutBytes(h.name, from[:n]); err != nil {
				return 0, linux.EFAULT
			}
		}
		namelen = uint32(len(from))
	}
	// Control messages: credentials, then files.
	ctl := make([]byte, 0, min(h.controllen, optmemMax))
	space := int(min(h.controllen, optmemMax))
	msgFlags := r.msgFlags
	if r.res.Creds != nil {
		need := cmsghdrSize + ucredSize
		if space-len(ctl) < need {
			msgFlags |= socket.MSG_CTRUNC
		} else {
			var c [cmsghdrSize + ucredSize]byte
			le.PutUint64(c[0:], uint64(need))
			le.PutUint32(c[8:], socket.SOL_SOCKET)
			le.PutUint32(c[12:], socket.SCM_CREDENTIALS)
			le.PutUint32(c[16:], uint32(r.res.Creds.Pid))
			le.PutUint32(c[20:], r.res.Creds.UID)
			le.PutUint32(c[24:], r.res.Creds.GID)
			ctl = append(ctl, c[:]...)
			for len(ctl) < cmsgAlign(len(ctl)) && len(ctl) < space {
				ctl = append(ctl, 0)
			}
		}
	}
	if rights := r.res.Control.Rights; len(rights) > 0 {
		avail := space - len(ctl)
		fit := 0
		if avail > cmsghdrSize {
			fit = (avail - cmsghdrSize) / 4
		}
		if fit < len(rights) {
			msgFlags |= socket.MSG_CTRUNC
		}
		var fds []int32
		for _, rf := range rights[:min(fit, len(rights))] {
			fd, err := t.FDTable().NewFD(0, rf, kernel.FDFlags{CloseOnExec: flags&socket.MSG_CMSG_CLOEXEC != 0}, fdLimit(t))
			if err != nil {
				msgFlags |= socket.MSG_CTRUNC
				break
			}
			fds = append(fds, fd)
		}
		if len(fds) > 0 {
			l := cmsghdrSize + 4*len(fds)
			c := make([]byte, l)
			le.PutUint64(c[0:], uint64(l))
			le.PutUint32(c[8:], socket.SOL_SOCKET)
			le.PutUint32(c[12:], socket.SCM_RIGHTS)
			for i, fd := range fds {
				le.PutUint32(c[cmsghdrSize+4*i:], uint32(fd))
			}
			ctl = append(ctl, c...)
			ctl = ctl[:min(cmsgAlign(len(ctl)), space)]
		}
	}
	if len(ctl) > 0 {
		if _, err := t.CopyOutBytes(h.control, ctl); err != nil {
			return 0, linux.EFAULT
		}
	}
	var out [8]byte
	le.PutUint32(out[:], namelen)
	if _, err := t.CopyOutBytes(addr+msgNamelenOff, out[:4]); err != nil {
		return 0, linux.EFAULT
	}
	le.PutUint64(out[:], uint64(len(ctl)))
	if _, err := t.CopyOutBytes(addr+msgControllenO, out[:]); err != nil {
		return 0, linux.EFAULT
	}
	le.PutUint32(out[:], msgFlags)
	if _, err := t.CopyOutBytes(addr+msgFlagsOff, out[:4]); err != nil {
		return 0, linux.EFAULT
	}
	return r.n, nil
}

// Sendmsg implements sendmsg(2).
func Sendmsg(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	n, err := sendmsg(t, f, s, args[1].Pointer(), args[2].Uint())
	return uintptr(n), err
}

// Recvmsg implements recvmsg(2).
func Recvmsg(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	n, err := recvmsg(t, f, s, args[1].Pointer(), args[2].Uint())
	return uintptr(n), err
}

// uioMaxIOV bounds sendmmsg's and recvmmsg's vector length (UIO_MAXIOV).
const uioMaxIOV = 1024

// Sendmmsg implements sendmmsg(2).
func Sendmmsg(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vec, vlen, flags := args[1].Pointer(), min(args[2].Uint(), uioMaxIOV), args[3].Uint()
	var i uint32
	for ; i < vlen; i++ {
		addr := vec + uintptr(i)*mmsghdrSize
		n, err := sendmsg(t, f, s, addr, flags)
		if err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		if err := t.CopyOutUint32(addr+msghdrSize, uint32(n)); err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
	}
	return uintptr(i), nil
}

// Recvmmsg implements recvmmsg(2); the timeout is checked only between
// messages, as Linux does.
func Recvmmsg(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	vec, vlen, flags := args[1].Pointer(), min(args[2].Uint(), uioMaxIOV), args[3].Uint()
	var deadline time.Time
	if ts := args[4].Pointer(); ts != 0 {
		spec, err := t.CopyInTimespec(ts)
		if err != nil {
			return 0, err
		}
		if spec.Sec < 0 || spec.Nsec < 0 || spec.Nsec >= 1e9 {
			return 0, linux.EINVAL
		}
		deadline = time.Now().Add(time.Duration(spec.Sec)*time.Second + time.Duration(spec.Nsec))
	}
	var i uint32
	for ; i < vlen; i++ {
		addr := vec + uintptr(i)*mmsghdrSize
		n, err := recvmsg(t, f, s, addr, flags)
		if err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		if err := t.CopyOutUint32(addr+msghdrSize, uint32(n)); err != nil {
			if i > 0 {
				break
			}
			return 0, err
		}
		if flags&socket.MSG_WAITFORONE != 0 {
			flags |= socket.MSG_DONTWAIT
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			i++
			break
		}
	}
	return uintptr(i), nil
}

// boolOptions are the SOL_SOCKET options that read back as 0 or 1.
var boolOptions = map[int]bool{
	socket.SO_DEBUG: true, socket.SO_REUSEADDR: true, socket.SO_DONTROUTE: true,
	socket.SO_BROADCAST: true, socket.SO_KEEPALIVE: true, socket.SO_OOBINLINE: true,
	socket.SO_NO_CHECK: true, socket.SO_REUSEPORT: true, socket.SO_TIMESTAMP: true,
	socket.SO_PASSSEC: true,
}

// keptOptions are SOL_SOCKET options kept as given, and their sizes.
var keptOptions = map[int]int{
	socket.SO_PRIORITY: 4, socket.SO_LINGER: 8, socket.SO_RCVTIMEO: 16,
	socket.SO_SNDTIMEO: 16, socket.SO_RCVLOWAT: 4, socket.SO_MARK: 4,
	socket.SO_BUSY_POLL: 4, socket.SO_INCOMING_CPU: 4,
}

// Setsockopt implements setsockopt(2): SOL_SOCKET options of unix sockets.
func Setsockopt(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	level, name, optlen := int(args[1].Int()), int(args[2].Int()), args[4].Int()
	if optlen < 0 {
		return 0, linux.EINVAL
	}
	if level != socket.SOL_SOCKET {
		return 0, linux.EOPNOTSUPP
	}
	optval := make([]byte, min(int(optlen), 4096))
	if _, err := t.CopyInBytes(args[3].Pointer(), optval); err != nil {
		return 0, linux.EFAULT
	}
	ep := s.Endpoint()
	if size, ok := keptOptions[name]; ok {
		if len(optval) < size {
			return 0, linux.EINVAL
		}
		if name == socket.SO_RCVTIMEO || name == socket.SO_SNDTIMEO {
			usec := int64(binary.LittleEndian.Uint64(optval[8:]))
			if usec < 0 || usec >= 1e6 {
				return 0, linux.EDOM
			}
		}
		s.SetOption(name, optval[:size])
		return 0, nil
	}
	v, err := socket.IntOption(optval)
	if err != nil {
		return 0, err
	}
	switch {
	case name == socket.SO_SNDBUF || name == socket.SO_SNDBUFFORCE:
		ep.SetSendBufferSize(socket.SendBufferSize(v))
	case name == socket.SO_RCVBUF || name == socket.SO_RCVBUFFORCE:
		ep.SetRecvBufferSize(socket.RecvBufferSize(v))
	case name == socket.SO_PASSCRED:
		ep.SetPassCred(v != 0)
	case boolOptions[name]:
		s.SetOption(name, socket.EncodeInt(boolInt(v != 0)))
	default:
		return 0, linux.ENOPROTOOPT
	}
	return 0, nil
}

func boolInt(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// Getsockopt implements getsockopt(2): SOL_SOCKET options of unix sockets.
func Getsockopt(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	f, s, err := getSocket(t, args[0].Int())
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	level, name := int(args[1].Int()), int(args[2].Int())
	optval, lenAddr := args[3].Pointer(), args[4].Pointer()
	l, err := t.CopyInUint32(lenAddr)
	if err != nil {
		return 0, err
	}
	if int32(l) < 0 {
		return 0, linux.EINVAL
	}
	if level != socket.SOL_SOCKET {
		return 0, linux.EOPNOTSUPP
	}
	ep := s.Endpoint()
	var v []byte
	switch name {
	case socket.SO_TYPE:
		v = socket.EncodeInt(int32(ep.Type()))
	case socket.SO_DOMAIN:
		v = socket.EncodeInt(socket.AF_UNIX)
	case socket.SO_PROTOCOL:
		v = socket.EncodeInt(0)
	case socket.SO_ERROR:
		v = socket.EncodeInt(int32(ep.TakeError()))
	case socket.SO_ACCEPTCONN:
		v = socket.EncodeInt(boolInt(ep.Listening()))
	case socket.SO_SNDBUF:
		snd, _ := ep.BufferSizes()
		v = socket.EncodeInt(int32(snd))
	case socket.SO_RCVBUF:
		_, rcv := ep.BufferSizes()
		v = socket.EncodeInt(int32(rcv))
	case socket.SO_PASSCRED:
		v = socket.EncodeInt(boolInt(ep.PassCred()))
	case socket.SO_PEERCRED:
		c := ep.PeerCreds()
		v = make([]byte, ucredSize)
		binary.LittleEndian.PutUint32(v, uint32(c.Pid))
		binary.LittleEndian.PutUint32(v[4:], c.UID)
		binary.LittleEndian.PutUint32(v[8:], c.GID)
	case socket.SO_RCVLOWAT:
		if v = s.Option(name); v == nil {
			v = socket.EncodeInt(1)
		}
	default:
		if size, ok := keptOptions[name]; ok {
			if v = s.Option(name); v == nil {
				v = make([]byte, size)
			}
		} else if boolOptions[name] {
			if v = s.Option(name); v == nil {
				v = socket.EncodeInt(0)
			}
		} else {
			return 0, linux.ENOPROTOOPT
		}
	}
	n := min(int(l), len(v))
	if n > 0 {
		if _, err := t.CopyOutBytes(optval, v[:n]); err != nil {
			return 0, linux.EFAULT
		}
	}
	return 0, t.CopyOutUint32(lenAddr, uint32(n))
}
