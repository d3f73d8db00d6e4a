// Package recvtty is the caller's end of runsc's --console-socket: it receives
// the pty master runsc create or exec sends, as containerd's shim does. It lives
// apart from package console so that runsc itself does not link package net
// (which would make a plain go build link cgo, under which the Sentry refuses
// its seccomp filter).
package recvtty

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ReceiveMaster accepts one connection on l and receives a pty master sent with
// console.SendMaster (or by runc), the way containerd's go-runc
// Socket.ReceiveMaster does: one message, a name of up to 4096 bytes and one
// SCM_RIGHTS fd.
func ReceiveMaster(l *net.UnixListener) (*os.File, error) {
	conn, err := l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("accepting on the console socket: %w", err)
	}
	defer conn.Close()
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(name, oob)
	if err != nil {
		return nil, fmt.Errorf("receiving on the console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("parsing the console socket's control message: %w", err)
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: %d control messages, want 1", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("console socket: %d fds, want 1", len(fds))
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}
