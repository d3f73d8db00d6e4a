// Package sandbox starts and stops a sandbox: the two host processes that run one
// container, both re-executions of the runsc binary (/proc/self/exe).
//
//	runsc create / runsc run / runsc do   (the caller's namespaces)
//	├── runsc gofer --bundle B --io-fds=3,4,...
//	│     new PID, mount, IPC, UTS and network namespaces; serves the root and each bind
//	│     mount over lisafs, one socket each, then pivots into an empty read-only
//	│     tmpfs and drops privileges before it reads a single request
//	└── runsc boot --bundle B --gofer-fds=3,4,... --control-fd=C --lock-fd=L --exit-fd=E [--app-fds=A,...] ID
//	      new PID, mount, IPC, UTS and (unless --network=host) network namespaces; the
//	      Sentry: builds the container's kernel and mounts, serves the control
//	      socket C (runsc/control), runs init once asked to start, writes its wait
//	      status to E and exits with the container's status. It holds the flock
//	      on L for as long as it lives: that is how other commands see it alive.
//
// Both children are in sessions of their own. A foreground sandbox (runsc run,
// runsc do) is its caller's: both children have PR_SET_PDEATHSIG set to SIGKILL,
// so neither outlives a caller that dies without cleaning up, and the caller
// forwards ^C and the like to the Sentry. A detached sandbox (runsc create)
// outlives its caller, but only once handed over (HandOver): until then the
// Sentry holds the read end of a pipe whose only write end is the caller's
// (--handover-fd), and exits when it closes with nothing written, so a create
// killed before it recorded the sandbox leaves no process behind (the Gofer
// ends when the Sentry's connections hang up, or the caller's copies of them
// if the Sentry never started). Whoever inherits the children (containerd's
// shim, a subreaper) reaps them, and runsc kill and runsc delete find them
// through the container's state. With --rootless each also gets a user
// namespace in which the caller's UID and GID are root.
//
// The sockets are lisafs.SocketPair()s made here: the Gofer gets the server ends
// as FDs 3, 4, ... (the root first, then bind mounts in spec order, as
// specutils.GoferMounts lists them) and the Sentry the client ends, likewise,
// followed by the control, lock and exit files and the fds the container keeps
// (--preserve-fds). The caller closes its copies once both have started, so when
// the Sentry exits every connection hangs up and the Gofer's serving ends with it.
package sandbox

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/lisafs"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/control"
	"visor.dev/visor/runsc/specutils"
)

// ForwardedSignals are the signals the caller passes on to the Sentry: the ones a
// terminal or a process manager sends to stop or poke a foreground container.
var ForwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP}

// goferStopTimeout is how long the Gofer has to exit on its own, once the Sentry
// has gone and its connections have hung up, before it is killed.
const goferStopTimeout = 5 * time.Second

// Args describe the sandbox to start.
type Args struct {
	// ID is the container's ID.
	ID string
	// Spec is the container's validated spec, loaded from BundleDir, an absolute
	// path. The Gofer and the Sentry each load and validate it again.
	Spec      *specs.Spec
	BundleDir string
	// Conf is runsc's global configuration; both children get the same flags.
	Conf *config.Config
	// Stdin, Stdout and Stderr are the container's; the Gofer reports its own
	// errors on Stderr too.
	Stdin, Stdout, Stderr *os.File
	// Detached sandboxes outlive the caller (runsc create); others die with it.
	Detached bool
	// Control is the control socket's listening end (control.Listen), Lock the
	// container's sandbox lock, taken, and Exit its exit file, open for writing.
	Control, Lock, Exit *os.File
	// AppFiles become the container's fds 3, 4, ... (runsc create/run
	// --preserve-fds); the Sentry gets them after the exit file.
	AppFiles []*os.File
}

// Sandbox is a started sandbox. Wait must be called to reap it.
type Sandbox struct {
	gofer, sentry *exec.Cmd
	// handover is the write end of a detached Sentry's hand-over pipe, until
	// HandOver; nil for a foreground sandbox.
	handover *os.File
}

