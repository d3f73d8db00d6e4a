package e2e

// Bad and hostile input through `runsc create` and `runsc run` (TestBadBundles in
// e2e_test.go has the first bad bundles, through run only): missing fields,
// absurd sizes, mounts escaping the rootfs through its symlinks, unknown and
// duplicate container IDs, bad signals. Each must end in one line on stderr that
// names the problem, a non-zero exit status, and nothing left: no state
// directory, no process of the test's --root, no mount under the bundle.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// checkOneLineError checks that res is a failure of `runsc cmd`: exit status 1,
// no stdout, and on stderr one line "runsc CMD: ..." with every string of want
// in it.
func checkOneLineError(t *testing.T, cmd string, res result, want ...string) {
	t.Helper()
	ok := res.status == 1 && res.stdout == "" && strings.HasPrefix(res.stderr, "runsc "+cmd+": ") &&
		strings.Count(res.stderr, "\n") == 1 && strings.HasSuffix(res.stderr, "\n")
	for _, w := range want {
		ok = ok && strings.Contains(res.stderr, w)
	}
	if !ok {
		t.Errorf("runsc %s: status %d, stdout %q, stderr %q; want status 1 and one line \"runsc %s: ...\" saying %q",
			cmd, res.status, res.stdout, truncate(res.stderr), cmd, want)
	}
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 2000 {
		return s[:2000] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// badConfig is a config.json runsc must refuse.
type badConfig struct {
	name   string
	config func() string
	// whole is the exact message after "runsc CMD: "; else want lists what
	// it must name.
	whole string
	want  []string
}

// configMakers returns functions that make config.json text from the spec of a
// container running true on rootfs: mod changes the spec, raw its JSON as a map.
func configMakers(t *testing.T, rootfs string) (mod func(func(*specs.Spec)) func() string, raw func(func(map[string]any)) func() string) {
	base := func() *specs.Spec { return newSpec(rootfs, "true") }
	mod = func(f func(*specs.Spec)) func() string {
		return func() string {
			s := base()
			f(s)
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
	}
	raw = func(f func(map[string]any)) func() string {
		return func() string {
			data, err := json.Marshal(base())
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			f(m)
			if data, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
	}
	return mod, raw
}

// checkBadConfigs runs each config through create and run: each must fail with
// its message, and leave nothing.
func checkBadConfigs(t *testing.T, cases []badConfig) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bundle := writeBundle(t, nil, tc.config())
			for _, cmd := range []string{"create", "run"} {
				r := newOCIRoot(t)
				res := r.runsc(cmd, "--bundle", bundle, "e2e-bad")
				if tc.whole != "" {
					if want := "runsc " + cmd + ": " + tc.whole + "\n"; res.status != 1 || res.stderr != want || res.stdout != "" {
						t.Errorf("runsc %s: status %d, stdout %q, stderr %q; want 1, no output, %q", cmd, res.status, res.stdout, truncate(res.stderr), want)
					}
				} else {
					checkOneLineError(t, cmd, res, tc.want...)
				}
				r.checkClean()
				checkNoMounts(t, bundle)
			}
		})
	}
}

