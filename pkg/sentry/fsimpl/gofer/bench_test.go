package gofer

import (
	"os"
	"path/filepath"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/tmpfs"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/sentry/vfs/vfstest"
)

// benchEnvs returns a gofer mount and a tmpfs holding the same file, /a/b/c/file of
// 4 KiB, for side-by-side figures.
func benchEnvs(b *testing.B) map[string]*vfstest.Env {
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a/b/c"), 0o755); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4096)
	if err := os.WriteFile(filepath.Join(dir, "a/b/c/file"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	t := vfstest.New(b, "tmpfs", tmpfs.FilesystemType{})
	t.MustMkdirAll("/a", "/a/b", "/a/b/c")
	t.MustWriteFile("/a/b/c/file", string(data))
	return map[string]*vfstest.Env{"gofer": newEnv(b, dir, testOpts{}), "tmpfs": t}
}

func BenchmarkStatCached(b *testing.B) {
	for _, name := range []string{"gofer", "tmpfs"} {
		e := benchEnvs(b)[name]
		b.Run(name, func(b *testing.B) {
			pop := e.Pop("/a/b/c/file")
			opts := &vfs.StatOptions{Mask: linux.STATX_BASIC_STATS}
			if _, err := e.VFS.StatAt(e.Ctx, e.Creds, pop, opts); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := e.VFS.StatAt(e.Ctx, e.Creds, pop, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpenRead4KClose(b *testing.B) {
	for _, name := range []string{"gofer", "tmpfs"} {
		e := benchEnvs(b)[name]
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				fd, err := e.Open("/a/b/c/file", linux.O_RDONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := fd.Read(e.Ctx, buf, vfs.ReadOptions{}); err != nil || n != 4096 {
					b.Fatalf("read: %d, %v", n, err)
				}
				fd.DecRef()
			}
		})
	}
}

// BenchmarkOpenRead4KCloseCold evicts the idle handle every time: the cost of an
// open that needs the Gofer (Open and a donated FD).
func BenchmarkOpenRead4KCloseCold(b *testing.B) {
	dir := b.TempDir()
	for _, f := range []string{"f1", "f2"} {
		if err := os.WriteFile(filepath.Join(dir, f), make([]byte, 4096), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	e := newEnv(b, dir, testOpts{fsOpts: FilesystemOpts{MaxIdleHandles: 1}})
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	i := 0
	for b.Loop() {
		i++
		fd, err := e.Open([]string{"/f1", "/f2"}[i%2], linux.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := fd.Read(e.Ctx, buf, vfs.ReadOptions{}); err != nil || n != 4096 {
			b.Fatalf("read: %d, %v", n, err)
		}
		fd.DecRef()
	}
}
