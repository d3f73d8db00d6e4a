package mm

import (
	"fmt"
	"testing"

	"visor.dev/visor/pkg/sentry/platform"
)

// faultBatch is how many faults a benchmark takes before it remaps its region, so
// that memory stays bounded whatever b.N is.
const faultBatch = 4096

// BenchmarkHandleUserFault measures a write fault of fresh anonymous memory: "page"
// allocates and maps exactly one page (its neighbours are present, which bounds
// fault-around), "64KiB" a whole fault-around window. The address space is the
// fake, whose MapFile is a few map writes; a real platform adds its own cost.
func BenchmarkHandleUserFault(b *testing.B) {
	for _, bc := range []struct {
		name string
		// stride is the distance between faults, in pages; with odd pages
		// present, a stride of 2 faults single pages.
		stride     uintptr
		oddPresent bool
	}{
		{"page", 2, true},
		{"64KiB", faultAround / pageSize, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newTestEnvSized(b, 0)
			e.as(b)
			region := faultBatch * bc.stride * pageSize
			setup := func() {
				mustMMap(b, e.mm, fixed(anon(uint64(region)), base))
				if bc.oddPresent {
					for p := uintptr(1); p < region/pageSize; p += 2 {
						mustCopyOut(b, e.mm, base+p*pageSize, []byte{1})
					}
				}
			}
			setup()
			b.ResetTimer()
			for i := range b.N {
				if i%faultBatch == 0 && i != 0 {
					b.StopTimer()
					setup()
					b.StartTimer()
				}
				addr := base + uintptr(i%faultBatch)*bc.stride*pageSize
				if err := e.mm.HandleUserFault(addr, platform.ReadWrite); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCopy(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		e := newTestEnvSized(b, 0)
		mustMMap(b, e.mm, fixed(anon(uint64(size)), base))
		buf := make([]byte, size)
		mustCopyOut(b, e.mm, base, buf)
		b.Run(fmt.Sprintf("CopyIn/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := e.mm.CopyIn(base, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("CopyOut/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := e.mm.CopyOut(base, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