// TestBadConfigs runs bundles runsc must refuse through both create and run.
// Where runsc's message is set (the bundle checks of runsc/specutils) it is
// matched whole; elsewhere it must name the field at fault. More cases are in
// TestBadConfigsRlimitsAndEmpty (badinput_rlimit_test.go).
func TestBadConfigs(t *testing.T) {
	mod, raw := configMakers(t, busyboxRootfs(t))
	manyEnv := func(n int) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Process.Env = make([]string, n)
			for i := range s.Process.Env {
				s.Process.Env[i] = fmt.Sprintf("V%d=x", i)
			}
		}
	}
	checkBadConfigs(t, []badConfig{
		{name: "no process", config: raw(func(m map[string]any) { delete(m, "process") }),
			whole: "config.json: process is missing: set process.args to the command to run"},
		{name: "no process.args", config: raw(func(m map[string]any) { delete(m["process"].(map[string]any), "args") }),
			whole: "config.json: process.args is empty: set the command to run"},
		{name: "no root", config: raw(func(m map[string]any) { delete(m, "root") }),
			whole: `config.json: root.path is missing: set it to the container's root file system, e.g. "rootfs"`},
		{name: "no ociVersion", config: raw(func(m map[string]any) { delete(m, "ociVersion") }),
			whole: `config.json: ociVersion is missing: set it to "` + specs.Version + `"`},
		{name: "args not a list", config: raw(func(m map[string]any) { m["process"].(map[string]any)["args"] = "true" }),
			want: []string{"config.json: line 1, column", "process.args", "string"}},
		{name: "not an object", config: func() string { return "[1, 2, 3]" },
			want: []string{"config.json", "array"}},
		{name: "unknown namespace type in the middle", config: mod(func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces[:2:2], append([]specs.LinuxNamespace{{Type: "visor"}}, s.Linux.Namespaces[2:]...)...)
		}), whole: `config.json: linux.namespaces[2]: unknown namespace type "visor": want one of pid, network, mount, ipc, uts, user, cgroup, time`},
		{name: "rlimit soft above hard", config: mod(func(s *specs.Spec) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2048, Hard: 1024}}
		}), whole: "config.json: process.rlimits[0] (RLIMIT_NOFILE): soft limit 2048 is above hard limit 1024"},
		{name: "100 MB config.json", config: mod(func(s *specs.Spec) {
			s.Annotations = map[string]string{"visor.e2e": strings.Repeat("x", 100<<20)}
		}), whole: "config.json: larger than 4 MiB: no real spec is; check the file"},
		{name: "a million env vars", config: mod(manyEnv(1_000_000)),
			whole: "config.json: larger than 4 MiB: no real spec is; check the file"},
		{name: "70000 env vars", config: mod(manyEnv(70_000)),
			whole: "config.json: process.env has 70000 entries: at most 65536 are allowed"},
		{name: "env var of 200 KB", config: mod(func(s *specs.Spec) { s.Process.Env = []string{"BIG=" + strings.Repeat("x", 200_000)} }),
			whole: "config.json: process.env[0] is 200004 bytes long: Linux allows at most 131072"},
		{name: "2000 mounts", config: mod(func(s *specs.Spec) {
			for i := range 2000 {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: fmt.Sprintf("/m%d", i), Type: "tmpfs", Source: "tmpfs"})
			}
		}), whole: "config.json: mounts has 2003 entries: at most 1024 are allowed"},
		{name: "hostname of 1000 bytes", config: mod(func(s *specs.Spec) { s.Hostname = strings.Repeat("h", 1000) }),
			whole: "config.json: hostname is 1000 bytes long: Linux allows at most 64"},
	})
}

// TestErrorInJSONLog checks the error containerd's shim reads back: with --log
// FILE --log-format json, a failing create writes its error to FILE as a JSON
// line at level "error" (and to stderr, one line, as always).
func TestErrorInJSONLog(t *testing.T) {
	r := newOCIRoot(t)
	bundle := writeBundle(t, nil, "{\n\t\"ociVersion\": \"1.0.2\"\n\t\"process\": {}\n}")
	log := filepath.Join(t.TempDir(), "log.json")
	res := r.runsc("--log", log, "--log-format", "json", "create", "--bundle", bundle, "e2e-log")
	checkOneLineError(t, "create", res, "malformed JSON at line 3")
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("no log: %v", err)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Level == "error" && strings.Contains(entry.Msg, "malformed JSON at line 3") {
			found = true
		}
	}
	if !found {
		t.Errorf("the log has no JSON error line naming the problem:\n%s", data)
	}
	r.checkClean()
}

// TestMountThroughRootfsSymlink gives mounts whose destination goes through a
// symlink planted in the rootfs that points out of it, absolutely (a host path)
// and relatively (enough .. to climb out on the host), to create and run. What
// the host must see: nothing made in or mounted on the host directory, the host
// file unchanged, nothing left. runsc may resolve the destination inside the
// container's root, as runc does (the container then runs: run prints "ran"),
// or refuse the spec in one line.
func TestMountThroughRootfsSymlink(t *testing.T) {
	mountThroughRootfsSymlink(t, func(t *testing.T, cmd string, res result, dest, wantRun string) {
		if res.status == 0 && cmd == "run" && res.stdout != wantRun {
			t.Errorf("runsc run: the container printed %q (stderr %q), want %q: the mount is not at its destination inside", res.stdout, res.stderr, wantRun)
		}
		t.Logf("runsc %s: status %d, stderr %q", cmd, res.status, res.stderr)
	})
}

