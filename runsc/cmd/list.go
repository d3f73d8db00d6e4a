package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/google/subcommands"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/specutils"
)

// List is `runsc list`: list the containers under --root.
type List struct {
	Stdout io.Writer
	// Stderr gets runsc's own errors.
	Stderr io.Writer

	format string
	quiet  bool
}

// Name implements subcommands.Command.Name.
func (*List) Name() string { return "list" }

// Synopsis implements subcommands.Command.Synopsis.
func (*List) Synopsis() string { return "list containers" }

// Usage implements subcommands.Command.Usage.
func (*List) Usage() string {
	return `list [--format=table|json] [-q]:
	Lists the containers under --root: a table of ID, PID, STATUS, BUNDLE,
	CREATED and OWNER, or with --format=json an array of their states (see
	"runsc state"), or with -q their IDs only.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (l *List) SetFlags(f *flag.FlagSet) {
	f.StringVar(&l.format, "format", formatTable, "output format: table or json.")
	f.StringVar(&l.format, "f", formatTable, "short for --format.")
	f.BoolVar(&l.quiet, "quiet", false, "print the IDs only.")
	f.BoolVar(&l.quiet, "q", false, "short for --quiet.")
}

// Execute implements subcommands.Command.Execute.
func (l *List) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "list"
	if f.NArg() != 0 {
		return usageError(l.Stderr, name, errors.New("no arguments wanted; usage: runsc list [--format=table|json] [-q]"))
	}
	if err := config.OneOf("format", l.format, formatTable, formatJSON); err != nil {
		return usageError(l.Stderr, name, err)
	}
	conf := args[0].(*config.Config)
	ids, err := container.List(conf.RootDir)
	if err != nil {
		return failure(l.Stderr, name, err)
	}
	states := []ociState{}
	for _, id := range ids {
		// A container deleted meanwhile is simply not listed.
		if c, err := container.Peek(conf.RootDir, id); err == nil {
			states = append(states, stateOf(c))
		}
	}
	switch {
	case l.quiet:
		for _, s := range states {
			fmt.Fprintln(l.Stdout, s.ID)
		}
	case l.format == formatJSON:
		data, err := json.Marshal(states)
		if err != nil {
			return failure(l.Stderr, name, err)
		}
		fmt.Fprintf(l.Stdout, "%s\n", data)
	default:
		w := tabwriter.NewWriter(l.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, s := range states {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
		}
		w.Flush()
	}
	return subcommands.ExitSuccess
}

// rootfsOf returns the host path of the root of the container in bundle, or ""
// if its config.json is gone or unreadable.
func rootfsOf(bundle string) string {
	data, err := os.ReadFile(filepath.Join(bundle, specutils.ConfigFile))
	if err != nil {
		return ""
	}
	spec, err := specutils.ParseSpec(data)
	if err != nil || spec.Root == nil {
		return ""
	}
	return specutils.RootPath(spec, bundle)
}
