// Package lock implements advisory file locks: POSIX record locks (fcntl F_SETLK
// and friends, owned by a process's file table, or by an open file description for
// the F_OFD_* variants) and BSD whole-file locks (flock(2), owned by an open file
// description). The two kinds never interact, as in Linux.
//
// Locks are kept per file, identified by a Key (device and inode number), in a
// Table. A lock's owner carries an Alive function: a lock whose owner no longer has
// the file open is dropped the next time anything looks at the file's locks. That
// covers the releases the system call layer cannot see (a process exiting, the last
// reference to a file description going away), and waiters poll with a timeout so
// they notice such releases too.
package lock

import (
	"math"
	"sync"
	"sync/atomic"

	"visor.dev/visor/pkg/abi/linux"
)

// Key identifies a file: its device and inode number, as statx reports them.
type Key struct {
	DevMajor, DevMinor uint32
	Ino                uint64
}

// Type is the type of a lock.
type Type int

// Lock types. Unlock asks to remove locks.
const (
	Unlock Type = iota
	// Read is a shared lock (F_RDLCK, LOCK_SH).
	Read
	// Write is an exclusive lock (F_WRLCK, LOCK_EX).
	Write
)

// Owner is who holds a lock.
type Owner struct {
	// ID identifies the owner; it must be comparable. Locks of one ID never
	// conflict with each other.
	ID any
	// PID is what F_GETLK reports as l_pid for the owner's locks.
	PID int32
	// Alive reports whether the owner still has the file open; a lock whose
	// owner is gone is dropped. Nil means always alive. It is called with the
	// table's lock held and must not call back into the Table.
	Alive func() bool
}

// EOF is the End of a range that extends to the end of any file (l_len == 0).
const EOF = math.MaxUint64

// Range is a byte range [Start, End) of a file.
type Range struct {
	Start, End uint64
}

func (r Range) overlaps(o Range) bool { return r.Start < o.End && o.Start < r.End }

// Record is a lock held on a range.
type Record struct {
	Owner Owner
	Type  Type
	Range Range
}

// Wait blocks until ch is closed, a timeout passes, or the caller is interrupted;
// it returns an error only when interrupted, and the lock operation fails with it.
type Wait func(ch <-chan struct{}) error

// Table holds the locks of every file.
type Table struct {
	// nfiles is len(files), readable without mu: closing a file skips the
	// table while no file is locked.
	nfiles atomic.Int64

	mu    sync.Mutex
	files map[Key]*fileLocks
	// waitingFor maps the ID of a POSIX owner blocked in a lock operation to the
	// ID of an owner holding a conflicting lock, for deadlock detection.
	waitingFor map[any]any
}

type fileLocks struct {
	posix []Record
	// flocks maps an owner's ID to its flock(2) lock.
	flocks map[any]Record
	// changed is closed and replaced when a lock is released or changed.
	changed chan struct{}
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{files: make(map[Key]*fileLocks), waitingFor: make(map[any]any)}
}

// fileLocked returns the locks of key, creating the entry if needed.
func (tb *Table) fileLocked(key Key) *fileLocks {
	fl := tb.files[key]
	if fl == nil {
		fl = &fileLocks{flocks: make(map[any]Record), changed: make(chan struct{})}
		tb.files[key] = fl
		tb.nfiles.Add(1)
	}
	return fl
}

// forgetLocked drops key's entry if it holds no locks.
func (tb *Table) forgetLocked(key Key, fl *fileLocks) {
	if len(fl.posix) == 0 && len(fl.flocks) == 0 && tb.files[key] == fl {
		delete(tb.files, key)
		tb.nfiles.Add(-1)
	}
}

// Empty reports whether no file has locks (or waiters), without locking.
func (tb *Table) Empty() bool { return tb.nfiles.Load() == 0 }

// notifyLocked wakes the waiters on fl and forgets fl if it holds no locks.
func (tb *Table) notifyLocked(key Key, fl *fileLocks) {
	close(fl.changed)
	fl.changed = make(chan struct{})
	tb.forgetLocked(key, fl)
}