// mountThroughRootfsSymlink runs the cases of TestMountThroughRootfsSymlink, each
// result checked by check. The container prints "ran" and what is at the
// destination (the listing of a directory, the content of a file): wantRun is
// what run prints when the mount is where the destination resolves inside the
// container's root.
func mountThroughRootfsSymlink(t *testing.T, check func(t *testing.T, cmd string, res result, dest, wantRun string)) {
	rootfs := debianRootfs(t)
	hostDir := t.TempDir()
	plant := filepath.Join(rootfs, "var/tmp", fmt.Sprintf("visor-e2e-mnt-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(plant, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(plant) })
	target := filepath.Join(hostDir, "target")
	if err := os.WriteFile(target, []byte("host file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", 20)
	links := map[string]string{
		"abs": hostDir, "rel": up + hostDir[1:],
		"absfile": target, "relfile": up + target[1:],
	}
	for name, dest := range links {
		if err := os.Symlink(dest, filepath.Join(plant, name)); err != nil {
			t.Fatal(err)
		}
	}
	bindSrc := t.TempDir()
	if err := os.WriteFile(filepath.Join(bindSrc, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fileSrc := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(fileSrc, []byte("bind file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inRoot := "/var/tmp/" + filepath.Base(plant)
	var mounts []specs.Mount
	for _, link := range []string{"abs", "rel"} {
		mounts = append(mounts,
			specs.Mount{Destination: inRoot + "/" + link + "/sub", Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: inRoot + "/" + link + "/sub", Type: "bind", Source: bindSrc, Options: []string{"rbind"}},
			specs.Mount{Destination: inRoot + "/" + link + "/file", Type: "bind", Source: fileSrc, Options: []string{"rbind"}},
			specs.Mount{Destination: inRoot + "/" + link, Type: "tmpfs", Source: "tmpfs"},
			specs.Mount{Destination: inRoot + "/" + link + "file", Type: "bind", Source: fileSrc, Options: []string{"rbind"}},
		)
	}
	for _, m := range mounts {
		t.Run(m.Type+" on "+strings.TrimPrefix(m.Destination, inRoot+"/"), func(t *testing.T) {
			spec := newSpec(rootfs, "sh", "-c", `echo ran; if [ -d "$0" ]; then ls "$0"; else cat "$0"; fi`, m.Destination)
			spec.Mounts = append(spec.Mounts, m)
			wantRun := "ran\n" // an empty tmpfs
			switch {
			case m.Source == fileSrc:
				wantRun += "bind file\n"
			case m.Source == bindSrc:
				wantRun += "marker\n"
			}
			bundle := writeBundle(t, spec, "")
			for _, cmd := range []string{"create", "run"} {
				r := newOCIRoot(t)
				res := r.runsc(cmd, "--bundle", bundle, "e2e-mnt")
				check(t, cmd, res, m.Destination, wantRun)
				if cmd == "create" && res.status == 0 {
					r.runsc("delete", "--force", "e2e-mnt")
				}
				r.checkClean()
				if names := dirNames(t, hostDir); !slices.Equal(names, []string{"target"}) {
					t.Errorf("runsc %s made %q in the host directory %s", cmd, names, hostDir)
				}
				if data, err := os.ReadFile(target); err != nil || string(data) != "host file\n" {
					t.Errorf("the host file %s is %q (%v) after runsc %s", target, data, err, cmd)
				}
				checkNoMounts(t, hostDir)
				checkNoMounts(t, bundle)
			}
		})
	}
}

// TestUnknownContainer runs every command that names a container on an ID that
// does not exist: each fails in one line saying so, and creates nothing.
func TestUnknownContainer(t *testing.T) {
	r := newOCIRoot(t)
	// The root exists and holds another container: "unknown" is about the ID.
	r.create("e2e-known", busyboxRootfs(t), "sleep", "100")
	const id = "e2e-unknown"
	for _, args := range [][]string{
		{"state", id}, {"start", id}, {"kill", id}, {"kill", id, "KILL"}, {"kill", "--all", id, "9"},
		{"delete", id}, {"delete", "--force", id}, {"exec", id, "true"}, {"wait", id}, {"ps", id},
		{"pause", id}, {"resume", id},
	} {
		res := r.runsc(args...)
		checkOneLineError(t, args[0], res, id, "does not exist")
		if _, err := os.Stat(filepath.Join(r.root, id)); err == nil {
			t.Errorf("runsc %q made a state directory for %s", args, id)
		}
	}
	if st := r.state("e2e-known"); st.Status != specs.StateCreated {
		t.Errorf("the other container is %q, want created", st.Status)
	}
	r.must("delete", "--force", "e2e-known")
	r.checkClean()
}

// TestDuplicateCreate creates a container under the ID of one that exists, by
// create and by run: both fail in one line naming the ID, and the first
// container is as it was (created, same Sentry); no process is added.
func TestDuplicateCreate(t *testing.T) {
	rootfs := busyboxRootfs(t)
	r := newOCIRoot(t)
	const id = "e2e-dup-create"
	r.create(id, rootfs, "sleep", "100")
	before := r.state(id)
	procs := len(r.processes())
	other := writeBundle(t, newSpec(rootfs, "true"), "")
	for _, cmd := range []string{"create", "run"} {
		res := r.runsc(cmd, "--bundle", other, id)
		checkOneLineError(t, cmd, res, id, "already exists")
		if after := r.state(id); after.Status != specs.StateCreated || after.Pid != before.Pid || after.Bundle != before.Bundle {
			t.Errorf("after a second %s: %+v, was %+v", cmd, after, before)
		}
		if n := len(r.processes()); n != procs {
			t.Errorf("after a second %s: %d processes with the root, were %d", cmd, n, procs)
		}
	}
	r.must("delete", "--force", id)
	r.checkClean()
}

// TestBadSignals sends kill signals that do not exist, by name and by number, to
// a running container: each fails in one line naming the signal, and the
// container runs on; then a good one stops it.
func TestBadSignals(t *testing.T) {
	r := newOCIRoot(t)
	const id = "e2e-badsig"
	out := r.create(id, busyboxRootfs(t), "sh", "-c", "echo ready; while :; do sleep 0.1; done")
	r.must("start", id)
	r.waitOutput(out, "ready\n", runTimeout)
	for _, sig := range []string{"SIGVISOR", "VISOR", "sigterm9", "65", "-1", "-9", "99999999999999999999", "1.5", "", "SIG", "0x9"} {
		res := r.runsc("kill", id, sig)
		if sig == "" {
			checkOneLineError(t, "kill", res, "signal")
		} else {
			checkOneLineError(t, "kill", res, sig)
		}
		if st := r.state(id); st.Status != specs.StateRunning {
			t.Errorf("after kill %q: %q, want running", sig, st.Status)
		}
	}
	r.must("kill", id, "KILL")
	r.waitStatus(id, specs.StateStopped, 10*time.Second)
	r.must("delete", id)
	r.checkClean()
}

// TestBadExec runs `runsc exec` into a running container with bad processes: a
// malformed or missing --process file, no args, a relative cwd, a user that is
// not numeric, a program that does not exist. Each fails in one line naming the
// problem, and the container runs on with its init alone.
func TestBadExec(t *testing.T) {
	r := newOCIRoot(t)
	const id = "e2e-badexec"
	out := r.create(id, busyboxRootfs(t), "sh", "-c", "echo ready; exec sleep 100")
	r.must("start", id)
	r.waitOutput(out, "ready\n", runTimeout)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--process", file("bad.json", "{bad")}, []string{"--process", "malformed JSON"}},
		{[]string{"--process", filepath.Join(dir, "missing.json")}, []string{"--process", "missing.json"}},
		{[]string{"--process", file("noargs.json", `{"args": [], "cwd": "/"}`)}, []string{"args"}},
		{[]string{"--cwd", "rel", id, "true"}, []string{`"rel"`, "absolute"}},
		{[]string{"--user", "abc", id, "true"}, []string{`"abc"`}},
		{[]string{id, "/visor/no/such/program"}, []string{"/visor/no/such/program"}},
	} {
		args := append([]string{"exec"}, tc.args...)
		if tc.args[0] == "--process" {
			args = append(args, id)
		}
		checkOneLineError(t, "exec", r.runsc(args...), tc.want...)
		if st := r.state(id); st.Status != specs.StateRunning {
			t.Errorf("after exec %q: %q, want running", tc.args, st.Status)
		}
		if ps := r.must("ps", id).stdout; strings.Count(strings.TrimSpace(ps), "\n") != 1 {
			t.Errorf("after exec %q, ps shows more than init:\n%s", tc.args, ps)
		}
	}
	r.must("delete", "--force", id)
	r.checkClean()
}

// TestBadCreateFlags gives create flags it cannot honour: a pid file in a
// directory that does not exist (found out only once the sandbox runs), fds to
// preserve that it cannot pass, a console socket that does not exist or does not
// go with the spec's terminal setting. Each fails in one line naming the flag,
// and nothing is left: the sandbox started for the pid file is gone.
func TestBadCreateFlags(t *testing.T) {
	rootfs := busyboxRootfs(t)
	plain := writeBundle(t, newSpec(rootfs, "sleep", "100"), "")
	tty := newSpec(rootfs, "sleep", "100")
	tty.Process.Terminal = true
	terminal := writeBundle(t, tty, "")
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		bundle string
		flags  []string
		want   []string
	}{
		{plain, []string{"--pid-file", filepath.Join(missing, "pid")}, []string{"pid file", missing}},
		{plain, []string{"--preserve-fds", "100000"}, []string{"--preserve-fds=100000"}},
		{plain, []string{"--preserve-fds", "-5"}, []string{"--preserve-fds=-5"}},
		{plain, []string{"--console-socket", filepath.Join(missing, "sock")}, []string{"--console-socket", "process.terminal"}},
		{terminal, []string{"--console-socket", filepath.Join(missing, "sock")}, []string{"--console-socket", filepath.Join(missing, "sock")}},
		{terminal, nil, []string{"process.terminal", "--console-socket"}},
	} {
		r := newOCIRoot(t)
		args := append(append([]string{"create", "--bundle", tc.bundle}, tc.flags...), "e2e-badflags")
		checkOneLineError(t, "create", r.runsc(args...), tc.want...)
		r.checkClean()
	}
}
