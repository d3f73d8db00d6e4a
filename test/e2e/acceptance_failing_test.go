//go:build e2e_sentry

package e2e

// Acceptance cases that fail today, each for a root cause STATUS.md names; they
// assert Linux's behaviour all the same. Run them with
//
//	go test -tags e2e_sentry ./test/e2e/...
//
// When a fix makes a case pass, move it to acceptance_test.go (untagged) and update
// STATUS.md.

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestProcSelfNames compares the entries of /proc/self with Linux's: the names of
// `ls -la /proc/self/`, normalized to the set of names (see procSelfNames).
func TestProcSelfNames(t *testing.T) {
	rootfs := debianRootfs(t)
	linux := procSelfNames(native(t, rootfs, "", "ls", "-la", "/proc/self/"))
	visor := procSelfNames(runDebian(t, "", nil, "ls", "-la", "/proc/self/"))
	if !slices.Equal(linux, visor) {
		var missing, extra []string
		for _, n := range linux {
			if !slices.Contains(visor, n) {
				missing = append(missing, n)
			}
		}
		for _, n := range visor {
			if !slices.Contains(linux, n) {
				extra = append(extra, n)
			}
		}
		t.Errorf("/proc/self differs from Linux: missing %q, extra %q", missing, extra)
	}
}

// TestProcMounts checks that /proc/mounts and mountinfo list the container's
// mounts (the spec's /proc, /dev and /tmp), not only its root. The native
// reference cannot say (its /dev is the host's), so the expectation is written out.
func TestProcMounts(t *testing.T) {
	res := runDebian(t, "", nil, "sh", "-c", "awk '{print $2, $3}' /proc/mounts; echo; awk '{print $5, $(NF-2)}' /proc/self/mountinfo")
	mounts, mountinfo, _ := strings.Cut(res.stdout, "\n\n")
	for _, want := range []string{"/ overlay", "/proc proc", "/dev tmpfs", "/tmp tmpfs"} {
		if !slices.Contains(strings.Split(mounts, "\n"), want) {
			t.Errorf("/proc/mounts lacks %q:\n%s", want, mounts)
		}
		if !slices.Contains(strings.Split(strings.TrimSpace(mountinfo), "\n"), want) {
			t.Errorf("/proc/self/mountinfo lacks %q:\n%s", want, mountinfo)
		}
	}
}

// TestAcceptanceKnownFailures compares programs with Linux, as TestAcceptance does.
func TestAcceptanceKnownFailures(t *testing.T) {
	compareCases(t, []compareCase{
		// AF_INET sockets (EAFNOSUPPORT: netstack is not wired to the socket layer).
		{name: "tcp loopback", args: []string{"python3", "-c", `
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a, _ = s.accept()
c.sendall(b"tcp ok" * 10000); c.close()
n = 0
while True:
    d = a.recv(65536)
    if not d: break
    n += len(d)
print(n)
`}},
		{name: "udp loopback", args: []string{"python3", "-c", `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.sendto(b"udp ok", s.getsockname())
print(s.recv(16))
`}},
		// Shared writable mappings of files (mmap MAP_SHARED|PROT_WRITE: ENODEV).
		{name: "shared file mmap", args: []string{"python3", "-c", `
import mmap, os
for path in ("/tmp/m", "/m"):
    with open(path, "wb") as f: f.write(b"\0" * 8192)
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 8192, flags=mmap.MAP_SHARED)
    m[:5] = b"hello"; m.flush()
    print(path, open(path, "rb").read(5))
`}},
		{name: "python multiprocessing pool", args: []string{"python3", "-c", `
import multiprocessing as mp
with mp.Pool(2) as p: print(p.map(abs, [-1, -2, -3]))
`}},

		// Other system calls.
		{name: "ionice", args: sh("ionice -p $$; ionice -c 3 ionice")},
		// devpts (runsc boot skips a devpts mount: not implemented): no ptys.
		{name: "pty", modify: withDevpts, args: []string{"python3", "-c", `
import os, pty
r, w = os.pipe()
pid, fd = pty.fork()
if pid == 0:
    print("in a pty", os.isatty(0), os.ttyname(0).startswith("/dev/pts/"), flush=True)
    os.read(r, 1)  # exit only once the parent has read: Linux drops unread output at hangup
    os._exit(0)
print("pty", os.read(fd, 100)); os.write(w, b"x"); os.waitpid(pid, 0)
`}},
		{name: "proc ns", args: sh("ls /proc/self/ns | tr '\\n' ' '; readlink /proc/self/ns/pid | cut -d: -f1")},
	})
}

// withDevpts adds the /dev/pts mount of runc's default spec (the native run has the
// host's /dev, ptys included).
func withDevpts(s *specs.Spec) {
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
		Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}})
}
