package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/google/subcommands"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/control"
)

// Start is `runsc start`: run the process of a created container.
type Start struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer
}

// Name implements subcommands.Command.Name.
func (*Start) Name() string { return "start" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Start) Synopsis() string { return "start the process of a created container" }

// Usage implements subcommands.Command.Usage.
func (*Start) Usage() string {
	return `start ID:
	Runs the process of container ID, made by "runsc create", and returns; the
	container is then running. Fails (exit status 1) if the container is not in
	the created state, or if its process cannot start (a program that is not
	there, say): the container then stays created, for "runsc delete".
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (*Start) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.Execute.
func (s *Start) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "start"
	if f.NArg() != 1 {
		return usageError(s.Stderr, name, errors.New("want one container ID; usage: runsc start ID"))
	}
	conf := args[0].(*config.Config)
	c, err := container.Load(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(s.Stderr, name, err)
	}
	defer c.Unlock()
	if err := startContainer(c); err != nil {
		return failure(s.Stderr, name, err)
	}
	return subcommands.ExitSuccess
}

// startContainer starts the process of the created container c, locked.
func startContainer(c *container.Container) error {
	switch st := c.Status(); st {
	case container.Created:
	case container.Stopped:
		return fmt.Errorf("container %q is stopped: a container starts only once; delete it and create it again", c.ID())
	default:
		return fmt.Errorf("container %q is %s, not created: it was started already", c.ID(), st)
	}
	if _, err := control.Call(c.Dir, &control.Request{Method: control.MethodStart}, nil); err != nil {
		if _, ok := errors.AsType[*control.RemoteError](err); ok {
			return err
		}
		return fmt.Errorf("starting container %q: %w", c.ID(), err)
	}
	return c.SetStatus(container.Running)
}
