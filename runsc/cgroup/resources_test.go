package cgroup

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64            { return &v }
func u64(v uint64) *uint64          { return &v }
func bptr[T any](v T) *T            { return &v }
func pids(n int64) *specs.LinuxPids { return &specs.LinuxPids{Limit: n} }

// kv is a setting reduced to what the tests compare.
type kv struct{ File, Value string }

func reduce(s []setting) []kv {
	var r []kv
	for _, x := range s {
		r = append(r, kv{x.file, x.value})
	}
	return r
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name   string
		res    *specs.LinuxResources
		v1, v2 []kv
	}{
		{name: "nil"},
		{name: "empty sections", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{}, CPU: &specs.LinuxCPU{}, Pids: pids(0)}},
		{
			name: "everything",
			res: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: i64(256 << 20), Swap: i64(512 << 20), Reservation: i64(128 << 20)},
				CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0-1,3", Mems: "0"},
				Pids:   pids(100),
			},
			v1: []kv{
				{"cpuset.cpus", "0-1,3"}, {"cpuset.mems", "0"},
				{"cpu.shares", "1024"}, {"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", "50000"},
				{"memory.limit_in_bytes", "268435456"}, {"memory.memsw.limit_in_bytes", "536870912"}, {"memory.soft_limit_in_bytes", "134217728"},
				{"pids.max", "100"},
			},
			v2: []kv{
				{"cpuset.cpus", "0-1,3"}, {"cpuset.mems", "0"},
				{"cpu.weight", "39"}, {"cpu.max", "50000 100000"},
				{"memory.max", "268435456"}, {"memory.swap.max", "268435456"}, {"memory.low", "134217728"},
				{"pids.max", "100"},
			},
		},
		{
			name: "unlimited everything",
			res: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1), Reservation: i64(-1)},
				CPU:    &specs.LinuxCPU{Quota: i64(-1)},
				Pids:   pids(-1),
			},
			v1: []kv{{"cpu.cfs_quota_us", "-1"}, {"memory.limit_in_bytes", "-1"}, {"memory.memsw.limit_in_bytes", "-1"}, {"memory.soft_limit_in_bytes", "-1"}, {"pids.max", "max"}},
			v2: []kv{{"cpu.max", "max 100000"}, {"memory.max", "max"}, {"memory.swap.max", "max"}, {"memory.low", "max"}, {"pids.max", "max"}},
		},
		{
			name: "quota without period takes the default period on v2",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(20000)}},
			v1:   []kv{{"cpu.cfs_quota_us", "20000"}},
			v2:   []kv{{"cpu.max", "20000 100000"}},
		},
		{
			name: "period without quota",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000)}},
			v1:   []kv{{"cpu.cfs_period_us", "50000"}},
			v2:   []kv{{"cpu.max", "max 50000"}},
		},
		{
			name: "swap equal to the limit is no swap",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(1 << 20)}},
			v1:   []kv{{"memory.limit_in_bytes", "1048576"}, {"memory.memsw.limit_in_bytes", "1048576"}},
			v2:   []kv{{"memory.max", "1048576"}, {"memory.swap.max", "0"}},
		},
		{
			name: "unlimited memory makes swap unlimited on v2",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			v1:   []kv{{"memory.limit_in_bytes", "-1"}},
			v2:   []kv{{"memory.max", "max"}, {"memory.swap.max", "max"}},
		},
		{
			name: "minimum and maximum shares",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(2)}},
			v1:   []kv{{"cpu.shares", "2"}},
			v2:   []kv{{"cpu.weight", "1"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s1, err := v1Settings(tc.res)
			if err != nil {
				t.Fatalf("v1Settings: %v", err)
			}
			if diff := cmp.Diff(tc.v1, reduce(s1)); diff != "" {
				t.Errorf("v1Settings (-want +got):\n%s", diff)
			}
			s2, err := v2Settings(tc.res)
			if err != nil {
				t.Fatalf("v2Settings: %v", err)
			}
			if diff := cmp.Diff(tc.v2, reduce(s2)); diff != "" {
				t.Errorf("v2Settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSettingsFieldsAndOptional(t *testing.T) {
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(4096), Swap: i64(8192)}}
	for name, f := range map[string]func(*specs.LinuxResources) ([]setting, error){"v1": v1Settings, "v2": v2Settings} {
		s, err := f(res)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 2 {
			t.Fatalf("%s: %d settings, want 2", name, len(s))
		}
		if s[0].field != fieldMemLimit || s[0].optional || s[0].ctrl != "memory" {
			t.Errorf("%s: limit setting %+v", name, s[0])
		}
		// Docker asks for swap by default; hosts without swap accounting lack the file.
		if s[1].field != fieldMemSwap || !s[1].optional || s[1].ctrl != "memory" {
			t.Errorf("%s: swap setting %+v", name, s[1])
		}
	}
}

func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 39, 262144: 10000, 512: 20} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d; want %d", shares, got, want)
		}
	}
}

func TestBadResources(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *specs.LinuxResources
		err  string
	}{
		{"negative memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-2)}}, fieldMemLimit + ": -2 is negative"},
		{"negative swap", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(-5)}}, fieldMemSwap + ": -5 is negative"},
		{"negative reservation", &specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(-7)}}, fieldMemReservation},
		{"swap below limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(2 << 20), Swap: i64(1 << 20)}}, fieldMemSwap + ": 1048576 is below"},
		{"swap without limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(1 << 20)}}, "needs " + fieldMemLimit},
		{"swap with unlimited memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(1 << 20)}}, "needs " + fieldMemLimit},
		{"reservation above limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Reservation: i64(2 << 20)}}, fieldMemReservation + ": 2097152 is above"},
		{"shares too small", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1)}}, fieldCPUShares + ": 1 is out of range"},
		{"shares absurd", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1 << 40)}}, fieldCPUShares},
		{"quota too small", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(999)}}, fieldCPUQuota + ": 999"},
		{"quota negative", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-2)}}, fieldCPUQuota},
		{"quota absurd", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(1 << 50)}}, fieldCPUQuota},
		{"period too small", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(10)}}, fieldCPUPeriod},
		{"period too large", &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(2000000)}}, fieldCPUPeriod},
		{"cpus garbage", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "all"}}, fieldCPUCpus},
		{"cpus backwards", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "3-1"}}, fieldCPUCpus + `: "3-1": range "3-1" is backwards`},
		{"cpus absurd", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-4000000000"}}, fieldCPUCpus},
		{"cpus empty element", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0,,1"}}, fieldCPUCpus},
		{"cpus negative", &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "-1"}}, fieldCPUCpus},
		{"mems garbage", &specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "0-x"}}, fieldCPUMems},
		{"pids negative", &specs.LinuxResources{Pids: pids(-5)}, fieldPidsLimit + ": -5 is out of range"},
		{"pids absurd", &specs.LinuxResources{Pids: pids(1 << 40)}, fieldPidsLimit},
	} {
		for name, f := range map[string]func(*specs.LinuxResources) ([]setting, error){"v1": v1Settings, "v2": v2Settings} {
			s, err := f(tc.res)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "config.json linux.resources.") {
				t.Errorf("%s %s: settings = %v, %v; want an error containing %q", tc.name, name, s, err, tc.err)
			}
		}
	}
}
