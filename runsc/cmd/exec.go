package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/console"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/control"
	"visor.dev/visor/runsc/sandbox"
	"visor.dev/visor/runsc/specutils"
)

// Exec is `runsc exec`: run a new process in a running container.
type Exec struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer
	// Stdio are the new process's stdin, stdout and stderr, without a terminal.
	Stdio [3]*os.File

	processFile   string
	detach        bool
	pidFile       string
	consoleSocket string
	tty           bool
	cwd           string
	env           stringList
	user          string
	extraGIDs     stringList
	caps          stringList
	noNewPrivs    bool
	preserveFDs   int
	readyFD       int
}

// Name implements subcommands.Command.Name.
func (*Exec) Name() string { return "exec" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Exec) Synopsis() string { return "run a new process in a running container" }

// Usage implements subcommands.Command.Usage.
func (*Exec) Usage() string {
	return `exec [flags] ID [--process FILE | CMD [ARGS...]]:
	Runs a new process in running container ID, described by the JSON OCI
	process in FILE, or as CMD ARGS with the container's own process settings
	changed by --cwd, --env, --user, --tty and friends. With this process's
	stdin, stdout and stderr, or a new terminal whose master goes to
	--console-socket, or with --tty and no socket this process's terminal.

	Exits with the process's exit code, or 128 plus the signal that killed it.
	With --detach, returns as soon as the process runs; the pid file then names
	a runsc process, a child of the caller's subreaper, that exits with the
	process's exit code, as runc's shim expects.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (e *Exec) SetFlags(f *flag.FlagSet) {
	f.StringVar(&e.processFile, "process", "", "path to a JSON file with the OCI process to run.")
	f.StringVar(&e.processFile, "p", "", "short for --process.")
	f.BoolVar(&e.detach, "detach", false, "return once the process runs.")
	f.BoolVar(&e.detach, "d", false, "short for --detach.")
	f.StringVar(&e.pidFile, "pid-file", "", "once the process runs, write to this file the host PID of the runsc that waits for it and exits with its code.")
	f.StringVar(&e.consoleSocket, "console-socket", "", "unix socket to send the pty master to, with a terminal.")
	f.BoolVar(&e.tty, "tty", false, "give the process a terminal.")
	f.BoolVar(&e.tty, "t", false, "short for --tty.")
	f.StringVar(&e.cwd, "cwd", "", "the process's working directory in the container.")
	f.Var(&e.env, "env", "add an environment variable KEY=VALUE (repeatable).")
	f.Var(&e.env, "e", "short for --env.")
	f.StringVar(&e.user, "user", "", "UID[:GID] to run the process as.")
	f.StringVar(&e.user, "u", "", "short for --user.")
	f.Var(&e.extraGIDs, "additional-gids", "an additional group ID (repeatable).")
	f.Var(&e.extraGIDs, "g", "short for --additional-gids.")
	f.Var(&e.caps, "cap", "add a capability, e.g. CAP_KILL (repeatable).")
	f.Var(&e.caps, "c", "short for --cap.")
	f.BoolVar(&e.noNewPrivs, "no-new-privs", false, "set no_new_privs for the process.")
	f.IntVar(&e.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio to the process (only 0 is supported).")
	f.IntVar(&e.readyFD, "ready-fd", -1, "internal: the fd on which a detached exec's runsc reports that the process runs.")
}

// Execute implements subcommands.Command.Execute.
func (e *Exec) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "exec"
	if f.NArg() < 1 || (e.processFile == "" && f.NArg() < 2) || (e.processFile != "" && f.NArg() > 1) {
		return usageError(e.Stderr, name, errors.New("want a container ID and a command, or --process FILE and an ID; usage: runsc exec [flags] ID [--process FILE | CMD [ARGS...]]"))
	}
	conf := args[0].(*config.Config)
	if e.readyFD >= 0 {
		return e.detachedChild(conf, f.Arg(0))
	}
	if e.preserveFDs != 0 {
		return failure(e.Stderr, name, fmt.Errorf("--preserve-fds=%d: passing extra fds to a process is not supported yet", e.preserveFDs))
	}
	c, err := container.Peek(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(e.Stderr, name, err)
	}
	p, err := e.process(c, f.Args()[1:])
	if err != nil {
		return failure(e.Stderr, name, err)
	}
	if p.Terminal && e.consoleSocket == "" && e.detach {
		return failure(e.Stderr, name, errors.New("a detached process with a terminal needs --console-socket to send the terminal to"))
	}
	if !p.Terminal && e.consoleSocket != "" {
		return failure(e.Stderr, name, errors.New("--console-socket given, but the process has no terminal: add --tty, or set process.terminal"))
	}
	if err := checkExecStatus(c); err != nil {
		return failure(e.Stderr, name, err)
	}
	if e.detach {
		pid, err := e.spawnDetached(conf, c.ID(), p)
		if err == nil && e.pidFile != "" {
			err = writePidFile(e.pidFile, pid)
		}
		if err != nil {
			return failure(e.Stderr, name, err)
		}
		return subcommands.ExitSuccess
	}
	var pidErr error
	ws, err := execProcess(c, p, e.Stdio, e.consoleSocket, func() {
		// This runsc stands for the process on the host, as in a detached exec.
		if e.pidFile != "" {
			pidErr = writePidFile(e.pidFile, os.Getpid())
		}
	})
	if err = errors.Join(err, pidErr); err != nil {
		return failure(e.Stderr, name, err)
	}
	return subcommands.ExitStatus(sandbox.ExitCode(ws))
}

// checkExecStatus fails unless c runs: only a running sandbox takes new processes.
func checkExecStatus(c *container.Container) error {
	switch st := c.Status(); st {
	case container.Running:
		return nil
	case container.Stopped:
		return fmt.Errorf("cannot exec in container %q: container not running", c.ID())
	default:
		return fmt.Errorf("cannot exec in container %q: it is %s, not running", c.ID(), st)
	}
}

// process returns the process to run: the one in --process, or the
// container's own process with args and the flags' changes.
func (e *Exec) process(c *container.Container, args []string) (*specs.Process, error) {
	var p specs.Process
	if e.processFile != "" {
		data, err := os.ReadFile(e.processFile)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("--process %s: malformed JSON: %w", e.processFile, err)
		}
	} else {
		data, err := os.ReadFile(filepath.Join(c.State().Bundle, specutils.ConfigFile))
		if err != nil {
			return nil, fmt.Errorf("reading the container's spec: %w", err)
		}
		spec, err := specutils.ParseSpec(data)
		if err != nil {
			return nil, err
		}
		if spec.Process != nil {
			p = *spec.Process
		}
		p.Args = args
		p.Terminal = false
	}
	if e.tty {
		p.Terminal = true
	}
	if e.cwd != "" {
		p.Cwd = e.cwd
	}
	p.Env = append(p.Env, e.env...)
	if e.user != "" {
		uid, gid, err := parseUser(e.user)
		if err != nil {
			return nil, err
		}
		p.User.UID, p.User.GID = uid, gid
	}
	for _, g := range e.extraGIDs {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--additional-gids %q: not a group ID", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if len(e.caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		for _, name := range e.caps {
			if _, ok := linux.CapabilityFromName(strings.ToUpper(name)); !ok {
				return nil, fmt.Errorf("--cap %q: no such capability", name)
			}
			pc := p.Capabilities
			pc.Bounding = append(pc.Bounding, name)
			pc.Effective = append(pc.Effective, name)
			pc.Permitted = append(pc.Permitted, name)
			pc.Ambient = append(pc.Ambient, name)
		}
	}
	if e.noNewPrivs {
		p.NoNewPrivileges = true
	}
	if len(p.Args) == 0 {
		return nil, errors.New("the process has no args: name the program to run")
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !filepath.IsAbs(p.Cwd) {
		return nil, fmt.Errorf("the process's cwd %q is not absolute: make it start with \"/\"", p.Cwd)
	}
	return &p, nil
}

// parseUser parses --user UID[:GID]. Names would need the container's
// /etc/passwd, which only the Sentry sees.
func parseUser(s string) (uid, gid uint32, err error) {
	us, gs, hasGID := strings.Cut(s, ":")
	u, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: want UID[:GID], in numbers", s)
	}
	var g uint64
	if hasGID {
		if g, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("--user %q: want UID[:GID], in numbers", s)
		}
	}
	return uint32(u), uint32(g), nil
}

// execProcess starts p in c and waits for it; ready, if not nil, is called
// once p runs. Its stdio are stdio, or a new terminal whose master goes to
// consoleSocket, or with no socket, stdin's terminal.
func execProcess(c *container.Container, p *specs.Process, stdio [3]*os.File, consoleSocket string, ready func()) (linux.WaitStatus, error) {
	fds := stdio[:]
	if p.Terminal {
		if consoleSocket != "" {
			master, replica, err := console.NewPty()
			if err != nil {
				return 0, err
			}
			defer replica.Close()
			if cs := p.ConsoleSize; cs != nil && cs.Height > 0 && cs.Width > 0 {
				// As runc: the size asked for, before the process runs.
				console.SetWinsize(replica, &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)})
			}
			err = console.SendMaster(consoleSocket, master)
			master.Close()
			if err != nil {
				return 0, fmt.Errorf("--console-socket: %w", err)
			}
			fds = []*os.File{replica}
		} else {
			if _, err := unix.IoctlGetTermios(int(stdio[0].Fd()), unix.TCGETS); err != nil {
				return 0, errors.New("a process with a terminal needs a terminal on stdin, or --console-socket")
			}
			fds = []*os.File{stdio[0]}
		}
	}
	pid, err := startExec(c, p, fds)
	if err != nil {
		return 0, err
	}
	if p.Terminal {
		// ^C, ^Z and window size changes on the terminal come to this process
		// (its controlling terminal, if it leads a session): pass them on to the
		// foreground of the process's terminal in the sandbox.
		stop, err := console.ForwardSignals(fds[0], func(sig unix.Signal) {
			control.Call(c.Dir, &control.Request{Method: control.MethodSignal, Signal: &control.SignalArgs{
				Signo: int(sig), PID: pid, Foreground: sig != unix.SIGHUP}}, nil)
		})
		if err == nil {
			defer stop()
		}
	}
	if ready != nil {
		ready()
	}
	resp, err := control.Call(c.Dir, &control.Request{Method: control.MethodWait, Wait: &control.WaitArgs{PID: pid}}, nil)
	if err != nil {
		if _, remote := errors.AsType[*control.RemoteError](err); !remote && c.WaitStopped(hangupGrace) {
			// The sandbox went, and the process with it.
			return linux.WaitStatusSignal(int(linux.SIGKILL), false), nil
		}
		return 0, fmt.Errorf("waiting for process %d: %w", pid, err)
	}
	return linux.WaitStatus(resp.WaitStatus), nil
}

// startExec sends the exec request, under the command lock.
func startExec(c *container.Container, p *specs.Process, fds []*os.File) (int32, error) {
	if err := c.Relock(); err != nil {
		return 0, err
	}
	defer c.Unlock()
	if err := checkExecStatus(c); err != nil {
		return 0, err
	}
	resp, err := control.Call(c.Dir, &control.Request{Method: control.MethodExec, Exec: &control.ExecArgs{Process: *p}}, fds)
	if err != nil {
		return 0, err
	}
	return resp.PID, nil
}

// spawnDetached runs p in container id from a child runsc, in a session of its
// own, and returns the child's host PID once p runs. The child waits for p and
// exits with its exit code; whoever inherits it (the caller's subreaper) reaps
// it. It gets p through a memfd, and reports on a pipe.
func (e *Exec) spawnDetached(conf *config.Config, id string, p *specs.Process) (int, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return 0, fmt.Errorf("encoding the process: %w", err)
	}
	mfd, err := unix.MemfdCreate("runsc-exec-process", unix.MFD_CLOEXEC)
	if err != nil {
		return 0, fmt.Errorf("memfd_create: %w", err)
	}
	procFile := os.NewFile(uintptr(mfd), "process.json")
	defer procFile.Close()
	if _, err := procFile.Write(data); err != nil {
		return 0, fmt.Errorf("writing the process: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	argv := append(sandbox.GlobalFlags(conf), "exec", "--process=/proc/self/fd/3", "--ready-fd=4")
	if e.consoleSocket != "" {
		argv = append(argv, "--console-socket="+e.consoleSocket)
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        append(append([]string{"runsc"}, argv...), id),
		ExtraFiles:  []*os.File{procFile, w},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if p.Terminal {
		// The terminal is the process's stdio. The caller's stdout may be a
		// pipe it reads to the end (containerd's shim does), which a child
		// holding it would keep open for the process's life.
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			w.Close()
			return 0, err
		}
		defer devnull.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = e.Stdio[0], e.Stdio[1], e.Stdio[2]
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return 0, fmt.Errorf("starting runsc exec: %w", err)
	}
	report, _ := io.ReadAll(r)
	if string(report) == readyOK {
		return cmd.Process.Pid, nil
	}
	cmd.Wait()
	if len(report) == 0 {
		return 0, fmt.Errorf("runsc exec failed: %v", cmd.ProcessState)
	}
	return 0, errors.New(string(report))
}

// readyOK is what a detached exec's child reports once the process runs.
const readyOK = "ok"

// detachedChild is the child of a detached exec: it runs the process, says
// whether it started on --ready-fd, waits for it and exits with its code.
func (e *Exec) detachedChild(conf *config.Config, id string) subcommands.ExitStatus {
	const name = "exec"
	report := os.NewFile(uintptr(e.readyFD), "ready")
	fail := func(err error) subcommands.ExitStatus {
		fmt.Fprint(report, err.Error())
		report.Close()
		return subcommands.ExitFailure
	}
	c, err := container.Peek(conf.RootDir, id)
	if err != nil {
		return fail(err)
	}
	data, err := os.ReadFile(e.processFile)
	if err != nil {
		return fail(fmt.Errorf("reading the process: %w", err))
	}
	var p specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return fail(fmt.Errorf("decoding the process: %w", err))
	}
	started := false
	ws, err := execProcess(c, &p, e.Stdio, e.consoleSocket, func() {
		started = true
		fmt.Fprint(report, readyOK)
		report.Close()
	})
	if err != nil {
		if !started {
			return fail(err)
		}
		return failure(e.Stderr, name, err)
	}
	return subcommands.ExitStatus(sandbox.ExitCode(ws))
}

// stringList is a repeatable string flag.
type stringList []string

// String implements flag.Value.String.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.Set.
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
