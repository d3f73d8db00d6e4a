package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/runsc/specutils"
)

// Spec is `runsc spec`: write a default config.json.
type Spec struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer

	bundle   string
	rootless bool
}

// Name implements subcommands.Command.Name.
func (*Spec) Name() string { return "spec" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Spec) Synopsis() string { return "write a default config.json" }

// Usage implements subcommands.Command.Usage.
func (*Spec) Usage() string {
	return `spec [--bundle DIR] [--rootless]:
	Writes a default config.json into DIR (default: the current directory),
	as "runc spec" does: "sh" in a terminal, on the root "rootfs", with /proc,
	/dev and friends mounted. With --rootless, the spec maps the caller's user
	to root in a user namespace. An existing config.json is left alone.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (s *Spec) SetFlags(f *flag.FlagSet) {
	f.StringVar(&s.bundle, "bundle", "", "the directory to write config.json in; default: the current directory.")
	f.StringVar(&s.bundle, "b", "", "short for --bundle.")
	f.BoolVar(&s.rootless, "rootless", false, "write a spec for a container started without root.")
}

// Execute implements subcommands.Command.Execute.
func (s *Spec) Execute(_ context.Context, f *flag.FlagSet, _ ...any) subcommands.ExitStatus {
	const name = "spec"
	if f.NArg() != 0 {
		return usageError(s.Stderr, name, errors.New("no arguments wanted; usage: runsc spec [--bundle DIR] [--rootless]"))
	}
	path := filepath.Join(s.bundle, specutils.ConfigFile)
	data, err := json.MarshalIndent(defaultSpec(s.rootless), "", "\t")
	if err != nil {
		return failure(s.Stderr, name, err)
	}
	// O_EXCL: a spec someone wrote is never overwritten.
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return failure(s.Stderr, name, fmt.Errorf("%s exists already: remove it first", path))
	} else if err != nil {
		return failure(s.Stderr, name, err)
	}
	_, err = out.Write(append(data, '\n'))
	if err = errors.Join(err, out.Close()); err != nil {
		os.Remove(path)
		return failure(s.Stderr, name, err)
	}
	return subcommands.ExitSuccess
}

// defaultSpec returns the spec `runsc spec` writes: runc's default.
func defaultSpec(rootless bool) *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: true,
			Args:     []string{"sh"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "runsc",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
				"/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
		},
	}
	if rootless {
		// As runc's: a user namespace mapping the caller to root, and no network
		// namespace, which only root on the host could set up.
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
			return ns.Type == specs.NetworkNamespace
		})
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getuid()), Size: 1}}
		spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getgid()), Size: 1}}
	}
	return spec
}
