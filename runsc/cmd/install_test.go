package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/subcommands"
)

// decode parses JSON text for comparison by value.
func decode(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return v
}

func TestInstallUninstallData(t *testing.T) {
	const runsc = `{"path": "/opt/runsc", "runtimeArgs": ["--debug"]}`
	rt := dockerRuntime{Path: "/opt/runsc", RuntimeArgs: []string{"--debug"}}
	for _, tc := range []struct {
		name      string
		uninstall bool
		in        string
		want      string // JSON compared by value; "" when an error is wanted
		changed   bool
		wantErr   string
	}{
		{name: "empty file", in: "", want: `{"runtimes": {"runsc": ` + runsc + `}}`, changed: true},
		{name: "blank file", in: " \n", want: `{"runtimes": {"runsc": ` + runsc + `}}`, changed: true},
		{
			name:    "other keys kept",
			in:      `{"debug": true, "log-opts": {"max-size": "10m"}, "max-concurrent-downloads": 12345678901234567890}`,
			want:    `{"debug": true, "log-opts": {"max-size": "10m"}, "max-concurrent-downloads": 12345678901234567890, "runtimes": {"runsc": ` + runsc + `}}`,
			changed: true,
		},
		{
			name:    "other runtimes kept",
			in:      `{"runtimes": {"kata": {"path": "/usr/bin/kata", "runtimeArgs": ["-x"]}}}`,
			want:    `{"runtimes": {"kata": {"path": "/usr/bin/kata", "runtimeArgs": ["-x"]}, "runsc": ` + runsc + `}}`,
			changed: true,
		},
		{
			name:    "stale entry replaced",
			in:      `{"runtimes": {"runsc": {"path": "/old/runsc"}}}`,
			want:    `{"runtimes": {"runsc": ` + runsc + `}}`,
			changed: true,
		},
		{
			name: "same entry: unchanged",
			in:   `{"runtimes":{"runsc":{"runtimeArgs":["--debug"],"path":"/opt/runsc"}}}`,
			want: `{"runtimes": {"runsc": ` + runsc + `}}`,
		},
		{name: "malformed", in: `{"runtimes": {`, wantErr: "malformed JSON: unexpected end of JSON input"},
		{name: "array", in: `[1]`, wantErr: "not a JSON object: json: cannot unmarshal array"},
		{name: "null", in: `null`, wantErr: "not a JSON object"},
		{name: "runtimes not an object", in: `{"runtimes": []}`, wantErr: `"runtimes" is not a JSON object`},
		{
			name:      "uninstall keeps the rest",
			uninstall: true,
			in:        `{"debug": true, "runtimes": {"kata": {"path": "/k"}, "runsc": ` + runsc + `}}`,
			want:      `{"debug": true, "runtimes": {"kata": {"path": "/k"}}}`,
			changed:   true,
		},
		{
			name:      "uninstall drops an emptied runtimes",
			uninstall: true,
			in:        `{"debug": true, "runtimes": {"runsc": ` + runsc + `}}`,
			want:      `{"debug": true}`,
			changed:   true,
		},
		{
			name:      "uninstall of an absent runtime: unchanged",
			uninstall: true,
			in:        `{"runtimes": {"kata": {"path": "/k"}}}`,
			want:      `{"runtimes": {"kata": {"path": "/k"}}}`,
		},
		{name: "uninstall malformed", uninstall: true, in: `{,}`, wantErr: "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				out     []byte
				changed bool
				err     error
			)
			if tc.uninstall {
				out, changed, err = uninstallRuntime([]byte(tc.in), "runsc")
			} else {
				out, changed, err = installRuntime([]byte(tc.in), "runsc", rt)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if !changed && string(out) != tc.in {
				t.Errorf("unchanged data rewritten: %q, want %q", out, tc.in)
			}
			if diff := cmp.Diff(decode(t, []byte(tc.want)), decode(t, out)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

// runInstall runs `runsc install` or `runsc uninstall` with args and returns its
// exit status, stdout and stderr.
func runInstall(t *testing.T, uninstall bool, args ...string) (subcommands.ExitStatus, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	var c subcommands.Command = &Install{Stdout: &stdout, Stderr: &stderr, Path: "/opt/runsc"}
	if uninstall {
		c = &Uninstall{Stdout: &stdout, Stderr: &stderr}
	}
	status := run(t, c, args...)
	return status, stdout.String(), stderr.String()
}

func TestInstallFile(t *testing.T) {
	for _, tc := range []struct {
		name      string
		uninstall bool
		args      []string // after --config_file=FILE
		existing  *string  // nil: no file
		mode      os.FileMode
		// want is the file's content afterwards compared by value, or "" for
		// no file; wantSame says it must be byte for byte what was there.
		want       string
		wantSame   bool
		wantStatus subcommands.ExitStatus
		wantStderr string
	}{
		{
			name:       "missing file created",
			args:       []string{"--", "--platform=ptrace", "--debug"},
			want:       `{"runtimes": {"runsc": {"path": "/opt/runsc", "runtimeArgs": ["--platform=ptrace", "--debug"]}}}`,
			mode:       0o644,
			wantStatus: subcommands.ExitSuccess,
		},
		{
			name:       "named runtime, mode kept",
			args:       []string{"--runtime=visor"},
			existing:   ptr(`{"debug": true}`),
			mode:       0o600,
			want:       `{"debug": true, "runtimes": {"visor": {"path": "/opt/runsc"}}}`,
			wantStatus: subcommands.ExitSuccess,
		},
		{
			name:       "already installed: untouched",
			existing:   ptr(`{ "runtimes" : { "runsc" : { "path" : "/opt/runsc" } } }`),
			mode:       0o640,
			wantSame:   true,
			wantStatus: subcommands.ExitSuccess,
		},
		{
			name:       "malformed: error, untouched",
			existing:   ptr(`{"debug": true,`),
			mode:       0o644,
			wantSame:   true,
			wantStatus: subcommands.ExitFailure,
			wantStderr: "runsc install: FILE: malformed JSON: unexpected end of JSON input (file left unchanged)\n",
		},
		{
			name:       "reserved name",
			args:       []string{"--runtime=runc"},
			existing:   ptr(`{}`),
			mode:       0o644,
			wantSame:   true,
			wantStatus: subcommands.ExitUsageError,
			wantStderr: "runsc install: --runtime: \"runc\" is reserved by Docker for its own runc\n",
		},
		{
			name:       "uninstall",
			uninstall:  true,
			existing:   ptr(`{"runtimes": {"runsc": {"path": "/opt/runsc"}, "kata": {"path": "/k"}}}`),
			mode:       0o604,
			want:       `{"runtimes": {"kata": {"path": "/k"}}}`,
			wantStatus: subcommands.ExitSuccess,
		},
		{
			name:       "uninstall of a missing file: nothing to do",
			uninstall:  true,
			wantStatus: subcommands.ExitSuccess,
		},
		{
			name:       "uninstall malformed: error, untouched",
			uninstall:  true,
			existing:   ptr(`]`),
			mode:       0o644,
			wantSame:   true,
			wantStatus: subcommands.ExitFailure,
			wantStderr: "runsc uninstall: FILE: malformed JSON: invalid character ']' looking for beginning of value (file left unchanged)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "docker", "daemon.json")
			if tc.existing != nil {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(*tc.existing), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(file, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			status, _, stderr := runInstall(t, tc.uninstall, append([]string{"--config_file=" + file}, tc.args...)...)
			if status != tc.wantStatus {
				t.Errorf("exit status %d, want %d; stderr: %s", status, tc.wantStatus, stderr)
			}
			if want := strings.ReplaceAll(tc.wantStderr, "FILE", file); stderr != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
			got, err := os.ReadFile(file)
			switch {
			case tc.existing == nil && tc.want == "":
				if err == nil {
					t.Errorf("%s created: %s", file, got)
				}
				return
			case err != nil:
				t.Fatal(err)
			case tc.wantSame:
				if string(got) != *tc.existing {
					t.Errorf("file changed to %q, want it untouched: %q", got, *tc.existing)
				}
			default:
				if diff := cmp.Diff(decode(t, []byte(tc.want)), decode(t, got)); diff != "" {
					t.Errorf("daemon.json (-want +got):\n%s", diff)
				}
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.mode {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.mode)
			}
			// The temporary file was renamed or removed: only daemon.json is left.
			if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 1 {
				t.Errorf("%s holds %d entries, want only daemon.json", filepath.Dir(file), len(entries))
			}
		})
	}
}

// TestInstallTwice checks idempotence end to end: a second install leaves the
// file byte for byte as the first wrote it, and uninstall undoes the install.
func TestInstallTwice(t *testing.T) {
	file := filepath.Join(t.TempDir(), "daemon.json")
	const orig = `{"storage-driver": "vfs"}`
	if err := os.WriteFile(file, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runInstall(t, false, "--config_file="+file, "--", "--debug"); status != subcommands.ExitSuccess {
		t.Fatalf("install: %d, %s", status, stderr)
	}
	first, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	status, stdout, stderr := runInstall(t, false, "--config_file="+file, "--", "--debug")
	if status != subcommands.ExitSuccess || !strings.Contains(stdout, "already installed") {
		t.Fatalf("second install: %d, stdout %q, stderr %q; want 0, already installed", status, stdout, stderr)
	}
	if second, _ := os.ReadFile(file); !bytes.Equal(first, second) {
		t.Errorf("second install rewrote the file:\n%s\nwas:\n%s", second, first)
	}
	if status, _, stderr := runInstall(t, true, "--config_file="+file); status != subcommands.ExitSuccess {
		t.Fatalf("uninstall: %d, %s", status, stderr)
	}
	after, _ := os.ReadFile(file)
	if diff := cmp.Diff(decode(t, []byte(orig)), decode(t, after)); diff != "" {
		t.Errorf("after install and uninstall (-want +got):\n%s", diff)
	}
}

// TestInstallSymlink checks that a symlinked daemon.json stays a symlink and the
// file it points to is what changes.
func TestInstallSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.json")
	link := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(target, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	if status, _, stderr := runInstall(t, false, "--config_file="+link); status != subcommands.ExitSuccess {
		t.Fatalf("install: %d, %s", status, stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symlink (%v)", link, err)
	}
	got, _ := os.ReadFile(target)
	if diff := cmp.Diff(decode(t, []byte(`{"runtimes": {"runsc": {"path": "/opt/runsc"}}}`)), decode(t, got)); diff != "" {
		t.Errorf("target (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }
