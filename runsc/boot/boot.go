// Package boot is the Sentry's main: `runsc boot` calls Run, which builds the
// sandbox's kernel — memory file, platform, VFS mounts over the Gofer's
// connections, the kernel itself — starts the container's first process and
// returns its exit status.
//
// With a control socket (runsc create), the first process is created as soon
// as the kernel is ready but held before its first instruction, and the
// Sentry serves the control protocol (runsc/control): "start" lets it run;
// exec, signal, wait, ps, pause, resume and stats act on the running sandbox
// (control.go). Holding the process rather than creating it at "start" makes
// a missing or unrunnable program fail `runsc create`, as with runc.
package boot

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/platform/ptrace"
	"visor.dev/visor/pkg/sentry/strace"
	sys "visor.dev/visor/pkg/sentry/syscalls/linux"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/syscallinfo"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/control"
)

// Args are what `runsc boot` passes to Run.
type Args struct {
	// Spec is the container's validated OCI spec; BundleDir its bundle.
	Spec      *specs.Spec
	BundleDir string
	Conf      *config.Config
	// GoferFDs are lisafs client sockets, one per mount the Gofer serves, in order:
	// the root first, then each bind mount in the order of Spec.Mounts.
	GoferFDs []int
	// Stdio are the host FDs of the application's stdin, stdout and stderr.
	Stdio [3]int
	// AppFDs are more host FDs for the application: init gets them as its
	// fds 3, 4, ... (runsc create/run --preserve-fds, as runc's).
	AppFDs []int
	// Log receives the Sentry's own messages (debug log, unsupported syscalls);
	// nil discards them.
	Log io.Writer
	// Control, if set, is the control socket's listening end: the first
	// process waits for the "start" request, and the Sentry serves requests
	// until it exits. Without it the first process runs at once.
	Control *os.File
	// ExitFile, if set, receives init's wait status, in decimal and a
	// newline, when it exits.
	ExitFile *os.File
}

// requestGrace bounds how long the Sentry, once init has exited, waits for the
// control requests in flight (a "wait" for init above all) to be answered.
const requestGrace = time.Second

