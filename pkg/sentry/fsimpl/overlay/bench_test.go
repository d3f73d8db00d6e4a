package overlay

import (
	"os"
	"path/filepath"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

// benchEnv returns an overlay whose lower layer has /a/b/c/lower and whose upper
// layer has /a/b/c/upper, both of 4 KiB.
func benchEnv(b *testing.B) *env {
	host := b.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "a/b/c"), 0o755); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4096)
	if err := os.WriteFile(filepath.Join(host, "a/b/c/lower"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, host)
	e.MustWriteFile("/a/b/c/upper", string(data))
	return e
}

func BenchmarkStatCached(b *testing.B) {
	e := benchEnv(b)
	for _, name := range []string{"lower", "upper"} {
		b.Run(name, func(b *testing.B) {
			pop := e.Pop("/a/b/c/" + name)
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
	e := benchEnv(b)
	for _, name := range []string{"lower", "upper"} {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 4096)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				fd, err := e.Open("/a/b/c/"+name, linux.O_RDONLY, 0)
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
