package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/syscallinfo"
	"visor.dev/visor/runsc/version"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string // exact stdout, unless wantOutHas is set
		wantOutHas []string
		wantErr    string // exact stderr, unless wantErrHas is set
		wantErrHas []string
	}{
		{
			name:    "version",
			args:    []string{"--version"},
			wantOut: "runsc version " + version.Version() + "\nspec: " + version.Spec + "\n",
		},
		{
			name:    "version before validation",
			args:    []string{"--platform=foo", "-version"},
			wantOut: "runsc version " + version.Version() + "\nspec: " + version.Spec + "\n",
		},
		{
			name:       "bad platform",
			args:       []string{"--platform=foo", "help"},
			wantStatus: 2,
			wantErr:    "runsc: invalid --platform \"foo\": want one of ptrace, systrap, kvm\n",
		},
		{
			name:       "bad network",
			args:       []string{"--network", "bridge", "help"},
			wantStatus: 2,
			wantErr:    "runsc: invalid --network \"bridge\": want one of sandbox, host, none\n",
		},
		{
			name:       "bad log format",
			args:       []string{"--log-format=xml", "help"},
			wantStatus: 2,
			wantErr:    "runsc: invalid --log-format \"xml\": want one of text, json\n",
		},
		{
			name:       "unknown flag",
			args:       []string{"--bogus", "help"},
			wantStatus: 2,
			wantErr:    "runsc: flag provided but not defined: -bogus (see \"runsc flags\")\n",
		},
		{
			name:       "bad boolean",
			args:       []string{"--debug=maybe", "help"},
			wantStatus: 2,
			wantErr:    "runsc: invalid boolean value \"maybe\" for -debug: parse error (see \"runsc flags\")\n",
		},
		{
			name:       "unknown command",
			args:       []string{"frob", "--x"},
			wantStatus: 2,
			wantErr:    "runsc: unknown command \"frob\" (see \"runsc help\")\n",
		},
		{
			name:       "no command",
			wantStatus: 2,
			wantErrHas: []string{"Usage: runsc <flags> <subcommand>", "compat"},
		},
		{
			name:       "-h",
			args:       []string{"-h"},
			wantOutHas: []string{"Usage: runsc <flags> <subcommand>", "-platform=ptrace"},
		},
		{
			name:       "valid flags",
			args:       []string{"--root=/tmp/x", "--platform=kvm", "--network=host", "--log-format=json", "--strace", "--rootless", "help"},
			wantOutHas: []string{"Help topics", "syscalls"},
		},
		{
			name:       "help for a command",
			args:       []string{"help", "compat"},
			wantOutHas: []string{"compat [--format=table|json] [--output=FILE] -- CMD [ARGS...]"},
		},
		{
			name:       "help topic",
			args:       []string{"help", "syscalls", "--status=partial"},
			wantOutHas: []string{"NR", "partial: "},
		},
		{
			name:       "help topic, bad status",
			args:       []string{"help", "syscalls", "--status=bogus"},
			wantStatus: 2,
			wantErr:    "runsc help syscalls: invalid --status \"bogus\": want one of supported, partial, unimplemented\n",
		},
		{
			name:       "flags",
			args:       []string{"flags"},
			wantOutHas: []string{"-root string", "-debug-log", "-log-format", "-network", "-platform", "-strace", "-rootless"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := Run(tc.args, &stdout, &stderr); got != tc.wantStatus {
				t.Errorf("Run(%q) = %d, want %d; stderr:\n%s", tc.args, got, tc.wantStatus, stderr.String())
			}
			check := func(stream, got, want string, has []string) {
				if has == nil {
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s (-want +got):\n%s", stream, diff)
					}
					return
				}
				for _, h := range has {
					if !strings.Contains(got, h) {
						t.Errorf("%s lacks %q:\n%s", stream, h, got)
					}
				}
			}
			check("stdout", stdout.String(), tc.wantOut, tc.wantOutHas)
			check("stderr", stderr.String(), tc.wantErr, tc.wantErrHas)
		})
	}
}

// TestHelpSyscallsJSON checks that the topic lists the whole table runsc is built
// with, whatever its contents.
func TestHelpSyscallsJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := Run([]string{"help", "syscalls", "--format=json"}, &stdout, &stderr); got != 0 {
		t.Fatalf("exit status %d, want 0; stderr:\n%s", got, stderr.String())
	}
	var got []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON array: %v", err)
	}
	table := syscallinfo.AMD64()
	if len(got) != len(table) {
		t.Fatalf("%d system calls listed, the table has %d", len(got), len(table))
	}
	for i, s := range table {
		want := map[string]any{"nr": float64(s.Nr), "name": s.Name, "status": s.Status.String(), "note": s.Note}
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Errorf("row %d (-want +got):\n%s", i, diff)
		}
	}
}
