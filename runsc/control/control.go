// Package control is the protocol between runsc commands on the host and a
// running Sentry: create starts, exec adds processes to, kill signals, ps lists,
// pause/resume stops and restarts, and wait waits on the processes of a sandbox.
//
// The Sentry serves a SOCK_SEQPACKET unix socket, <stateDir>/control.sock. Each
// connection carries exactly one request and one response, each a single JSON
// packet; file descriptors travel with the request as SCM_RIGHTS. Sequenced
// packets keep message boundaries, so there is no framing, and the Sentry sees
// a client hang up as a zero-length read.
//
// State directories under docker's or containerd's --root are often longer
// than the 108 bytes of sun_path, so both ends address the socket through a
// short "/proc/self/fd/<dirfd>/control.sock" path, dirfd being an O_PATH
// descriptor of the state directory.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SocketName is the control socket's name in the container's state directory.
const SocketName = "control.sock"

// The requests a Sentry serves.
const (
	// MethodStart creates and starts the container's init process.
	MethodStart = "start"
	// MethodSignal sends a signal to init, a pid or every process.
	MethodSignal = "signal"
	// MethodExec starts a new process in the running sandbox.
	MethodExec = "exec"
	// MethodWait waits until a process exits and returns its wait status.
	MethodWait = "wait"
	// MethodPs lists the sandbox's processes.
	MethodPs = "ps"
	// MethodPause stops every task of the sandbox.
	MethodPause = "pause"
	// MethodResume restarts the tasks MethodPause stopped.
	MethodResume = "resume"
	// MethodStats reports resource usage.
	MethodStats = "stats"
)

// maxFDs is the most file descriptors a request may carry: exec's stdin,
// stdout and stderr, with room to spare.
const maxFDs = 16

// maxMessage bounds a request or response packet, so a hostile or broken peer
// cannot make the other end allocate without limit.
const maxMessage = 16 << 20

// Request is one call to the Sentry.
type Request struct {
	// Method is one of the Method* constants.
	Method string      `json:"method"`
	Signal *SignalArgs `json:"signal,omitempty"`
	Exec   *ExecArgs   `json:"exec,omitempty"`
	Wait   *WaitArgs   `json:"wait,omitempty"`
}

// SignalArgs are MethodSignal's arguments.
type SignalArgs struct {
	Signo int `json:"signo"`
	// All sends the signal to every process of the sandbox.
	All bool `json:"all"`
	// PID is the target process's PID in the sandbox; 0 means init.
	PID int32 `json:"pid"`
	// Foreground sends the signal to the foreground process group of the
	// controlling terminal of PID's session instead (to PID if it has none):
	// runsc exec --tty passes on what its terminal generates (^C, SIGWINCH)
	// as the terminal would have sent it.
	Foreground bool `json:"foreground,omitempty"`
}

// ExecArgs are MethodExec's arguments. The request carries the process's
// stdin, stdout and stderr as three fds or, with Process.Terminal, one fd: a
// terminal used for all three and made the new session's controlling
// terminal.
type ExecArgs struct {
	Process specs.Process `json:"process"`
}

// WaitArgs are MethodWait's arguments.
type WaitArgs struct {
	// PID is the process's PID in the sandbox; 0 means init.
	PID int32 `json:"pid"`
}

// Response is the Sentry's answer to a Request.
type Response struct {
	// Error, when not empty, says why the request failed.
	Error string `json:"error,omitempty"`
	// PID is the new process's PID in the sandbox (exec).
	PID int32 `json:"pid,omitempty"`
	// WaitStatus is the process's Linux wait status (wait).
	WaitStatus uint32 `json:"waitStatus,omitempty"`
	// Processes lists every thread group (ps).
	Processes []Process `json:"processes,omitempty"`
	// Stats is the sandbox's resource usage (stats).
	Stats *Stats `json:"stats,omitempty"`
}

