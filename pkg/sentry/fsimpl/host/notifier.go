package host

import (
	"sync"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/waiter"
)

// notifier watches host FDs for readiness changes and tells their queues, so that
// Sentry-side waiters (blocking reads, poll, epoll) wake up when a donated FD
// becomes readable or writable. It is one host epoll instance, edge-triggered, and
// one goroutine waiting on it: the host FD's events are only a hint to look again
// (with Readiness, a zero-timeout poll of the host FD).
type notifier struct {
	epfd int

	mu     sync.Mutex
	queues map[int32]*waiter.Queue
}

var (
	notifierOnce sync.Once
	theNotifier  *notifier
	notifierErr  error
)

// getNotifier returns the notifier, starting it on first use.
func getNotifier() (*notifier, error) {
	notifierOnce.Do(func() {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			notifierErr = err
			return
		}
		theNotifier = &notifier{epfd: epfd, queues: make(map[int32]*waiter.Queue)}
		go theNotifier.run()
	})
	return theNotifier, notifierErr
}

// add watches fd for q. It fails with EPERM for FDs the host cannot poll (regular
// files), which are always ready.
func (n *notifier) add(fd int32, q *waiter.Queue) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLPRI | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     fd,
	}
	if err := unix.EpollCtl(n.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		return err
	}
	n.queues[fd] = q
	return nil
}

// remove stops watching fd. It must be called before fd is closed.
func (n *notifier) remove(fd int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.queues[fd]; !ok {
		return
	}
	unix.EpollCtl(n.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	delete(n.queues, fd)
}

// run waits for host events forever and notifies the queues.
func (n *notifier) run() {
	events := make([]unix.EpollEvent, 128)
	for {
		nev, err := unix.EpollWait(n.epfd, events, -1)
		if err != nil {
			continue // EINTR
		}
		for _, ev := range events[:nev] {
			n.mu.Lock()
			q := n.queues[ev.Fd]
			n.mu.Unlock()
			if q != nil {
				q.Notify(waiter.EventMask(ev.Events) & allEvents)
			}
		}
	}
}

// allEvents are the events a host FD reports that the Sentry passes on.
const allEvents = waiter.EventIn | waiter.EventPri | waiter.EventOut | waiter.EventErr | waiter.EventHUp |
	waiter.EventRdNorm | waiter.EventWrNorm | waiter.EventRdHUp
