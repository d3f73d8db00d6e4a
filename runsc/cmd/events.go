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
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/control"
)

// Events is `runsc events`: report a container's resource usage.
type Events struct {
	Stdout io.Writer
	// Stderr gets runsc's own errors.
	Stderr io.Writer

	stats    bool
	interval time.Duration
}

// Name implements subcommands.Command.Name.
func (*Events) Name() string { return "events" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Events) Synopsis() string { return "print a container's resource usage" }

// Usage implements subcommands.Command.Usage.
func (*Events) Usage() string {
	return `events [--stats] [--interval DURATION] ID:
	Prints the resource usage of container ID as a JSON line, in runc's shape
	({"type":"stats","id":ID,"data":{"cpu":...,"memory":...,"pids":...}}),
	once with --stats, else every --interval (default 5s) until the container
	stops.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (e *Events) SetFlags(f *flag.FlagSet) {
	f.BoolVar(&e.stats, "stats", false, "print the usage once and exit.")
	f.DurationVar(&e.interval, "interval", 5*time.Second, "how often to print the usage.")
}

// event is one line of runc's events output.
type event struct {
	Type string      `json:"type"`
	ID   string      `json:"id"`
	Data *statsEvent `json:"data,omitempty"`
}

// statsEvent is the part of runc's stats (libcontainer's types.Stats) that a
// sandbox can fill in.
type statsEvent struct {
	CPU struct {
		Usage struct {
			Total uint64 `json:"total"`
		} `json:"usage"`
	} `json:"cpu"`
	Memory struct {
		Usage struct {
			Usage uint64 `json:"usage"`
		} `json:"usage"`
	} `json:"memory"`
	Pids struct {
		Current uint64 `json:"current"`
	} `json:"pids"`
}

// Execute implements subcommands.Command.Execute.
func (e *Events) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "events"
	if f.NArg() != 1 {
		return usageError(e.Stderr, name, errors.New("want one container ID; usage: runsc events [--stats] [--interval DURATION] ID"))
	}
	if e.interval <= 0 {
		return usageError(e.Stderr, name, fmt.Errorf("--interval %v: must be positive", e.interval))
	}
	conf := args[0].(*config.Config)
	c, err := container.Peek(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(e.Stderr, name, err)
	}
	enc := json.NewEncoder(e.Stdout)
	for {
		if c.Status() == container.Stopped {
			if e.stats {
				return failure(e.Stderr, name, notRunning(c.ID()))
			}
			return subcommands.ExitSuccess
		}
		resp, err := control.Call(c.Dir, &control.Request{Method: control.MethodStats}, nil)
		if err != nil {
			if _, remote := errors.AsType[*control.RemoteError](err); !remote && c.WaitStopped(hangupGrace) && !e.stats {
				return subcommands.ExitSuccess
			}
			return failure(e.Stderr, name, err)
		}
		var s statsEvent
		if st := resp.Stats; st != nil {
			s.CPU.Usage.Total = uint64(st.CPUTime)
			s.Memory.Usage.Usage = st.MemoryUsage
			s.Pids.Current = uint64(st.Pids)
		}
		if err := enc.Encode(event{Type: "stats", ID: c.ID(), Data: &s}); err != nil {
			return failure(e.Stderr, name, err)
		}
		if e.stats {
			return subcommands.ExitSuccess
		}
		time.Sleep(e.interval)
	}
}
