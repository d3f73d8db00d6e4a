package linux

import (
	"math"
	"time"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/arch"
	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/epoll"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// epollMaxEvents is EP_MAX_EVENTS: the most events one epoll_wait may ask for.
const epollMaxEvents = math.MaxInt32 / epoll.EventSize

// EpollCreate implements epoll_create(2).
func EpollCreate(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if args[0].Int() <= 0 {
		return 0, linux.EINVAL
	}
	return epollCreate(t, false)
}

// EpollCreate1 implements epoll_create1(2).
func EpollCreate1(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	flags := args[0].Int()
	if flags&^epoll.EPOLL_CLOEXEC != 0 {
		return 0, linux.EINVAL
	}
	return epollCreate(t, flags&epoll.EPOLL_CLOEXEC != 0)
}

func epollCreate(t *kernel.Task, cloexec bool) (uintptr, error) {
	file := epoll.New(t.Kernel().VFS())
	defer file.DecRef()
	fd, err := t.FDTable().NewFD(0, file, kernel.FDFlags{CloseOnExec: cloexec}, nofileLimit(t))
	if err != nil {
		return 0, err
	}
	return uintptr(fd), nil
}

// EpollCtl implements epoll_ctl(2).
func EpollCtl(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	epfd, op, fd, eventAddr := args[0].Int(), args[1].Int(), args[2].Int(), args[3].Pointer()
	var event epoll.Event
	if op != epoll.EPOLL_CTL_DEL {
		var b [epoll.EventSize]byte
		if _, err := t.CopyInBytes(eventAddr, b[:]); err != nil {
			return 0, err
		}
		event = epoll.UnmarshalEvent(b[:])
	}
	fdTable := t.FDTable()
	epFile, _ := fdTable.Get(epfd)
	if epFile == nil {
		return 0, linux.EBADF
	}
	defer epFile.DecRef()
	file, _ := fdTable.Get(fd)
	if file == nil {
		return 0, linux.EBADF
	}
	defer file.DecRef()
	if !pollable(t, file) {
		return 0, linux.EPERM
	}
	ep := epoll.FromFile(epFile)
	if ep == nil || epFile == file {
		return 0, linux.EINVAL
	}
	if op != epoll.EPOLL_CTL_DEL && event.Events&epoll.EPOLLEXCLUSIVE != 0 {
		if op == epoll.EPOLL_CTL_MOD {
			return 0, linux.EINVAL
		}
		if op == epoll.EPOLL_CTL_ADD && (epoll.FromFile(file) != nil || event.Events&^epoll.EPOLLEXCLUSIVE_OK_BITS != 0) {
			return 0, linux.EINVAL
		}
	}
	switch op {
	case epoll.EPOLL_CTL_ADD:
		return 0, ep.AddInterest(file, fd, event)
	case epoll.EPOLL_CTL_MOD:
		return 0, ep.ModifyInterest(file, fd, event)
	case epoll.EPOLL_CTL_DEL:
		return 0, ep.RemoveInterest(file, fd)
	}
	return 0, linux.EINVAL
}

// pollable reports whether file supports poll, as epoll requires (EPERM):
// regular files and directories do not.
func pollable(t *kernel.Task, file *vfs.FileDescription) bool {
	stat, err := file.Stat(t, vfs.StatOptions{Mask: linux.STATX_TYPE})
	if err != nil {
		return true
	}
	switch stat.Mode & linux.S_IFMT {
	case linux.S_IFREG, linux.S_IFDIR:
		return false
	}
	return true
}

// epollWait waits for events on the instance epfd names, for at most timeout, and
// writes up to maxEvents of them to eventsAddr. An interrupted wait fails with
// ERESTARTNOHAND: EINTR once a signal handler runs, as in Linux.
func epollWait(t *kernel.Task, epfd int32, eventsAddr uintptr, maxEvents int32, timeout time.Duration) (uintptr, error) {
	if maxEvents <= 0 || maxEvents > epollMaxEvents {
		return 0, linux.EINVAL
	}
	epFile, _ := t.FDTable().Get(epfd)
	if epFile == nil {
		return 0, linux.EBADF
	}
	defer epFile.DecRef()
	ep := epoll.FromFile(epFile)
	if ep == nil {
		return 0, linux.EINVAL
	}
	events := ep.ReadEvents(int(maxEvents))
	if len(events) == 0 && timeout != 0 {
		e, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
		ep.EventRegister(e)
		defer ep.EventUnregister(e)
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		for {
			if events = ep.ReadEvents(int(maxEvents)); len(events) > 0 {
				break
			}
			if timeout < 0 {
				if err := t.Block(ch); err != nil {
					return 0, kernel.ERESTARTNOHAND
				}
				continue
			}
			left := time.Until(deadline)
			if left <= 0 {
				return 0, nil
			}
			if _, err := t.BlockWithTimeout(ch, left); err == linux.ETIMEDOUT {
				events = ep.ReadEvents(int(maxEvents))
				break
			} else if err != nil {
				return 0, kernel.ERESTARTNOHAND
			}
		}
	}
	if len(events) == 0 {
		return 0, nil
	}
	if _, err := t.CopyOutBytes(eventsAddr, epoll.MarshalEvents(events)); err != nil {
		return 0, err
	}
	return uintptr(len(events)), nil
}

// msTimeout converts epoll_wait's and poll's timeout in milliseconds; negative
// waits forever.
func msTimeout(ms int32) time.Duration {
	if ms < 0 {
		return noTimeout
	}
	return time.Duration(ms) * time.Millisecond
}

// EpollWait implements epoll_wait(2).
func EpollWait(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	return epollWait(t, args[0].Int(), args[1].Pointer(), args[2].Int(), msTimeout(args[3].Int()))
}

// EpollPwait implements epoll_pwait(2).
func EpollPwait(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	if err := setTempSignalMask(t, args[4].Pointer(), args[5].Uint64()); err != nil {
		return 0, err
	}
	return epollWait(t, args[0].Int(), args[1].Pointer(), args[2].Int(), msTimeout(args[3].Int()))
}

// EpollPwait2 implements epoll_pwait2(2): a timespec timeout.
func EpollPwait2(t *kernel.Task, sysno uintptr, args arch.SyscallArguments) (uintptr, error) {
	timeout, err := copyInTimeout(t, args[3].Pointer())
	if err != nil {
		return 0, err
	}
	if err := setTempSignalMask(t, args[4].Pointer(), args[5].Uint64()); err != nil {
		return 0, err
	}
	return epollWait(t, args[0].Int(), args[1].Pointer(), args[2].Int(), timeout)
}
