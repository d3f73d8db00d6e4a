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
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
)

// State is `runsc state`: print a container's OCI state.
type State struct {
	Stdout io.Writer
	// Stderr gets runsc's own errors.
	Stderr io.Writer
}

// Name implements subcommands.Command.Name.
func (*State) Name() string { return "state" }

// Synopsis implements subcommands.Command.Synopsis.
func (*State) Synopsis() string { return "print a container's state as JSON" }

// Usage implements subcommands.Command.Usage.
func (*State) Usage() string {
	return `state ID:
	Prints the OCI state of container ID as JSON: ociVersion, id, status
	(creating, created, running, paused or stopped), pid (the sandbox's host
	PID; 0 once stopped), bundle, rootfs, created, owner and annotations. A
	container is stopped as soon as its sandbox is gone, however it went.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (*State) SetFlags(*flag.FlagSet) {}

// ociState is a container's state as runc prints it: the OCI state, plus
// rootfs, created and owner.
type ociState struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      container.Status  `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// stateOf returns c's live OCI state.
func stateOf(c *container.Container) ociState {
	st := c.State()
	status := c.Status()
	pid := st.Pid
	if status == container.Stopped {
		pid = 0
	}
	return ociState{
		OCIVersion: specs.Version, ID: st.ID, Pid: pid, Status: status, Bundle: st.Bundle,
		Rootfs: rootfsOf(st.Bundle), Created: st.Created, Owner: st.Owner, Annotations: st.Annotations,
	}
}

// Execute implements subcommands.Command.Execute.
func (s *State) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "state"
	if f.NArg() != 1 {
		return usageError(s.Stderr, name, errors.New("want one container ID; usage: runsc state ID"))
	}
	conf := args[0].(*config.Config)
	c, err := container.Peek(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(s.Stderr, name, err)
	}
	data, err := json.MarshalIndent(stateOf(c), "", "  ")
	if err != nil {
		return failure(s.Stderr, name, err)
	}
	fmt.Fprintf(s.Stdout, "%s\n", data)
	return subcommands.ExitSuccess
}
