// Package container keeps a container's state on the host, in a directory
// <root>/<id> shared by every runsc command that acts on it:
//
//	state.json     the recorded State, written atomically (tmp file + rename)
//	command.lock   flock(LOCK_EX)-ed by every command that changes the container,
//	               for its duration: concurrent commands on one container queue up
//	sandbox.lock   flock(LOCK_EX)-ed by create and inherited by the Sentry, so it
//	               is held exactly as long as the Sentry lives: the container is
//	               alive while it is held, whatever state.json says
//	owner.lock     held by a foreground `runsc run` for its whole life; a directory
//	               whose owner is gone may be reclaimed by a new container
//	exit           empty until the Sentry writes init's wait status to it
//	control.sock   the Sentry's control socket (runsc/control)
//
// The directory is made complete under a temporary name and renamed into place,
// so a command never sees a half-made container, and two creates of one ID
// cannot both win. The temporary name is claimed by a lock file beside it that
// is locked before it appears, so the leftovers of a create killed half-way are
// known for what they are at once: the next create, or a command that finds no
// container of its ID, removes them. It is removed under the command lock; a command that was
// waiting for the lock sees that its lock file is no longer the container's and
// reports that the container does not exist.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/runsc/cgroup"
)

// Names of the files in a container's state directory.
const (
	StateFile       = "state.json"
	CommandLockFile = "command.lock"
	SandboxLockFile = "sandbox.lock"
	OwnerLockFile   = "owner.lock"
	ExitFile        = "exit"
)

// Status is where a container is in its life.
type Status string

// The statuses of a container. Creating is only ever recorded; Stopped is only
// ever reported (when the Sentry is gone).
const (
	// Creating: the ID is claimed and the sandbox is being started.
	Creating Status = "creating"
	// Created: the Sentry is ready; the container's process waits for start.
	Created Status = "created"
	// Running: the container's process was started.
	Running Status = "running"
	// Paused: every task in the sandbox is stopped.
	Paused Status = "paused"
	// Stopped: the Sentry has exited.
	Stopped Status = "stopped"
)

