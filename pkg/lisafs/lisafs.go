// Package lisafs is the file system protocol between the Sentry (the client) and the
// Gofer (the server): it owns the wire format, the transport and the two generic
// ends of a connection. What a served file system does is someone else's: the server
// side calls a Backend (runsc/fsgofer implements one over a host directory).
//
// # Transport
//
// A connection is one or more channels; a channel is a unix SOCK_SEQPACKET socket on
// which the client sends one request and waits for its one response before sending
// the next. Each message is a header (payload size: uint32, message ID: uint16) and a
// payload, all little-endian; SEQPACKET keeps message boundaries, so a message is
// exactly one recvmsg. Host FDs travel with a response as SCM_RIGHTS; requests never
// carry FDs.
//
// A connection starts with the socket both ends were given. The client asks for more
// channels with the Channel message: the server makes a socket pair, serves one end
// on a new goroutine and donates the other. Every channel of a connection shares one
// FD table, so an FD ID from one channel is good on all of them. Several channels,
// rather than request IDs on one socket, keep each channel a plain synchronous RPC
// (no demultiplexing, no response reordering, FDs belong to exactly one message)
// while still letting a slow host call on one channel (fsync, a big getdents) run
// beside others.
//
// # Messages
//
// A successful response has the request's message ID; a failed one has ID
// MsgError and a payload holding one Linux errno. Every payload has a hand-written
// encoding (see wire.go); a payload that does not decode exactly — short, long,
// out-of-range counts — is a protocol error and ends the connection.
//
// # FD IDs
//
// The client names server-side objects by FD IDs (FDID): a control FD is a file in
// the served tree (fsgofer holds an O_PATH descriptor of it); an open FD is a file
// opened for I/O (Open, OpenCreate). Closing an FD ID (Close, batched) releases it;
// closing the connection releases all of them.
package lisafs

import (
	"strconv"
	"strings"

	"visor.dev/visor/pkg/abi/linux"
)

// MsgID identifies a message type on the wire.
type MsgID uint16

// Message IDs. A request and its response share the ID; MsgError is only ever a
// response.
const (
	MsgError MsgID = iota
	MsgMount
	MsgChannel
	MsgWalk
	MsgStat
	MsgOpen
	MsgOpenCreate
	MsgMkdir
	MsgMknod
	MsgSymlink
	MsgLink
	MsgUnlinkAt
	MsgRenameAt
	MsgReadlink
	MsgGetdents64
	MsgSetStat
	MsgStatFS
	MsgGetXattr
	MsgSetXattr
	MsgListXattr
	MsgRemoveXattr
	MsgClose
	MsgFSync
	numMsgs
)

var msgNames = [numMsgs]string{
	MsgError:       "Error",
	MsgMount:       "Mount",
	MsgChannel:     "Channel",
	MsgWalk:        "Walk",
	MsgStat:        "Stat",
	MsgOpen:        "Open",
	MsgOpenCreate:  "OpenCreate",
	MsgMkdir:       "Mkdir",
	MsgMknod:       "Mknod",
	MsgSymlink:     "Symlink",
	MsgLink:        "Link",
	MsgUnlinkAt:    "UnlinkAt",
	MsgRenameAt:    "RenameAt",
	MsgReadlink:    "Readlink",
	MsgGetdents64:  "Getdents64",
	MsgSetStat:     "SetStat",
	MsgStatFS:      "StatFS",
	MsgGetXattr:    "GetXattr",
	MsgSetXattr:    "SetXattr",
	MsgListXattr:   "ListXattr",
	MsgRemoveXattr: "RemoveXattr",
	MsgClose:       "Close",
	MsgFSync:       "FSync",
}

func (m MsgID) String() string {
	if m < numMsgs {
		return msgNames[m]
	}
	return "MsgID(" + strconv.Itoa(int(m)) + ")"
}

// FDID names a server-side file (a control FD) or open file (an open FD) within one
// connection. Zero is never a valid FD ID.
type FDID uint64

// NoID, as a UID or GID in a create or SetStat request, leaves the owner as the
// server's own credentials make it.
const NoID = ^uint32(0)

// Limits of the protocol. Both ends enforce them; a message over them is malformed.
const (
	headerSize = 6

	// MaxMessageSize bounds a whole message, header included. It is large enough
	// for the largest xattr value and fits a unix socket's default send buffer.
	MaxMessageSize = 1 << 17

	// MaxWalkComponents bounds the names of one Walk.
	MaxWalkComponents = 256

	// MaxGetdentsSize bounds the entry bytes one Getdents64 returns.
	MaxGetdentsSize = 1 << 16

	// MaxCloseBatch bounds the FD IDs of one Close.
	MaxCloseBatch = 1024

	// MaxChannels bounds the channels of one connection.
	MaxChannels = 64

	// maxFDsPerMessage bounds the FDs a response carries (Open and OpenCreate
	// donate one; so does Channel).
	maxFDsPerMessage = 1
)

// WalkStatus says how far a Walk got.
type WalkStatus uint8

const (
	// WalkSuccess: every component was walked.
	WalkSuccess WalkStatus = iota
	// WalkComponentMissing: the component after the last returned one does not exist.
	WalkComponentMissing
	// WalkComponentSymlink: the last returned inode is a symlink and more
	// components followed it; the client resolves it and walks on.
	WalkComponentSymlink
)

// Inode is a control FD together with the file's attributes, as a Walk or a create
// returns it.
type Inode struct {
	FD   FDID
	Stat linux.Statx
}

// Dirent is one directory entry of Getdents64.
type Dirent struct {
	Ino  uint64
	Off  int64 // the cookie to resume after this entry
	Type uint8 // linux.DT_*
	Name string
}

// StatFS is statfs(2)'s result.
type StatFS struct {
	Type            uint64
	BlockSize       int64
	Blocks          uint64
	BlocksFree      uint64
	BlocksAvailable uint64
	Files           uint64
	FilesFree       uint64
	NameLength      uint64
	FragmentSize    int64
}

// SetStatRequest says which attributes SetStat changes (Mask, of linux.STATX_MODE,
// STATX_UID, STATX_GID, STATX_SIZE, STATX_ATIME and STATX_MTIME) and to what. Atime
// and Mtime may carry linux.UTIME_NOW or linux.UTIME_OMIT as Nsec.
type SetStatRequest struct {
	Mask  uint32
	Mode  uint32
	UID   uint32
	GID   uint32
	Size  uint64
	Atime linux.StatxTimestamp
	Mtime linux.StatxTimestamp
}

// setStatMask is every bit SetStatRequest.Mask may hold.
const setStatMask = linux.STATX_MODE | linux.STATX_UID | linux.STATX_GID | linux.STATX_SIZE |
	linux.STATX_ATIME | linux.STATX_MTIME

// CheckName reports whether name is one path component the protocol accepts: not
// empty, not "." or "..", no '/' or NUL, at most NAME_MAX bytes. The client walks
// names one component at a time, so anything else is an attempt to make the server
// resolve a path, which it never does.
func CheckName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return linux.EINVAL
	case strings.ContainsAny(name, "/\x00"):
		return linux.EINVAL
	case len(name) > linux.NAME_MAX:
		return linux.ENAMETOOLONG
	}
	return nil
}
