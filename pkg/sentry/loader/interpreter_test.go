package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"visor.dev/visor/pkg/abi/linux"
)

func TestParseScript(t *testing.T) {
	long := "#!/bin/sh " + strings.Repeat("x", 300) + "\n"
	for _, tc := range []struct {
		line string
		want []string // nil: ENOEXEC
	}{
		{"#!/bin/sh\n", []string{"/bin/sh"}},
		{"#!/bin/sh", []string{"/bin/sh"}}, // no newline in a short file
		{"#! /bin/sh\n", []string{"/bin/sh"}},
		{"#!\t /bin/sh \t\n", []string{"/bin/sh"}},
		{"#!/bin/sh -e\n", []string{"/bin/sh", "-e"}},
		{"#!/usr/bin/env  python3 -u  \necho\n", []string{"/usr/bin/env", "python3 -u"}},
		{"#!/bin/sh\t-x\n", []string{"/bin/sh", "-x"}},
		{"#!/bin/sh -x\x00y\n", []string{"/bin/sh", "-x"}},
		{"#!/bin/sh\x00 -x\n", []string{"/bin/sh"}},
		{"#!/bin/sh \x00\n", []string{"/bin/sh", ""}}, // Linux passes the empty argument
		{"#!/bin/sh\r\n", []string{"/bin/sh\r"}},
		// A line longer than the buffer: arguments are cut...
		{long, []string{"/bin/sh", strings.Repeat("x", 255-len("#!/bin/sh "))}},
		// ...but a cut interpreter path is an error.
		{"#!" + strings.Repeat("/a", 200) + "\n", nil},
		{"#!\n", nil},
		{"#!   \t\n", nil},
		{"#!" + strings.Repeat(" ", 300), nil},
		{"#!", nil},
		{"#", nil},
		{"!#/bin/sh\n", nil},
	} {
		got, err := parseScript([]byte(tc.line))
		if tc.want == nil {
			if !errors.Is(err, linux.ENOEXEC) {
				t.Errorf("parseScript(%q) = %q, %v; want ENOEXEC", tc.line, got, err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("parseScript(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

// stackArgv decodes argv from img's initial stack.
func stackArgv(t *testing.T, mm *fakeMM, img *Image) []string {
	t.Helper()
	word := func(addr uintptr) uint64 {
		b := mm.mustRead(addr, 8)
		return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	}
	argc := word(img.StackPointer)
	var argv []string
	for i := range argc {
		p := uintptr(word(img.StackPointer + 8 + uintptr(i)*8))
		b := mm.mustRead(p, int(img.ArgvEnd-p))
		argv = append(argv, string(b[:strings.IndexByte(string(b), 0)]))
	}
	return argv
}

func writeScript(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestLoadScript(t *testing.T) {
	dir := t.TempDir()
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script")
	writeScript(t, script, "#!/bin/sh\necho hi\n", 0o755)
	withArg := filepath.Join(dir, "with-arg")
	writeScript(t, withArg, "#! /bin/sh  -e -x \necho hi\n", 0o755)
	// A chain: s0 runs /bin/sh, s<i> runs s<i-1> with one argument.
	writeScript(t, filepath.Join(dir, "s0"), "#!/bin/sh\n", 0o755)
	for i := 1; i <= 6; i++ {
		writeScript(t, filepath.Join(dir, fmt.Sprint("s", i)), fmt.Sprintf("#!%s/s%d arg%d\n", dir, i-1, i), 0o755)
	}
	s := func(i int) string { return filepath.Join(dir, fmt.Sprint("s", i)) }

	for _, tc := range []struct {
		name     string
		filename string
		argv     []string
		want     []string
	}{
		{"plain", script, []string{"ignored", "a", "b"}, []string{"/bin/sh", script, "a", "b"}},
		{"argument", withArg, []string{"x", "a"}, []string{"/bin/sh", "-e -x", withArg, "a"}},
		{"empty argv", script, nil, []string{"/bin/sh", script}},
		{"chain of 5", s(4), []string{"s4", "x"}, []string{
			"/bin/sh", s(0), "arg1", s(1), "arg2", s(2), "arg3", s(3), "arg4", s(4), "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, mm := load(t, &fakeOpener{}, tc.filename, tc.argv, []string{"E=1"})
			if diff := cmp.Diff(tc.want, stackArgv(t, mm, img)); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
			if img.Executable.Name() != sh {
				t.Errorf("executable %q, want %q", img.Executable.Name(), sh)
			}
		})
	}

	notExec := filepath.Join(dir, "not-exec")
	writeScript(t, notExec, "#!/bin/sh\n", 0o644)
	noInterp := filepath.Join(dir, "no-interp")
	writeScript(t, noInterp, "#!/nonexistent/sh\n", 0o755)
	text := filepath.Join(dir, "text")
	writeScript(t, text, "echo hi\n", 0o755)
	empty := filepath.Join(dir, "empty")
	writeScript(t, empty, "", 0o755)
	for _, tc := range []struct {
		name     string
		filename string
		want     linux.Errno
	}{
		{"chain of 6", s(5), linux.ELOOP},
		{"chain of 7", s(6), linux.ELOOP},
		// The Opener's check, as the kernel's does it.
		{"not executable", notExec, linux.EACCES},
		{"directory", dir, linux.EACCES},
		{"missing", filepath.Join(dir, "missing"), linux.ENOENT},
		{"missing interpreter", noInterp, linux.ENOENT},
		{"no #!", text, linux.ENOEXEC},
		{"empty", empty, linux.ENOEXEC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Args{MM: newFakeMM(testLayout), Opener: &fakeOpener{}, Filename: tc.filename, Layout: testLayout})
			var errno linux.Errno
			if !errors.As(err, &errno) || errno != tc.want {
				t.Errorf("Load(%s) = %v, want %v", tc.filename, err, tc.want)
			}
		})
	}
}