// Run runs the container to completion and returns its first process's status.
func Run(args Args) (linux.WaitStatus, error) {
	logw := args.Log
	if logw == nil {
		logw = io.Discard
	}
	logger := log.New(logw, "sentry: ", log.LstdFlags|log.Lmicroseconds)

	if args.Conf != nil && args.Conf.Platform != config.PlatformPtrace {
		return 0, fmt.Errorf("--platform=%s is not implemented yet: use --platform=ptrace", args.Conf.Platform)
	}
	mf, err := pgalloc.NewMemoryFile(pgalloc.Options{})
	if err != nil {
		return 0, fmt.Errorf("creating the memory file: %w", err)
	}
	defer mf.Destroy()
	p, err := ptrace.New(mf.File())
	if err != nil {
		return 0, fmt.Errorf("starting the ptrace platform: %w", err)
	}
	defer p.Release()

	v := vfs.New()
	kcfg := kernel.Config{
		Platform:    p,
		MemoryFile:  mf,
		VFS:         v,
		Syscalls:    sys.AMD64(),
		Unsupported: newUnsupportedLogger(logger),
		Hostname:    args.Spec.Hostname,
		Logf:        logger.Printf,
	}
	if args.Conf != nil && args.Conf.Strace {
		kcfg.Strace = strace.New(logw, syscallinfo.AMD64())
	}
	k, err := kernel.New(kcfg)
	if err != nil {
		return 0, err
	}
	if err := installSandboxing(sandboxLog(args)); err != nil { // sandboxing.go
		return 0, err
	}
	watched, err := dupGoferFDs(args.GoferFDs)
	if err != nil {
		return 0, fmt.Errorf("the Gofer's connections: %w", err)
	}
	// Until watchGofer takes them over.
	defer func() { closeInts(watched) }()
	mounts, err := newMounts(args, v, k)
	if err != nil {
		return 0, err
	}
	defer mounts.release()

	fdt, err := mounts.stdioTable(args.Stdio, args.AppFDs)
	if err != nil {
		return 0, err
	}
	pargs, err := processArgs(args.Spec.Process, mounts, fdt)
	if err != nil {
		fdt.DecRef()
		return 0, err
	}
	term := newTerminal(k, mounts, args.Spec.Process, fdt, logger.Printf) // terminal.go
	defer term.release()
	pargs.BeforeStart = term.beforeStart
	if args.Control != nil {
		// Held until "start": see the package comment.
		if err := k.Pause(); err != nil {
			fdt.DecRef()
			return 0, err
		}
	}
	init, err := k.CreateProcess(*pargs)
	if err != nil {
		return 0, startError("config.json: process.args[0]", args.Spec.Process.Args[0], err)
	}
	sandboxDone := make(chan struct{})
	defer close(sandboxDone)
	go watchGofer(k, watched, sandboxDone, logger)
	watched = nil

	// Signals sent to the Sentry (runsc kill, Ctrl-C on runsc run) go to the
	// container's init, as they would to a container's PID 1.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for s := range sigs {
			if term.forwards(s) {
				continue // the terminal's foreground group gets it
			}
			if init := k.RootPIDNamespace().TaskWithID(1); init != nil {
				init.ThreadGroup().SendSignal(&linux.SignalInfo{Signo: int32(s.(unix.Signal)), Code: linux.SI_USER})
			}
		}
	}()

	var ctl *controller
	if args.Control != nil {
		ctl = newController(k, mf, mounts, init, logger)
		go func() {
			if err := control.Serve(args.Control, ctl); err != nil {
				logger.Printf("control socket: %v", err)
			}
		}()
	}
	ws := k.WaitExited()
	if args.ExitFile != nil {
		// Written before the Sentry exits, so whoever sees it gone finds
		// the status there.
		if _, err := args.ExitFile.WriteAt([]byte(strconv.FormatUint(uint64(ws), 10)+"\n"), 0); err != nil {
			logger.Printf("writing the exit status: %v", err)
		}
	}
	if ctl != nil {
		args.Control.Close()
		ctl.drain(requestGrace)
	}
	return ws, nil
}

// unsupportedLogger logs each unsupported system call once, with its name, and
// counts every call.
type unsupportedLogger struct {
	log    *log.Logger
	mu     sync.Mutex
	counts map[uintptr]int
}

func newUnsupportedLogger(l *log.Logger) *unsupportedLogger {
	return &unsupportedLogger{log: l, counts: make(map[uintptr]int)}
}

// ReportUnsupportedSyscall implements kernel.UnsupportedSyscallReporter.
func (u *unsupportedLogger) ReportUnsupportedSyscall(t *kernel.Task, ev kernel.UnsupportedSyscall) {
	u.mu.Lock()
	u.counts[ev.Sysno]++
	first := u.counts[ev.Sysno] == 1
	u.mu.Unlock()
	if !first {
		return
	}
	name := ev.Name
	if name == "" {
		name = fmt.Sprintf("syscall %d", ev.Sysno)
	}
	u.log.Printf("unsupported syscall %s (%d) called by %q (pid %d); see `runsc help syscalls`", name, ev.Sysno, t.Name(), t.ThreadGroupID())
}

// startError explains why a program could not start, with what to fix; what
// says where prog came from.
func startError(what, prog string, err error) error {
	switch {
	case errors.Is(err, linux.ENOENT):
		return fmt.Errorf("%s %q: executable file not found in the container (looked up in PATH if it has no slash): %w", what, prog, err)
	case errors.Is(err, linux.EACCES):
		return fmt.Errorf("%s %q is not an executable file (check its mode and that it is a regular file): %w", what, prog, err)
	case errors.Is(err, linux.ENOEXEC):
		return fmt.Errorf("%s %q is not a program Visor can run (not ELF x86-64, nor a #! script): %w", what, prog, err)
	}
	return fmt.Errorf("starting %q: %w", prog, err)
}
