package seccomp

import "golang.org/x/sys/unix"

// threadCloneFlags are the flags the Go runtime creates an OS thread with
// (runtime.cloneFlags); on amd64 it adds CLONE_SETTLS.
const threadCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD

// GoRuntime returns what the Go runtime of any runsc process calls on its own:
// threads, memory, signals and preemption, timers, the scheduler, the network
// poller, and the cgroup CPU limit it re-reads for GOMAXPROCS. Every list
// includes it. These calls must never be refused: a thread stopped in one may
// hold a runtime lock, and the notifier that would report it is Go code too.
func GoRuntime() Rules {
	return Rules{
		unix.SYS_CLONE: {
			{0: Eq(threadCloneFlags)},
			{0: Eq(threadCloneFlags | unix.CLONE_SETTLS)},
		},
		unix.SYS_EXIT:              nil,
		unix.SYS_EXIT_GROUP:        nil,
		unix.SYS_FUTEX:             nil,
		unix.SYS_MMAP:              nil,
		unix.SYS_MUNMAP:            nil,
		unix.SYS_MADVISE:           nil,
		unix.SYS_MINCORE:           nil,
		unix.SYS_MPROTECT:          nil,
		unix.SYS_BRK:               nil,
		unix.SYS_RT_SIGACTION:      nil,
		unix.SYS_RT_SIGPROCMASK:    nil,
		unix.SYS_RT_SIGRETURN:      nil,
		unix.SYS_SIGALTSTACK:       nil,
		unix.SYS_GETPID:            nil,
		unix.SYS_GETTID:            nil,
		unix.SYS_TGKILL:            nil,
		unix.SYS_NANOSLEEP:         nil,
		unix.SYS_CLOCK_GETTIME:     nil,
		unix.SYS_CLOCK_NANOSLEEP:   nil,
		unix.SYS_SCHED_YIELD:       nil,
		unix.SYS_SCHED_GETAFFINITY: nil,
		unix.SYS_SETITIMER:         nil,
		unix.SYS_TIMER_CREATE:      nil,
		unix.SYS_TIMER_SETTIME:     nil,
		unix.SYS_TIMER_DELETE:      nil,
		unix.SYS_GETRANDOM:         nil,
		unix.SYS_EPOLL_CREATE1:     nil,
		unix.SYS_EPOLL_CTL:         nil,
		unix.SYS_EPOLL_PWAIT:       nil,
		unix.SYS_EVENTFD2:          nil,
		unix.SYS_PIPE2:             nil,
		unix.SYS_READ:              nil,
		unix.SYS_WRITE:             nil,
		unix.SYS_PREAD64:           nil,
		unix.SYS_CLOSE:             nil,
		unix.SYS_FCNTL: {
			{1: Eq(unix.F_GETFL)},
			{1: Eq(unix.F_SETFL)},
			{1: Eq(unix.F_GETFD)},
			{1: Eq(unix.F_SETFD)},
		},
	}
}
