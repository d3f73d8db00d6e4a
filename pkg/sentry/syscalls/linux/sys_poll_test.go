package linux

import (
	"testing"
	"time"

	"visor.dev/visor/pkg/sentry/kernel"
	"visor.dev/visor/pkg/sentry/kernel/eventfd"
	"visor.dev/visor/pkg/sentry/vfs"
	"visor.dev/visor/pkg/waiter"
)

func TestPollWait(t *testing.T) {
	k, err := kernel.New(kernel.Config{Syscalls: AMD64()})
	if err != nil {
		t.Fatal(err)
	}
	task := kernel.NewTestTask(k)
	vfsObj := vfs.New()
	newEventfd := func(v uint64) (*vfs.FileDescription, *eventfd.EventFileDescription) {
		fd := eventfd.New(vfsObj, v, false, 0)
		t.Cleanup(fd.DecRef)
		return fd, fd.Impl().(*eventfd.EventFileDescription)
	}
	in := waiter.EventIn | waiter.EventErr | waiter.EventHUp

	for _, tc := range []struct {
		name      string
		values    []uint64 // one eventfd per value
		masks     []waiter.EventMask
		timeout   time.Duration
		signalAt  int // index of an eventfd a goroutine signals after 20ms; -1: none
		wantN     int
		wantReady []waiter.EventMask
	}{
		{name: "ready at once", values: []uint64{1, 0}, masks: []waiter.EventMask{in, in}, timeout: noTimeout, signalAt: -1,
			wantN: 1, wantReady: []waiter.EventMask{waiter.EventIn, 0}},
		{name: "zero timeout", values: []uint64{0}, masks: []waiter.EventMask{in}, timeout: 0, signalAt: -1,
			wantN: 0, wantReady: []waiter.EventMask{0}},
		{name: "times out", values: []uint64{0}, masks: []waiter.EventMask{in}, timeout: 20 * time.Millisecond, signalAt: -1,
			wantN: 0, wantReady: []waiter.EventMask{0}},
		{name: "woken", values: []uint64{0, 0}, masks: []waiter.EventMask{in, in}, timeout: noTimeout, signalAt: 1,
			wantN: 1, wantReady: []waiter.EventMask{0, waiter.EventIn}},
		{name: "only asked events", values: []uint64{0}, masks: []waiter.EventMask{waiter.EventOut | waiter.EventIn}, timeout: 0, signalAt: -1,
			wantN: 1, wantReady: []waiter.EventMask{waiter.EventOut}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			targets := make([]pollTarget, len(tc.values))
			var impls []*eventfd.EventFileDescription
			for i, v := range tc.values {
				fd, impl := newEventfd(v)
				impls = append(impls, impl)
				targets[i] = pollTarget{file: fd, mask: tc.masks[i]}
			}
			if tc.signalAt >= 0 {
				go func() {
					time.Sleep(20 * time.Millisecond)
					impls[tc.signalAt].Signal(1)
				}()
			}
			start := time.Now()
			n, _, err := pollWait(task, targets, tc.timeout)
			if err != nil || n != tc.wantN {
				t.Fatalf("pollWait = %d, %v; want %d", n, err, tc.wantN)
			}
			for i, pt := range targets {
				if pt.ready != tc.wantReady[i] {
					t.Errorf("target %d ready %#x, want %#x", i, pt.ready, tc.wantReady[i])
				}
			}
			if tc.timeout > 0 && tc.wantN == 0 && time.Since(start) < tc.timeout {
				t.Errorf("returned after %v, before the %v timeout", time.Since(start), tc.timeout)
			}
		})
	}
}
