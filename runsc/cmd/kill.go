package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/control"
)

// Kill is `runsc kill`: send a signal to a container.
type Kill struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer

	all bool
	pid int
}

// Name implements subcommands.Command.Name.
func (*Kill) Name() string { return "kill" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Kill) Synopsis() string { return "send a signal to a container's process" }

// Usage implements subcommands.Command.Usage.
func (*Kill) Usage() string {
	return `kill [--all] ID [SIGNAL]:
	Sends SIGNAL (a name such as TERM or SIGKILL, or a number; default TERM) to
	the process of container ID, or with --all to every process in it. SIGKILL
	kills the whole sandbox at once, as it would a container's init. Fails
	with "container not running" if the container is stopped.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (k *Kill) SetFlags(f *flag.FlagSet) {
	f.BoolVar(&k.all, "all", false, "send the signal to every process in the container.")
	f.BoolVar(&k.all, "a", false, "short for --all.")
	f.IntVar(&k.pid, "pid", 0, "send the signal to this process (its PID in the sandbox) instead of init.")
}

// Execute implements subcommands.Command.Execute.
func (k *Kill) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "kill"
	if f.NArg() != 1 && f.NArg() != 2 {
		return usageError(k.Stderr, name, errors.New("want a container ID and perhaps a signal; usage: runsc kill [--all] ID [SIGNAL]"))
	}
	conf := args[0].(*config.Config)
	sig := unix.SIGTERM
	if f.NArg() == 2 {
		var err error
		if sig, err = parseSignal(f.Arg(1)); err != nil {
			return failure(k.Stderr, name, err)
		}
	}
	if k.pid < 0 || (k.pid > 0 && k.all) {
		return usageError(k.Stderr, name, errors.New("--pid takes a positive PID, and not with --all"))
	}
	c, err := container.Load(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(k.Stderr, name, err)
	}
	defer c.Unlock()
	if err := killContainer(c, sig, k.all, int32(k.pid)); err != nil {
		return failure(k.Stderr, name, err)
	}
	return subcommands.ExitSuccess
}

// notRunning is the error for signalling a stopped container; containerd's shim
// looks for its words.
func notRunning(id string) error {
	return fmt.Errorf("container %q: container not running", id)
}

// killContainer sends sig to init of c (or every process, or the process pid),
// which the caller has locked.
func killContainer(c *container.Container, sig unix.Signal, all bool, pid int32) error {
	if c.Status() == container.Stopped {
		return notRunning(c.ID())
	}
	if sig == unix.SIGKILL && pid == 0 {
		// Init's death ends the container, and every process with it: the
		// Sentry may as well go at once, whatever state it is in.
		return c.Sentry().Signal(unix.SIGKILL)
	}
	_, err := control.Call(c.Dir, &control.Request{
		Method: control.MethodSignal,
		Signal: &control.SignalArgs{Signo: int(sig), All: all, PID: pid},
	}, nil)
	if _, remote := errors.AsType[*control.RemoteError](err); err != nil && !remote && c.WaitStopped(hangupGrace) {
		return notRunning(c.ID())
	}
	return err
}

// parseSignal parses a signal as runc does: a number, or a name with or
// without "SIG", in any case.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q: signal numbers go from 1 to 64", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q: use a name such as TERM or SIGKILL, or a number from 1 to 64", s)
}
