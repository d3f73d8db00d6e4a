package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/runsc/config"
	"visor.dev/visor/runsc/specutils"
)

// Do is `runsc do`: run a command in a sandbox without writing a bundle first.
type Do struct {
	// Stderr gets runsc's own errors.
	Stderr io.Writer
	// Stdio are the command's stdin, stdout and stderr: files, because the
	// Sentry inherits them.
	Stdio [3]*os.File

	rootDir string
	cwd     string
}

// Name implements subcommands.Command.Name.
func (*Do) Name() string { return "do" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Do) Synopsis() string { return "run a command in a sandbox over the host's file system" }

// Usage implements subcommands.Command.Usage.
func (*Do) Usage() string {
	return `do [--root-dir DIR] [--cwd DIR] [--] CMD [ARGS...]:
	Runs CMD in a new sandbox with this process's environment, user, stdin,
	stdout and stderr. Its root is the host's / read-only, or DIR read-write;
	/proc and a fresh /tmp are mounted on top. Its working directory is --cwd,
	by default this one when the root is the host's and / otherwise.

	runsc writes a temporary bundle for it and removes it afterwards. Exit
	statuses are those of "runsc run".
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (d *Do) SetFlags(f *flag.FlagSet) {
	f.StringVar(&d.rootDir, "root-dir", "/", "the sandbox's root directory on the host; the host's / is mounted read-only, any other read-write.")
	f.StringVar(&d.cwd, "cwd", "", "the working directory in the sandbox; default: the current directory with the host's root, else /.")
}

// Execute implements subcommands.Command.Execute.
func (d *Do) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	const name = "do"
	if f.NArg() == 0 {
		return usageError(d.Stderr, name, errors.New("no command given; usage: runsc do [flags] [--] CMD [ARGS...]"))
	}
	conf := args[0].(*config.Config)
	root, err := filepath.Abs(d.rootDir)
	if err != nil {
		return failure(d.Stderr, name, err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return failure(d.Stderr, name, fmt.Errorf("--root-dir %q is not a directory", d.rootDir))
	}
	cwd := d.cwd
	if cwd == "" {
		cwd = "/"
		if root == "/" {
			if cwd, err = os.Getwd(); err != nil {
				return failure(d.Stderr, name, err)
			}
		}
	}

	bundle, err := os.MkdirTemp("", "runsc-do-")
	if err != nil {
		return failure(d.Stderr, name, fmt.Errorf("making a temporary bundle: %w", err))
	}
	defer os.RemoveAll(bundle)
	spec, err := writeDoBundle(bundle, doSpec(conf, root, cwd, f.Args()))
	if err != nil {
		return failure(d.Stderr, name, err)
	}
	// The bundle's name is unique, and so makes a fitting container ID.
	code, err := runContainer(conf, filepath.Base(bundle), bundle, spec, "", "", d.Stdio, nil, d.Stderr)
	if err != nil {
		return failure(d.Stderr, name, err)
	}
	return subcommands.ExitStatus(code)
}

// doSpec returns the spec of `runsc do argv`.
func doSpec(conf *config.Config, root, cwd string, argv []string) *specs.Spec {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "visor"
	}
	namespaces := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
	}
	if conf.Network != config.NetworkHost {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	return &specs.Spec{
		Version:  specs.Version,
		Hostname: hostname,
		// The host's root is never the sandbox's to change; a directory the
		// caller names is.
		Root: &specs.Root{Path: root, Readonly: root == "/"},
		Process: &specs.Process{
			Args: argv,
			Env:  os.Environ(),
			Cwd:  cwd,
			User: specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev"}},
		},
		Linux: &specs.Linux{Namespaces: namespaces},
	}
}

// writeDoBundle writes spec as bundle's config.json and loads it back, so that
// it passes the checks any bundle does.
func writeDoBundle(bundle string, spec *specs.Spec) (*specs.Spec, error) {
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("encoding the spec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bundle, specutils.ConfigFile), data, 0o644); err != nil {
		return nil, fmt.Errorf("writing the temporary bundle: %w", err)
	}
	return specutils.LoadSpec(bundle)
}
