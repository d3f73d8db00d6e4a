package lock

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"visor.dev/visor/pkg/abi/linux"
)

var key = Key{DevMajor: 0, DevMinor: 5, Ino: 42}

func owner(id string) Owner { return Owner{ID: id, PID: int32(len(id))} }

func TestPOSIXConflicts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		held     Type
		heldRng  Range
		want     Type
		wantRng  Range
		conflict bool
	}{
		{"read read", Read, Range{0, 10}, Read, Range{5, 15}, false},
		{"read write", Read, Range{0, 10}, Write, Range{5, 15}, true},
		{"write read", Write, Range{0, 10}, Read, Range{9, 10}, true},
		{"adjacent", Write, Range{0, 10}, Write, Range{10, 20}, false},
		{"to EOF", Write, Range{100, EOF}, Read, Range{1 << 40, 1<<40 + 1}, true},
	} {
		tb := NewTable()
		if err := tb.LockPOSIX(key, owner("a"), tc.held, tc.heldRng, nil, true); err != nil {
			t.Fatalf("%s: first lock: %v", tc.name, err)
		}
		r, found := tb.TestPOSIX(key, owner("b"), tc.want, tc.wantRng)
		if found != tc.conflict {
			t.Errorf("%s: TestPOSIX found %v (%+v), want %v", tc.name, found, r, tc.conflict)
		}
		err := tb.LockPOSIX(key, owner("b"), tc.want, tc.wantRng, nil, true)
		if tc.conflict && err != linux.EAGAIN || !tc.conflict && err != nil {
			t.Errorf("%s: second lock: %v", tc.name, err)
		}
		// An owner never conflicts with itself.
		if tc.conflict {
			if err := tb.LockPOSIX(key, owner("a"), Write, tc.heldRng, nil, true); err != nil {
				t.Errorf("%s: the holder relocking its range: %v", tc.name, err)
			}
		}
	}
}

func TestPOSIXSplitAndMerge(t *testing.T) {
	tb := NewTable()
	a := owner("a")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tb.LockPOSIX(key, a, Write, Range{0, 100}, nil, true))
	// Unlocking the middle splits the lock in two.
	must(tb.LockPOSIX(key, a, Unlock, Range{40, 60}, nil, true))
	if _, found := tb.TestPOSIX(key, owner("b"), Write, Range{40, 60}); found {
		t.Errorf("the unlocked middle still conflicts")
	}
	for _, r := range []Range{{0, 40}, {60, 100}} {
		if got, found := tb.TestPOSIX(key, owner("b"), Read, r); !found || got.Range != r {
			t.Errorf("TestPOSIX(%v) = %+v, %v; want the piece %v", r, got, found, r)
		}
	}
	// Relocking the middle merges the three pieces back into one.
	must(tb.LockPOSIX(key, a, Write, Range{40, 60}, nil, true))
	if got, _ := tb.TestPOSIX(key, owner("b"), Read, Range{0, 1}); got.Range != (Range{0, 100}) {
		t.Errorf("after relocking, lock = %v, want [0, 100)", got.Range)
	}
	// Downgrading part of it to a read lock lets another reader in there only.
	must(tb.LockPOSIX(key, a, Read, Range{0, 50}, nil, true))
	if err := tb.LockPOSIX(key, owner("b"), Read, Range{0, 50}, nil, true); err != nil {
		t.Errorf("read lock on the downgraded part: %v", err)
	}
	if err := tb.LockPOSIX(key, owner("b"), Read, Range{50, 51}, nil, true); err != linux.EAGAIN {
		t.Errorf("read lock on the write-locked part: %v, want EAGAIN", err)
	}
	tb.UnlockAllPOSIX(key, "a")
	if err := tb.LockPOSIX(key, owner("b"), Write, Range{50, 100}, nil, true); err != nil {
		t.Errorf("after UnlockAllPOSIX: %v", err)
	}
}

func TestPOSIXWaitAndWake(t *testing.T) {
	tb := NewTable()
	if err := tb.LockPOSIX(key, owner("a"), Write, Range{0, EOF}, nil, true); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		done <- tb.LockPOSIX(key, owner("b"), Write, Range{0, 1}, func(ch <-chan struct{}) error {
			<-ch
			return nil
		}, true)
	}()
	select {
	case err := <-done:
		t.Fatalf("waiter returned %v while the lock was held", err)
	case <-time.After(20 * time.Millisecond):
	}
	if err := tb.LockPOSIX(key, owner("a"), Unlock, Range{0, EOF}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("waiter: %v", err)
	}
}

