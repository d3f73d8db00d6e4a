package unix

import (
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/socket"
	"visor.dev/visor/pkg/waiter"
)

var testCreds = Creds{Pid: 7, UID: 1000, GID: 1000}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want Address
		err  error
	}{
		{"unnamed", []byte{1, 0}, Address{}, nil},
		{"path", []byte("\x01\x00/tmp/s\x00junk"), Address{Name: "/tmp/s"}, nil},
		{"path without NUL", []byte("\x01\x00/a"), Address{Name: "/a"}, nil},
		{"abstract keeps NULs", []byte("\x01\x00\x00ab\x00"), Address{Name: "\x00ab\x00"}, nil},
		{"short", []byte{1}, Address{}, linux.EINVAL},
		{"wrong family", []byte("\x02\x00/a"), Address{}, linux.EINVAL},
		{"too long", make([]byte, 111), Address{}, linux.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAddress(tc.raw)
			if err != tc.err || got != tc.want {
				t.Errorf("ParseAddress(%q) = %q, %v; want %q, %v", tc.raw, got.Name, err, tc.want.Name, tc.err)
			}
		})
	}
}

func TestSockaddrLengths(t *testing.T) {
	for _, tc := range []struct {
		a    Address
		want int
	}{
		{Address{}, 2},
		{Address{Name: "/tmp/s"}, 2 + 6 + 1},
		{Address{Name: "\x00abc"}, 2 + 4},
	} {
		if got := len(tc.a.Sockaddr()); got != tc.want {
			t.Errorf("len(%q.Sockaddr()) = %d, want %d", tc.a.Name, got, tc.want)
		}
	}
}

