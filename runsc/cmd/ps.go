package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/container"
	"visor.dev/visor/runsc/control"
)

// Ps is `runsc ps`: list the processes of a container.
type Ps struct {
	Stdout io.Writer
	// Stderr gets runsc's own errors.
	Stderr io.Writer

	format string
}

// Name implements subcommands.Command.Name.
func (*Ps) Name() string { return "ps" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Ps) Synopsis() string { return "list the processes of a container" }

// Usage implements subcommands.Command.Usage.
func (*Ps) Usage() string {
	return `ps [--format=table|json] ID:
	Lists the processes running in container ID, with their PIDs in the
	sandbox: a table of UID, PID, PPID, C, STIME, TTY, TIME and CMD. With
	--format=json, a JSON array of host PIDs, as runc prints: those of the
	sandbox's host processes (the Sentry's and the Gofer's), since the
	container's own processes have none.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (p *Ps) SetFlags(f *flag.FlagSet) {
	f.StringVar(&p.format, "format", formatTable, "output format: table or json.")
	f.StringVar(&p.format, "f", formatTable, "short for --format.")
}

// Execute implements subcommands.Command.Execute.
func (p *Ps) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "ps"
	if f.NArg() != 1 {
		return usageError(p.Stderr, name, errors.New("want one container ID; usage: runsc ps [--format=table|json] ID"))
	}
	if err := config.OneOf("format", p.format, formatTable, formatJSON); err != nil {
		return usageError(p.Stderr, name, err)
	}
	conf := args[0].(*config.Config)
	c, err := container.Peek(conf.RootDir, f.Arg(0))
	if err != nil {
		return failure(p.Stderr, name, err)
	}
	if c.Status() == container.Stopped {
		return failure(p.Stderr, name, notRunning(c.ID()))
	}
	resp, err := control.Call(c.Dir, &control.Request{Method: control.MethodPs}, nil)
	if err != nil {
		return failure(p.Stderr, name, err)
	}
	if p.format == formatJSON {
		// runc's callers take these for host PIDs (docker top looks them up in
		// the host's ps): the host processes of the sandbox, not PIDs inside it.
		pids := []int{}
		for _, hp := range []container.Process{c.Sentry(), c.Gofer()} {
			if fd, err := hp.Pidfd(); err == nil {
				unix.Close(fd)
				pids = append(pids, hp.Pid)
			}
		}
		data, _ := json.Marshal(pids)
		fmt.Fprintf(p.Stdout, "%s\n", data)
		return subcommands.ExitSuccess
	}
	w := tabwriter.NewWriter(p.Stdout, 0, 1, 2, ' ', 0)
	fmt.Fprint(w, "UID\tPID\tPPID\tC\tSTIME\tTTY\tTIME\tCMD\n")
	for _, pr := range resp.Processes {
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\t?\t%s\t%s\n", pr.UID, pr.PID, pr.PPID, cpuPercent(pr),
			pr.StartTime.Local().Format("15:04"), formatCPUTime(pr.CPUTime), pr.Cmd)
	}
	w.Flush()
	return subcommands.ExitSuccess
}

// cpuPercent is ps's C column: CPU time over time alive, in percent.
func cpuPercent(p control.Process) int {
	alive := time.Since(p.StartTime)
	if alive <= 0 {
		return 0
	}
	return int(100 * p.CPUTime / alive)
}

// formatCPUTime formats d as ps's TIME column does: [DD-]HH:MM:SS.
func formatCPUTime(d time.Duration) string {
	s := int(d / time.Second)
	if days := s / 86400; days > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", days, s/3600%24, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}
