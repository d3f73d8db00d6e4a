package waiter

import "testing"

type counter struct {
	n    int
	last EventMask
}

func (c *counter) NotifyEvent(m EventMask) { c.n++; c.last = m }

func TestQueue(t *testing.T) {
	var q Queue
	var a, b, c counter
	var ea, eb, ec Entry
	ea.Init(&a, EventIn)
	eb.Init(&b, EventOut)
	ec.Init(&c, EventIn|EventOut)
	q.EventRegister(&ea)
	q.EventRegister(&eb)
	q.EventRegister(&ec)
	if got, want := q.Events(), EventIn|EventOut|EventErr|EventHUp; got != want {
		t.Errorf("Events = %#x, want %#x", got, want)
	}
	q.Notify(EventIn)
	if a.n != 1 || b.n != 0 || c.n != 1 || c.last != EventIn {
		t.Errorf("after EventIn: a=%d b=%d c=%d", a.n, b.n, c.n)
	}
	q.Notify(EventHUp)
	if a.n != 2 || b.n != 1 || c.n != 2 {
		t.Errorf("hang-up is always reported: a=%d b=%d c=%d", a.n, b.n, c.n)
	}
	q.EventUnregister(&eb)
	q.EventUnregister(&ea)
	q.Notify(EventOut)
	if b.n != 1 || c.n != 3 {
		t.Errorf("after unregister: b=%d c=%d", b.n, c.n)
	}
	q.EventUnregister(&ec)
	if !q.IsEmpty() {
		t.Errorf("queue not empty")
	}
}

func TestChannelEntry(t *testing.T) {
	var q Queue
	e, ch := NewChannelEntry(EventIn)
	q.EventRegister(e)
	q.Notify(EventIn)
	q.Notify(EventIn)
	if err := (UninterruptibleBlocker{}).Block(ch); err != nil {
		t.Fatal(err)
	}
	intr := make(chan struct{})
	close(intr)
	if err := (InterruptibleBlocker{Interrupt: intr}).Block(make(chan struct{})); err != ErrInterrupted {
		t.Errorf("Block = %v, want ErrInterrupted", err)
	}
}
