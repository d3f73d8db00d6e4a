package seccomp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv makes the test binary a child that installs a filter (see childMain).
const childEnv = "VISOR_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		childMain(mode)
	}
	os.Exit(m.Run())
}

// childRules is what a small Go program needs: the runtime and reading a file.
func childRules() Rules {
	return GoRuntime().Merge(Rules{
		unix.SYS_OPENAT: nil,
		unix.SYS_FSTAT:  nil,
		unix.SYS_LSEEK:  nil,
	})
}

// childMain installs childRules and reports on stdout. mode "allow" then does
// allowed work only; "deny" makes a call the list refuses (mount); "log-only"
// makes it under a log-only filter and goes on.
func childMain(mode string) {
	if err := Install(childRules(), Options{Name: "test-child", Log: os.Stderr, LogOnly: mode == "log-only"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	// Work the runtime on several threads: the filter is on all of them.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			runtime.LockOSThread()
			b := make([]byte, 1<<20)
			time.Sleep(10 * time.Millisecond)
			b[0] = 1
			runtime.GC()
		})
	}
	wg.Wait()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	for l := range strings.Lines(string(status)) {
		if strings.HasPrefix(l, "Seccomp:") || strings.HasPrefix(l, "NoNewPrivs:") {
			fmt.Print(strings.Join(strings.Fields(l), " "), "\n")
		}
	}
	if mode != "allow" {
		_, _, errno := unix.Syscall6(unix.SYS_MOUNT, 0, 0, 0, 0, 0, 0)
		fmt.Printf("mount returned: %v\n", errno)
	}
	os.Exit(0)
}

func runChild(t *testing.T, mode string) (stdout, stderr string, ws syscall.WaitStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running the child: %v", err)
	}
	return o.String(), e.String(), cmd.ProcessState.Sys().(syscall.WaitStatus)
}

func TestInstall(t *testing.T) {
	const confined = "NoNewPrivs: 1\nSeccomp: 2\n"
	for _, tc := range []struct {
		mode       string
		wantStdout string
		wantStderr string
		killed     bool
	}{
		{mode: "allow", wantStdout: confined},
		{
			mode:       "deny",
			wantStdout: confined,
			wantStderr: "seccomp: test-child made syscall 165 (mount), not in its allow-list; killed [thread ",
			killed:     true,
		},
		{
			mode: "log-only",
			// The call ran: mount(NULL, NULL, ...) fails on its own.
			wantStdout: confined + "mount returned: ",
			wantStderr: "seccomp: test-child made syscall 165 (mount), not in its allow-list; allowed (log-only) [thread ",
		},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			stdout, stderr, ws := runChild(t, tc.mode)
			if !strings.HasPrefix(stdout, tc.wantStdout) {
				t.Errorf("stdout %q, want it to start with %q", stdout, tc.wantStdout)
			}
			if tc.wantStderr == "" && stderr != "" || !strings.HasPrefix(stderr, tc.wantStderr) {
				t.Errorf("stderr %q, want it to start with %q", stderr, tc.wantStderr)
			}
			if tc.killed {
				if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
					t.Errorf("child %v, want it killed by SIGSYS", ws)
				}
				if strings.Contains(stdout, "mount returned") {
					t.Errorf("the refused call returned: %q", stdout)
				}
			} else if !ws.Exited() || ws.ExitStatus() != 0 {
				t.Errorf("child %v, want exit status 0", ws)
			}
		})
	}
}
