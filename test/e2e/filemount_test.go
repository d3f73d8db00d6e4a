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

// TestMountPointSymlinks: a mount destination that is, or passes through, a symlink
// in the image covers the symlink's target, resolved inside the container's root,
// as runc resolves it; a dangling target is created (in the root's overlay, never
// on the host), with its parent directories.
func TestMountPointSymlinks(t *testing.T) {
	busybox, err := os.ReadFile(filepath.Join(busyboxRootfs(t), "bin", "busybox"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		dest       string
		dir        bool // bind the host directory, not the host file
		script     string
		wantStatus int
		wantOut    string
		wantErr    string
	}{
		{
			name: "dangling relative", dest: "/etc/resolv.conf",
			script:  "cat /run/resolvconf/resolv.conf; readlink /etc/resolv.conf",
			wantOut: "from the host\n../run/resolvconf/resolv.conf\n",
		},
		{
			name: "dangling absolute", dest: "/etc/hosts",
			script:  "cat /etc/hosts /etc/real-hosts",
			wantOut: "from the host\nfrom the host\n",
		},
		{
			name: "to an image file", dest: "/etc/hostname",
			script:  "cat /etc/hostname /etc/hostname.real",
			wantOut: "from the host\nfrom the host\n",
		},
		{
			name: "through a symlinked directory", dest: "/etc2/hosts",
			script:  "cat /etc/hosts /etc/real-hosts",
			wantOut: "from the host\nfrom the host\n",
		},
		{
			name: "dangling directory", dest: "/data", dir: true,
			script:  "cat /srv/data/f",
			wantOut: "in a host directory\n",
		},
		{
			name: "out of the root", dest: "/escape",
			script:  "cat /host-file",
			wantOut: "from the host\n",
		},
		{
			name: "loop", dest: "/loop",
			script:     "true",
			wantStatus: 1, wantErr: "resolving mount point /loop: Too many levels of symbolic links",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rootfs := t.TempDir()
			for _, d := range []string{"bin", "etc", "proc", "dev", "tmp"} {
				if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), busybox, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rootfs, "etc", "hostname.real"), []byte("image\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for link, target := range map[string]string{
				"bin/sh": "busybox", "bin/cat": "busybox", "bin/readlink": "busybox", "bin/true": "busybox",
				"etc/resolv.conf": "../run/resolvconf/resolv.conf", "etc/hosts": "/etc/real-hosts",
				"etc/hostname": "hostname.real", "etc2": "etc", "data": "srv/data",
				"escape": "../../../../host-file", "loop": "loop",
			} {
				if err := os.Symlink(target, filepath.Join(rootfs, link)); err != nil {
					t.Fatal(err)
				}
			}
			hostDir := t.TempDir()
			if err := os.WriteFile(filepath.Join(hostDir, "f"), []byte("in a host directory\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			hostFile := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(hostFile, []byte("from the host\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			source := hostFile
			if tc.dir {
				source = hostDir
			}
			spec := newSpec(rootfs, "/bin/sh", "-c", tc.script)
			spec.Process.Env = []string{"PATH=/bin"}
			spec.Mounts = append(spec.Mounts, specs.Mount{Destination: tc.dest, Type: "bind", Source: source, Options: []string{"rbind", "ro"}})
			bundle := writeBundle(t, spec, "")
			res := runsc(t, nil, "run", "--bundle", bundle, "e2e-"+strings.ReplaceAll(t.Name(), "/", "-"))
			if res.status != tc.wantStatus || res.stdout != tc.wantOut || !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("%q = %d, stdout %q, stderr %q; want %d, %q, stderr with %q",
					tc.script, res.status, res.stdout, res.stderr, tc.wantStatus, tc.wantOut, tc.wantErr)
			}
			for _, p := range []string{"run", "srv", "etc/real-hosts", "host-file"} {
				if _, err := os.Lstat(filepath.Join(rootfs, p)); !os.IsNotExist(err) {
					t.Errorf("%s exists in the host's rootfs (%v): the mount point was made on the host", p, err)
				}
			}
			if got, err := os.ReadFile(filepath.Join(rootfs, "etc", "hostname.real")); err != nil || string(got) != "image\n" {
				t.Errorf("the image's etc/hostname.real holds %q, %v; want it untouched", got, err)
			}
		})
	}
}
