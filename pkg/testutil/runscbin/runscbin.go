// Package runscbin gives tests the runsc binary they run: the one Bazel
// built for them, or one built from the tree with `go build`.
//
// Under `bazel test` a test cannot run the go tool (there is none in its
// sandbox, nor a module to build); its BUILD rule passes a prebuilt runsc as
// data instead, naming it in the environment:
//
//	data = ["//runsc"],
//	env = {"RUNSC_BINARY": "$(rootpath //runsc)"},
//
// The path is relative to $TEST_SRCDIR/$TEST_WORKSPACE, the runfiles tree.
package runscbin

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Env names the prebuilt runsc binary, relative to the runfiles tree (or
// absolute).
const Env = "RUNSC_BINARY"

// ErrNoGoTool is what Path returns when it would have to build runsc but
// there is no go tool.
var ErrNoGoTool = errors.New("no prebuilt runsc ($" + Env + ") and no go tool to build one")

// Prebuilt returns the path of the runsc binary $RUNSC_BINARY names, and
// whether it names one.
func Prebuilt() (string, bool) {
	p := os.Getenv(Env)
	if p == "" {
		return "", false
	}
	if filepath.IsAbs(p) {
		return p, true
	}
	return filepath.Join(os.Getenv("TEST_SRCDIR"), os.Getenv("TEST_WORKSPACE"), p), true
}

// Path returns the path of the runsc binary to test: the prebuilt one if
// $RUNSC_BINARY is set, else visor.dev/visor/runsc built into dir with the
// extra go build flags (such as -ldflags). A prebuilt binary was built with
// whatever flags its BUILD rule gave; buildFlags do not apply to it.
func Path(dir string, buildFlags ...string) (string, error) {
	if p, ok := Prebuilt(); ok {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", Env, err)
		}
		return p, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", ErrNoGoTool
	}
	bin := filepath.Join(dir, "runsc")
	args := append(append([]string{"build", "-o", bin}, buildFlags...), "visor.dev/visor/runsc")
	cmd := exec.Command(goTool, args...)
	// As Bazel builds it (pure = "on"): runsc must not link the C library, and a
	// cgo runtime would also make syscall.AllThreadsSyscall fail.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build runsc: %v\n%s", err, out)
	}
	return bin, nil
}
