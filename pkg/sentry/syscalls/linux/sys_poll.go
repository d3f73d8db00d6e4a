package linux

import (
	"encoding/binary"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// The events select(2) maps its three sets to, from fs/select.c.
const (
	selectInSet  = waiter.EventMask(linux.POLLRDNORM | linux.POLLRDBAND | linux.POLLIN | linux.POLLHUP | linux.POLLERR)
	selectOutSet = waiter.EventMask(linux.POLLWRBAND | linux.POLLWRNORM | linux.POLLOUT | linux.POLLERR)
	selectExSet  = waiter.EventMask(linux.POLLPRI)
)

// pollFDSize is the size of struct pollfd.
const pollFDSize = 8

// pollTarget is one file poll or select waits on.
type pollTarget struct {
	file  *vfs.FileDescription // nil: nothing to wait for
	mask  waiter.EventMask     // the events asked for, ERR and HUP included
	ready waiter.EventMask     // the events of mask ready when the wait ended
}

// noTimeout is a timeout that never runs out.
const noTimeout = time.Duration(-1)

// pollWait waits until one of targets is ready, for at most timeout (noTimeout:
// forever; 0: do not wait), and returns how many are ready and the time that was
// left. Each target's ready is set. An interrupted wait fails with ERESTARTNOHAND,
// which restarts the call if no signal handler runs and becomes EINTR if one does.
func pollWait(t *kernel.Task, targets []pollTarget, timeout time.Duration) (int, time.Duration, error) {
	check := func() int {
		n := 0
		for i := range targets {
			pt := &targets[i]
			if pt.file == nil {
				continue
			}
			pt.ready = pt.file.Readiness(pt.mask) & pt.mask
			if pt.ready != 0 {
				n++
			}
		}
		return n
	}
	if n := check(); n > 0 || timeout == 0 {
		return n, timeout, nil
	}

	// Register on every file, then check again so that an event in between is
	// not missed.
	ch := make(waiter.ChannelNotifier, 1)
	entries := make([]waiter.Entry, len(targets))
	for i := range targets {
		pt := &targets[i]
		if pt.file == nil {
			continue
		}
		entries[i].Init(ch, pt.mask)
		if err := pt.file.EventRegister(&entries[i]); err != nil {
			// Not waitable: its readiness is all there is.
			continue
		}
		defer pt.file.EventUnregister(&entries[i])
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		if n := check(); n > 0 {
			return n, timeLeft(deadline, timeout), nil
		}
		if timeout < 0 {
			if err := t.Block(ch); err != nil {
				return 0, noTimeout, kernel.ERESTARTNOHAND
			}
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			return 0, 0, nil
		}
		if _, err := t.BlockWithTimeout(ch, left); err == linux.ETIMEDOUT {
			// One last look, as Linux does after its timer fires.
			return check(), 0, nil
		} else if err != nil {
			return 0, timeLeft(deadline, timeout), kernel.ERESTARTNOHAND
		}
	}
}

// timeLeft returns what is left of a timeout that ends at deadline.
func timeLeft(deadline time.Time, timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return timeout
	}
	return max(time.Until(deadline), 0)
}

// nofileLimit returns t's RLIMIT_NOFILE.
func nofileLimit(t *kernel.Task) uint64 {
	return t.ThreadGroup().Limit(linux.RLIMIT_NOFILE).Cur
}

