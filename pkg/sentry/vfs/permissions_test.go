package vfs_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/kernel/auth"
	"visor.dev/visor/pkg/sentry/vfs"
)

func TestGenericParseMountOptions(t *testing.T) {
	got := vfs.GenericParseMountOptions("mode=0755,,ro,size=1m,mode=0700")
	want := map[string]string{"mode": "0700", "ro": "", "size": "1m"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAccessTypesForOpenFlags(t *testing.T) {
	for _, tc := range []struct {
		flags uint32
		want  auth.AccessTypes
	}{
		{linux.O_RDONLY, auth.MayRead},
		{linux.O_WRONLY, auth.MayWrite},
		{linux.O_RDWR, auth.MayReadWrite},
		{linux.O_ACCMODE, auth.MayReadWrite},
		{linux.O_RDONLY | linux.O_TRUNC, auth.MayReadWrite},
	} {
		if got := vfs.AccessTypesForOpenFlags(&vfs.OpenOptions{Flags: tc.flags}); got != tc.want {
			t.Errorf("flags %#o: %v, want %v", tc.flags, got, tc.want)
		}
	}
	if vfs.MayReadFileWithOpenFlags(linux.O_PATH) || vfs.MayWriteFileWithOpenFlags(linux.O_WRONLY|linux.O_PATH) {
		t.Errorf("O_PATH files are readable or writable")
	}
}

func TestModeForNewFile(t *testing.T) {
	ns := auth.NewRootUserNamespace()
	user := auth.NewUserCredentials(1000, 1000, nil, nil, ns)
	for _, tc := range []struct {
		mode, dirMode uint16
		wantMode      uint16
		wantGID       auth.KGID
	}{
		{linux.S_IFREG | 0o644, linux.S_IFDIR | 0o755, linux.S_IFREG | 0o644, 1000},
		{linux.S_IFDIR | 0o755, linux.S_IFDIR | linux.S_ISGID | 0o755, linux.S_IFDIR | linux.S_ISGID | 0o755, 50},
		{linux.S_IFREG | linux.S_ISGID | 0o755, linux.S_IFDIR | linux.S_ISGID | 0o755, linux.S_IFREG | 0o755, 50},
		{linux.S_IFREG | linux.S_ISGID | 0o745, linux.S_IFDIR | linux.S_ISGID | 0o755, linux.S_IFREG | linux.S_ISGID | 0o745, 50},
	} {
		mode, gid := vfs.ModeForNewFile(user, tc.mode, tc.dirMode, 50)
		if mode != tc.wantMode || gid != tc.wantGID {
			t.Errorf("ModeForNewFile(%#o in %#o) = %#o, %d; want %#o, %d", tc.mode, tc.dirMode, mode, gid, tc.wantMode, tc.wantGID)
		}
	}
}
