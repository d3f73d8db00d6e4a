package host

import (
	"encoding/binary"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

func testCtx() vfs.Context {
	return vfs.NewContext(auth.NewRootCredentials(auth.NewRootUserNamespace()), waiter.UninterruptibleBlocker{})
}

// pipeFD returns a host file for the read end of a new host pipe and the host
// write end.
func hostPipe(t *testing.T) (r *vfs.FileDescription, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	fd, err := NewFD(vfs.New(), p[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[1]) })
	return fd, p[1]
}

func TestPipeReadWrite(t *testing.T) {
	r, w := hostPipe(t)
	defer r.DecRef()
	ctx := testCtx()
	if !r.IsReadable() || r.IsWritable() {
		t.Errorf("read end: readable %v writable %v", r.IsReadable(), r.IsWritable())
	}
	buf := make([]byte, 16)
	if _, err := r.Read(ctx, buf, vfs.ReadOptions{}); err != linux.EAGAIN {
		t.Errorf("read of empty pipe: %v, want EAGAIN", err)
	}
	if r.Readiness(waiter.ReadableEvents) != 0 {
		t.Errorf("empty pipe readable")
	}
	unix.Write(w, []byte("hello"))
	if got := r.Readiness(waiter.ReadableEvents); got&waiter.EventIn == 0 {
		t.Errorf("readiness %#x, want readable", got)
	}
	n, err := r.Read(ctx, buf, vfs.ReadOptions{})
	if err != nil || string(buf[:n]) != "hello" {
		t.Errorf("read = %q, %v", buf[:n], err)
	}
	if _, err := r.Write(ctx, []byte("x"), vfs.WriteOptions{}); err != linux.EBADF {
		t.Errorf("write to read end: %v, want EBADF", err)
	}
	if _, err := r.PRead(ctx, buf, 0, vfs.ReadOptions{}); err != linux.ESPIPE {
		t.Errorf("pread of a pipe: %v, want ESPIPE", err)
	}
	st, err := r.Stat(ctx, vfs.StatOptions{})
	if err != nil || st.Mode&linux.S_IFMT != linux.S_IFIFO {
		t.Errorf("stat = mode %#o, %v; want a FIFO", st.Mode, err)
	}
	unix.Close(w)
	if n, err := r.Read(ctx, buf, vfs.ReadOptions{}); n != 0 || err != nil {
		t.Errorf("read after writer closed = %d, %v; want EOF", n, err)
	}
}

