package cmd

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/subcommands"
	"visor.dev/visor/pkg/syscallinfo"
)

var testTable = syscallinfo.Table{
	{Nr: 0, Name: "read", Status: syscallinfo.Supported},
	{Nr: 1, Name: "write", Status: syscallinfo.Partial, Note: "no O_DIRECT"},
	{Nr: 39, Name: "getpid", Status: syscallinfo.Unimplemented, Note: "later"},
	{Nr: 334, Name: "rseq", Status: syscallinfo.Unimplemented, Note: "later"},
}

// run parses args with c's flags and executes c, as the commander would.
func run(t *testing.T, c subcommands.Command, args ...string) subcommands.ExitStatus {
	t.Helper()
	fs := flag.NewFlagSet(c.Name(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.SetFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return c.Execute(context.Background(), fs)
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestSyscalls(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantStatus subcommands.ExitStatus
		wantOut    string
		wantErr    string
	}{
		{
			name: "table",
			wantOut: lines(
				"NR   NAME    STATUS         NOTE",
				"0    read    supported      ",
				"1    write   partial        no O_DIRECT",
				"39   getpid  unimplemented  later",
				"334  rseq    unimplemented  later",
				"",
				"supported: 1",
				"partial: 1",
				"unimplemented: 2",
				"total: 4",
			),
		},
		{
			// The partial row is the one missing, so the counts are of what is shown.
			name: "table without partial",
			args: []string{"--status=unimplemented"},
			wantOut: lines(
				"NR   NAME    STATUS         NOTE",
				"39   getpid  unimplemented  later",
				"334  rseq    unimplemented  later",
				"",
				"supported: 0",
				"partial: 0",
				"unimplemented: 2",
				"total: 2",
			),
		},
		{
			name: "json",
			args: []string{"--format=json", "--status=partial"},
			wantOut: lines(
				"[",
				"  {",
				`    "nr": 1,`,
				`    "name": "write",`,
				`    "status": "partial",`,
				`    "note": "no O_DIRECT"`,
				"  }",
				"]",
			),
		},
		{
			name:    "json of supported",
			args:    []string{"-format", "json", "-status", "supported"},
			wantOut: lines("[", "  {", `    "nr": 0,`, `    "name": "read",`, `    "status": "supported",`, `    "note": ""`, "  }", "]"),
		},
		{
			name:       "bad status",
			args:       []string{"--status=done"},
			wantStatus: subcommands.ExitUsageError,
			wantErr:    "runsc help syscalls: invalid --status \"done\": want one of supported, partial, unimplemented\n",
		},
		{
			name:       "bad format",
			args:       []string{"--format=yaml"},
			wantStatus: subcommands.ExitUsageError,
			wantErr:    "runsc help syscalls: invalid --format \"yaml\": want one of table, json\n",
		},
		{
			name:       "stray argument",
			args:       []string{"read"},
			wantStatus: subcommands.ExitUsageError,
			wantErr:    "runsc help syscalls: unexpected arguments [\"read\"]\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			c := &Syscalls{Stdout: &stdout, Stderr: &stderr, Table: testTable}
			if got := run(t, c, tc.args...); got != tc.wantStatus {
				t.Errorf("exit status %d, want %d", got, tc.wantStatus)
			}
			if diff := cmp.Diff(tc.wantOut, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyscallsJSONEmpty(t *testing.T) {
	var stdout bytes.Buffer
	c := &Syscalls{Stdout: &stdout, Stderr: io.Discard, Table: testTable[2:]}
	if got := run(t, c, "--format=json", "--status=supported"); got != subcommands.ExitSuccess {
		t.Fatalf("exit status %d, want 0", got)
	}
	if got := stdout.String(); got != "[]\n" {
		t.Errorf("no matching system calls gave %q, want an empty array", got)
	}
}
