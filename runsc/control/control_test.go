package control

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// testHandler answers each method in a fixed way and checks what it got.
type testHandler struct{}

func (testHandler) Handle(req *Request, fds []*os.File) *Response {
	defer func() {
		for _, f := range fds {
			f.Close()
		}
	}()
	switch req.Method {
	case MethodExec:
		// Write the process's first argument to its "stdout" so the
		// caller sees the fd arrived, and echo the fd count as the pid.
		if req.Exec == nil || len(req.Exec.Process.Args) == 0 {
			return &Response{Error: "no process"}
		}
		if len(fds) >= 2 {
			if _, err := io.WriteString(fds[1], req.Exec.Process.Args[0]); err != nil {
				return &Response{Error: err.Error()}
			}
		}
		return &Response{PID: int32(len(fds))}
	case MethodWait:
		return &Response{WaitStatus: uint32(req.Wait.PID) << 8}
	case MethodPs:
		return &Response{Processes: []Process{{PID: 1, PPID: 0, UID: 0, State: "S", Threads: 2, StartTime: time.Unix(100, 0).UTC(), CPUTime: time.Second, Cmd: "sh"}}}
	case MethodStats:
		return &Response{Stats: &Stats{MemoryUsage: 4096, CPUTime: time.Millisecond, Pids: 3}}
	case MethodPs + "-big":
		procs := make([]Process, 5000)
		for i := range procs {
			procs[i] = Process{PID: int32(i + 1), Cmd: strings.Repeat("x", 15)}
		}
		return &Response{Processes: procs}
	default:
		return &Response{Error: "unknown method " + req.Method}
	}
}

// serve starts a server in dir and returns a function that stops it.
func serve(t *testing.T, dir string) func() {
	t.Helper()
	l, err := Listen(dir)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(l, testHandler{}) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			l.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Serve did not return after its socket was closed")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestCall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		req     Request
		fds     int
		want    *Response
		wantErr string
		wantOut string
	}{
		{
			name:    "exec with fds",
			req:     Request{Method: MethodExec, Exec: &ExecArgs{Process: specs.Process{Args: []string{"hello"}}}},
			fds:     3,
			want:    &Response{PID: 3},
			wantOut: "hello",
		},
		{
			name: "wait",
			req:  Request{Method: MethodWait, Wait: &WaitArgs{PID: 3}},
			want: &Response{WaitStatus: 3 << 8},
		},
		{
			name: "ps",
			req:  Request{Method: MethodPs},
			want: &Response{Processes: []Process{{PID: 1, PPID: 0, UID: 0, State: "S", Threads: 2, StartTime: time.Unix(100, 0).UTC(), CPUTime: time.Second, Cmd: "sh"}}},
		},
		{
			name: "stats",
			req:  Request{Method: MethodStats},
			want: &Response{Stats: &Stats{MemoryUsage: 4096, CPUTime: time.Millisecond, Pids: 3}},
		},
		{
			name:    "remote error",
			req:     Request{Method: "bogus"},
			wantErr: "unknown method bogus",
		},
		{
			name:    "exec without process",
			req:     Request{Method: MethodExec, Exec: &ExecArgs{}},
			fds:     3,
			wantErr: "no process",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			serve(t, dir)
			var fds []*os.File
			var r *os.File
			for i := 0; i < tc.fds; i++ {
				pr, pw, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer pr.Close()
				defer pw.Close()
				fds = append(fds, pw)
				if i == 1 {
					r = pr
				}
			}
			resp, err := Call(dir, &tc.req, fds)
			if tc.wantErr != "" {
				var re *RemoteError
				if !errors.As(err, &re) || re.Msg != tc.wantErr {
					t.Fatalf("Call: got (%v, %v), want RemoteError %q", resp, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if diff := cmp.Diff(tc.want, resp); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if tc.wantOut != "" {
				// Our copies of the write ends are the last ones once
				// the handler closed its own.
				for _, f := range fds {
					f.Close()
				}
				out, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if string(out) != tc.wantOut {
					t.Errorf("handler wrote %q through the passed fd, want %q", out, tc.wantOut)
				}
			}
		})
	}
}

// TestLongStateDir binds and connects in a directory whose socket path does
// not fit in sun_path.
func TestLongStateDir(t *testing.T) {
	dir := t.TempDir()
	for len(dir) <= 200 {
		dir = filepath.Join(dir, strings.Repeat("d", 40))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	serve(t, dir)
	resp, err := Call(dir, &Request{Method: MethodWait, Wait: &WaitArgs{PID: 7}}, nil)
	if err != nil {
		t.Fatalf("Call in a %d-byte directory: %v", len(dir), err)
	}
	if resp.WaitStatus != 7<<8 {
		t.Errorf("WaitStatus = %d, want %d", resp.WaitStatus, 7<<8)
	}
	fi, err := os.Stat(filepath.Join(dir, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
}

// TestBigResponse sends a response larger than the default socket buffer.
func TestBigResponse(t *testing.T) {
	dir := t.TempDir()
	serve(t, dir)
	resp, err := Call(dir, &Request{Method: MethodPs + "-big"}, nil)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if len(resp.Processes) != 5000 || resp.Processes[4999].PID != 5000 {
		t.Errorf("got %d processes, want 5000", len(resp.Processes))
	}
}

func TestServerClosed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  error
	}{
		{
			name: "stopped server",
			setup: func(t *testing.T, dir string) {
				stop := serve(t, dir)
				stop()
			},
			want: unix.ECONNREFUSED,
		},
		{
			name:  "no socket",
			setup: func(t *testing.T, dir string) {},
			want:  unix.ENOENT,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			_, err := Call(dir, &Request{Method: MethodPs}, nil)
			if !errors.Is(err, tc.want) {
				t.Errorf("Call: got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestPeerGone: a server that closes the connection without an answer (a
// Sentry dying during "wait") is an error for the client.
func TestPeerGone(t *testing.T) {
	dir := t.TempDir()
	l, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		rc, _ := l.SyscallConn()
		var conn int
		rc.Read(func(fd uintptr) bool {
			var err error
			conn, _, err = unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
			return !errors.Is(err, unix.EAGAIN)
		})
		// Read the request, then hang up.
		buf := make([]byte, 4096)
		unix.Read(conn, buf)
		unix.Close(conn)
	}()
	_, err = Call(dir, &Request{Method: MethodWait, Wait: &WaitArgs{}}, nil)
	if err == nil || !strings.Contains(err.Error(), "closed the connection") {
		t.Errorf("Call: got %v, want a closed-connection error", err)
	}
}
