package benchmarks

import (
	"os/exec"
	goruntime "runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkGetpid is the round trip of a raw getpid(2).
func BenchmarkGetpid(b *testing.B) { micro(b, "getpid") }

// BenchmarkOpenClose is open(2)+close(2) of /etc/passwd.
func BenchmarkOpenClose(b *testing.B) { micro(b, "openclose", "/etc/passwd") }

// BenchmarkForkExec is fork(2), execve(2) of a static true, wait4(2).
func BenchmarkForkExec(b *testing.B) { micro(b, "forkexec", "@true") }

// BenchmarkMmap4KiB is mmap(2) of 4 KiB, one write fault, munmap(2).
func BenchmarkMmap4KiB(b *testing.B) { micro(b, "mmap", "4096") }

// BenchmarkMmap1MiB is mmap(2) of 1 MiB, one write fault, munmap(2).
func BenchmarkMmap1MiB(b *testing.B) { micro(b, "mmap", "1048576") }

// BenchmarkPipe is a one-byte round trip between two processes over two pipes.
func BenchmarkPipe(b *testing.B) { micro(b, "pipe") }

// BenchmarkPtraceFloor is the floor under the ptrace platform, measured natively:
// a tracer emulating a tracee's getpid(2) with PTRACE_SYSEMU, GETREGS and SETREGS,
// with both on one CPU (same), on two (cross) or unpinned (any). It runs only
// when native is among -runtimes; cross needs two CPUs.
func BenchmarkPtraceFloor(b *testing.B) {
	if len(selected()) == 0 || selected()[0].name != "native" {
		b.Skip("native is not among -runtimes")
	}
	for _, mode := range []string{"same", "cross", "any"} {
		b.Run(mode, func(b *testing.B) {
			if mode == "cross" && goruntime.NumCPU() < 2 {
				b.Skip("one CPU")
			}
			e := getEnv(b)
			b.ResetTimer()
			ns, err := parseBench(run(b, exec.Command(e.prog("ptrace"), strconv.Itoa(b.N), mode)))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(ns, "ns/op")
		})
	}
}

// BenchmarkStartup is the wall time of a whole /bin/true, from starting the
// process (native /bin/true, `runsc do /bin/true`, `runsc run` of a prepared
// bundle, `runc run`) to reaping it.
func BenchmarkStartup(b *testing.B) {
	for _, rt := range selected(true) {
		b.Run(rt.name, func(b *testing.B) {
			e := getEnv(b)
			rt.cmd(b, e, []string{"/bin/true"}) // builds runsc, mounts runc's root on first use
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cmd := rt.cmd(b, e, []string{"/bin/true"})
				b.StartTimer()
				run(b, cmd)
			}
		})
	}
}

// BenchmarkStartupPhases splits a whole run of a static program into the time
// from starting the process to the program's main (to-main-ns/op) and from the
// program's last instruction to reaping the process (teardown-ns/op), with
// CLOCK_REALTIME stamps the program prints.
func BenchmarkStartupPhases(b *testing.B) {
	for _, rt := range selected(true) {
		b.Run(rt.name, func(b *testing.B) {
			e := getEnv(b)
			rt.cmd(b, e, []string{e.prog("stamp")}) // builds runsc, mounts runc's root on first use
			b.ResetTimer()
			var toMain, teardown time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cmd := rt.cmd(b, e, []string{e.prog("stamp")})
				b.StartTimer()
				t0 := time.Now()
				out := run(b, cmd)
				t1 := time.Now()
				start, end, err := parseStamp(out)
				if err != nil {
					b.Fatal(err)
				}
				toMain += start.Sub(t0)
				teardown += t1.Sub(end)
			}
			b.ReportMetric(float64(toMain.Nanoseconds())/float64(b.N), "to-main-ns/op")
			b.ReportMetric(float64(teardown.Nanoseconds())/float64(b.N), "teardown-ns/op")
		})
	}
}
