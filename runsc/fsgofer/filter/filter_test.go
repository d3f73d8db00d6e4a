package filter

import (
	"testing"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/seccomp"
)

// TestRules runs the Gofer's assembled filter on calls it must allow (file
// operations on descriptors) and calls it must refuse.
func TestRules(t *testing.T) {
	prog, err := Rules().Program(unix.SECCOMP_RET_USER_NOTIF)
	if err != nil {
		t.Fatalf("Program: %v", err)
	}
	t.Logf("%d system calls, %d instructions", len(Rules()), len(prog))
	for _, tc := range []struct {
		name string
		nr   uintptr
		args []uint64
		want bool
	}{
		{"openat2", unix.SYS_OPENAT2, nil, true},
		{"getdents64", unix.SYS_GETDENTS64, nil, true},
		{"renameat2", unix.SYS_RENAMEAT2, nil, true},
		{"statx of a descriptor", unix.SYS_STATX, []uint64{3, 0, unix.AT_EMPTY_PATH | unix.AT_SYMLINK_NOFOLLOW | unix.AT_STATX_SYNC_AS_STAT}, true},
		{"statx of a path", unix.SYS_STATX, []uint64{3, 0, unix.AT_SYMLINK_NOFOLLOW}, false},
		{"lisafs channel", unix.SYS_SOCKETPAIR, []uint64{unix.AF_UNIX, unix.SOCK_SEQPACKET | unix.SOCK_CLOEXEC, 0}, true},
		{"inet socketpair", unix.SYS_SOCKETPAIR, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, false},
		{"socket", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, false},
		{"ioctl", unix.SYS_IOCTL, []uint64{3, unix.TIOCSTI}, false},
		{"execve", unix.SYS_EXECVE, nil, false},
		{"fork", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, false},
		{"ptrace", unix.SYS_PTRACE, []uint64{unix.PTRACE_ATTACH}, false},
		{"mount", unix.SYS_MOUNT, nil, false},
		{"chroot", unix.SYS_CHROOT, nil, false},
		{"pivot_root", unix.SYS_PIVOT_ROOT, nil, false},
		{"setuid", unix.SYS_SETUID, nil, false},
		{"capset", unix.SYS_CAPSET, nil, false},
		{"kill", unix.SYS_KILL, []uint64{1, uint64(unix.SIGKILL)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := seccomp.Allowed(prog, tc.nr, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("allowed = %v, want %v", got, tc.want)
			}
		})
	}
}
