package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"visor.dev/visor/runsc/config"
)

// nopCloser is a writer that needs no closing.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// openDebugLog opens where a sandbox process of container id logs: --debug-log
// (a file, or a directory ending in "/" that gets one file per process), else
// stderr when --debug or --strace asks for output, else nowhere.
func openDebugLog(conf *config.Config, id, process string, stderr io.Writer) (io.WriteCloser, error) {
	dest := conf.DebugLog
	if l, ok := stderr.(*ErrorLog); ok {
		// Debug lines are not errors: they go to stderr only, never to --log
		// as error entries.
		stderr = l.stderr
	}
	if dest == "" {
		if conf.Debug || conf.Strace {
			return nopCloser{stderr}, nil
		}
		return nopCloser{io.Discard}, nil
	}
	if strings.HasSuffix(dest, "/") {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return nil, fmt.Errorf("--debug-log: %w", err)
		}
		dest = filepath.Join(dest, fmt.Sprintf("runsc.%s.%s.log", id, process))
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--debug-log: %w", err)
	}
	return f, nil
}
