package pipe_test

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/fsimpl/pipefs"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/kernel/pipe"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

type env struct {
	vfs  *vfs.VirtualFilesystem
	mnt  *vfs.Mount
	ctx  vfs.Context
	user vfs.Context
}

func newEnv() *env {
	vfsObj := vfs.New()
	ns := auth.NewRootUserNamespace()
	return &env{
		vfs:  vfsObj,
		mnt:  pipefs.NewMount(vfsObj),
		ctx:  vfs.NewContext(auth.NewRootCredentials(ns), waiter.UninterruptibleBlocker{}),
		user: vfs.NewContext(auth.NewUserCredentials(1000, 1000, nil, nil, ns), waiter.UninterruptibleBlocker{}),
	}
}

func (e *env) pipe(t testing.TB, flags uint32) (r, w *vfs.FileDescription) {
	t.Helper()
	r, w, err := pipefs.NewConnectedPipeFDs(e.ctx, e.mnt, flags)
	if err != nil {
		t.Fatal(err)
	}
	return r, w
}

func TestPipeBasics(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, linux.O_NONBLOCK)
	buf := make([]byte, 100)
	if _, err := r.Read(e.ctx, buf, vfs.ReadOptions{}); err != linux.EAGAIN {
		t.Errorf("read of an empty pipe: %v, want EAGAIN", err)
	}
	if n, err := w.Write(e.ctx, nil, vfs.WriteOptions{}); n != 0 || err != nil {
		t.Errorf("empty write = %d, %v", n, err)
	}
	w.Write(e.ctx, []byte("hello"), vfs.WriteOptions{})
	if n, _ := r.Read(e.ctx, buf[:3], vfs.ReadOptions{}); string(buf[:n]) != "hel" {
		t.Errorf("read = %q", buf[:n])
	}
	if n, _ := r.Read(e.ctx, buf, vfs.ReadOptions{}); string(buf[:n]) != "lo" {
		t.Errorf("read = %q", buf[:n])
	}
	if _, err := w.Read(e.ctx, buf, vfs.ReadOptions{}); err != linux.EBADF {
		t.Errorf("read of the write end: %v, want EBADF", err)
	}
	if _, err := r.Write(e.ctx, buf, vfs.WriteOptions{}); err != linux.EBADF {
		t.Errorf("write of the read end: %v, want EBADF", err)
	}
	if _, err := r.PRead(e.ctx, buf, 0, vfs.ReadOptions{}); err != linux.ESPIPE {
		t.Errorf("pread: %v, want ESPIPE", err)
	}
	if _, err := w.PWrite(e.ctx, buf, 0, vfs.WriteOptions{}); err != linux.ESPIPE {
		t.Errorf("pwrite: %v, want ESPIPE", err)
	}
	if _, err := r.Seek(e.ctx, 0, linux.SEEK_CUR); err != linux.ESPIPE {
		t.Errorf("lseek: %v, want ESPIPE", err)
	}
	// End of file once the writer is gone, after the data.
	w.Write(e.ctx, []byte("tail"), vfs.WriteOptions{})
	w.DecRef()
	if n, err := r.Read(e.ctx, buf, vfs.ReadOptions{}); string(buf[:n]) != "tail" || err != nil {
		t.Errorf("read before EOF = %q, %v", buf[:n], err)
	}
	if n, err := r.Read(e.ctx, buf, vfs.ReadOptions{}); n != 0 || err != nil {
		t.Errorf("read at EOF = %d, %v", n, err)
	}
	r.DecRef()

	// EPIPE once the reader is gone.
	r, w = e.pipe(t, 0)
	r.DecRef()
	if _, err := w.Write(e.ctx, []byte("x"), vfs.WriteOptions{}); err != linux.EPIPE {
		t.Errorf("write without readers: %v, want EPIPE", err)
	}
	w.DecRef()

	if _, _, err := pipefs.NewConnectedPipeFDs(e.ctx, e.mnt, linux.O_APPEND); err != linux.EINVAL {
		t.Errorf("pipe2(O_APPEND): %v, want EINVAL", err)
	}
}

func TestCapacityAndAtomicity(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, linux.O_NONBLOCK)
	defer r.DecRef()
	defer w.DecRef()
	wfd := w.Impl().(*pipe.VFSPipeFD)
	if got := wfd.PipeSize(); got != 65536 {
		t.Errorf("default size = %d", got)
	}
	n, err := w.BlockingWrite(e.ctx, make([]byte, 70000), vfs.WriteOptions{})
	if n != 65536 || err != nil {
		t.Errorf("non-blocking write past capacity = %d, %v; want 65536", n, err)
	}
	if _, err := w.BlockingWrite(e.ctx, []byte("x"), vfs.WriteOptions{}); err != linux.EAGAIN {
		t.Errorf("write to a full pipe: %v, want EAGAIN", err)
	}
	r.Read(e.ctx, make([]byte, 100), vfs.ReadOptions{})
	// 100 bytes free: a write of up to PIPE_BUF is all or nothing, a bigger one
	// partial.
	if n, err := w.Write(e.ctx, make([]byte, 200), vfs.WriteOptions{}); n != 0 || err != linux.EAGAIN {
		t.Errorf("atomic write that does not fit = %d, %v", n, err)
	}
	if n, err := w.Write(e.ctx, make([]byte, 5000), vfs.WriteOptions{}); n != 100 || err != linux.EAGAIN {
		t.Errorf("large write that does not fit = %d, %v", n, err)
	}
	if got := w.Readiness(waiter.WritableEvents); got != 0 {
		t.Errorf("full pipe is writable: %#x", got)
	}
}

