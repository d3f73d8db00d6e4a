package syscallinfo

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStatusRoundTrip(t *testing.T) {
	for _, s := range []Status{Unimplemented, Partial, Supported} {
		got, err := ParseStatus(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	if _, err := ParseStatus("mostly"); err == nil {
		t.Error(`ParseStatus("mostly") succeeded`)
	}
	if got := Status(7).String(); got != "Status(7)" {
		t.Errorf("Status(7).String() = %q", got)
	}
}

func TestTableLookups(t *testing.T) {
	tab := Table{
		{Nr: 0, Name: "read", Status: Supported},
		{Nr: 39, Name: "getpid", Status: Partial},
		{Nr: 424, Name: "pidfd_send_signal", Status: Unimplemented},
	}
	for _, tc := range []struct {
		nr   uintptr
		name string
		ok   bool
	}{
		{0, "read", true}, {39, "getpid", true}, {424, "pidfd_send_signal", true},
		{1, "", false}, {400, "", false}, {1000, "", false},
	} {
		s, ok := tab.Lookup(tc.nr)
		if ok != tc.ok || s.Name != tc.name {
			t.Errorf("Lookup(%d) = %q, %v; want %q, %v", tc.nr, s.Name, ok, tc.name, tc.ok)
		}
		if tc.ok {
			if s, ok := tab.LookupName(tc.name); !ok || s.Nr != tc.nr {
				t.Errorf("LookupName(%q) = %d, %v; want %d", tc.name, s.Nr, ok, tc.nr)
			}
		}
	}
	if _, ok := tab.LookupName("nope"); ok {
		t.Error(`LookupName("nope") found something`)
	}
	want := map[Status]int{Supported: 1, Partial: 1, Unimplemented: 1}
	if diff := cmp.Diff(want, tab.Count()); diff != "" {
		t.Errorf("Count (-want +got):\n%s", diff)
	}
}

// TestAMD64IsSorted checks the invariant Lookup relies on.
func TestAMD64IsSorted(t *testing.T) {
	tab := AMD64()
	if len(tab) < 380 {
		t.Fatalf("AMD64 has %d rows", len(tab))
	}
	for i := 1; i < len(tab); i++ {
		if tab[i-1].Nr >= tab[i].Nr {
			t.Fatalf("rows %d (%d) and %d (%d) out of order", i-1, tab[i-1].Nr, i, tab[i].Nr)
		}
	}
}
