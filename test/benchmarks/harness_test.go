package benchmarks

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

//go:embed c/*.c c/*.h
var csrc embed.FS

var (
	flagRuntimes = flag.String("runtimes", "native,runsc,gvisor,runc", "comma-separated runtimes to measure: native, runsc, gvisor, runc; runc is skipped when it is not installed, gvisor without -gvisor.")
	flagPlatform = flag.String("platform", "ptrace", "the runsc --platform to measure.")
	flagRunsc    = flag.String("runsc", os.Getenv("RUNSC_BINARY"), "the runsc binary; default: $RUNSC_BINARY, else built with go build.")
	flagGVisor   = flag.String("gvisor", os.Getenv("GVISOR_RUNSC"), "gVisor's runsc binary, measured as the gvisor runtime (--platform=ptrace --network=none) when given; default: $GVISOR_RUNSC.")
	flagDir      = flag.String("dir", "/var/tmp", "where the work directory goes; not /tmp, which `runsc do` replaces with a fresh tmpfs.")
)

// programs are the C programs in c/, built once per run.
var programs = []string{"getpid", "openclose", "forkexec", "mmap", "pipe", "true", "stamp", "ptrace"}

// buildPrograms compiles every program in c/ with gcc -static into dir/bin and
// returns that directory.
func buildPrograms(dir string) (string, error) {
	src := filepath.Join(dir, "src")
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{src, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	entries, err := csrc.ReadDir("c")
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		data, err := csrc.ReadFile("c/" + e.Name())
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(src, e.Name()), data, 0o644); err != nil {
			return "", err
		}
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("the benchmarks need gcc: %w", err)
	}
	errs := make([]error, len(programs))
	var wg sync.WaitGroup
	for i, p := range programs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(gcc, "-static", "-O2", "-Wall", "-o", filepath.Join(bin, p), filepath.Join(src, p+".c"))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("gcc %s.c: %v\n%s", p, err, out)
			}
		}()
	}
	wg.Wait()
	return bin, errors.Join(errs...)
}

// env is what the benchmarks share: the work directory, the built programs, the
// runsc binary and the runc root file system. It is set up on first use.
type env struct {
	dir       string // the work directory, removed at the end
	bin       string // the built C programs
	runsc     string
	runscErr  error
	runcRoot  string // a read-only bind mount of /, outside dir
	runcErr   error
	runscOnce sync.Once
	runcOnce  sync.Once
	bundles   sync.Map // bundle key -> directory
	ids       atomic.Int64
}

var (
	theEnv    *env
	theEnvErr error
	envOnce   sync.Once
)

func getEnv(b testing.TB) *env {
	b.Helper()
	envOnce.Do(func() {
		dir, err := os.MkdirTemp(*flagDir, "visor-bench-")
		if err != nil {
			theEnvErr = err
			return
		}
		e := &env{dir: dir}
		theEnv = e
		e.bin, theEnvErr = buildPrograms(dir)
	})
	if theEnvErr != nil {
		b.Fatal(theEnvErr)
	}
	return theEnv
}