func TestSetPipeSize(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, linux.O_NONBLOCK)
	defer r.DecRef()
	defer w.DecRef()
	fd := r.Impl().(*pipe.VFSPipeFD)
	for _, tc := range []struct {
		ctx  vfs.Context
		size int64
		want int64
		err  error
	}{
		{e.user, 1, 4096, nil},
		{e.user, 5000, 8192, nil},
		{e.user, 1 << 20, 1 << 20, nil},
		{e.user, 1<<20 + 1, 0, linux.EPERM},
		{e.ctx, 1<<20 + 1, 2 << 20, nil},
		{e.ctx, 1<<31 + 1, 0, linux.EINVAL},
	} {
		if got, err := fd.SetPipeSize(tc.ctx, tc.size); got != tc.want || err != tc.err {
			t.Errorf("F_SETPIPE_SZ %d = %d, %v; want %d, %v", tc.size, got, err, tc.want, tc.err)
		}
	}
	w.Write(e.ctx, make([]byte, 10000), vfs.WriteOptions{})
	if _, err := fd.SetPipeSize(e.ctx, 8192); err != linux.EBUSY {
		t.Errorf("shrinking below the contents: %v, want EBUSY", err)
	}
	if got := fd.PipeSize(); got != 2<<20 {
		t.Errorf("F_GETPIPE_SZ = %d", got)
	}
}

type fakeMemory map[uintptr][]byte

func (m fakeMemory) CopyIn(addr uintptr, dst []byte) (int, error) { return copy(dst, m[addr]), nil }
func (m fakeMemory) CopyOut(addr uintptr, src []byte) (int, error) {
	m[addr] = append([]byte(nil), src...)
	return len(src), nil
}

func TestIoctlAndReadiness(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, 0)
	all := waiter.ReadableEvents | waiter.WritableEvents | waiter.EventErr | waiter.EventHUp
	if got := r.Readiness(all); got != 0 {
		t.Errorf("empty pipe reader readiness = %#x", got)
	}
	if got := w.Readiness(all); got != waiter.WritableEvents {
		t.Errorf("empty pipe writer readiness = %#x", got)
	}
	e1, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	r.EventRegister(e1)
	w.Write(e.ctx, []byte("12345"), vfs.WriteOptions{})
	select {
	case <-ch:
	default:
		t.Errorf("write did not notify the reader")
	}
	if got := r.Readiness(all); got != waiter.ReadableEvents {
		t.Errorf("reader readiness with data = %#x", got)
	}
	mem := fakeMemory{}
	if _, err := r.Ioctl(e.ctx, mem, linux.FIONREAD, 0x1000); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(mem[0x1000]); got != 5 {
		t.Errorf("FIONREAD = %d", got)
	}
	if _, err := r.Ioctl(e.ctx, mem, linux.TCGETS, 0x1000); err != linux.ENOTTY {
		t.Errorf("TCGETS: %v, want ENOTTY", err)
	}
	w.DecRef()
	<-ch
	if got := r.Readiness(all); got != waiter.ReadableEvents|waiter.EventHUp {
		t.Errorf("reader readiness after the writer left = %#x", got)
	}
	r.EventUnregister(e1)
	r.DecRef()

	r, w = e.pipe(t, 0)
	r.DecRef()
	if got := w.Readiness(all); got != waiter.WritableEvents|waiter.EventErr {
		t.Errorf("writer readiness without readers = %#x", got)
	}
	w.DecRef()
}

// TestConcurrentAtomicWrites has writers race to write PIPE_BUF-sized blocks, each
// filled with its writer's byte, through a small pipe: no block may be split.
func TestConcurrentAtomicWrites(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, 0)
	const writers, blocks = 8, 200
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(id byte) {
			defer wg.Done()
			block := bytes.Repeat([]byte{id}, pipe.AtomicIOBytes)
			for j := 0; j < blocks; j++ {
				if n, err := w.BlockingWrite(e.ctx, block, vfs.WriteOptions{}); n != pipe.AtomicIOBytes || err != nil {
					t.Errorf("writer %d: write = %d, %v", id, n, err)
					return
				}
			}
		}(byte('a' + i))
	}
	go func() {
		wg.Wait()
		w.DecRef()
	}()
	var stream []byte
	buf := make([]byte, 3000)
	for {
		n, err := r.BlockingRead(e.ctx, buf, vfs.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		stream = append(stream, buf[:n]...)
	}
	r.DecRef()
	if len(stream) != writers*blocks*pipe.AtomicIOBytes {
		t.Fatalf("read %d bytes", len(stream))
	}
	counts := make(map[byte]int)
	for off := 0; off < len(stream); off += pipe.AtomicIOBytes {
		block := stream[off : off+pipe.AtomicIOBytes]
		if !bytes.Equal(block, bytes.Repeat(block[:1], len(block))) {
			t.Fatalf("block at %d interleaves writes", off)
		}
		counts[block[0]]++
	}
	want := make(map[byte]int)
	for i := 0; i < writers; i++ {
		want[byte('a'+i)] = blocks
	}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("blocks per writer (-want +got):\n%s", diff)
	}
}

