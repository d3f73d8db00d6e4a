package specutils

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// validSpec returns a spec that LoadSpec accepts in a bundle made by newBundle.
func validSpec() *specs.Spec {
	return &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "visor",
		Process: &specs.Process{
			Args: []string{"sh", "-c", "echo hi"},
			Env:  []string{"PATH=/bin", "EMPTY="},
			Cwd:  "/",
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/data", Type: "bind", Source: "data", Options: []string{"rbind", "ro"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}},
	}
}

// newBundle makes a bundle directory with a rootfs, a "data" directory, a regular
// "file", a symlink "link" to it, a "fifo", a unix socket "sock", a symlink "null"
// to /dev/null and config.json holding data, and returns its path.
func newBundle(t *testing.T, data []byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"rootfs", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("file", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", filepath.Join(dir, "null")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The socket file stays after its listener closes.
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustJSON(t *testing.T, spec *specs.Spec) []byte {
	t.Helper()
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadSpecValid(t *testing.T) {
	want := validSpec()
	dir := newBundle(t, mustJSON(t, want))
	got, err := LoadSpec(dir)
	if err != nil {
		t.Fatalf("LoadSpec: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestLoadSpecBindMountSources(t *testing.T) {
	for _, tc := range []struct {
		name, source string
	}{
		{"directory", "data"},
		{"regular file", "file"},
		{"symlink to a regular file", "link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := validSpec()
			spec.Mounts[1].Source = tc.source
			dir := newBundle(t, mustJSON(t, spec))
			if _, err := LoadSpec(dir); err != nil {
				t.Errorf("LoadSpec with bind mount source %q: %v", tc.source, err)
			}
		})
	}
}

func TestLoadSpecErrors(t *testing.T) {
	long := strings.Repeat("x", MaxArgLen+1)
	for _, tc := range []struct {
		name   string
		modify func(*specs.Spec)
		raw    string // config.json's text instead of the modified valid spec
		want   string // the error, with BUNDLE for the bundle directory
	}{
		{
			name: "malformed JSON",
			raw:  "{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {,\n}",
			want: `config.json: malformed JSON at line 3, column 15: invalid character ',' looking for beginning of object key string`,
		},
		{
			name: "truncated JSON",
			raw:  `{"ociVersion": "1.0.0"`,
			want: `config.json: malformed JSON at line 1, column 22: unexpected end of JSON input`,
		},
		{
			name: "wrong JSON type",
			raw:  "{\"ociVersion\": \"1.0.0\",\n \"process\": {\"args\": [\"sh\", 3]}}",
			want: `config.json: line 2, column 29: process.args is a JSON number, want string`,
		},
		{
			name: "empty file",
			raw:  "\n",
			want: `config.json: malformed JSON at line 1, column 1: unexpected end of JSON input`,
		},
		{
			name:   "no version",
			modify: func(s *specs.Spec) { s.Version = "" },
			want:   `config.json: ociVersion is missing: set it to "` + specs.Version + `"`,
		},
		{
			name:   "version 2",
			modify: func(s *specs.Spec) { s.Version = "2.0.0" },
			want:   `config.json: ociVersion "2.0.0" is not supported: Visor runs specs of version 1.x`,
		},
		{
			name:   "no root",
			modify: func(s *specs.Spec) { s.Root = nil },
			want:   `config.json: root.path is missing: set it to the container's root file system, e.g. "rootfs"`,
		},
		{
			name:   "missing rootfs",
			modify: func(s *specs.Spec) { s.Root.Path = "nope" },
			want:   `config.json: root.path "nope" does not exist in bundle BUNDLE: create it or fix root.path`,
		},
		{
			name:   "rootfs is a file",
			modify: func(s *specs.Spec) { s.Root.Path = "file" },
			want:   `config.json: root.path "file" in bundle BUNDLE is not a directory: point it at the root file system`,
		},
		{
			name:   "no process",
			modify: func(s *specs.Spec) { s.Process = nil },
			want:   `config.json: process is missing: set process.args to the command to run`,
		},
		{
			name:   "empty args",
			modify: func(s *specs.Spec) { s.Process.Args = nil },
			want:   `config.json: process.args is empty: set the command to run`,
		},
		{
			name:   "empty args[0]",
			modify: func(s *specs.Spec) { s.Process.Args = []string{""} },
			want:   `config.json: process.args[0] is empty: set it to the program to run`,
		},
		{
			name:   "no cwd",
			modify: func(s *specs.Spec) { s.Process.Cwd = "" },
			want:   `config.json: process.cwd is missing: set it to an absolute path in the container, e.g. "/"`,
		},
		{
			name:   "relative cwd",
			modify: func(s *specs.Spec) { s.Process.Cwd = "home" },
			want:   `config.json: process.cwd "home" is not absolute: make it start with "/"`,
		},
		{
			name:   "huge argument",
			modify: func(s *specs.Spec) { s.Process.Args = []string{"echo", long} },
			want:   `config.json: process.args[1] is 131073 bytes long: Linux allows at most 131072`,
		},
		{
			name:   "too many env entries",
			modify: func(s *specs.Spec) { s.Process.Env = make([]string, MaxArgs+1) },
			want:   `config.json: process.env has 65537 entries: at most 65536 are allowed`,
		},
		{
			name:   "env without =",
			modify: func(s *specs.Spec) { s.Process.Env = []string{"A=1", "JUNK"} },
			want:   `config.json: process.env[1] "JUNK" is not NAME=VALUE`,
		},
		{
			name: "rlimit soft above hard",
			modify: func(s *specs.Spec) {
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}
			},
			want: `config.json: process.rlimits[0] (RLIMIT_NOFILE): soft limit 10 is above hard limit 5`,
		},
		{
			name:   "long hostname",
			modify: func(s *specs.Spec) { s.Hostname = strings.Repeat("h", 65) },
			want:   `config.json: hostname is 65 bytes long: Linux allows at most 64`,
		},
		{
			name:   "relative mount destination",
			modify: func(s *specs.Spec) { s.Mounts[0].Destination = "proc" },
			want:   `config.json: mounts[0].destination "proc" is not absolute: make it start with "/"`,
		},
		{
			name:   "escaping mount destination",
			modify: func(s *specs.Spec) { s.Mounts[1].Destination = "/data/../../etc" },
			want:   `config.json: mounts[1].destination "/data/../../etc" contains "..": name the directory without it`,
		},
		{
			name:   "mount without type",
			modify: func(s *specs.Spec) { s.Mounts[0].Type = "" },
			want:   `config.json: mounts[0] (/proc) has no type: set type (e.g. "tmpfs") or add the "bind" option`,
		},
		{
			name:   "bind mount source missing",
			modify: func(s *specs.Spec) { s.Mounts[1].Source = "/visor/no/such/dir" },
			want:   `config.json: mounts[1] (/data): bind mount source "/visor/no/such/dir" does not exist: create it or fix mounts[1].source`,
		},
		{
			name:   "relative bind mount source missing",
			modify: func(s *specs.Spec) { s.Mounts[1].Source = "nodata" },
			want:   `config.json: mounts[1] (/data): bind mount source "BUNDLE/nodata" does not exist: create it or fix mounts[1].source`,
		},
		{
			name:   "bind mount without source",
			modify: func(s *specs.Spec) { s.Mounts[1].Source = "" },
			want:   `config.json: mounts[1] (/data) is a bind mount without a source: set source to a host path`,
		},
		{
			name:   "bind mount of a FIFO",
			modify: func(s *specs.Spec) { s.Mounts[1].Source = "fifo" },
			want:   `config.json: mounts[1] (/data): bind mount source "BUNDLE/fifo" is a FIFO: only directories and regular files can be bind-mounted`,
		},
		{
			name:   "bind mount of a socket",
			modify: func(s *specs.Spec) { s.Mounts[1].Source = "sock" },
			want:   `config.json: mounts[1] (/data): bind mount source "BUNDLE/sock" is a socket: only directories and regular files can be bind-mounted`,
		},
		{
			name:   "bind mount of a device",
			modify: func(s *specs.Spec) { s.Mounts[1].Source = "/dev/null" },
			want:   `config.json: mounts[1] (/data): bind mount source "/dev/null" is a character device: only directories and regular files can be bind-mounted`,
		},
		{
			name:   "bind mount of a symlink to a device",
			modify: func(s *specs.Spec) { s.Mounts[1].Source = "null" },
			want:   `config.json: mounts[1] (/data): bind mount source "BUNDLE/null" is a character device: only directories and regular files can be bind-mounted`,
		},
		{
			name:   "too many mounts",
			modify: func(s *specs.Spec) { s.Mounts = make([]specs.Mount, MaxMounts+1) },
			want:   `config.json: mounts has 1025 entries: at most 1024 are allowed`,
		},
		{
			name:   "unknown namespace",
			modify: func(s *specs.Spec) { s.Linux.Namespaces[1].Type = "bogus" },
			want:   `config.json: linux.namespaces[1]: unknown namespace type "bogus": want one of pid, network, mount, ipc, uts, user, cgroup, time`,
		},
		{
			name:   "duplicate namespace",
			modify: func(s *specs.Spec) { s.Linux.Namespaces[1].Type = specs.PIDNamespace },
			want:   `config.json: linux.namespaces[1]: namespace "pid" is listed twice: remove one`,
		},
		{
			name:   "namespace path",
			modify: func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/proc/1/ns/pid" },
			want:   `config.json: linux.namespaces[0]: joining an existing pid namespace (path "/proc/1/ns/pid") is not supported: remove the path`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.raw == "" {
				spec := validSpec()
				tc.modify(spec)
				data = mustJSON(t, spec)
			}
			dir := newBundle(t, data)
			spec, err := LoadSpec(dir)
			if err == nil {
				t.Fatalf("LoadSpec = %+v, want an error", spec)
			}
			if want := strings.ReplaceAll(tc.want, "BUNDLE", dir); err.Error() != want {
				t.Errorf("LoadSpec error:\n got %s\nwant %s", err, want)
			}
		})
	}
}

func TestLoadSpecFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadSpec(dir); err == nil || err.Error() != "no config.json in bundle "+dir+": pass the bundle directory with --bundle, or create it" {
		t.Errorf("no config.json: got error %v", err)
	}
	big := newBundle(t, make([]byte, MaxConfigSize+1))
	if _, err := LoadSpec(big); err == nil || err.Error() != "config.json: larger than 4 MiB: no real spec is; check the file" {
		t.Errorf("huge config.json: got error %v", err)
	}
}

func TestGoferMounts(t *testing.T) {
	spec := validSpec()
	spec.Root.Readonly = true
	spec.Mounts = append(spec.Mounts,
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"ro"}},
		specs.Mount{Destination: "/abs", Type: "none", Source: "/srv", Options: []string{"bind", "ro", "rw"}},
		specs.Mount{Destination: "/r", Source: "/r", Options: []string{"rbind"}},
	)
	got := GoferMounts(spec, "/bundle")
	want := []ServedMount{
		{Destination: "/", Source: "/bundle/rootfs", ReadOnly: true},
		{Destination: "/data", Source: "/bundle/data", ReadOnly: true},
		{Destination: "/abs", Source: "/srv"},
		{Destination: "/r", Source: "/r"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GoferMounts (-want +got):\n%s", diff)
	}
}

func TestIsReadOnly(t *testing.T) {
	for _, tc := range []struct {
		opts []string
		want bool
	}{
		{nil, false},
		{[]string{"ro"}, true},
		{[]string{"rbind", "ro", "nosuid"}, true},
		{[]string{"ro", "rw"}, false},
		{[]string{"rw", "ro"}, true},
		{[]string{"rorw"}, false},
	} {
		if got := IsReadOnly(tc.opts); got != tc.want {
			t.Errorf("IsReadOnly(%q) = %t, want %t", tc.opts, got, tc.want)
		}
	}
}

func TestRootPath(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"rootfs", "/b/rootfs"},
		{"./x/../rootfs", "/b/rootfs"},
		{"/srv/root/", "/srv/root"},
	} {
		spec := &specs.Spec{Root: &specs.Root{Path: tc.path}}
		if got := RootPath(spec, "/b"); got != tc.want {
			t.Errorf("RootPath(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
