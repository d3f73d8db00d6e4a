package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/subcommands"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/syscallinfo"
	"visor.dev/visor/runsc/compat"
)

// fullTable returns a table in which every number a program could use is a
// supported system call, but for the numbers in unimplemented.
func fullTable(unimplemented ...uintptr) syscallinfo.Table {
	var t syscallinfo.Table
	for nr := range uintptr(512) {
		s := syscallinfo.Syscall{Nr: nr, Name: fmt.Sprintf("sys%d", nr), Status: syscallinfo.Supported}
		for _, u := range unimplemented {
			if nr == u {
				s.Status, s.Note = syscallinfo.Unimplemented, "not yet"
			}
		}
		t = append(t, s)
	}
	return t
}

func TestCompatStatus(t *testing.T) {
	for _, tc := range []struct {
		name       string
		table      syscallinfo.Table
		wantStatus subcommands.ExitStatus
	}{
		{"all supported", fullTable(), subcommands.ExitSuccess},
		{"exit_group unimplemented", fullTable(unix.SYS_EXIT_GROUP), subcommands.ExitFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := &Compat{Stdout: &stdout, Stderr: &stderr, Table: tc.table}
			if got := run(t, c, "--format=json", "--", "true"); got != tc.wantStatus {
				t.Errorf("exit status %d, want %d; stderr: %s", got, tc.wantStatus, stderr.String())
			}
			var report compat.Report
			if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
			}
			var got compat.Entry
			for _, e := range report.Syscalls {
				if e.Nr == unix.SYS_EXIT_GROUP {
					got = e
				}
			}
			want, _ := tc.table.Lookup(unix.SYS_EXIT_GROUP)
			if diff := cmp.Diff(compat.Entry{Nr: unix.SYS_EXIT_GROUP, Name: want.Name, Status: want.Status.String(),
				Note: want.Note, Count: 1}, got); diff != "" {
				t.Errorf("exit_group entry (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompatOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.txt")
	var stdout, stderr bytes.Buffer
	c := &Compat{Stdout: &stdout, Stderr: &stderr, Table: fullTable()}
	if got := run(t, c, "--output", out, "true"); got != subcommands.ExitSuccess {
		t.Fatalf("exit status %d, want 0; stderr: %s", got, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("report went to stdout too: %q", stdout.String())
	}
	report, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "UNSUPPORTED: none") {
		t.Errorf("report file does not say all is supported:\n%s", report)
	}
}

func TestCompatErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantStatus subcommands.ExitStatus
		wantErr    string
	}{
		{"no command", nil, subcommands.ExitUsageError,
			"runsc compat: no command given; usage: runsc compat [flags] -- CMD [ARGS...]\n"},
		{"bad format", []string{"--format=xml", "true"}, subcommands.ExitUsageError,
			"runsc compat: invalid --format \"xml\": want one of table, json\n"},
		{"not found", []string{"--", "visor-no-such-command", "arg"}, exitNotFound,
			"runsc compat: cannot start \"visor-no-such-command\": executable file not found in $PATH\n"},
		{"not executable", []string{"/dev/null"}, exitCannotExec,
			"runsc compat: cannot start \"/dev/null\": permission denied\n"},
		{"bad output path", []string{"--output=/visor/no/such/dir/report", "true"}, exitTraceFailed,
			"runsc compat: open /visor/no/such/dir/report: no such file or directory\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := &Compat{Stdout: &stdout, Stderr: &stderr, Table: fullTable()}
			if got := run(t, c, tc.args...); got != tc.wantStatus {
				t.Errorf("exit status %d, want %d", got, tc.wantStatus)
			}
			if diff := cmp.Diff(tc.wantErr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if stdout.Len() != 0 {
				t.Errorf("a report on stdout after an error: %q", stdout.String())
			}
		})
	}
}
