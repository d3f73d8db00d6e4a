// Package unix implements AF_UNIX sockets: SOCK_STREAM, SOCK_SEQPACKET and
// SOCK_DGRAM, connected in pairs (socketpair(2)) or through names, either files
// that bind(2) makes in the filesystem or names in the sandbox's abstract
// namespace (a leading NUL byte). Messages carry open files (SCM_RIGHTS) and
// credentials (SCM_CREDENTIALS).
//
// An Endpoint is the socket's state, independent of files and tasks so that it can
// be tested alone; SocketFD is the file description that wraps one. No operation
// here blocks: an operation that would wait returns EAGAIN and the caller waits
// for the endpoint's events, as for pipes.
//
// One lock, mu, guards every endpoint's state: connecting and shutting down touch
// two endpoints at once, and a single lock keeps that free of lock-order trouble.
// Waiters are notified after it is released.
package unix

import (
	"fmt"
	"sync"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/socket"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// mu guards the state of every endpoint and namespace.
var mu sync.Mutex

// Shutdown bits of Endpoint.shut (Linux's RCV_SHUTDOWN and SEND_SHUTDOWN).
const (
	rcvShutdown  = 1
	sendShutdown = 2
	shutdownMask = rcvShutdown | sendShutdown
)

// maxDgramQueueLen is net.unix.max_dgram_qlen: how many datagrams a socket queues
// from senders it is not connected to.
const maxDgramQueueLen = 10

// somaxconn is net.core.somaxconn, the largest listen backlog.
const somaxconn = 4096

// messageOverhead is what a queued message costs beyond its bytes, so that empty
// datagrams fill a buffer too (Linux charges an sk_buff's truesize).
const messageOverhead = 256

// Creds are the credentials a message or connection carries (struct ucred).
type Creds struct {
	Pid int32
	UID uint32
	GID uint32
}

// NoCreds are the credentials of a message sent without any: pid 0 and the
// overflow user and group.
var NoCreds = Creds{Pid: 0, UID: 65534, GID: 65534}

// ControlMessages are the ancillary data of one message.
type ControlMessages struct {
	// Rights are the files of SCM_RIGHTS; a queued message holds a reference on
	// each.
	Rights []*vfs.FileDescription
	// Creds are the credentials of SCM_CREDENTIALS, nil if none were given.
	Creds *Creds
}

// Release drops the references on the files in cm, which may be nil.
func (cm *ControlMessages) Release() {
	if cm == nil {
		return
	}
	for _, f := range cm.Rights {
		f.DecRef()
	}
	cm.Rights = nil
}

// Address is a unix socket name: a path, or an abstract name starting with a NUL
// byte. The zero Address is unnamed.
type Address struct {
	Name string
}

// Abstract reports whether a is in the abstract namespace.
func (a Address) Abstract() bool { return len(a.Name) > 0 && a.Name[0] == 0 }

// Sockaddr returns a as a struct sockaddr_un of the length getsockname(2)
// reports: the family alone when unnamed, a path with its NUL, an abstract name
// as long as it was given.
func (a Address) Sockaddr() []byte {
	b := make([]byte, 2, 2+len(a.Name)+1)
	b[0] = socket.AF_UNIX
	b = append(b, a.Name...)
	if len(a.Name) > 0 && !a.Abstract() {
		b = append(b, 0)
	}
	return b
}

// sunPathMax is sizeof(sun_path).
const sunPathMax = 108

// ParseAddress decodes a struct sockaddr_un of len(raw) bytes as bind(2) and
// connect(2) take it: EINVAL unless it is AF_UNIX and fits. Just the family is
// the unnamed address (bind autobinds); the path ends at its first NUL.
func ParseAddress(raw []byte) (Address, error) {
	if len(raw) < 2 || len(raw) > 2+sunPathMax {
		return Address{}, linux.EINVAL
	}
	if int(raw[0])|int(raw[1])<<8 != socket.AF_UNIX {
		return Address{}, linux.EINVAL
	}
	p := raw[2:]
	if len(p) == 0 {
		return Address{}, nil
	}
	if p[0] == 0 {
		return Address{Name: string(p)}, nil
	}
	for i, c := range p {
		if c == 0 {
			p = p[:i]
			break
		}
	}
	return Address{Name: string(p)}, nil
}

// Namespace is a sandbox's abstract socket namespace.
type Namespace struct {
	names   map[string]*Endpoint
	autoSeq uint32
}

// NewNamespace returns an empty abstract namespace.
func NewNamespace() *Namespace { return &Namespace{names: map[string]*Endpoint{}} }

// Lookup returns the endpoint bound to the abstract name, or nil.
func (ns *Namespace) Lookup(name string) *Endpoint {
	mu.Lock()
	defer mu.Unlock()
	return ns.names[name]
}

// message is one queued send.
type message struct {
	data   []byte
	cm     ControlMessages
	creds  Creds
	from   Address
	sender *Endpoint
	// charge is what the message counts against its sender's buffer.
	charge int
}

// Endpoint is one unix socket.
type Endpoint struct {
	stype int
	queue waiter.Queue

	// The fields below are guarded by mu.

	addr      Address
	bound     bool
	ns        *Namespace // where addr is registered, if abstract
	listening bool
	backlog   int
	acceptQ   []*Endpoint
	// connected is set once a stream or seqpacket socket is connected; it stays
	// set after the peer goes away.
	connected bool
	peer      *Endpoint
	recv      []*message
	recvBytes int
	// inflight is what this endpoint's messages, queued at receivers, cost.
	inflight int
	shut     int
	err      linux.Errno
	sndbuf   int
	rcvbuf   int
	passcred bool
	// peerCreds are SO_PEERCRED's answer; nil when there is no peer.
	peerCreds *Creds
	closed    bool
}

// NewEndpoint returns an unconnected, unbound socket of type stype.
func NewEndpoint(stype int) *Endpoint {
	return &Endpoint{stype: stype, sndbuf: socket.DefaultBufferSize, rcvbuf: socket.DefaultBufferSize}
}

// NewPair returns two sockets of type stype connected to each other, as
// socketpair(2) makes them; each sees creds as its peer's credentials.
func NewPair(stype int, creds Creds) (*Endpoint, *Endpoint) {
	a, b := NewEndpoint(stype), NewEndpoint(stype)
	a.peer, b.peer = b, a
	a.connected, b.connected = true, true
	ca, cb := creds, creds
	a.peerCreds, b.peerCreds = &ca, &cb
	return a, b
}

// Type returns the socket type.
func (e *Endpoint) Type() int { return e.stype }

func (e *Endpoint) connectionOriented() bool { return e.stype != socket.SOCK_DGRAM }

// notify tells the waiters of each endpoint of every event; they look at
// readiness again.
func notify(eps ...*Endpoint) {
	for _, e := range eps {
		if e != nil {
			e.queue.Notify(waiter.ReadableEvents | waiter.WritableEvents | waiter.EventHUp | waiter.EventErr | waiter.EventRdHUp)
		}
	}
}

// EventRegister implements waiter.Waitable.EventRegister.
func (e *Endpoint) EventRegister(w *waiter.Entry) error {
	e.queue.EventRegister(w)
	return nil
}

// EventUnregister implements waiter.Waitable.EventUnregister.
func (e *Endpoint) EventUnregister(w *waiter.Entry) { e.queue.EventUnregister(w) }

// Readiness implements waiter.Waitable.Readiness, as unix_poll and
// unix_dgram_poll compute it.
func (e *Endpoint) Readiness(mask waiter.EventMask) waiter.EventMask {
	mu.Lock()
	defer mu.Unlock()
	var r waiter.EventMask
	if e.err != 0 {
		r |= waiter.EventErr
	}
	if e.shut == shutdownMask {
		r |= waiter.EventHUp
	}
	if e.shut&rcvShutdown != 0 {
		r |= waiter.EventRdHUp | waiter.ReadableEvents
	}
	if len(e.recv) > 0 || len(e.acceptQ) > 0 {
		r |= waiter.ReadableEvents
	}
	if e.connectionOriented() {
		if !e.connected && !e.listening {
			r |= waiter.EventHUp
		}
		if !e.listening && e.writableLocked() {
			r |= waiter.WritableEvents
		}
	} else {
		w := e.writableLocked()
		if p := e.peer; w && p != nil && p.peer != e && len(p.recv) > maxDgramQueueLen {
			w = false
		}
		if w {
			r |= waiter.WritableEvents
		}
	}
	return r & mask
}

// writableLocked is unix_writable: at most a quarter of the send buffer in use.
func (e *Endpoint) writableLocked() bool { return e.inflight*4 <= e.sndbuf }

// Bind names e addr; a path is made in the filesystem by mknod, which fails with
// EADDRINUSE if the path exists. The unnamed address autobinds: an abstract name
// of five hex digits. Binding twice fails with EINVAL.
func (e *Endpoint) Bind(ns *Namespace, addr Address, mknod func(path string) error) error {
	mu.Lock()
	if e.bound {
		mu.Unlock()
		return linux.EINVAL
	}
	if addr.Name == "" {
		err := e.autobindLocked(ns)
		mu.Unlock()
		return err
	}
	if addr.Abstract() {
		defer mu.Unlock()
		if _, ok := ns.names[addr.Name]; ok {
			return linux.EADDRINUSE
		}
		ns.names[addr.Name] = e
		e.addr, e.bound, e.ns = addr, true, ns
		return nil
	}
	// Claim the endpoint before making the file, so that a concurrent bind
	// fails; give it back if the file cannot be made.
	e.bound = true
	mu.Unlock()
	if err := mknod(addr.Name); err != nil {
		mu.Lock()
		e.bound = false
		mu.Unlock()
		if err == linux.EEXIST {
			return linux.EADDRINUSE
		}
		return err
	}
	mu.Lock()
	e.addr = addr
	mu.Unlock()
	return nil
}

// autobindLocked gives e a free abstract name of five hex digits.
func (e *Endpoint) autobindLocked(ns *Namespace) error {
	for range 1 << 20 {
		ns.autoSeq = (ns.autoSeq + 1) & 0xfffff
		name := fmt.Sprintf("\x00%05x", ns.autoSeq)
		if _, ok := ns.names[name]; !ok {
			ns.names[name] = e
			e.addr, e.bound, e.ns = Address{Name: name}, true, ns
			return nil
		}
	}
	return linux.ENOSPC
}

// Bound reports whether e has a name.
func (e *Endpoint) Bound() bool {
	mu.Lock()
	defer mu.Unlock()
	return e.bound
}

// Name returns e's address (getsockname).
func (e *Endpoint) Name() Address {
	mu.Lock()
	defer mu.Unlock()
	return e.addr
}

// PeerName returns the address of e's peer (getpeername), or ENOTCONN.
func (e *Endpoint) PeerName() (Address, error) {
	mu.Lock()
	defer mu.Unlock()
	if e.peer == nil || (e.connectionOriented() && !e.connected) {
		return Address{}, linux.ENOTCONN
	}
	return e.peer.addr, nil
}

// Listen makes e accept connections, queueing up to backlog+1 of them. It fails
// with EOPNOTSUPP for datagram sockets and EINVAL unless e is bound and not
// connected. creds are what connecting sockets see as their peer's.
func (e *Endpoint) Listen(backlog int, creds Creds) error {
	mu.Lock()
	defer mu.Unlock()
	if !e.connectionOriented() {
		return linux.EOPNOTSUPP
	}
	if !e.bound || e.connected {
		return linux.EINVAL
	}
	if backlog < 0 || backlog > somaxconn {
		backlog = somaxconn
	}
	wake := !e.listening || backlog > e.backlog
	e.listening = true
	e.backlog = backlog
	e.peerCreds = &creds
	if wake {
		mu.Unlock()
		notify(e)
		mu.Lock()
	}
	return nil
}

// Listening reports whether e listens (SO_ACCEPTCONN).
func (e *Endpoint) Listening() bool {
	mu.Lock()
	defer mu.Unlock()
	return e.listening
}

// Connect connects e to target, the endpoint its address names (nil if none
// does). For stream and seqpacket sockets it queues a new connection at the
// listening target, returning EAGAIN while target's backlog is full; creds are
// the connector's, which the accepted socket sees as its peer's. A datagram
// socket just takes target as where its sends go.
func (e *Endpoint) Connect(ns *Namespace, target *Endpoint, creds Creds) error {
	mu.Lock()
	if !e.connectionOriented() {
		defer mu.Unlock()
		if target == nil || target.closed {
			return linux.ECONNREFUSED
		}
		if target.stype != e.stype {
			return linux.EPROTOTYPE
		}
		if e.passcred && !e.bound {
			if err := e.autobindLocked(ns); err != nil {
				return err
			}
		}
		e.peer = target
		return nil
	}
	if e.listening {
		mu.Unlock()
		return linux.EINVAL
	}
	if e.connected {
		mu.Unlock()
		return linux.EISCONN
	}
	if target == nil || target.closed {
		mu.Unlock()
		return linux.ECONNREFUSED
	}
	if target.stype != e.stype {
		mu.Unlock()
		return linux.EPROTOTYPE
	}
	if !target.listening {
		mu.Unlock()
		return linux.ECONNREFUSED
	}
	if len(target.acceptQ) > target.backlog {
		mu.Unlock()
		return linux.EAGAIN
	}
	if e.passcred && !e.bound {
		if err := e.autobindLocked(ns); err != nil {
			mu.Unlock()
			return err
		}
	}
	child := NewEndpoint(e.stype)
	child.addr = target.addr
	child.sndbuf, child.rcvbuf, child.passcred = target.sndbuf, target.rcvbuf, target.passcred
	child.peer, child.connected = e, true
	c := creds
	child.peerCreds = &c
	e.peer, e.connected = child, true
	lc := *target.peerCreds
	e.peerCreds = &lc
	target.acceptQ = append(target.acceptQ, child)
	mu.Unlock()
	notify(target, e)
	return nil
}

// Disconnect forgets a datagram socket's peer (connect to AF_UNSPEC).
func (e *Endpoint) Disconnect() error {
	mu.Lock()
	defer mu.Unlock()
	if e.connectionOriented() {
		return linux.EINVAL
	}
	e.peer = nil
	return nil
}

// Accept takes the oldest queued connection of the listening e: EINVAL if e does
// not listen, EAGAIN if none is queued.
func (e *Endpoint) Accept() (*Endpoint, error) {
	mu.Lock()
	if !e.listening {
		mu.Unlock()
		return nil, linux.EINVAL
	}
	if len(e.acceptQ) == 0 {
		mu.Unlock()
		return nil, linux.EAGAIN
	}
	c := e.acceptQ[0]
	e.acceptQ = e.acceptQ[1:]
	mu.Unlock()
	notify(e)
	return c, nil
}

// Shutdown shuts down reception, sending or both (SHUT_RD, SHUT_WR,
// SHUT_RDWR); a stream or seqpacket peer sees the mirror image: end of file
// after SHUT_WR, EPIPE after SHUT_RD.
func (e *Endpoint) Shutdown(how int) error {
	var mode int
	switch how {
	case socket.SHUT_RD:
		mode = rcvShutdown
	case socket.SHUT_WR:
		mode = sendShutdown
	case socket.SHUT_RDWR:
		mode = shutdownMask
	default:
		return linux.EINVAL
	}
	mu.Lock()
	e.shut |= mode
	var p *Endpoint
	if e.connectionOriented() && e.peer != nil {
		p = e.peer
		if mode&rcvShutdown != 0 {
			p.shut |= sendShutdown
		}
		if mode&sendShutdown != 0 {
			p.shut |= rcvShutdown
		}
	}
	mu.Unlock()
	notify(e, p)
	return nil
}

// Release closes e: its name in the abstract namespace goes, queued messages and
// connections are dropped, and a stream or seqpacket peer sees both directions
// shut down (and ECONNRESET if e had unread data).
func (e *Endpoint) Release() {
	var drop []*message
	var wake []*Endpoint
	var children []*Endpoint
	mu.Lock()
	e.closed = true
	if e.ns != nil && e.ns.names[e.addr.Name] == e {
		delete(e.ns.names, e.addr.Name)
	}
	children, e.acceptQ = e.acceptQ, nil
	e.listening = false
	if p := e.peer; p != nil && e.connectionOriented() {
		p.shut = shutdownMask
		if len(e.recv) > 0 {
			p.err = linux.ECONNRESET
		}
		wake = append(wake, p)
	}
	for _, m := range e.recv {
		if m.sender != nil {
			m.sender.inflight -= m.charge
			wake = append(wake, m.sender)
		}
	}
	drop, e.recv, e.recvBytes = e.recv, nil, 0
	e.shut = shutdownMask
	mu.Unlock()
	for _, c := range children {
		c.Release()
	}
	for _, m := range drop {
		m.cm.Release()
	}
	notify(wake...)
	notify(e)
}

// SendOptions say how a message is sent.
type SendOptions struct {
	// To is the endpoint a datagram goes to instead of the connected peer; for
	// stream and seqpacket sockets an address given with the send fails.
	To *Endpoint
	// HaveTo says an address was given.
	HaveTo bool
	// Creds are the sender's credentials, attached to the message if either side
	// passes credentials and the message gives none of its own.
	Creds Creds
}

// Send queues data with cm. It returns how many bytes it queued; a stream
// socket queues what fits and returns EAGAIN with the count if that is not all,
// other types queue the whole message or nothing. On success the message owns
// cm's files; on failure (including EAGAIN with nothing sent) the caller keeps
// them. EPIPE means the caller should raise SIGPIPE (unless MSG_NOSIGNAL).
func (e *Endpoint) Send(data []byte, cm *ControlMessages, opts SendOptions) (int, error) {
	mu.Lock()
	n, wake, err := e.sendLocked(data, cm, opts)
	mu.Unlock()
	notify(wake)
	return n, err
}

func (e *Endpoint) sendLocked(data []byte, cm *ControlMessages, opts SendOptions) (int, *Endpoint, error) {
	var target *Endpoint
	if e.connectionOriented() {
		if opts.HaveTo {
			if e.connected {
				return 0, nil, linux.EISCONN
			}
			return 0, nil, linux.EOPNOTSUPP
		}
		if e.shut&sendShutdown != 0 {
			return 0, nil, linux.EPIPE
		}
		if !e.connected {
			return 0, nil, linux.ENOTCONN
		}
		target = e.peer
		if target == nil || target.closed || target.shut&rcvShutdown != 0 {
			return 0, nil, linux.EPIPE
		}
	} else {
		if e.shut&sendShutdown != 0 {
			return 0, nil, linux.EPIPE
		}
		target = e.peer
		if opts.HaveTo {
			target = opts.To
			if target == nil {
				return 0, nil, linux.ECONNREFUSED
			}
		}
		if target == nil {
			return 0, nil, linux.ENOTCONN
		}
		if target.stype != e.stype {
			return 0, nil, linux.EPROTOTYPE
		}
		if target.closed {
			if target == e.peer {
				e.peer = nil
			}
			return 0, nil, linux.ECONNREFUSED
		}
		if target.peer != nil && target.peer != e && target != e {
			return 0, nil, linux.EPERM
		}
		if target.shut&rcvShutdown != 0 {
			return 0, nil, linux.EPIPE
		}
	}
	if e.stype != socket.SOCK_STREAM && len(data) > e.sndbuf-32 {
		return 0, nil, linux.EMSGSIZE
	}
	if e.inflight >= e.sndbuf {
		return 0, nil, linux.EAGAIN
	}
	if e.stype == socket.SOCK_DGRAM && target.peer != e && len(target.recv) > maxDgramQueueLen {
		return 0, nil, linux.EAGAIN
	}
	n := len(data)
	var err error
	if e.stype == socket.SOCK_STREAM {
		room := e.sndbuf - e.inflight - messageOverhead
		if room <= 0 {
			return 0, nil, linux.EAGAIN
		}
		if n > room {
			n, err = room, linux.EAGAIN
		}
		if n == 0 && len(data) > 0 {
			return 0, nil, linux.EAGAIN
		}
		if len(data) == 0 {
			// A stream send of nothing queues nothing, not even its control
			// messages, as Linux's loop over the data never runs.
			return 0, nil, nil
		}
	}
	m := &message{data: append([]byte(nil), data[:n]...), from: e.addr, sender: e, charge: n + messageOverhead}
	if cm != nil {
		m.cm = *cm
		*cm = ControlMessages{}
	}
	switch {
	case m.cm.Creds != nil:
		m.creds = *m.cm.Creds
	case e.passcred || target.passcred:
		m.creds = opts.Creds
	default:
		m.creds = NoCreds
	}
	target.recv = append(target.recv, m)
	target.recvBytes += n
	e.inflight += m.charge
	return n, target, err
}

// RecvOptions say how a message is received.
type RecvOptions struct {
	Peek bool
	// Creds asks for the credentials of the message (SO_PASSCRED).
	Creds bool
}

// RecvResult is what Recv returns beside the byte count.
type RecvResult struct {
	// MsgLen is the length of the datagram or seqpacket record received, for
	// MSG_TRUNC; for streams, the bytes copied.
	MsgLen int
	// From is the sender's address (datagrams).
	From Address
	// Control is the ancillary data: files the caller now holds references on.
	Control ControlMessages
	// Creds are the message's credentials if asked for.
	Creds *Creds
}

// Recv copies the next data into dst. It returns 0 at end of file, EAGAIN when
// nothing is queued, and a pending error (ECONNRESET) once.
func (e *Endpoint) Recv(dst []byte, opts RecvOptions) (int, RecvResult, error) {
	var res RecvResult
	mu.Lock()
	if len(e.recv) == 0 {
		defer mu.Unlock()
		if e.stype == socket.SOCK_STREAM && (!e.connected || e.listening) {
			return 0, res, linux.EINVAL
		}
		if e.stype == socket.SOCK_SEQPACKET && !e.connected {
			return 0, res, linux.ENOTCONN
		}
		if e.err != 0 {
			err := e.err
			e.err = 0
			return 0, res, err
		}
		if e.shut&rcvShutdown != 0 {
			return 0, res, nil
		}
		return 0, res, linux.EAGAIN
	}
	var wake []*Endpoint
	n := 0
	if e.stype == socket.SOCK_STREAM {
		i := 0
		first := e.recv[0]
		for i < len(e.recv) && n < len(dst) {
			m := e.recv[i]
			// Linux reads on into a message that carries files and stops
			// after it; it stops before credentials that differ.
			if n > 0 && opts.Creds && m.creds != first.creds {
				break
			}
			c := copy(dst[n:], m.data)
			n += c
			e.takeRights(m, opts.Peek, &res)
			if c < len(m.data) {
				if !opts.Peek {
					m.data = m.data[c:]
					e.recvBytes -= c
					if m.sender != nil {
						m.sender.inflight -= c
						m.charge -= c
						wake = append(wake, m.sender)
					}
				}
				break
			}
			i++
			if len(res.Control.Rights) > 0 {
				break
			}
		}
		if !opts.Peek {
			wake = append(wake, e.consumeLocked(i)...)
		}
		if opts.Creds {
			c := first.creds
			res.Creds = &c
		}
		res.From = first.from
		res.MsgLen = n
	} else {
		m := e.recv[0]
		n = copy(dst, m.data)
		res.MsgLen = len(m.data)
		res.From = m.from
		e.takeRights(m, opts.Peek, &res)
		if opts.Creds {
			c := m.creds
			res.Creds = &c
		}
		if !opts.Peek {
			wake = append(wake, e.consumeLocked(1)...)
		}
	}
	mu.Unlock()
	notify(wake...)
	return n, res, nil
}

// takeRights moves (or, peeking, copies) m's files into res.
func (e *Endpoint) takeRights(m *message, peek bool, res *RecvResult) {
	if len(m.cm.Rights) == 0 {
		return
	}
	if peek {
		for _, f := range m.cm.Rights {
			f.IncRef()
		}
		res.Control.Rights = append(res.Control.Rights, m.cm.Rights...)
		return
	}
	res.Control.Rights = append(res.Control.Rights, m.cm.Rights...)
	m.cm.Rights = nil
}

// consumeLocked removes the first n messages, returning their senders to wake.
func (e *Endpoint) consumeLocked(n int) []*Endpoint {
	var wake []*Endpoint
	for _, m := range e.recv[:n] {
		e.recvBytes -= len(m.data)
		if m.sender != nil {
			m.sender.inflight -= m.charge
			wake = append(wake, m.sender)
		}
	}
	e.recv = e.recv[n:]
	if e.stype == socket.SOCK_DGRAM {
		// Senders waiting for room in this queue wait on it.
		wake = append(wake, e)
	}
	return wake
}

// QueuedBytes returns the bytes waiting to be read (FIONREAD): all of them for a
// stream, the next datagram's length otherwise.
func (e *Endpoint) QueuedBytes() int {
	mu.Lock()
	defer mu.Unlock()
	if e.stype == socket.SOCK_STREAM {
		return e.recvBytes
	}
	if len(e.recv) == 0 {
		return 0
	}
	return len(e.recv[0].data)
}

// Peer returns the endpoint e sends to, or nil.
func (e *Endpoint) Peer() *Endpoint {
	mu.Lock()
	defer mu.Unlock()
	return e.peer
}

// TakeError returns and clears the pending error (SO_ERROR).
func (e *Endpoint) TakeError() linux.Errno {
	mu.Lock()
	defer mu.Unlock()
	err := e.err
	e.err = 0
	return err
}

// PeerCreds returns SO_PEERCRED's answer: the peer's credentials when connected
// (or, listening, e's own), else pid 0 and uid and gid -1.
func (e *Endpoint) PeerCreds() Creds {
	mu.Lock()
	defer mu.Unlock()
	if e.peerCreds == nil {
		return Creds{Pid: 0, UID: ^uint32(0), GID: ^uint32(0)}
	}
	return *e.peerCreds
}

// BufferSizes returns SO_SNDBUF and SO_RCVBUF.
func (e *Endpoint) BufferSizes() (snd, rcv int) {
	mu.Lock()
	defer mu.Unlock()
	return e.sndbuf, e.rcvbuf
}

// SetSendBufferSize sets SO_SNDBUF (already doubled and clamped).
func (e *Endpoint) SetSendBufferSize(n int) {
	mu.Lock()
	e.sndbuf = n
	mu.Unlock()
	notify(e)
}

// SetRecvBufferSize sets SO_RCVBUF (already doubled and clamped).
func (e *Endpoint) SetRecvBufferSize(n int) {
	mu.Lock()
	e.rcvbuf = n
	mu.Unlock()
}

// PassCred returns SO_PASSCRED.
func (e *Endpoint) PassCred() bool {
	mu.Lock()
	defer mu.Unlock()
	return e.passcred
}

// SetPassCred sets SO_PASSCRED.
func (e *Endpoint) SetPassCred(v bool) {
	mu.Lock()
	defer mu.Unlock()
	e.passcred = v
}