// reapLocked drops the locks of owners that are gone, reporting whether it did.
func (fl *fileLocks) reapLocked() bool {
	reaped := false
	alive := make(map[any]bool)
	isAlive := func(o Owner) bool {
		if o.Alive == nil {
			return true
		}
		a, ok := alive[o.ID]
		if !ok {
			a = o.Alive()
			alive[o.ID] = a
		}
		return a
	}
	kept := fl.posix[:0]
	for _, r := range fl.posix {
		if isAlive(r.Owner) {
			kept = append(kept, r)
		} else {
			reaped = true
		}
	}
	clear(fl.posix[len(kept):])
	fl.posix = kept
	for id, r := range fl.flocks {
		if !isAlive(r.Owner) {
			delete(fl.flocks, id)
			reaped = true
		}
	}
	return reaped
}

func conflicts(a, b Type) bool { return a == Write || b == Write }

// posixConflictLocked returns a lock of another owner that conflicts with typ on
// rng.
func (fl *fileLocks) posixConflictLocked(owner Owner, typ Type, rng Range) (Record, bool) {
	for _, r := range fl.posix {
		if r.Owner.ID != owner.ID && r.Range.overlaps(rng) && conflicts(r.Type, typ) {
			return r, true
		}
	}
	return Record{}, false
}

// TestPOSIX returns the first lock that would stop owner from taking a lock of typ
// on rng (F_GETLK), or false if there is none.
func (tb *Table) TestPOSIX(key Key, owner Owner, typ Type, rng Range) (Record, bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	fl := tb.files[key]
	if fl == nil {
		return Record{}, false
	}
	if fl.reapLocked() {
		tb.notifyLocked(key, fl)
	}
	return fl.posixConflictLocked(owner, typ, rng)
}

