package cmd

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/google/subcommands"
)

// Help is the help command: subcommands' own, which explains commands, plus help
// topics, which are commands reachable only as `runsc help <topic>`.
type Help struct {
	cdr    *subcommands.Commander
	stdout io.Writer
	stderr io.Writer
	topics []subcommands.Command
}

// NewHelp returns the help command for the commands of cdr.
func NewHelp(cdr *subcommands.Commander, stdout, stderr io.Writer) *Help {
	return &Help{cdr: cdr, stdout: stdout, stderr: stderr}
}

// Register adds a help topic.
func (h *Help) Register(topic subcommands.Command) {
	h.topics = append(h.topics, topic)
}

// Name implements subcommands.Command.Name.
func (*Help) Name() string { return "help" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Help) Synopsis() string { return "describe subcommands, their syntax and other help topics" }

// Usage implements subcommands.Command.Usage.
func (*Help) Usage() string {
	return `help [<subcommand> | <topic> [<topic flags>]]:
	With an argument, prints detailed information on the use of the specified
	subcommand, or the help on the specified topic. With no argument, prints a
	list of all commands and help topics with a brief description of each.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (*Help) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.Execute.
func (h *Help) Execute(ctx context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() > 0 {
		for _, topic := range h.topics {
			if topic.Name() == f.Arg(0) {
				return h.runTopic(ctx, topic, f.Args()[1:], args)
			}
		}
	}
	status := h.cdr.HelpCommand().Execute(ctx, f, args...)
	if f.NArg() == 0 && len(h.topics) > 0 {
		fmt.Fprintf(h.stdout, "\nHelp topics (use \"%s help <topic>\"):\n", h.cdr.Name())
		for _, topic := range h.topics {
			fmt.Fprintf(h.stdout, "\t%-15s  %s\n", topic.Name(), topic.Synopsis())
		}
	}
	return status
}

// runTopic parses a topic's own flags from its arguments and runs it.
func (h *Help) runTopic(ctx context.Context, topic subcommands.Command, topicArgs []string, args []any) subcommands.ExitStatus {
	fs := flag.NewFlagSet("help "+topic.Name(), flag.ContinueOnError)
	fs.SetOutput(h.stderr)
	fs.Usage = func() {
		fmt.Fprint(h.stderr, topic.Usage())
		fs.PrintDefaults()
	}
	topic.SetFlags(fs)
	if err := fs.Parse(topicArgs); err != nil {
		if err == flag.ErrHelp {
			return subcommands.ExitSuccess
		}
		return subcommands.ExitUsageError
	}
	return topic.Execute(ctx, fs, args...)
}
