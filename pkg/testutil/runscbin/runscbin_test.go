package runscbin

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPrebuilt(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "ws", "runsc", "runsc_", "runsc")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_SRCDIR", dir)
	t.Setenv("TEST_WORKSPACE", "ws")

	t.Setenv(Env, "runsc/runsc_/runsc")
	if got, err := Path(t.TempDir()); err != nil || got != bin {
		t.Errorf("Path with a relative $%s = %q, %v; want %q", Env, got, err, bin)
	}
	t.Setenv(Env, bin)
	if got, err := Path(t.TempDir()); err != nil || got != bin {
		t.Errorf("Path with an absolute $%s = %q, %v; want %q", Env, got, err, bin)
	}
	t.Setenv(Env, "runsc/none")
	if got, err := Path(t.TempDir()); err == nil {
		t.Errorf("Path with a missing $%s = %q, want an error", Env, got)
	}
	t.Setenv(Env, "")
	if _, ok := Prebuilt(); ok {
		t.Errorf("Prebuilt with $%s unset says there is one", Env)
	}
}
