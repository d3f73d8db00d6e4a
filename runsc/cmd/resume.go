package cmd

import (
	"context"
	"flag"
	"io"

	"github.com/google/subcommands"
	"visor.dev/visor/runsc/config"
)

// Resume is `runsc resume`: let the processes of a paused container run again.
type Resume struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer
}

// Name implements subcommands.Command.Name.
func (*Resume) Name() string { return "resume" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Resume) Synopsis() string { return "resume the processes of a paused container" }

// Usage implements subcommands.Command.Usage.
func (*Resume) Usage() string {
	return `resume ID:
	Lets the processes of container ID, paused by "runsc pause", run again.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (*Resume) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.Execute.
func (r *Resume) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	return pauseOrResume(r.Stderr, "resume", f, args[0].(*config.Config))
}
