package docker

import (
	"path/filepath"
	"testing"

	"visor.dev/visor/test/engine"
)

// BenchmarkDockerRunTrue is the wall time of `docker run --rm IMG /bin/true`
// through one dockerd, once per runtime ($VISOR_TEST_RUNTIMES, default runc and
// runsc), side by side:
//
//	go test ./test/docker -run '^$' -bench DockerRunTrue -benchtime 20x
func BenchmarkDockerRunTrue(b *testing.B) {
	checkDockerd(b)
	work := b.TempDir()
	rts := engine.Runtimes(b, work)
	d := startDockerd(b, rts)
	rootfs := engine.BusyboxRootfs(b, work)
	tarball := filepath.Join(work, "rootfs.tar")
	engine.TarDir(b, rootfs, tarball)
	if res := d.docker(b, "", "import", tarball, image); res.Status != 0 {
		b.Fatalf("docker import: %v", res)
	}
	for _, rt := range rts {
		b.Run(rt.Name, func(b *testing.B) {
			args := []string{"run", "--rm", "--network=none", "--runtime=" + runtimeName(rt), image, "/bin/true"}
			// One unmeasured run: the first container of a runtime pays for
			// the shim's and the binary's first start.
			if res := d.docker(b, "", args...); res.Status != 0 {
				b.Fatalf("docker %q: %v", args, res)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if res := d.docker(b, "", args...); res.Status != 0 {
					b.Fatalf("docker %q: %v", args, res)
				}
			}
		})
	}
}
