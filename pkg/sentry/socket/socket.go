// Package socket is the Sentry's socket layer: the constants of the socket ABI,
// the registry of address families that socket(2) and socketpair(2) consult, and
// the handling of socket options every family shares (SOL_SOCKET integers, buffer
// sizes as Linux doubles and clamps them).
//
// A socket is Sentry code, never a host socket. Families live in subpackages:
// unix (AF_UNIX). TCP/IP (AF_INET, AF_INET6) comes with the netstack work; until
// then socket(2) fails for them with EAFNOSUPPORT.
package socket

import (
	"encoding/binary"
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// Address families, from <linux/socket.h>.
const (
	AF_UNSPEC  = 0
	AF_UNIX    = 1
	AF_INET    = 2
	AF_INET6   = 10
	AF_NETLINK = 16
	AF_PACKET  = 17
	AF_MAX     = 46
)

// NETLINK_AUDIT is the netlink protocol of the audit subsystem.
const NETLINK_AUDIT = 9

// Socket types and the flags socket(2) accepts with them.
const (
	SOCK_STREAM    = 1
	SOCK_DGRAM     = 2
	SOCK_RAW       = 3
	SOCK_RDM       = 4
	SOCK_SEQPACKET = 5
	SOCK_TYPE_MASK = 0xf
	SOCK_NONBLOCK  = linux.O_NONBLOCK
	SOCK_CLOEXEC   = linux.O_CLOEXEC
)

// Message flags of send and recv.
const (
	MSG_OOB          = 0x1
	MSG_PEEK         = 0x2
	MSG_DONTROUTE    = 0x4
	MSG_CTRUNC       = 0x8
	MSG_TRUNC        = 0x20
	MSG_DONTWAIT     = 0x40
	MSG_EOR          = 0x80
	MSG_WAITALL      = 0x100
	MSG_NOSIGNAL     = 0x4000
	MSG_MORE         = 0x8000
	MSG_WAITFORONE   = 0x10000
	MSG_CMSG_CLOEXEC = 0x40000000
)

// shutdown(2)'s how.
const (
	SHUT_RD   = 0
	SHUT_WR   = 1
	SHUT_RDWR = 2
)

// Socket option levels and SOL_SOCKET options.
const (
	SOL_SOCKET = 1

	SO_DEBUG        = 1
	SO_REUSEADDR    = 2
	SO_TYPE         = 3
	SO_ERROR        = 4
	SO_DONTROUTE    = 5
	SO_BROADCAST    = 6
	SO_SNDBUF       = 7
	SO_RCVBUF       = 8
	SO_KEEPALIVE    = 9
	SO_OOBINLINE    = 10
	SO_NO_CHECK     = 11
	SO_PRIORITY     = 12
	SO_LINGER       = 13
	SO_REUSEPORT    = 15
	SO_PASSCRED     = 16
	SO_PEERCRED     = 17
	SO_RCVLOWAT     = 18
	SO_SNDLOWAT     = 19
	SO_RCVTIMEO     = 20
	SO_SNDTIMEO     = 21
	SO_TIMESTAMP    = 29
	SO_ACCEPTCONN   = 30
	SO_SNDBUFFORCE  = 32
	SO_RCVBUFFORCE  = 33
	SO_PASSSEC      = 34
	SO_MARK         = 36
	SO_PROTOCOL     = 38
	SO_DOMAIN       = 39
	SO_BUSY_POLL    = 46
	SO_INCOMING_CPU = 49
)

// Control message types of SOL_SOCKET.
const (
	SCM_RIGHTS      = 1
	SCM_CREDENTIALS = 2
	// SCM_MAX_FD is the most descriptors one SCM_RIGHTS message carries.
	SCM_MAX_FD = 253
)

// Buffer sizes: Linux's net.core.{w,r}mem_{default,max} and the smallest
// buffers setsockopt leaves (SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF).
const (
	DefaultBufferSize = 212992
	MaxBufferSize     = 212992
	MinSendBufferSize = 4608
	MinRecvBufferSize = 2304
)

// SockaddrMax is sizeof(struct sockaddr_storage): the longest address accepted.
const SockaddrMax = 128

// Family makes the sockets of one address family.
type Family interface {
	// Socket returns a new socket of type stype (without SOCK_NONBLOCK and
	// SOCK_CLOEXEC) and protocol, opened with the status flags in flags.
	Socket(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, stype, protocol int, flags uint32) (*vfs.FileDescription, error)
	// Pair returns two connected sockets (socketpair(2)), or EOPNOTSUPP.
	Pair(ctx vfs.Context, vfsObj *vfs.VirtualFilesystem, stype, protocol int, flags uint32) (*vfs.FileDescription, *vfs.FileDescription, error)
}

var (
	familiesMu sync.RWMutex
	families   = map[int]Family{}
)

// RegisterFamily makes f the maker of family's sockets.
func RegisterFamily(family int, f Family) {
	familiesMu.Lock()
	defer familiesMu.Unlock()
	families[family] = f
}

// FamilyOf returns the registered maker of family's sockets, or nil.
func FamilyOf(family int) Family {
	familiesMu.RLock()
	defer familiesMu.RUnlock()
	return families[family]
}

// UnsupportedFamilyError returns the error socket(2) gives for a family with no
// maker: EAFNOSUPPORT, except that the audit netlink protocol fails with
// EPROTONOSUPPORT, which libaudit (PAM) takes as "no audit" and goes on.
func UnsupportedFamilyError(family, protocol int) error {
	if family == AF_NETLINK && protocol == NETLINK_AUDIT {
		return linux.EPROTONOSUPPORT
	}
	return linux.EAFNOSUPPORT
}

// IntOption decodes an integer option value as setsockopt does: at least four
// bytes (EINVAL), of which the first four count.
func IntOption(optval []byte) (int32, error) {
	if len(optval) < 4 {
		return 0, linux.EINVAL
	}
	return int32(binary.LittleEndian.Uint32(optval)), nil
}

// EncodeInt is an integer option value as getsockopt returns it.
func EncodeInt(v int32) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(v))
	return b[:]
}

// SendBufferSize is the SO_SNDBUF that setsockopt(SO_SNDBUF, v) leaves: v clamped
// to wmem_max, doubled for bookkeeping overhead, at least SOCK_MIN_SNDBUF.
func SendBufferSize(v int32) int {
	return max(2*min(int(max(v, 0)), MaxBufferSize), MinSendBufferSize)
}

// RecvBufferSize is SendBufferSize for SO_RCVBUF.
func RecvBufferSize(v int32) int {
	return max(2*min(int(max(v, 0)), MaxBufferSize), MinRecvBufferSize)
}
