// Package specutils reads and checks OCI bundles: it loads a bundle's config.json,
// rejects what Visor cannot run with an error that names the field at fault and
// what to do about it, and answers the questions the rest of runsc asks of a spec —
// where the root is on the host, which mounts the Gofer serves, which are read-only.
//
// Checks are about the bundle on the host. What only makes sense inside the
// sandbox, such as finding process.args[0] on the container's PATH, is the
// Sentry's: it sees the container's file system, the host does not.
package specutils

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/pkg/abi/linux"
)

// ConfigFile is the name of the spec in a bundle.
const ConfigFile = "config.json"

// Limits on sizes no real container needs; beyond them a spec is a mistake or an
// attack, and is refused before anything is started.
const (
	// MaxConfigSize bounds config.json; real ones are a few KiB.
	MaxConfigSize = 4 << 20
	// MaxArgLen is Linux's MAX_ARG_STRLEN: no execve takes a longer argument or
	// environment string.
	MaxArgLen = 32 * 4096
	// MaxArgs bounds the number of process.args and of process.env entries each.
	MaxArgs = 1 << 16
	// MaxHostname is Linux's HOST_NAME_MAX.
	MaxHostname = 64
	// MaxMounts bounds spec.mounts.
	MaxMounts = 1024
)

// LoadSpec reads bundleDir/config.json and validates it (see Validate). bundleDir
// should be absolute: relative paths in the spec are resolved against it.
func LoadSpec(bundleDir string) (*specs.Spec, error) {
	path := filepath.Join(bundleDir, ConfigFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s in bundle %s: pass the bundle directory with --bundle, or create it", ConfigFile, bundleDir)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	defer f.Close()
	// Read one byte more than allowed to tell "at the limit" from "over it".
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d MiB: no real spec is; check the file", ConfigFile, MaxConfigSize>>20)
	}
	spec, err := ParseSpec(data)
	if err != nil {
		return nil, err
	}
	if err := Validate(spec, bundleDir); err != nil {
		return nil, err
	}
	return spec, nil
}

// ParseSpec decodes a config.json. A syntax or type error says where in the file
// it is, by line and column.
func ParseSpec(data []byte) (*specs.Spec, error) {
	var spec specs.Spec
	err := json.Unmarshal(data, &spec)
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
		return &spec, nil
	case errors.As(err, &syntaxErr):
		line, col := position(data, syntaxErr.Offset)
		return nil, fmt.Errorf("%s: malformed JSON at line %d, column %d: %w", ConfigFile, line, col, err)
	case errors.As(err, &typeErr):
		line, col := position(data, typeErr.Offset)
		return nil, fmt.Errorf("%s: line %d, column %d: %s is a JSON %s, want %s", ConfigFile, line, col,
			typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return nil, fmt.Errorf("%s: %w", ConfigFile, err)
}

// position turns a byte offset in data, as encoding/json reports it (the offset
// after the bad byte), into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if len(data) == 0 {
		return 1, 1
	}
	offset = min(max(offset, 1), int64(len(data)))
	before := data[:offset-1]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n') - 1
	return line, col
}

// namespaceTypes are the namespaces the OCI spec defines for Linux.
var namespaceTypes = []specs.LinuxNamespaceType{
	specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
	specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace,
}

// Validate reports the first problem in spec that stops Visor from running it,
// as an error that starts with "config.json:" and says how to fix it.
func Validate(spec *specs.Spec, bundleDir string) error {
	if err := validateVersion(spec.Version); err != nil {
		return err
	}
	if err := validateRoot(spec, bundleDir); err != nil {
		return err
	}
	if err := validateProcess(spec.Process); err != nil {
		return err
	}
	if len(spec.Hostname) > MaxHostname {
		return fmt.Errorf("%s: hostname is %d bytes long: Linux allows at most %d", ConfigFile, len(spec.Hostname), MaxHostname)
	}
	if err := validateMounts(spec.Mounts, bundleDir); err != nil {
		return err
	}
	if spec.Linux != nil {
		return validateNamespaces(spec.Linux.Namespaces)
	}
	return nil
}

func validateVersion(v string) error {
	if v == "" {
		return fmt.Errorf("%s: ociVersion is missing: set it to %q", ConfigFile, specs.Version)
	}
	if !strings.HasPrefix(v, "1.") {
		return fmt.Errorf("%s: ociVersion %q is not supported: Visor runs specs of version 1.x", ConfigFile, v)
	}
	return nil
}

