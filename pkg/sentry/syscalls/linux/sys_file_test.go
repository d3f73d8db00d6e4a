package linux

import (
	"math"
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs/lock"
)

func TestNormalizeOpenFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
		want  uint32
	}{
		{"read-only gets O_LARGEFILE", linux.O_RDONLY, linux.O_LARGEFILE},
		{"unknown bits are dropped", linux.O_RDWR | 0x80000000, linux.O_RDWR | linux.O_LARGEFILE},
		{"creation flags pass", linux.O_WRONLY | linux.O_CREAT | linux.O_EXCL | linux.O_TRUNC, linux.O_WRONLY | linux.O_CREAT | linux.O_EXCL | linux.O_TRUNC | linux.O_LARGEFILE},
		{"O_PATH keeps only its flags", linux.O_PATH | linux.O_RDWR | linux.O_CREAT | linux.O_CLOEXEC | linux.O_NOFOLLOW, linux.O_PATH | linux.O_CLOEXEC | linux.O_NOFOLLOW},
		{"O_PATH with O_DIRECTORY", linux.O_PATH | linux.O_DIRECTORY | linux.O_APPEND, linux.O_PATH | linux.O_DIRECTORY},
	} {
		if got := normalizeOpenFlags(tc.flags); got != tc.want {
			t.Errorf("%s: normalizeOpenFlags(%#o) = %#o, want %#o", tc.name, tc.flags, got, tc.want)
		}
	}
}

func TestOpenModeFor(t *testing.T) {
	for _, tc := range []struct {
		flags, mode, umask uint32
		want               uint16
	}{
		{linux.O_CREAT, 0o666, 0o022, 0o644},
		{linux.O_CREAT, 0o7777, 0, 0o7777},
		{linux.O_CREAT, 0o170777, 0o077, 0o700}, // type bits are not permissions
		{linux.O_RDONLY, 0o666, 0o022, 0},       // no O_CREAT: mode ignored
		{linux.O_TMPFILE | linux.O_RDWR, 0o600, 0o002, 0o600},
		{linux.O_DIRECTORY, 0o600, 0, 0}, // O_DIRECTORY alone is not O_TMPFILE
	} {
		if got := openModeFor(tc.flags, tc.mode, tc.umask); got != tc.want {
			t.Errorf("openModeFor(%#o, %#o, %#o) = %#o, want %#o", tc.flags, tc.mode, tc.umask, got, tc.want)
		}
	}
}