// State is the content of state.json.
type State struct {
	ID     string `json:"id"`
	Bundle string `json:"bundle"`
	// Status is the recorded status; see Container.Status for the live one.
	Status Status `json:"status"`
	// Pid is the host PID of the Sentry, GoferPid the Gofer's; 0 before they start.
	Pid      int `json:"pid"`
	GoferPid int `json:"goferPid,omitempty"`
	// SentryStart and GoferStart are the processes' start times (clock ticks after
	// boot, /proc/PID/stat's starttime): with the PID, they name a process that no
	// recycled PID can be mistaken for.
	SentryStart uint64    `json:"sentryStart,omitempty"`
	GoferStart  uint64    `json:"goferStart,omitempty"`
	Created     time.Time `json:"created"`
	// Owner is the user that created the container.
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Foreground marks a container of `runsc run`, owned by that process.
	Foreground bool `json:"foreground,omitempty"`
	// Cgroup is the sandbox's host cgroup; nil when it has none (rootless
	// without cgroup access).
	Cgroup *cgroup.State `json:"cgroup,omitempty"`
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

// NotExistError says that there is no container with the ID.
type NotExistError struct{ ID string }

func (e *NotExistError) Error() string { return fmt.Sprintf("container %q does not exist", e.ID) }

// Container is a container this process has loaded. While Locked, it holds the
// command lock.
type Container struct {
	// Dir is the container's state directory.
	Dir     string
	cmdLock *os.File // command.lock, flock(LOCK_EX)-ed while non-nil
	owner   *os.File // owner.lock, held by a foreground owner
	state   State
}

// CreateArgs describe a container to create.
type CreateArgs struct {
	ID, Bundle  string
	Annotations map[string]string
	// Foreground: the calling process owns the container for its whole life
	// (runsc run); if it dies, a new container may take the ID.
	Foreground bool
}

// Create claims args.ID under rootDir, records the container as Creating and
// returns it locked. It fails if the ID is taken: by any container, even a
// stopped one that was not deleted, except one whose foreground owner or
// creator died (that one is reclaimed).
func Create(rootDir string, args CreateArgs) (*Container, error) {
	if err := ValidateID(args.ID); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(rootDir, 0o711); err != nil {
		return nil, fmt.Errorf("creating state root: %w", err)
	}
	sweepNew(rootDir)
	lock, tmp, err := claimName(rootDir, args.ID)
	if err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	c := &Container{Dir: tmp, cmdLock: lock}
	fail := func(err error) (*Container, error) {
		// The directory goes before its claim: a directory with no claim
		// beside it could not be told from one still being made.
		c.owner.Close()
		os.RemoveAll(tmp)
		os.Remove(tmp + claimSuffix)
		c.Unlock()
		return nil, err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fail(fmt.Errorf("creating state directory: %w", err))
	}
	// The claim's inode is the command lock too: it is held from the moment
	// the directory is made until create is done.
	if err := linkFile(lock, filepath.Join(tmp, CommandLockFile)); err != nil {
		return fail(fmt.Errorf("creating state directory: %w", err))
	}
	if args.Foreground {
		if c.owner, err = lockFile(filepath.Join(tmp, OwnerLockFile), unix.LOCK_EX); err != nil {
			return fail(err)
		}
	}
	for _, name := range []string{SandboxLockFile, ExitFile} {
		if err := os.WriteFile(filepath.Join(tmp, name), nil, 0o600); err != nil {
			return fail(fmt.Errorf("creating state directory: %w", err))
		}
	}
	c.state = State{
		ID: args.ID, Bundle: args.Bundle, Status: Creating, Created: time.Now().UTC(),
		Owner: currentUser(), Annotations: args.Annotations, Foreground: args.Foreground,
	}
	if err := c.save(); err != nil {
		return fail(err)
	}
	dir := filepath.Join(rootDir, args.ID)
	for attempt := 0; ; attempt++ {
		err := os.Rename(tmp, dir)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
			return fail(fmt.Errorf("creating state directory: %w", err))
		}
		if attempt > 0 || !reclaim(dir) {
			return fail(existsError(dir, args.ID))
		}
	}
	c.Dir = dir
	os.Remove(tmp + claimSuffix)
	return c, nil
}

// newPrefix starts the names of container directories still being made, and
// claimSuffix ends the name of the claim beside each: <root>/.new-ID-N is made
// only once <root>/.new-ID-N.lock exists, and that file appears already locked
// by its create (an O_TMPFILE locked, then linked). So a claim whose lock is
// free belongs to a create that died, at once, with no grace period.
const (
	newPrefix   = ".new-"
	claimSuffix = ".lock"
)

// sweepAge is how old a claim made without O_TMPFILE, or a half-made directory
// with no claim beside it (from a runsc before claims), must be before a sweep
// takes it: such files exist a moment before they are locked, and until then a
// free lock does not mean a dead create.
const sweepAge = time.Minute

