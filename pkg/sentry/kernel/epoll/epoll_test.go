package epoll

import (
	"sync"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/anonfs"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

// fakeFile is a file whose readiness the test sets.
type fakeFile struct {
	vfsfd vfs.FileDescription
	vfs.FileDescriptionDefaultImpl
	anonfs.FileDescriptionImpl

	queue    waiter.Queue
	mu       sync.Mutex
	ready    waiter.EventMask
	released bool
}

func newFake(vfsObj *vfs.VirtualFilesystem) (*fakeFile, *vfs.FileDescription) {
	mnt := anonfs.Mount(vfsObj)
	f := &fakeFile{}
	f.Mnt = mnt
	f.vfsfd.Init(f, linux.O_RDWR, mnt, anonfs.NewDentry(mnt, "fake", nil), &vfs.FileDescriptionOptions{})
	return f, &f.vfsfd
}

func (f *fakeFile) Release()                                 { f.released = true }
func (f *fakeFile) StatFS(vfs.Context) (linux.Statfs, error) { return anonfs.StatFS(), nil }
func (f *fakeFile) Readiness(mask waiter.EventMask) waiter.EventMask {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready & mask
}
func (f *fakeFile) EventRegister(e *waiter.Entry) error { f.queue.EventRegister(e); return nil }
func (f *fakeFile) EventUnregister(e *waiter.Entry)     { f.queue.EventUnregister(e) }

// set makes the file's readiness r and notifies its waiters of it.
func (f *fakeFile) set(r waiter.EventMask) {
	f.mu.Lock()
	f.ready = r
	f.mu.Unlock()
	if r != 0 {
		f.queue.Notify(r)
	}
}

func TestTriggerModes(t *testing.T) {
	in := uint32(EPOLLIN)
	for _, tc := range []struct {
		name  string
		flags uint32
		// steps: before each ReadEvents, optionally make the file ready again
		// (notify), and expect that many events.
		steps []struct {
			notify bool
			want   int
		}
	}{
		{name: "level", flags: 0, steps: []struct {
			notify bool
			want   int
		}{{true, 1}, {false, 1}, {false, 1}}},
		{name: "edge", flags: EPOLLET, steps: []struct {
			notify bool
			want   int
		}{{true, 1}, {false, 0}, {true, 1}, {false, 0}}},
		{name: "oneshot", flags: EPOLLONESHOT, steps: []struct {
			notify bool
			want   int
		}{{true, 1}, {false, 0}, {true, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vfsObj := vfs.New()
			epfd := New(vfsObj)
			defer epfd.DecRef()
			ep := FromFile(epfd)
			f, fd := newFake(vfsObj)
			defer fd.DecRef()
			if err := ep.AddInterest(fd, 5, Event{Events: in | tc.flags, Data: 77}); err != nil {
				t.Fatal(err)
			}
			if got := ep.ReadEvents(10); len(got) != 0 {
				t.Fatalf("not ready yet, got %v", got)
			}
			for i, s := range tc.steps {
				if s.notify {
					f.set(waiter.EventIn)
				}
				got := ep.ReadEvents(10)
				if len(got) != s.want {
					t.Fatalf("step %d: %d events %v, want %d", i, len(got), got, s.want)
				}
				if len(got) == 1 && (got[0].Events != EPOLLIN || got[0].Data != 77) {
					t.Fatalf("step %d: event %+v, want EPOLLIN with data 77", i, got[0])
				}
			}
		})
	}
}

func TestLevelTriggeredStopsWhenNotReady(t *testing.T) {
	vfsObj := vfs.New()
	epfd := New(vfsObj)
	defer epfd.DecRef()
	ep := FromFile(epfd)
	f, fd := newFake(vfsObj)
	defer fd.DecRef()
	ep.AddInterest(fd, 3, Event{Events: EPOLLIN | EPOLLOUT})
	f.set(waiter.EventIn | waiter.EventOut)
	if got := ep.ReadEvents(1); len(got) != 1 || got[0].Events != EPOLLIN|EPOLLOUT {
		t.Fatalf("got %v, want IN|OUT", got)
	}
	f.set(0)
	if got := ep.ReadEvents(1); len(got) != 0 {
		t.Fatalf("got %v after the file stopped being ready", got)
	}
	if epfd.Readiness(waiter.EventIn) != 0 {
		t.Errorf("instance readable with nothing ready")
	}
	f.set(waiter.EventHUp)
	if got := ep.ReadEvents(1); len(got) != 1 || got[0].Events != EPOLLHUP {
		t.Fatalf("got %v, want HUP, which is always reported", got)
	}
}

func TestModifyRearmsOneshot(t *testing.T) {
	vfsObj := vfs.New()
	epfd := New(vfsObj)
	defer epfd.DecRef()
	ep := FromFile(epfd)
	f, fd := newFake(vfsObj)
	defer fd.DecRef()
	f.set(waiter.EventIn)
	ep.AddInterest(fd, 3, Event{Events: EPOLLIN | EPOLLONESHOT, Data: 1})
	if got := ep.ReadEvents(4); len(got) != 1 {
		t.Fatalf("got %v, want the ready file at once", got)
	}
	if got := ep.ReadEvents(4); len(got) != 0 {
		t.Fatalf("one-shot reported twice: %v", got)
	}
	if err := ep.ModifyInterest(fd, 3, Event{Events: EPOLLIN, Data: 2}); err != nil {
		t.Fatal(err)
	}
	if got := ep.ReadEvents(4); len(got) != 1 || got[0].Data != 2 {
		t.Fatalf("after MOD got %v, want data 2", got)
	}
}

func TestCtlErrors(t *testing.T) {
	vfsObj := vfs.New()
	epfd := New(vfsObj)
	defer epfd.DecRef()
	ep := FromFile(epfd)
	_, fd := newFake(vfsObj)
	defer fd.DecRef()
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"add", func() error { return ep.AddInterest(fd, 1, Event{Events: EPOLLIN}) }, nil},
		{"add again", func() error { return ep.AddInterest(fd, 1, Event{Events: EPOLLIN}) }, linux.EEXIST},
		{"add as another fd", func() error { return ep.AddInterest(fd, 2, Event{Events: EPOLLIN}) }, nil},
		{"mod missing", func() error { return ep.ModifyInterest(fd, 9, Event{Events: EPOLLIN}) }, linux.ENOENT},
		{"mod exclusive", func() error { return ep.ModifyInterest(fd, 1, Event{Events: EPOLLIN | EPOLLEXCLUSIVE}) }, linux.EINVAL},
		{"del", func() error { return ep.RemoveInterest(fd, 1) }, nil},
		{"del again", func() error { return ep.RemoveInterest(fd, 1) }, linux.ENOENT},
		{"add self", func() error { return ep.AddInterest(epfd, 7, Event{Events: EPOLLIN}) }, linux.EINVAL},
	} {
		if err := tc.do(); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := ep.Interests(); n != 1 {
		t.Errorf("%d interests left, want 1", n)
	}
}

func TestNestingLoopsAndDepth(t *testing.T) {
	vfsObj := vfs.New()
	a, b := New(vfsObj), New(vfsObj)
	defer a.DecRef()
	defer b.DecRef()
	if err := FromFile(a).AddInterest(b, 4, Event{Events: EPOLLIN}); err != nil {
		t.Fatal(err)
	}
	if err := FromFile(b).AddInterest(a, 3, Event{Events: EPOLLIN}); err != linux.ELOOP {
		t.Errorf("cycle: %v, want ELOOP", err)
	}

	// A chain e[0] <- e[1] <- ... may be maxNests deep.
	var chain []*vfs.FileDescription
	for i := 0; i <= maxNests+1; i++ {
		e := New(vfsObj)
		defer e.DecRef()
		chain = append(chain, e)
	}
	for i := 1; i < len(chain); i++ {
		err := FromFile(chain[i]).AddInterest(chain[i-1], int32(i), Event{Events: EPOLLIN})
		want := error(nil)
		if i > maxNests {
			want = linux.ELOOP
		}
		if err != want {
			t.Errorf("nesting level %d: %v, want %v", i, err, want)
		}
	}
}

func TestNestedReadiness(t *testing.T) {
	vfsObj := vfs.New()
	outer, inner := New(vfsObj), New(vfsObj)
	defer outer.DecRef()
	defer inner.DecRef()
	f, fd := newFake(vfsObj)
	defer fd.DecRef()
	FromFile(inner).AddInterest(fd, 3, Event{Events: EPOLLIN})
	FromFile(outer).AddInterest(inner, 4, Event{Events: EPOLLIN, Data: 4})
	e, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
	outer.EventRegister(e)
	defer outer.EventUnregister(e)
	if got := FromFile(outer).ReadEvents(4); len(got) != 0 {
		t.Fatalf("got %v before anything is ready", got)
	}
	f.set(waiter.EventIn)
	select {
	case <-ch:
	default:
		t.Fatal("the outer instance's waiters were not woken")
	}
	if got := FromFile(outer).ReadEvents(4); len(got) != 1 || got[0].Data != 4 || got[0].Events != EPOLLIN {
		t.Fatalf("got %v, want the inner instance readable", got)
	}
}

func TestReleasedFileIsForgotten(t *testing.T) {
	vfsObj := vfs.New()
	epfd := New(vfsObj)
	defer epfd.DecRef()
	ep := FromFile(epfd)
	f, fd := newFake(vfsObj)
	ep.AddInterest(fd, 3, Event{Events: EPOLLIN})
	f.set(waiter.EventIn)
	fd.DecRef()
	if !f.released {
		t.Fatal("epoll kept the file open")
	}
	if got := ep.ReadEvents(4); len(got) != 0 {
		t.Fatalf("got %v for a closed file", got)
	}
	if n := ep.Interests(); n != 0 {
		t.Errorf("%d interests left, want 0", n)
	}
}

func TestMaxEventsRotates(t *testing.T) {
	vfsObj := vfs.New()
	epfd := New(vfsObj)
	defer epfd.DecRef()
	ep := FromFile(epfd)
	for i := 0; i < 3; i++ {
		f, fd := newFake(vfsObj)
		defer fd.DecRef()
		f.set(waiter.EventIn)
		ep.AddInterest(fd, int32(i), Event{Events: EPOLLIN, Data: uint64(i)})
	}
	seen := map[uint64]bool{}
	for i := 0; i < 3; i++ {
		got := ep.ReadEvents(1)
		if len(got) != 1 {
			t.Fatalf("round %d: %v", i, got)
		}
		seen[got[0].Data] = true
	}
	if len(seen) != 3 {
		t.Errorf("level-triggered interests were not rotated: saw %v", seen)
	}
}

func TestMarshal(t *testing.T) {
	b := MarshalEvents([]Event{{Events: 0x11223344, Data: 0x0102030405060708}})
	if len(b) != EventSize {
		t.Fatalf("len %d", len(b))
	}
	if got := UnmarshalEvent(b); got.Events != 0x11223344 || got.Data != 0x0102030405060708 {
		t.Errorf("round trip: %+v", got)
	}
}
