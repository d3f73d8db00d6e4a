package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestFileBindMounts bind-mounts single host files, as Docker does for
// /etc/hostname, /etc/hosts and /etc/resolv.conf and for `-v /host/file:/file`:
// read-only (readable, writes fail with EROFS), read-write (the host sees an
// append), over a file the image has, and at a path the image lacks (the file and
// its parents are made in the root's overlay, never on the host).
func TestFileBindMounts(t *testing.T) {
	rootfs := busyboxRootfs(t)
	for _, tc := range []struct {
		name   string
		script string
		// mounts are destination: host file name in the test's host directory,
		// a trailing ":ro" making the mount read-only.
		mounts     map[string]string
		modify     func(*specs.Spec)
		wantStatus int
		wantOut    string
		wantErr    string // a substring of stderr
		wantHost   map[string]string
	}{
		{
			name:    "read-only over an image file",
			script:  "cat /etc/hostname; echo more >> /etc/hostname && echo wrote",
			mounts:  map[string]string{"/etc/hostname": "name:ro"},
			wantOut: "from the host\n", wantStatus: 1, wantErr: "can't create /etc/hostname: Read-only file system",
			wantHost: map[string]string{"name": "from the host\n"},
		},
		{
			name:     "read-write over an image file",
			script:   "echo appended >> /etc/hostname && cat /etc/hostname",
			mounts:   map[string]string{"/etc/hostname": "name"},
			wantOut:  "from the host\nappended\n",
			wantHost: map[string]string{"name": "from the host\nappended\n"},
		},
		{
			name:     "read-write at a missing path",
			script:   "echo appended >> /etc/hosts && cat /etc/hosts",
			mounts:   map[string]string{"/etc/hosts": "hosts"},
			wantOut:  "127.0.0.1 localhost\nappended\n",
			wantHost: map[string]string{"hosts": "127.0.0.1 localhost\nappended\n"},
		},
		{
			name:    "read-only at a path with missing parents",
			script:  "cat /visor/e2e/file && ls /visor/e2e",
			mounts:  map[string]string{"/visor/e2e/file": "name:ro"},
			wantOut: "from the host\nfile\n",
		},
		{
			name:   "stat and truncate",
			script: "stat -c '%s %a %F' /etc/hosts && : > /etc/hosts && stat -c %s /etc/hosts",
			mounts: map[string]string{"/etc/hosts": "hosts"},
			// 20 bytes of "127.0.0.1 localhost\n", the host's mode.
			wantOut:  "20 640 regular file\n0\n",
			wantHost: map[string]string{"hosts": ""},
		},
		{
			name:    "nothing beneath a file",
			script:  "cat /etc/hosts/x",
			mounts:  map[string]string{"/etc/hosts": "hosts:ro"},
			wantErr: "Not a directory", wantStatus: 1,
		},
		{
			name:    "several files",
			script:  "cat /etc/hostname /etc/hosts /etc/resolv.conf",
			mounts:  map[string]string{"/etc/hostname": "name:ro", "/etc/hosts": "hosts:ro", "/etc/resolv.conf": "resolv:ro"},
			wantOut: "from the host\n127.0.0.1 localhost\nnameserver 192.0.2.1\n",
		},
		{
			name:       "file over a directory",
			script:     "true",
			mounts:     map[string]string{"/etc": "name:ro"},
			wantStatus: 1, wantErr: "the source is a file and /etc in the container is a directory",
		},
		{
			name:       "missing path under a read-only root",
			script:     "true",
			mounts:     map[string]string{"/etc/hosts": "hosts:ro"},
			modify:     func(s *specs.Spec) { s.Root.Readonly = true },
			wantStatus: 1, wantErr: "creating mount point /etc/hosts",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostDir := t.TempDir()
			for name, data := range map[string]string{
				"name": "from the host\n", "hosts": "127.0.0.1 localhost\n", "resolv": "nameserver 192.0.2.1\n",
			} {
				if err := os.WriteFile(filepath.Join(hostDir, name), []byte(data), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			modify := func(s *specs.Spec) {
				for dest, src := range tc.mounts {
					name, ro := strings.CutSuffix(src, ":ro")
					opts := []string{"rbind", "rw"}
					if ro {
						opts = []string{"rbind", "ro"}
					}
					s.Mounts = append(s.Mounts, specs.Mount{Destination: dest, Type: "bind", Source: filepath.Join(hostDir, name), Options: opts})
				}
				if tc.modify != nil {
					tc.modify(s)
				}
			}
			res := runBusybox(t, "", modify, "sh", "-c", tc.script)
			if res.status != tc.wantStatus || res.stdout != tc.wantOut || !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("%q = %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
					tc.script, res.status, res.stdout, res.stderr, tc.wantStatus, tc.wantOut, tc.wantErr)
			}
			for name, want := range tc.wantHost {
				if got, err := os.ReadFile(filepath.Join(hostDir, name)); err != nil || string(got) != want {
					t.Errorf("host file %s holds %q, %v; want %q", name, got, err, want)
				}
			}
		})
	}
	// Mount points the image lacked were made in the overlay only.
	for _, p := range []string{"etc/hosts", "etc/resolv.conf", "visor"} {
		if _, err := os.Lstat(filepath.Join(rootfs, p)); !os.IsNotExist(err) {
			t.Errorf("%s exists in the host's rootfs (%v): the mount point was made on the host", p, err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(rootfs, "etc", "hostname")); err != nil || string(got) != "visor\n" {
		t.Errorf("the rootfs's own /etc/hostname holds %q, %v; want it untouched", got, err)
	}
}
