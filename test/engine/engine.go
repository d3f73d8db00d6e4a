// Package engine holds what the container-engine end-to-end tests (test/docker,
// test/containerd) share: the OCI runtimes they run the same cases against (runc,
// which proves the harness, and runsc), the busybox rootfs they import, and the
// host-side checks that a removed container left nothing behind (processes, mounts,
// state directories) and a pty to drive interactive containers with.
//
// Which runtimes run is the test parameter $VISOR_TEST_RUNTIMES, a comma-separated
// list of runc and runsc (default both); $VISOR_TEST_DEBUG_DIR, if set, gets
// runsc's debug logs (--debug --debug-log=DIR/).
package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/testutil/runscbin"
)

// RuntimesEnv names the runtimes to test, comma-separated.
const RuntimesEnv = "VISOR_TEST_RUNTIMES"

// DebugDirEnv names a directory for runsc's debug logs.
const DebugDirEnv = "VISOR_TEST_DEBUG_DIR"

// Runtime is an OCI runtime binary under test.
type Runtime struct {
	// Name is runc or runsc; engines register the runtime under a name derived
	// from it ("runc" is Docker's own, so the test's runc is "test-runc").
	Name string
	// Binary is the runtime's absolute path.
	Binary string
	// Args are global flags the engine passes before each command.
	Args []string
}

// Runtimes returns the runtimes $VISOR_TEST_RUNTIMES names, runsc built into dir
// (or the prebuilt one under Bazel). A runtime that is not there fails the test.
func Runtimes(t testing.TB, dir string) []Runtime {
	t.Helper()
	names := os.Getenv(RuntimesEnv)
	if names == "" {
		names = "runc,runsc"
	}
	var rts []Runtime
	for name := range strings.SplitSeq(names, ",") {
		switch name {
		case "runc":
			host, err := exec.LookPath("runc")
			if err != nil {
				t.Fatalf("runc: %v (Debian's runc comes with docker.io)", err)
			}
			// A copy of its own, as runsc is: a process running it is this
			// test's, not another engine's on the same host.
			bin := filepath.Join(dir, "runc")
			if out, err := exec.Command("cp", host, bin).CombinedOutput(); err != nil {
				t.Fatalf("copying %s: %v\n%s", host, err, out)
			}
			rts = append(rts, Runtime{Name: name, Binary: bin})
		case "runsc":
			bin, err := runscbin.Path(dir)
			if err != nil {
				t.Fatal(err)
			}
			if bin, err = filepath.Abs(bin); err != nil {
				t.Fatal(err)
			}
			// A flag that is runsc's default: it proves the engine passes
			// runtime arguments through without changing what runs.
			args := []string{"--platform=ptrace"}
			if d := os.Getenv(DebugDirEnv); d != "" {
				args = append(args, "--debug", "--debug-log="+d+"/")
			}
			rts = append(rts, Runtime{Name: name, Binary: bin, Args: args})
		default:
			t.Fatalf("$%s: unknown runtime %q (want runc or runsc)", RuntimesEnv, name)
		}
	}
	return rts
}

// BusyboxRootfs builds the busybox rootfs (images/busybox/build.sh, found from
// the test's package directory) into dir/rootfs and returns its path.
func BusyboxRootfs(t testing.TB, dir string) string {
	t.Helper()
	script, err := filepath.Abs("../../images/busybox/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	if out, err := exec.Command(script, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return rootfs
}

// TarDir writes a tar archive of dir's content (paths relative to it, owned by
// root) to file.
func TarDir(t testing.TB, dir, file string) {
	t.Helper()
	cmd := exec.Command("tar", "--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", file, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
}

// Result is what a command did.
type Result struct {
	Status         int
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Status, r.Stdout, r.Stderr)
}

// CommandTimeout bounds each engine command, so that a hung container fails its
// case instead of the whole run.
const CommandTimeout = 2 * time.Minute

// Run runs name with args and env added to the environment, stdin as its input,
// and returns what it did. Failing to run it at all, or a time-out, fails the test.
func Run(t testing.TB, env []string, stdin string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s %q did not finish within %v; stdout %q, stderr %q", name, args, CommandTimeout, res.Stdout, res.Stderr)
	}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		res.Status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return res
}

// ProcessesOf returns the PIDs of the host processes whose executable is the file
// bin (compared by device and inode, so that processes in other mount namespaces or
// chroots count too).
func ProcessesOf(bin string) ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(bin, &want); err != nil {
		return nil, fmt.Errorf("stat %s: %w", bin, err)
	}
	var pids []int
	err := eachProcess(func(pid int) {
		var st unix.Stat_t
		// Errors: the process is gone, or a kernel thread without an executable.
		if unix.Stat(fmt.Sprintf("/proc/%d/exe", pid), &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	})
	return pids, err
}

