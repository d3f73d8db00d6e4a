package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"
	"visor.dev/visor/runsc/fsgofer"
	goferfilter "visor.dev/visor/runsc/fsgofer/filter"
	"visor.dev/visor/runsc/sandbox"
	"visor.dev/visor/runsc/specutils"
)

// Gofer is `runsc gofer`, internal: the sandbox's file server, started by
// runsc/sandbox in its own mount, IPC, UTS and network namespaces. It serves the
// container's root and bind mounts over lisafs, one connection each, until the
// Sentry hangs up.
//
// Its confinement, in order: mount propagation private (nothing it does is seen
// outside), every served directory opened (fsgofer.New, which also keeps
// /proc/self/fd), then pivot_root into an empty read-only tmpfs with the host's
// tree detached, then only the capabilities file operations on the Sentry's behalf
// need and no_new_privs, then its seccomp allow-list (runsc/fsgofer/filter).
type Gofer struct {
	Stderr io.Writer

	bundle string
	ioFDs  intList
}

// Name implements subcommands.Command.Name.
func (*Gofer) Name() string { return "gofer" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Gofer) Synopsis() string {
	return "serve a container's files to its Sentry (started by runsc run)"
}

// Usage implements subcommands.Command.Usage.
func (*Gofer) Usage() string {
	return `gofer --bundle DIR --io-fds=FD,...:
	Internal; runsc starts it in a mount namespace of its own. Serves the root
	of bundle DIR and its bind mounts, in spec order, over the lisafs server
	sockets FD,...; exits 0 when every connection has hung up.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (g *Gofer) SetFlags(f *flag.FlagSet) {
	f.StringVar(&g.bundle, "bundle", "", "the container's bundle directory (absolute).")
	f.Var(&g.ioFDs, "io-fds", "comma-separated lisafs server sockets, one per served mount.")
}

// goferCaps are the capabilities the Gofer keeps: those that let it act on files
// as the Sentry's root user, whatever their owner and mode.
var goferCaps = []uintptr{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER, unix.CAP_FSETID,
}

// Execute implements subcommands.Command.Execute.
func (g *Gofer) Execute(_ context.Context, f *flag.FlagSet, _ ...any) subcommands.ExitStatus {
	const name = "gofer"
	if f.NArg() != 0 || g.bundle == "" {
		return usageError(g.Stderr, name, errors.New("usage: runsc gofer --bundle DIR --io-fds=FD,..."))
	}
	spec, err := specutils.LoadSpec(g.bundle)
	if err != nil {
		return failure(g.Stderr, name, err)
	}
	mounts := specutils.GoferMounts(spec, g.bundle)
	if len(g.ioFDs) != len(mounts) {
		return failure(g.Stderr, name, fmt.Errorf("%d io FDs for %d served mounts", len(g.ioFDs), len(mounts)))
	}
	if err := sandbox.CheckOwnMountNamespace("gofer"); err != nil {
		return failure(g.Stderr, name, err)
	}
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return failure(g.Stderr, name, fmt.Errorf("making mounts private: %w", err))
	}
	var gofers []*fsgofer.Gofer
	defer func() {
		for _, gf := range gofers {
			gf.Close()
		}
	}()
	for _, m := range mounts {
		gf, err := fsgofer.New(m.Source, fsgofer.Options{ReadOnly: m.ReadOnly})
		if err != nil {
			return failure(g.Stderr, name, fmt.Errorf("serving %s: %w", m.Destination, err))
		}
		gofers = append(gofers, gf)
	}
	if err := pivotToEmptyRoot(mounts[0].Source); err != nil {
		return failure(g.Stderr, name, err)
	}
	if err := dropPrivileges(goferCaps); err != nil {
		return failure(g.Stderr, name, err)
	}
	if err := goferfilter.Install(g.Stderr); err != nil {
		return failure(g.Stderr, name, err)
	}

	var wg sync.WaitGroup
	errs := make([]error, len(gofers))
	for i, gf := range gofers {
		wg.Go(func() { errs[i] = gf.Serve(g.ioFDs[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return failure(g.Stderr, name, err)
	}
	return subcommands.ExitSuccess
}

// pivotToEmptyRoot makes an empty, read-only tmpfs the root of the Gofer's mount
// namespace, on top of dir (any directory would do: the namespace is private), and
// detaches everything else. Served files stay reachable through the FDs already
// open; no host path resolves any more.
func pivotToEmptyRoot(dir string) error {
	if filepath.Clean(dir) == "/" {
		// A mount over "/" does not move the process's root, so pivot_root would
		// find "." still the old root (runsc do serves the host's /). Any other
		// directory does; /proc exists everywhere, and fsgofer holds its own FD of
		// /proc/self/fd already.
		dir = "/proc"
	}
	if err := unix.Mount("visor-gofer", dir, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		"mode=0555"); err != nil {
		return fmt.Errorf("mounting the gofer's empty root: %w", err)
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("entering the gofer's empty root: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on the new one; detaching it then
	// leaves only the tmpfs.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into the gofer's empty root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering the gofer's empty root: %w", err)
	}
	return nil
}

// dropPrivileges keeps only the capabilities keep and sets no_new_privs, on
// all of the Gofer's threads at once.
func dropPrivileges(keep []uintptr) error {
	if err := sandbox.DropCapabilities(keep); err != nil {
		return err
	}
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); errno != 0 {
		return fmt.Errorf("setting no_new_privs: %w", errno)
	}
	return nil
}
