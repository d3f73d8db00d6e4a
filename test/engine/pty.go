package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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

// Terminal session of CheckTerminal: the window size the pty has, and what is
// typed once the shell prompts. "echo h”i" echoed back by the terminal is not the
// line "hi" the shell prints.
const (
	termRows, termCols = 37, 91
	termInput          = "stty size; echo h''i; exit 5\n"
)

// CheckTerminal runs cmd (an engine's interactive run of the busybox shell: docker
// run -it, ctr run -t) on a new pty of its own, as its controlling terminal, the
// way a person at a terminal would: it waits for the shell's prompt, types a line
// that prints the terminal's size and "hi" and exits 5, and checks the output and
// the exit status cmd reports.
func CheckTerminal(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	master, replica, err := OpenPty(termRows, termCols)
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = replica, replica, replica
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true}
	err = cmd.Start()
	replica.Close() // the master reads EIO once cmd's copies are closed too
	if err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			master.SetReadDeadline(time.Now().Add(CommandTimeout))
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	fail := func(format string, args ...any) {
		t.Helper()
		cmd.Process.Kill()
		<-exited
		t.Fatalf(format+"; terminal output %q", append(args, output())...)
	}

	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(output(), "# ") {
		select {
		case <-exited:
			<-read
			t.Fatalf("%s exited (%v) before the shell prompted; terminal output %q", cmd.Args, waitErr, output())
		default:
		}
		if time.Now().After(deadline) {
			fail("no shell prompt within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := master.Write([]byte(termInput)); err != nil {
		fail("writing to the terminal: %v", err)
	}
	status := 0
	select {
	case <-exited:
		if ee, ok := errors.AsType[*exec.ExitError](waitErr); ok {
			status = ee.ExitCode()
		} else if waitErr != nil {
			t.Fatal(waitErr)
		}
	case <-time.After(CommandTimeout):
		fail("%s still running %v after the shell's exit", cmd.Args, CommandTimeout)
	}
	<-read
	if status != 5 {
		t.Errorf("%s exited %d, want 5; terminal output %q", cmd.Args, status, output())
	}
	// Carriage returns dropped: a host terminal not in raw mode (ctr leaves it
	// cooked) adds its own to the container terminal's "\r\n".
	lines := strings.Split(strings.ReplaceAll(output(), "\r", ""), "\n")
	for _, want := range []string{fmt.Sprintf("%d %d", termRows, termCols), "hi"} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q in the terminal output %q", want, output())
		}
	}
}