// claimName reserves a name <root>/.new-ID-N for the directory of a container
// being made, by creating its claim <root>/.new-ID-N.lock, locked. It returns
// the claim, whose lock lasts as long as the file stays open, and the name.
func claimName(rootDir, id string) (*os.File, string, error) {
	f, err := os.OpenFile(rootDir, unix.O_TMPFILE|os.O_RDWR, 0o600)
	if err != nil {
		// A filesystem without O_TMPFILE: a named file, locked an instant
		// after it appears; mode 0 says so to a sweep until it is.
		return claimNamed(rootDir, id)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("locking the claim: %w", err)
	}
	for {
		name := filepath.Join(rootDir, newPrefix+id+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		err := linkFile(f, name+claimSuffix)
		if err == nil {
			return f, name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			f.Close()
			return nil, "", err
		}
	}
}

// claimNamed is claimName where O_TMPFILE does not work.
func claimNamed(rootDir, id string) (*os.File, string, error) {
	for {
		name := filepath.Join(rootDir, newPrefix+id+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name+claimSuffix, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0)
		if errors.Is(err, fs.ErrExist) {
			continue
		} else if err != nil {
			return nil, "", fmt.Errorf("claiming a name: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err == nil {
			err = f.Chmod(0o600)
		}
		if err != nil {
			os.Remove(f.Name())
			f.Close()
			return nil, "", fmt.Errorf("locking the claim: %w", err)
		}
		return f, name, nil
	}
}

// linkFile gives the open file f (even an O_TMPFILE) the name path.
func linkFile(f *os.File, path string) error {
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if err != nil {
		return &fs.PathError{Op: "link", Path: path, Err: err}
	}
	return nil
}

// sweepNew removes what creates that died left under rootDir while making a
// container's directory: each claim whose lock is free, with its directory.
func sweepNew(rootDir string) {
	entries, _ := os.ReadDir(rootDir)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, newPrefix) {
			continue
		}
		dir := filepath.Join(rootDir, name)
		if claim, ok := strings.CutSuffix(dir, claimSuffix); ok {
			sweepClaim(claim)
		} else if _, err := os.Lstat(dir + claimSuffix); errors.Is(err, fs.ErrNotExist) {
			sweepUnclaimed(dir)
		}
	}
}

// sweepClaim removes the claim dir.lock and the directory dir if the create
// that made them is gone.
func sweepClaim(dir string) {
	path := dir + claimSuffix
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if fi.Mode().Perm() == 0 {
		// Not locked yet (claimNamed), or never will be.
		if time.Since(fi.ModTime()) >= sweepAge {
			os.RemoveAll(dir)
			os.Remove(path)
		}
		return
	}
	lock, err := os.Open(path)
	if err != nil {
		return
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return
	}
	// Another sweep may have removed this claim meanwhile, and a new create
	// claimed the name again: only the claim this locked is dead.
	var held, now unix.Stat_t
	if unix.Fstat(int(lock.Fd()), &held) != nil || unix.Stat(path, &now) != nil ||
		held.Ino != now.Ino || held.Dev != now.Dev {
		return
	}
	// The directory first, so that none is ever left without its claim.
	if os.RemoveAll(dir) == nil {
		os.Remove(path)
	}
}

// sweepUnclaimed removes the half-made directory dir, which has no claim beside
// it, if it is old and its command lock is free.
func sweepUnclaimed(dir string) {
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < sweepAge {
		return
	}
	lock, err := os.OpenFile(filepath.Join(dir, CommandLockFile), os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer lock.Close()
	if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		os.RemoveAll(dir)
	}
}

// currentUser names the calling user, as runc's state does: its name in
// /etc/passwd, else its UID. (Not os/user: with cgo it would link the C
// library in, and runsc must stay a static Go binary.)
func currentUser() string {
	uid := strconv.Itoa(os.Getuid())
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return uid
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if fields := strings.Split(line, ":"); len(fields) > 2 && fields[2] == uid {
			return fields[0]
		}
	}
	return uid
}

// existsError explains that the container in dir takes id.
func existsError(dir, id string) error {
	c := &Container{Dir: dir}
	if err := c.load(); err != nil {
		return fmt.Errorf("container %q already exists: pick another ID, or delete it", id)
	}
	status := c.Status()
	if status == Stopped {
		return fmt.Errorf("container %q already exists (stopped): delete it first, or pick another ID", id)
	}
	if c.state.Pid == 0 {
		return fmt.Errorf("container %q already exists and is %s: pick another ID", id, status)
	}
	return fmt.Errorf("container %q already exists and is %s (pid %d): pick another ID", id, status, c.state.Pid)
}