func TestLargeBlockingWrite(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, 0)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() {
		if n, err := w.BlockingWrite(e.ctx, data, vfs.WriteOptions{}); n != int64(len(data)) || err != nil {
			t.Errorf("write = %d, %v", n, err)
		}
		w.DecRef()
	}()
	var got []byte
	buf := make([]byte, 10000)
	for {
		n, err := r.BlockingRead(e.ctx, buf, vfs.ReadOptions{})
		if err != nil || n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	r.DecRef()
	if !bytes.Equal(got, data) {
		t.Errorf("received %d bytes, not what was sent", len(got))
	}
}

func TestInterruptedBlocking(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, 0)
	defer r.DecRef()
	defer w.DecRef()
	intr := make(chan struct{})
	ictx := vfs.NewContext(auth.NewRootCredentials(auth.NewRootUserNamespace()), waiter.InterruptibleBlocker{Interrupt: intr})
	go func() {
		time.Sleep(10 * time.Millisecond)
		close(intr)
	}()
	if _, err := r.BlockingRead(ictx, make([]byte, 1), vfs.ReadOptions{}); err != linux.EINTR {
		t.Errorf("interrupted read: %v, want EINTR", err)
	}
	// An interrupted write that wrote something returns its count.
	if n, err := w.BlockingWrite(ictx, make([]byte, 100000), vfs.WriteOptions{}); n != 65536 || err != nil {
		t.Errorf("interrupted write = %d, %v; want 65536, nil", n, err)
	}
	if _, err := w.BlockingWrite(ictx, []byte("x"), vfs.WriteOptions{}); err != linux.EINTR {
		t.Errorf("interrupted write of nothing: %v, want EINTR", err)
	}
}

func TestPipefsMetadata(t *testing.T) {
	e := newEnv()
	r, w := e.pipe(t, 0)
	defer r.DecRef()
	defer w.DecRef()
	st, err := r.Stat(e.ctx, vfs.StatOptions{})
	if err != nil || st.Mode != linux.S_IFIFO|0o600 || st.Nlink != 1 {
		t.Errorf("fstat = %+v, %v", st, err)
	}
	if wst, _ := w.Stat(e.ctx, vfs.StatOptions{}); wst.Ino != st.Ino {
		t.Errorf("ends have different inodes")
	}
	if err := w.SetStat(e.ctx, vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o640}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.Stat(e.ctx, vfs.StatOptions{}); st.Mode != linux.S_IFIFO|0o640 {
		t.Errorf("after fchmod: %#o", st.Mode)
	}
	if err := w.SetStat(e.user, vfs.SetStatOptions{Stat: linux.Statx{Mask: linux.STATX_MODE, Mode: 0o777}}); err != linux.EPERM {
		t.Errorf("fchmod by another user: %v, want EPERM", err)
	}
	if p, err := e.vfs.PathnameWithDeleted(e.ctx, r.VirtualDentry(), r.VirtualDentry()); err != nil || p != "pipe:["+strconv.FormatUint(st.Ino, 10)+"]" {
		t.Errorf("path = %q, %v", p, err)
	}
	if st, err := r.StatFS(e.ctx); err != nil || st.Type != linux.PIPEFS_MAGIC {
		t.Errorf("fstatfs = %+v, %v", st, err)
	}
	// Reopening the pipe (as through /proc/self/fd/N) makes another end.
	vd := r.VirtualDentry()
	r2, err := e.vfs.OpenAt(e.ctx, e.ctx.Credentials(), &vfs.PathOperation{Root: vd, Start: vd}, &vfs.OpenOptions{Flags: linux.O_RDONLY})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(e.ctx, []byte("x"), vfs.WriteOptions{})
	if n, _ := r2.Read(e.ctx, make([]byte, 1), vfs.ReadOptions{}); n != 1 {
		t.Errorf("read through the reopened pipe = %d", n)
	}
	r2.DecRef()
	if _, err := e.vfs.StatAt(e.ctx, e.ctx.Credentials(), &vfs.PathOperation{Root: vd, Start: vd, Path: "x"}, &vfs.StatOptions{}); err != linux.ENOTDIR {
		t.Errorf("path relative to a pipe: %v, want ENOTDIR", err)
	}
}
