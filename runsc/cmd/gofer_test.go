package cmd

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
)

// startGofer starts `runsc gofer` on bundle with one connection per served
// mount, in the namespaces runsc/sandbox gives it, and returns the client ends.
func startGofer(t *testing.T, bundle string, mounts int) (*exec.Cmd, []int) {
	t.Helper()
	var clients, fds []int
	var servers []*os.File
	for i := range mounts {
		c, s, err := lisafs.SocketPair()
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		servers = append(servers, os.NewFile(uintptr(s), "server"))
		fds = append(fds, 3+i)
	}
	list := intList(fds)
	cmd := exec.Command(runscBinary(t), "gofer", "--bundle", bundle, "--io-fds="+list.String())
	cmd.ExtraFiles = servers
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET,
		Pdeathsig:  unix.SIGKILL,
	}
	err := cmd.Start()
	for _, s := range servers {
		s.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return cmd, clients
}

// procStatus returns the fields of /proc/pid/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fields := map[string]string{}
	for s := bufio.NewScanner(f); s.Scan(); {
		k, v, _ := strings.Cut(s.Text(), ":")
		fields[k] = strings.TrimSpace(v)
	}
	return fields
}

// TestGofer serves a bundle's root and a read-only bind mount, reads a file
// through each, and checks how the Gofer process is confined.
func TestGofer(t *testing.T) {
	requireRoot(t)
	bundle := writeBundle(t, testSpec(), "")
	for _, f := range []struct{ path, data string }{{"rootfs/hello", "root file"}, {"data/hello", "data file"}} {
		if err := os.WriteFile(filepath.Join(bundle, f.path), []byte(f.data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gofer, fds := startGofer(t, bundle, 2)

	for i, want := range []string{"root file", "data file"} {
		c, err := lisafs.NewClient(fds[i], lisafs.ClientOptions{})
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		root, err := c.Mount()
		if err != nil {
			t.Fatalf("connection %d: Mount: %v", i, err)
		}
		_, inodes, err := c.Walk(root.FD, []string{"hello"})
		if err != nil || len(inodes) != 1 {
			t.Fatalf("connection %d: Walk: %v, %d inodes", i, err, len(inodes))
		}
		_, hostFD, err := c.Open(inodes[0].FD, unix.O_RDONLY)
		if err != nil {
			t.Fatalf("connection %d: Open: %v", i, err)
		}
		buf := make([]byte, 64)
		n, err := unix.Read(hostFD, buf)
		unix.Close(hostFD)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("connection %d: read %q, %v; want %q", i, buf[:n], err, want)
		}
		// The bind mount is "ro", the root is not.
		_, err = c.Mkdir(root.FD, "newdir", 0o755, 0, 0)
		if wantErr := i == 1; wantErr != errors.Is(err, linux.EROFS) {
			t.Errorf("connection %d: Mkdir: %v (read-only: %t)", i, err, wantErr)
		}
		if i == 1 {
			// Confined by now: it reads requests only after dropping privileges.
			status := procStatus(t, gofer.Process.Pid)
			const caps = "000000000000001f" // CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID
			for _, k := range []string{"CapEff", "CapPrm", "CapBnd"} {
				if status[k] != caps {
					t.Errorf("gofer %s = %s, want %s", k, status[k], caps)
				}
			}
			if status["CapInh"] != "0000000000000000" || status["NoNewPrivs"] != "1" {
				t.Errorf("gofer CapInh = %s, NoNewPrivs = %s; want none and 1", status["CapInh"], status["NoNewPrivs"])
			}
			entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(gofer.Process.Pid), "root"))
			if err != nil || len(entries) != 0 {
				t.Errorf("gofer's root holds %v, %v; want an empty directory", entries, err)
			}
		}
		c.Close()
	}
	if err := gofer.Wait(); err != nil {
		t.Errorf("gofer after its clients hung up: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs/newdir")); err != nil {
		t.Errorf("Mkdir on the root did not reach the host: %v", err)
	}
}

// TestGoferRefusesParentMountNamespace runs the Gofer in the same mount
// namespace as its parent, a shell in a namespace of its own (so that even a
// Gofer that went on would change nothing outside it).
func TestGoferRefusesParentMountNamespace(t *testing.T) {
	requireRoot(t)
	bundle := writeBundle(t, testSpec(), "")
	sh := exec.Command("/bin/sh", "-c", `"$0" gofer --bundle "$1" --io-fds=3,4; exit $?`, runscBinary(t), bundle)
	sh.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Pdeathsig: unix.SIGKILL}
	for range 2 {
		_, s, err := lisafs.SocketPair()
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(s), "server")
		defer f.Close()
		sh.ExtraFiles = append(sh.ExtraFiles, f)
	}
	out, err := sh.CombinedOutput()
	want := "runsc gofer: not in a mount namespace of its own: runsc gofer is started by runsc, not by hand\n"
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 || string(out) != want {
		t.Errorf("gofer = %v, %q; want exit status 1, %q", err, out, want)
	}
}

func TestGoferBadFDs(t *testing.T) {
	bundle := writeBundle(t, testSpec(), "")
	for _, tc := range []struct {
		args       []string
		wantStatus int
		wantErr    string
	}{
		{[]string{"gofer", "--bundle", bundle, "--io-fds=3"}, 1, "runsc gofer: 1 io FDs for 2 served mounts\n"},
		{[]string{"gofer", "--bundle", bundle, "--io-fds=3,x"}, 2, "runsc gofer: invalid value \"3,x\" for flag -io-fds: \"x\" is not a file descriptor number"},
		{[]string{"boot", "--bundle", bundle, "--gofer-fds=3", "c1"}, 1, "runsc boot: 1 gofer FDs for 2 served mounts\n"},
		{[]string{"boot", "--bundle", bundle, "--gofer-fds=3,4"}, 2, "runsc boot: usage: runsc boot --bundle DIR --gofer-fds=FD,... ID\n"},
	} {
		status, stderr := runsc(t, nil, tc.args...)
		if status != tc.wantStatus || !strings.HasPrefix(stderr, tc.wantErr) {
			t.Errorf("runsc %q = %d, %q; want %d, %q", tc.args, status, stderr, tc.wantStatus, tc.wantErr)
		}
	}
}
