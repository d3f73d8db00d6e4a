package boot

import (
	"errors"
	"log"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel"
)

// The sandbox cannot go on without its Gofer: every file of the container's
// mounts would fail from then on. A Gofer that dies (killed, or crashed) hangs up
// its lisafs connections; the Sentry watches them for that and kills the whole
// sandbox, so the container stops, as runc's does when its init dies, instead
// of running on with a dead filesystem. Nobody else could tell: after runsc
// create has exited no host process watches the Gofer.

// dupGoferFDs returns close-on-exec duplicates of the Gofer connections, for
// watchGofer: the filesystems own and may close the originals.
func dupGoferFDs(fds []int) ([]int, error) {
	dups := make([]int, 0, len(fds))
	for _, fd := range fds {
		d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeInts(dups)
			return nil, err
		}
		dups = append(dups, d)
	}
	return dups, nil
}

// watchGofer waits until the Gofer hangs up any of fds, then kills every process
// of k with SIGKILL. It owns fds; closing done (the sandbox has exited) makes it
// return without killing, on the next wakeup.
func watchGofer(k *kernel.Kernel, fds []int, done <-chan struct{}, l *log.Logger) {
	defer closeInts(fds)
	if len(fds) == 0 {
		return
	}
	pfds := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		// POLLHUP and POLLERR are always reported; POLLRDHUP is the peer
		// closing. Nothing asks for POLLIN: the lisafs client reads replies.
		pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLRDHUP}
	}
	for {
		_, err := unix.Poll(pfds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		select {
		case <-done:
			return
		default:
		}
		if err != nil {
			l.Printf("watching the Gofer's connections: %v", err)
			return
		}
		for _, p := range pfds {
			if p.Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				l.Printf("the Gofer hung up its connections (it died): killing the sandbox")
				k.Kill(linux.SIGKILL)
				return
			}
		}
	}
}