// cleanup undoes getEnv: unmounts runc's root and removes the work directory.
func cleanup() {
	if theEnv == nil {
		return
	}
	if theEnv.runcRoot != "" {
		// Never remove anything under the mount point: it is the host's /. Only
		// once it is unmounted is it an empty directory that rmdir can take.
		if err := syscall.Unmount(theEnv.runcRoot, 0); err != nil {
			fmt.Fprintf(os.Stderr, "benchmarks: unmounting %s: %v (left in place; umount it by hand)\n", theEnv.runcRoot, err)
		} else {
			os.Remove(theEnv.runcRoot)
		}
	}
	os.RemoveAll(theEnv.dir)
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func (e *env) prog(name string) string { return filepath.Join(e.bin, name) }

// runscBinary returns the runsc to measure, building it on first use.
func (e *env) runscBinary(b testing.TB) string {
	e.runscOnce.Do(func() {
		if *flagRunsc != "" {
			e.runsc, e.runscErr = filepath.Abs(*flagRunsc)
			return
		}
		e.runsc = filepath.Join(e.dir, "runsc")
		cmd := exec.Command("go", "build", "-o", e.runsc, "visor.dev/visor/runsc")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as Bazel builds it: no cgo under seccomp
		if out, err := cmd.CombinedOutput(); err != nil {
			e.runscErr = fmt.Errorf("go build runsc: %v\n%s", err, out)
		}
	})
	if e.runscErr != nil {
		b.Fatal(e.runscErr)
	}
	return e.runsc
}

// runcRootfs returns a read-only bind mount of the host's / for runc bundles:
// runc cannot pivot_root into / itself. Skips the benchmark when runc is missing
// or the mount cannot be made.
func (e *env) runcRootfs(b testing.TB) string {
	e.runcOnce.Do(func() {
		if _, err := exec.LookPath("runc"); err != nil {
			e.runcErr = fmt.Errorf("runc is not installed: %w", err)
			return
		}
		root := e.dir + "-rootfs" // outside dir, so RemoveAll(dir) can never reach it
		if err := os.Mkdir(root, 0o755); err != nil {
			e.runcErr = err
			return
		}
		if err := syscall.Mount("/", root, "", syscall.MS_BIND, ""); err != nil {
			os.Remove(root)
			e.runcErr = fmt.Errorf("bind-mounting / for runc: %w", err)
			return
		}
		e.runcRoot = root
		if err := syscall.Mount("", root, "", syscall.MS_PRIVATE, ""); err != nil {
			e.runcErr = fmt.Errorf("making %s private: %w", root, err)
			return
		}
		if err := syscall.Mount("", root, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			e.runcErr = fmt.Errorf("making %s read-only: %w", root, err)
			return
		}
	})
	if e.runcErr != nil {
		b.Skip(e.runcErr)
	}
	return e.runcRoot
}

// bundle writes (once per key) an OCI bundle whose spec runs argv, and returns
// its directory.
func (e *env) bundle(b testing.TB, key string, spec *specs.Spec) string {
	if d, ok := e.bundles.Load(key); ok {
		return d.(string)
	}
	dir := filepath.Join(e.dir, "bundles", fmt.Sprint(e.ids.Add(1)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	e.bundles.Store(key, dir)
	return dir
}

// baseSpec is the spec runsc do writes: the host's / read-only, /proc and a
// fresh /tmp, new PID, IPC, UTS, mount and network namespaces, this process's
// environment and user.
func baseSpec(root string, argv []string) *specs.Spec {
	return &specs.Spec{
		Version:  specs.Version,
		Hostname: "bench",
		Root:     &specs.Root{Path: root, Readonly: true},
		Process: &specs.Process{
			Args: argv,
			Env:  os.Environ(),
			Cwd:  "/",
			User: specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
		Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
			{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
		}},
	}
}

// runcSpec is baseSpec plus what runc needs that the Sentry provides itself: /dev.
func runcSpec(root string, argv []string) *specs.Spec {
	s := baseSpec(root, argv)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	)
	return s
}

// A runtime runs a command: natively, in a Visor (runsc) sandbox, in a gVisor
// sandbox (the reference the ptrace platform is held to) or in a runc container.
type runtime struct {
	name string
	cmd  func(b testing.TB, e *env, argv []string) *exec.Cmd
}

var allRuntimes = []runtime{
	{"native", func(b testing.TB, e *env, argv []string) *exec.Cmd {
		return exec.Command(argv[0], argv[1:]...)
	}},
	{"runsc", func(b testing.TB, e *env, argv []string) *exec.Cmd {
		args := append([]string{"--platform=" + *flagPlatform, "--root=" + filepath.Join(e.dir, "runsc-state"), "do", "--"}, argv...)
		return exec.Command(e.runscBinary(b), args...)
	}},
	{"gvisor", func(b testing.TB, e *env, argv []string) *exec.Cmd {
		if *flagGVisor == "" {
			b.Skip("no -gvisor (gVisor's runsc) given")
		}
		// gVisor's sandbox network needs iptables, which this machine lacks; its
		// start-up is measured without a network stack.
		args := append([]string{"--platform=" + *flagPlatform, "--network=none", "--root=" + filepath.Join(e.dir, "gvisor-state"), "do"}, argv...)
		return exec.Command(*flagGVisor, args...)
	}},
	{"runc", func(b testing.TB, e *env, argv []string) *exec.Cmd {
		root := e.runcRootfs(b)
		bundle := e.bundle(b, "runc\x00"+strings.Join(argv, "\x00"), runcSpec(root, argv))
		id := fmt.Sprintf("visor-bench-%d-%d", os.Getpid(), e.ids.Add(1))
		return exec.Command("runc", "--root="+filepath.Join(e.dir, "runc-state"), "run", "--bundle", bundle, id)
	}},
}

// runscRun is runsc with a prepared bundle (`runsc run`), for start-up only: the
// same sandbox as `runsc do` without writing the temporary bundle.
var runscRun = runtime{"runsc-run", func(b testing.TB, e *env, argv []string) *exec.Cmd {
	bundle := e.bundle(b, "runsc\x00"+strings.Join(argv, "\x00"), baseSpec("/", argv))
	id := fmt.Sprintf("visor-bench-%d-%d", os.Getpid(), e.ids.Add(1))
	return exec.Command(e.runscBinary(b), "--platform="+*flagPlatform, "--root="+filepath.Join(e.dir, "runsc-state"), "run", "--bundle", bundle, id)
}}

// selected returns the runtimes -runtimes names, in the order of allRuntimes;
// withRun adds runscRun after runsc.
func selected(withRun ...bool) []runtime {
	want := map[string]bool{}
	for _, n := range strings.Split(*flagRuntimes, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var rs []runtime
	for _, r := range allRuntimes {
		if !want[r.name] {
			continue
		}
		rs = append(rs, r)
		if r.name == "runsc" && len(withRun) > 0 && withRun[0] {
			rs = append(rs, runscRun)
		}
	}
	return rs
}

// run runs cmd and returns its stdout; it fails b when cmd fails.
func run(b testing.TB, cmd *exec.Cmd) string {
	b.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var benchLine = regexp.MustCompile(`(?m)^BENCH (\S+) n=(\d+) ns/op=([0-9.]+)$`)

// parseBench returns the ns/op of a program's BENCH line.
func parseBench(out string) (float64, error) {
	m := benchLine.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no BENCH line in %q", out)
	}
	return strconv.ParseFloat(m[3], 64)
}

var stampLine = regexp.MustCompile(`(?m)^STAMP start=(\d+) end=(\d+)$`)

// parseStamp returns the CLOCK_REALTIME stamps the stamp program printed.
func parseStamp(out string) (start, end time.Time, err error) {
	m := stampLine.FindStringSubmatch(out)
	if m == nil {
		return start, end, fmt.Errorf("no STAMP line in %q", out)
	}
	s, _ := strconv.ParseInt(m[1], 10, 64)
	en, _ := strconv.ParseInt(m[2], 10, 64)
	return time.Unix(0, s), time.Unix(0, en), nil
}

// micro runs the program prog with N = b.N (and args; "@name" is the path of the
// built program name) once under each runtime and reports the ns/op it measured
// itself.
func micro(b *testing.B, prog string, args ...string) {
	for _, rt := range selected() {
		b.Run(rt.name, func(b *testing.B) {
			e := getEnv(b)
			argv := []string{e.prog(prog), strconv.Itoa(b.N)}
			for _, a := range args {
				if strings.HasPrefix(a, "@") {
					a = e.prog(a[1:])
				}
				argv = append(argv, a)
			}
			cmd := rt.cmd(b, e, argv) // builds runsc, mounts runc's root on first use
			b.ResetTimer()
			ns, err := parseBench(run(b, cmd))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(ns, "ns/op")
		})
	}
}
