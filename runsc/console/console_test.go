package console

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"visor.dev/visor/runsc/console/recvtty"
)

// ptyNumber returns the number of the pty whose master is f.
func ptyNumber(t *testing.T, f *os.File) uint32 {
	t.Helper()
	n, err := unix.IoctlGetUint32(int(f.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("TIOCGPTN on %s: %v", f.Name(), err)
	}
	return n
}

// newPty is NewPty for tests, with both ends closed when the test ends.
func newPty(t *testing.T) (master, replica *os.File) {
	t.Helper()
	master, replica, err := NewPty()
	if err != nil {
		t.Fatalf("NewPty: %v", err)
	}
	t.Cleanup(func() {
		master.Close()
		replica.Close()
	})
	return master, replica
}

// readWithin reads n bytes from f, failing the test if they do not come within d.
// It polls: the pty fds are blocking, which os.File deadlines do not support.
func readWithin(t *testing.T, f *os.File, n int, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	var got []byte
	buf := make([]byte, n)
	for len(got) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("reading %s: got %q within %v, want %d bytes", f.Name(), got, d, n)
		}
		pfd := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			t.Fatalf("poll: %v", err)
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			continue
		}
		m, err := unix.Read(int(f.Fd()), buf[:n-len(got)])
		if err != nil {
			t.Fatalf("reading %s: %v", f.Name(), err)
		}
		got = append(got, buf[:m]...)
	}
	return string(got)
}

func TestNewPty(t *testing.T) {
	master, replica := newPty(t)

	if !strings.HasPrefix(replica.Name(), "/dev/pts/") {
		t.Errorf("replica name %q, want /dev/pts/N", replica.Name())
	}
	if want := "/dev/pts/" + strconv.Itoa(int(ptyNumber(t, master))); replica.Name() != want {
		t.Errorf("replica name %q, want %q (the master's TIOCGPTN)", replica.Name(), want)
	}
	for _, f := range []*os.File{master, replica} {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
			t.Errorf("%s is not a terminal: TCGETS: %v", f.Name(), err)
		}
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("%s: F_GETFD = %#x, %v: want FD_CLOEXEC", f.Name(), flags, err)
		}
	}
	// O_NOCTTY: opening the replica made it nobody's controlling terminal, so it
	// has no session.
	if sid, err := unix.IoctlGetInt(int(replica.Fd()), unix.TIOCGSID); !errors.Is(err, unix.ENOTTY) {
		t.Errorf("TIOCGSID on the replica = %d, %v: want ENOTTY (no session has it)", sid, err)
	}

	// The pair is connected both ways. The replica is made raw first: a fresh
	// pty echoes input and maps NL to CR NL on output.
	tests := []struct {
		name          string
		from, to      *os.File
		write, expect string
	}{
		{"master to replica", master, replica, "hello\n", "hello\n"},
		{"replica to master", replica, master, "world", "world"},
	}
	if err := unix.IoctlSetTermios(int(replica.Fd()), unix.TCSETS, rawTermios(t, replica)); err != nil {
		t.Fatalf("TCSETS: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.from.Write([]byte(tc.write)); err != nil {
				t.Fatalf("write: %v", err)
			}
			if got := readWithin(t, tc.to, len(tc.expect), 5*time.Second); got != tc.expect {
				t.Errorf("read %q, want %q", got, tc.expect)
			}
		})
	}
}

// rawTermios returns f's modes without echo, signal characters and output
// processing, so that what is written comes out unchanged.
func rawTermios(t *testing.T, f *os.File) *unix.Termios {
	t.Helper()
	tios, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("TCGETS: %v", err)
	}
	tios.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG
	tios.Oflag &^= unix.OPOST
	tios.Cc[unix.VMIN], tios.Cc[unix.VTIME] = 1, 0
	return tios
}

// listen listens on a unix stream socket at path.
func listen(t *testing.T, path string) *net.UnixListener {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("listening on %s: %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestSendMaster(t *testing.T) {
	tests := []struct {
		name string
		// dir returns the directory of the socket.
		dir func(t *testing.T) string
	}{
		{"short path", func(t *testing.T) string { return t.TempDir() }},
		{"path longer than sun_path", func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			master, replica := newPty(t)
			dir := tc.dir(t)
			path := filepath.Join(dir, "console.sock")
			// A long path cannot be bound directly either: bind it from inside.
			var l *net.UnixListener
			if len(path) > maxSunPath {
				wd, err := os.Getwd()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Chdir(dir); err != nil {
					t.Fatal(err)
				}
				l = listen(t, "console.sock")
				if err := os.Chdir(wd); err != nil {
					t.Fatal(err)
				}
			} else {
				l = listen(t, path)
			}

			type result struct {
				f   *os.File
				err error
			}
			got := make(chan result, 1)
			go func() {
				f, err := recvtty.ReceiveMaster(l)
				got <- result{f, err}
			}()
			if err := SendMaster(path, master); err != nil {
				t.Fatalf("SendMaster: %v", err)
			}
			r := <-got
			if r.err != nil {
				t.Fatalf("ReceiveMaster: %v", r.err)
			}
			defer r.f.Close()
			if r.f.Name() != "/dev/ptmx" {
				t.Errorf("payload %q, want the master's name /dev/ptmx (what runc sends)", r.f.Name())
			}
			if a, b := ptyNumber(t, master), ptyNumber(t, r.f); a != b {
				t.Errorf("received pty %d, sent %d", b, a)
			}
			// The received master drives the same terminal.
			if err := unix.IoctlSetTermios(int(replica.Fd()), unix.TCSETS, rawTermios(t, replica)); err != nil {
				t.Fatalf("TCSETS: %v", err)
			}
			if _, err := r.f.Write([]byte("x")); err != nil {
				t.Fatalf("writing to the received master: %v", err)
			}
			if s := readWithin(t, replica, 1, 5*time.Second); s != "x" {
				t.Errorf("replica read %q, want %q", s, "x")
			}
		})
	}
}

