package container

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
)

func readState(t *testing.T, root, id string) State {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, id, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("state.json: %v", err)
	}
	return s
}

// startSleeper starts a process that stands in for a Sentry, and returns it.
func startSleeper(t *testing.T) Process {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	p, err := ProcessOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLifecycle(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state") // Create makes it
	c, err := Create(root, CreateArgs{ID: "c1", Bundle: "/bundle", Annotations: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	ignore := cmpopts.IgnoreFields(State{}, "Created", "Owner")
	want := State{ID: "c1", Bundle: "/bundle", Status: Creating, Annotations: map[string]string{"a": "b"}}
	if diff := cmp.Diff(want, readState(t, root, "c1"), ignore); diff != "" {
		t.Errorf("state after Create (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(c.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v, %v; want mode 0700", fi, err)
	}

	// The Sentry holds the sandbox lock for as long as it lives.
	lock, err := c.SandboxLock()
	if err != nil {
		t.Fatalf("SandboxLock: %v", err)
	}
	sentry := startSleeper(t)
	if err := c.SetProcesses(sentry, Process{}); err != nil {
		t.Fatalf("SetProcesses: %v", err)
	}
	if err := c.SetStatus(Created); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
	want.Status, want.Pid, want.SentryStart = Created, sentry.Pid, sentry.Start
	if diff := cmp.Diff(want, readState(t, root, "c1"), ignore); diff != "" {
		t.Errorf("state after SetProcesses and SetStatus (-want +got):\n%s", diff)
	}
	c.Unlock()

	// While the Sentry lives, the ID is taken.
	if _, err := Create(root, CreateArgs{ID: "c1", Bundle: "/other"}); err == nil ||
		!strings.Contains(err.Error(), `container "c1" already exists and is created`) {
		t.Errorf("second Create: got error %v, want one saying it exists", err)
	}
	if got := readState(t, root, "c1"); got.Bundle != "/bundle" {
		t.Errorf("a refused Create changed the state: %+v", got)
	}
	if got, err := Peek(root, "c1"); err != nil || got.Status() != Created {
		t.Errorf("Peek: %v; status %v, want created", err, got.Status())
	}

	// Once the Sentry has gone the container is stopped, but not gone.
	lock.Close()
	c, err = Load(root, "c1")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := c.Status(); got != Stopped {
		t.Errorf("status with the sandbox lock free: %v, want stopped", got)
	}
	if _, ok := c.ExitStatus(); ok {
		t.Errorf("ExitStatus of an empty exit file says there is one")
	}
	if err := os.WriteFile(filepath.Join(c.Dir, ExitFile), []byte("768\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ws, ok := c.ExitStatus(); !ok || ws != linux.WaitStatusExit(3) {
		t.Errorf("ExitStatus = %#x, %v; want exit 3", ws, ok)
	}
	if _, err := Create(root, CreateArgs{ID: "c1", Bundle: "/other"}); err == nil ||
		!strings.Contains(err.Error(), "already exists (stopped): delete it first") {
		t.Errorf("Create over a stopped container: got error %v, want one saying to delete it", err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("root not empty after Destroy: %v", entries)
	}
	if _, err := Load(root, "c1"); !isNotExist(err) {
		t.Errorf("Load after Destroy: %v, want a NotExistError", err)
	}

	// Once deleted, the ID can be used again.
	c, err = Create(root, CreateArgs{ID: "c1", Bundle: "/other"})
	if err != nil {
		t.Fatalf("Create after Destroy: %v", err)
	}
	c.Destroy()
}

func isNotExist(err error) bool {
	_, ok := errors.AsType[*NotExistError](err)
	return ok
}

// TestReclaim checks which leftover directories a new container may take over:
// those nobody can want any more.
func TestReclaim(t *testing.T) {
	for _, tc := range []struct {
		name      string
		state     State
		holdOwner bool // a live foreground runsc owns it
		reclaimed bool
	}{
		{"creator died", State{Status: Creating}, false, true},
		{"foreground owner died", State{Status: Running, Foreground: true}, false, true},
		{"foreground owner lives", State{Status: Running, Foreground: true}, true, false},
		{"stopped, not deleted", State{Status: Running}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "c1")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			tc.state.ID = "c1"
			data, _ := json.Marshal(tc.state)
			if err := os.WriteFile(filepath.Join(dir, StateFile), data, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.holdOwner {
				owner, err := lockFile(filepath.Join(dir, OwnerLockFile), unix.LOCK_EX)
				if err != nil {
					t.Fatal(err)
				}
				defer owner.Close()
			}
			c, err := Create(root, CreateArgs{ID: "c1", Bundle: "/new"})
			if !tc.reclaimed {
				if err == nil {
					c.Destroy()
					t.Fatal("Create took over the directory")
				}
				if got := readState(t, root, "c1"); got.Bundle != "" {
					t.Errorf("state replaced: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			defer c.Destroy()
			if got := readState(t, root, "c1"); got.Status != Creating || got.Bundle != "/new" {
				t.Errorf("state not replaced: %+v", got)
			}
		})
	}
}

func TestInvalidIDs(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", "x\x00"} {
		if c, err := Create(root, CreateArgs{ID: id}); err == nil {
			c.Destroy()
			t.Errorf("Create(%q) succeeded", id)
		}
		if _, err := Load(root, id); err == nil || isNotExist(err) {
			t.Errorf("Load(%q) = %v, want an invalid ID error", id, err)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("invalid IDs left %v", entries)
	}
	for _, id := range []string{"a", "my-container_1.2+x", "0123456789abcdef"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q): %v", id, err)
		}
	}
}

// TestConcurrentCreate races creates of one ID: exactly one wins, and the
// others leave nothing behind.
func TestConcurrentCreate(t *testing.T) {
	root := t.TempDir()
	const n = 8
	var wg sync.WaitGroup
	results := make(chan *Container, n)
	for range n {
		wg.Go(func() {
			c, err := Create(root, CreateArgs{ID: "c1", Bundle: "/b"})
			if err == nil {
				results <- c
			}
		})
	}
	wg.Wait()
	close(results)
	var won []*Container
	for c := range results {
		won = append(won, c)
	}
	if len(won) != 1 {
		t.Fatalf("%d creates of one ID succeeded, want 1", len(won))
	}
	if ids, err := List(root); err != nil || len(ids) != 1 {
		t.Errorf("List = %v, %v; want [c1]", ids, err)
	}
	won[0].Destroy()
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("root not empty: %v", entries)
	}
}

// TestLoadWaitsForCommandLock checks that a command waiting for the lock of a
// container that is deleted meanwhile learns that it does not exist.
func TestLoadWaitsForCommandLock(t *testing.T) {
	root := t.TempDir()
	c, err := Create(root, CreateArgs{ID: "c1", Bundle: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load(root, "c1")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Load returned while the lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	c.Destroy()
	if err := <-done; !isNotExist(err) {
		t.Errorf("Load after Destroy = %v, want a NotExistError", err)
	}
}

func TestProcess(t *testing.T) {
	p := startSleeper(t)
	if fd, err := p.Pidfd(); err != nil {
		t.Errorf("Pidfd of a live process: %v", err)
	} else {
		unix.Close(fd)
	}
	// The same PID with another start time is another process.
	other := Process{Pid: p.Pid, Start: p.Start + 1}
	if _, err := other.Pidfd(); !errors.Is(err, ErrGone) {
		t.Errorf("Pidfd of a recycled PID: %v, want ErrGone", err)
	}
	if err := other.Signal(9); err != nil {
		t.Errorf("Signal of a recycled PID: %v, want nothing done", err)
	}
	if err := p.KillAndWait(5 * time.Second); err != nil {
		t.Errorf("KillAndWait: %v", err)
	}
}

// TestSweepNew checks that the leftovers of a create killed half-way are
// removed at once, and those of one still at work are not.
func TestSweepNew(t *testing.T) {
	old := time.Now().Add(-2 * sweepAge)
	for _, tc := range []struct {
		name string
		// claim: the claim file's mode, or -1 for none.
		claim     int
		claimHeld bool
		// dir: the half-made directory exists; lock: with a command.lock.
		dir, lock, lockHeld, isOld bool
		swept                      bool
	}{
		{name: "dead create", claim: 0o600, dir: true, lock: true, swept: true},
		{name: "dead create, no directory yet", claim: 0o600, swept: true},
		{name: "live create", claim: 0o600, claimHeld: true, dir: true, lock: true},
		{name: "named claim not locked yet", claim: 0, dir: false},
		{name: "named claim never locked", claim: 0, isOld: true, swept: true},
		{name: "unclaimed dead", claim: -1, dir: true, lock: true, isOld: true, swept: true},
		{name: "unclaimed young", claim: -1, dir: true, lock: true},
		{name: "unclaimed without lock", claim: -1, dir: true, isOld: true},
		{name: "unclaimed held", claim: -1, dir: true, lock: true, lockHeld: true, isOld: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, newPrefix+"c1-123")
			if tc.claim >= 0 {
				if err := os.WriteFile(dir+claimSuffix, nil, os.FileMode(tc.claim)); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir+claimSuffix, os.FileMode(tc.claim)); err != nil {
					t.Fatal(err)
				}
				if tc.claimHeld {
					f, err := lockFile(dir+claimSuffix, unix.LOCK_EX)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
				}
			}
			if tc.dir {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if tc.lock {
				f, err := lockFile(filepath.Join(dir, CommandLockFile), unix.LOCK_SH)
				if err != nil {
					t.Fatal(err)
				}
				if tc.lockHeld {
					defer f.Close()
				} else {
					f.Close()
				}
			}
			if tc.isOld {
				for _, p := range []string{dir, dir + claimSuffix} {
					if err := os.Chtimes(p, old, old); err != nil && !errors.Is(err, os.ErrNotExist) {
						t.Fatal(err)
					}
				}
			}
			// Both a create and a command that finds no container sweep.
			if _, err := Load(root, "c2"); !errors.As(err, new(*NotExistError)) {
				t.Fatalf("Load of an unknown ID: %v", err)
			}
			entries, err := os.ReadDir(root)
			if err != nil {
				t.Fatal(err)
			}
			if swept := len(entries) == 0; swept != tc.swept {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("after the sweep %q are left; want swept %v", names, tc.swept)
			}
		})
	}
}

// TestCreateLeavesNoClaim checks that a create, done or failed, leaves nothing
// beside the container's directory.
func TestCreateLeavesNoClaim(t *testing.T) {
	root := t.TempDir()
	c, err := Create(root, CreateArgs{ID: "c1", Bundle: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	// Taken: this create fails and must clean up its own claim.
	if _, err := Create(root, CreateArgs{ID: "c1", Bundle: "/b"}); err == nil {
		t.Fatal("a second create of c1 succeeded")
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "c1" {
		t.Errorf("root holds %v, want c1 alone", entries)
	}
	// The claim's lock is the command lock: held until Unlock.
	if !lockHeld(filepath.Join(root, "c1", CommandLockFile)) {
		t.Error("the created container's command lock is free")
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("root holds %v after Destroy", entries)
	}
}

// TestClaimName checks both ways of claiming a name: each claim is a regular
// file named after the ID, mode 0600 and locked while it is open.
func TestClaimName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		claim func(rootDir, id string) (*os.File, string, error)
	}{
		{"O_TMPFILE", claimName},
		{"named", claimNamed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			f, dir, err := tc.claim(root, "c1")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if !strings.HasPrefix(filepath.Base(dir), newPrefix+"c1-") || filepath.Dir(dir) != root {
				t.Errorf("claimed %s, want %s/%sc1-N", dir, root, newPrefix)
			}
			fi, err := os.Lstat(dir + claimSuffix)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
				t.Errorf("claim mode %v, want a regular file, 0600", fi.Mode())
			}
			if !lockHeld(dir + claimSuffix) {
				t.Error("the claim is not locked")
			}
			sweepNew(root)
			if _, err := os.Lstat(dir + claimSuffix); err != nil {
				t.Errorf("a live claim was swept: %v", err)
			}
			f.Close()
			sweepNew(root)
			if _, err := os.Lstat(dir + claimSuffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a dead claim was not swept: %v", err)
			}
		})
	}
}
