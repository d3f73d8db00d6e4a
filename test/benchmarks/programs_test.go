package benchmarks

import (
	"os/exec"
	"testing"
)

// TestPrograms builds every benchmark program and runs each natively once with
// N=1, checking that its output parses. It is what `go test ./...` runs; the
// benchmarks themselves run only with -bench.
func TestPrograms(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc is not installed")
	}
	bin, err := buildPrograms(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"getpid", nil},
		{"openclose", []string{"/etc/passwd"}},
		{"forkexec", []string{bin + "/true"}},
		{"mmap", []string{"4096"}},
		{"mmap", []string{"1048576"}},
		{"pipe", nil},
		{"ptrace", []string{"any"}},
	} {
		out := run(t, exec.Command(bin+"/"+tc.name, append([]string{"1"}, tc.args...)...))
		ns, err := parseBench(out)
		if err != nil || ns <= 0 {
			t.Errorf("%s %v: ns/op %v, %v", tc.name, tc.args, ns, err)
		}
	}
	if _, _, err := parseStamp(run(t, exec.Command(bin+"/stamp"))); err != nil {
		t.Error(err)
	}
}
