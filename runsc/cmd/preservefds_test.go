package cmd

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPreserveFDs passes pipes to runsc as its fds 3 and 4 with --preserve-fds
// 1, through create and through run: the container writes to its fd 3, which
// the test reads from the pipe, and has no fd 4. Once the container is gone,
// the pipe hangs up: no copy of its write end is left open anywhere.
func TestPreserveFDs(t *testing.T) {
	const script = `echo to three >&3; if echo x 2>/dev/null >&4; then echo has4; else echo no4; fi`
	for _, tc := range []struct {
		name string
		// args runs the container c1 of bundle, with --preserve-fds 1.
		args func(bundle string) []string
		// after, if set, runs once args's command has exited.
		after func(l *lifecycle)
	}{
		{
			name: "create",
			args: func(bundle string) []string {
				return []string{"create", "--bundle", bundle, "--preserve-fds", "1", "c1"}
			},
			after: func(l *lifecycle) {
				l.run(0, "start", "c1")
				l.run(0, "wait", "c1")
				l.run(0, "delete", "c1")
			},
		},
		{
			name: "run",
			args: func(bundle string) []string {
				return []string{"run", "--bundle", bundle, "--preserve-fds", "1", "c1"}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLifecycle(t)
			bundle := busyboxBundle(t, "/bin/sh", "-c", script)
			r3, w3, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r3.Close()
			r4, w4, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r4.Close()
			out := filepath.Join(t.TempDir(), "out")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd := exec.Command(runscBinary(t), append([]string{"--root", l.root}, tc.args(bundle)...)...)
			cmd.Stdout, cmd.Stderr = f, f
			cmd.ExtraFiles = []*os.File{w3, w4}
			err = cmd.Run()
			w3.Close()
			w4.Close()
			if err != nil {
				data, _ := os.ReadFile(out)
				t.Fatalf("runsc %s: %v, output %q", tc.name, err, data)
			}
			if tc.after != nil {
				tc.after(l)
			}
			if err := r3.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r3)
			if err != nil {
				t.Errorf("reading the pipe passed as fd 3: %v (got %q; a write end left open?)", err, got)
			}
			if string(got) != "to three\n" {
				t.Errorf("the pipe passed as fd 3 got %q, want %q", got, "to three\n")
			}
			if data, _ := os.ReadFile(out); strings.TrimSpace(string(data)) != "no4" {
				t.Errorf("container output %q, want no4 (fd 4 was not preserved)", data)
			}
			checkNothingLeft(t, l.root, bundle)
		})
	}
}

// TestPreserveFDsBad checks that --preserve-fds hands on only fds runsc was
// given: a negative count, and fds runsc's caller did not pass, fail in one line
// and leave nothing.
func TestPreserveFDsBad(t *testing.T) {
	l := newLifecycle(t)
	bundle := busyboxBundle(t, "/bin/true")
	for _, tc := range []struct {
		cmd, n, want string
	}{
		{"create", "-1", "--preserve-fds=-1: must not be negative"},
		{"run", "-1", "--preserve-fds=-1: must not be negative"},
		// Not open, or one runsc opened itself (close-on-exec): either way
		// not the caller's, and the message names it.
		{"create", "1", "--preserve-fds=1: fd 3 "},
		{"run", "3", "--preserve-fds=3: fd 3 "},
	} {
		t.Run(tc.cmd+" "+tc.n, func(t *testing.T) {
			r := l.with(t).run(1, tc.cmd, "--bundle", bundle, "--preserve-fds", tc.n, "c1")
			if !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr %q: want one line with %q", r.stderr, tc.want)
			}
		})
	}
	checkNothingLeft(t, l.root, bundle)
}
