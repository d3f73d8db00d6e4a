package cgroup

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hybridMountinfo is this project's CI-like host: v1 controllers, each on its own,
// beside an empty cgroup2 mount.
const hybridMountinfo = `22 27 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

const hybridCgroup = `9:name=systemd:/
8:pids:/
6:freezer:/
5:devices:/
4:memory:/process_api/c8
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`

func TestParseHierarchy(t *testing.T) {
	for _, tc := range []struct {
		name             string
		mountinfo, procs string
		// controllers is the cgroup2 mount's cgroup.controllers.
		controllers string
		want        *hierarchy
		err         string
	}{
		{
			name:        "hybrid uses v1",
			mountinfo:   hybridMountinfo,
			procs:       hybridCgroup,
			controllers: "hugetlb\n",
			want: &hierarchy{
				version: 1,
				unified: mount{point: "/sys/fs/cgroup/unified", root: "/"},
				v1: map[string]mount{
					"cpu":     {point: "/sys/fs/cgroup/cpu", root: "/"},
					"cpuacct": {point: "/sys/fs/cgroup/cpuacct", root: "/"},
					"cpuset":  {point: "/sys/fs/cgroup/cpuset", root: "/"},
					"memory":  {point: "/sys/fs/cgroup/memory", root: "/"},
					"freezer": {point: "/sys/fs/cgroup/freezer", root: "/"},
					"pids":    {point: "/sys/fs/cgroup/pids", root: "/"},
				},
				own: map[string]string{"": "/", "cpu": "/", "cpuacct": "/", "cpuset": "/", "memory": "/process_api/c8", "freezer": "/", "pids": "/"},
			},
		},
		{
			name: "co-mounted cpu,cpuacct and an escaped mount point",
			mountinfo: `32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /ctr /sys/fs/cgroup/my\040memory rw - cgroup cgroup rw,memory
`,
			procs: "3:cpu,cpuacct:/a\n4:memory:/ctr/b\n",
			want: &hierarchy{
				version: 1,
				v1: map[string]mount{
					"cpu":     {point: "/sys/fs/cgroup/cpu,cpuacct", root: "/"},
					"cpuacct": {point: "/sys/fs/cgroup/cpu,cpuacct", root: "/"},
					"memory":  {point: "/sys/fs/cgroup/my memory", root: "/ctr"},
				},
				own: map[string]string{"cpu": "/a", "cpuacct": "/a", "memory": "/ctr/b"},
			},
		},
		{
			name:        "hybrid whose cgroup2 has the controllers prefers v2",
			mountinfo:   hybridMountinfo,
			procs:       hybridCgroup,
			controllers: "pids hugetlb\n",
			want: &hierarchy{
				version: 2,
				unified: mount{point: "/sys/fs/cgroup/unified", root: "/"},
				own:     map[string]string{"": "/", "cpu": "/", "cpuacct": "/", "cpuset": "/", "memory": "/process_api/c8", "freezer": "/", "pids": "/"},
			},
		},
		{
			name:        "unified",
			controllers: "cpuset cpu io memory pids",
			mountinfo:   "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
			procs:       "0::/user.slice/session-1.scope\n",
			want: &hierarchy{
				version: 2,
				unified: mount{point: "/sys/fs/cgroup", root: "/"},
				own:     map[string]string{"": "/user.slice/session-1.scope"},
			},
		},
		{
			name:      "a v1 mount this process is in no hierarchy of is ignored",
			mountinfo: "35 31 0:32 / /old/memory rw - cgroup cgroup rw,memory\n30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			procs:     "0::/\n",
			want: &hierarchy{
				version: 2,
				unified: mount{point: "/sys/fs/cgroup", root: "/"},
				own:     map[string]string{"": "/"},
			},
		},
		{
			name:      "nothing mounted",
			mountinfo: "22 27 0:20 / /proc rw - proc proc rw\n",
			procs:     "0::/\n",
			err:       "no usable cgroup hierarchy",
		},
		{
			name:      "cgroup2 mounted but not joined",
			mountinfo: "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			procs:     "",
			err:       "no usable cgroup hierarchy",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHierarchy(strings.NewReader(tc.mountinfo), strings.NewReader(tc.procs), func(string) string { return tc.controllers })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseHierarchy = %+v, %v; want error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(hierarchy{}, mount{})); diff != "" {
				t.Errorf("parseHierarchy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`:     "/a b",
		`/tab\011x`:   "/tab\tx",
		`/back\134sl`: `/back\sl`,
		`/plain`:      "/plain",
		`/short\04`:   `/short\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q; want %q", in, got, want)
		}
	}
}
