// Package host provides file descriptions for host FDs the Sentry was given: the
// container's stdin, stdout and stderr, which runsc passes to the sandbox (a pipe, a
// file, /dev/null, or the terminal of a container started with one).
//
// These FDs belong to the sandbox: the Sentry serves the application's read(2),
// write(2), poll(2) and ioctl(2) on them with its own code, which reads and writes
// the donated FD. Nothing the application asks of them reaches the host as the
// application's call: reads and writes move bytes through Sentry buffers;
// readiness comes from a Sentry-side poller (an epoll instance of the Sentry's own,
// see notifier); stat is synthesized from the host's fstat; and of the ioctls only
// the terminal ones that query or set the terminal's own settings (termios and
// window size) and FIONREAD are passed on, for a terminal FD. That is safe because
// the terminal is the container's own (runsc gets it from the console socket for
// this container alone): changing its modes changes nothing outside it. Process
// group and session control (TIOCSPGRP, TIOCSCTTY) are the Sentry's: the host
// terminal knows nothing of the sandbox's processes. So is job control (tty.go):
// a background process group of the terminal's session that reads it, changes
// its modes, or writes to it with TOSTOP gets SIGTTIN or SIGTTOU from the Sentry,
// as Linux's line discipline would send it. The signals the host terminal itself
// generates (^C, ^\, ^Z, window size changes) reach the host process that has it
// as controlling terminal, the Sentry, which passes them on with
// SignalForeground (see runsc/boot).
//
// Pollable host FDs (pipes, sockets, terminals) are made non-blocking on the host,
// so that a read never blocks a Sentry thread; a blocking read waits, interruptibly,
// for the poller to report the FD readable, as for any other file.
package host

import (
	"encoding/binary"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/anonfs"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// Options say how NewFD imports a host FD.
type Options struct {
	// IsTTY marks the FD as the container's terminal. NewFD also recognises a
	// terminal by itself (a character device that answers TCGETS).
	IsTTY bool
	// Readonly and Writeonly restrict the file to reading or writing, beyond
	// what the host FD's access mode allows.
	Readonly, Writeonly bool
}

// NewFD returns a file description for hostFD, which the Sentry owns from now on:
// it is closed when the file description is released (also when NewFD fails). The
// description's access mode and O_APPEND come from the host FD's; it is opened in
// vfsObj's anonfs and shows as "host:[hostFD]" in /proc/[pid]/fd, or a pty
// replica as its /dev/pts path (tty_node.go). The caller holds
// the one reference, which it typically passes to an FD table (the boot code
// installs the container's fds 0, 1 and 2 this way).
func NewFD(vfsObj *vfs.VirtualFilesystem, hostFD int, opts *Options) (*vfs.FileDescription, error) {
	if opts == nil {
		opts = &Options{}
	}
	var st unix.Stat_t
	if err := unix.Fstat(hostFD, &st); err != nil {
		unix.Close(hostFD)
		return nil, hostErr(err)
	}
	hostFlags, err := unix.FcntlInt(uintptr(hostFD), unix.F_GETFL, 0)
	if err != nil {
		unix.Close(hostFD)
		return nil, hostErr(err)
	}
	fileType := st.Mode & unix.S_IFMT
	isTTY := opts.IsTTY
	if !isTTY && fileType == unix.S_IFCHR {
		if _, err := unix.IoctlGetTermios(hostFD, unix.TCGETS); err == nil {
			isTTY = true
		}
	}
	seekable := fileType == unix.S_IFREG || fileType == unix.S_IFBLK || fileType == unix.S_IFDIR

	f := &fileDescription{
		hostFD:   int32(hostFD),
		fileType: uint32(fileType),
		seekable: seekable,
	}
	if isTTY {
		attachTTY(f, vfsObj, &st)
	}
	if !seekable {
		// Reads and writes must never block a Sentry thread.
		if err := unix.SetNonblock(hostFD, true); err != nil {
			if f.tty != nil {
				f.detachTTY()
			}
			unix.Close(hostFD)
			return nil, hostErr(err)
		}
		if n, err := getNotifier(); err == nil {
			if n.add(f.hostFD, &f.queue) == nil {
				f.notifier = n
			}
		}
	}

	hostAcc := uint32(hostFlags) & linux.O_ACCMODE
	readable := hostAcc != linux.O_WRONLY && !opts.Writeonly
	writable := hostAcc != linux.O_RDONLY && !opts.Readonly
	var flags uint32
	switch {
	case readable && writable:
		flags = linux.O_RDWR
	case writable:
		flags = linux.O_WRONLY
	case readable:
		flags = linux.O_RDONLY
	default:
		flags = linux.O_RDONLY
		f.noAccess = true
	}
	flags |= uint32(hostFlags) & linux.O_APPEND

	mnt := anonfs.Mount(vfsObj)
	name := "host:[" + strconv.Itoa(hostFD) + "]"
	if ttyName, ok := terminalName(&st); ok && isTTY {
		name = ttyName
	}
	d := anonfs.NewDentry(mnt, name, func(vfs.Context, vfs.StatOptions) (linux.Statx, error) {
		return f.stat()
	})
	f.vfsfd.Init(f, flags, mnt, d, &vfs.FileDescriptionOptions{
		DenyPRead:  !seekable,
		DenyPWrite: !seekable,
	})
	return &f.vfsfd, nil
}

// fileDescription is a host FD's file description.
type fileDescription struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl

	hostFD   int32
	fileType uint32 // the host's S_IFMT bits
	seekable bool
	noAccess bool

	// queue is notified of the host FD's events by notifier, if it watches it.
	queue    waiter.Queue
	notifier *notifier

	// tty is set for a terminal.
	tty *ttyState

	// closeOnce guards the host close.
	closeOnce sync.Once
}

