package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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

func TestLifecycle(t *testing.T) {
	root := filepath.Join(t.TempDir(), "state") // Create makes it
	c, err := Create(root, "c1", "/bundle")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	ignoreTime := cmpopts.IgnoreFields(State{}, "Created")
	want := State{ID: "c1", Bundle: "/bundle", Status: Creating}
	if diff := cmp.Diff(want, readState(t, root, "c1"), ignoreTime); diff != "" {
		t.Errorf("state after Create (-want +got):\n%s", diff)
	}

	if err := c.SetRunning(1234); err != nil {
		t.Fatalf("SetRunning: %v", err)
	}
	want.Status, want.Pid = Running, 1234
	if diff := cmp.Diff(want, readState(t, root, "c1"), ignoreTime); diff != "" {
		t.Errorf("state after SetRunning (-want +got):\n%s", diff)
	}

	// While c lives, the ID is taken.
	_, err = Create(root, "c1", "/other")
	if want := `container "c1" already exists and is running (pid 1234): pick another ID`; err == nil || err.Error() != want {
		t.Errorf("second Create: got error %v, want %s", err, want)
	}
	if got := readState(t, root, "c1"); got.Bundle != "/bundle" {
		t.Errorf("a refused Create changed the state: %+v", got)
	}

	if err := c.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("root not empty after Destroy: %v", entries)
	}

	// Once released, the ID can be used again.
	c, err = Create(root, "c1", "/other")
	if err != nil {
		t.Fatalf("Create after Destroy: %v", err)
	}
	c.Destroy()
}

func TestStaleStateIsReclaimed(t *testing.T) {
	root := t.TempDir()
	// What a killed runsc leaves: a directory and state, but no lock.
	if err := os.Mkdir(filepath.Join(root, "c1"), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "c1", StateFile), []byte(`{"id":"c1","pid":99999999,"status":"running"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Create(root, "c1", "/bundle")
	if err != nil {
		t.Fatalf("Create over stale state: %v", err)
	}
	defer c.Destroy()
	if got := readState(t, root, "c1"); got.Status != Creating || got.Pid != 0 || got.Bundle != "/bundle" {
		t.Errorf("state not replaced: %+v", got)
	}
}

func TestInvalidIDs(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", "x\x00"} {
		if c, err := Create(root, id, "/bundle"); err == nil {
			c.Destroy()
			t.Errorf("Create(%q) succeeded", id)
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
