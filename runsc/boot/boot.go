// Package boot is the Sentry's main: `runsc boot` calls Run, which builds the
// sandbox's kernel — memory file, platform, VFS mounts over the Gofer's
// connections, the kernel itself — starts the container's first process and
// returns its exit status.
package boot

import (
	"errors"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/runsc/config"
)

// Args are what `runsc boot` passes to Run.
type Args struct {
	// Spec is the container's validated OCI spec; BundleDir its bundle.
	Spec      *specs.Spec
	BundleDir string
	Conf      *config.Config
	// GoferFDs are lisafs client sockets, one per mount the Gofer serves, in order:
	// the root first, then each bind mount in the order of Spec.Mounts.
	GoferFDs []int
	// Stdio are the host FDs of the application's stdin, stdout and stderr.
	Stdio [3]int
}

// Run runs the container to completion and returns its first process's status.
func Run(args Args) (linux.WaitStatus, error) {
	return 0, errors.New("boot: the Sentry cannot run programs yet")
}
