package kernel_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/pgalloc"
	"visor.dev/visor/pkg/sentry/platform/ptrace"
	sys "visor.dev/visor/pkg/sentry/syscalls/linux"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// spinKernel is a kernel on the ptrace platform whose root holds /spin, with a
// getpid(2) that counts its calls: spin's progress.
type spinKernel struct {
	k     *kernel.Kernel
	root  vfs.VirtualDentry
	creds *auth.Credentials
	calls atomic.Int64
}

func newSpinKernel(t *testing.T) *spinKernel {
	t.Helper()
	prog := buildProgram(t, "spin")
	mf, err := pgalloc.NewMemoryFile(pgalloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mf.Destroy)
	p, err := ptrace.New(mf.File())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Release)
	vfsObj := vfs.New()
	if err := vfsObj.RegisterFilesystemType(tmpfs.Name, tmpfs.FilesystemType{}, &vfs.RegisterFilesystemTypeOptions{}); err != nil {
		t.Fatal(err)
	}
	creds := auth.NewRootCredentials(auth.NewRootUserNamespace())
	ctx := vfs.NewContext(creds, waiter.UninterruptibleBlocker{})
	mntns, err := vfsObj.NewMountNamespace(ctx, creds, "", tmpfs.Name, &vfs.MountOptions{InternalMount: true})
	if err != nil {
		t.Fatal(err)
	}
	root := mntns.Root()
	t.Cleanup(root.DecRef)
	fd, err := vfsObj.OpenAt(ctx, creds, &vfs.PathOperation{Root: root, Start: root, Path: "spin"},
		&vfs.OpenOptions{Flags: linux.O_CREAT | linux.O_WRONLY, Mode: 0o755})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(ctx, prog, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	fd.DecRef()

	sk := &spinKernel{root: root, creds: creds}
	table := *sys.AMD64()
	table.Table = append([]kernel.Syscall(nil), table.Table...)
	table.Table[39] = kernel.Syscall{Name: "getpid", Fn: func(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
		sk.calls.Add(1)
		return sys.Getpid(t, sysno, args)
	}}
	sk.k, err = kernel.New(kernel.Config{Platform: p, MemoryFile: mf, VFS: vfsObj, Syscalls: &table})
	if err != nil {
		t.Fatal(err)
	}
	// Whatever the test did, nothing may be left running.
	t.Cleanup(func() {
		sk.k.Resume()
		sk.k.Kill(int(linux.SIGKILL))
		done := make(chan struct{})
		go func() { sk.k.WaitExited(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("the sandbox did not exit after SIGKILL")
		}
	})
	return sk
}

// start starts a spin process.
func (sk *spinKernel) start(t *testing.T) *kernel.ThreadGroup {
	t.Helper()
	tg, err := sk.k.CreateProcess(kernel.CreateProcessArgs{
		Filename:         "/spin",
		Argv:             []string{"spin"},
		WorkingDirectory: "/",
		Credentials:      sk.creds,
		FDTable:          kernel.NewFDTable(),
		Root:             sk.root,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// progress waits until spin's call count passes from.
func (sk *spinKernel) progress(t *testing.T, from int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for sk.calls.Load() <= from {
		if time.Now().After(deadline) {
			t.Fatalf("spin made no progress past %d calls", from)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitExited waits for tg to exit and returns its status.
func waitExited(t *testing.T, tg *kernel.ThreadGroup) linux.WaitStatus {
	t.Helper()
	select {
	case <-tg.Exited():
		return tg.ExitStatus()
	case <-time.After(20 * time.Second):
		t.Fatal("the process did not exit")
		return 0
	}
}

// TestPauseResume pauses processes spinning in application code: their
// progress stops until Resume, and they can still be killed while paused.
func TestPauseResume(t *testing.T) {
	for _, tc := range []struct {
		name  string
		procs int
	}{
		{"one process", 1},
		{"two processes", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk := newSpinKernel(t)
			var tgs []*kernel.ThreadGroup
			for i := 0; i < tc.procs; i++ {
				tgs = append(tgs, sk.start(t))
			}
			sk.progress(t, 0)

			if err := sk.k.Pause(); err != nil {
				t.Fatalf("Pause: %v", err)
			}
			if !sk.k.Paused() {
				t.Errorf("Paused() = false after Pause")
			}
			// A task may have been in the middle of its getpid when
			// Pause returned; give it time to get back to the pause.
			time.Sleep(20 * time.Millisecond)
			before := sk.calls.Load()
			time.Sleep(300 * time.Millisecond)
			if after := sk.calls.Load(); after != before {
				t.Errorf("paused processes made %d getpid calls", after-before)
			}
			for _, p := range sk.k.Processes() {
				if p.State == 'R' {
					t.Errorf("process %d is running while paused", p.PID)
				}
			}

			sk.k.Resume()
			if sk.k.Paused() {
				t.Errorf("Paused() = true after Resume")
			}
			sk.progress(t, sk.calls.Load())

			// Pause again and kill the last process while paused.
			if err := sk.k.Pause(); err != nil {
				t.Fatalf("Pause: %v", err)
			}
			last := tgs[len(tgs)-1]
			if err := sk.k.SignalProcess(last.ID(), int(linux.SIGKILL)); err != nil {
				t.Fatalf("SignalProcess: %v", err)
			}
			if ws := waitExited(t, last); !ws.Signaled() || ws.Signal() != linux.SIGKILL {
				t.Errorf("status of the process killed while paused = %#x, want SIGKILL", ws)
			}
			sk.k.Resume()
		})
	}
}

// TestProcesses lists a sandbox of two processes.
func TestProcesses(t *testing.T) {
	sk := newSpinKernel(t)
	sk.start(t)
	sk.start(t)
	sk.progress(t, 0)
	procs := sk.k.Processes()
	if len(procs) != 2 {
		t.Fatalf("Processes() = %+v, want 2 processes", procs)
	}
	for i, p := range procs {
		if want := kernel.ThreadID(i + 1); p.PID != want {
			t.Errorf("process %d: PID %d, want %d", i, p.PID, want)
		}
		if p.PPID != 0 || p.UID != 0 || p.Threads != 1 || p.Name != "spin" {
			t.Errorf("process %d = %+v, want PPID 0, UID 0, 1 thread, name spin", i, p)
		}
		if p.State != 'R' && p.State != 'S' {
			t.Errorf("process %d: state %c, want R or S", i, p.State)
		}
		if p.StartTime.IsZero() || time.Since(p.StartTime) > time.Minute {
			t.Errorf("process %d: start time %v", i, p.StartTime)
		}
	}
	if n := sk.k.TaskCount(); n != 2 {
		t.Errorf("TaskCount() = %d, want 2", n)
	}
	if u := sk.k.Usage(); u.UserTime+u.SysTime <= 0 {
		t.Errorf("Usage() = %+v, want some CPU time", u)
	}
}

// TestSignal signals a process by PID and every process at once.
func TestSignal(t *testing.T) {
	for _, tc := range []struct {
		name string
		// signal acts on a sandbox of init and a second process.
		signal  func(k *kernel.Kernel, second kernel.ThreadID) error
		wantErr error
		// initDies and secondDies say which processes must die of SIGTERM.
		initDies, secondDies bool
		// orphanKilled: the second process may instead die of the SIGKILL
		// init's death sends the rest of the PID namespace, when init
		// handles its SIGTERM first.
		orphanKilled bool
	}{
		{
			name: "one pid",
			signal: func(k *kernel.Kernel, second kernel.ThreadID) error {
				return k.SignalProcess(second, int(linux.SIGTERM))
			},
			secondDies: true,
		},
		{
			name:         "all",
			signal:       func(k *kernel.Kernel, _ kernel.ThreadID) error { k.Kill(int(linux.SIGTERM)); return nil },
			initDies:     true,
			secondDies:   true,
			orphanKilled: true,
		},
		{
			name:    "no such pid",
			signal:  func(k *kernel.Kernel, _ kernel.ThreadID) error { return k.SignalProcess(99, int(linux.SIGTERM)) },
			wantErr: linux.ESRCH,
		},
		{
			name:    "bad signal",
			signal:  func(k *kernel.Kernel, second kernel.ThreadID) error { return k.SignalProcess(second, 65) },
			wantErr: linux.EINVAL,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk := newSpinKernel(t)
			init := sk.start(t)
			second := sk.start(t)
			err := tc.signal(sk.k, second.ID())
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("signal: %v, want %v", err, tc.wantErr)
			}
			for _, p := range []struct {
				tg          *kernel.ThreadGroup
				dies        bool
				mayBeKilled bool
			}{{init, tc.initDies, false}, {second, tc.secondDies, tc.orphanKilled}} {
				if !p.dies {
					select {
					case <-p.tg.Exited():
						t.Errorf("process %d exited: %#x", p.tg.ID(), p.tg.ExitStatus())
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				ws := waitExited(t, p.tg)
				if p.mayBeKilled && ws.Signaled() && ws.Signal() == linux.SIGKILL {
					continue
				}
				if !ws.Signaled() || ws.Signal() != linux.SIGTERM {
					t.Errorf("process status %#x, want killed by SIGTERM", ws)
				}
			}
		})
	}
}

// TestCreateProcessAfterInitExit: once init has exited, no process can be
// added to the dying sandbox.
func TestCreateProcessAfterInitExit(t *testing.T) {
	sk := newSpinKernel(t)
	init := sk.start(t)
	if err := sk.k.SignalProcess(1, int(linux.SIGKILL)); err != nil {
		t.Fatal(err)
	}
	waitExited(t, init)
	_, err := sk.k.CreateProcess(kernel.CreateProcessArgs{
		Filename:         "/spin",
		Argv:             []string{"spin"},
		WorkingDirectory: "/",
		Credentials:      sk.creds,
		FDTable:          kernel.NewFDTable(),
		Root:             sk.root,
	})
	if !errors.Is(err, kernel.ErrSandboxExited) {
		t.Errorf("CreateProcess after init's exit: %v, want ErrSandboxExited", err)
	}
	if tg := sk.k.RootPIDNamespace().ThreadGroupWithID(2); tg != nil {
		t.Errorf("a process 2 exists after the failed CreateProcess")
	}
}
