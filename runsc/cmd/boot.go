package cmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/google/subcommands"
	"visor.dev/visor/runsc/boot"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/sandbox"
	"visor.dev/visor/runsc/specutils"
)

// Boot is `runsc boot`, internal: the Sentry's process, started by runsc/sandbox
// in its own namespaces. It runs the container and exits with its status.
type Boot struct {
	Stderr io.Writer

	bundle   string
	goferFDs intList
}

// Name implements subcommands.Command.Name.
func (*Boot) Name() string { return "boot" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Boot) Synopsis() string { return "run a container's Sentry (started by runsc run)" }

// Usage implements subcommands.Command.Usage.
func (*Boot) Usage() string {
	return `boot --bundle DIR --gofer-fds=FD,... ID:
	Internal; runsc starts it. Runs the container of bundle DIR on the Gofer
	connections FD,... (the root first, then bind mounts in spec order) and
	stdin, stdout and stderr. Exits with the container's exit code, or 128 plus
	the signal that killed it; 1 when the Sentry fails.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (b *Boot) SetFlags(f *flag.FlagSet) {
	f.StringVar(&b.bundle, "bundle", "", "the container's bundle directory (absolute).")
	f.Var(&b.goferFDs, "gofer-fds", "comma-separated lisafs client sockets, one per mount the Gofer serves.")
}

// Execute implements subcommands.Command.Execute.
func (b *Boot) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "boot"
	if f.NArg() != 1 || b.bundle == "" {
		return usageError(b.Stderr, name, fmt.Errorf("usage: runsc boot --bundle DIR --gofer-fds=FD,... ID"))
	}
	conf := args[0].(*config.Config)
	spec, err := specutils.LoadSpec(b.bundle)
	if err != nil {
		return failure(b.Stderr, name, err)
	}
	if want := len(specutils.GoferMounts(spec, b.bundle)); len(b.goferFDs) != want {
		return failure(b.Stderr, name, fmt.Errorf("%d gofer FDs for %d served mounts", len(b.goferFDs), want))
	}
	logw, err := openDebugLog(conf, f.Arg(0), "boot", b.Stderr)
	if err != nil {
		return failure(b.Stderr, name, err)
	}
	defer logw.Close()
	ws, err := boot.Run(boot.Args{
		Spec:      spec,
		BundleDir: b.bundle,
		Conf:      conf,
		GoferFDs:  b.goferFDs,
		Stdio:     [3]int{0, 1, 2},
		Log:       logw,
	})
	if err != nil {
		return failure(b.Stderr, name, err)
	}
	return subcommands.ExitStatus(sandbox.ExitCode(ws))
}

// failure reports an error that stopped command cmd from doing its work, in one
// line, and returns runc's exit status for it: 1. (A container's own exit status
// can be 1 too; the line on stderr tells them apart.)
func failure(w io.Writer, cmd string, err error) subcommands.ExitStatus {
	fmt.Fprintf(w, "runsc %s: %v\n", cmd, err)
	return subcommands.ExitFailure
}

// intList is a flag holding a comma-separated list of FD numbers.
type intList []int

// String implements flag.Value.String.
func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, v := range *l {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// Set implements flag.Value.Set.
func (l *intList) Set(v string) error {
	*l = nil
	for s := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a file descriptor number", s)
		}
		*l = append(*l, n)
	}
	return nil
}
