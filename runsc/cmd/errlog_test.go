package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"visor.dev/visor/runsc/config"
)

func TestErrorLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		writes []string
		want   []string // the messages of the log's entries
	}{
		{"json", config.LogFormatJSON, []string{"runsc kill: bad\n"}, []string{"runsc kill: bad"}},
		{"text", config.LogFormatText, []string{"runsc kill: \"bad\"\n"}, []string{"runsc kill: \"bad\""}},
		{"lines in pieces", config.LogFormatJSON, []string{"runsc x: a", "b\nrunsc y:", " c\n"}, []string{"runsc x: ab", "runsc y: c"}},
		{"unended line", config.LogFormatJSON, []string{"one\ntwo"}, []string{"one", "two"}},
		{"empty lines", config.LogFormatJSON, []string{"\n\none\n"}, []string{"one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			var stderr strings.Builder
			l := NewErrorLog(&stderr)
			if err := l.Open(&config.Config{LogFilename: path, LogFormat: tc.format}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.writes {
				l.Write([]byte(w))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if got, want := stderr.String(), strings.Join(tc.writes, ""); got != want {
				t.Errorf("stderr %q, want %q", got, want)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("log %q: want %d entries", data, len(tc.want))
			}
			for i, line := range lines {
				var msg, ts string
				if tc.format == config.LogFormatJSON {
					var e struct{ Level, Msg, Time string }
					if err := json.Unmarshal([]byte(line), &e); err != nil || e.Level != "error" {
						t.Errorf("entry %q: %v", line, err)
					}
					msg, ts = e.Msg, e.Time
				} else {
					rest, ok := strings.CutPrefix(line, "time=")
					var quotedTime, quotedMsg string
					if ok {
						quotedTime, quotedMsg, ok = strings.Cut(rest, " level=error msg=")
					}
					if !ok {
						t.Fatalf("entry %q", line)
					}
					ts, _ = strconv.Unquote(quotedTime)
					msg, _ = strconv.Unquote(quotedMsg)
				}
				if msg != tc.want[i] {
					t.Errorf("entry %d: msg %q, want %q", i, msg, tc.want[i])
				}
				if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
					t.Errorf("entry %d: time %q: %v", i, ts, err)
				}
			}
		})
	}
}

// TestDebugLogNotErrors checks that debug output does not land in --log as
// error entries.
func TestDebugLogNotErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var stderr strings.Builder
	l := NewErrorLog(&stderr)
	if err := l.Open(&config.Config{LogFilename: path, LogFormat: config.LogFormatJSON}); err != nil {
		t.Fatal(err)
	}
	w, err := openDebugLog(&config.Config{Debug: true}, "c1", "boot", l)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("sentry: debug line\n"))
	w.Close()
	l.Close()
	if data, _ := os.ReadFile(path); len(data) != 0 {
		t.Errorf("debug output in the error log: %q", data)
	}
	if stderr.String() != "sentry: debug line\n" {
		t.Errorf("stderr %q", stderr.String())
	}
}
