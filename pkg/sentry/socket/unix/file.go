package unix

import (
	"fmt"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/gofer"
	"visor.dev/visor/pkg/sentry/fsimpl/overlay"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel/anonfs"
	"visor.dev/visor/pkg/sentry/socket"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// nextIno numbers sockets, as sockfs numbers its inodes.
var nextIno atomic.Uint64

// FIONREAD (SIOCINQ) and TIOCOUTQ (SIOCOUTQ).
const (
	fionread = 0x541b
	tiocoutq = 0x5411
)

// SocketFD is an open unix socket. /proc/[pid]/fd shows it as "socket:[ino]" and
// fstat(2) reports a socket.
type SocketFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl

	ep  *Endpoint
	ino uint64
	// opts are SOL_SOCKET integer options that Visor keeps but does not act on
	// (SO_REUSEADDR, SO_KEEPALIVE...), so that what is set reads back.
	opts atomic.Pointer[map[int][]byte]
}

// NewFile returns a new file for ep with the status flags in flags (O_NONBLOCK).
func NewFile(vfsObj *vfs.VirtualFilesystem, ep *Endpoint, flags uint32) *vfs.FileDescription {
	mnt := anonfs.Mount(vfsObj)
	ino := nextIno.Add(1)
	fd := &SocketFD{ep: ep, ino: ino}
	d := anonfs.NewDentry(mnt, fmt.Sprintf("socket:[%d]", ino), func(vfs.Context, vfs.StatOptions) (linux.Statx, error) {
		return fd.stat(), nil
	})
	fd.vfsfd.Init(fd, linux.O_RDWR|flags&linux.O_NONBLOCK, mnt, d, &vfs.FileDescriptionOptions{
		DenyPRead:  true,
		DenyPWrite: true,
	})
	return &fd.vfsfd
}

// Endpoint returns the socket behind fd.
func (fd *SocketFD) Endpoint() *Endpoint { return fd.ep }

// VFSFileDescription returns fd's vfs.FileDescription.
func (fd *SocketFD) VFSFileDescription() *vfs.FileDescription { return &fd.vfsfd }

