package linux

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestErrnoMatchesHost checks every number against the host's C library view of it.
func TestErrnoMatchesHost(t *testing.T) {
	// Names the host's table prefers for numbers that have two.
	hostAliases := map[Errno]string{EOPNOTSUPP: "ENOTSUP", EUCLEAN: "EFSCORRUPTED"}
	for e := Errno(1); e <= EHWPOISON; e++ {
		want := unix.ErrnoName(syscall.Errno(e))
		if alias, ok := hostAliases[e]; ok && want == alias {
			want = e.Name()
		}
		if got := e.Name(); got != want {
			t.Errorf("Errno(%d).Name() = %q, host says %q", e, got, want)
		}
		if e.Error() == "" {
			t.Errorf("Errno(%d) has no message", e)
		}
	}
}

func TestErrnoFromName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Errno
		ok   bool
	}{
		{"EPERM", EPERM, true},
		{"ENOSYS", ENOSYS, true},
		{"EWOULDBLOCK", EAGAIN, true},
		{"EDEADLOCK", EDEADLK, true},
		{"EHWPOISON", EHWPOISON, true},
		{"ENOPE", 0, false},
		{"", 0, false},
	} {
		got, ok := ErrnoFromName(tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ErrnoFromName(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestErrnoError(t *testing.T) {
	if got, want := ENOSYS.Error(), "Function not implemented"; got != want {
		t.Errorf("ENOSYS.Error() = %q, want %q", got, want)
	}
	if got, want := Errno(4000).Error(), "errno 4000"; got != want {
		t.Errorf("Errno(4000).Error() = %q, want %q", got, want)
	}
}
