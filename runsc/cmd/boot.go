package cmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"
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
	// appFDs become the container's fds 3, 4, ... (create/run --preserve-fds).
	appFDs intList
	// controlFD, lockFD and exitFD are -1 when not given (runsc run, do).
	controlFD, lockFD, exitFD int
	// handoverFD is -1 when not given (runsc run, do).
	handoverFD int
}

// Name implements subcommands.Command.Name.
func (*Boot) Name() string { return "boot" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Boot) Synopsis() string { return "run a container's Sentry (started by runsc run)" }

// Usage implements subcommands.Command.Usage.
func (*Boot) Usage() string {
	return `boot --bundle DIR --gofer-fds=FD,... [--control-fd=FD --lock-fd=FD --exit-fd=FD] [--app-fds=FD,...] ID:
	Internal; runsc starts it. Runs the container of bundle DIR on the Gofer
	connections FD,... (the root first, then bind mounts in spec order) and
	stdin, stdout and stderr. Exits with the container's exit code, or 128 plus
	the signal that killed it; 1 when the Sentry fails.

	With --control-fd (runsc create), the container's process waits for the
	"start" request on that listening control socket (runsc/control), and the
	Sentry serves exec, signal, wait, ps, pause, resume and stats until it
	exits. --lock-fd is the container's sandbox lock, held open for the
	Sentry's life; --exit-fd receives the container's wait status in decimal.
	--handover-fd is a pipe from runsc create: if it closes before a byte
	arrives, create died before it recorded the sandbox, and the Sentry exits.
	--app-fds become the container's fds 3, 4, ... in that order.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (b *Boot) SetFlags(f *flag.FlagSet) {
	f.StringVar(&b.bundle, "bundle", "", "the container's bundle directory (absolute).")
	f.Var(&b.goferFDs, "gofer-fds", "comma-separated lisafs client sockets, one per mount the Gofer serves.")
	f.IntVar(&b.controlFD, "control-fd", -1, "the control socket's listening end; the container's process then waits for \"start\".")
	f.IntVar(&b.lockFD, "lock-fd", -1, "the container's sandbox lock, held as long as the Sentry lives.")
	f.IntVar(&b.exitFD, "exit-fd", -1, "a file that receives the container's wait status when it exits.")
	f.IntVar(&b.handoverFD, "handover-fd", -1, "a pipe from runsc create; the Sentry exits if it closes before a byte arrives.")
	f.Var(&b.appFDs, "app-fds", "comma-separated fds the container's process gets as its fds 3, 4, ... (runsc create --preserve-fds).")
}

// Execute implements subcommands.Command.Execute.
func (b *Boot) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "boot"
	if f.NArg() != 1 || b.bundle == "" {
		return usageError(b.Stderr, name, fmt.Errorf("usage: runsc boot --bundle DIR --gofer-fds=FD,... ID"))
	}
	// First: a creator that is gone already must not leave a Sentry behind.
	if err := b.watchHandover(); err != nil {
		return failure(b.Stderr, name, err)
	}
	conf := args[0].(*config.Config)
	spec, err := specutils.LoadSpec(b.bundle)
	if err != nil {
		return failure(b.Stderr, name, err)
	}
	if want := len(specutils.GoferMounts(spec, b.bundle)); len(b.goferFDs) != want {
		return failure(b.Stderr, name, fmt.Errorf("%d gofer FDs for %d served mounts", len(b.goferFDs), want))
	}
	ctl, exit, err := b.lifecycleFiles()
	if err != nil {
		return failure(b.Stderr, name, err)
	}
	// Like the lifecycle files, they must not leak into the platform's stubs.
	for _, fd := range b.appFDs {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return failure(b.Stderr, name, fmt.Errorf("--app-fds: fd %d: %w", fd, err))
		}
	}
	logw, err := openDebugLog(conf, f.Arg(0), "boot", b.Stderr)
	if err != nil {
		return failure(b.Stderr, name, err)
	}
	defer logw.Close()
	// The Sentry's fds 0-2 become the container's: if init cannot start, its
	// file table closes them on the way out. Run's error goes to a copy of
	// stderr, so that it still reaches whoever started the sandbox.
	errFD, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return failure(b.Stderr, name, fmt.Errorf("keeping a copy of stderr: %w", err))
	}
	errw := os.NewFile(uintptr(errFD), "stderr")
	defer errw.Close()
	ws, err := boot.Run(boot.Args{
		Spec:      spec,
		BundleDir: b.bundle,
		Conf:      conf,
		GoferFDs:  b.goferFDs,
		Stdio:     [3]int{0, 1, 2},
		AppFDs:    b.appFDs,
		Log:       logw,
		Control:   ctl,
		ExitFile:  exit,
	})
	if err != nil {
		return failure(errw, name, err)
	}
	return subcommands.ExitStatus(sandbox.ExitCode(ws))
}

// watchHandover makes the Sentry exit if runsc create dies before it hands the
// sandbox over (see runsc/sandbox): the --handover-fd pipe then closes with
// nothing written. Once the byte arrives, the Sentry is on its own.
func (b *Boot) watchHandover() error {
	if b.handoverFD < 0 {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(b.handoverFD), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return fmt.Errorf("--handover-fd=%d: %w", b.handoverFD, err)
	}
	f := os.NewFile(uintptr(b.handoverFD), "handover")
	go func() {
		var buf [1]byte
		n, _ := f.Read(buf[:])
		f.Close()
		if n == 1 {
			return
		}
		// Silently: stderr is the container's, whose caller knows that its
		// create died.
		os.Exit(1)
	}()
	return nil
}

// lifecycleFiles checks the fds of --control-fd, --lock-fd and --exit-fd, and
// returns the control socket and the exit file (nil when not given).
func (b *Boot) lifecycleFiles() (ctl, exit *os.File, err error) {
	for _, fd := range []struct {
		flag string
		fd   int
	}{{"--control-fd", b.controlFD}, {"--lock-fd", b.lockFD}, {"--exit-fd", b.exitFD}} {
		if fd.fd < 0 {
			continue
		}
		// They arrive without close-on-exec; none may leak into the
		// platform's stub processes, which the Sentry forks and execs (a
		// stub holding the lock would keep the container "alive").
		if _, err := unix.FcntlInt(uintptr(fd.fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return nil, nil, fmt.Errorf("%s=%d: %w", fd.flag, fd.fd, err)
		}
	}
	if b.controlFD >= 0 {
		// control.Serve needs a socket the Go poller can wait on: the fd
		// arrives blocking (os/exec makes the files it passes blocking).
		if err := unix.SetNonblock(b.controlFD, true); err != nil {
			return nil, nil, fmt.Errorf("--control-fd=%d: %w", b.controlFD, err)
		}
		ctl = os.NewFile(uintptr(b.controlFD), "control.sock")
	}
	if b.exitFD >= 0 {
		exit = os.NewFile(uintptr(b.exitFD), "exit")
	}
	return ctl, exit, nil
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
