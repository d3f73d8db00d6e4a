package cmd

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/subcommands"
)

// newHelpCommander returns a commander like runsc's, on the parsed top-level flags
// top, with help, the syscalls topic on testTable and one plain command.
func newHelpCommander(top *flag.FlagSet, stdout, stderr io.Writer) *subcommands.Commander {
	cdr := subcommands.NewCommander(top, "runsc")
	cdr.Output, cdr.Error = stdout, stderr
	help := NewHelp(cdr, stdout, stderr)
	help.Register(&Syscalls{Stdout: stdout, Stderr: stderr, Table: testTable})
	cdr.Register(help, "")
	cdr.Register(&Compat{Stdout: stdout, Stderr: stderr, Table: testTable}, "")
	return cdr
}

func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantStatus subcommands.ExitStatus
		wantOut    []string // substrings of stdout
		wantErr    []string // substrings of stderr
	}{
		{
			name:    "commands and topics",
			args:    []string{"help"},
			wantOut: []string{"compat ", "help ", "Help topics", "syscalls "},
		},
		{
			name:    "a command",
			args:    []string{"help", "compat"},
			wantOut: []string{"compat [--format=table|json]", "-output"},
		},
		{
			name:    "the syscalls topic",
			args:    []string{"help", "syscalls", "--status=partial"},
			wantOut: []string{"1   write  partial  no O_DIRECT", "total: 1"},
		},
		{
			name:       "the syscalls topic, bad status",
			args:       []string{"help", "syscalls", "--status=nope"},
			wantStatus: subcommands.ExitUsageError,
			wantErr:    []string{`invalid --status "nope"`},
		},
		{
			name:       "the syscalls topic, unknown flag",
			args:       []string{"help", "syscalls", "--nope"},
			wantStatus: subcommands.ExitUsageError,
			wantErr:    []string{"flag provided but not defined: -nope", "help syscalls [--status"},
		},
		{
			name:       "unknown topic",
			args:       []string{"help", "nope"},
			wantStatus: subcommands.ExitUsageError,
			wantErr:    []string{"Subcommand nope not understood"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			top := flag.NewFlagSet("runsc", flag.ContinueOnError)
			if err := top.Parse(tc.args); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			cdr := newHelpCommander(top, &stdout, &stderr)
			if got := cdr.Execute(context.Background()); got != tc.wantStatus {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got, tc.wantStatus, stderr.String())
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}
