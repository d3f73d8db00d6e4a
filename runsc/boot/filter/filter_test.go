package filter

import (
	"testing"

	"golang.org/x/sys/unix"

	"visor.dev/visor/pkg/seccomp"
)

// TestRules runs the Sentry's assembled filter on calls it must allow (its own
// machinery) and calls it must refuse (what a compromised Sentry would try).
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
		{"ptrace sysemu", unix.SYS_PTRACE, []uint64{unix.PTRACE_SYSEMU, 5}, true},
		{"ptrace seize", unix.SYS_PTRACE, []uint64{unix.PTRACE_SEIZE, 5, 0, 0}, true},
		{"ptrace attach", unix.SYS_PTRACE, []uint64{unix.PTRACE_ATTACH, 1}, false},
		{"ptrace pokedata", unix.SYS_PTRACE, []uint64{unix.PTRACE_POKEDATA, 5}, false},
		{"wait4 of a stub", unix.SYS_WAIT4, []uint64{5, 0, unix.WALL}, true},
		{"kill SIGKILL", unix.SYS_KILL, []uint64{5, uint64(unix.SIGKILL)}, true},
		{"kill SIGSTOP", unix.SYS_KILL, []uint64{5, uint64(unix.SIGSTOP)}, false},
		{"runtime thread", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD | unix.CLONE_SETTLS}, true},
		{"fork", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, false},
		{"vfork", unix.SYS_VFORK, nil, false},
		{"clone3", unix.SYS_CLONE3, nil, false},
		{"tty get termios", unix.SYS_IOCTL, []uint64{0, unix.TCGETS}, true},
		{"tty inject input", unix.SYS_IOCTL, []uint64{0, unix.TIOCSTI}, false},
		{"lisafs message", unix.SYS_RECVMSG, nil, true},
		{"memory file hole", unix.SYS_FALLOCATE, nil, true},
		{"open", unix.SYS_OPEN, nil, false},
		{"openat", unix.SYS_OPENAT, nil, false},
		{"stat of a path (AT_FDCWD)", unix.SYS_NEWFSTATAT, []uint64{uint64(0xffffffffffffff9c), 0, 0, 0}, false},
		{"fstat by fd", unix.SYS_NEWFSTATAT, []uint64{3, 0, 0, unix.AT_EMPTY_PATH}, true},
		{"execve", unix.SYS_EXECVE, nil, false},
		{"execveat", unix.SYS_EXECVEAT, nil, false},
		{"mount", unix.SYS_MOUNT, nil, false},
		{"chroot", unix.SYS_CHROOT, nil, false},
		{"setns", unix.SYS_SETNS, nil, false},
		{"unshare", unix.SYS_UNSHARE, nil, false},
		{"socket", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_RAW}, false},
		{"connect", unix.SYS_CONNECT, nil, false},
		{"init_module", unix.SYS_INIT_MODULE, nil, false},
		{"settimeofday", unix.SYS_SETTIMEOFDAY, nil, false},
		{"process_vm_writev", unix.SYS_PROCESS_VM_WRITEV, nil, false},
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
