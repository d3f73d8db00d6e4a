package spec

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"visor.dev/visor/pkg/syscallinfo"
)

const goodRows = `syscalls:
  - nr: 0
    name: read
    area: file
    args: [{name: fd, type: unsigned int}, {name: buf, type: "char *"}, {name: count, type: size_t}]
    status: supported
    handler: Read
  - nr: 39
    name: getpid
    area: process
    args: []
    status: partial
    handler: Getpid
    note: No PID namespaces yet.
  - nr: 173
    name: ioperm
    area: system
    args: []
    status: unimplemented
    errno: EPERM
    note: Never allowed.
  - nr: 184
    name: tuxcall
    area: obsolete
    args: []
    status: unimplemented
    note: Not in Linux either.
`

var handlers = map[string]bool{"Read": true, "Getpid": true}

func TestParseGood(t *testing.T) {
	tab, err := Parse("s.yaml", []byte(goodRows), handlers)
	if err != nil {
		t.Fatal(err)
	}
	want := []Syscall{
		{Nr: 0, Name: "read", Area: "file", Args: []syscallinfo.Arg{{Name: "fd", Type: "unsigned int"}, {Name: "buf", Type: "char *"}, {Name: "count", Type: "size_t"}}, Status: syscallinfo.Supported, Handler: "Read", Line: 2},
		{Nr: 39, Name: "getpid", Area: "process", Args: []syscallinfo.Arg{}, Status: syscallinfo.Partial, Handler: "Getpid", Note: "No PID namespaces yet.", Line: 8},
		{Nr: 173, Name: "ioperm", Area: "system", Args: []syscallinfo.Arg{}, Status: syscallinfo.Unimplemented, Errno: "EPERM", Note: "Never allowed.", Line: 15},
		{Nr: 184, Name: "tuxcall", Area: "obsolete", Args: []syscallinfo.Arg{}, Status: syscallinfo.Unimplemented, Errno: "ENOSYS", Note: "Not in Linux either.", Line: 22},
	}
	if diff := cmp.Diff(want, tab.Syscalls); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

// row is a valid unimplemented row at line 2 of the file, with extra lines appended.
func row(extra string) string {
	return "syscalls:\n  - nr: 1\n    name: write\n    area: file\n    args: []\n    status: unimplemented\n    note: Later.\n" + extra
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string // the whole error, "file:line: message"
	}{
		{"unknown field", row("    colour: blue\n"), `s.yaml:8: unknown field "colour"`},
		{"unknown top-level field", "syscalls: []\nextra: 1\n", `s.yaml:2: unknown top-level field "extra"`},
		{"duplicate number", row("  - nr: 1\n    name: other\n    area: file\n    args: []\n    status: unimplemented\n    note: x\n"), `s.yaml:8: number 1 is already used at line 2`},
		{"duplicate name", row("  - nr: 2\n    name: write\n    area: file\n    args: []\n    status: unimplemented\n    note: x\n"), `s.yaml:8: name "write" is already used at line 2`},
		{"out of order", row("  - nr: 0\n    name: read\n    area: file\n    args: []\n    status: unimplemented\n    note: x\n"), `s.yaml:8: read (0) is out of order: rows are sorted by number`},
		{"supported without handler", "syscalls:\n  - nr: 0\n    name: read\n    area: file\n    args: []\n    status: supported\n", `s.yaml:2: read is supported but names no handler`},
		{"handler that does not exist", "syscalls:\n  - nr: 0\n    name: read\n    area: file\n    args: []\n    status: supported\n    handler: Nope\n", `s.yaml:2: handler Nope of read does not exist in pkg/sentry/syscalls/linux`},
		{"unimplemented with handler", row("    handler: Read\n"), `s.yaml:2: write is unimplemented but names handler Read: set its status`},
		{"errno on supported row", "syscalls:\n  - nr: 0\n    name: read\n    area: file\n    args: []\n    status: supported\n    handler: Read\n    errno: EPERM\n", `s.yaml:2: read is supported: errno is only for unimplemented rows`},
		{"unknown errno", row("    errno: EWHAT\n"), `s.yaml:8: errno: "EWHAT" is not a Linux errno name`},
		{"missing note", "syscalls:\n  - nr: 1\n    name: write\n    area: file\n    args: []\n    status: unimplemented\n", `s.yaml:2: write is unimplemented: it needs a note for users`},
		{"bad status", "syscalls:\n  - nr: 1\n    name: write\n    area: file\n    args: []\n    status: mostly\n    note: x\n", `s.yaml:2: status: unknown status "mostly" (want one of supported, partial, unimplemented)`},
		{"bad area", "syscalls:\n  - nr: 1\n    name: write\n    area: misc\n    args: []\n    status: unimplemented\n    note: x\n", `s.yaml:4: area: "misc" is not one of ` + strings.Join(Areas, ", ")},
		{"missing field", "syscalls:\n  - nr: 1\n    name: write\n    args: []\n    status: unimplemented\n    note: x\n", `s.yaml:2: missing field "area"`},
		{"bad number", "syscalls:\n  - nr: one\n    name: write\n    area: file\n    args: []\n    status: unimplemented\n    note: x\n", `s.yaml:2: nr: "one" is not a valid value`},
		{"negative number", "syscalls:\n  - nr: -1\n    name: write\n    area: file\n    args: []\n    status: unimplemented\n    note: x\n", `s.yaml:2: nr: -1 is negative`},
		{"bad name", "syscalls:\n  - nr: 1\n    name: Write\n    area: file\n    args: []\n    status: unimplemented\n    note: x\n", `s.yaml:3: name: "Write" is not a system call name`},
		{"too many args", "syscalls:\n  - nr: 1\n    name: write\n    area: file\n    args: [{name: a, type: int}, {name: b, type: int}, {name: c, type: int}, {name: d, type: int}, {name: e, type: int}, {name: f, type: int}, {name: g, type: int}]\n    status: unimplemented\n    note: x\n", `s.yaml:5: args: 7 arguments, a system call has at most 6`},
		{"arg without type", "syscalls:\n  - nr: 1\n    name: write\n    area: file\n    args: [{name: fd}]\n    status: unimplemented\n    note: x\n", `s.yaml:5: args: each argument needs a name and a type`},
		{"arg unknown field", "syscalls:\n  - nr: 1\n    name: write\n    area: file\n    args: [{name: fd, type: int, size: 4}]\n    status: unimplemented\n    note: x\n", `s.yaml:5: args: unknown field "size"`},
		{"no list", "other: 1\n", `s.yaml:1: unknown top-level field "other"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tc.yaml), handlers)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v, want Errors", err)
			}
			if got := errs[0].Error(); got != tc.want {
				t.Errorf("first error = %q\nwant          %q\n(all: %v)", got, tc.want, err)
			}
		})
	}
}

func TestParseNoteMustBeOneLine(t *testing.T) {
	y := "syscalls:\n  - nr: 1\n    name: write\n    area: file\n    args: []\n    status: unimplemented\n    note: \"two\\nlines\"\n"
	_, err := Parse("s.yaml", []byte(y), nil)
	if err == nil || !strings.Contains(err.Error(), "s.yaml:7: note: must be one line") {
		t.Errorf("Parse error = %v, want a one-line-note error at line 7", err)
	}
}

func TestParseDuplicateKey(t *testing.T) {
	_, err := Parse("s.yaml", []byte(row("    note: Again.\n")), nil)
	if want := `s.yaml:8: field "note" is already given at line 7`; err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %q", err, want)
	}
}
