package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/google/subcommands"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
)

// killTimeout bounds the wait for a SIGKILLed sandbox process to go.
const killTimeout = 10 * time.Second

// Delete is `runsc delete`: remove a container and whatever is left of it.
type Delete struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer

	force bool
}

// Name implements subcommands.Command.Name.
func (*Delete) Name() string { return "delete" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Delete) Synopsis() string { return "delete a container" }

// Usage implements subcommands.Command.Usage.
func (*Delete) Usage() string {
	return `delete [--force] ID:
	Deletes container ID: kills what is left of its sandbox and removes its
	state. A created or stopped container is deleted as it is; a running or
	paused one only with --force. Deleting a container that does not exist
	fails with "does not exist".
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (d *Delete) SetFlags(f *flag.FlagSet) {
	f.BoolVar(&d.force, "force", false, "kill a running container first.")
	f.BoolVar(&d.force, "f", false, "short for --force.")
}

// Execute implements subcommands.Command.Execute.
func (d *Delete) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "delete"
	if f.NArg() != 1 {
		return usageError(d.Stderr, name, errors.New("want one container ID; usage: runsc delete [--force] ID"))
	}
	conf := args[0].(*config.Config)
	c, err := container.Load(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(d.Stderr, name, err)
	}
	defer c.Unlock()
	if st := c.Status(); (st == container.Running || st == container.Paused) && !d.force {
		return failure(d.Stderr, name, fmt.Errorf("cannot delete container %q that is not stopped (it is %s): use --force", c.ID(), st))
	}
	if err := destroyContainer(c); err != nil {
		return failure(d.Stderr, name, err)
	}
	return subcommands.ExitSuccess
}

// destroyContainer kills the Sentry and the Gofer of c, which the caller has
// locked, waits for them to go and removes c's state.
func destroyContainer(c *container.Container) error {
	err := errors.Join(c.Sentry().KillAndWait(killTimeout), c.Gofer().KillAndWait(killTimeout))
	if err != nil {
		return fmt.Errorf("deleting container %q: %w", c.ID(), err)
	}
	return c.Destroy()
}