// Option returns a kept SOL_SOCKET option, or nil.
func (fd *SocketFD) Option(name int) []byte {
	if m := fd.opts.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// SetOption keeps a SOL_SOCKET option.
func (fd *SocketFD) SetOption(name int, v []byte) {
	for {
		old := fd.opts.Load()
		m := map[int][]byte{}
		if old != nil {
			for k, v := range *old {
				m[k] = v
			}
		}
		m[name] = append([]byte(nil), v...)
		if fd.opts.CompareAndSwap(old, &m) {
			return
		}
	}
}

func (fd *SocketFD) stat() linux.Statx {
	return linux.Statx{
		Mask:    linux.STATX_BASIC_STATS,
		Blksize: 4096,
		Nlink:   1,
		Mode:    linux.S_IFSOCK | 0o777,
		Ino:     fd.ino,
	}
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *SocketFD) Release() { fd.ep.Release() }

// Stat implements vfs.FileDescriptionImpl.Stat.
func (fd *SocketFD) Stat(vfs.Context, vfs.StatOptions) (linux.Statx, error) { return fd.stat(), nil }

// SetStat implements vfs.FileDescriptionImpl.SetStat.
func (fd *SocketFD) SetStat(vfs.Context, vfs.SetStatOptions) error { return linux.EPERM }

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (fd *SocketFD) StatFS(vfs.Context) (linux.Statfs, error) {
	return linux.Statfs{Type: linux.SOCKFS_MAGIC, BlockSize: 4096, FragmentSize: 4096, NameLength: linux.NAME_MAX}, nil
}

// Read implements vfs.FileDescriptionImpl.Read: recv(2) without flags.
func (fd *SocketFD) Read(_ vfs.Context, dst []byte, _ vfs.ReadOptions) (int64, error) {
	n, res, err := fd.ep.Recv(dst, RecvOptions{})
	// read(2) has nowhere to put files: they are closed.
	res.Control.Release()
	return int64(n), err
}

// Write implements vfs.FileDescriptionImpl.Write: send(2) without flags.
func (fd *SocketFD) Write(_ vfs.Context, src []byte, _ vfs.WriteOptions) (int64, error) {
	n, err := fd.ep.Send(src, nil, SendOptions{Creds: NoCreds})
	return int64(n), err
}

// Ioctl implements vfs.FileDescriptionImpl.Ioctl: FIONREAD and TIOCOUTQ.
func (fd *SocketFD) Ioctl(_ vfs.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	var v int32
	switch cmd {
	case fionread:
		if fd.ep.Listening() {
			return 0, linux.EINVAL
		}
		v = int32(fd.ep.QueuedBytes())
	case tiocoutq:
		mu.Lock()
		v = int32(fd.ep.inflight)
		mu.Unlock()
	default:
		return 0, linux.ENOTTY
	}
	if _, err := mem.CopyOut(arg, socket.EncodeInt(v)); err != nil {
		return 0, err
	}
	return 0, nil
}

// Readiness implements waiter.Waitable.Readiness.
func (fd *SocketFD) Readiness(mask waiter.EventMask) waiter.EventMask { return fd.ep.Readiness(mask) }

// EventRegister implements waiter.Waitable.EventRegister.
func (fd *SocketFD) EventRegister(e *waiter.Entry) error { return fd.ep.EventRegister(e) }

// EventUnregister implements waiter.Waitable.EventUnregister.
func (fd *SocketFD) EventUnregister(e *waiter.Entry) { fd.ep.EventUnregister(e) }

// BoundEndpoint returns the socket bound at d, a socket file bind(2) made in
// tmpfs, a gofer filesystem, or either under an overlay; nil if there is none.
func BoundEndpoint(d *vfs.Dentry) *Endpoint {
	for range 8 {
		if vd, ok := overlay.TopLayer(d); ok {
			d = vd.Dentry()
			continue
		}
		break
	}
	var v any
	if v = tmpfs.BoundEndpoint(d); v == nil {
		v = gofer.BoundEndpoint(d)
	}
	ep, _ := v.(*Endpoint)
	return ep
}

// Family is AF_UNIX's maker of sockets.
type Family struct{}

func checkType(stype, protocol int) error {
	switch stype {
	case socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET:
	case socket.SOCK_RAW:
		// Linux maps SOCK_RAW to SOCK_DGRAM for unix sockets.
	default:
		return linux.ESOCKTNOSUPPORT
	}
	if protocol != 0 && protocol != socket.AF_UNIX {
		return linux.EPROTONOSUPPORT
	}
	return nil
}

// Socket implements socket.Family.Socket.
func (Family) Socket(_ vfs.Context, vfsObj *vfs.VirtualFilesystem, stype, protocol int, flags uint32) (*vfs.FileDescription, error) {
	if err := checkType(stype, protocol); err != nil {
		return nil, err
	}
	if stype == socket.SOCK_RAW {
		stype = socket.SOCK_DGRAM
	}
	return NewFile(vfsObj, NewEndpoint(stype), flags), nil
}

// PairCreds is set by the caller of Pair: the credentials of the task making
// the pair. It is a function so that this package need not know tasks.
var PairCreds func(ctx vfs.Context) Creds

// Pair implements socket.Family.Pair.
func (Family) Pair(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, stype, protocol int, flags uint32) (*vfs.FileDescription, *vfs.FileDescription, error) {
	if err := checkType(stype, protocol); err != nil {
		return nil, nil, err
	}
	if stype == socket.SOCK_RAW {
		stype = socket.SOCK_DGRAM
	}
	creds := NoCreds
	if PairCreds != nil {
		creds = PairCreds(ctx)
	}
	a, b := NewPair(stype, creds)
	return NewFile(vfsObj, a, flags), NewFile(vfsObj, b, flags), nil
}

func init() { socket.RegisterFamily(socket.AF_UNIX, Family{}) }
