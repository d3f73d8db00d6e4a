package anonfs

import (
	"testing"

	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/sentry/vfs"
)

func TestMountIsPerVFS(t *testing.T) {
	a, b := vfs.New(), vfs.New()
	if Mount(a) != Mount(a) {
		t.Error("two anonfs mounts for one VFS")
	}
	if Mount(a) == Mount(b) {
		t.Error("two VFSes share an anonfs mount")
	}
	st := Stat(Mount(a))
	if st.Mode != 0o600 || st.Mode&linux.S_IFMT != 0 {
		t.Errorf("anonymous inode mode %#o, want 0600 with no type", st.Mode)
	}
	if fs := StatFS(); fs.Type != linux.ANON_INODE_FS_MAGIC {
		t.Errorf("statfs type %#x", fs.Type)
	}
}