// ProcessesMentioning returns "PID: command line" of the host processes whose
// command line contains s (a container ID: the engine's shim has it in its
// arguments).
func ProcessesMentioning(s string) ([]string, error) {
	var found []string
	self := os.Getpid()
	err := eachProcess(func(pid int) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || pid == self {
			return
		}
		if line := strings.ReplaceAll(string(cmdline), "\x00", " "); strings.Contains(line, s) {
			found = append(found, fmt.Sprintf("%d: %s", pid, line))
		}
	})
	return found, err
}

func eachProcess(f func(pid int)) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			f(pid)
		}
	}
	return nil
}

// MountsMentioning returns the lines of this process's mountinfo whose mount point
// or source contains s.
func MountsMentioning(s string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			found = append(found, sc.Text())
		}
	}
	return found, sc.Err()
}

// MountPointsUnder returns the mount points at or under dir, deepest first.
func MountPointsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// Mount points escape blanks as octal (\040); ours have none.
		if mp := fields[4]; mp == dir || strings.HasPrefix(mp, dir+"/") {
			found = append([]string{mp}, found...)
		}
	}
	return found, sc.Err()
}

// Leftovers lists what a removed container left on the host: processes running the
// runtime binary other than those in before, processes whose command line names
// id, mounts naming id or stateDir, and stateDir itself. It waits up to wait for
// them to go, since engines finish tearing down (the shim exits) after they answer.
func Leftovers(rt Runtime, before []int, id, stateDir string, wait time.Duration) []string {
	deadline := time.Now().Add(wait)
	for {
		var left []string
		pids, err := ProcessesOf(rt.Binary)
		if err != nil {
			left = append(left, err.Error())
		}
		for _, pid := range pids {
			if !slices.Contains(before, pid) {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				left = append(left, fmt.Sprintf("process %d running %s: %s", pid, rt.Binary, strings.ReplaceAll(string(cmdline), "\x00", " ")))
			}
		}
		procs, err := ProcessesMentioning(id)
		if err != nil {
			left = append(left, err.Error())
		}
		for _, p := range procs {
			left = append(left, "process naming the container: "+p)
		}
		for _, s := range []string{id, stateDir} {
			mounts, err := MountsMentioning(s)
			if err != nil {
				left = append(left, err.Error())
			}
			for _, m := range mounts {
				left = append(left, "mount: "+m)
			}
		}
		if _, err := os.Lstat(stateDir); !errors.Is(err, os.ErrNotExist) {
			entries, _ := os.ReadDir(stateDir)
			left = append(left, fmt.Sprintf("state directory %s (%v) holding %v", stateDir, err, entries))
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StopProcess ends a process this test started (a daemon): SIGTERM, then SIGKILL
// if it has not exited within grace. It returns once the process is reaped.
func StopProcess(t testing.TB, cmd *exec.Cmd, done <-chan struct{}, grace time.Duration) {
	t.Helper()
	if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Logf("SIGTERM to %s (pid %d): %v", cmd.Path, cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return
	case <-time.After(grace):
	}
	t.Errorf("%s (pid %d) did not exit within %v of SIGTERM: killing it", cmd.Path, cmd.Process.Pid, grace)
	cmd.Process.Kill()
	<-done
}

// Unmount unmounts every mount at or under dir (a test's own temp directory,
// where a daemon it ran may have left mounts), deepest first.
func Unmount(t testing.TB, dir string) {
	t.Helper()
	mps, err := MountPointsUnder(dir)
	if err != nil {
		t.Error(err)
		return
	}
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mp, err)
		}
	}
}

// TailFile returns the last n lines of file, for failure messages.
func TailFile(file string, n int) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CheckRunsIn fails the test unless pid, the host PID the engine reports for a
// container's init, shows the container runs in rt — not in some other runtime
// the engine fell back to: under runsc it is the Sentry, a process of the runsc
// binary; under runc it is the container's own program, no longer runc.
func CheckRunsIn(t testing.TB, rt Runtime, pid int) {
	t.Helper()
	pids, err := ProcessesOf(rt.Binary)
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	switch isRT := slices.Contains(pids, pid); {
	case rt.Name == "runsc" && !isRT:
		t.Errorf("the container's host process %d runs %q, not %s", pid, exe, rt.Binary)
	case rt.Name != "runsc" && isRT:
		t.Errorf("the container's host process %d is still %s", pid, exe)
	}
}