func TestPOSIXWaitInterrupted(t *testing.T) {
	tb := NewTable()
	_ = tb.LockPOSIX(key, owner("a"), Write, Range{0, EOF}, nil, true)
	errIntr := errors.New("interrupted")
	err := tb.LockPOSIX(key, owner("b"), Read, Range{0, 1}, func(<-chan struct{}) error { return errIntr }, true)
	if err != errIntr {
		t.Errorf("err = %v, want the wait's error", err)
	}
}

func TestPOSIXDeadlock(t *testing.T) {
	tb := NewTable()
	k2 := Key{Ino: 43}
	_ = tb.LockPOSIX(key, owner("a"), Write, Range{0, 1}, nil, true)
	_ = tb.LockPOSIX(k2, owner("b"), Write, Range{0, 1}, nil, true)
	waiting := make(chan struct{})
	done := make(chan error)
	go func() {
		// a waits for b's lock on k2.
		done <- tb.LockPOSIX(k2, owner("a"), Write, Range{0, 1}, func(ch <-chan struct{}) error {
			close(waiting)
			<-ch
			return nil
		}, true)
	}()
	<-waiting
	// b waiting for a's lock would close the cycle.
	if err := tb.LockPOSIX(key, owner("b"), Write, Range{0, 1}, func(<-chan struct{}) error { return nil }, true); err != linux.EDEADLK {
		t.Errorf("err = %v, want EDEADLK", err)
	}
	tb.UnlockAllPOSIX(k2, "b")
	if err := <-done; err != nil {
		t.Errorf("a's wait: %v", err)
	}
}

func TestStaleOwnersAreReaped(t *testing.T) {
	tb := NewTable()
	var alive atomic.Bool
	alive.Store(true)
	a := Owner{ID: "a", Alive: alive.Load}
	if err := tb.LockPOSIX(key, a, Write, Range{0, EOF}, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := tb.Flock(key, a, Write, nil); err != nil {
		t.Fatal(err)
	}
	if err := tb.LockPOSIX(key, owner("b"), Read, Range{0, 1}, nil, true); err != linux.EAGAIN {
		t.Fatalf("while a lives: %v, want EAGAIN", err)
	}
	alive.Store(false)
	if err := tb.LockPOSIX(key, owner("b"), Read, Range{0, 1}, nil, true); err != nil {
		t.Errorf("POSIX lock after a is gone: %v", err)
	}
	if err := tb.Flock(key, owner("b"), Write, nil); err != nil {
		t.Errorf("flock after a is gone: %v", err)
	}
}

func TestFlock(t *testing.T) {
	tb := NewTable()
	a, b := owner("a"), owner("b")
	if err := tb.Flock(key, a, Read, nil); err != nil {
		t.Fatal(err)
	}
	if err := tb.Flock(key, b, Read, nil); err != nil {
		t.Errorf("second shared lock: %v", err)
	}
	if err := tb.Flock(key, b, Write, nil); err != linux.EWOULDBLOCK {
		t.Errorf("upgrade with another reader: %v, want EWOULDBLOCK", err)
	}
	// The failed upgrade dropped b's shared lock, as Linux's does.
	if err := tb.Flock(key, a, Write, nil); err != nil {
		t.Errorf("a's upgrade once alone: %v", err)
	}
	// POSIX locks are independent of flock locks.
	if err := tb.LockPOSIX(key, b, Write, Range{0, EOF}, nil, true); err != nil {
		t.Errorf("POSIX lock beside a flock: %v", err)
	}
	if err := tb.Flock(key, a, Unlock, nil); err != nil {
		t.Fatal(err)
	}
	if err := tb.Flock(key, b, Write, nil); err != nil {
		t.Errorf("exclusive after unlock: %v", err)
	}
}

func TestEmptyTracksLockedFiles(t *testing.T) {
	tb := NewTable()
	if !tb.Empty() {
		t.Fatal("new table is not empty")
	}
	_ = tb.LockPOSIX(key, owner("a"), Write, Range{0, 1}, nil, true)
	_ = tb.Flock(Key{Ino: 7}, owner("a"), Read, nil)
	if tb.Empty() {
		t.Fatal("table with locks is empty")
	}
	// A failed attempt leaves nothing behind.
	_ = tb.LockPOSIX(Key{Ino: 8}, owner("b"), Unlock, Range{0, 1}, nil, true)
	_ = tb.Flock(Key{Ino: 9}, owner("b"), Unlock, nil)
	tb.UnlockAllPOSIX(key, "a")
	_ = tb.Flock(Key{Ino: 7}, owner("a"), Unlock, nil)
	if !tb.Empty() || len(tb.files) != 0 {
		t.Errorf("after unlocking everything: Empty %v, %d entries", tb.Empty(), len(tb.files))
	}
}
