package boot

import (
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/host"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/runsc/control"
)

// controller serves the control socket for a Sentry (control.Handler).
type controller struct {
	k      *kernel.Kernel
	mf     *pgalloc.MemoryFile
	mounts *mounts
	init   *kernel.ThreadGroup
	log    *log.Logger

	// inflight counts requests being handled, for drain.
	inflight sync.WaitGroup

	mu sync.Mutex
	// started is set by "start": init runs.
	started bool
	// execs are the processes "exec" started that no "wait" has reported
	// yet, by PID. They have no parent in the sandbox, so the kernel reaps
	// them as they exit; this keeps their status for a "wait" that comes
	// after.
	execs map[kernel.ThreadID]*kernel.ThreadGroup
}

func newController(k *kernel.Kernel, mf *pgalloc.MemoryFile, m *mounts, init *kernel.ThreadGroup, l *log.Logger) *controller {
	return &controller{k: k, mf: mf, mounts: m, init: init, log: l, execs: make(map[kernel.ThreadID]*kernel.ThreadGroup)}
}

// drain waits, at most timeout, for the requests being handled.
func (c *controller) drain(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		c.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// Handle implements control.Handler.Handle.
func (c *controller) Handle(req *control.Request, fds []*os.File) *control.Response {
	c.inflight.Add(1)
	defer c.inflight.Done()
	// Only exec keeps fds; whatever the others were sent is closed.
	if req.Method != control.MethodExec {
		closeFiles(fds)
		fds = nil
	}
	resp, err := c.handle(req, fds)
	if err != nil {
		c.log.Printf("control %s: %v", req.Method, err)
		return &control.Response{Error: err.Error()}
	}
	return resp
}

func (c *controller) handle(req *control.Request, fds []*os.File) (*control.Response, error) {
	switch req.Method {
	case control.MethodStart:
		return &control.Response{PID: 1}, c.start()
	case control.MethodSignal:
		if req.Signal == nil {
			return nil, fmt.Errorf("signal: no arguments")
		}
		return &control.Response{}, c.signal(req.Signal)
	case control.MethodExec:
		if req.Exec == nil {
			closeFiles(fds)
			return nil, fmt.Errorf("exec: no process")
		}
		pid, err := c.exec(&req.Exec.Process, fds)
		return &control.Response{PID: int32(pid)}, err
	case control.MethodWait:
		var pid int32
		if req.Wait != nil {
			pid = req.Wait.PID
		}
		ws, err := c.wait(kernel.ThreadID(pid))
		return &control.Response{WaitStatus: uint32(ws)}, err
	case control.MethodPs:
		return &control.Response{Processes: c.ps()}, nil
	case control.MethodPause:
		if err := c.requireStarted(); err != nil {
			return nil, err
		}
		return &control.Response{}, c.k.Pause()
	case control.MethodResume:
		if err := c.requireStarted(); err != nil {
			return nil, err
		}
		c.k.Resume()
		return &control.Response{}, nil
	case control.MethodStats:
		u := c.k.Usage()
		return &control.Response{Stats: &control.Stats{
			MemoryUsage: c.mf.Committed(),
			CPUTime:     u.UserTime + u.SysTime,
			Pids:        c.k.TaskCount(),
		}}, nil
	}
	return nil, fmt.Errorf("unknown request %q", req.Method)
}

// start lets init, held since the Sentry was built, run.
func (c *controller) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return fmt.Errorf("the container has already been started")
	}
	select {
	case <-c.init.Exited():
		return fmt.Errorf("the container's process has exited (status %#x) before start", uint32(c.init.ExitStatus()))
	default:
	}
	c.started = true
	c.k.Resume()
	return nil
}

// requireStarted fails before "start": the kernel is held paused until then,
// and resuming it would start the container.
func (c *controller) requireStarted() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return fmt.Errorf("the container has not been started")
	}
	return nil
}

// signal sends a signal to init, a process or every process.
func (c *controller) signal(args *control.SignalArgs) error {
	if args.Signo < 1 || args.Signo > linux.SIGRTMAX {
		return fmt.Errorf("invalid signal %d", args.Signo)
	}
	if args.All {
		c.k.Kill(args.Signo)
		return nil
	}
	pid := kernel.ThreadID(args.PID)
	if pid == 0 {
		pid = 1
	}
	if args.Foreground {
		if err := signalForeground(c.k, pid, args.Signo); err != nil {
			return fmt.Errorf("signal %d to the foreground of process %d's terminal: %w", args.Signo, pid, err)
		}
		return nil
	}
	if err := c.k.SignalProcess(pid, args.Signo); err != nil {
		return fmt.Errorf("signal %d to process %d: %w", args.Signo, pid, err)
	}
	return nil
}