// reclaim removes the container directory dir if nothing owns it any more: its
// Sentry is gone, and so is the foreground process that ran it or the create
// that never finished it. It reports whether dir is gone.
func reclaim(dir string) bool {
	cmd, err := lockFile(filepath.Join(dir, CommandLockFile), unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		return false
	}
	defer cmd.Close()
	c := &Container{Dir: dir}
	if err := c.load(); err != nil || c.alive() {
		return false
	}
	if c.state.Status != Creating && !c.state.Foreground {
		return false // stopped, and someone may still want its exit status
	}
	if c.state.Foreground {
		owner, err := lockFile(filepath.Join(dir, OwnerLockFile), unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			return false
		}
		owner.Close()
	}
	if c.destroyCgroup() != nil {
		return false
	}
	return os.RemoveAll(dir) == nil
}

// lockFile opens (creating it) and flocks the file at path with how.
func lockFile(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", filepath.Base(path), err)
	}
	return f, nil
}

// Load returns the container id under rootDir, locked: it waits for any
// command running on it to finish first.
func Load(rootDir, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(rootDir, id)
	for {
		f, err := os.OpenFile(filepath.Join(dir, CommandLockFile), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			// A create of id killed before it was done may have left a
			// half-made directory: `delete ID` must not leave it behind.
			sweepNew(rootDir)
			return nil, &NotExistError{ID: id}
		} else if err != nil {
			return nil, fmt.Errorf("opening lock: %w", err)
		}
		for {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking container %q: %w", id, err)
		}
		// The container may have been deleted, and perhaps created anew, while
		// this waited: the lock counts only if its file is still the container's.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(f.Name(), &now) != nil ||
			held.Ino != now.Ino || held.Dev != now.Dev {
			f.Close()
			continue
		}
		c := &Container{Dir: dir, cmdLock: f}
		if err := c.load(); err != nil {
			c.Unlock()
			return nil, err
		}
		return c, nil
	}
}

// Peek returns the container id under rootDir without locking it: for commands
// that only look.
func Peek(rootDir, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	c := &Container{Dir: filepath.Join(rootDir, id)}
	if err := c.load(); errors.Is(err, fs.ErrNotExist) {
		return nil, &NotExistError{ID: id}
	} else if err != nil {
		return nil, err
	}
	return c, nil
}

// List returns the IDs of the containers under rootDir, sorted.
func List(rootDir string) ([]string, error) {
	entries, err := os.ReadDir(rootDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading state root: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// load reads state.json.
func (c *Container) load() error {
	data, err := os.ReadFile(filepath.Join(c.Dir, StateFile))
	if err != nil {
		return fmt.Errorf("reading state: %w", err)
	}
	if err := json.Unmarshal(data, &c.state); err != nil {
		return fmt.Errorf("reading state %s: %w", filepath.Join(c.Dir, StateFile), err)
	}
	return nil
}

// Unlock releases the command lock, if held.
func (c *Container) Unlock() {
	if c.cmdLock != nil {
		c.cmdLock.Close()
		c.cmdLock = nil
	}
}

// Relock takes the command lock again after Unlock. It fails with a
// *NotExistError if the container was deleted meanwhile.
func (c *Container) Relock() error {
	n, err := Load(filepath.Dir(c.Dir), c.state.ID)
	if err != nil {
		return err
	}
	c.cmdLock, c.state = n.cmdLock, n.state
	return nil
}

// State returns the container's recorded state.
func (c *Container) State() State { return c.state }

// ID returns the container's ID.
func (c *Container) ID() string { return c.state.ID }

// Status returns the container's live status: the recorded one, unless the
// Sentry is gone (Stopped).
func (c *Container) Status() Status {
	if c.state.Status == Stopped || !c.alive() {
		if c.state.Status == Creating && c.cmdLockHeldElsewhere() {
			return Creating
		}
		return Stopped
	}
	return c.state.Status
}

// cmdLockHeldElsewhere reports whether another process holds the command lock:
// for a container being created, its creator.
func (c *Container) cmdLockHeldElsewhere() bool {
	if c.cmdLock != nil {
		return false
	}
	return lockHeld(filepath.Join(c.Dir, CommandLockFile))
}

// alive reports whether the Sentry lives: whether the sandbox lock is held.
func (c *Container) alive() bool {
	return lockHeld(filepath.Join(c.Dir, SandboxLockFile))
}

// WaitStopped waits up to timeout for the Sentry to be gone, and reports
// whether it is.
func (c *Container) WaitStopped(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for c.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// lockHeld reports whether some process holds an exclusive flock on path.
func lockHeld(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK)
}

// SandboxLock opens the sandbox lock and takes it: the file to hand to the
// Sentry, which holds the lock for as long as it lives.
func (c *Container) SandboxLock() (*os.File, error) {
	return lockFile(filepath.Join(c.Dir, SandboxLockFile), unix.LOCK_EX|unix.LOCK_NB)
}

// OpenExitFile opens the exit file for the Sentry to write init's status to.
func (c *Container) OpenExitFile() (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(c.Dir, ExitFile), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening exit file: %w", err)
	}
	return f, nil
}

// ExitStatus returns the wait status of init that the Sentry wrote, and
// whether it wrote one (a Sentry killed outright writes none).
func (c *Container) ExitStatus() (linux.WaitStatus, bool) {
	data, err := os.ReadFile(filepath.Join(c.Dir, ExitFile))
	if err != nil {
		return 0, false
	}
	ws, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 32)
	if err != nil {
		return 0, false
	}
	return linux.WaitStatus(ws), true
}

