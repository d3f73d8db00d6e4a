package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"visor.dev/visor/runsc/config"
)

// ErrorLog is where runsc's commands write their own errors: every line goes to
// stderr and, once Open has found a --log file, to that file too as an error
// entry in --log-format. With --log-format=json an entry is the JSON line
// containerd's runc shim reads back to tell the user why a command failed:
//
//	{"level":"error","msg":"...","time":"2006-01-02T15:04:05.999999999Z"}
type ErrorLog struct {
	mu      sync.Mutex
	stderr  io.Writer
	log     io.WriteCloser // nil until Open finds a --log
	format  string
	partial []byte // the start of a line not yet ended
}

// NewErrorLog returns an ErrorLog that writes to stderr only, until Open.
func NewErrorLog(stderr io.Writer) *ErrorLog {
	return &ErrorLog{stderr: stderr}
}

// Open opens conf's --log file, if it names one, for appending.
func (l *ErrorLog) Open(conf *config.Config) error {
	if conf.LogFilename == "" {
		return nil
	}
	f, err := os.OpenFile(conf.LogFilename, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("--log: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log, l.format = f, conf.LogFormat
	return nil
}

// Write implements io.Writer.
func (l *ErrorLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.stderr.Write(p)
	if l.log == nil {
		return n, err
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.entry(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return n, err
}

// Close writes out a line left unended and closes the log file.
func (l *ErrorLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.log == nil {
		return nil
	}
	if len(l.partial) > 0 {
		l.entry(string(l.partial))
		l.partial = nil
	}
	err := l.log.Close()
	l.log = nil
	return err
}

// entry writes msg to the log file as one error entry. A log that cannot be
// written has nowhere to report it; the message went to stderr regardless.
func (l *ErrorLog) entry(msg string) {
	if msg == "" {
		return
	}
	now := time.Now().UTC()
	var line []byte
	if l.format == config.LogFormatJSON {
		line, _ = json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{"error", msg, now.Format(time.RFC3339Nano)})
	} else {
		line = fmt.Appendf(nil, "time=%q level=error msg=%s", now.Format(time.RFC3339Nano), strconv.Quote(msg))
	}
	l.log.Write(append(line, '\n'))
}
