package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// CheckOwnMountNamespace refuses to go on in the mount namespace of the process
// that started this one (the Sentry or the Gofer, named by cmd): mount changes
// would be that process's, the host's if someone ran the command by hand. A
// process that may not even look at its parent's namespaces (it is in a user
// namespace of its own) has no power over them either.
func CheckOwnMountNamespace(cmd string) error {
	own, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return fmt.Errorf("reading own mount namespace: %w", err)
	}
	ppid, err := hostParentPid()
	if err != nil {
		return err
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", ppid))
	switch {
	case errors.Is(err, os.ErrPermission):
		return nil
	case err != nil:
		return fmt.Errorf("reading parent's mount namespace: %w", err)
	case own == parent:
		return fmt.Errorf("not in a mount namespace of its own: runsc %s is started by runsc, not by hand", cmd)
	}
	return nil
}

// hostParentPid returns the parent's PID as the mounted /proc numbers it:
// getppid(2) says 0 in a PID namespace of one's own, whose parent is outside.
func hostParentPid() (int, error) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, fmt.Errorf("reading own /proc/self/stat: %w", err)
	}
	// "pid (comm) state ppid ...": comm may hold anything but its last ')'.
	fields := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	if len(fields) < 2 {
		return 0, fmt.Errorf("/proc/self/stat: no parent PID in %q", stat)
	}
	return strconv.Atoi(string(fields[1]))
}
