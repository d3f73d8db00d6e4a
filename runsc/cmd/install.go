package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"
)

// defaultDockerConfig is where dockerd reads its configuration unless started with
// --config-file.
const defaultDockerConfig = "/etc/docker/daemon.json"

// dockerRuntime is one entry of daemon.json's "runtimes": the OCI runtime binary
// dockerd (through containerd's runc shim) runs, and the flags it puts before the
// command.
type dockerRuntime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// Install is `runsc install`: register runsc as a runtime in Docker's daemon.json.
type Install struct {
	Stdout, Stderr io.Writer
	// Path is the runsc binary the entry names; empty means this executable.
	Path string

	configFile string
	runtime    string
}

// Name implements subcommands.Command.Name.
func (*Install) Name() string { return "install" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Install) Synopsis() string { return "add runsc to Docker's runtimes (daemon.json)" }

// Usage implements subcommands.Command.Usage.
func (*Install) Usage() string {
	return `install [--config_file=PATH] [--runtime=NAME] [-- RUNSC_FLAGS...]:
	Adds {"runtimes": {NAME: {"path": RUNSC, "runtimeArgs": [RUNSC_FLAGS...]}}}
	to Docker's daemon.json, RUNSC being the absolute path of this runsc binary.
	Every other key and runtime is kept; a missing file is created; running it
	again changes nothing. The file is replaced atomically, keeping its mode and
	owner; malformed JSON is an error that leaves it untouched. Afterwards,
	reload dockerd (SIGHUP or a restart) and run
	docker run --runtime=NAME IMAGE CMD.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (i *Install) SetFlags(f *flag.FlagSet) {
	f.StringVar(&i.configFile, "config_file", defaultDockerConfig, "path to Docker's daemon.json.")
	f.StringVar(&i.runtime, "runtime", "runsc", "the runtime's name in Docker (docker run --runtime=NAME).")
}

// Execute implements subcommands.Command.Execute.
func (i *Install) Execute(_ context.Context, f *flag.FlagSet, _ ...any) subcommands.ExitStatus {
	const name = "install"
	if err := checkRuntimeName(i.runtime); err != nil {
		return usageError(i.Stderr, name, err)
	}
	path := i.Path
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return failure(i.Stderr, name, fmt.Errorf("finding the runsc binary: %w", err))
		}
		path = exe
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return failure(i.Stderr, name, err)
	}
	rt := dockerRuntime{Path: path, RuntimeArgs: f.Args()}
	changed, err := editDockerConfig(i.configFile, func(data []byte) ([]byte, bool, error) {
		return installRuntime(data, i.runtime, rt)
	})
	if err != nil {
		return failure(i.Stderr, name, err)
	}
	if !changed {
		fmt.Fprintf(i.Stdout, "runtime %q is already installed in %s\n", i.runtime, i.configFile)
		return subcommands.ExitSuccess
	}
	fmt.Fprintf(i.Stdout, "runtime %q (%s) installed in %s; reload dockerd (SIGHUP or restart) to use it\n", i.runtime, path, i.configFile)
	return subcommands.ExitSuccess
}

// Uninstall is `runsc uninstall`: remove a runtime from Docker's daemon.json.
type Uninstall struct {
	Stdout, Stderr io.Writer

	configFile string
	runtime    string
}

// Name implements subcommands.Command.Name.
func (*Uninstall) Name() string { return "uninstall" }

// Synopsis implements subcommands.Command.Synopsis.
func (*Uninstall) Synopsis() string { return "remove runsc from Docker's runtimes (daemon.json)" }

// Usage implements subcommands.Command.Usage.
func (*Uninstall) Usage() string {
	return `uninstall [--config_file=PATH] [--runtime=NAME]:
	Removes the runtime NAME from Docker's daemon.json, keeping every other key
	and runtime ("runtimes" itself goes when it is left empty). A missing file or
	runtime is nothing to do. The file is replaced atomically, keeping its mode
	and owner; malformed JSON is an error that leaves it untouched.
`
}

// SetFlags implements subcommands.Command.SetFlags.
func (u *Uninstall) SetFlags(f *flag.FlagSet) {
	f.StringVar(&u.configFile, "config_file", defaultDockerConfig, "path to Docker's daemon.json.")
	f.StringVar(&u.runtime, "runtime", "runsc", "the runtime's name in Docker.")
}

// Execute implements subcommands.Command.Execute.
func (u *Uninstall) Execute(_ context.Context, f *flag.FlagSet, _ ...any) subcommands.ExitStatus {
	const name = "uninstall"
	if f.NArg() != 0 {
		return usageError(u.Stderr, name, fmt.Errorf("unexpected arguments %q; usage: runsc uninstall [--config_file=PATH] [--runtime=NAME]", f.Args()))
	}
	if err := checkRuntimeName(u.runtime); err != nil {
		return usageError(u.Stderr, name, err)
	}
	if _, err := os.Stat(u.configFile); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(u.Stdout, "%s does not exist: nothing to do\n", u.configFile)
		return subcommands.ExitSuccess
	}
	changed, err := editDockerConfig(u.configFile, func(data []byte) ([]byte, bool, error) {
		return uninstallRuntime(data, u.runtime)
	})
	if err != nil {
		return failure(u.Stderr, name, err)
	}
	if !changed {
		fmt.Fprintf(u.Stdout, "runtime %q is not in %s: nothing to do\n", u.runtime, u.configFile)
		return subcommands.ExitSuccess
	}
	fmt.Fprintf(u.Stdout, "runtime %q removed from %s; reload dockerd (SIGHUP or restart)\n", u.runtime, u.configFile)
	return subcommands.ExitSuccess
}

// checkRuntimeName rejects names dockerd would refuse to start with.
func checkRuntimeName(name string) error {
	switch name {
	case "":
		return errors.New("--runtime must not be empty")
	case "runc":
		return errors.New(`--runtime: "runc" is reserved by Docker for its own runc`)
	}
	return nil
}

// parseDockerConfig splits daemon.json into its top-level keys and the entries of
// "runtimes", each kept as the raw JSON it was so that rewriting the file keeps
// every value we do not own exactly (numbers included). Empty or blank content is
// an empty configuration, as dockerd takes it.
func parseDockerConfig(data []byte) (map[string]json.RawMessage, map[string]json.RawMessage, error) {
	top := map[string]json.RawMessage{}
	runtimes := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) == 0 {
		return top, runtimes, nil
	}
	if err := json.Unmarshal(data, &top); err != nil {
		if _, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, nil, fmt.Errorf("malformed JSON: %w", err)
		}
		return nil, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if top == nil { // the file is "null"
		return nil, nil, errors.New("not a JSON object: null")
	}
	if raw, ok := top["runtimes"]; ok {
		if err := json.Unmarshal(raw, &runtimes); err != nil {
			return nil, nil, fmt.Errorf(`"runtimes" is not a JSON object: %w`, err)
		}
		if runtimes == nil {
			runtimes = map[string]json.RawMessage{}
		}
	}
	return top, runtimes, nil
}

// formatDockerConfig writes the configuration back, indented, runtimes included
// (or dropped when there are none).
func formatDockerConfig(top, runtimes map[string]json.RawMessage) ([]byte, error) {
	if len(runtimes) == 0 {
		delete(top, "runtimes")
	} else {
		raw, err := json.Marshal(runtimes)
		if err != nil {
			return nil, err
		}
		top["runtimes"] = raw
	}
	out, err := json.MarshalIndent(top, "", "    ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// installRuntime returns daemon.json data with the runtime name set to rt, and
// whether that changed anything (an equal entry already there does not).
func installRuntime(data []byte, name string, rt dockerRuntime) ([]byte, bool, error) {
	top, runtimes, err := parseDockerConfig(data)
	if err != nil {
		return nil, false, err
	}
	raw, err := json.Marshal(rt)
	if err != nil {
		return nil, false, err
	}
	if old, ok := runtimes[name]; ok && jsonEqual(old, raw) {
		return data, false, nil
	}
	runtimes[name] = raw
	out, err := formatDockerConfig(top, runtimes)
	return out, err == nil, err
}

// uninstallRuntime returns daemon.json data without the runtime name, and whether
// it was there.
func uninstallRuntime(data []byte, name string) ([]byte, bool, error) {
	top, runtimes, err := parseDockerConfig(data)
	if err != nil {
		return nil, false, err
	}
	if _, ok := runtimes[name]; !ok {
		return data, false, nil
	}
	delete(runtimes, name)
	out, err := formatDockerConfig(top, runtimes)
	return out, err == nil, err
}

// jsonEqual reports whether two JSON texts hold the same value, whatever their
// spacing and key order.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// editDockerConfig applies edit to the daemon.json at path (empty content if it
// does not exist) and, if edit changed it, replaces the file atomically. A symlink
// is followed, so that the file it points to is what changes.
func editDockerConfig(path string, edit func([]byte) ([]byte, bool, error)) (bool, error) {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	out, changed, err := edit(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w (file left unchanged)", path, err)
	}
	if !changed {
		return false, nil
	}
	if err := writeFileAtomic(path, out); err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return true, nil
}

// writeFileAtomic replaces path with data through a temporary file in the same
// directory renamed over it, so that a reader (or a crash) sees the old file or the
// new one, never half of it. An existing file's mode and owner are kept; a new one
// is 0644, its directory created if need be.
func writeFileAtomic(path string, data []byte) (err error) {
	perm := uint32(0o644)
	uid, gid := -1, -1
	var st unix.Stat_t
	switch serr := unix.Stat(path, &st); {
	case serr == nil:
		perm = st.Mode & 0o7777
		uid, gid = int(st.Uid), int(st.Gid)
	case errors.Is(serr, unix.ENOENT):
	default:
		return &fs.PathError{Op: "stat", Path: path, Err: serr}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	// Chmod rather than the mode at creation: the umask must not narrow it.
	if err := unix.Fchmod(int(tmp.Fd()), perm); err != nil {
		return &fs.PathError{Op: "chmod", Path: tmp.Name(), Err: err}
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		if err := tmp.Chown(uid, gid); err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
