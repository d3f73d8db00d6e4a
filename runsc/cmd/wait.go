package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/google/subcommands"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/control"
	"visor.dev/visor/runsc/sandbox"
)

// waitPoll is how often wait looks again at a container that is not started
// yet; sentryExitTimeout bounds the wait for a Sentry to exit after its init.
const (
	waitPoll          = 100 * time.Millisecond
	sentryExitTimeout = 10 * time.Second
	// hangupGrace bounds the wait for a Sentry that no longer answers to be
	// seen gone.
	hangupGrace = 2 * time.Second
)

// Wait is `runsc wait`: wait for a container's process to exit.
type Wait struct {
	Stdout io.Writer
	// Stderr gets runsc's own errors.
	Stderr io.Writer
}

// Name implements subcommands.Command.Name.
func (*Wait) Name() string { return "wait" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Wait) Synopsis() string { return "wait for a container's process to exit" }

// Usage implements subcommands.Command.Usage.
func (*Wait) Usage() string {
	return `wait ID:
	Waits until the process of container ID has exited (at once if it has),
	prints {"id": ID, "exitStatus": CODE} and exits with CODE: the process's
	exit code, or 128 plus the number of the signal that killed it (137 for a
	sandbox killed outright).
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (*Wait) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.Execute.
func (w *Wait) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "wait"
	if f.NArg() != 1 {
		return usageError(w.Stderr, name, errors.New("want one container ID; usage: runsc wait ID"))
	}
	conf := args[0].(*config.Config)
	c, err := container.Peek(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(w.Stderr, name, err)
	}
	ws, err := waitContainer(c)
	if err != nil {
		return failure(w.Stderr, name, err)
	}
	code := sandbox.ExitCode(ws)
	data, _ := json.Marshal(struct {
		ID         string `json:"id"`
		ExitStatus int    `json:"exitStatus"`
	}{c.ID(), code})
	fmt.Fprintf(w.Stdout, "%s\n", data)
	return subcommands.ExitStatus(code)
}

// waitContainer waits for init of c to exit and returns its wait status: from
// the Sentry while it lives, else from the exit file it wrote.
func waitContainer(c *container.Container) (linux.WaitStatus, error) {
	for c.Status() != container.Stopped {
		resp, err := control.Call(c.Dir, &control.Request{Method: control.MethodWait, Wait: &control.WaitArgs{}}, nil)
		if err == nil {
			// The Sentry exits right after init: once wait returns, the
			// container is stopped and can be deleted without --force.
			c.WaitStopped(sentryExitTimeout)
			return linux.WaitStatus(resp.WaitStatus), nil
		}
		if _, ok := errors.AsType[*control.RemoteError](err); !ok {
			// A Sentry on its way out stops serving before it is gone.
			if c.WaitStopped(hangupGrace) {
				break
			}
			return 0, fmt.Errorf("waiting for container %q: %w", c.ID(), err)
		}
		// A created container has no process to wait for until it starts.
		time.Sleep(waitPoll)
	}
	if ws, ok := c.ExitStatus(); ok {
		return ws, nil
	}
	// A Sentry that wrote no status was killed before its container's
	// process ended: it took the process with it.
	return linux.WaitStatusSignal(int(linux.SIGKILL), false), nil
}
