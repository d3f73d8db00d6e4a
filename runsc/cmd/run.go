package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/console"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/sandbox"
	"visor.dev/visor/runsc/specutils"
)

// Run is `runsc run`: run a container in the foreground, as `runc run` does.
type Run struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer
	// Stdio are the container's stdin, stdout and stderr: files, because the
	// Sentry inherits them.
	Stdio [3]*os.File

	bundle        string
	pidFile       string
	detach        bool
	consoleSocket string
	preserveFDs   int
	ignored       bool
}

// Name implements subcommands.Command.Name.
func (*Run) Name() string { return "run" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Run) Synopsis() string { return "create and run a container in the foreground" }

// Usage implements subcommands.Command.Usage.
func (*Run) Usage() string {
	return `run [--bundle DIR] [--pid-file FILE] [--detach] [--console-socket SOCKET] ID:
	Runs the container of the OCI bundle DIR (default: the current directory)
	in a new sandbox, under the name ID, with this process's stdin, stdout and
	stderr, and waits for it. While it runs, <root>/ID/state.json describes it;
	SIGINT, SIGTERM and SIGHUP are passed on to it. With --detach it is
	"runsc create" then "runsc start" instead, and returns once the container
	runs. --console-socket and --preserve-fds are create's.

	Exits with the container's exit code, or 128 plus the number of the signal
	that killed it. When runsc itself fails (a bad bundle, an ID in use, a
	sandbox that cannot start) it says why in one line on stderr and exits 1,
	as runc does, leaving no state, process or file behind; a bad command line
	exits 2.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (r *Run) SetFlags(f *flag.FlagSet) {
	f.StringVar(&r.bundle, "bundle", "", "path to the bundle directory; default: the current directory.")
	f.StringVar(&r.pidFile, "pid-file", "", "write the sandbox's host PID to this file.")
	f.BoolVar(&r.detach, "detach", false, "create and start the container, and return.")
	f.BoolVar(&r.detach, "d", false, "short for --detach.")
	f.StringVar(&r.consoleSocket, "console-socket", "", "unix socket to send the pty master to, with process.terminal.")
	f.IntVar(&r.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio (3, 4, ...) to the container's process, as the same numbers.")
	f.BoolVar(&r.ignored, "no-pivot", false, "accepted for runc compatibility; the sandbox never pivots the host's root.")
	f.BoolVar(&r.ignored, "no-new-keyring", false, "accepted for runc compatibility; the sandbox has no host keyring.")
}

// Execute implements subcommands.Command.Execute.
func (r *Run) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "run"
	if f.NArg() != 1 {
		return usageError(r.Stderr, name, errors.New("want one container ID; usage: runsc run [--bundle DIR] [--pid-file FILE] ID"))
	}
	conf := args[0].(*config.Config)
	id := f.Arg(0)
	if err := container.ValidateID(id); err != nil {
		return failure(r.Stderr, name, err)
	}
	bundle, err := filepath.Abs(r.bundle) // "" is the current directory
	if err != nil {
		return failure(r.Stderr, name, err)
	}
	spec, err := specutils.LoadSpec(bundle)
	if err != nil {
		return failure(r.Stderr, name, err)
	}
	appFiles, err := preservedFiles(r.preserveFDs)
	if err != nil {
		return failure(r.Stderr, name, err)
	}
	if r.detach {
		c, _, err := createContainer(createArgs{
			conf: conf, id: id, bundle: bundle, spec: spec, stdio: r.Stdio,
			consoleSocket: r.consoleSocket, pidFile: r.pidFile, detached: true, appFiles: appFiles,
		})
		if err != nil {
			return failure(r.Stderr, name, err)
		}
		defer c.Unlock()
		if err := startContainer(c); err != nil {
			// As runc: a container that cannot start is not left behind.
			return failure(r.Stderr, name, errors.Join(err, destroyContainer(c)))
		}
		return subcommands.ExitSuccess
	}
	code, err := runContainer(conf, id, bundle, spec, r.pidFile, r.consoleSocket, r.Stdio, appFiles, r.Stderr)
	if err != nil {
		return failure(r.Stderr, name, err)
	}
	return subcommands.ExitStatus(code)
}

// runContainer runs the container id of the validated spec in bundle to its end
// and returns its exit code: create, start and wait in one, with the sandbox
// this process's own. The container's state exists for as long as it runs.
// appFiles become the container's fds 3, 4, ...
func runContainer(conf *config.Config, id, bundle string, spec *specs.Spec, pidFile, consoleSocket string, stdio [3]*os.File, appFiles []*os.File, stderr io.Writer) (int, error) {
	// From here on a ^C must not kill runsc half-way: it is kept, and passed on
	// once the Sentry is there to take it.
	sigs := make(chan os.Signal, len(sandbox.ForwardedSignals))
	signal.Notify(sigs, sandbox.ForwardedSignals...)
	defer signal.Stop(sigs)
	if spec.Process.Terminal && consoleSocket == "" {
		// As runc: on a terminal, the container gets a pty of its own,
		// relayed to this one in raw mode (console.Relay).
		relay, replica, err := console.NewRelay(stdio[0], stdio[1])
		if err != nil {
			return 0, err
		}
		defer relay.Close()
		if replica != nil {
			stdio = [3]*os.File{replica, replica, replica}
		}
	}

	c, s, err := createContainer(createArgs{
		conf: conf, id: id, bundle: bundle, spec: spec, stdio: stdio, pidFile: pidFile, consoleSocket: consoleSocket,
		appFiles: appFiles,
	})
	if err != nil {
		return 0, err
	}
	err = startContainer(c)
	// Other commands (kill, exec, ps) may act on it while it runs.
	c.Unlock()
	if err != nil {
		s.Kill() // the container could not start; its sandbox is of no use
	}
	ws, waitErr := s.Wait(sigs)
	if lockErr := c.Relock(); lockErr == nil {
		if err := c.Destroy(); err != nil {
			fmt.Fprintf(stderr, "runsc: container %q: %v\n", id, err)
		}
	} else if _, gone := errors.AsType[*container.NotExistError](lockErr); !gone {
		fmt.Fprintf(stderr, "runsc: container %q: %v\n", id, lockErr)
	}
	if err := errors.Join(err, waitErr); err != nil {
		return 0, err
	}
	return sandbox.ExitCode(ws), nil
}

// writePidFile writes pid to path atomically, as runc does: whoever watches for
// the file never reads it half-written.
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing pid file: %w", err)
	}
	return nil
}