func validateRoot(spec *specs.Spec, bundleDir string) error {
	if spec.Root == nil || spec.Root.Path == "" {
		return fmt.Errorf("%s: root.path is missing: set it to the container's root file system, e.g. \"rootfs\"", ConfigFile)
	}
	fi, err := os.Stat(RootPath(spec, bundleDir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: root.path %q does not exist in bundle %s: create it or fix root.path", ConfigFile, spec.Root.Path, bundleDir)
	case err != nil:
		return fmt.Errorf("%s: root.path %q: %w", ConfigFile, spec.Root.Path, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: root.path %q in bundle %s is not a directory: point it at the root file system", ConfigFile, spec.Root.Path, bundleDir)
	}
	return nil
}

func validateProcess(p *specs.Process) error {
	if p == nil {
		return fmt.Errorf("%s: process is missing: set process.args to the command to run", ConfigFile)
	}
	if len(p.Args) == 0 {
		return fmt.Errorf("%s: process.args is empty: set the command to run", ConfigFile)
	}
	if p.Args[0] == "" {
		return fmt.Errorf("%s: process.args[0] is empty: set it to the program to run", ConfigFile)
	}
	if p.Cwd == "" {
		return fmt.Errorf("%s: process.cwd is missing: set it to an absolute path in the container, e.g. \"/\"", ConfigFile)
	}
	if !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("%s: process.cwd %q is not absolute: make it start with \"/\"", ConfigFile, p.Cwd)
	}
	for _, list := range []struct {
		name string
		strs []string
	}{{"process.args", p.Args}, {"process.env", p.Env}} {
		if len(list.strs) > MaxArgs {
			return fmt.Errorf("%s: %s has %d entries: at most %d are allowed", ConfigFile, list.name, len(list.strs), MaxArgs)
		}
		for i, s := range list.strs {
			if len(s) > MaxArgLen {
				return fmt.Errorf("%s: %s[%d] is %d bytes long: Linux allows at most %d", ConfigFile, list.name, i, len(s), MaxArgLen)
			}
		}
	}
	for i, kv := range p.Env {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			return fmt.Errorf("%s: process.env[%d] %q is not NAME=VALUE", ConfigFile, i, kv)
		}
	}
	if c := p.Capabilities; c != nil {
		for _, set := range []struct {
			name  string
			names []string
		}{{"bounding", c.Bounding}, {"effective", c.Effective}, {"permitted", c.Permitted}, {"inheritable", c.Inheritable}, {"ambient", c.Ambient}} {
			for i, n := range set.names {
				if _, ok := linux.CapabilityFromName(strings.ToUpper(n)); !ok {
					return fmt.Errorf("%s: process.capabilities.%s[%d]: unknown capability %q", ConfigFile, set.name, i, n)
				}
			}
		}
	}
	for i, rl := range p.Rlimits {
		if _, ok := Rlimits[rl.Type]; !ok {
			return fmt.Errorf("%s: process.rlimits[%d]: unknown type %q: use one of Linux's RLIMIT_* names", ConfigFile, i, rl.Type)
		}
		if rl.Type == "RLIMIT_NOFILE" && rl.Hard > NrOpen {
			return fmt.Errorf("%s: process.rlimits[%d] (RLIMIT_NOFILE): hard limit %d is above %d, the most open files Linux allows (fs.nr_open)", ConfigFile, i, rl.Hard, NrOpen)
		}
		if rl.Soft > rl.Hard {
			return fmt.Errorf("%s: process.rlimits[%d] (%s): soft limit %d is above hard limit %d", ConfigFile, i, rl.Type, rl.Soft, rl.Hard)
		}
	}
	return nil
}

func validateMounts(mounts []specs.Mount, bundleDir string) error {
	if len(mounts) > MaxMounts {
		return fmt.Errorf("%s: mounts has %d entries: at most %d are allowed", ConfigFile, len(mounts), MaxMounts)
	}
	for i, m := range mounts {
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("%s: mounts[%d].destination %q is not absolute: make it start with \"/\"", ConfigFile, i, m.Destination)
		}
		if slices.Contains(strings.Split(m.Destination, "/"), "..") {
			return fmt.Errorf("%s: mounts[%d].destination %q contains \"..\": name the directory without it", ConfigFile, i, m.Destination)
		}
		if !IsBindMount(m) {
			if m.Type == "" {
				return fmt.Errorf("%s: mounts[%d] (%s) has no type: set type (e.g. \"tmpfs\") or add the \"bind\" option", ConfigFile, i, m.Destination)
			}
			continue
		}
		if m.Source == "" {
			return fmt.Errorf("%s: mounts[%d] (%s) is a bind mount without a source: set source to a host path", ConfigFile, i, m.Destination)
		}
		src := MountSource(m, bundleDir)
		fi, err := os.Stat(src)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s: mounts[%d] (%s): bind mount source %q does not exist: create it or fix mounts[%d].source", ConfigFile, i, m.Destination, src, i)
		case err != nil:
			return fmt.Errorf("%s: mounts[%d] (%s): bind mount source: %w", ConfigFile, i, m.Destination, err)
		case !fi.IsDir() && !fi.Mode().IsRegular():
			// The Gofer serves a directory tree or a single regular file per
			// connection (fsgofer.New); it never opens host devices, FIFOs or
			// sockets.
			return fmt.Errorf("%s: mounts[%d] (%s): bind mount source %q is a %s: only directories and regular files can be bind-mounted", ConfigFile, i, m.Destination, src, fileKind(fi.Mode()))
		}
	}
	return nil
}

