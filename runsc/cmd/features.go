package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"visor.dev/visor/pkg/abi/linux"
)

// Features is `runsc features`: what this runtime supports, as runc reports it.
type Features struct {
	Stdout io.Writer
	// Stderr gets runsc's own errors.
	Stderr io.Writer
}

// Name implements subcommands.Command.Name.
func (*Features) Name() string { return "features" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Features) Synopsis() string { return "print the features runsc supports, as JSON" }

// Usage implements subcommands.Command.Usage.
func (*Features) Usage() string {
	return `features:
	Prints the OCI features document (runtime-spec's features.md) of runsc:
	the spec versions, hooks, mount options, namespaces and capabilities it
	knows, as "runc features" does.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (*Features) SetFlags(*flag.FlagSet) {}

// capabilityNames are the capabilities of Linux 6.x, in number order.
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// supportedFeatures returns runsc's features document.
func supportedFeatures() features.Features {
	var caps []string
	for _, name := range capabilityNames {
		// Only what the Sentry can parse from a spec counts.
		if _, ok := linux.CapabilityFromName(name); ok {
			caps = append(caps, name)
		}
	}
	yes, no := true, false
	return features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		// No hooks are run: an empty list says so, where nil would mean unknown.
		Hooks: []string{},
		// The options the sandbox's mounts honour; others are ignored.
		MountOptions: []string{"bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "mode", "size"},
		Linux: &features.Linux{
			Namespaces: []string{
				string(specs.PIDNamespace), string(specs.NetworkNamespace), string(specs.MountNamespace),
				string(specs.IPCNamespace), string(specs.UTSNamespace), string(specs.UserNamespace),
				string(specs.CgroupNamespace), string(specs.TimeNamespace),
			},
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &no, V2: &yes, Systemd: &no, SystemdUser: &no},
			Seccomp:      &features.Seccomp{Enabled: &no},
			Apparmor:     &features.Apparmor{Enabled: &no},
			Selinux:      &features.Selinux{Enabled: &no},
		},
		Annotations: map[string]string{"dev.visor.runsc.platform": "ptrace"},
	}
}

// Execute implements subcommands.Command.Execute.
func (c *Features) Execute(_ context.Context, f *flag.FlagSet, _ ...any) subcommands.ExitStatus {
	const name = "features"
	if f.NArg() != 0 {
		return usageError(c.Stderr, name, errors.New("no arguments wanted; usage: runsc features"))
	}
	data, err := json.MarshalIndent(supportedFeatures(), "", "    ")
	if err != nil {
		return failure(c.Stderr, name, err)
	}
	fmt.Fprintf(c.Stdout, "%s\n", data)
	return subcommands.ExitSuccess
}
