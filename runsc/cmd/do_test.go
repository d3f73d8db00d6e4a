package cmd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/runsc/config"
)

func TestDoBadInput(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name       string
		args       []string // after "do"
		wantStatus int
		wantErr    string
	}{
		{"no command", nil, 2, "runsc do: no command given; usage: runsc do [flags] [--] CMD [ARGS...]\n"},
		{"bad root dir", []string{"--root-dir=/visor/none", "true"}, 1, "runsc do: --root-dir \"/visor/none\" is not a directory\n"},
		{"relative cwd", []string{"--cwd=tmp", "true"}, 1, "runsc do: config.json: process.cwd \"tmp\" is not absolute: make it start with \"/\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp, root := t.TempDir(), filepath.Join(t.TempDir(), "root")
			status, stderr := runsc(t, []string{"TMPDIR=" + tmp}, append([]string{"--root", root, "do"}, tc.args...)...)
			if status != tc.wantStatus || stderr != tc.wantErr {
				t.Errorf("runsc do = %d, %q; want %d, %q", status, stderr, tc.wantStatus, tc.wantErr)
			}
			checkNothingLeft(t, tmp, tmp)
			checkNothingLeft(t, root, tmp)
		})
	}
}

// TestDoCleansUp runs a sandbox with a temporary bundle and checks that neither
// the bundle nor state nor a process is left when it ends.
func TestDoCleansUp(t *testing.T) {
	requireRoot(t)
	tmp, root := t.TempDir(), filepath.Join(t.TempDir(), "root")
	status, stderr := runsc(t, []string{"TMPDIR=" + tmp}, "--root", root, "do", "--root-dir", tmp, "/visor-no-such-program")
	if status == 0 || stderr == "" {
		t.Errorf("runsc do of a missing program = %d, %q; want a failure, and why", status, stderr)
	}
	checkNothingLeft(t, tmp, tmp)
	checkNothingLeft(t, root, tmp)
}

func TestDoSpec(t *testing.T) {
	hostname, _ := os.Hostname()
	conf := &config.Config{Network: config.NetworkHost}
	got := doSpec(conf, "/", "/home", []string{"ls", "-l"})
	want := &specs.Spec{
		Version:  specs.Version,
		Hostname: hostname,
		Root:     &specs.Root{Path: "/", Readonly: true},
		Process: &specs.Process{
			Args: []string{"ls", "-l"},
			Env:  os.Environ(),
			Cwd:  "/home",
			User: specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("doSpec (-want +got):\n%s", diff)
	}
	if got := doSpec(&config.Config{Network: config.NetworkSandbox}, "/srv", "/", []string{"x"}); got.Root.Readonly ||
		len(got.Linux.Namespaces) != 5 {
		t.Errorf("doSpec for /srv with a sandbox network: root %+v, namespaces %v", got.Root, got.Linux.Namespaces)
	}
}
