package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/runsc/cgroup"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/console"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/control"
	"visor.dev/visor/runsc/sandbox"
	"visor.dev/visor/runsc/specutils"
)

// readyTimeout bounds how long create waits for a Sentry to build its kernel
// and mounts: generous, because many sandboxes may start at once on few cores.
const readyTimeout = 2 * time.Minute

// Create is `runsc create`: the first half of the OCI lifecycle, as runc does it.
type Create struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer
	// Stdio are the container's stdin, stdout and stderr: files, because the
	// Sentry inherits them.
	Stdio [3]*os.File

	bundle        string
	pidFile       string
	consoleSocket string
	preserveFDs   int
	ignored       bool
}

// Name implements subcommands.Command.Name.
func (*Create) Name() string { return "create" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Create) Synopsis() string { return "create a container, ready to start" }

// Usage implements subcommands.Command.Usage.
func (*Create) Usage() string {
	return `create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] ID:
	Creates the container of the OCI bundle DIR (default: the current directory)
	under the name ID: starts its sandbox, detached from runsc, with this
	process's stdin, stdout and stderr as the container's, and returns once the
	sandbox is ready to run the container's process ("runsc start ID" runs it).
	The pid file gets the sandbox's host PID (the Sentry's), which exits with
	the container's exit code.

	With process.terminal in config.json, the container gets a new pseudo-
	terminal instead, whose master is sent over the unix socket SOCKET, as runc
	does. --no-pivot, --no-new-keyring and --detach are accepted for runc's
	callers and change nothing. --preserve-fds N passes this process's fds 3 to
	3+N-1 on to the container's process, as its fds 3 to 3+N-1 (runc's flag).
	On error, one line says why, the exit status is
	1 and nothing is left behind.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (c *Create) SetFlags(f *flag.FlagSet) {
	f.StringVar(&c.bundle, "bundle", "", "path to the bundle directory; default: the current directory.")
	f.StringVar(&c.bundle, "b", "", "short for --bundle.")
	f.StringVar(&c.pidFile, "pid-file", "", "write the sandbox's host PID to this file.")
	f.StringVar(&c.consoleSocket, "console-socket", "", "unix socket to send the pty master to, with process.terminal.")
	f.IntVar(&c.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio (3, 4, ...) to the container's process, as the same numbers.")
	f.BoolVar(&c.ignored, "no-pivot", false, "accepted for runc compatibility; the sandbox never pivots the host's root.")
	f.BoolVar(&c.ignored, "no-new-keyring", false, "accepted for runc compatibility; the sandbox has no host keyring.")
	f.BoolVar(&c.ignored, "detach", false, "accepted for runc compatibility; create always detaches.")
}

// Execute implements subcommands.Command.Execute.
func (c *Create) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "create"
	if f.NArg() != 1 {
		return usageError(c.Stderr, name, errors.New("want one container ID; usage: runsc create [--bundle DIR] [--pid-file FILE] [--console-socket SOCKET] ID"))
	}
	conf := args[0].(*config.Config)
	id := f.Arg(0)
	if err := container.ValidateID(id); err != nil {
		return failure(c.Stderr, name, err)
	}
	appFiles, err := preservedFiles(c.preserveFDs)
	if err != nil {
		return failure(c.Stderr, name, err)
	}
	bundle, err := filepath.Abs(c.bundle)
	if err != nil {
		return failure(c.Stderr, name, err)
	}
	spec, err := specutils.LoadSpec(bundle)
	if err != nil {
		return failure(c.Stderr, name, err)
	}
	ct, _, err := createContainer(createArgs{
		conf: conf, id: id, bundle: bundle, spec: spec, stdio: c.Stdio,
		consoleSocket: c.consoleSocket, pidFile: c.pidFile, detached: true, appFiles: appFiles,
	})
	if err != nil {
		return failure(c.Stderr, name, err)
	}
	ct.Unlock()
	return subcommands.ExitSuccess
}

// createArgs describe a container for createContainer.
type createArgs struct {
	conf       *config.Config
	id, bundle string
	spec       *specs.Spec
	stdio      [3]*os.File
	// consoleSocket receives the pty master of a container with a terminal.
	consoleSocket string
	pidFile       string
	// detached: the sandbox outlives the caller (create); else it is the
	// caller's, which owns the container for its life (run).
	detached bool
	// appFiles become the container's fds 3, 4, ... (--preserve-fds); closed
	// here once the sandbox has them.
	appFiles []*os.File
}

// createContainer claims the container's ID, starts its sandbox and waits until
// it is ready; the container is Created and returned locked, with its sandbox.
// On error nothing is left: no state directory, no process.
func createContainer(a createArgs) (c *container.Container, s *sandbox.Sandbox, err error) {
	terminal := a.spec.Process.Terminal
	switch {
	case terminal && a.consoleSocket == "" && a.detached:
		return nil, nil, errors.New("config.json: process.terminal is true, but no --console-socket to send the terminal to: pass one, or set process.terminal to false")
	case !terminal && a.consoleSocket != "":
		return nil, nil, errors.New("--console-socket given, but config.json's process.terminal is false: drop the flag, or set process.terminal to true")
	}
	c, err = container.Create(a.conf.RootDir, container.CreateArgs{
		ID: a.id, Bundle: a.bundle, Annotations: a.spec.Annotations, Foreground: !a.detached,
	})
	if err != nil {
		return nil, nil, err
	}
	files := slices.Clone(a.appFiles) // closed once the sandbox has its copies
	defer func() {
		for _, f := range files {
			f.Close()
		}
		if err != nil {
			if s != nil {
				s.Abort()
			}
			c.Destroy()
			c, s = nil, nil
		}
	}()
	ctl, err := control.Listen(c.Dir)
	if err != nil {
		return
	}
	files = append(files, ctl)
	lock, err := c.SandboxLock()
	if err != nil {
		return
	}
	files = append(files, lock)
	exit, err := c.OpenExitFile()
	if err != nil {
		return
	}
	files = append(files, exit)
	stdio := a.stdio
	var master *os.File
	if terminal && a.consoleSocket != "" {
		var replica *os.File
		if master, replica, err = console.NewPty(); err != nil {
			return
		}
		files = append(files, master, replica)
		stdio = [3]*os.File{replica, replica, replica}
	}
	// The sandbox's processes are born in its cgroup (and so are the stubs the
	// Sentry forks), with no moment outside it.
	cg, err := newCgroup(a, c)
	if err != nil {
		return
	}
	restore := func() error { return nil }
	if cg != nil {
		if err = c.SetCgroup(cg.State()); err != nil {
			cg.Destroy()
			return
		}
		if restore, err = cg.Join(); err != nil {
			return
		}
	}
	mark := markLog(a.conf)
	s, err = sandbox.Start(sandbox.Args{
		ID: a.id, Spec: a.spec, BundleDir: a.bundle, Conf: a.conf,
		Stdin: stdio[0], Stdout: stdio[1], Stderr: stdio[2],
		Detached: a.detached, Control: ctl, Lock: lock, Exit: exit, AppFiles: a.appFiles,
	})
	if rerr := restore(); err == nil && rerr != nil {
		err = fmt.Errorf("leaving the sandbox's cgroup: %w", rerr)
	}
	if err != nil {
		return
	}
	// Neither has been reaped, so their PIDs are theirs; a start time left zero
	// (for one that exited already) names no process, which is right.
	sentry, _ := container.ProcessOf(s.SentryPid())
	gofer, _ := container.ProcessOf(s.GoferPid())
	sentry.Pid, gofer.Pid = s.SentryPid(), s.GoferPid()
	if err = c.SetProcesses(sentry, gofer); err != nil {
		return
	}
	// The Sentry holds the control socket now: its death must hang the probe up.
	ctl.Close()
	if err = s.WaitReady(c.Dir, readyTimeout); err != nil {
		err = mark.sandboxError(err)
		return
	}
	if master != nil {
		if err = console.SendMaster(a.consoleSocket, master); err != nil {
			err = fmt.Errorf("--console-socket: %w", err)
			return
		}
	}
	if err = c.SetStatus(container.Created); err != nil {
		return
	}
	if a.pidFile != "" {
		if err = writePidFile(a.pidFile, sentry.Pid); err != nil {
			return
		}
	}
	// Recorded, processes and all: from now on the sandbox outlives create,
	// and runsc delete finds it. Before, it dies with create.
	err = s.HandOver()
	return
}

// newCgroup makes the sandbox's cgroup from the spec's linux.cgroupsPath and
// linux.resources, recording each directory in c's state before making it, so
// that a create killed meanwhile leaves none that runsc delete would not find. Where cgroups cannot be written (rootless, a read-only
// cgroupfs in a container, none mounted) a sandbox whose spec sets no limit
// runs without one (nil), as runc's rootless mode does; one that sets limits
// fails, since they could not be honoured.
func newCgroup(a createArgs, c *container.Container) (*cgroup.Cgroup, error) {
	cg, err := cgroup.NewRecorded(a.spec, a.id, c.SetCgroup)
	if err == nil {
		return cg, nil
	}
	unavailable := errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EROFS) || errors.Is(err, fs.ErrNotExist)
	if unavailable && !setsLimits(a.spec) {
		return nil, c.ClearCgroup()
	}
	return nil, err
}

// setsLimits reports whether spec's linux.resources limits memory, CPU or pids.
func setsLimits(spec *specs.Spec) bool {
	if spec.Linux == nil || spec.Linux.Resources == nil {
		return false
	}
	r := spec.Linux.Resources
	if m := r.Memory; m != nil && (m.Limit != nil && *m.Limit > 0 || m.Reservation != nil && *m.Reservation > 0 || m.Swap != nil && *m.Swap > 0) {
		return true
	}
	if c := r.CPU; c != nil && (c.Shares != nil && *c.Shares > 0 || c.Quota != nil && *c.Quota > 0 || c.Cpus != "" || c.Mems != "") {
		return true
	}
	return r.Pids != nil && r.Pids.Limit > 0
}

// preservedFiles returns runsc's fds 3 to 3+n-1, which --preserve-fds=n passes
// on to the container's process as the same numbers. Each must have come from
// runsc's caller: open, and without close-on-exec (any fd runsc opens itself has
// it, so one of runsc's own is never handed to the container by mistake).
func preservedFiles(n int) ([]*os.File, error) {
	if n < 0 {
		return nil, fmt.Errorf("--preserve-fds=%d: must not be negative", n)
	}
	files := make([]*os.File, 0, min(n, 64))
	for fd := 3; fd < 3+n; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			return nil, fmt.Errorf("--preserve-fds=%d: fd %d is not open", n, fd)
		}
		if flags&unix.FD_CLOEXEC != 0 {
			return nil, fmt.Errorf("--preserve-fds=%d: fd %d was not passed to runsc", n, fd)
		}
		// runsc's own children (the Gofer) must not inherit it; the Sentry
		// gets it as one of its ExtraFiles.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return nil, fmt.Errorf("--preserve-fds=%d: fd %d: %w", n, fd, err)
		}
		files = append(files, os.NewFile(uintptr(fd), fmt.Sprintf("preserved-%d", fd)))
	}
	return files, nil
}
