// Package cli owns runsc's command line: the global flags, the commands it
// registers, and how a bad command line is reported. runsc/main.go only calls Run.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/google/subcommands"
	"visor.dev/visor/pkg/syscallinfo"
	"visor.dev/visor/runsc/cmd"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/version"
)

// internalGroup holds the commands runsc runs itself, listed apart in `runsc help`.
const internalGroup = "internal use only"

// Run runs runsc with the command-line arguments args (without the program name)
// and returns its exit status. A bad command line exits 2.
func Run(args []string, stdout, stderr io.Writer) int {
	const name = "runsc"
	// Commands report their errors here; once the flags are parsed it copies them
	// to the --log file too.
	errlog := cmd.NewErrorLog(stderr)
	defer errlog.Close()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var conf config.Config
	conf.RegisterFlags(fs)
	showVersion := fs.Bool("version", false, "show the version and exit.")

	cdr := subcommands.NewCommander(fs, name)
	cdr.Output, cdr.Error = stdout, stderr
	for _, f := range []string{"root", "debug", "platform", "network"} {
		cdr.ImportantFlag(f) // shown by `runsc help`; `runsc flags` shows all
	}
	help := cmd.NewHelp(cdr, stdout, stderr)
	help.Register(&cmd.Syscalls{Stdout: stdout, Stderr: stderr, Table: syscallinfo.AMD64()})
	cdr.Register(help, "")
	cdr.Register(cdr.FlagsCommand(), "")
	cdr.Register(cdr.CommandsCommand(), "")
	cdr.Register(&cmd.Compat{Stdout: stdout, Stderr: stderr, Table: syscallinfo.AMD64()}, "")
	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr} // the container's, inherited by the Sentry
	cdr.Register(&cmd.Run{Stderr: errlog, Stdio: stdio}, "")
	cdr.Register(&cmd.Do{Stderr: errlog, Stdio: stdio}, "")
	cdr.Register(&cmd.Create{Stderr: errlog, Stdio: stdio}, "")
	cdr.Register(&cmd.Start{Stderr: errlog}, "")
	cdr.Register(&cmd.State{Stdout: stdout, Stderr: errlog}, "")
	cdr.Register(&cmd.Kill{Stderr: errlog}, "")
	cdr.Register(&cmd.Delete{Stderr: errlog}, "")
	cdr.Register(&cmd.List{Stdout: stdout, Stderr: errlog}, "")
	cdr.Register(&cmd.Exec{Stderr: errlog, Stdio: stdio}, "")
	cdr.Register(&cmd.Ps{Stdout: stdout, Stderr: errlog}, "")
	cdr.Register(&cmd.Pause{Stderr: errlog}, "")
	cdr.Register(&cmd.Resume{Stderr: errlog}, "")
	cdr.Register(&cmd.Wait{Stdout: stdout, Stderr: errlog}, "")
	cdr.Register(&cmd.Events{Stdout: stdout, Stderr: errlog}, "")
	cdr.Register(&cmd.Spec{Stderr: errlog}, "")
	cdr.Register(&cmd.Features{Stdout: stdout, Stderr: errlog}, "")
	cdr.Register(&cmd.Install{Stdout: stdout, Stderr: stderr}, "")
	cdr.Register(&cmd.Uninstall{Stdout: stdout, Stderr: stderr}, "")
	cdr.Register(&cmd.Gofer{Stderr: errlog}, internalGroup)
	cdr.Register(&cmd.Boot{Stderr: errlog}, internalGroup)

	// The flag package reports a bad flag with the whole usage after it; runsc says
	// what is wrong in one line instead, so silence it while parsing.
	usage := fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(stdout) // `runsc flags` prints the defaults here
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		cdr.Explain(stdout)
		return int(subcommands.ExitSuccess)
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v (see \"%s flags\")\n", name, err, name)
		return int(subcommands.ExitUsageError)
	}

	if *showVersion {
		fmt.Fprintf(stdout, "%s version %s\nspec: %s\n", name, version.Version(), version.Spec)
		return int(subcommands.ExitSuccess)
	}
	if err := conf.Validate(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return int(subcommands.ExitUsageError)
	}
	if err := errlog.Open(&conf); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return int(subcommands.ExitFailure)
	}
	if fs.NArg() == 0 {
		// With no command, the commander prints the usage and returns ExitUsageError.
		return int(cdr.Execute(context.Background(), &conf))
	}
	c := findCommand(cdr, fs.Arg(0))
	if c == nil {
		fmt.Fprintf(stderr, "%s: unknown command %q (see \"%s help\")\n", name, fs.Arg(0), name)
		return int(subcommands.ExitUsageError)
	}
	// As the commander would run it, but a bad flag is reported in one line,
	// not followed by the command's whole usage.
	cf := flag.NewFlagSet(c.Name(), flag.ContinueOnError)
	cf.SetOutput(io.Discard)
	cf.Usage = func() {}
	c.SetFlags(cf)
	switch err := cf.Parse(fs.Args()[1:]); {
	case errors.Is(err, flag.ErrHelp):
		cdr.ExplainCommand(stdout, c)
		return int(subcommands.ExitSuccess)
	case err != nil:
		fmt.Fprintf(errlog, "%s %s: %v (see \"%s help %s\")\n", name, c.Name(), err, name, c.Name())
		return int(subcommands.ExitUsageError)
	}
	cf.SetOutput(stderr)
	return int(c.Execute(context.Background(), cf, &conf))
}

// findCommand returns cdr's command called name, or nil.
func findCommand(cdr *subcommands.Commander, name string) subcommands.Command {
	var found subcommands.Command
	cdr.VisitCommands(func(_ *subcommands.CommandGroup, c subcommands.Command) {
		if c.Name() == name {
			found = c
		}
	})
	return found
}