// Process describes one thread group of the sandbox.
type Process struct {
	PID  int32  `json:"pid"`
	PPID int32  `json:"ppid"`
	UID  uint32 `json:"uid"`
	// State is the one-letter state of /proc/PID/stat: R, S, D, T, t, Z.
	State     string        `json:"state"`
	Threads   int           `json:"threads"`
	StartTime time.Time     `json:"startTime"`
	CPUTime   time.Duration `json:"cpuTime"`
	Cmd       string        `json:"cmd"`
}

// Stats is a sandbox's resource usage.
type Stats struct {
	// MemoryUsage is the bytes of application memory in use.
	MemoryUsage uint64 `json:"memoryUsage"`
	// CPUTime is the user and system time of all tasks, living and dead.
	CPUTime time.Duration `json:"cpuTime"`
	// Pids is the number of tasks.
	Pids int `json:"pids"`
}

// RemoteError is a failure the Sentry reported in its Response.
type RemoteError struct {
	Msg string
}

func (e *RemoteError) Error() string {
	return e.Msg
}

// Handler serves requests.
type Handler interface {
	// Handle serves req. fds are the descriptors the request carried; Handle
	// owns them and must close those it does not keep.
	Handle(req *Request, fds []*os.File) *Response
}

// socketPath returns the short path of stateDir's control socket through
// dir, an O_PATH descriptor of stateDir.
func socketPath(dir int) string {
	return "/proc/self/fd/" + strconv.Itoa(dir) + "/" + SocketName
}

// openDir opens stateDir as an O_PATH descriptor.
func openDir(stateDir string) (int, error) {
	fd, err := unix.Open(stateDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open state directory %s: %w", stateDir, err)
	}
	return fd, nil
}

// Listen creates and binds the listening socket <stateDir>/control.sock
// (SOCK_SEQPACKET, mode 0600) and returns it as a file to hand to the Sentry.
// A socket left over at that path is replaced. The file is non-blocking, as
// Serve needs it.
func Listen(stateDir string) (*os.File, error) {
	dir, err := openDir(stateDir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	path := socketPath(dir)
	if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("remove stale %s: %w", filepath.Join(stateDir, SocketName), err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", filepath.Join(stateDir, SocketName), err)
	}
	// Bind creates the socket file with the umask applied; only the owner
	// may talk to the Sentry whatever the umask.
	if err := unix.Fchmodat(dir, SocketName, 0o600, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("chmod %s: %w", filepath.Join(stateDir, SocketName), err)
	}
	if err := unix.Listen(fd, 64); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen %s: %w", filepath.Join(stateDir, SocketName), err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(stateDir, SocketName)), nil
}

// Call connects to <stateDir>/control.sock, sends req with fds (SCM_RIGHTS)
// and returns the response. One request per connection. A Response with
// Error != "" is returned as an error (*RemoteError). "wait" blocks until the
// process exits.
func Call(stateDir string, req *Request, fds []*os.File) (*Response, error) {
	if len(fds) > maxFDs {
		return nil, fmt.Errorf("control %s: %d fds, at most %d", req.Method, len(fds), maxFDs)
	}
	msg, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("control %s: encode request: %w", req.Method, err)
	}
	dir, err := openDir(stateDir)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: socketPath(dir)}); err != nil {
		return nil, fmt.Errorf("connect to the sandbox's control socket %s: %w", filepath.Join(stateDir, SocketName), err)
	}
	raw := make([]int, len(fds))
	for i, f := range fds {
		raw[i] = int(f.Fd())
	}
	if err := send(fd, msg, raw); err != nil {
		return nil, fmt.Errorf("control %s: send: %w", req.Method, err)
	}
	// Fd() hands out the descriptors without a reference: the files must
	// stay open until the kernel has copied them into the message.
	runtime.KeepAlive(fds)
	reply, got, err := recv(fd, 0)
	if err != nil {
		return nil, fmt.Errorf("control %s: receive: %w", req.Method, err)
	}
	closeAll(got)
	if reply == nil {
		return nil, fmt.Errorf("control %s: the sandbox closed the connection without answering", req.Method)
	}
	var resp Response
	if err := json.Unmarshal(reply, &resp); err != nil {
		return nil, fmt.Errorf("control %s: decode response: %w", req.Method, err)
	}
	if resp.Error != "" {
		return nil, &RemoteError{Msg: resp.Error}
	}
	return &resp, nil
}

