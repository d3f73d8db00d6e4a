package container

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Process names a host process of a sandbox beyond its PID: a PID can be
// recycled once the process is gone, its start time with it cannot.
type Process struct {
	Pid   int
	Start uint64 // /proc/PID/stat's starttime, in clock ticks after boot
}

// ProcessOf returns the Process that has pid now.
func ProcessOf(pid int) (Process, error) {
	start, err := startTime(pid)
	if err != nil {
		return Process{}, err
	}
	return Process{Pid: pid, Start: start}, nil
}

// startTime reads the start time of process pid from /proc.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold anything: count the fields
	// after its closing parenthesis. starttime is field 22; state, field 3, is the
	// first after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := bytes.Fields(data[i+1:])
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strconv.ParseUint(string(fields[19]), 10, 64)
}

// ErrGone says that a recorded process has exited.
var ErrGone = errors.New("process is gone")

// Pidfd opens a pidfd on p if p still runs, and fails with ErrGone otherwise.
// Signals sent through it reach p, never a process that got p's PID later.
func (p Process) Pidfd() (int, error) {
	if p.Pid <= 0 {
		return -1, ErrGone
	}
	fd, err := unix.PidfdOpen(p.Pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return -1, ErrGone
	} else if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", p.Pid, err)
	}
	// fd names whatever had the PID when it was opened; if that still has p's
	// start time now, it is p (p started before fd was opened).
	if start, err := startTime(p.Pid); err != nil || start != p.Start {
		unix.Close(fd)
		return -1, ErrGone
	}
	return fd, nil
}

// Signal sends sig to p; it does nothing if p is gone.
func (p Process) Signal(sig unix.Signal) error {
	fd, err := p.Pidfd()
	if errors.Is(err, ErrGone) {
		return nil
	} else if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signalling pid %d: %w", p.Pid, err)
	}
	return nil
}

// KillAndWait sends SIGKILL to p and waits up to timeout for it to exit. Its
// parent (or the subreaper that inherited it) reaps it.
func (p Process) KillAndWait(timeout time.Duration) error {
	fd, err := p.Pidfd()
	if errors.Is(err, ErrGone) {
		return nil
	} else if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("killing pid %d: %w", p.Pid, err)
	}
	return waitPidfd(fd, p.Pid, timeout)
}

// waitPidfd waits for the process of pidfd fd to exit: the pidfd becomes
// readable then.
func waitPidfd(fd, pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("pid %d did not exit within %v of SIGKILL", pid, timeout)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		} else if err != nil {
			return fmt.Errorf("waiting for pid %d: %w", pid, err)
		}
		if n > 0 {
			return nil
		}
	}
}