// Start starts the Gofer, then the Sentry. On error, nothing is left running.
func Start(args Args) (*Sandbox, error) {
	mounts := specutils.GoferMounts(args.Spec, args.BundleDir)
	var goferEnds, sentryEnds []*os.File
	defer func() {
		// The children have their own copies (or failed to start): close ours.
		for _, f := range append(goferEnds, sentryEnds...) {
			f.Close()
		}
	}()
	for i := range mounts {
		client, server, err := lisafs.SocketPair()
		if err != nil {
			return nil, err
		}
		goferEnds = append(goferEnds, os.NewFile(uintptr(server), fmt.Sprintf("gofer-%d", i)))
		sentryEnds = append(sentryEnds, os.NewFile(uintptr(client), fmt.Sprintf("sentry-%d", i)))
	}

	global := GlobalFlags(args.Conf)
	if args.Control == nil || args.Lock == nil || args.Exit == nil {
		return nil, errors.New("starting the sandbox: no control socket, lock or exit file")
	}
	gofer := child(args, append(global, "gofer", "--bundle", args.BundleDir, "--io-fds="+fdList(len(goferEnds))),
		unix.CLONE_NEWPID|unix.CLONE_NEWNS|unix.CLONE_NEWIPC|unix.CLONE_NEWUTS|unix.CLONE_NEWNET)
	gofer.ExtraFiles = goferEnds
	gofer.Stderr = args.Stderr // stdin and stdout are /dev/null
	if err := gofer.Start(); err != nil {
		return nil, fmt.Errorf("starting the gofer: %w%s", err, privilegeHint(err))
	}

	// A PID namespace of its own: no host process is there to see or signal,
	// and when the Sentry (its init) dies the kernel kills every stub with it.
	flags := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if args.Conf.Network != config.NetworkHost {
		flags |= unix.CLONE_NEWNET
	}
	n := len(sentryEnds)
	argv := append(global, "boot", "--bundle", args.BundleDir, "--gofer-fds="+fdList(n),
		"--control-fd="+strconv.Itoa(3+n), "--lock-fd="+strconv.Itoa(4+n), "--exit-fd="+strconv.Itoa(5+n))
	if len(args.AppFiles) > 0 {
		appFDs := make([]string, len(args.AppFiles))
		for i := range appFDs {
			appFDs[i] = strconv.Itoa(6 + n + i)
		}
		argv = append(argv, "--app-fds="+strings.Join(appFDs, ","))
	}
	sentry := child(args, append(argv, args.ID), flags)
	sentry.ExtraFiles = append(append(slices.Clip(sentryEnds), args.Control, args.Lock, args.Exit), args.AppFiles...)
	sentry.Stdin, sentry.Stdout, sentry.Stderr = args.Stdin, args.Stdout, args.Stderr
	var handover *os.File
	if args.Detached {
		// Both ends are close-on-exec here: the read end reaches the Sentry
		// alone, as its last extra fd, and the write end stays ours alone.
		r, w, err := os.Pipe()
		if err != nil {
			gofer.Process.Kill()
			gofer.Wait()
			return nil, fmt.Errorf("starting the sentry: %w", err)
		}
		defer r.Close()
		handover = w
		handoverFlag := "--handover-fd=" + strconv.Itoa(3+len(sentry.ExtraFiles))
		sentry.Args = append(sentry.Args[:len(sentry.Args)-1:len(sentry.Args)-1], handoverFlag, args.ID)
		sentry.ExtraFiles = append(sentry.ExtraFiles, r)
	}
	if err := sentry.Start(); err != nil {
		handover.Close()
		gofer.Process.Kill()
		gofer.Wait()
		return nil, fmt.Errorf("starting the sentry: %w%s", err, privilegeHint(err))
	}
	return &Sandbox{gofer: gofer, sentry: sentry, handover: handover}, nil
}

// HandOver tells a detached Sentry that its caller has recorded the sandbox
// (the container is Created): from now on it outlives the caller. Until then
// it exits as soon as the caller does. It does nothing for a foreground
// sandbox.
func (s *Sandbox) HandOver() error {
	if s.handover == nil {
		return nil
	}
	_, err := s.handover.Write([]byte{1})
	s.handover.Close()
	s.handover = nil
	if err != nil {
		return fmt.Errorf("handing the sandbox over: %w", err)
	}
	return nil
}

// child returns the command for a sandbox process: runsc with argv, in new
// namespaces cloneflags, in a session of its own, killed if the caller dies
// unless the sandbox is detached.
func child(args Args, argv []string, cloneflags uintptr) *exec.Cmd {
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: append([]string{"runsc"}, argv...), Dir: "/"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: cloneflags,
		Setsid:     true,
	}
	if !args.Detached {
		// The death signal follows the thread that forked, not the process. Go
		// only ends a thread when a goroutine exits locked to it, which runsc's
		// callers of Start never do.
		cmd.SysProcAttr.Pdeathsig = unix.SIGKILL
	}
	if args.Conf.Rootless {
		cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	}
	return cmd
}

// privilegeHint explains the usual reason new namespaces cannot be made.
func privilegeHint(err error) string {
	if errors.Is(err, unix.EPERM) {
		return " (making namespaces needs root: run as root, or pass --rootless)"
	}
	return ""
}

// fdList returns "3,4,...": the FD numbers n ExtraFiles get in the child.
func fdList(n int) string {
	fds := make([]string, n)
	for i := range fds {
		fds[i] = strconv.Itoa(3 + i)
	}
	return strings.Join(fds, ",")
}

