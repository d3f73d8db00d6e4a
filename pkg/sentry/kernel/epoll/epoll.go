// Package epoll implements epoll(7) instances: an interest list of (file,
// descriptor number) pairs, each with the events it waits for, and a ready list of
// the interests whose file has signalled one of them since it was last reported.
//
// An interest registers a waiter.Entry on its file; the file's notification puts
// the interest on the ready list and wakes the instance's own waiters (epoll_wait,
// and anything polling the instance, which is itself pollable). ReadEvents takes
// interests off the ready list, asks each file for its current readiness, and
// reports those that are ready: a level-triggered interest goes back on the ready
// list, an edge-triggered one (EPOLLET) waits for its file's next notification,
// and a one-shot one (EPOLLONESHOT) is disabled until EPOLL_CTL_MOD re-arms it.
//
// Like Linux, an instance does not keep the files it watches open: it holds them
// weakly (vfs.FileDescription.TryIncRef) and forgets an interest once its file is
// released. (Linux removes the interest eagerly when the file goes; Visor does so
// the next time the instance looks at it.)
package epoll

import (
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/anonfs"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// Event flags of epoll_ctl(2), from <uapi/linux/eventpoll.h>, beyond the poll(2)
// events they share values with.
const (
	EPOLLIN        = linux.POLLIN
	EPOLLPRI       = linux.POLLPRI
	EPOLLOUT       = linux.POLLOUT
	EPOLLERR       = linux.POLLERR
	EPOLLHUP       = linux.POLLHUP
	EPOLLRDNORM    = linux.POLLRDNORM
	EPOLLRDBAND    = linux.POLLRDBAND
	EPOLLWRNORM    = linux.POLLWRNORM
	EPOLLWRBAND    = linux.POLLWRBAND
	EPOLLMSG       = linux.POLLMSG
	EPOLLRDHUP     = linux.POLLRDHUP
	EPOLLEXCLUSIVE = 1 << 28
	EPOLLWAKEUP    = 1 << 29
	EPOLLONESHOT   = 1 << 30
	EPOLLET        = 1 << 31

	// EP_PRIVATE_BITS are the flags that are not events.
	EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
	// EPOLLEXCLUSIVE_OK_BITS are the flags EPOLLEXCLUSIVE may be combined with.
	EPOLLEXCLUSIVE_OK_BITS = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
)

// Operations of epoll_ctl(2).
const (
	EPOLL_CTL_ADD = 1
	EPOLL_CTL_DEL = 2
	EPOLL_CTL_MOD = 3
)

// EPOLL_CLOEXEC is epoll_create1's flag.
const EPOLL_CLOEXEC = linux.O_CLOEXEC

// maxNests is how deep epoll instances may watch each other (EP_MAX_NESTS).
const maxNests = 4

// Event is struct epoll_event: what epoll_ctl registers and epoll_wait reports.
type Event struct {
	Events uint32
	Data   uint64
}

// EventSize is the size of struct epoll_event on amd64, where it is packed.
const EventSize = 12

// MarshalEvents encodes events in the application's layout.
func MarshalEvents(events []Event) []byte {
	b := make([]byte, len(events)*EventSize)
	for i, e := range events {
		o := b[i*EventSize:]
		putUint32(o, e.Events)
		putUint64(o[4:], e.Data)
	}
	return b
}

// UnmarshalEvent decodes one struct epoll_event.
func UnmarshalEvent(b []byte) Event {
	return Event{Events: getUint32(b), Data: getUint64(b[4:])}
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func putUint64(b []byte, v uint64) {
	putUint32(b, uint32(v))
	putUint32(b[4:], uint32(v>>32))
}

func getUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func getUint64(b []byte) uint64 { return uint64(getUint32(b)) | uint64(getUint32(b[4:]))<<32 }

// Instance is an epoll instance's file.
type Instance struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	anonfs.FileDescriptionImpl

	// queue is notified when an interest becomes ready: it is what makes the
	// instance pollable and what epoll_wait waits on.
	queue waiter.Queue

	// interestMu protects interests and each interest's mask, flags, data and
	// registration, and serializes ReadEvents.
	//
	// Lock order: interestMu, then the watched files' locks, then their
	// queues' locks, then readyMu.
	interestMu sync.Mutex
	interests  map[key]*interest

	// readyMu protects the ready list and each interest's ready and enabled.
	readyMu    sync.Mutex
	readyFirst *interest
	readyLast  *interest
}

// key identifies an interest: a file and the descriptor number it was added as.
type key struct {
	file *vfs.FileDescription
	num  int32
}

// interest is one entry of the interest list.
type interest struct {
	ep  *Instance
	key key

	// entry is registered on the file; the interest is its listener.
	entry waiter.Entry

	// Protected by ep.interestMu.
	mask  waiter.EventMask // the events asked for, ERR and HUP included
	flags uint32           // EPOLLET, EPOLLONESHOT, EPOLLEXCLUSIVE
	data  uint64

	// Protected by ep.readyMu.
	ready      bool
	enabled    bool // false once a one-shot interest fired
	prev, next *interest
}

// New returns a new epoll instance in vfsObj's anonfs, holding one reference for
// the caller.
func New(vfsObj *vfs.VirtualFilesystem) *vfs.FileDescription {
	mnt := anonfs.Mount(vfsObj)
	d := anonfs.NewDentry(mnt, "anon_inode:[eventpoll]", nil)
	ep := &Instance{interests: make(map[key]*interest)}
	ep.Mnt = mnt
	ep.vfsfd.Init(ep, linux.O_RDWR, mnt, d, &vfs.FileDescriptionOptions{
		DenyPRead:  true,
		DenyPWrite: true,
	})
	return &ep.vfsfd
}

// FromFile returns the instance fd is, or nil if it is not an epoll instance.
func FromFile(fd *vfs.FileDescription) *Instance {
	ep, _ := fd.Impl().(*Instance)
	return ep
}

// Release implements vfs.FileDescriptionImpl.Release: every interest is dropped.
func (ep *Instance) Release() {
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()
	for _, epi := range ep.interests {
		ep.removeLocked(epi)
	}
}

// Seek implements vfs.FileDescriptionImpl.Seek: it does nothing, as Linux's
// noop_llseek.
func (ep *Instance) Seek(vfs.Context, int64, int32) (int64, error) { return 0, nil }

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (ep *Instance) StatFS(vfs.Context) (linux.Statfs, error) { return anonfs.StatFS(), nil }

// Readiness implements waiter.Waitable.Readiness: an instance is readable while
// one of its interests is ready.
func (ep *Instance) Readiness(mask waiter.EventMask) waiter.EventMask {
	if mask&waiter.ReadableEvents == 0 {
		return 0
	}
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()
	ep.readyMu.Lock()
	var candidates []*interest
	for epi := ep.readyFirst; epi != nil; epi = epi.next {
		if epi.enabled {
			candidates = append(candidates, epi)
		}
	}
	ep.readyMu.Unlock()
	for _, epi := range candidates {
		if !epi.key.file.TryIncRef() {
			continue
		}
		r := epi.key.file.Readiness(epi.mask)
		epi.key.file.DecRef()
		if r != 0 {
			return mask & waiter.ReadableEvents
		}
	}
	return 0
}

// EventRegister implements waiter.Waitable.EventRegister.
func (ep *Instance) EventRegister(e *waiter.Entry) error {
	ep.queue.EventRegister(e)
	return nil
}

// EventUnregister implements waiter.Waitable.EventUnregister.
func (ep *Instance) EventUnregister(e *waiter.Entry) { ep.queue.EventUnregister(e) }

// NotifyEvent implements waiter.EventListener: the interest's file signalled one of
// its events.
func (epi *interest) NotifyEvent(waiter.EventMask) {
	ep := epi.ep
	ep.readyMu.Lock()
	if !epi.enabled {
		ep.readyMu.Unlock()
		return
	}
	queued := epi.ready
	if !queued {
		ep.pushReadyLocked(epi)
	}
	ep.readyMu.Unlock()
	ep.queue.Notify(waiter.ReadableEvents)
}

// pushReadyLocked puts epi at the end of the ready list.
// Preconditions: ep.readyMu is locked; epi is not on the list.
func (ep *Instance) pushReadyLocked(epi *interest) {
	epi.ready = true
	epi.prev, epi.next = ep.readyLast, nil
	if ep.readyLast == nil {
		ep.readyFirst = epi
	} else {
		ep.readyLast.next = epi
	}
	ep.readyLast = epi
}

// unreadyLocked takes epi off the ready list if it is on it.
// Preconditions: ep.readyMu is locked.
func (ep *Instance) unreadyLocked(epi *interest) {
	if !epi.ready {
		return
	}
	if epi.prev == nil {
		ep.readyFirst = epi.next
	} else {
		epi.prev.next = epi.next
	}
	if epi.next == nil {
		ep.readyLast = epi.prev
	} else {
		epi.next.prev = epi.prev
	}
	epi.prev, epi.next, epi.ready = nil, nil, false
}

// removeLocked drops epi from the instance.
// Preconditions: ep.interestMu is locked.
func (ep *Instance) removeLocked(epi *interest) {
	// The file may already be released: its queue outlives it, so unregistering
	// is still safe.
	epi.key.file.EventUnregister(&epi.entry)
	delete(ep.interests, epi.key)
	ep.readyMu.Lock()
	ep.unreadyLocked(epi)
	epi.enabled = false
	ep.readyMu.Unlock()
	if child := FromFile(epi.key.file); child != nil {
		child.parentsRemove(ep)
	}
}

// eventMask returns the events an epoll_event's events field waits for.
func eventMask(events uint32) waiter.EventMask {
	return waiter.EventMask(events&^EP_PRIVATE_BITS) | waiter.EventErr | waiter.EventHUp
}

// AddInterest adds file, which the caller holds a reference on, as descriptor num
// (EPOLL_CTL_ADD). It fails with EEXIST if the pair is there already, EINVAL if
// file is ep's own file, ELOOP if watching file would make a cycle of instances
// or nest them too deeply, and EPERM if file cannot be waited on.
func (ep *Instance) AddInterest(file *vfs.FileDescription, num int32, event Event) error {
	if file == &ep.vfsfd {
		return linux.EINVAL
	}
	if child := FromFile(file); child != nil {
		nestMu.Lock()
		defer nestMu.Unlock()
		if child.reaches(ep, 1) {
			return linux.ELOOP
		}
		if ep.depthAbove()+1+child.depthBelow() > maxNests {
			return linux.ELOOP
		}
	}
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()
	k := key{file: file, num: num}
	if old, ok := ep.interests[k]; ok {
		if old.key.file.TryIncRef() {
			old.key.file.DecRef()
			return linux.EEXIST
		}
		ep.removeLocked(old) // a released file's leftover
	}
	epi := &interest{
		ep:    ep,
		key:   k,
		mask:  eventMask(event.Events),
		flags: event.Events & EP_PRIVATE_BITS,
		data:  event.Data,
	}
	epi.enabled = true
	epi.entry.Init(epi, epi.mask)
	if err := file.EventRegister(&epi.entry); err != nil {
		return linux.EPERM
	}
	ep.interests[k] = epi
	if child := FromFile(file); child != nil {
		child.parentsAdd(ep)
	}
	// A file that is ready already is reported without waiting for a change.
	if file.Readiness(epi.mask) != 0 {
		epi.NotifyEvent(epi.mask)
	}
	return nil
}

// ModifyInterest changes the events and data of the interest in file as
// descriptor num (EPOLL_CTL_MOD), re-arming a one-shot interest. It fails with
// ENOENT if there is none, and EINVAL if the interest or event has
// EPOLLEXCLUSIVE.
func (ep *Instance) ModifyInterest(file *vfs.FileDescription, num int32, event Event) error {
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()
	epi, ok := ep.interests[key{file: file, num: num}]
	if !ok {
		return linux.ENOENT
	}
	if event.Events&EPOLLEXCLUSIVE != 0 || epi.flags&EPOLLEXCLUSIVE != 0 {
		return linux.EINVAL
	}
	// An entry's mask cannot change while it is registered.
	file.EventUnregister(&epi.entry)
	epi.mask = eventMask(event.Events)
	epi.flags = event.Events & EP_PRIVATE_BITS
	epi.data = event.Data
	epi.entry.Init(epi, epi.mask)
	ep.readyMu.Lock()
	epi.enabled = true
	ep.unreadyLocked(epi)
	ep.readyMu.Unlock()
	if err := file.EventRegister(&epi.entry); err != nil {
		ep.removeLocked(epi)
		return linux.EPERM
	}
	if file.Readiness(epi.mask) != 0 {
		epi.NotifyEvent(epi.mask)
	}
	return nil
}

// RemoveInterest removes the interest in file as descriptor num
// (EPOLL_CTL_DEL), failing with ENOENT if there is none.
func (ep *Instance) RemoveInterest(file *vfs.FileDescription, num int32) error {
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()
	epi, ok := ep.interests[key{file: file, num: num}]
	if !ok {
		return linux.ENOENT
	}
	ep.removeLocked(epi)
	return nil
}

// ReadEvents returns up to max events that are ready now, taking them off the
// ready list as their flags say.
func (ep *Instance) ReadEvents(max int) []Event {
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()

	// Take the whole ready list: a notification that arrives while the files
	// are asked puts the interest back on it.
	ep.readyMu.Lock()
	var candidates []*interest
	for epi := ep.readyFirst; epi != nil; {
		next := epi.next
		epi.prev, epi.next, epi.ready = nil, nil, false
		candidates = append(candidates, epi)
		epi = next
	}
	ep.readyFirst, ep.readyLast = nil, nil
	ep.readyMu.Unlock()

	var events []Event
	// rest are the candidates not looked at, which stay ahead of the reported
	// level-triggered interests in requeue, so that every ready interest gets
	// its turn when there are more than max.
	var rest, requeue []*interest
	for i, epi := range candidates {
		if len(events) >= max {
			rest = candidates[i:]
			break
		}
		file := epi.key.file
		if !file.TryIncRef() {
			ep.removeLocked(epi)
			continue
		}
		r := file.Readiness(epi.mask)
		file.DecRef()
		if r == 0 {
			continue // until the file's next notification
		}
		ep.readyMu.Lock()
		enabled := epi.enabled
		if enabled && epi.flags&EPOLLONESHOT != 0 {
			epi.enabled = false
		}
		ep.readyMu.Unlock()
		if !enabled {
			continue
		}
		events = append(events, Event{Events: uint32(r), Data: epi.data})
		if epi.flags&(EPOLLONESHOT|EPOLLET) == 0 {
			requeue = append(requeue, epi)
		}
	}
	if requeue = append(rest, requeue...); len(requeue) > 0 {
		ep.readyMu.Lock()
		for _, epi := range requeue {
			if !epi.ready && epi.enabled {
				ep.pushReadyLocked(epi)
			}
		}
		ep.readyMu.Unlock()
	}
	return events
}

// Interests returns the number of interests, for tests and /proc.
func (ep *Instance) Interests() int {
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()
	return len(ep.interests)
}

// Nesting. nestMu serializes adding instances to instances, so that the graph
// does not change under the cycle check (Linux's epnested_mutex).
var nestMu sync.Mutex

// parentsMu protects every instance's parents.
var parentsMu sync.Mutex

// parents maps an instance to the instances watching it, with a count of the
// interests by which they do.
var parents = map[*Instance]map[*Instance]int{}

func (ep *Instance) parentsAdd(parent *Instance) {
	parentsMu.Lock()
	defer parentsMu.Unlock()
	m := parents[ep]
	if m == nil {
		m = map[*Instance]int{}
		parents[ep] = m
	}
	m[parent]++
}

func (ep *Instance) parentsRemove(parent *Instance) {
	parentsMu.Lock()
	defer parentsMu.Unlock()
	m := parents[ep]
	if m[parent]--; m[parent] <= 0 {
		delete(m, parent)
	}
	if len(m) == 0 {
		delete(parents, ep)
	}
}

// children returns the instances ep watches and that are still open.
func (ep *Instance) children() []*Instance {
	ep.interestMu.Lock()
	defer ep.interestMu.Unlock()
	var cs []*Instance
	for k := range ep.interests {
		if c := FromFile(k.file); c != nil && k.file.TryIncRef() {
			k.file.DecRef()
			cs = append(cs, c)
		}
	}
	return cs
}

// reaches reports whether target is ep or is watched, directly or not, by ep.
// Preconditions: nestMu is locked.
func (ep *Instance) reaches(target *Instance, depth int) bool {
	if ep == target {
		return true
	}
	if depth > maxNests+1 {
		return false
	}
	for _, c := range ep.children() {
		if c.reaches(target, depth+1) {
			return true
		}
	}
	return false
}

// depthBelow returns the longest chain of instances ep watches.
// Preconditions: nestMu is locked.
func (ep *Instance) depthBelow() int {
	d := 0
	for _, c := range ep.children() {
		d = max(d, 1+c.depthBelow())
	}
	return d
}

// depthAbove returns the longest chain of instances that watch ep.
// Preconditions: nestMu is locked.
func (ep *Instance) depthAbove() int {
	parentsMu.Lock()
	ps := make([]*Instance, 0, len(parents[ep]))
	for p := range parents[ep] {
		ps = append(ps, p)
	}
	parentsMu.Unlock()
	d := 0
	for _, p := range ps {
		d = max(d, 1+p.depthAbove())
	}
	return d
}
