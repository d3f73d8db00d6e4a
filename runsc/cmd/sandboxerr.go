package cmd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"visor.dev/visor/runsc/config"
)

// logMark is a place in the --log file, for sandboxError to read what the
// sandbox's processes logged after it.
type logMark struct {
	path, format string
	offset       int64
}

// markLog returns where the --log file of conf ends now (nil without a log).
func markLog(conf *config.Config) *logMark {
	if conf.LogFilename == "" {
		return nil
	}
	m := &logMark{path: conf.LogFilename, format: conf.LogFormat}
	if fi, err := os.Stat(m.path); err == nil {
		m.offset = fi.Size()
	}
	return m
}

// sandboxError returns err with the last error the Gofer or the Sentry logged
// since m: why a sandbox failed to start, which the caller of a runsc with
// --log reads only from the log's last error.
func (m *logMark) sandboxError(err error) error {
	if m == nil {
		return err
	}
	f, ferr := os.Open(m.path)
	if ferr != nil {
		return err
	}
	defer f.Close()
	if _, serr := f.Seek(m.offset, io.SeekStart); serr != nil {
		return err
	}
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		msg := m.message(sc.Text())
		if strings.HasPrefix(msg, "runsc boot: ") || strings.HasPrefix(msg, "runsc gofer: ") {
			last = msg
		}
	}
	if last == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, last)
}

// message returns the message of an error entry of the log ("" for others).
func (m *logMark) message(line string) string {
	if m.format == config.LogFormatJSON {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &e) != nil || e.Level != "error" {
			return ""
		}
		return e.Msg
	}
	_, quoted, ok := strings.Cut(line, " level=error msg=")
	if !ok {
		return ""
	}
	msg, err := strconv.Unquote(quoted)
	if err != nil {
		return ""
	}
	return msg
}
