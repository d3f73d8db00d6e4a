package console

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRelay(t *testing.T) {
	// The user's terminal: the test types on its master; runsc would have its
	// replica as stdin and stdout.
	userMaster, user := newPty(t)
	if err := SetWinsize(userMaster, &unix.Winsize{Row: 50, Col: 132}); err != nil {
		t.Fatal(err)
	}
	before, err := unix.IoctlGetTermios(int(user.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	r, replica, err := NewRelay(user, user)
	if err != nil || r == nil || replica == nil {
		t.Fatalf("NewRelay = %v, %v, %v", r, replica, err)
	}
	closed := false
	defer func() {
		if !closed {
			r.Close()
		}
	}()
	// The container's side reads and writes the replica raw, as a program
	// that set its terminal up would.
	if err := unix.IoctlSetTermios(int(replica.Fd()), unix.TCSETS, rawTermios(t, replica)); err != nil {
		t.Fatal(err)
	}

	if ws, err := Winsize(replica); err != nil || ws.Row != 50 || ws.Col != 132 {
		t.Errorf("container's window size %+v, %v; want the user's 50x132", ws, err)
	}
	raw, err := unix.IoctlGetTermios(int(user.Fd()), unix.TCGETS)
	if err != nil || raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 || raw.Oflag&unix.OPOST != 0 {
		t.Errorf("user's terminal lflag %#x oflag %#x, %v; want raw", raw.Lflag, raw.Oflag, err)
	}

	tests := []struct {
		name          string
		from, to      *os.File
		write, expect string
	}{
		// ^C and ^Z are bytes to the container's terminal, not signals to runsc.
		{"keys to the container", userMaster, replica, "ls\x03\x1a", "ls\x03\x1a"},
		{"output to the user", replica, userMaster, "hello", "hello"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.from.Write([]byte(tc.write)); err != nil {
				t.Fatal(err)
			}
			if got := readWithin(t, tc.to, len(tc.expect), 5*time.Second); got != tc.expect {
				t.Errorf("read %q, want %q", got, tc.expect)
			}
		})
	}

	// A window size change: the user's terminal signals runsc (its
	// controlling terminal's foreground), which follows it.
	if err := SetWinsize(userMaster, &unix.Winsize{Row: 20, Col: 60}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws, err := Winsize(replica)
		if err == nil && ws.Row == 20 && ws.Col == 60 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container's window size %+v, %v after SIGWINCH; want 20x60", ws, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The container's last words reach the user; the terminal is restored.
	if _, err := replica.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := readWithin(t, userMaster, 3, 5*time.Second); got != "bye" {
		t.Errorf("after Close the user read %q, want %q", got, "bye")
	}
	after, err := unix.IoctlGetTermios(int(user.Fd()), unix.TCGETS)
	if err != nil || *after != *before {
		t.Errorf("user's terminal after Close %+v, %v; want it restored to %+v", after, err, before)
	}
}

func TestRelayNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	relay, replica, err := NewRelay(r, w)
	if relay != nil || replica != nil || err != nil {
		t.Errorf("NewRelay(pipe) = %v, %v, %v; want nothing to do", relay, replica, err)
	}
	if err := relay.Close(); err != nil {
		t.Errorf("nil Relay's Close: %v", err)
	}
}
