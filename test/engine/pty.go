package engine

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenPty opens a new pseudo-terminal of rows x cols: the master, in non-blocking
// mode so that reads honour deadlines, and the replica, to be a command's
// controlling terminal and stdio.
func OpenPty(rows, cols uint16) (master, replica *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			master.Close()
		}
	}()
	// Through Control, not Fd(): Fd() would put the master in blocking mode.
	raw, err := master.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var n uint32
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		if n, ierr = unix.IoctlGetUint32(int(fd), unix.TIOCGPTN); ierr != nil {
			return
		}
		ierr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0)
	}); err != nil {
		return nil, nil, err
	}
	if ierr != nil {
		return nil, nil, fmt.Errorf("/dev/ptmx: %w", ierr)
	}
	replica, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	ws := &unix.Winsize{Row: rows, Col: cols}
	if err := unix.IoctlSetWinsize(int(replica.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		replica.Close()
		return nil, nil, fmt.Errorf("TIOCSWINSZ: %w", err)
	}
	return master, replica, nil
}
