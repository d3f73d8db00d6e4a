package kernel

import (
	"fmt"
	"path"
	"strings"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

// User segment selectors on amd64 Linux: what an application's cs and ss hold.
const (
	userCS = 0x33
	userSS = 0x2b
)

// CreateProcessArgs describe a process that CreateProcess starts from outside the
// sandbox: its first process, or one runsc exec adds.
type CreateProcessArgs struct {
	// Filename is the program: a path, or a name looked up in Envv's PATH.
	Filename   string
	Argv, Envv []string
	// WorkingDirectory is an absolute path inside Root.
	WorkingDirectory string
	Credentials      *auth.Credentials
	Umask            uint32
	// FDTable holds the process's first descriptors; CreateProcess takes over the
	// caller's reference.
	FDTable *FDTable
	// Root is the root of the process's filesystem view.
	Root vfs.VirtualDentry
	// Limits are the process's resource limits; zero values get Linux's defaults.
	Limits map[int]linux.Rlimit
	// BeforeStart, if set, is called with the new process once it has its PID and
	// session, before its first instruction: the boot code makes a terminal the
	// session's controlling terminal there, so the program never sees it without.
	BeforeStart func(*ThreadGroup)
}

// ErrSandboxExited is returned by CreateProcess once the sandbox's init has
// exited: the sandbox is going away.
var ErrSandboxExited = fmt.Errorf("the sandbox's init has exited: %w", linux.ESRCH)

// CreateProcess creates a process with no parent in a session of its own, loads
// its program and starts it. The first one is the sandbox's init, PID 1; later
// ones (runsc exec) get the next free PID, and fail with ErrSandboxExited once
// init has exited.
func (k *Kernel) CreateProcess(args CreateProcessArgs) (*ThreadGroup, error) {
	if k.platform == nil || k.mf == nil || k.vfs == nil {
		return nil, fmt.Errorf("kernel: CreateProcess needs a platform, a memory file and a VFS")
	}
	pctx, err := k.platform.NewContext()
	if err != nil {
		return nil, fmt.Errorf("creating a platform context: %w", err)
	}
	t := &Task{
		k:           k,
		pctx:        pctx,
		interruptCh: make(chan struct{}, 1),
		fdTable:     args.FDTable,
		startTime:   time.Now(),
		// A new process starts without an alternate signal stack.
		signalStack: linux.SignalStack{Flags: linux.SS_DISABLE},
		affinity:    allCPUs(),
	}
	t.creds.Store(args.Credentials)
	limits := defaultLimits()
	for r, l := range args.Limits {
		limits[r] = l
	}
	tg := &ThreadGroup{
		ts:                k.tasks,
		signalHandlers:    &signalHandlers{},
		leader:            t,
		tasks:             map[*Task]struct{}{t: {}},
		liveTasks:         1,
		children:          make(map[*ThreadGroup]struct{}),
		terminationSignal: linux.SIGCHLD,
		childEvents:       make(chan struct{}),
		taskExited:        make(chan struct{}),
		limits:            limits,
	}
	tg.dumpable.Store(SuidDumpUser)
	t.tg = tg

	// The working directory, resolved inside the root.
	ctx := vfs.NewContext(args.Credentials, t)
	cwd, err := k.vfs.GetDentryAt(ctx, args.Credentials, &vfs.PathOperation{
		Root: args.Root, Start: args.Root, Path: args.WorkingDirectory, FollowFinalSymlink: true,
	}, &vfs.GetDentryOptions{CheckSearchable: true})
	if err != nil {
		pctx.Release()
		return nil, fmt.Errorf("working directory %q: %w", args.WorkingDirectory, err)
	}
	t.fs = NewFSContext(args.Root, cwd, args.Umask)
	cwd.DecRef()

	filename, err := t.lookPath(args.Filename, args.Envv)
	if err != nil {
		t.fs.DecRef()
		pctx.Release()
		return nil, fmt.Errorf("%s: %w", args.Filename, err)
	}
	m, img, err := t.loadImage(filename, args.Argv, args.Envv)
	if err != nil {
		t.fs.DecRef()
		pctx.Release()
		return nil, fmt.Errorf("loading %s: %w", filename, err)
	}
	t.image.mm = m
	t.arch = initialRegisters(img, userCS, userSS)
	t.name = truncateName(path.Base(filename))

	ts := k.tasks
	ts.mu.Lock()
	select {
	case <-k.initExit:
		// Init's exit killed every process it could see; one made now would
		// outlive the sandbox.
		ts.mu.Unlock()
		m.DecUsers()
		t.fs.DecRef()
		pctx.Release()
		return nil, ErrSandboxExited
	default:
	}
	tid, err := ts.root.allocateTID()
	if err != nil {
		ts.mu.Unlock()
		m.DecUsers()
		t.fs.DecRef()
		pctx.Release()
		return nil, err
	}
	ts.root.tasks[tid] = t
	ts.root.tids[t] = tid
	ts.root.tgids[tg] = tid
	tg.newSessionLocked()
	ts.mu.Unlock()

	if args.BeforeStart != nil {
		args.BeforeStart(tg)
	}
	t.Start()
	return tg, nil
}

// truncateName cuts a name to what a task's comm holds.
func truncateName(name string) string {
	if len(name) > linux.TASK_COMM_LEN-1 {
		return name[:linux.TASK_COMM_LEN-1]
	}
	return name
}

// lookPath finds name as a shell does: a name with a slash is used as is, else each
// directory of envv's PATH is tried in order. It checks only that the file exists
// and can be executed; loading reports anything else.
func (t *Task) lookPath(name string, envv []string) (string, error) {
	if name == "" {
		return "", linux.ENOENT
	}
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathVar := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range envv {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	var firstErr error
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		candidate := path.Join(dir, name)
		f, err := t.executableOpener().OpenExecutable(candidate)
		if err == nil {
			f.(*execFile).fd.DecRef()
			return candidate, nil
		}
		if firstErr == nil && err != linux.ENOENT && err != linux.ENOTDIR {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", linux.ENOENT
}
