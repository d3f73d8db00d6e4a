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

// Pause is `runsc pause`: stop every process of a container.
type Pause struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer
}

// Name implements subcommands.Command.Name.
func (*Pause) Name() string { return "pause" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Pause) Synopsis() string { return "pause every process of a container" }

// Usage implements subcommands.Command.Usage.
func (*Pause) Usage() string {
	return `pause ID:
	Stops every process of running container ID, invisibly to them (no
	signal, no change a parent's wait sees), until "runsc resume ID".
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (*Pause) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.Execute.
func (p *Pause) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	return pauseOrResume(p.Stderr, "pause", f, args[0].(*config.Config))
}

// pauseOrResume runs `runsc pause` or `runsc resume`.
func pauseOrResume(stderr io.Writer, name string, f *flag.FlagSet, conf *config.Config) subcommands.ExitStatus {
	if f.NArg() != 1 {
		return usageError(stderr, name, fmt.Errorf("want one container ID; usage: runsc %s ID", name))
	}
	c, err := container.Load(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(stderr, name, err)
	}
	defer c.Unlock()
	from, to, method := container.Running, container.Paused, control.MethodPause
	if name == "resume" {
		from, to, method = container.Paused, container.Running, control.MethodResume
	}
	if st := c.Status(); st != from {
		return failure(stderr, name, fmt.Errorf("container %q is %s, not %s", c.ID(), st, from))
	}
	if _, err := control.Call(c.Dir, &control.Request{Method: method}, nil); err != nil {
		if _, remote := errors.AsType[*control.RemoteError](err); !remote && c.WaitStopped(hangupGrace) {
			err = notRunning(c.ID())
		}
		return failure(stderr, name, err)
	}
	if err := c.SetStatus(to); err != nil {
		return failure(stderr, name, err)
	}
	return subcommands.ExitSuccess
}
