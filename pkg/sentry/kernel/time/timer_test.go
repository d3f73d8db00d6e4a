package ktime

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a polled clock the test moves by hand.
type fakeClock struct {
	now  atomic.Int64
	gone atomic.Bool
}

func (c *fakeClock) Now() (int64, error) {
	if c.gone.Load() {
		return 0, ErrClockGone
	}
	return c.now.Load(), nil
}
func (c *fakeClock) Polled() bool { return true }

func wallClock() Clock {
	start := time.Now()
	return ClockFunc{F: func() (int64, error) { return int64(time.Since(start)), nil }}
}

// counter is a Listener that counts expirations.
type counter struct {
	mu    sync.Mutex
	n     uint64
	calls int
	ch    chan struct{}
	keep  bool
}

func newCounter() *counter { return &counter{ch: make(chan struct{}, 100), keep: true} }

func (c *counter) listen(exp uint64) bool {
	c.mu.Lock()
	c.n += exp
	c.calls++
	keep := c.keep
	c.mu.Unlock()
	c.ch <- struct{}{}
	return keep
}

func (c *counter) get() (uint64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.calls
}

func (c *counter) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire")
	}
}

func TestOneShot(t *testing.T) {
	c := newCounter()
	tm := New(wallClock(), c.listen)
	if v, i, err := tm.Set(int64(5*time.Millisecond), 0, false); err != nil || v != 0 || i != 0 {
		t.Fatalf("Set = %d, %d, %v; want 0, 0, nil", v, i, err)
	}
	if v, _ := tm.Get(); v <= 0 || v > int64(5*time.Millisecond) {
		t.Errorf("Get value = %d, want in (0, 5ms]", v)
	}
	c.wait(t)
	time.Sleep(20 * time.Millisecond)
	if n, calls := c.get(); n != 1 || calls != 1 {
		t.Errorf("expirations = %d in %d calls, want 1 in 1", n, calls)
	}
	if v, i := tm.Get(); v != 0 || i != 0 {
		t.Errorf("Get after expiry = %d, %d; want 0, 0", v, i)
	}
}

func TestPeriodic(t *testing.T) {
	c := newCounter()
	tm := New(wallClock(), c.listen)
	tm.Set(int64(2*time.Millisecond), int64(2*time.Millisecond), false)
	for range 5 {
		c.wait(t)
	}
	old, interval, _ := tm.Set(0, 0, false)
	if old <= 0 || interval != int64(2*time.Millisecond) {
		t.Errorf("old setting = %d, %d; want > 0, 2ms", old, interval)
	}
	n, _ := c.get()
	time.Sleep(20 * time.Millisecond)
	if n2, _ := c.get(); n2 != n {
		t.Errorf("disarmed timer fired: %d -> %d", n, n2)
	}
	if n < 5 {
		t.Errorf("expirations = %d, want >= 5", n)
	}
}

func TestAbsolutePast(t *testing.T) {
	c := newCounter()
	clk := wallClock()
	tm := New(clk, c.listen)
	now, _ := clk.Now()
	// An absolute expiry 10 periods ago fires at once, counting the missed ones.
	tm.Set(now-int64(10*time.Second), int64(time.Second), true)
	c.wait(t)
	if n, _ := c.get(); n < 10 || n > 12 {
		t.Errorf("expirations = %d, want about 11", n)
	}
	tm.Destroy()
}

func TestPolledClock(t *testing.T) {
	c := newCounter()
	clk := &fakeClock{}
	tm := New(clk, c.listen)
	tm.Set(100, 10, false)
	time.Sleep(3 * PollInterval)
	if n, _ := c.get(); n != 0 {
		t.Fatalf("fired before the clock moved: %d", n)
	}
	if v, i := tm.Get(); v != 100 || i != 10 {
		t.Errorf("Get = %d, %d; want 100, 10", v, i)
	}
	clk.now.Store(135) // expiries at 100, 110, 120, 130
	c.wait(t)
	if n, _ := c.get(); n != 4 {
		t.Errorf("expirations = %d, want 4", n)
	}
	if v, _ := tm.Get(); v != 5 {
		t.Errorf("left = %d, want 5", v)
	}
	// A clock that goes away stops the timer.
	clk.gone.Store(true)
	time.Sleep(3 * PollInterval)
	if s := tm.Setting(); s.Enabled {
		t.Errorf("timer still armed after its clock went away")
	}
}

func TestListenerStops(t *testing.T) {
	c := newCounter()
	c.keep = false
	tm := New(wallClock(), c.listen)
	tm.Set(int64(time.Millisecond), int64(time.Millisecond), false)
	c.wait(t)
	time.Sleep(20 * time.Millisecond)
	if _, calls := c.get(); calls != 1 {
		t.Errorf("listener called %d times after asking to stop, want 1", calls)
	}
	if tm.Setting().Enabled {
		t.Errorf("timer still armed")
	}
}

func TestDestroy(t *testing.T) {
	c := newCounter()
	tm := New(wallClock(), c.listen)
	tm.Set(int64(5*time.Millisecond), 0, false)
	tm.Destroy()
	time.Sleep(20 * time.Millisecond)
	if n, _ := c.get(); n != 0 {
		t.Errorf("destroyed timer fired")
	}
	tm.Set(int64(time.Millisecond), 0, false)
	time.Sleep(20 * time.Millisecond)
	if n, _ := c.get(); n != 0 {
		t.Errorf("destroyed timer was armed again")
	}
}
