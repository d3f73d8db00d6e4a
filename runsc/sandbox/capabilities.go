package sandbox

import (
	"fmt"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// DropCapabilities keeps only the capabilities keep, in every set including the
// bounding set, on all of the calling process's threads at once; the Sentry and
// the Gofer call it on themselves. It needs a binary without cgo, as runsc is
// built (syscall.AllThreadsSyscall).
func DropCapabilities(keep []uintptr) error {
	// The bounding set goes first: dropping from it needs CAP_SETPCAP, which
	// the capset below gives up. The kernel says EINVAL past its last
	// capability.
	for c := uintptr(0); ; c++ {
		if slices.Contains(keep, c) {
			continue
		}
		_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
		if errno == unix.EINVAL {
			break
		}
		if errno != 0 {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, errno)
		}
	}
	return setCapabilities(keep)
}
