package loader

import (
	"bytes"
	"fmt"

	"visor.dev/visor/pkg/abi/linux"
)

// isScript says whether hdr, the first bytes of a file, start a "#!" script.
func isScript(hdr []byte) bool {
	return bytes.HasPrefix(hdr, []byte("#!"))
}

func isSpaceTab(c byte) bool { return c == ' ' || c == '\t' }

// nextNonSpaceTab returns the index of the first byte of b[first:last+1] that is
// neither space nor tab, or -1.
func nextNonSpaceTab(b []byte, first, last int) int {
	for ; first <= last; first++ {
		if !isSpaceTab(b[first]) {
			return first
		}
	}
	return -1
}

// nextTerminator returns the index of the first space, tab or NUL of
// b[first:last+1], or -1.
func nextTerminator(b []byte, first, last int) int {
	for ; first <= last; first++ {
		if isSpaceTab(b[first]) || b[first] == 0 {
			return first
		}
	}
	return -1
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseScript parses the "#!" line at the start of hdr, the first
// BINPRM_BUF_SIZE bytes of a script (fewer if the file is shorter), into the
// interpreter's path and its optional argument, exactly as Linux's binfmt_script,
// and returns them as the start of the interpreter's argv:
//
//   - The line ends at the first newline. Without one in the buffer, the line is
//     cut at the buffer's end, which is fine only if the interpreter path ends
//     before (arguments may be cut; the interpreter rereads the script), else the
//     path may be truncated: ENOEXEC.
//   - Spaces and tabs around the line are dropped; the path ends at the first
//     space, tab or NUL; everything after the blanks that follow it, up to the end
//     of the line, is one single argument (a NUL ends it early).
//   - A line with no interpreter is ENOEXEC.
func parseScript(hdr []byte) ([]string, error) {
	if !isScript(hdr) {
		return nil, fmt.Errorf("neither ELF nor a #! script: %w", linux.ENOEXEC)
	}
	// Linux's buffer holds zeros past the end of a short file.
	buf := make([]byte, linux.BINPRM_BUF_SIZE)
	copy(buf, hdr)
	bufEnd := len(buf) - 1

	end := bytes.IndexByte(buf, '\n')
	if end < 0 {
		i := nextNonSpaceTab(buf, 2, bufEnd)
		if i < 0 {
			return nil, fmt.Errorf("#! line of blanks: %w", linux.ENOEXEC)
		}
		if nextTerminator(buf, i, bufEnd) < 0 {
			return nil, fmt.Errorf("#! line too long, interpreter path truncated: %w", linux.ENOEXEC)
		}
		end = bufEnd
	}
	// buf[1] is '!', which stops this.
	for isSpaceTab(buf[end-1]) {
		end--
	}

	nameStart := nextNonSpaceTab(buf, 2, end)
	if nameStart < 0 || nameStart == end {
		return nil, fmt.Errorf("#! line without an interpreter: %w", linux.ENOEXEC)
	}
	sep := nextTerminator(buf, nameStart, end)
	if sep < 0 {
		// The path runs to the end of the line.
		return []string{cString(buf[nameStart:end])}, nil
	}
	name := cString(buf[nameStart:sep])
	if name == "" {
		return nil, fmt.Errorf("#! line without an interpreter: %w", linux.ENOEXEC)
	}
	if buf[sep] == 0 {
		return []string{name}, nil
	}
	argStart := nextNonSpaceTab(buf, sep, end)
	if argStart < 0 {
		return []string{name}, nil
	}
	// Even an argument that a NUL makes empty is passed, as Linux passes it.
	return []string{name, cString(buf[argStart:end])}, nil
}

// scriptArgv returns the argv a script's interpreter runs with, as Linux builds
// it: interp (the interpreter's path and its argument if any), the script's path
// (as execve or the enclosing script named it; it replaces argv[0]), then
// argv[1:].
func scriptArgv(interp, argv []string, script string) []string {
	out := append(interp[:len(interp):len(interp)], script)
	if len(argv) > 0 {
		out = append(out, argv[1:]...)
	}
	return out
}