// LockPOSIX sets owner's lock on rng to typ (F_SETLK, F_SETLKW; Unlock removes
// the owner's locks in rng). A conflicting lock of another owner makes it fail with
// EAGAIN if wait is nil, and otherwise wait until the conflict is gone; if the
// wait would never end because the other owner waits for this one, it fails with
// EDEADLK. detectDeadlock is false for OFD locks, which Linux does not check.
func (tb *Table) LockPOSIX(key Key, owner Owner, typ Type, rng Range, wait Wait, detectDeadlock bool) error {
	if rng.Start >= rng.End {
		return nil
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for {
		fl := tb.fileLocked(key)
		if fl.reapLocked() {
			tb.notifyLocked(key, fl)
			fl = tb.fileLocked(key)
		}
		if typ == Unlock {
			if fl.setPOSIXLocked(owner, typ, rng) {
				tb.notifyLocked(key, fl)
			} else {
				tb.forgetLocked(key, fl)
			}
			return nil
		}
		other, conflict := fl.posixConflictLocked(owner, typ, rng)
		if !conflict {
			fl.setPOSIXLocked(owner, typ, rng)
			tb.notifyLocked(key, fl)
			return nil
		}
		if wait == nil {
			tb.forgetLocked(key, fl)
			return linux.EAGAIN
		}
		if detectDeadlock && tb.wouldDeadlockLocked(owner.ID, other.Owner.ID) {
			tb.forgetLocked(key, fl)
			return linux.EDEADLK
		}
		ch := fl.changed
		if detectDeadlock {
			tb.waitingFor[owner.ID] = other.Owner.ID
		}
		tb.mu.Unlock()
		err := wait(ch)
		tb.mu.Lock()
		if detectDeadlock {
			delete(tb.waitingFor, owner.ID)
		}
		if err != nil {
			if fl := tb.files[key]; fl != nil {
				tb.forgetLocked(key, fl)
			}
			return err
		}
	}
}

// wouldDeadlockLocked reports whether owner waiting for holder closes a cycle of
// waiting owners.
func (tb *Table) wouldDeadlockLocked(owner, holder any) bool {
	for i := 0; i < 10; i++ {
		if holder == owner {
			return true
		}
		next, ok := tb.waitingFor[holder]
		if !ok {
			return false
		}
		holder = next
	}
	return false
}

// setPOSIXLocked replaces owner's locks on rng with one of typ (none for Unlock),
// merging it with the owner's adjacent or overlapping locks of the same type. It
// reports whether anything changed.
func (fl *fileLocks) setPOSIXLocked(owner Owner, typ Type, rng Range) bool {
	changed := false
	var kept []Record
	for _, r := range fl.posix {
		if r.Owner.ID != owner.ID {
			kept = append(kept, r)
			continue
		}
		if typ != Unlock && r.Type == typ && r.Range.Start <= rng.End && rng.Start <= r.Range.End {
			// Touching or overlapping a lock of the same type: merge.
			rng.Start = min(rng.Start, r.Range.Start)
			rng.End = max(rng.End, r.Range.End)
			continue
		}
		if !r.Range.overlaps(rng) {
			kept = append(kept, r)
			continue
		}
		changed = true
		if r.Range.Start < rng.Start {
			kept = append(kept, Record{Owner: r.Owner, Type: r.Type, Range: Range{r.Range.Start, rng.Start}})
		}
		if r.Range.End > rng.End {
			kept = append(kept, Record{Owner: r.Owner, Type: r.Type, Range: Range{rng.End, r.Range.End}})
		}
	}
	if typ != Unlock {
		kept = append(kept, Record{Owner: owner, Type: typ, Range: rng})
		changed = true
	}
	fl.posix = kept
	return changed
}

// UnlockAllPOSIX removes every POSIX lock ownerID holds on key: what closing any
// descriptor of the file does to the process's locks.
func (tb *Table) UnlockAllPOSIX(key Key, ownerID any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	fl := tb.files[key]
	if fl == nil {
		return
	}
	kept := fl.posix[:0]
	for _, r := range fl.posix {
		if r.Owner.ID != ownerID {
			kept = append(kept, r)
		}
	}
	changed := len(kept) != len(fl.posix)
	clear(fl.posix[len(kept):])
	fl.posix = kept
	if fl.reapLocked() {
		changed = true
	}
	if changed {
		tb.notifyLocked(key, fl)
	}
}

// Flock sets owner's flock(2) lock on key to typ. Like Linux, converting a lock
// drops the old one before taking the new one. A conflicting lock makes it fail
// with EWOULDBLOCK if wait is nil, and otherwise wait.
func (tb *Table) Flock(key Key, owner Owner, typ Type, wait Wait) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	fl := tb.fileLocked(key)
	fl.reapLocked()
	if old, ok := fl.flocks[owner.ID]; ok {
		if old.Type == typ {
			return nil
		}
		delete(fl.flocks, owner.ID)
		tb.notifyLocked(key, fl)
		fl = tb.fileLocked(key)
	}
	if typ == Unlock {
		tb.forgetLocked(key, fl)
		return nil
	}
	for {
		conflict := false
		for id, r := range fl.flocks {
			if id != owner.ID && conflicts(r.Type, typ) {
				conflict = true
				break
			}
		}
		if !conflict {
			fl.flocks[owner.ID] = Record{Owner: owner, Type: typ, Range: Range{0, EOF}}
			return nil
		}
		if wait == nil {
			return linux.EWOULDBLOCK
		}
		ch := fl.changed
		tb.mu.Unlock()
		err := wait(ch)
		tb.mu.Lock()
		if err != nil {
			if fl = tb.files[key]; fl != nil {
				tb.forgetLocked(key, fl)
			}
			return err
		}
		fl = tb.fileLocked(key)
		if fl.reapLocked() {
			tb.notifyLocked(key, fl)
			fl = tb.fileLocked(key)
		}
	}
}

// Notify wakes the waiters on key's locks so they look again: after a close that
// may have released a file description's last reference.
func (tb *Table) Notify(key Key) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if fl := tb.files[key]; fl != nil {
		fl.reapLocked()
		tb.notifyLocked(key, fl)
	}
}
