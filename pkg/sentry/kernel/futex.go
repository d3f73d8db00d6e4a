package kernel

import (
	"container/list"
	"encoding/binary"
	"sync"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/mm"
)

// futexKey names a futex word: an address in one address space for private
// futexes; for shared ones (without FUTEX_PRIVATE_FLAG) the memory manager's name
// for it, which is the same in every process sharing the memory.
type futexKey struct {
	object any
	offset uint64
}

// keyOf returns the key of the futex word at addr in m.
func keyOf(m *mm.MemoryManager, addr uintptr, private bool) futexKey {
	if private {
		return futexKey{object: m, offset: uint64(addr)}
	}
	obj, off := m.FutexKey(addr)
	return futexKey{object: obj, offset: off}
}

// futexWaiter is a task blocked in FUTEX_WAIT.
type futexWaiter struct {
	key    futexKey
	bitset uint32
	// woken is closed by the waker; the waiter's queue entry is gone by then.
	woken chan struct{}
	elem  *list.Element
}

// FutexManager holds the tasks waiting on futexes.
type FutexManager struct {
	// mu guards queues. Lock order: after ts.mu and signalHandlers.mu; memory is
	// read under it (as Linux reads the futex word under its bucket lock).
	mu     sync.Mutex
	queues map[futexKey]*list.List
}

func newFutexManager() *FutexManager {
	return &FutexManager{queues: make(map[futexKey]*list.List)}
}

func loadFutexWord(m *mm.MemoryManager, addr uintptr) (uint32, error) {
	if addr%4 != 0 {
		return 0, linux.EINVAL
	}
	var b [4]byte
	if _, err := m.CopyIn(addr, b[:]); err != nil {
		return 0, linux.EFAULT
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (f *FutexManager) enqueueLocked(w *futexWaiter) {
	q := f.queues[w.key]
	if q == nil {
		q = list.New()
		f.queues[w.key] = q
	}
	w.elem = q.PushBack(w)
}

func (f *FutexManager) dequeueLocked(w *futexWaiter) {
	q := f.queues[w.key]
	q.Remove(w.elem)
	w.elem = nil
	if q.Len() == 0 {
		delete(f.queues, w.key)
	}
}

// Wait blocks t while the word at addr holds val, until woken with a matching
// bitset, the deadline passes (ETIMEDOUT; a zero deadline waits forever) or t is
// interrupted. It fails with EAGAIN if the word does not hold val.
func (f *FutexManager) Wait(t *Task, addr uintptr, private bool, val, bitset uint32, deadline time.Time) error {
	if bitset == 0 {
		return linux.EINVAL
	}
	m := t.MemoryManager()
	w := &futexWaiter{key: keyOf(m, addr, private), bitset: bitset, woken: make(chan struct{})}
	f.mu.Lock()
	cur, err := loadFutexWord(m, addr)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	if cur != val {
		f.mu.Unlock()
		return linux.EAGAIN
	}
	f.enqueueLocked(w)
	f.mu.Unlock()

	if deadline.IsZero() {
		err = t.Block(w.woken)
	} else {
		_, err = t.BlockWithTimeout(w.woken, time.Until(deadline))
	}
	if err == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.elem == nil {
		return nil // woken as we gave up: the wake counts
	}
	f.dequeueLocked(w)
	return err
}

// Wake wakes up to n waiters on the word at addr whose bitset intersects bitset,
// and returns how many it woke.
func (f *FutexManager) Wake(m *mm.MemoryManager, addr uintptr, private bool, bitset uint32, n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wakeLocked(keyOf(m, addr, private), bitset, n)
}

func (f *FutexManager) wakeLocked(key futexKey, bitset uint32, n int) int {
	q := f.queues[key]
	if q == nil {
		return 0
	}
	woken := 0
	for e := q.Front(); e != nil && woken < n; {
		next := e.Next()
		w := e.Value.(*futexWaiter)
		if w.bitset&bitset != 0 {
			f.dequeueLocked(w)
			close(w.woken)
			woken++
		}
		e = next
	}
	return woken
}

// Requeue wakes up to nWake waiters on addr and moves up to nRequeue others to
// wait on addr2 (FUTEX_REQUEUE). With check set, it first fails with EAGAIN unless
// the word at addr holds val (FUTEX_CMP_REQUEUE). It returns the number woken
// plus, for FUTEX_CMP_REQUEUE, the number requeued.
func (f *FutexManager) Requeue(m *mm.MemoryManager, addr, addr2 uintptr, private, check bool, val uint32, nWake, nRequeue int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if check {
		cur, err := loadFutexWord(m, addr)
		if err != nil {
			return 0, err
		}
		if cur != val {
			return 0, linux.EAGAIN
		}
	}
	key, key2 := keyOf(m, addr, private), keyOf(m, addr2, private)
	woken := f.wakeLocked(key, ^uint32(0), nWake)
	requeued := 0
	if q := f.queues[key]; q != nil {
		for e := q.Front(); e != nil && requeued < nRequeue; {
			next := e.Next()
			w := e.Value.(*futexWaiter)
			// Requeueing onto the same futex moves nothing but still counts,
			// as in Linux (programs use it to count waiters).
			if key != key2 {
				f.dequeueLocked(w)
				w.key = key2
				f.enqueueLocked(w)
			}
			requeued++
			e = next
		}
	}
	if check {
		return woken + requeued, nil
	}
	return woken, nil
}

// WakeOp applies op to the word at addr2, wakes up to n waiters on addr, and if
// the word's old value passes op's comparison, up to n2 waiters on addr2
// (FUTEX_WAKE_OP). The read-modify-write is atomic only against other futex
// operations, not against application threads writing the word directly.
func (f *FutexManager) WakeOp(m *mm.MemoryManager, addr, addr2 uintptr, private bool, n, n2 int, op uint32) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := loadFutexWord(m, addr2)
	if err != nil {
		return 0, err
	}
	oparg := (op >> 12) & 0xfff
	if op&(8<<28) != 0 { // FUTEX_OP_OPARG_SHIFT in the op field
		oparg = 1 << (oparg & 31)
	}
	var nv uint32
	switch (op >> 28) & 7 {
	case linux.FUTEX_OP_SET:
		nv = oparg
	case linux.FUTEX_OP_ADD:
		nv = old + oparg
	case linux.FUTEX_OP_OR:
		nv = old | oparg
	case linux.FUTEX_OP_ANDN:
		nv = old &^ oparg
	case linux.FUTEX_OP_XOR:
		nv = old ^ oparg
	default:
		return 0, linux.ENOSYS
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], nv)
	if _, err := m.CopyOut(addr2, b[:]); err != nil {
		return 0, linux.EFAULT
	}
	woken := f.wakeLocked(keyOf(m, addr, private), ^uint32(0), n)
	cmparg := int32(op&0xfff<<20) >> 20 // sign-extend 12 bits
	o := int32(old)
	var cond bool
	switch (op >> 24) & 0xf {
	case linux.FUTEX_OP_CMP_EQ:
		cond = o == cmparg
	case linux.FUTEX_OP_CMP_NE:
		cond = o != cmparg
	case linux.FUTEX_OP_CMP_LT:
		cond = o < cmparg
	case linux.FUTEX_OP_CMP_LE:
		cond = o <= cmparg
	case linux.FUTEX_OP_CMP_GT:
		cond = o > cmparg
	case linux.FUTEX_OP_CMP_GE:
		cond = o >= cmparg
	default:
		return 0, linux.ENOSYS
	}
	if cond {
		woken += f.wakeLocked(keyOf(m, addr2, private), ^uint32(0), n2)
	}
	return woken, nil
}
