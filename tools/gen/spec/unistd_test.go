package spec

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// unistdHeaders are where Debian's linux-libc-dev puts <asm/unistd_64.h>.
var unistdHeaders = []string{
	"/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
	"/usr/include/asm/unistd_64.h",
}

// readUnistd returns the system call numbers the header defines, by name.
func readUnistd(t *testing.T) map[string]uintptr {
	t.Helper()
	define := regexp.MustCompile(`^#define __NR_(\w+) (\d+)$`)
	for _, path := range unistdHeaders {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		defer f.Close()
		nrs := make(map[string]uintptr)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := define.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.ParseUint(m[2], 10, 64)
				nrs[m[1]] = uintptr(n)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if len(nrs) < 300 {
			t.Fatalf("%s defines only %d system calls", path, len(nrs))
		}
		return nrs
	}
	t.Fatalf("<asm/unistd_64.h> not found in %v: install linux-libc-dev (tools/setup.sh does)", unistdHeaders)
	return nil
}

func loadRepoTable(t *testing.T) *Table {
	t.Helper()
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Load(filepath.Join(root, File), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// newerThanHeaders are the system calls added after Linux 6.1, whose headers Debian
// bookworm ships; a newer linux-libc-dev defines them too, and then they are checked.
var newerThanHeaders = map[string]bool{
	"uretprobe": true, "uprobe": true, "cachestat": true, "fchmodat2": true,
	"map_shadow_stack": true, "futex_wake": true, "futex_wait": true, "futex_requeue": true,
	"statmount": true, "listmount": true, "lsm_get_self_attr": true, "lsm_set_self_attr": true,
	"lsm_list_modules": true, "mseal": true, "setxattrat": true, "getxattrat": true,
	"listxattrat": true, "removexattrat": true, "open_tree_attr": true, "file_getattr": true,
	"file_setattr": true,
}

// TestMatchesUnistd checks syscalls.yaml against the C headers: every system call the
// header defines has a row with its number and name, and every row the header lacks
// is one newer than the header.
func TestMatchesUnistd(t *testing.T) {
	header := readUnistd(t)
	tab := loadRepoTable(t)
	byNr := make(map[uintptr]Syscall)
	for _, s := range tab.Syscalls {
		byNr[s.Nr] = s
		if nr, ok := header[s.Name]; ok {
			if nr != s.Nr {
				t.Errorf("syscalls.yaml:%d: %s is %d, the header says %d", s.Line, s.Name, s.Nr, nr)
			}
		} else if !newerThanHeaders[s.Name] {
			t.Errorf("syscalls.yaml:%d: %s (%d) is not in the header", s.Line, s.Name, s.Nr)
		}
	}
	for name, nr := range header {
		if s, ok := byNr[nr]; !ok || s.Name != name {
			t.Errorf("the header's %s (%d) has no row", name, nr)
		}
	}
}

// TestLinux618Numbering checks that the table covers exactly the numbers Linux 6.18
// assigns on x86-64: 0-336, then 424-469 (the numbers shared by every architecture).
func TestLinux618Numbering(t *testing.T) {
	tab := loadRepoTable(t)
	var want []uintptr
	for nr := uintptr(0); nr <= 336; nr++ {
		want = append(want, nr)
	}
	for nr := uintptr(424); nr <= 469; nr++ {
		want = append(want, nr)
	}
	if len(tab.Syscalls) != len(want) {
		t.Fatalf("syscalls.yaml has %d rows, want %d", len(tab.Syscalls), len(want))
	}
	for i, s := range tab.Syscalls {
		if s.Nr != want[i] {
			t.Fatalf("syscalls.yaml:%d: row %d is number %d, want %d", s.Line, i, s.Nr, want[i])
		}
	}
}
