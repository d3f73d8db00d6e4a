package compat

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv names the environment variable that makes the test binary, when traced,
// act as one of the children below instead of running the tests.
const childEnv = "VISOR_COMPAT_TEST_CHILD"

// The system calls the children make to prove the tracer followed them. Neither
// the Go runtime nor os/exec makes them, which TestChildSyscallsAreDistinctive checks.
const (
	forkMarker   = unix.SYS_GETPRIORITY // made only in a grandchild process
	threadMarker = unix.SYS_SYSINFO     // made only on a second thread
)

func init() {
	if mode := os.Getenv(childEnv); mode == "thread" || mode == "thread-exec" {
		// Keep the main goroutine on the main thread, so that any other goroutine
		// runs on another thread. Only init can make that promise.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintf(os.Stderr, "child %q: %v\n", mode, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild is the test binary's life as a traced child.
func runChild(mode string) error {
	switch mode {
	case "plain":
		return nil
	case "fork":
		// Run a grandchild that makes forkMarker, and check that its SIGCHLD reached
		// us through the tracer.
		sigchld := make(chan os.Signal, 1)
		signal.Notify(sigchld, unix.SIGCHLD)
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"=getpriority")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("grandchild: %w", err)
		}
		select {
		case <-sigchld:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("no SIGCHLD for the grandchild")
		}
	case "getpriority":
		_, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
		return err
	case "thread":
		done := make(chan error)
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				done <- errors.New("goroutine runs on the main thread")
				return
			}
			var si unix.Sysinfo_t
			done <- unix.Sysinfo(&si)
		}()
		return <-done
	case "thread-exec":
		// Exec from a thread that is not the leader, which takes over the leader's id.
		done := make(chan error)
		go func() {
			runtime.LockOSThread()
			if unix.Gettid() == unix.Getpid() {
				done <- errors.New("goroutine runs on the main thread")
				return
			}
			done <- unix.Exec("/bin/true", []string{"true"}, os.Environ())
		}()
		return <-done
	case "probes":
		// Numbers that are no amd64 system call; the kernel fails them with ENOSYS.
		for _, nr := range []uintptr{999, x32SyscallBit | unix.SYS_GETPID} {
			unix.Syscall(nr, 0, 0, 0)
		}
		return nil
	}
	return fmt.Errorf("unknown mode")
}

// traceChild traces the test binary as the child mode, failing t if Trace fails or
// takes too long (a tracer bug can leave a tracee stopped forever).
func traceChild(t *testing.T, mode string) *Result {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("os.Executable: %v", err)
	}
	t.Setenv(childEnv, mode)
	return traceTimeout(t, []string{exe})
}

func traceTimeout(t *testing.T, argv []string) *Result {
	t.Helper()
	type outcome struct {
		res *Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Trace(argv)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatalf("Trace(%q): %v", argv, o.err)
		}
		return o.res
	case <-time.After(time.Minute):
		// Exiting ends the tracer thread, and PTRACE_O_EXITKILL the tracees.
		t.Fatalf("Trace(%q) did not return in a minute", argv)
	}
	panic("unreachable")
}

func amd64(nr uint64) Sysno { return Sysno{ABI: AMD64, Nr: nr} }

func TestTraceTrue(t *testing.T) {
	res := traceTimeout(t, []string{"true"}) // through $PATH
	for _, nr := range []uint64{unix.SYS_EXECVE, unix.SYS_EXIT_GROUP} {
		if res.Counts[amd64(nr)] != 1 {
			t.Errorf("system call %d made %d times, want 1; all: %v", nr, res.Counts[amd64(nr)], res.Counts)
		}
	}
	if !res.Status.Exited() || res.Status.ExitStatus() != 0 {
		t.Errorf("status %#x, want exit 0", uint32(res.Status))
	}
}

func TestChildSyscallsAreDistinctive(t *testing.T) {
	res := traceChild(t, "plain")
	for _, nr := range []uint64{forkMarker, threadMarker} {
		if n := res.Counts[amd64(nr)]; n != 0 {
			t.Errorf("plain child made system call %d %d times; it cannot mark a fork or thread", nr, n)
		}
	}
}

func TestTraceFollowsForks(t *testing.T) {
	res := traceChild(t, "fork")
	if res.Status != 0 {
		t.Errorf("child status %#x, want exit 0", uint32(res.Status))
	}
	if res.Counts[amd64(forkMarker)] != 1 {
		t.Errorf("grandchild's getpriority counted %d times, want 1", res.Counts[amd64(forkMarker)])
	}
	// Two Go binaries were executed: the child by Trace, the grandchild by the child.
	if n := res.Counts[amd64(unix.SYS_EXECVE)]; n != 2 {
		t.Errorf("execve counted %d times, want 2", n)
	}
}

func TestTraceFollowsThreads(t *testing.T) {
	res := traceChild(t, "thread")
	if res.Status != 0 {
		t.Errorf("child status %#x, want exit 0", uint32(res.Status))
	}
	if res.Counts[amd64(threadMarker)] != 1 {
		t.Errorf("second thread's sysinfo counted %d times, want 1", res.Counts[amd64(threadMarker)])
	}
}

func TestTraceExecFromThread(t *testing.T) {
	res := traceChild(t, "thread-exec")
	if res.Status != 0 {
		t.Errorf("status %#x, want exit 0 from /bin/true", uint32(res.Status))
	}
	if n := res.Counts[amd64(unix.SYS_EXECVE)]; n != 2 {
		t.Errorf("execve counted %d times, want 2", n)
	}
	if n := res.Counts[amd64(unix.SYS_EXIT_GROUP)]; n != 1 {
		t.Errorf("exit_group counted %d times, want 1 (from /bin/true)", n)
	}
}

func TestTraceKeepsUnknownNumbers(t *testing.T) {
	res := traceChild(t, "probes")
	for _, s := range []Sysno{amd64(999), {ABI: X32, Nr: x32SyscallBit | unix.SYS_GETPID}} {
		if res.Counts[s] != 1 {
			t.Errorf("%v counted %d times, want 1", s, res.Counts[s])
		}
	}
}

func TestTraceExitAndSignals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   unix.WaitStatus
	}{
		{"exit code", "exit 3", exited(3)},
		// The tracer must deliver the signal the shell sends itself, or it lives on.
		{"killed by signal", "kill -TERM $$; exit 0", unix.WaitStatus(unix.SIGTERM)},
		// A stop signal is a signal-delivery stop, then a group-stop; the traced
		// shell must come out of both.
		{"stop signal", "kill -STOP $$; exit 4", exited(4)},
		{"child exits", "sh -c 'exit 5'; exit $?", exited(5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := traceTimeout(t, []string{"sh", "-c", tc.script})
			if res.Status != tc.want {
				t.Errorf("status %#x, want %#x", uint32(res.Status), uint32(tc.want))
			}
			if res.Counts[amd64(unix.SYS_EXECVE)] == 0 {
				t.Errorf("no execve in %v", res.Counts)
			}
		})
	}
}

func TestTraceCannotStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		argv    []string
		wantErr error
	}{
		{"not in PATH", []string{"visor-no-such-command"}, exec.ErrNotFound},
		{"no such path", []string{"/visor/no/such/command"}, os.ErrNotExist},
		{"not executable", []string{"/dev/null"}, os.ErrPermission},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Trace(tc.argv)
			var se *StartError
			if !errors.As(err, &se) || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Trace(%q) = %v, %v; want a *StartError wrapping %v", tc.argv, res, err, tc.wantErr)
			}
		})
	}
}