// exec starts p in the running sandbox with fds as its stdio, and returns its
// PID. It takes over fds.
func (c *controller) exec(p *specs.Process, fds []*os.File) (kernel.ThreadID, error) {
	if len(p.Args) == 0 {
		closeFiles(fds)
		return 0, fmt.Errorf("exec: process.args is empty")
	}
	fdt, tty, err := c.execStdio(p.Terminal, fds)
	if err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	pargs, err := processArgs(p, c.mounts, fdt)
	if err != nil {
		fdt.DecRef()
		if tty != nil {
			tty.DecRef()
		}
		return 0, fmt.Errorf("exec: %w", err)
	}
	if tty != nil {
		// The new process leads a session of its own: the terminal becomes
		// its controlling terminal, with it in the foreground, before it runs.
		pargs.BeforeStart = func(tg *kernel.ThreadGroup) {
			if err := host.SetControllingTerminal(tty, tg.ID(), tg.ID()); err != nil {
				c.log.Printf("exec: setting the controlling terminal of process %d: %v", tg.ID(), err)
			}
		}
	}
	// The map entry must exist before the process can exit and be reaped, so
	// that a "wait" right after this answer finds it.
	c.mu.Lock()
	defer c.mu.Unlock()
	tg, err := c.k.CreateProcess(*pargs)
	if tty != nil {
		tty.DecRef()
	}
	if err != nil {
		// A process that could not be created leaves the file table to the
		// caller.
		fdt.DecRef()
		return 0, startError("exec: process.args[0]", p.Args[0], err)
	}
	pid := tg.ID()
	c.execs[pid] = tg
	return pid, nil
}

// execStdio builds the file table of an exec'd process from the fds sent with
// the request: stdin, stdout and stderr, or one terminal for all three. With a
// terminal it also returns the terminal's file description, with a reference
// for the caller.
func (c *controller) execStdio(terminal bool, fds []*os.File) (*kernel.FDTable, *vfs.FileDescription, error) {
	want := 3
	if terminal {
		want = 1
	}
	if len(fds) != want {
		closeFiles(fds)
		return nil, nil, fmt.Errorf("%d fds sent for the process's stdio, want %d", len(fds), want)
	}
	hostFDs := make([]int, len(fds))
	for i, f := range fds {
		// The Sentry's file description owns a descriptor of its own.
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeInts(hostFDs[:i])
			closeFiles(fds)
			return nil, nil, fmt.Errorf("stdio fd %d: %w", i, err)
		}
		hostFDs[i] = fd
	}
	closeFiles(fds)

	fdt := kernel.NewFDTable()
	if terminal {
		if _, err := unix.IoctlGetTermios(hostFDs[0], unix.TCGETS); err != nil {
			closeInts(hostFDs)
			fdt.DecRef()
			return nil, nil, fmt.Errorf("process.terminal is set but the fd sent is not a terminal: %w", err)
		}
		tty, err := host.NewFD(c.mounts.vfs, hostFDs[0], &host.Options{IsTTY: true})
		if err != nil {
			fdt.DecRef()
			return nil, nil, fmt.Errorf("terminal: %w", err)
		}
		c.mounts.terminalNode(tty, c.log.Printf) // terminal.go
		for i := int32(0); i < 3; i++ {
			if _, err := fdt.SetFD(i, tty, kernel.FDFlags{}, 3); err != nil {
				tty.DecRef()
				fdt.DecRef()
				return nil, nil, err
			}
		}
		return fdt, tty, nil
	}
	for i, hostFD := range hostFDs {
		fd, err := c.mounts.hostFile(hostFD)
		if err != nil {
			closeInts(hostFDs[i+1:])
			fdt.DecRef()
			return nil, nil, fmt.Errorf("stdio fd %d: %w", i, err)
		}
		_, err = fdt.SetFD(int32(i), fd, kernel.FDFlags{}, 3)
		fd.DecRef()
		if err != nil {
			closeInts(hostFDs[i+1:])
			fdt.DecRef()
			return nil, nil, err
		}
	}
	return fdt, nil, nil
}

// wait waits for process pid (0: init) to exit and returns its wait status.
func (c *controller) wait(pid kernel.ThreadID) (linux.WaitStatus, error) {
	if pid == 0 {
		pid = 1
	}
	c.mu.Lock()
	tg, execd := c.execs[pid]
	c.mu.Unlock()
	switch {
	case pid == 1:
		tg = c.init
	case !execd:
		tg = c.k.RootPIDNamespace().ThreadGroupWithID(pid)
	}
	if tg == nil {
		return 0, fmt.Errorf("wait: no process %d in the sandbox (it never existed, or has exited and was reaped)", pid)
	}
	<-tg.Exited()
	if execd {
		// Reported once, as wait(2) reports a child once.
		c.mu.Lock()
		if c.execs[pid] == tg {
			delete(c.execs, pid)
		}
		c.mu.Unlock()
	}
	return tg.ExitStatus(), nil
}

// ps lists every process of the sandbox.
func (c *controller) ps() []control.Process {
	procs := c.k.Processes()
	out := make([]control.Process, len(procs))
	for i, p := range procs {
		out[i] = control.Process{
			PID:       int32(p.PID),
			PPID:      int32(p.PPID),
			UID:       p.UID,
			State:     string(rune(p.State)),
			Threads:   p.Threads,
			StartTime: p.StartTime,
			CPUTime:   p.CPUTime,
			Cmd:       p.Name,
		}
	}
	return out
}

func closeFiles(fds []*os.File) {
	for _, f := range fds {
		f.Close()
	}
}

func closeInts(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
