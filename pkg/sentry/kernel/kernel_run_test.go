package kernel_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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

// buildProgram compiles testdata/name.c into a static binary without a C library.
func buildProgram(t *testing.T, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("gcc", "-static", "-nostdlib", "-O1", "-fno-stack-protector", "-o", out, filepath.Join("testdata", name+".c"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capture is a write(2) that collects what fd 1 gets, standing in for the file
// syscalls in a test of the kernel alone.
type capture struct {
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *capture) write(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	buf := make([]byte, args[2].Uint64())
	n, err := t.CopyInBytes(args[1].Pointer(), buf)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Write(buf[:n])
	return uintptr(n), nil
}

// TestRunStaticProgram runs a real program on the ptrace platform: loader, memory
// manager, platform and task run loop together.
func TestRunStaticProgram(t *testing.T) {
	prog := buildProgram(t, "hello")

	mf, err := pgalloc.NewMemoryFile(pgalloc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Destroy()
	p, err := ptrace.New(mf.File())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()

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
	defer root.DecRef()
	fd, err := vfsObj.OpenAt(ctx, creds, &vfs.PathOperation{Root: root, Start: root, Path: "hello"},
		&vfs.OpenOptions{Flags: linux.O_CREAT | linux.O_WRONLY, Mode: 0o755})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.Write(ctx, prog, vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	fd.DecRef()

	c := &capture{}
	table := *sys.AMD64()
	table.Table = append([]kernel.Syscall(nil), table.Table...)
	table.Table[1] = kernel.Syscall{Name: "write", Fn: c.write}
	table.Table[231] = kernel.Syscall{Name: "exit_group", Fn: sys.ExitGroup}
	k, err := kernel.New(kernel.Config{Platform: p, MemoryFile: mf, VFS: vfsObj, Syscalls: &table})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.CreateProcess(kernel.CreateProcessArgs{
		Filename:         "/hello",
		Argv:             []string{"hello"},
		WorkingDirectory: "/",
		Credentials:      creds,
		FDTable:          kernel.NewFDTable(),
		Root:             root,
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan linux.WaitStatus)
	go func() { done <- k.WaitExited() }()
	select {
	case status := <-done:
		if !status.Exited() || status.ExitStatus() != 42 {
			t.Errorf("status = %#x, want exit 42", status)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the program did not exit")
	}
	if got, want := c.out.String(), "hello from the sentry\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
	if mf.Committed() != 0 {
		t.Errorf("memory file still holds %d bytes after exit", mf.Committed())
	}
}