func TestSendMasterErrors(t *testing.T) {
	master, _ := newPty(t)
	tests := []struct {
		name   string
		path   string
		master *os.File
	}{
		{"no socket", filepath.Join(t.TempDir(), "absent.sock"), master},
		{"not a socket", os.Args[0], master},
		{"no master", filepath.Join(t.TempDir(), "any.sock"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := SendMaster(tc.path, tc.master); err == nil {
				t.Errorf("SendMaster(%q) succeeded, want an error", tc.path)
			}
		})
	}
}

func TestCopyWinsize(t *testing.T) {
	srcMaster, _ := newPty(t)
	dstMaster, dstReplica := newPty(t)
	tests := []struct {
		name string
		ws   unix.Winsize
	}{
		{"typical", unix.Winsize{Row: 24, Col: 80}},
		{"large with pixels", unix.Winsize{Row: 200, Col: 411, Xpixel: 1920, Ypixel: 1080}},
		{"zero", unix.Winsize{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := tc.ws
			if err := SetWinsize(srcMaster, &ws); err != nil {
				t.Fatal(err)
			}
			if err := CopyWinsize(dstMaster, srcMaster); err != nil {
				t.Fatalf("CopyWinsize: %v", err)
			}
			// The size set on the master is the replica's: what the container sees.
			got, err := Winsize(dstReplica)
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.ws {
				t.Errorf("replica window size %+v, want %+v", *got, tc.ws)
			}
		})
	}
	if f, err := os.Open(os.DevNull); err == nil {
		defer f.Close()
		if err := CopyWinsize(dstMaster, f); err == nil {
			t.Error("CopyWinsize from /dev/null succeeded, want ENOTTY")
		}
	}
}

// forwardChildEnv makes the test binary run forwardChild instead of the tests.
const forwardChildEnv = "VISOR_CONSOLE_FORWARD_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(forwardChildEnv) == "1" {
		forwardChild()
		return
	}
	os.Exit(m.Run())
}

// forwardChild is the child of TestForwardSignals, in a session of its own: it
// forwards the signals of the terminal at fd 3 by printing their numbers, one a
// line, and exits after SIGHUP.
func forwardChild() {
	tty := os.NewFile(3, "tty")
	hup := make(chan struct{})
	stop, err := ForwardSignals(tty, func(sig unix.Signal) {
		os.Stdout.WriteString(strconv.Itoa(int(sig)) + "\n")
		if sig == unix.SIGHUP {
			close(hup)
		}
	})
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("ready\n")
	<-hup
	stop()
}

func TestForwardSignals(t *testing.T) {
	master, replica := newPty(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), forwardChildEnv+"=1")
	cmd.ExtraFiles = []*os.File{replica}
	cmd.Stdout = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s: the child exited", what)
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing from the child within 10s", what)
		}
		return ""
	}
	if l := next("start"); l != "ready" {
		t.Fatalf("child: %s", l)
	}
	tests := []struct {
		name string
		do   func() error
		want unix.Signal
	}{
		{"^C", func() error { _, err := master.Write([]byte{0x03}); return err }, unix.SIGINT},
		{`^\`, func() error { _, err := master.Write([]byte{0x1c}); return err }, unix.SIGQUIT},
		{"^Z", func() error { _, err := master.Write([]byte{0x1a}); return err }, unix.SIGTSTP},
		{"resize", func() error { return SetWinsize(master, &unix.Winsize{Row: 12, Col: 34}) }, unix.SIGWINCH},
		// The master closed: the session leader gets SIGHUP (and SIGCONT).
		{"hangup", func() error { return master.Close() }, unix.SIGHUP},
	}
	for _, tc := range tests {
		if err := tc.do(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := next(tc.name); got != strconv.Itoa(int(tc.want)) {
			t.Errorf("%s: forwarded %s, want %d", tc.name, got, tc.want)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

func TestForwardSignalsNeedsASessionLeader(t *testing.T) {
	// The test process leads no session (go test does not make one), or has a
	// controlling terminal already: either way TIOCSCTTY fails, and no signal
	// handling is left behind.
	if sid, _ := unix.Getsid(0); sid == os.Getpid() {
		t.Skip("the test process leads a session; it could take the terminal")
	}
	_, replica := newPty(t)
	stop, err := ForwardSignals(replica, func(unix.Signal) {})
	if err == nil {
		stop()
		t.Fatal("ForwardSignals succeeded in a process that leads no session")
	}
}
