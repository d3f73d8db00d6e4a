package boot

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/runsc/specutils"
)

// processArgs turns a spec's process (init's, or one runsc exec passes) into
// the kernel's arguments for it.
func processArgs(p *specs.Process, m *mounts, fdt *kernel.FDTable) (*kernel.CreateProcessArgs, error) {
	creds, err := credentials(p)
	if err != nil {
		return nil, err
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	umask := uint32(0o022)
	if p.User.Umask != nil {
		umask = *p.User.Umask & 0o777
	}
	limits := make(map[int]linux.Rlimit)
	for _, r := range p.Rlimits {
		res, ok := specutils.Rlimits[r.Type]
		if !ok {
			return nil, fmt.Errorf("config.json: process.rlimits: unknown type %q", r.Type)
		}
		limits[res] = linux.Rlimit{Cur: r.Soft, Max: r.Hard}
	}
	return &kernel.CreateProcessArgs{
		Filename:         p.Args[0],
		Argv:             p.Args,
		Envv:             p.Env,
		WorkingDirectory: cwd,
		Credentials:      creds,
		Umask:            umask,
		FDTable:          fdt,
		Root:             m.root,
		Limits:           limits,
	}, nil
}

// credentials returns the identity of the container's process: the spec's user,
// with the spec's capabilities (Linux's defaults for the user when it names none).
func credentials(p *specs.Process) (*auth.Credentials, error) {
	ns := auth.NewRootUserNamespace()
	extra := make([]auth.KGID, len(p.User.AdditionalGids))
	for i, g := range p.User.AdditionalGids {
		extra[i] = auth.KGID(g)
	}
	var caps *auth.TaskCapabilities
	if c := p.Capabilities; c != nil {
		var err error
		caps = &auth.TaskCapabilities{}
		for _, set := range []struct {
			names []string
			into  *auth.CapabilitySet
		}{
			{c.Bounding, &caps.Bounding},
			{c.Effective, &caps.Effective},
			{c.Permitted, &caps.Permitted},
			{c.Inheritable, &caps.Inheritable},
			{c.Ambient, &caps.Ambient},
		} {
			if *set.into, err = capabilitySet(set.names); err != nil {
				return nil, err
			}
		}
	}
	return auth.NewUserCredentials(auth.KUID(p.User.UID), auth.KGID(p.User.GID), extra, caps, ns), nil
}

// capabilitySet parses OCI capability names ("CAP_NET_ADMIN").
func capabilitySet(names []string) (auth.CapabilitySet, error) {
	var set auth.CapabilitySet
	for _, n := range names {
		cp, ok := linux.CapabilityFromName(strings.ToUpper(n))
		if !ok {
			return 0, fmt.Errorf("config.json: process.capabilities: unknown capability %q", n)
		}
		set |= auth.CapabilitySetOf(cp)
	}
	return set, nil
}