// doPoll is poll(2) and ppoll(2) after their timeouts are read.
func doPoll(t *kernel.Task, addr uintptr, nfds uint32, timeout time.Duration) (uintptr, time.Duration, error) {
	if uint64(nfds) > nofileLimit(t) {
		return 0, timeout, linux.EINVAL
	}
	buf := make([]byte, int(nfds)*pollFDSize)
	if len(buf) > 0 {
		if _, err := t.CopyInBytes(addr, buf); err != nil {
			return 0, timeout, err
		}
	}
	targets := make([]pollTarget, nfds)
	fdTable := t.FDTable()
	nval := 0
	for i := range targets {
		rec := buf[i*pollFDSize:]
		fd := int32(binary.LittleEndian.Uint32(rec))
		events := binary.LittleEndian.Uint16(rec[4:])
		binary.LittleEndian.PutUint16(rec[6:], 0)
		if fd < 0 {
			continue
		}
		file, _ := fdTable.Get(fd)
		if file == nil {
			binary.LittleEndian.PutUint16(rec[6:], linux.POLLNVAL)
			nval++
			continue
		}
		defer file.DecRef()
		targets[i] = pollTarget{file: file, mask: waiter.EventMask(events) | waiter.EventErr | waiter.EventHUp}
	}
	if nval > 0 {
		timeout = 0 // an invalid descriptor counts as ready
	}
	n, left, err := pollWait(t, targets, timeout)
	if err != nil {
		return 0, left, err
	}
	for i, pt := range targets {
		if pt.file != nil {
			binary.LittleEndian.PutUint16(buf[i*pollFDSize+6:], uint16(pt.ready))
		}
	}
	if len(buf) > 0 {
		if _, err := t.CopyOutBytes(addr, buf); err != nil {
			return 0, left, err
		}
	}
	return uintptr(n + nval), left, nil
}

// Poll implements poll(2). Interrupted by a signal, it is restarted from the start
// unless a handler runs (Linux restarts it with the time that was left; Visor
// waits the whole timeout again).
func Poll(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	addr, nfds, ms := args[0].Pointer(), args[1].Uint(), args[2].Int()
	n, _, err := doPoll(t, addr, nfds, msTimeout(ms))
	return n, err
}

// copyInTimeout reads an optional timespec timeout: noTimeout if addr is 0.
func copyInTimeout(t *kernel.Task, addr uintptr) (time.Duration, error) {
	if addr == 0 {
		return noTimeout, nil
	}
	ts, err := t.CopyInTimespec(addr)
	if err != nil {
		return 0, err
	}
	if !ts.Valid() {
		return 0, linux.EINVAL
	}
	return time.Duration(ts.ToNsec()), nil
}

// setTempSignalMask reads a sigset_t of size bytes at addr (if addr is not 0) and
// makes it the task's signal mask until the call returns (ppoll, pselect6,
// epoll_pwait).
func setTempSignalMask(t *kernel.Task, addr uintptr, size uint64) error {
	if addr == 0 {
		return nil
	}
	if size != linux.SignalSetSize {
		return linux.EINVAL
	}
	mask, err := t.CopyInUint64(addr)
	if err != nil {
		return err
	}
	t.SetSavedSignalMask(linux.SignalSet(mask))
	return nil
}

// copyOutTimeLeft writes what is left of a timeout back to the timespec (or, for
// select, timeval) it came from, as Linux does for ppoll, select and pselect6, so
// that a restarted call waits only for the rest. A failed write turns a restart
// into EINTR, as in Linux.
func copyOutTimeLeft(t *kernel.Task, addr uintptr, timeout, left time.Duration, timeval bool, err error) error {
	if addr == 0 || timeout <= 0 {
		return err
	}
	left = max(left, 0)
	var werr error
	if timeval {
		tv := linux.NsecToTimeval(int64(left))
		werr = t.CopyOutStruct(addr, &tv)
	} else {
		werr = t.CopyOutTimespec(addr, linux.NsecToTimespec(int64(left)))
	}
	if werr != nil && err == kernel.ERESTARTNOHAND {
		return linux.EINTR
	}
	return err
}

// Ppoll implements ppoll(2).
func Ppoll(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	addr, nfds, tsAddr, maskAddr, maskSize := args[0].Pointer(), args[1].Uint(), args[2].Pointer(), args[3].Pointer(), args[4].Uint64()
	timeout, err := copyInTimeout(t, tsAddr)
	if err != nil {
		return 0, err
	}
	if err := setTempSignalMask(t, maskAddr, maskSize); err != nil {
		return 0, err
	}
	n, left, err := doPoll(t, addr, nfds, timeout)
	return n, copyOutTimeLeft(t, tsAddr, timeout, left, false, err)
}