// HostFD returns the host FD f wraps, for the boot code and tests.
func HostFD(fd *vfs.FileDescription) (int, bool) {
	f, ok := fd.Impl().(*fileDescription)
	if !ok {
		return -1, false
	}
	return int(f.hostFD), true
}

// IsTTY reports whether fd is a host terminal.
func IsTTY(fd *vfs.FileDescription) bool {
	f, ok := fd.Impl().(*fileDescription)
	return ok && f.tty != nil
}

// Release implements vfs.FileDescriptionImpl.Release.
func (f *fileDescription) Release() {
	f.closeOnce.Do(func() {
		if f.notifier != nil {
			f.notifier.remove(f.hostFD)
		}
		if f.tty != nil {
			f.detachTTY()
		}
		unix.Close(int(f.hostFD))
	})
}

// hostErr converts an error of a host call into the errno the application sees.
func hostErr(err error) error {
	if errno, ok := err.(unix.Errno); ok {
		return linux.Errno(errno)
	}
	return err
}

// Read implements vfs.FileDescriptionImpl.Read.
func (f *fileDescription) Read(ctx vfs.Context, dst []byte, _ vfs.ReadOptions) (int64, error) {
	if f.noAccess {
		return 0, linux.EBADF
	}
	if f.tty != nil {
		if err := f.ttyCheckRead(ctx); err != nil {
			return 0, err
		}
	}
	for {
		n, err := unix.Read(int(f.hostFD), dst)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, hostErr(err)
		}
		return int64(n), nil
	}
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (f *fileDescription) PRead(_ vfs.Context, dst []byte, offset int64, _ vfs.ReadOptions) (int64, error) {
	if f.noAccess {
		return 0, linux.EBADF
	}
	for {
		n, err := unix.Pread(int(f.hostFD), dst, offset)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, hostErr(err)
		}
		return int64(n), nil
	}
}

