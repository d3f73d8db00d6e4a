package eventfd

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

func ctx() vfs.Context {
	return vfs.NewContext(auth.NewRootCredentials(auth.NewRootUserNamespace()), waiter.UninterruptibleBlocker{})
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint64(b, v)
	return b
}

// op is one step of a scenario: a write of w (if read is false) or a read, and what
// it returns.
type op struct {
	read    bool
	w       uint64
	bufLen  int // 0: 8
	want    uint64
	wantErr error
}

func TestCounter(t *testing.T) {
	for _, tc := range []struct {
		name string
		init uint64
		sem  bool
		ops  []op
	}{
		{name: "read empty would block", ops: []op{{read: true, wantErr: linux.EAGAIN}}},
		{name: "initial value", init: 7, ops: []op{{read: true, want: 7}, {read: true, wantErr: linux.EAGAIN}}},
		{name: "writes add up", ops: []op{{w: 3}, {w: 4}, {read: true, want: 7}}},
		{name: "semaphore takes one", init: 2, sem: true, ops: []op{
			{read: true, want: 1}, {read: true, want: 1}, {read: true, wantErr: linux.EAGAIN}}},
		{name: "short read buffer", init: 1, ops: []op{{read: true, bufLen: 7, wantErr: linux.EINVAL}, {read: true, want: 1}}},
		{name: "short write buffer", ops: []op{{w: 1, bufLen: 4, wantErr: linux.EINVAL}}},
		{name: "max uint64 is invalid", ops: []op{{w: math.MaxUint64, wantErr: linux.EINVAL}}},
		{name: "overflow would block", ops: []op{{w: MaxCounter}, {w: 1, wantErr: linux.EAGAIN}, {read: true, want: MaxCounter}, {w: 1}}},
		{name: "write zero", ops: []op{{w: 0}, {read: true, wantErr: linux.EAGAIN}}},
		{name: "long buffers", init: 5, ops: []op{{read: true, bufLen: 16, want: 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := New(vfs.New(), tc.init, tc.sem, 0)
			defer fd.DecRef()
			for i, o := range tc.ops {
				n := o.bufLen
				if n == 0 {
					n = 8
				}
				if o.read {
					buf := make([]byte, n)
					got, err := fd.Read(ctx(), buf, vfs.ReadOptions{})
					if !errors.Is(err, o.wantErr) && err != o.wantErr {
						t.Fatalf("op %d: read = %d, %v; want error %v", i, got, err, o.wantErr)
					}
					if err == nil {
						if got != 8 || binary.NativeEndian.Uint64(buf) != o.want {
							t.Fatalf("op %d: read = %d, value %d; want 8, %d", i, got, binary.NativeEndian.Uint64(buf), o.want)
						}
					}
					continue
				}
				buf := u64(o.w)
				if n < 8 {
					buf = buf[:n]
				} else {
					buf = append(buf, make([]byte, n-8)...)
				}
				got, err := fd.Write(ctx(), buf, vfs.WriteOptions{})
				if err != o.wantErr {
					t.Fatalf("op %d: write(%d) = %d, %v; want error %v", i, o.w, got, err, o.wantErr)
				}
				if err == nil && got != 8 {
					t.Fatalf("op %d: write = %d, want 8", i, got)
				}
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	fd := New(vfs.New(), 0, false, 0)
	defer fd.DecRef()
	all := waiter.ReadableEvents | waiter.WritableEvents
	if got := fd.Readiness(all); got != waiter.WritableEvents {
		t.Errorf("empty: readiness %#x, want writable", got)
	}
	e, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	fd.EventRegister(e)
	defer fd.EventUnregister(e)
	fd.Impl().(*EventFileDescription).Signal(MaxCounter)
	select {
	case <-ch:
	default:
		t.Errorf("a write did not notify readers")
	}
	if got := fd.Readiness(all); got != waiter.ReadableEvents {
		t.Errorf("full: readiness %#x, want readable only", got)
	}
}

func TestBlockingReadWaitsForWrite(t *testing.T) {
	fd := New(vfs.New(), 0, false, 0)
	defer fd.DecRef()
	done := make(chan uint64)
	go func() {
		buf := make([]byte, 8)
		if _, err := fd.BlockingRead(ctx(), buf, vfs.ReadOptions{}); err != nil {
			t.Errorf("BlockingRead: %v", err)
		}
		done <- binary.NativeEndian.Uint64(buf)
	}()
	if _, err := fd.Write(ctx(), u64(42), vfs.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := <-done; got != 42 {
		t.Errorf("read %d, want 42", got)
	}
}

func TestNonblockFlagAndStat(t *testing.T) {
	fd := New(vfs.New(), 0, false, linux.O_NONBLOCK)
	defer fd.DecRef()
	if fd.StatusFlags()&linux.O_NONBLOCK == 0 || fd.StatusFlags()&linux.O_ACCMODE != linux.O_RDWR {
		t.Errorf("status flags %#o, want O_RDWR|O_NONBLOCK", fd.StatusFlags())
	}
	if _, err := fd.BlockingRead(ctx(), make([]byte, 8), vfs.ReadOptions{}); err != linux.EAGAIN {
		t.Errorf("non-blocking read of empty eventfd: %v, want EAGAIN", err)
	}
	st, err := fd.Stat(ctx(), vfs.StatOptions{})
	if err != nil || st.Mode != 0o600 {
		t.Errorf("Stat = %+v, %v; want mode 0600", st, err)
	}
	if _, err := fd.PRead(ctx(), make([]byte, 8), 0, vfs.ReadOptions{}); err != linux.ESPIPE {
		t.Errorf("pread: %v, want ESPIPE", err)
	}
}