// SetProcesses records the sandbox's processes, as soon as they start: a
// creator that dies before the sandbox is ready leaves them for delete to find.
func (c *Container) SetProcesses(sentry, gofer Process) error {
	c.state.Pid, c.state.SentryStart = sentry.Pid, sentry.Start
	c.state.GoferPid, c.state.GoferStart = gofer.Pid, gofer.Start
	return c.save()
}

// SetCgroup records the sandbox's cgroup, for delete to remove.
func (c *Container) SetCgroup(st cgroup.State) error {
	c.state.Cgroup = &st
	return c.save()
}

// ClearCgroup records that the sandbox has no cgroup: the one SetCgroup
// recorded while it was being made could not be made.
func (c *Container) ClearCgroup() error {
	c.state.Cgroup = nil
	return c.save()
}

// destroyCgroup removes the sandbox's cgroup, if it has one. Its processes
// must be gone (or going: Destroy waits a moment for the cgroup to empty).
func (c *Container) destroyCgroup() error {
	if c.state.Cgroup == nil {
		return nil
	}
	cg, err := cgroup.Load(*c.state.Cgroup)
	if err == nil {
		err = cg.Destroy()
	}
	if err != nil {
		return fmt.Errorf("removing the sandbox's cgroup %s: %w", c.state.Cgroup.Path, err)
	}
	return nil
}

// SetStatus records status.
func (c *Container) SetStatus(status Status) error {
	c.state.Status = status
	return c.save()
}

// Sentry returns the Sentry's process, as recorded.
func (c *Container) Sentry() Process { return Process{Pid: c.state.Pid, Start: c.state.SentryStart} }

// Gofer returns the Gofer's process, as recorded.
func (c *Container) Gofer() Process { return Process{Pid: c.state.GoferPid, Start: c.state.GoferStart} }

// save writes state.json atomically: readers see the old state or the new one.
func (c *Container) save() error {
	data, err := json.Marshal(c.state)
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	tmp := filepath.Join(c.Dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(c.Dir, StateFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// Destroy removes the container's state directory and releases its locks.
// The caller holds the command lock, so no other command acts meanwhile.
func (c *Container) Destroy() error {
	// The cgroup first: a state directory that stays behind when it cannot be
	// removed lets a later delete try again.
	if err := c.destroyCgroup(); err != nil {
		c.Unlock()
		c.owner.Close()
		return err
	}
	err := os.RemoveAll(c.Dir)
	c.Unlock()
	c.owner.Close()
	if err != nil {
		return fmt.Errorf("removing state directory: %w", err)
	}
	return nil
}