func TestStreamPair(t *testing.T) {
	a, b := NewPair(socket.SOCK_STREAM, testCreds)
	buf := make([]byte, 16)
	if _, _, err := b.Recv(buf, RecvOptions{}); err != linux.EAGAIN {
		t.Fatalf("empty Recv: %v, want EAGAIN", err)
	}
	for _, s := range []string{"ab", "cd"} {
		if n, err := a.Send([]byte(s), nil, SendOptions{}); n != 2 || err != nil {
			t.Fatalf("Send(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.Readiness(waiter.ReadableEvents | waiter.WritableEvents); got != waiter.ReadableEvents|waiter.WritableEvents {
		t.Errorf("Readiness = %#x", got)
	}
	n, _, err := b.Recv(buf[:3], RecvOptions{Peek: true})
	if n != 3 || err != nil || string(buf[:3]) != "abc" {
		t.Fatalf("peek = %d %q %v", n, buf[:n], err)
	}
	n, _, err = b.Recv(buf, RecvOptions{})
	if n != 4 || err != nil || string(buf[:4]) != "abcd" {
		t.Fatalf("recv = %d %q %v", n, buf[:n], err)
	}
	if err := a.Shutdown(socket.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	if got := b.Readiness(waiter.EventRdHUp | waiter.ReadableEvents); got != waiter.EventRdHUp|waiter.ReadableEvents {
		t.Errorf("after SHUT_WR Readiness = %#x", got)
	}
	if n, _, err := b.Recv(buf, RecvOptions{}); n != 0 || err != nil {
		t.Errorf("recv at EOF = %d, %v", n, err)
	}
	if _, err := a.Send([]byte("x"), nil, SendOptions{}); err != linux.EPIPE {
		t.Errorf("send after SHUT_WR: %v, want EPIPE", err)
	}
	if c := b.PeerCreds(); c != testCreds {
		t.Errorf("PeerCreds = %+v", c)
	}
}

func TestStreamFlowControl(t *testing.T) {
	a, b := NewPair(socket.SOCK_STREAM, testCreds)
	a.SetSendBufferSize(socket.SendBufferSize(4096))
	data := make([]byte, 100000)
	n, err := a.Send(data, nil, SendOptions{})
	if err != linux.EAGAIN || n <= 0 || n >= len(data) {
		t.Fatalf("Send into a small buffer = %d, %v; want a partial send and EAGAIN", n, err)
	}
	if _, err := a.Send(data, nil, SendOptions{}); err != linux.EAGAIN {
		t.Fatalf("Send into a full buffer: %v", err)
	}
	if a.Readiness(waiter.WritableEvents) != 0 {
		t.Errorf("full sender is writable")
	}
	got, _, _ := b.Recv(make([]byte, len(data)), RecvOptions{})
	if got != n {
		t.Errorf("received %d, sent %d", got, n)
	}
	if a.Readiness(waiter.WritableEvents) == 0 {
		t.Errorf("drained sender is not writable")
	}
}

func TestCloseGivesHangupAndReset(t *testing.T) {
	a, b := NewPair(socket.SOCK_STREAM, testCreds)
	a.Send([]byte("unread"), nil, SendOptions{})
	b.Release()
	if got := a.Readiness(waiter.EventHUp | waiter.EventErr | waiter.ReadableEvents); got != waiter.EventHUp|waiter.EventErr|waiter.ReadableEvents {
		t.Errorf("Readiness after peer close = %#x", got)
	}
	if _, _, err := a.Recv(make([]byte, 4), RecvOptions{}); err != linux.ECONNRESET {
		t.Errorf("Recv: %v, want ECONNRESET", err)
	}
	if n, _, err := a.Recv(make([]byte, 4), RecvOptions{}); n != 0 || err != nil {
		t.Errorf("second Recv = %d, %v; want EOF", n, err)
	}
}

func TestListenConnectAccept(t *testing.T) {
	ns := NewNamespace()
	l := NewEndpoint(socket.SOCK_STREAM)
	if err := l.Listen(1, testCreds); err != linux.EINVAL {
		t.Fatalf("Listen unbound: %v", err)
	}
	if err := l.Bind(ns, Address{Name: "\x00srv"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := NewEndpoint(socket.SOCK_STREAM).Bind(ns, Address{Name: "\x00srv"}, nil); err != linux.EADDRINUSE {
		t.Fatalf("second Bind: %v", err)
	}
	if err := NewEndpoint(socket.SOCK_STREAM).Connect(ns, l, testCreds); err != linux.ECONNREFUSED {
		t.Fatalf("Connect to non-listener: %v", err)
	}
	if err := l.Listen(0, Creds{Pid: 1}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{nil, linux.EAGAIN} {
		if err := NewEndpoint(socket.SOCK_STREAM).Connect(ns, l, testCreds); err != want {
			t.Errorf("Connect %d: %v, want %v", i, err, want)
		}
	}
	if err := NewEndpoint(socket.SOCK_DGRAM).Connect(ns, l, testCreds); err != linux.EPROTOTYPE {
		t.Errorf("dgram Connect to stream: %v", err)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if c.PeerCreds() != testCreds || c.Name().Name != "\x00srv" {
		t.Errorf("accepted: creds %+v name %q", c.PeerCreds(), c.Name().Name)
	}
	if _, err := l.Accept(); err != linux.EAGAIN {
		t.Errorf("Accept on empty queue: %v", err)
	}
	l.Release()
	if ns.Lookup("\x00srv") != nil {
		t.Errorf("name outlives its socket")
	}
}

func TestDgram(t *testing.T) {
	ns := NewNamespace()
	r := NewEndpoint(socket.SOCK_DGRAM)
	s := NewEndpoint(socket.SOCK_DGRAM)
	if err := r.Bind(ns, Address{}, nil); err != nil {
		t.Fatal(err)
	}
	if name := r.Name().Name; len(name) != 6 || name[0] != 0 {
		t.Errorf("autobind name %q", name)
	}
	if _, err := s.Send([]byte("x"), nil, SendOptions{}); err != linux.ENOTCONN {
		t.Errorf("unconnected Send: %v", err)
	}
	if _, err := s.Send([]byte("hello"), nil, SendOptions{To: r, HaveTo: true}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	n, res, err := r.Recv(buf, RecvOptions{})
	if n != 2 || res.MsgLen != 5 || err != nil {
		t.Errorf("Recv = %d (msg %d), %v", n, res.MsgLen, err)
	}
	// Queue limit for unconnected senders.
	var sent int
	for sent = 0; sent < 100; sent++ {
		if _, err := s.Send(nil, nil, SendOptions{To: r, HaveTo: true}); err != nil {
			if err != linux.EAGAIN {
				t.Fatal(err)
			}
			break
		}
	}
	if sent != maxDgramQueueLen+1 {
		t.Errorf("queued %d datagrams, want %d", sent, maxDgramQueueLen+1)
	}
	r.Release()
	if _, err := s.Send(nil, nil, SendOptions{To: r, HaveTo: true}); err != linux.ECONNREFUSED {
		t.Errorf("Send to closed: %v", err)
	}
}

func TestRightsTravelWithMessage(t *testing.T) {
	a, b := NewPair(socket.SOCK_SEQPACKET, testCreds)
	cm := &ControlMessages{Creds: &Creds{Pid: 1, UID: 2, GID: 3}}
	if _, err := a.Send([]byte("m"), cm, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	if cm.Creds != nil {
		t.Errorf("Send left the control messages with the caller")
	}
	_, res, err := b.Recv(make([]byte, 1), RecvOptions{Creds: true})
	if err != nil || res.Creds == nil || *res.Creds != (Creds{Pid: 1, UID: 2, GID: 3}) {
		t.Errorf("Recv creds = %+v, %v", res.Creds, err)
	}
	// Without credentials given or asked for, a message carries none.
	a.Send([]byte("n"), nil, SendOptions{Creds: testCreds})
	_, res, _ = b.Recv(make([]byte, 1), RecvOptions{Creds: true})
	if res.Creds == nil || *res.Creds != NoCreds {
		t.Errorf("creds of a plain message = %+v", res.Creds)
	}
}
