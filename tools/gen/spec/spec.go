// Package spec loads syscalls.yaml, the table of every system call Visor knows, and
// checks it strictly: every mistake is an error that names the file and line. The
// schema is documented at the top of syscalls.yaml.
package spec

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"visor.dev/visor/pkg/abi/linux"
	"visor.dev/visor/pkg/syscallinfo"
)

// Areas are the groups a system call may belong to, in the order the docs list them.
var Areas = []string{
	"process", "signals", "memory", "file", "filesystem", "events", "sync", "time",
	"scheduling", "ipc", "network", "system", "obsolete",
}

// maxArgs is the number of argument registers of a system call.
const maxArgs = 6

// Syscall is one row of syscalls.yaml.
type Syscall struct {
	Nr      uintptr
	Name    string
	Area    string
	Args    []syscallinfo.Arg
	Status  syscallinfo.Status
	Handler string // Go name of the handler in pkg/sentry/syscalls/linux
	Errno   string // for unimplemented rows; "ENOSYS" when the row names none
	Note    string
	Line    int // line of the row in the file
}

// Table is the whole of syscalls.yaml, sorted by number.
type Table struct {
	Syscalls []Syscall
}

// Error is a problem at one line of the file.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Errors is every problem found in the file, in line order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Load reads and checks the file at path. handlers holds the names of the functions
// that exist in pkg/sentry/syscalls/linux; a row naming any other handler is an error.
// Readers that only need the rows pass nil, and handlers are not looked up.
func Load(path string, handlers map[string]bool) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, handlers)
}

var (
	nameRE    = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	handlerRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
)

// Parse checks data as the contents of file; see Load.
func Parse(file string, data []byte, handlers map[string]bool) (*Table, error) {
	p := &parser{file: file}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: doc.Line, Msg: "want a mapping with the key \"syscalls\""}
	}
	var rows *yaml.Node
	p.fields(doc.Content[0], func(key string, v *yaml.Node) {
		switch key {
		case "syscalls":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "syscalls: want a list of rows")
				return
			}
			rows = v
		default:
			p.errorf(v, "unknown top-level field %q", key)
		}
	})
	if rows == nil {
		if len(p.errs) == 0 {
			p.errorf(doc.Content[0], "no \"syscalls\" list")
		}
		return nil, p.errs
	}

	t := &Table{}
	byNr := make(map[uintptr]int)
	byName := make(map[string]int)
	for _, row := range rows.Content {
		s, ok := p.row(row, handlers)
		if !ok {
			continue
		}
		if line, dup := byNr[s.Nr]; dup {
			p.errorf(row, "number %d is already used at line %d", s.Nr, line)
		}
		if line, dup := byName[s.Name]; dup {
			p.errorf(row, "name %q is already used at line %d", s.Name, line)
		}
		byNr[s.Nr], byName[s.Name] = s.Line, s.Line
		if n := len(t.Syscalls); n > 0 && t.Syscalls[n-1].Nr >= s.Nr {
			p.errorf(row, "%s (%d) is out of order: rows are sorted by number", s.Name, s.Nr)
		}
		t.Syscalls = append(t.Syscalls, s)
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return t, nil
}

type parser struct {
	file string
	errs Errors
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Msg: fmt.Sprintf(format, args...)})
}

// fields calls f for each key of the mapping n, once: a key given twice is an error.
func (p *parser) fields(n *yaml.Node, f func(key string, v *yaml.Node)) {
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "want a plain key")
			continue
		}
		if line, dup := seen[k.Value]; dup {
			p.errorf(k, "field %q is already given at line %d", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		f(k.Value, n.Content[i+1])
	}
}

// scalar decodes the scalar v into out, recording an error naming key if it does not fit.
func (p *parser) scalar(key string, v *yaml.Node, out any) bool {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s: want a single value", key)
		return false
	}
	if err := v.Decode(out); err != nil {
		p.errorf(v, "%s: %q is not a valid value", key, v.Value)
		return false
	}
	return true
}

