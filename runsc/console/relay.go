package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Relay connects the user's terminal to a container's pty, as `runc run` does
// for a container with a terminal in the foreground without --console-socket:
// the container gets a pty of its own (the user's terminal belongs to the
// user's shell's session, so the Sentry could not make it its controlling
// terminal), the user's terminal is put in raw mode so that every key, ^C and
// ^Z included, reaches the container's terminal as typed, bytes are copied both
// ways, and the container's terminal follows the user's window size.
type Relay struct {
	master, replica *os.File
	in              *os.File
	// saved is in's terminal modes before the relay made it raw.
	saved *unix.Termios

	winch  chan os.Signal
	done   chan struct{}
	output sync.WaitGroup // the copy to out
}

// relayDrainTimeout bounds how long Close waits for the container's last output.
const relayDrainTimeout = 2 * time.Second

// NewRelay starts relaying between the terminal in (the user's, read) and out
// (written), and a new pty whose replica it returns, for the container's stdio.
// If in is not a terminal it returns a nil Relay and replica, and nothing
// changes. The replica is the relay's: Close closes it. The caller calls Close
// once the container has exited.
func NewRelay(in, out *os.File) (*Relay, *os.File, error) {
	saved, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
	if err != nil {
		return nil, nil, nil
	}
	master, replica, err := NewPty()
	if err != nil {
		return nil, nil, err
	}
	r := &Relay{master: master, replica: replica, in: in, saved: saved, winch: make(chan os.Signal, 1), done: make(chan struct{})}
	if err := CopyWinsize(master, in); err != nil {
		master.Close()
		replica.Close()
		return nil, nil, err
	}
	raw := *saved
	makeRaw(&raw)
	if err := unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, &raw); err != nil {
		master.Close()
		replica.Close()
		return nil, nil, fmt.Errorf("making the terminal raw: %w", err)
	}
	signal.Notify(r.winch, unix.SIGWINCH)
	go r.followWinsize()
	go func() {
		// Blocked in a read of the user's terminal until a key comes: it
		// ends with the process, or on the first key after Close.
		io.Copy(master, in)
	}()
	r.output.Add(1)
	go func() {
		defer r.output.Done()
		io.Copy(out, master)
	}()
	return r, replica, nil
}

// makeRaw is cfmakeraw(3).
func makeRaw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
}

// followWinsize gives the container's terminal the user's window size on each
// SIGWINCH, until Close.
func (r *Relay) followWinsize() {
	for {
		select {
		case <-r.winch:
			CopyWinsize(r.master, r.in)
		case <-r.done:
			return
		}
	}
}

// Close ends the relay once the container has exited: it copies what the
// container wrote last, and restores the user's terminal. A nil Relay does
// nothing.
func (r *Relay) Close() error {
	if r == nil {
		return nil
	}
	signal.Stop(r.winch)
	close(r.done)
	// With the Sentry gone, this was the last replica: the master reads what
	// is left, then EIO, which ends the copy.
	r.replica.Close()
	drained := make(chan struct{})
	go func() {
		r.output.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(relayDrainTimeout):
	}
	err := unix.IoctlSetTermios(int(r.in.Fd()), unix.TCSETS, r.saved)
	return errors.Join(err, r.master.Close())
}