func TestCheckOpenHow(t *testing.T) {
	for _, tc := range []struct {
		name string
		how  linux.OpenHow
		want error
	}{
		{"plain", linux.OpenHow{Flags: linux.O_RDONLY}, nil},
		{"create with mode", linux.OpenHow{Flags: linux.O_CREAT | linux.O_WRONLY, Mode: 0o644}, nil},
		{"mode without create", linux.OpenHow{Flags: linux.O_RDONLY, Mode: 0o644}, linux.EINVAL},
		{"mode with type bits", linux.OpenHow{Flags: linux.O_CREAT, Mode: linux.S_IFREG | 0o644}, linux.EINVAL},
		{"unknown flag", linux.OpenHow{Flags: 1 << 40}, linux.EINVAL},
		{"unknown resolve", linux.OpenHow{Resolve: 0x40}, linux.EINVAL},
		{"beneath and in-root", linux.OpenHow{Resolve: linux.RESOLVE_BENEATH | linux.RESOLVE_IN_ROOT}, linux.EINVAL},
		{"O_PATH with O_RDWR", linux.OpenHow{Flags: linux.O_PATH | linux.O_RDWR}, linux.EINVAL},
		{"O_PATH with O_CLOEXEC", linux.OpenHow{Flags: linux.O_PATH | linux.O_CLOEXEC}, nil},
		{"O_DIRECTORY|O_CREAT", linux.OpenHow{Flags: linux.O_DIRECTORY | linux.O_CREAT}, linux.EINVAL},
	} {
		if got := checkOpenHow(tc.how); got != tc.want {
			t.Errorf("%s: checkOpenHow = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEscapesLexically(t *testing.T) {
	for path, want := range map[string]bool{
		"a":         false,
		"a/b/../c":  false,
		"./a/./b":   false,
		"a/../..":   true,
		"..":        true,
		"/etc":      true,
		"a/../../b": true,
		"":          false,
	} {
		if got := escapesLexically(path); got != want {
			t.Errorf("escapesLexically(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestLockRange(t *testing.T) {
	for _, tc := range []struct {
		name                string
		whence              int16
		start, length, base int64
		want                lock.Range
		err                 error
	}{
		{"set", linux.SEEK_SET, 10, 5, 0, lock.Range{Start: 10, End: 15}, nil},
		{"to EOF", linux.SEEK_SET, 10, 0, 0, lock.Range{Start: 10, End: lock.EOF}, nil},
		{"negative length", linux.SEEK_SET, 10, -4, 0, lock.Range{Start: 6, End: 10}, nil},
		{"negative length below zero", linux.SEEK_SET, 2, -4, 0, lock.Range{}, linux.EINVAL},
		{"cur", linux.SEEK_CUR, -2, 2, 100, lock.Range{Start: 98, End: 100}, nil},
		{"end", linux.SEEK_END, 0, 0, 4096, lock.Range{Start: 4096, End: lock.EOF}, nil},
		{"negative start", linux.SEEK_SET, -1, 1, 0, lock.Range{}, linux.EINVAL},
		{"bad whence", 7, 0, 0, 0, lock.Range{}, linux.EINVAL},
		{"overflowing length", linux.SEEK_SET, math.MaxInt64 - 1, 10, 0, lock.Range{}, linux.EOVERFLOW},
		{"overflowing start", linux.SEEK_CUR, math.MaxInt64, 0, 10, lock.Range{}, linux.EOVERFLOW},
	} {
		got, err := lockRange(tc.whence, tc.start, tc.length, tc.base)
		if err != tc.err || (err == nil && got != tc.want) {
			t.Errorf("%s: lockRange = %+v, %v; want %+v, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestTimesOpts(t *testing.T) {
	opts, err := timesOpts(nil)
	if err != nil || opts.Stat.Mask != linux.STATX_ATIME|linux.STATX_MTIME ||
		opts.Stat.Atime.Nsec != linux.UTIME_NOW || opts.Stat.Mtime.Nsec != linux.UTIME_NOW {
		t.Errorf("timesOpts(nil) = %+v, %v; want both times now", opts, err)
	}
	opts, err = timesOpts(&[2]utimeSpec{{nsec: linux.UTIME_OMIT}, {sec: 5, nsec: 7}})
	if err != nil || opts.Stat.Mask != linux.STATX_MTIME || opts.Stat.Mtime.Sec != 5 || opts.Stat.Mtime.Nsec != 7 {
		t.Errorf("omit atime: %+v, %v", opts, err)
	}
	opts, err = timesOpts(&[2]utimeSpec{{nsec: linux.UTIME_OMIT}, {nsec: linux.UTIME_OMIT}})
	if err != nil || opts.Stat.Mask != 0 {
		t.Errorf("omit both: %+v, %v; want an empty mask", opts, err)
	}
	for _, bad := range []int64{-1, 1e9, linux.UTIME_NOW + 1} {
		if _, err := timesOpts(&[2]utimeSpec{{nsec: bad}, {}}); err != linux.EINVAL {
			t.Errorf("nsec %d: err = %v, want EINVAL", bad, err)
		}
	}
}

func TestAccessCredentials(t *testing.T) {
	ns := auth.NewRootUserNamespace()
	// A set-user-ID root program run by user 1000: access checks as 1000,
	// without root's capabilities.
	c := auth.NewRootCredentials(ns)
	c.RealKUID, c.RealKGID = 1000, 1000
	ac := accessCredentials(c)
	if ac.FSKUID != 1000 || ac.FSKGID != 1000 || ac.EffectiveCaps != 0 {
		t.Errorf("setuid root run by 1000: fsuid %d fsgid %d caps %#x; want 1000, 1000, none", ac.FSKUID, ac.FSKGID, ac.EffectiveCaps)
	}
	if c.FSKUID != auth.RootKUID {
		t.Errorf("accessCredentials changed its argument")
	}
	// Root keeps its permitted capabilities.
	r := auth.NewRootCredentials(ns)
	r.EffectiveCaps = 0
	if ac := accessCredentials(r); ac.EffectiveCaps != r.PermittedCaps {
		t.Errorf("root: caps %#x, want the permitted set %#x", ac.EffectiveCaps, r.PermittedCaps)
	}
}
