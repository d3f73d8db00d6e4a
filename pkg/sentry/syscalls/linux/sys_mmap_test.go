package linux

import (
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/platform"
)

func TestParseMMapArgs(t *testing.T) {
	const rw = linux.PROT_READ | linux.PROT_WRITE
	for _, tc := range []struct {
		name        string
		addr        uintptr
		length      uint64
		prot, flags uint32
		offset      uint64
		err         error
		check       func(a mmapArgs) bool
	}{
		{name: "anon private", length: 4096, prot: rw, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS,
			check: func(a mmapArgs) bool {
				return !a.needFile && a.opts.Private && a.opts.Perms == platform.ReadWrite && a.opts.MaxPerms == platform.AnyAccess && a.opts.Offset == 0
			}},
		{name: "anon ignores offset", length: 4096, prot: rw, flags: linux.MAP_SHARED | linux.MAP_ANONYMOUS, offset: 8192,
			check: func(a mmapArgs) bool { return !a.needFile && !a.opts.Private && a.opts.Offset == 0 }},
		{name: "file shared", length: 10, prot: linux.PROT_READ, flags: linux.MAP_SHARED, offset: 4096,
			check: func(a mmapArgs) bool {
				return a.needFile && !a.opts.Private && a.opts.Offset == 4096 && a.opts.Perms == platform.Read
			}},
		{name: "exec prot", length: 10, prot: linux.PROT_READ | linux.PROT_EXEC, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS,
			check: func(a mmapArgs) bool { return a.opts.Perms.Execute && !a.opts.Perms.Write }},
		{name: "unaligned offset", length: 4096, flags: linux.MAP_PRIVATE, offset: 100, err: linux.EINVAL},
		{name: "zero length", length: 0, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS, err: linux.EINVAL},
		{name: "neither shared nor private", length: 4096, flags: linux.MAP_ANONYMOUS, err: linux.EINVAL},
		{name: "type 0x0f", length: 4096, flags: 0x0f, err: linux.EINVAL},
		{name: "shared validate unknown flag", length: 4096, flags: linux.MAP_SHARED_VALIDATE | 0x800000, err: linux.EOPNOTSUPP},
		{name: "shared validate MAP_SYNC", length: 4096, flags: linux.MAP_SHARED_VALIDATE | linux.MAP_SYNC, err: linux.EOPNOTSUPP},
		{name: "shared validate file", length: 4096, flags: linux.MAP_SHARED_VALIDATE | linux.MAP_POPULATE,
			check: func(a mmapArgs) bool { return a.needFile && !a.opts.Private && a.opts.Precommit }},
		{name: "shared validate anon", length: 4096, flags: linux.MAP_SHARED_VALIDATE | linux.MAP_ANONYMOUS, err: linux.EINVAL},
		{name: "shared anon growsdown", length: 4096, flags: linux.MAP_SHARED | linux.MAP_ANONYMOUS | linux.MAP_GROWSDOWN, err: linux.EINVAL},
		{name: "hugetlb", length: 4096, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS | linux.MAP_HUGETLB, err: linux.ENOMEM},
		{name: "unaligned fixed", addr: 0x10001, length: 4096, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS | linux.MAP_FIXED, err: linux.EINVAL},
		{name: "fixed unmaps", addr: 0x10000, length: 4096, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS | linux.MAP_FIXED,
			check: func(a mmapArgs) bool { return a.opts.Fixed && a.opts.Unmap && a.opts.Addr == 0x10000 }},
		{name: "fixed noreplace", addr: 0x10000, length: 4096, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS | linux.MAP_FIXED_NOREPLACE,
			check: func(a mmapArgs) bool { return a.opts.Fixed && !a.opts.Unmap }},
		{name: "hint rounded down", addr: 0x10123, length: 4096, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS,
			check: func(a mmapArgs) bool { return !a.opts.Fixed && a.opts.Addr == 0x10000 }},
		{name: "populate nonblock", length: 4096, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS | linux.MAP_POPULATE | linux.MAP_NONBLOCK,
			check: func(a mmapArgs) bool { return !a.opts.Precommit }},
		{name: "locked growsdown", length: 4096, flags: linux.MAP_PRIVATE | linux.MAP_ANONYMOUS | linux.MAP_LOCKED | linux.MAP_GROWSDOWN,
			check: func(a mmapArgs) bool { return a.lock && a.opts.GrowsDown }},
	} {
		a, err := parseMMapArgs(tc.addr, tc.length, tc.prot, tc.flags, tc.offset)
		if err != tc.err {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && tc.check != nil && !tc.check(a) {
			t.Errorf("%s: unexpected result %+v", tc.name, a)
		}
	}
}

func TestProtToAccess(t *testing.T) {
	for prot, want := range map[uint32]platform.AccessType{
		linux.PROT_NONE:                    platform.NoAccess,
		linux.PROT_READ:                    platform.Read,
		linux.PROT_READ | linux.PROT_WRITE: platform.ReadWrite,
		linux.PROT_READ | linux.PROT_WRITE | linux.PROT_EXEC: platform.AnyAccess,
		linux.PROT_EXEC: {Execute: true},
	} {
		if got := protToAccess(prot); got != want {
			t.Errorf("protToAccess(%#x) = %+v, want %+v", prot, got, want)
		}
	}
}
