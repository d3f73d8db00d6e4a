// Package waiter lets code wait for events on objects such as pipes and files: an
// object that can become readable or writable owns a Queue, waiters register an Entry
// on it, and the object calls Notify when its readiness changes. poll, select, epoll
// and blocking reads and writes are all built on it.
//
// It also defines Blocker, the one thing a blocking operation needs from the task that
// blocks: a way to sleep until a channel is ready that a signal can interrupt.
package waiter

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
)

// EventMask is a set of readiness events, with the values of poll(2)'s POLL* bits.
type EventMask uint64

// Events.
const (
	EventIn     EventMask = linux.POLLIN
	EventPri    EventMask = linux.POLLPRI
	EventOut    EventMask = linux.POLLOUT
	EventErr    EventMask = linux.POLLERR
	EventHUp    EventMask = linux.POLLHUP
	EventRdNorm EventMask = linux.POLLRDNORM
	EventWrNorm EventMask = linux.POLLWRNORM
	EventRdHUp  EventMask = linux.POLLRDHUP

	// ReadableEvents and WritableEvents are what readable and writable objects
	// report.
	ReadableEvents = EventIn | EventRdNorm
	WritableEvents = EventOut | EventWrNorm

	// alwaysEvents is every event that poll(2) reports whether or not it was asked
	// for.
	alwaysEvents = EventErr | EventHUp
)

// Waitable is an object whose readiness can be polled and waited for.
type Waitable interface {
	// Readiness returns the events of mask that are ready now.
	Readiness(mask EventMask) EventMask
	// EventRegister arranges for e to be notified of its events. It fails if the
	// object cannot be waited on.
	EventRegister(e *Entry) error
	// EventUnregister undoes EventRegister.
	EventUnregister(e *Entry)
}

// EventListener is told of events.
type EventListener interface {
	// NotifyEvent is called with the events that happened, restricted to those the
	// entry asked for. It runs with the queue's lock held, so it must not block or
	// call back into the queue.
	NotifyEvent(mask EventMask)
}

// Entry is one waiter's registration on a Queue. An Entry is registered on at most one
// queue at a time.
type Entry struct {
	listener EventListener
	mask     EventMask
	// prev and next link the entry into its queue's list.
	prev, next *Entry
}

// Init sets up e to tell listener of the events in mask. Errors and hang-ups are
// always reported, as poll(2) does.
func (e *Entry) Init(listener EventListener, mask EventMask) {
	e.listener = listener
	e.mask = mask | alwaysEvents
}

// Mask returns the events e waits for.
func (e *Entry) Mask() EventMask { return e.mask }

// ChannelNotifier is an EventListener that makes a buffered channel of size one
// ready when an event happens; extra notifications are dropped.
type ChannelNotifier chan struct{}

// NotifyEvent implements EventListener.
func (c ChannelNotifier) NotifyEvent(EventMask) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// NewChannelEntry returns an entry for the events in mask and the channel that
// becomes ready when one happens.
func NewChannelEntry(mask EventMask) (*Entry, <-chan struct{}) {
	ch := make(ChannelNotifier, 1)
	e := &Entry{}
	e.Init(ch, mask)
	return e, ch
}

// Queue is the list of entries waiting on one object. The zero value is empty and
// ready to use.
type Queue struct {
	// mu protects the list. Lock order: an object's own locks, then mu.
	mu         sync.Mutex
	head, tail *Entry
}

// EventRegister adds e to q.
func (q *Queue) EventRegister(e *Entry) {
	q.mu.Lock()
	e.prev, e.next = q.tail, nil
	if q.tail == nil {
		q.head = e
	} else {
		q.tail.next = e
	}
	q.tail = e
	q.mu.Unlock()
}

// EventUnregister removes e from q.
func (q *Queue) EventUnregister(e *Entry) {
	q.mu.Lock()
	if e.prev == nil {
		if q.head == e {
			q.head = e.next
		}
	} else {
		e.prev.next = e.next
	}
	if e.next == nil {
		if q.tail == e {
			q.tail = e.prev
		}
	} else {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
	q.mu.Unlock()
}

// Notify tells every entry waiting for one of the events in mask.
func (q *Queue) Notify(mask EventMask) {
	q.mu.Lock()
	for e := q.head; e != nil; e = e.next {
		if m := mask & e.mask; m != 0 {
			e.listener.NotifyEvent(m)
		}
	}
	q.mu.Unlock()
}

// Events returns the union of the events that q's entries wait for.
func (q *Queue) Events() EventMask {
	var mask EventMask
	q.mu.Lock()
	for e := q.head; e != nil; e = e.next {
		mask |= e.mask
	}
	q.mu.Unlock()
	return mask
}

// IsEmpty reports whether no entry waits on q.
func (q *Queue) IsEmpty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == nil
}