// Write implements vfs.FileDescriptionImpl.Write: it writes all of src unless the
// host FD is full, when it returns what it wrote with EAGAIN.
func (f *fileDescription) Write(ctx vfs.Context, src []byte, _ vfs.WriteOptions) (int64, error) {
	if f.noAccess {
		return 0, linux.EBADF
	}
	if f.tty != nil {
		if err := f.ttyCheckWrite(ctx); err != nil {
			return 0, err
		}
	}
	var total int64
	for total < int64(len(src)) {
		n, err := unix.Write(int(f.hostFD), src[total:])
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			total += int64(n)
		}
		if err != nil {
			return total, hostErr(err)
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

// PWrite implements vfs.FileDescriptionImpl.PWrite.
func (f *fileDescription) PWrite(_ vfs.Context, src []byte, offset int64, _ vfs.WriteOptions) (int64, error) {
	if f.noAccess {
		return 0, linux.EBADF
	}
	for {
		n, err := unix.Pwrite(int(f.hostFD), src, offset)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, hostErr(err)
		}
		return int64(n), nil
	}
}

// Seek implements vfs.FileDescriptionImpl.Seek: the host FD's own offset, for
// files that have one.
func (f *fileDescription) Seek(_ vfs.Context, offset int64, whence int32) (int64, error) {
	if !f.seekable {
		return 0, linux.ESPIPE
	}
	off, err := unix.Seek(int(f.hostFD), offset, int(whence))
	if err != nil {
		return 0, hostErr(err)
	}
	return off, nil
}

// Sync implements vfs.FileDescriptionImpl.Sync.
func (f *fileDescription) Sync(vfs.Context) error {
	if f.fileType != unix.S_IFREG {
		return linux.EINVAL
	}
	return hostErr(unix.Fsync(int(f.hostFD)))
}

// Stat implements vfs.FileDescriptionImpl.Stat.
func (f *fileDescription) Stat(vfs.Context, vfs.StatOptions) (linux.Statx, error) {
	return f.stat()
}

// stat synthesizes the file's status from the host's fstat: its type, mode,
// size and times; owner and inode number as the host has them, except that a
// terminal with a node in the sandbox is that node's inode (tty_node.go).
func (f *fileDescription) stat() (linux.Statx, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.hostFD), &st); err != nil {
		return linux.Statx{}, hostErr(err)
	}
	ts := func(t unix.Timespec) linux.StatxTimestamp {
		return linux.StatxTimestamp{Sec: t.Sec, Nsec: uint32(t.Nsec)}
	}
	sx := linux.Statx{
		Mask:      linux.STATX_BASIC_STATS,
		Blksize:   uint32(st.Blksize),
		Nlink:     uint32(st.Nlink),
		UID:       st.Uid,
		GID:       st.Gid,
		Mode:      uint16(st.Mode),
		Ino:       st.Ino,
		Size:      uint64(st.Size),
		Blocks:    uint64(st.Blocks),
		Atime:     ts(st.Atim),
		Mtime:     ts(st.Mtim),
		Ctime:     ts(st.Ctim),
		RdevMajor: unix.Major(st.Rdev),
		RdevMinor: unix.Minor(st.Rdev),
		DevMajor:  unix.Major(st.Dev),
		DevMinor:  unix.Minor(st.Dev),
	}
	if f.tty != nil {
		f.tty.statAsNode(&sx)
	}
	return sx, nil
}

// SetStat implements vfs.FileDescriptionImpl.SetStat: the host file's metadata is
// not the sandbox's to change.
func (f *fileDescription) SetStat(vfs.Context, vfs.SetStatOptions) error { return linux.EPERM }

// StatFS implements vfs.FileDescriptionImpl.StatFS.
func (f *fileDescription) StatFS(vfs.Context) (linux.Statfs, error) { return anonfs.StatFS(), nil }

// Readiness implements waiter.Waitable.Readiness with a zero-timeout poll of the
// host FD.
func (f *fileDescription) Readiness(mask waiter.EventMask) waiter.EventMask {
	pfd := []unix.PollFd{{Fd: f.hostFD, Events: int16(mask & allEvents)}}
	for {
		_, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0
		}
		break
	}
	return waiter.EventMask(uint16(pfd[0].Revents)) & allEvents & mask
}

// EventRegister implements waiter.Waitable.EventRegister.
func (f *fileDescription) EventRegister(e *waiter.Entry) error {
	f.queue.EventRegister(e)
	return nil
}

// EventUnregister implements waiter.Waitable.EventUnregister.
func (f *fileDescription) EventUnregister(e *waiter.Entry) { f.queue.EventUnregister(e) }

// Ioctl implements vfs.FileDescriptionImpl.Ioctl: FIONREAD for pipes, sockets and
// terminals, and the terminal ioctls for a terminal (tty.go).
func (f *fileDescription) Ioctl(ctx vfs.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	if cmd == linux.FIONREAD && f.fileType != unix.S_IFREG && f.fileType != unix.S_IFDIR {
		n, err := unix.IoctlGetInt(int(f.hostFD), linux.FIONREAD)
		if err != nil {
			return 0, hostErr(err)
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(n))
		_, err = mem.CopyOut(arg, b[:])
		return 0, err
	}
	if f.tty != nil {
		return f.ttyIoctl(ctx, mem, cmd, arg)
	}
	return 0, linux.ENOTTY
}
