package boot

import (
	"visor.dev/visor/pkg/sentry/fsimpl/host"
	"visor.dev/visor/pkg/sentry/fsimpl/proc"
	"visor.dev/visor/pkg/sentry/fsimpl/sys"
	"visor.dev/visor/pkg/sentry/vfs"
)

// The filesystem types of /proc and /sys.
const (
	procName = proc.Name
	sysName  = sys.Name
)

// registerSyntheticFilesystems registers the filesystems the Sentry makes up from
// its own state: /proc from the kernel's tasks, /sys from the machine.
func (m *mounts) registerSyntheticFilesystems() error {
	if err := proc.Register(m.vfs, m.k); err != nil {
		return err
	}
	return sys.Register(m.vfs)
}

// hostFile wraps one of the host FDs runsc gave the sandbox (its stdio).
func (m *mounts) hostFile(hostFD int) (*vfs.FileDescription, error) {
	return host.NewFD(m.vfs, hostFD, &host.Options{})
}