// GlobalFlags returns the command line that gives a child runsc the global
// configuration conf: every global flag, set to conf's value.
func GlobalFlags(conf *config.Config) []string {
	fs := flag.NewFlagSet("runsc", flag.ContinueOnError)
	var c config.Config
	c.RegisterFlags(fs) // binds the flags to c's fields and sets the defaults...
	c = *conf           // ...which conf's values then replace
	var args []string
	fs.VisitAll(func(f *flag.Flag) {
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}

// Kill kills the Sentry, and with it the container; Wait still reaps it.
func (s *Sandbox) Kill() {
	s.sentry.Process.Kill()
}

// SentryPid returns the host PID of the Sentry.
func (s *Sandbox) SentryPid() int { return s.sentry.Process.Pid }

// GoferPid returns the host PID of the Gofer.
func (s *Sandbox) GoferPid() int { return s.gofer.Process.Pid }

// Wait forwards each signal from sigs to the Sentry until it exits, then stops
// the Gofer and reaps both. It returns the Sentry's wait status: the container's
// exit code, or the signal that killed the Sentry.
func (s *Sandbox) Wait(sigs <-chan os.Signal) (linux.WaitStatus, error) {
	done := make(chan error, 1)
	go func() { done <- s.sentry.Wait() }()
	var err error
	for waiting := true; waiting; {
		select {
		case sig := <-sigs:
			// os.Process signals through a pidfd: never a recycled PID. It can
			// only fail for a Sentry that has exited, which done is about to say.
			s.sentry.Process.Signal(sig)
		case err = <-done:
			waiting = false
		}
	}
	s.stopGofer()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 0, fmt.Errorf("waiting for the sentry: %w", err)
	}
	return linux.WaitStatus(s.sentry.ProcessState.Sys().(syscall.WaitStatus)), nil
}

// stopGofer waits a while for the Gofer to end now that its clients are gone,
// kills it if it does not, and reaps it.
func (s *Sandbox) stopGofer() {
	done := make(chan struct{})
	go func() {
		s.gofer.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(goferStopTimeout):
		s.gofer.Process.Kill()
		<-done
	}
}

// ExitCode turns a wait status into the exit code a shell (and runc, and Docker)
// reports for it: the exit status, or 128 plus the number of the killing signal.
func ExitCode(ws linux.WaitStatus) int {
	if ws.Signaled() {
		return 128 + ws.Signal()
	}
	return ws.ExitStatus()
}

// readyPoll is how often WaitReady checks whether the Sentry has died, and
// exitGrace how long it gives a Sentry that hung up to be seen exiting.
const (
	readyPoll = 20 * time.Millisecond
	exitGrace = 2 * time.Second
)

// WaitReady waits until the Sentry of the container with state directory
// stateDir serves its control socket, which it does once its kernel and mounts
// are built, and fails if the Sentry exits first or timeout passes. The caller
// must have closed its own copy of the listening socket, so that the Sentry's
// death hangs the probe up.
func (s *Sandbox) WaitReady(stateDir string, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		// Any answer, even a refusal, comes from a Sentry that serves.
		_, err := control.Call(stateDir, &control.Request{Method: control.MethodPs}, nil)
		if _, ok := errors.AsType[*control.RemoteError](err); ok {
			err = nil
		}
		done <- err
	}()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		select {
		case err := <-done:
			if err == nil {
				return nil
			}
			// The Sentry hangs up as it exits, a moment before it can be seen
			// to have exited.
			for range exitGrace / readyPoll {
				if exited, status := s.sentryExited(); exited {
					return sentryFailed(status)
				}
				time.Sleep(readyPoll)
			}
			return fmt.Errorf("the sandbox did not start: %w", err)
		case <-tick.C:
			if exited, status := s.sentryExited(); exited {
				return sentryFailed(status)
			}
		case <-deadline:
			return fmt.Errorf("the sandbox did not start within %v", timeout)
		}
	}
}

// sentryFailed explains a Sentry that exited before it was ready.
func sentryFailed(status unix.WaitStatus) error {
	if status.Signaled() {
		return fmt.Errorf("the sandbox did not start: the sentry was killed by %v", status.Signal())
	}
	return fmt.Errorf("the sandbox did not start: the sentry exited with status %d", status.ExitStatus())
}

// sentryExited reports whether the Sentry has exited, and how, without reaping it.
func (s *Sandbox) sentryExited() (bool, unix.WaitStatus) {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, s.sentry.Process.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	if err != nil {
		return false, 0
	}
	return siginfoStatus(&info)
}

// Abort kills the Gofer and the Sentry and reaps them: for a sandbox that could
// not be made ready or started.
func (s *Sandbox) Abort() {
	s.sentry.Process.Kill()
	s.gofer.Process.Kill()
	// After the kill: a Sentry that saw its hand-over pipe close would exit on
	// its own, as if the caller had died, which is not what happened.
	if s.handover != nil {
		s.handover.Close()
		s.handover = nil
	}
	s.sentry.Wait()
	s.gofer.Wait()
}