// Serve accepts connections on l until it is closed, each handled on its own
// goroutine by h. Received fds are *os.File; h owns them. l must be a
// non-blocking listening socket when it was made a file (as Listen returns
// it, or os.NewFile of a descriptor set non-blocking first), so that closing
// it stops Serve.
func Serve(l *os.File, h Handler) error {
	rc, err := l.SyscallConn()
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	for {
		var conn int
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			conn, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC)
			return !errors.Is(aerr, unix.EAGAIN)
		})
		if err != nil {
			// RawConn does not translate the poller's error for a
			// closed file into os.ErrClosed; Stat does.
			if _, serr := l.Stat(); errors.Is(err, os.ErrClosed) || errors.Is(serr, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("control socket: accept: %w", err)
		}
		switch {
		case aerr == nil:
			go serveConn(conn, h)
		case errors.Is(aerr, unix.EINTR), errors.Is(aerr, unix.ECONNABORTED):
		default:
			return fmt.Errorf("control socket: accept: %w", aerr)
		}
	}
}

// serveConn reads one request from conn, has h handle it, answers and closes
// conn.
func serveConn(conn int, h Handler) {
	defer unix.Close(conn)
	msg, fds, err := recv(conn, unix.MSG_CMSG_CLOEXEC)
	if err != nil || msg == nil {
		closeAll(fds)
		return
	}
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "control-fd-"+strconv.Itoa(i))
	}
	var resp *Response
	var req Request
	if err := json.Unmarshal(msg, &req); err != nil {
		for _, f := range files {
			f.Close()
		}
		resp = &Response{Error: fmt.Sprintf("malformed request: %v", err)}
	} else {
		resp = h.Handle(&req, files)
		if resp == nil {
			resp = &Response{}
		}
	}
	out, err := json.Marshal(resp)
	if err != nil {
		out, _ = json.Marshal(&Response{Error: fmt.Sprintf("encode response: %v", err)})
	}
	// The client may have gone; nobody is left to tell.
	_ = send(conn, out, nil)
}

// send writes msg as one packet with fds attached, growing the socket's send
// buffer when the packet does not fit in it.
func send(fd int, msg []byte, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		err := unix.Sendmsg(fd, msg, oob, nil, 0)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EMSGSIZE):
			size, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
			// The kernel doubles what is set; ask for the packet and
			// its overhead twice over.
			want := 2*len(msg) + 4096
			if gerr != nil || size >= want {
				return err
			}
			if serr := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, want); serr != nil {
				return err
			}
			if got, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF); gerr != nil || got <= size {
				return err
			}
		default:
			return err
		}
	}
}

// recv reads one packet and the fds attached to it. A nil message means the
// peer closed the connection.
func recv(fd int, flags int) ([]byte, []int, error) {
	// Peek at the packet's length without its control data: peeking with
	// room for SCM_RIGHTS would install the fds twice.
	var n int
	var err error
	for {
		n, _, _, _, err = unix.Recvmsg(fd, nil, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if n > maxMessage {
		return nil, nil, fmt.Errorf("packet of %d bytes, at most %d", n, maxMessage)
	}
	buf := make([]byte, n)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	var oobn, rflags int
	for {
		n, oobn, rflags, _, err = unix.Recvmsg(fd, buf, oob, flags)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	fds, perr := parseRights(oob[:oobn])
	if perr != nil {
		closeAll(fds)
		return nil, nil, perr
	}
	if rflags&unix.MSG_CTRUNC != 0 {
		closeAll(fds)
		return nil, nil, fmt.Errorf("more than %d fds attached", maxFDs)
	}
	if n == 0 {
		// A zero-length packet is end of file: no request is empty JSON.
		closeAll(fds)
		return nil, nil, nil
	}
	return buf[:n], fds, nil
}

// parseRights returns the fds of the SCM_RIGHTS messages in oob.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			closeAll(fds)
			return nil, fmt.Errorf("parse SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
