// Package container keeps a container's state on the host: a directory
// <root>/<id> holding state.json, created when the container starts and removed
// when it ends, so that other runsc commands (and a second `runsc run` with the
// same ID) can see it.
//
// For now this is what `runsc run` needs: claim an ID, record the sandbox's PID,
// release the ID. The OCI lifecycle (create, start, state, kill, delete) will
// build on it.
//
// The process that owns a container holds an exclusive flock(2) on its directory
// for as long as it runs. The lock, not the file's contents, says whether the
// container is alive: it is released by the kernel however its owner dies, so a
// directory left behind by a killed runsc is recognised as stale and reclaimed.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"golang.org/x/sys/unix"
)

// StateFile is the name of the state file in a container's directory.
const StateFile = "state.json"

// Status is where a container is in its life.
type Status string

// The statuses runsc records.
const (
	// Creating: the ID is claimed and the sandbox is being started.
	Creating Status = "creating"
	// Running: the sandbox runs the container.
	Running Status = "running"
)

// State is the content of state.json.
type State struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	Status Status `json:"status"`
	// Pid is the host PID of the sandbox (the Sentry); 0 before it starts.
	Pid     int       `json:"pid"`
	Created time.Time `json:"created"`
}

// validID is what runc accepts as a container ID; it keeps IDs usable as a
// single path component.
var validID = regexp.MustCompile(`^[\w+.-]+$`)

// ValidateID reports whether id can name a container.
func ValidateID(id string) error {
	if !validID.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("invalid container ID %q: use letters, digits and \"_+.-\"", id)
	}
	return nil
}

// Container is a container this process owns: its state directory is locked.
type Container struct {
	dir   string
	lock  *os.File // the state directory, flock(LOCK_EX)-ed
	state State
}

// Create claims id under rootDir for a container of bundle and records it as
// Creating. It fails if a live process owns id already; a directory left by a
// dead one is reclaimed.
func Create(rootDir, id, bundle string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(rootDir, 0o711); err != nil {
		return nil, fmt.Errorf("creating state root: %w", err)
	}
	dir := filepath.Join(rootDir, id)
	created := true
	if err := os.Mkdir(dir, 0o711); errors.Is(err, fs.ErrExist) {
		created = false
	} else if err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	c, err := lock(dir, id)
	if err != nil {
		if created {
			os.Remove(dir)
		}
		return nil, err
	}
	c.state = State{ID: id, Bundle: bundle, Status: Creating, Created: time.Now().UTC()}
	if err := c.save(); err != nil {
		c.Destroy()
		return nil, err
	}
	return c, nil
}

// lock opens and locks a container's directory.
func lock(dir, id string) (*Container, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("opening state directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("container %q already exists and is running%s: pick another ID", id, describe(dir))
		}
		return nil, fmt.Errorf("locking state directory: %w", err)
	}
	return &Container{dir: dir, lock: f}, nil
}

// describe returns " (pid N)" for the container in dir when its state says.
func describe(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	var s State
	if err != nil || json.Unmarshal(data, &s) != nil || s.Pid == 0 {
		return ""
	}
	return fmt.Sprintf(" (pid %d)", s.Pid)
}

// State returns the container's recorded state.
func (c *Container) State() State { return c.state }

// SetRunning records that the sandbox with host PID pid runs the container.
func (c *Container) SetRunning(pid int) error {
	c.state.Pid, c.state.Status = pid, Running
	return c.save()
}

// save writes state.json atomically: readers see the old state or the new one.
func (c *Container) save() error {
	data, err := json.Marshal(c.state)
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	tmp := filepath.Join(c.dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.dir, StateFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// Destroy removes the container's state directory and releases the ID. Removal
// happens under the lock, so no other process can have reclaimed it meanwhile.
func (c *Container) Destroy() error {
	err := os.RemoveAll(c.dir)
	c.lock.Close() // releases the flock
	if err != nil {
		return fmt.Errorf("removing state directory: %w", err)
	}
	return nil
}
