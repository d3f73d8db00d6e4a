package e2e

import (
	"math"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestBadConfigsRlimitsAndEmpty runs, as TestBadConfigs does, an empty
// config.json, an unknown rlimit, an unknown capability and a huge
// RLIMIT_NOFILE: each refused by create and run, naming the field, with
// nothing left.
func TestBadConfigsRlimitsAndEmpty(t *testing.T) {
	mod, _ := configMakers(t, busyboxRootfs(t))
	checkBadConfigs(t, []badConfig{
		{name: "empty file", config: func() string { return "" },
			want: []string{"config.json", "JSON"}},
		{name: "unknown rlimit", config: mod(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_VISOR", Soft: 1, Hard: 1}}
		}), want: []string{"process.rlimits", "RLIMIT_VISOR"}},
		{name: "unknown capability", config: mod(func(s *specs.Spec) {
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_VISOR_BOGUS"}}
		}), want: []string{"process.capabilities", "CAP_VISOR_BOGUS"}},
		// Linux refuses RLIMIT_NOFILE above fs.nr_open (at most 2^30) with EPERM:
		// runc's create fails on it.
		{name: "huge rlimit", config: mod(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: math.MaxUint64 / 2, Hard: math.MaxUint64 / 2}}
		}), want: []string{"process.rlimits[0]", "RLIMIT_NOFILE"}},
	})
}