// doSelect is select(2) and pselect6(2) after their timeouts are read.
func doSelect(t *kernel.Task, nfds int32, inAddr, outAddr, exAddr uintptr, timeout time.Duration) (uintptr, time.Duration, error) {
	if nfds < 0 {
		return 0, timeout, linux.EINVAL
	}
	// Linux looks no further than the descriptor table goes.
	n := uint64(nfds)
	if limit := nofileLimit(t); n > limit {
		n = limit
	}
	// The sets are arrays of longs.
	nbytes := int((n + 63) / 64 * 8)
	sets := [3]struct {
		addr uintptr
		mask waiter.EventMask
		in   []byte
	}{{inAddr, selectInSet, nil}, {outAddr, selectOutSet, nil}, {exAddr, selectExSet, nil}}
	for i := range sets {
		s := &sets[i]
		if s.addr == 0 || nbytes == 0 {
			continue
		}
		s.in = make([]byte, nbytes)
		if _, err := t.CopyInBytes(s.addr, s.in); err != nil {
			return 0, timeout, err
		}
	}
	isSet := func(b []byte, fd uint64) bool { return b != nil && b[fd/8]&(1<<(fd%8)) != 0 }

	var targets []pollTarget
	var fds []int32
	fdTable := t.FDTable()
	for fd := uint64(0); fd < n; fd++ {
		var mask waiter.EventMask
		for _, s := range sets {
			if isSet(s.in, fd) {
				mask |= s.mask
			}
		}
		if mask == 0 {
			continue
		}
		file, _ := fdTable.Get(int32(fd))
		if file == nil {
			return 0, timeout, linux.EBADF
		}
		defer file.DecRef()
		targets = append(targets, pollTarget{file: file, mask: mask})
		fds = append(fds, int32(fd))
	}
	_, left, err := pollWait(t, targets, timeout)
	if err != nil {
		return 0, left, err
	}
	count := 0
	for i := range sets {
		s := &sets[i]
		if s.in == nil {
			continue
		}
		out := make([]byte, nbytes)
		for j, pt := range targets {
			fd := uint64(fds[j])
			if isSet(s.in, fd) && pt.ready&s.mask != 0 {
				out[fd/8] |= 1 << (fd % 8)
				count++
			}
		}
		if _, err := t.CopyOutBytes(s.addr, out); err != nil {
			return 0, left, err
		}
	}
	return uintptr(count), left, nil
}

// Select implements select(2). The time left is written back to the timeval, as
// Linux does.
func Select(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	nfds, inAddr, outAddr, exAddr, tvAddr := args[0].Int(), args[1].Pointer(), args[2].Pointer(), args[3].Pointer(), args[4].Pointer()
	timeout := noTimeout
	if tvAddr != 0 {
		var tv linux.Timeval
		if err := t.CopyInStruct(tvAddr, &tv); err != nil {
			return 0, err
		}
		if tv.Sec < 0 || tv.Usec < 0 {
			return 0, linux.EINVAL
		}
		// Linux carries whole seconds out of tv_usec.
		ts := linux.Timespec{Sec: tv.Sec + tv.Usec/1e6, Nsec: tv.Usec % 1e6 * 1e3}
		timeout = time.Duration(ts.ToNsec())
	}
	n, left, err := doSelect(t, nfds, inAddr, outAddr, exAddr, timeout)
	return n, copyOutTimeLeft(t, tvAddr, timeout, left, true, err)
}

// Pselect6 implements pselect6(2): its sixth argument points to a {sigset_t *,
// size_t} pair.
func Pselect6(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	nfds, inAddr, outAddr, exAddr, tsAddr, sigAddr := args[0].Int(), args[1].Pointer(), args[2].Pointer(), args[3].Pointer(), args[4].Pointer(), args[5].Pointer()
	timeout, err := copyInTimeout(t, tsAddr)
	if err != nil {
		return 0, err
	}
	if sigAddr != 0 {
		var b [16]byte
		if _, err := t.CopyInBytes(sigAddr, b[:]); err != nil {
			return 0, err
		}
		maskAddr := uintptr(binary.LittleEndian.Uint64(b[:]))
		if err := setTempSignalMask(t, maskAddr, binary.LittleEndian.Uint64(b[8:])); err != nil {
			return 0, err
		}
	}
	n, left, err := doSelect(t, nfds, inAddr, outAddr, exAddr, timeout)
	return n, copyOutTimeLeft(t, tsAddr, timeout, left, false, err)
}