// fileKind names the type of a file that is neither a directory nor a regular file.
func fileKind(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeCharDevice != 0:
		return "character device"
	case mode&fs.ModeDevice != 0:
		return "block device"
	case mode&fs.ModeNamedPipe != 0:
		return "FIFO"
	case mode&fs.ModeSocket != 0:
		return "socket"
	}
	return "file of an unknown type"
}

func validateNamespaces(nss []specs.LinuxNamespace) error {
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range nss {
		if !slices.Contains(namespaceTypes, ns.Type) {
			return fmt.Errorf("%s: linux.namespaces[%d]: unknown namespace type %q: want one of %s", ConfigFile, i, ns.Type, joinTypes(namespaceTypes))
		}
		if seen[ns.Type] {
			return fmt.Errorf("%s: linux.namespaces[%d]: namespace %q is listed twice: remove one", ConfigFile, i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" {
			// The sandbox makes its own namespaces and the application sees only
			// the Sentry's: a host namespace to join has no meaning there yet.
			return fmt.Errorf("%s: linux.namespaces[%d]: joining an existing %s namespace (path %q) is not supported: remove the path", ConfigFile, i, ns.Type, ns.Path)
		}
	}
	return nil
}

func joinTypes(types []specs.LinuxNamespaceType) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// RootPath returns the host path of spec's root file system: root.path itself
// when absolute, else relative to bundleDir.
func RootPath(spec *specs.Spec, bundleDir string) string {
	return resolve(spec.Root.Path, bundleDir)
}

// MountSource returns the host path of a bind mount's source: relative sources are
// relative to the bundle, as runc resolves them.
func MountSource(m specs.Mount, bundleDir string) string {
	return resolve(m.Source, bundleDir)
}

func resolve(path, bundleDir string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(bundleDir, path)
}

// IsBindMount reports whether m is a bind mount: of type "bind", or with the
// "bind" or "rbind" option (Docker writes type "bind", runc's examples "none").
func IsBindMount(m specs.Mount) bool {
	return m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
}

// IsReadOnly reports whether mount options make a mount read-only: the last of
// "ro" and "rw" wins, as with mount(8); neither means read-write.
func IsReadOnly(options []string) bool {
	ro := false
	for _, o := range options {
		switch o {
		case "ro":
			ro = true
		case "rw":
			ro = false
		}
	}
	return ro
}

// ServedMount is a host directory or file the Gofer serves to the Sentry over one
// lisafs connection.
type ServedMount struct {
	// Destination is where the container sees it: "/" for the root.
	Destination string
	// Source is the absolute host path.
	Source string
	// ReadOnly makes the Gofer refuse every change.
	ReadOnly bool
}

// GoferMounts returns what the Gofer serves for spec, one lisafs connection each
// and in this order: the root first, then every bind mount in the order of
// spec.Mounts. The Sentry expects its Gofer connections in the same order.
func GoferMounts(spec *specs.Spec, bundleDir string) []ServedMount {
	served := []ServedMount{{Destination: "/", Source: RootPath(spec, bundleDir), ReadOnly: spec.Root.Readonly}}
	for _, m := range spec.Mounts {
		if IsBindMount(m) {
			served = append(served, ServedMount{
				Destination: m.Destination,
				Source:      MountSource(m, bundleDir),
				ReadOnly:    IsReadOnly(m.Options),
			})
		}
	}
	return served
}

// NrOpen is the most a process's RLIMIT_NOFILE may be: Linux's fs.nr_open
// default, which the Sentry's file tables share.
const NrOpen = 1 << 20

// Rlimits maps the spec's rlimit names to Linux resource numbers.
var Rlimits = map[string]int{
	"RLIMIT_CPU":        linux.RLIMIT_CPU,
	"RLIMIT_FSIZE":      linux.RLIMIT_FSIZE,
	"RLIMIT_DATA":       linux.RLIMIT_DATA,
	"RLIMIT_STACK":      linux.RLIMIT_STACK,
	"RLIMIT_CORE":       linux.RLIMIT_CORE,
	"RLIMIT_RSS":        linux.RLIMIT_RSS,
	"RLIMIT_NPROC":      linux.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     linux.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    linux.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         linux.RLIMIT_AS,
	"RLIMIT_LOCKS":      linux.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": linux.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   linux.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       linux.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     linux.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     linux.RLIMIT_RTTIME,
}
