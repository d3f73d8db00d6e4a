package config

import (
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDefaults(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("runsc", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Config{
		RootDir:   "/var/run/runsc",
		LogFormat: LogFormatText,
		Platform:  PlatformPtrace,
		Network:   NetworkSandbox,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    Config
		wantErr string // empty: valid
	}{
		{
			name: "all set",
			args: []string{"--root=/tmp/r", "--debug", "--debug-log=/tmp/logs/", "--log=/tmp/l", "--log-format=json",
				"--platform=kvm", "--network=none", "--strace", "--rootless"},
			want: Config{RootDir: "/tmp/r", Debug: true, DebugLog: "/tmp/logs/", LogFilename: "/tmp/l", LogFormat: "json",
				Platform: "kvm", Network: "none", Strace: true, Rootless: true},
		},
		{
			name: "ptrace host",
			args: []string{"-platform", "ptrace", "-network", "host"},
			want: Config{RootDir: "/var/run/runsc", LogFormat: "text", Platform: "ptrace", Network: "host"},
		},
		{
			name:    "bad platform",
			args:    []string{"--platform=foo"},
			wantErr: `invalid --platform "foo": want one of ptrace, systrap, kvm`,
		},
		{
			name:    "bad network",
			args:    []string{"--network=bridge"},
			wantErr: `invalid --network "bridge": want one of sandbox, host, none`,
		},
		{
			name:    "bad log format",
			args:    []string{"--log-format=xml"},
			wantErr: `invalid --log-format "xml": want one of text, json`,
		},
		{
			name:    "empty root",
			args:    []string{"--root="},
			wantErr: `invalid --root "": must not be empty`,
		},
		{
			name:    "case matters",
			args:    []string{"--platform=KVM"},
			wantErr: `invalid --platform "KVM": want one of ptrace, systrap, kvm`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			fs := flag.NewFlagSet("runsc", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			c.RegisterFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if diff := cmp.Diff(tc.want, c); diff != "" {
					t.Errorf("config (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate succeeded on %+v, want %q", c, tc.wantErr)
			}
			if got := err.Error(); got != tc.wantErr {
				t.Errorf("Validate error:\n got %s\nwant %s", got, tc.wantErr)
			}
			var fe *InvalidFlagError
			if !errors.As(err, &fe) {
				t.Errorf("Validate error %T is not an *InvalidFlagError", err)
			}
		})
	}
}
