package lisafs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// errTooBig is returned by send when a message would exceed MaxMessageSize; the
// message was not sent and the channel is still usable.
var errTooBig = errors.New("lisafs: message exceeds MaxMessageSize")

// sock is one end of a channel with its buffers. It is used by one goroutine at a
// time: a channel carries one exchange at a time.
type sock struct {
	fd  int
	buf []byte // MaxMessageSize bytes: the message being sent or received
	oob []byte // room for one SCM_RIGHTS message of up to maxFDsPerMessage FDs
}

func newSock(fd int) *sock {
	return &sock{
		fd:  fd,
		buf: make([]byte, MaxMessageSize),
		oob: make([]byte, unix.CmsgSpace(4*maxFDsPerMessage)),
	}
}

// send writes one message with its FDs (which stay the caller's to close).
func (s *sock) send(id MsgID, m message, fds ...int) error {
	e := encoder{buf: s.buf[:headerSize]}
	m.marshal(&e)
	if len(e.buf) > MaxMessageSize {
		return fmt.Errorf("%w: %v of %d bytes", errTooBig, id, len(e.buf))
	}
	binary.LittleEndian.PutUint32(e.buf[0:4], uint32(len(e.buf)-headerSize))
	binary.LittleEndian.PutUint16(e.buf[4:6], uint16(id))
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		// MSG_NOSIGNAL: a peer that went away is an EPIPE error, not a signal.
		err := unix.Sendmsg(s.fd, e.buf, oob, nil, unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("lisafs: sending %v: %w", id, err)
		}
		return nil
	}
}

// recv reads one message. The payload aliases s.buf until the next recv or send.
// FDs that arrived are returned (the caller owns them) unless recv fails, in which
// case it has closed them. A peer that closed its end is io.EOF.
func (s *sock) recv() (MsgID, []byte, []int, error) {
	var n, oobn, flags int
	var err error
	for {
		// MSG_CMSG_CLOEXEC: received FDs must never leak into a child process.
		n, oobn, flags, _, err = unix.Recvmsg(s.fd, s.buf, s.oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("lisafs: receiving: %w", err)
	}
	fds, err := parseRights(s.oob[:oobn])
	if err == nil {
		err = checkFrame(s.buf[:n], flags)
	}
	if err != nil {
		closeAll(fds)
		return 0, nil, nil, err
	}
	size := binary.LittleEndian.Uint32(s.buf[0:4])
	id := MsgID(binary.LittleEndian.Uint16(s.buf[4:6]))
	if int(size) != n-headerSize {
		closeAll(fds)
		return 0, nil, nil, fmt.Errorf("%w: header says %d payload bytes, got %d", errMalformed, size, n-headerSize)
	}
	return id, s.buf[headerSize:n], fds, nil
}

// checkFrame rejects what recvmsg says is not one whole message.
func checkFrame(msg []byte, flags int) error {
	switch {
	case len(msg) == 0 && flags&unix.MSG_TRUNC == 0:
		return io.EOF
	case flags&unix.MSG_TRUNC != 0:
		return fmt.Errorf("%w: over %d bytes", errMalformed, MaxMessageSize)
	case flags&unix.MSG_CTRUNC != 0:
		return fmt.Errorf("%w: too many FDs", errMalformed)
	case len(msg) < headerSize:
		return fmt.Errorf("%w: %d bytes is shorter than a header", errMalformed, len(msg))
	}
	return nil
}

// parseRights returns every FD in oob's SCM_RIGHTS messages. On failure it has
// closed the FDs it found.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	scms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %w", errMalformed, err)
	}
	var fds []int
	for i := range scms {
		got, err := unix.ParseUnixRights(&scms[i])
		if err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("%w: control message: %w", errMalformed, err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// SocketPair makes a connected pair of SOCK_SEQPACKET sockets: one end for a Client,
// the other for a Server, in one process or across a fork or exec.
func SocketPair() (client, server int, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("lisafs: socketpair: %w", err)
	}
	return fds[0], fds[1], nil
}