func TestBlockingReadIsWokenByPoller(t *testing.T) {
	r, w := hostPipe(t)
	defer r.DecRef()
	done := make(chan string)
	go func() {
		buf := make([]byte, 16)
		n, err := r.BlockingRead(testCtx(), buf, vfs.ReadOptions{})
		if err != nil {
			t.Errorf("BlockingRead: %v", err)
		}
		done <- string(buf[:n])
	}()
	time.Sleep(20 * time.Millisecond)
	unix.Write(w, []byte("wake"))
	select {
	case got := <-done:
		if got != "wake" {
			t.Errorf("read %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking read never woke")
	}
}

func TestBlockingReadIsInterruptible(t *testing.T) {
	r, _ := hostPipe(t)
	defer r.DecRef()
	intr := make(chan struct{})
	ctx := vfs.NewContext(auth.NewRootCredentials(auth.NewRootUserNamespace()), waiter.InterruptibleBlocker{Interrupt: intr})
	done := make(chan error)
	go func() {
		_, err := r.BlockingRead(ctx, make([]byte, 4), vfs.ReadOptions{})
		done <- err
	}()
	close(intr)
	if err := <-done; err != waiter.ErrInterrupted {
		t.Errorf("interrupted read: %v", err)
	}
}

func TestSocketpairWriteFillsAndNotifies(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	f, err := NewFD(vfs.New(), fds[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	if !f.IsReadable() || !f.IsWritable() {
		t.Fatal("socket not read-write")
	}
	ctx := testCtx()
	chunk := make([]byte, 64<<10)
	var total int64
	for i := 0; i < 100; i++ {
		n, err := f.Write(ctx, chunk, vfs.WriteOptions{})
		total += n
		if err == linux.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.Readiness(waiter.WritableEvents) != 0 {
		t.Fatalf("full socket still writable after %d bytes", total)
	}
	e, ch := waiter.NewChannelEntry(waiter.WritableEvents)
	f.EventRegister(e)
	defer f.EventUnregister(e)
	buf := make([]byte, 1<<20)
	for drained := int64(0); drained < total; {
		n, err := unix.Read(fds[1], buf)
		if err != nil {
			t.Fatal(err)
		}
		drained += int64(n)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no writable notification after the peer drained the socket")
	}
	st, _ := f.Stat(ctx, vfs.StatOptions{})
	if st.Mode&linux.S_IFMT != linux.S_IFSOCK {
		t.Errorf("stat mode %#o, want a socket", st.Mode)
	}
}

func TestRegularFile(t *testing.T) {
	name := t.TempDir() + "/f"
	if err := os.WriteFile(name, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	hfd, err := unix.Open(name, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFD(vfs.New(), hfd, &Options{Readonly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	ctx := testCtx()
	if f.IsWritable() {
		t.Error("Readonly file is writable")
	}
	buf := make([]byte, 3)
	if n, err := f.PRead(ctx, buf, 4, vfs.ReadOptions{}); n != 3 || err != nil || string(buf) != "456" {
		t.Errorf("pread = %d %q %v", n, buf, err)
	}
	if off, err := f.Seek(ctx, 8, linux.SEEK_SET); off != 8 || err != nil {
		t.Errorf("seek = %d, %v", off, err)
	}
	if n, _ := f.Read(ctx, buf, vfs.ReadOptions{}); string(buf[:n]) != "89" {
		t.Errorf("read after seek = %q", buf[:n])
	}
	st, err := f.Stat(ctx, vfs.StatOptions{})
	if err != nil || st.Mode&linux.S_IFMT != linux.S_IFREG || st.Size != 10 {
		t.Errorf("stat = %+v, %v", st, err)
	}
	if got := f.Readiness(waiter.ReadableEvents | waiter.WritableEvents); got&waiter.EventIn == 0 {
		t.Errorf("regular file readiness %#x, want always ready", got)
	}
	if _, err := f.Ioctl(ctx, nil, TCGETS, 0); err != linux.ENOTTY {
		t.Errorf("TCGETS on a file: %v, want ENOTTY", err)
	}
}

// fakeMemory is a UserMemory of one buffer at address 0x1000.
type fakeMemory struct{ buf [64]byte }

const fakeAddr = 0x1000

func (m *fakeMemory) CopyIn(addr uintptr, dst []byte) (int, error) {
	if addr < fakeAddr || addr-fakeAddr+uintptr(len(dst)) > uintptr(len(m.buf)) {
		return 0, linux.EFAULT
	}
	return copy(dst, m.buf[addr-fakeAddr:]), nil
}

func (m *fakeMemory) CopyOut(addr uintptr, src []byte) (int, error) {
	if addr < fakeAddr || addr-fakeAddr+uintptr(len(src)) > uintptr(len(m.buf)) {
		return 0, linux.EFAULT
	}
	return copy(m.buf[addr-fakeAddr:], src), nil
}

// openPTY returns a host pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave int) {
	t.Helper()
	master, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = unix.Open("/dev/pts/"+itoa(int(n)), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(master)
		t.Skipf("opening the pty slave: %v", err)
	}
	return master, slave
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestTTY(t *testing.T) {
	master, slave := openPTY(t)
	defer unix.Close(master)
	f, err := NewFD(vfs.New(), slave, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	if !IsTTY(f) {
		t.Fatal("pty slave not recognised as a terminal")
	}
	ctx := testCtx()
	mem := &fakeMemory{}

	// Window size round trip.
	binary.LittleEndian.PutUint16(mem.buf[0:], 33)
	binary.LittleEndian.PutUint16(mem.buf[2:], 111)
	if _, err := f.Ioctl(ctx, mem, TIOCSWINSZ, fakeAddr); err != nil {
		t.Fatalf("TIOCSWINSZ: %v", err)
	}
	mem.buf = [64]byte{}
	if _, err := f.Ioctl(ctx, mem, TIOCGWINSZ, fakeAddr); err != nil {
		t.Fatalf("TIOCGWINSZ: %v", err)
	}
	if r, c := binary.LittleEndian.Uint16(mem.buf[0:]), binary.LittleEndian.Uint16(mem.buf[2:]); r != 33 || c != 111 {
		t.Errorf("winsize %dx%d, want 33x111", r, c)
	}

	// Turn echo off and read it back.
	if _, err := f.Ioctl(ctx, mem, TCGETS, fakeAddr); err != nil {
		t.Fatalf("TCGETS: %v", err)
	}
	lflag := binary.LittleEndian.Uint32(mem.buf[12:])
	binary.LittleEndian.PutUint32(mem.buf[12:], lflag&^unix.ECHO)
	if _, err := f.Ioctl(ctx, mem, TCSETS, fakeAddr); err != nil {
		t.Fatalf("TCSETS: %v", err)
	}
	tios, err := unix.IoctlGetTermios(slave, unix.TCGETS)
	if err != nil || tios.Lflag&unix.ECHO != 0 {
		t.Errorf("host termios lflag %#x, %v; want ECHO off", tios.Lflag, err)
	}

	// No session has it as controlling terminal yet.
	if _, err := f.Ioctl(ctx, mem, TIOCGPGRP, fakeAddr); err != linux.ENOTTY {
		t.Errorf("TIOCGPGRP without a session: %v, want ENOTTY", err)
	}
	if err := SetControllingTerminal(f, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Ioctl(ctx, mem, TIOCGPGRP, fakeAddr); err != nil || binary.LittleEndian.Uint32(mem.buf[:]) != 1 {
		t.Errorf("TIOCGPGRP = %d, %v; want 1", binary.LittleEndian.Uint32(mem.buf[:]), err)
	}

	// Data flows both ways; FIONREAD counts what is queued.
	unix.Write(master, []byte("hi\n"))
	deadline := time.Now().Add(5 * time.Second)
	for f.Readiness(waiter.EventIn) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := f.Ioctl(ctx, mem, linux.FIONREAD, fakeAddr); err != nil || binary.LittleEndian.Uint32(mem.buf[:]) != 3 {
		t.Errorf("FIONREAD = %d, %v; want 3", binary.LittleEndian.Uint32(mem.buf[:]), err)
	}
	buf := make([]byte, 8)
	if n, err := f.Read(ctx, buf, vfs.ReadOptions{}); err != nil || string(buf[:n]) != "hi\n" {
		t.Errorf("read = %q, %v", buf[:n], err)
	}
	st, _ := f.Stat(ctx, vfs.StatOptions{})
	if st.Mode&linux.S_IFMT != linux.S_IFCHR {
		t.Errorf("stat mode %#o, want a character device", st.Mode)
	}
	if _, err := f.Ioctl(ctx, mem, 0x1234, fakeAddr); err != linux.ENOTTY {
		t.Errorf("unknown ioctl: %v, want ENOTTY", err)
	}
}

func TestReleaseClosesHostFD(t *testing.T) {
	r, _ := hostPipe(t)
	hfd, _ := HostFD(r)
	r.DecRef()
	if _, err := unix.FcntlInt(uintptr(hfd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("host FD still open after release: %v", err)
	}
}