func (p *parser) row(n *yaml.Node, handlers map[string]bool) (Syscall, bool) {
	s := Syscall{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "want a row (a mapping)")
		return s, false
	}
	before := len(p.errs)
	seen := make(map[string]bool)
	var status string
	p.fields(n, func(key string, v *yaml.Node) {
		seen[key] = true
		switch key {
		case "nr":
			var nr int64
			if p.scalar(key, v, &nr) {
				if nr < 0 {
					p.errorf(v, "nr: %d is negative", nr)
				}
				s.Nr = uintptr(nr)
			}
		case "name":
			if p.scalar(key, v, &s.Name) && !nameRE.MatchString(s.Name) {
				p.errorf(v, "name: %q is not a system call name", s.Name)
			}
		case "area":
			if p.scalar(key, v, &s.Area) && !slices.Contains(Areas, s.Area) {
				p.errorf(v, "area: %q is not one of %s", s.Area, strings.Join(Areas, ", "))
			}
		case "args":
			s.Args = p.args(v)
		case "status":
			p.scalar(key, v, &status)
		case "handler":
			p.scalar(key, v, &s.Handler)
		case "errno":
			if p.scalar(key, v, &s.Errno) {
				if _, ok := linux.ErrnoFromName(s.Errno); !ok {
					p.errorf(v, "errno: %q is not a Linux errno name", s.Errno)
				}
			}
		case "note":
			if p.scalar(key, v, &s.Note) && strings.ContainsAny(s.Note, "\n") {
				p.errorf(v, "note: must be one line")
			}
		default:
			p.errorf(v, "unknown field %q", key)
		}
	})
	for _, key := range []string{"nr", "name", "area", "args", "status"} {
		if !seen[key] {
			p.errorf(n, "missing field %q", key)
		}
	}
	if seen["status"] {
		st, err := syscallinfo.ParseStatus(status)
		if err != nil {
			p.errorf(n, "status: %v", err)
		}
		s.Status = st
	}
	if len(p.errs) > before {
		return s, false
	}
	p.checkStatus(n, &s, handlers)
	return s, len(p.errs) == before
}

// checkStatus checks that the row's handler, errno and note fit its status.
func (p *parser) checkStatus(n *yaml.Node, s *Syscall, handlers map[string]bool) {
	switch s.Status {
	case syscallinfo.Supported, syscallinfo.Partial:
		switch {
		case s.Handler == "":
			p.errorf(n, "%s is %s but names no handler", s.Name, s.Status)
		case !handlerRE.MatchString(s.Handler):
			p.errorf(n, "handler: %q is not an exported Go function name", s.Handler)
		case handlers != nil && !handlers[s.Handler]:
			p.errorf(n, "handler %s of %s does not exist in pkg/sentry/syscalls/linux", s.Handler, s.Name)
		}
		if s.Errno != "" {
			p.errorf(n, "%s is %s: errno is only for unimplemented rows", s.Name, s.Status)
		}
	case syscallinfo.Unimplemented:
		if s.Handler != "" {
			p.errorf(n, "%s is unimplemented but names handler %s: set its status", s.Name, s.Handler)
		}
		if s.Errno == "" {
			s.Errno = "ENOSYS"
		}
	}
	if s.Status != syscallinfo.Supported && s.Note == "" {
		p.errorf(n, "%s is %s: it needs a note for users", s.Name, s.Status)
	}
}

func (p *parser) args(v *yaml.Node) []syscallinfo.Arg {
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "args: want a list")
		return nil
	}
	if len(v.Content) > maxArgs {
		p.errorf(v, "args: %d arguments, a system call has at most %d", len(v.Content), maxArgs)
	}
	args := make([]syscallinfo.Arg, 0, len(v.Content))
	for _, a := range v.Content {
		if a.Kind != yaml.MappingNode {
			p.errorf(a, "args: want {name: ..., type: ...}")
			continue
		}
		var arg syscallinfo.Arg
		p.fields(a, func(key string, v *yaml.Node) {
			switch key {
			case "name":
				p.scalar("args.name", v, &arg.Name)
			case "type":
				p.scalar("args.type", v, &arg.Type)
			default:
				p.errorf(v, "args: unknown field %q", key)
			}
		})
		if arg.Name == "" || arg.Type == "" {
			p.errorf(a, "args: each argument needs a name and a type")
		}
		args = append(args, arg)
	}
	return args
}
