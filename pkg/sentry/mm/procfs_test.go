package mm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"visor.dev/visor/pkg/sentry/memmap"
	"visor.dev/visor/pkg/sentry/platform"
)

func TestMapsString(t *testing.T) {
	e := newTestEnv(t)
	exe := bytes.NewReader(make([]byte, 0x60000))
	text := memmap.MMapOpts{Length: 0x52000, Addr: 0x400000, Fixed: true, Perms: platform.AccessType{Read: true, Execute: true}, MaxPerms: platform.AnyAccess, Private: true, Mappable: exe, Name: "/usr/bin/dbus-daemon"}
	data := text
	data.Addr, data.Length, data.Offset, data.Perms = 0x652000, 0x2000, 0x52000, platform.ReadWrite
	mustMMap(t, e.mm, text)
	mustMMap(t, e.mm, data)
	e.mm.BrkSetup(0x654000)
	e.mm.Brk(0x675000)
	mustMMap(t, e.mm, fixed(anon(0x3000), 0x7f0000000000))
	shm := fixed(sharedAnon(0x1000), 0x7f0000010000)
	shm.Offset = 0x2000
	mustMMap(t, e.mm, shm)
	ino := e.mm.vmas.find(0x7f0000010000).shm.ino
	roShared := memmap.MMapOpts{Length: 0x1000, Addr: 0x7f0000020000, Fixed: true, Perms: platform.Read, MaxPerms: platform.Read, Mappable: exe, Name: "/etc/ld.so.cache"}
	mustMMap(t, e.mm, roShared)
	vdso := memmap.MMapOpts{Length: 0x2000, Addr: 0x7ffff7fc1000, Fixed: true, Perms: platform.AccessType{Read: true, Execute: true}, MaxPerms: platform.AnyAccess, Private: true, Name: "[vdso]"}
	mustMMap(t, e.mm, vdso)
	stack := memmap.MMapOpts{Length: 0x21000, Addr: 0x7ffffffde000, Fixed: true, Perms: platform.ReadWrite, MaxPerms: platform.AnyAccess, Private: true, GrowsDown: true, Name: "[stack]"}
	mustMMap(t, e.mm, stack)
	none := fixed(anon(0x1000), 0x7f0000030000)
	none.Perms = platform.NoAccess
	mustMMap(t, e.mm, none)

	want := strings.Join([]string{
		"00400000-00452000 r-xp 00000000 00:00 0                                  /usr/bin/dbus-daemon",
		"00652000-00654000 rw-p 00052000 00:00 0                                  /usr/bin/dbus-daemon",
		"00654000-00675000 rw-p 00000000 00:00 0                                  [heap]",
		"7f0000000000-7f0000003000 rw-p 00000000 00:00 0 ",
		fmt.Sprintf("%-73s/dev/zero (deleted)", fmt.Sprintf("7f0000010000-7f0000011000 rw-s 00002000 00:01 %d ", ino)),
		"7f0000020000-7f0000021000 r--s 00000000 00:00 0                          /etc/ld.so.cache",
		"7f0000030000-7f0000031000 ---p 00000000 00:00 0 ",
		"7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0                          [vdso]",
		"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          [stack]",
	}, "\n") + "\n"
	if diff := cmp.Diff(want, e.mm.MapsString()); diff != "" {
		t.Errorf("MapsString mismatch (-want +got):\n%s", diff)
	}
}
