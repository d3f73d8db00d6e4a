package boot

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"visor.dev/visor/runsc/boot/filter"
	"visor.dev/visor/runsc/sandbox"
)

// installSandboxing cuts the Sentry off from the host before it touches anything
// of the container's: it makes an empty, read-only tmpfs its root, so that no
// host path resolves, drops its capabilities (sentryCaps), and
// installs its seccomp allow-list (runsc/boot/filter) on every thread, so that a
// violation kills it with a line on log.
//
// Whatever the Sentry needs from the host filesystem must be open by then: the
// memory file, the ptrace platform's zygote (exec'd through /proc/self/fd), the
// Gofer's connections, stdio and the control socket are. runsc/sandbox starts the
// Sentry in a mount namespace of its own, so nothing here is seen outside it.
func installSandboxing(log io.Writer) error {
	if err := sandbox.CheckOwnMountNamespace("boot"); err != nil {
		return err
	}
	// The time zone, for log lines, is loaded on first use: from the host's
	// /etc/localtime, now or never.
	time.Now().Zone()
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := pivotToEmptyRoot(); err != nil {
		return err
	}
	if err := sandbox.DropCapabilities(sentryCaps); err != nil {
		return err
	}
	if err := filter.Install(log); err != nil {
		return fmt.Errorf("installing the seccomp filter: %w", err)
	}
	return nil
}

// sentryCaps are the capabilities the Sentry keeps: none. Nothing it does from
// here on (calls on FDs it holds, signals to and ptrace of its own stubs, which
// have none either) needs one. Without any it cannot ptrace a host process that
// has some, nor signal one of another user; a process of its own user it could
// still SIGKILL (the one signal its filter allows) unless a PID namespace of the
// sandbox's own hides it.
var sentryCaps []uintptr

// sandboxLog is where a seccomp violation is reported: the Sentry's stderr, and
// its debug log if it has a file of its own (--debug-log).
func sandboxLog(args Args) io.Writer {
	if args.Log != nil && args.Conf != nil && args.Conf.DebugLog != "" {
		return io.MultiWriter(os.Stderr, args.Log)
	}
	return os.Stderr
}

// pivotToEmptyRoot makes an empty, read-only tmpfs the root of the Sentry's
// mount namespace and detaches everything else. The tmpfs goes on /proc (any
// directory would do, the namespace is private, and /proc is there on every
// host; the Sentry's /proc is its own, served from its kernel).
func pivotToEmptyRoot() error {
	const dir = "/proc"
	if err := unix.Mount("visor-sentry", dir, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
		"mode=0555"); err != nil {
		return fmt.Errorf("mounting the sentry's empty root: %w", err)
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("entering the sentry's empty root: %w", err)
	}
	// pivot_root(".", ".") stacks the old root on the new one; detaching it
	// then leaves only the tmpfs.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into the sentry's empty root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering the sentry's empty root: %w", err)
	}
	return nil
}
