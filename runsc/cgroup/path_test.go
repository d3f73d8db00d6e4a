package cgroup

import (
	"strings"
	"testing"
)

func TestResolvePath(t *testing.T) {
	for _, tc := range []struct {
		spec, id string
		want     cgroupPath
		err      string
	}{
		{spec: "", id: "abc", want: cgroupPath{name: "/visor/abc"}},
		{spec: "/docker/abc", id: "x", want: cgroupPath{name: "/docker/abc"}},
		{spec: "/a//b/./c/", id: "x", want: cgroupPath{name: "/a/b/c"}},
		{spec: "default/abc", id: "x", want: cgroupPath{name: "default/abc", relative: true}},
		{spec: "system.slice:docker:abc", id: "x", want: cgroupPath{name: "/system.slice/docker-abc.scope"}},
		{spec: ":docker:abc", id: "x", want: cgroupPath{name: "/system.slice/docker-abc.scope"}},
		{spec: "user-1000.slice::abc", id: "x", want: cgroupPath{name: "/user.slice/user-1000.slice/abc.scope"}},
		{spec: "machine.slice:p:my-sub.slice", id: "x", want: cgroupPath{name: "/machine.slice/my-sub.slice"}},
		{spec: "-.slice:p:n", id: "x", want: cgroupPath{name: "/p-n.scope"}},
		{spec: "", id: "", err: "container id"},
		{spec: "", id: "a/b", err: "container id"},
		{spec: "", id: "..", err: "container id"},
		{spec: "/a/../../etc", id: "x", err: `".." is not allowed`},
		{spec: "../up", id: "x", err: `".." is not allowed`},
		{spec: "/", id: "x", err: "names no cgroup"},
		{spec: ".", id: "x", err: "names no cgroup"},
		{spec: "a\x00b", id: "x", err: "NUL"},
		{spec: "system.slice:abc", id: "x", err: "2 parts"},
		{spec: "a:b:c:d", id: "x", err: "4 parts"},
		{spec: "system.slice:docker:", id: "x", err: "needs a name"},
		{spec: "system.slice:do/cker:abc", id: "x", err: "not a valid systemd unit name part"},
		{spec: "system.slice:docker:..", id: "x", err: "not a valid systemd unit name part"},
		{spec: "system:docker:abc", id: "x", err: "must end in"},
		{spec: ".slice:docker:abc", id: "x", err: "must end in"},
		{spec: "a--b.slice:docker:abc", id: "x", err: "empty component"},
		{spec: "-a.slice:docker:abc", id: "x", err: "empty component"},
	} {
		got, err := resolvePath(tc.spec, tc.id)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("resolvePath(%q, %q) = %+v, %v; want error containing %q", tc.spec, tc.id, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolvePath(%q, %q) = %+v, %v; want %+v", tc.spec, tc.id, got, err, tc.want)
		}
	}
}

func TestExpandSlice(t *testing.T) {
	for _, tc := range []struct{ slice, want string }{
		{"system.slice", "/system.slice"},
		{"a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"},
		{"-.slice", "/"},
	} {
		if got, err := expandSlice(tc.slice); err != nil || got != tc.want {
			t.Errorf("expandSlice(%q) = %q, %v; want %q", tc.slice, got, err, tc.want)
		}
	}
}

func TestMountDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    mount
		p    cgroupPath
		own  string
		want string
		err  string
	}{
		{name: "absolute", m: mount{point: "/sys/fs/cgroup/memory", root: "/"}, p: cgroupPath{name: "/visor/a"}, own: "/x", want: "/sys/fs/cgroup/memory/visor/a"},
		{name: "relative", m: mount{point: "/sys/fs/cgroup/memory", root: "/"}, p: cgroupPath{name: "visor/a", relative: true}, own: "/process_api/c8", want: "/sys/fs/cgroup/memory/process_api/c8/visor/a"},
		{name: "relative at root", m: mount{point: "/sys/fs/cgroup", root: "/"}, p: cgroupPath{name: "a", relative: true}, own: "/", want: "/sys/fs/cgroup/a"},
		{name: "relative under a bind-mounted root", m: mount{point: "/sys/fs/cgroup", root: "/kubepods/pod1"}, p: cgroupPath{name: "a", relative: true}, own: "/kubepods/pod1/ctr", want: "/sys/fs/cgroup/ctr/a"},
		{name: "own cgroup equals the mount root", m: mount{point: "/sys/fs/cgroup", root: "/kubepods"}, p: cgroupPath{name: "a", relative: true}, own: "/kubepods", want: "/sys/fs/cgroup/a"},
		{name: "own cgroup not visible", m: mount{point: "/sys/fs/cgroup", root: "/kubepods"}, p: cgroupPath{name: "a", relative: true}, own: "/kubepodsX/ctr", err: "outside the cgroup mount"},
	} {
		got, err := tc.m.dir(tc.p, tc.own)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: dir = %q, %v; want error containing %q", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: dir = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
