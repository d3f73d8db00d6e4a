package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/syscallinfo"
	"visor.dev/visor/runsc/compat"
	"visor.dev/visor/runsc/config"
)

// Exit statuses of `runsc compat` besides 0 (all supported) and 1 (not all), the
// ones container engines and shells use for a command that could not run.
const (
	exitTraceFailed = 125 // runsc itself failed
	exitCannotExec  = 126 // the command exists but could not be executed
	exitNotFound    = 127 // no such command
)

// Compat is `runsc compat`: run a command natively under ptrace and report which
// system calls it made and how far Visor supports each.
type Compat struct {
	Stdout io.Writer
	Stderr io.Writer
	// Table is the system call table to check the command's calls against.
	Table syscallinfo.Table

	format string
	output string
}

// Name implements subcommands.Command.Name.
func (*Compat) Name() string { return "compat" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Compat) Synopsis() string {
	return "run a command on the host and report the system calls it makes that Visor does not support"
}

// Usage implements subcommands.Command.Usage.
func (*Compat) Usage() string {
	return `compat [--format=table|json] [--output=FILE] -- CMD [ARGS...]:
	Runs CMD natively on the host under ptrace, following every thread and
	process it starts, with this terminal's stdin, stdout and stderr. When all
	have ended, reports each system call they made, how many times, and its
	status in Visor. Exits 0 when Visor supports all of them, 1 when not,
	127 when CMD is not found, 126 when it cannot be executed, 125 when
	tracing fails.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (c *Compat) SetFlags(f *flag.FlagSet) {
	f.StringVar(&c.format, "format", formatTable, "report format: table or json.")
	f.StringVar(&c.output, "output", "", "write the report to this file instead of stdout.")
}

// Execute implements subcommands.Command.Execute.
func (c *Compat) Execute(_ context.Context, f *flag.FlagSet, _ ...any) subcommands.ExitStatus {
	const name = "compat"
	if err := config.OneOf("format", c.format, formatTable, formatJSON); err != nil {
		return usageError(c.Stderr, name, err)
	}
	if f.NArg() == 0 {
		return usageError(c.Stderr, name, errors.New("no command given; usage: runsc compat [flags] -- CMD [ARGS...]"))
	}

	// Open the report file first: a bad path should fail before the command runs.
	out := c.Stdout
	var file *os.File
	if c.output != "" {
		var err error
		if file, err = os.Create(c.output); err != nil {
			fmt.Fprintf(c.Stderr, "runsc %s: %v\n", name, err)
			return exitTraceFailed
		}
		defer file.Close() // for the early returns; closing twice is harmless
		out = file
	}

	// The terminal sends ^C and ^\ to the command too. Let the command decide what
	// they mean, and live on to report. Notify, not Ignore: an ignored signal would
	// stay ignored in the command across its execve.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGQUIT)
	defer signal.Stop(sigs)

	res, err := compat.Trace(f.Args())
	if err != nil {
		fmt.Fprintf(c.Stderr, "runsc %s: %v\n", name, err)
		var se *compat.StartError
		switch {
		case !errors.As(err, &se):
			return exitTraceFailed
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			return exitNotFound
		}
		return exitCannotExec
	}

	report := compat.NewReport(res, c.Table)
	write := report.WriteTable
	if c.format == formatJSON {
		write = report.WriteJSON
	}
	if err := write(out); err != nil {
		fmt.Fprintf(c.Stderr, "runsc %s: %v\n", name, err)
		return exitTraceFailed
	}
	if file != nil {
		// Close reports the write errors a file can hold back until then.
		if err := file.Close(); err != nil {
			fmt.Fprintf(c.Stderr, "runsc %s: %v\n", name, err)
			return exitTraceFailed
		}
	}
	if !report.AllSupported() {
		return subcommands.ExitFailure
	}
	return subcommands.ExitSuccess
}
