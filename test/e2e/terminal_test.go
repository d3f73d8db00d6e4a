package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"visor.dev/visor/runsc/console"
	"visor.dev/visor/runsc/console/recvtty"
)

// terminalPrompt is the interactive shell's prompt in the terminal tests.
const terminalPrompt = "VISOR-PROMPT> "

// expectTimeout bounds each wait for the terminal to show something.
const expectTimeout = 20 * time.Second

// ptyDriver types into a pty master and reads what the terminal shows, as a
// user (or the containerd shim, for docker run -it) would.
type ptyDriver struct {
	t      *testing.T
	master *os.File

	mu      sync.Mutex
	out     bytes.Buffer // everything shown since the last expect matched
	changed chan struct{}
	all     bytes.Buffer // everything, for failure messages
	eof     bool
}

func newPtyDriver(t *testing.T, master *os.File) *ptyDriver {
	d := &ptyDriver{t: t, master: master, changed: make(chan struct{}, 1)}
	go d.read()
	return d
}

func (d *ptyDriver) read() {
	buf := make([]byte, 4096)
	for {
		n, err := d.master.Read(buf)
		d.mu.Lock()
		d.out.Write(buf[:n])
		d.all.Write(buf[:n])
		if err != nil {
			d.eof = true
		}
		d.mu.Unlock()
		select {
		case d.changed <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

// send types s.
func (d *ptyDriver) send(s string) {
	d.t.Helper()
	if _, err := d.master.Write([]byte(s)); err != nil {
		d.t.Fatalf("typing %q: %v", s, err)
	}
}

// expect waits until the terminal shows a match of re, and returns the
// submatches; what was shown up to the end of the match is consumed.
func (d *ptyDriver) expect(re string) []string {
	d.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.After(expectTimeout)
	for {
		d.mu.Lock()
		b := d.out.Bytes()
		if loc := rx.FindSubmatchIndex(b); loc != nil {
			var subs []string
			for i := 0; i < len(loc); i += 2 {
				if loc[i] < 0 {
					subs = append(subs, "")
					continue
				}
				subs = append(subs, string(b[loc[i]:loc[i+1]]))
			}
			d.out.Next(loc[1])
			d.mu.Unlock()
			return subs
		}
		eof := d.eof
		d.mu.Unlock()
		if eof {
			d.t.Fatalf("terminal closed before showing %q; it showed:\n%s", re, d.shown())
		}
		select {
		case <-d.changed:
		case <-deadline:
			d.t.Fatalf("terminal did not show %q within %v; it showed:\n%s", re, expectTimeout, d.shown())
		}
	}
}

// shown returns everything the terminal showed.
func (d *ptyDriver) shown() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.all.String()
}

// command types line and a newline, and waits for what the shell prints for
// marker: each test command echoes a marker computed by the shell (such as
// "OK_$((1+1))"), so that the terminal's echo of the typed line does not match.
func (d *ptyDriver) command(line, want string) []string {
	d.t.Helper()
	d.send(line + "\n")
	return d.expect(want)
}

// foregroundSleep starts a foreground job that sleeps, and waits until it runs
// in the foreground: it says so from within the job, after the shell gave it
// the terminal. n tells the jobs apart.
func (d *ptyDriver) foregroundSleep(n int) {
	d.t.Helper()
	d.send(fmt.Sprintf("sh -c 'echo \"STARTED_$((%d))\"; exec sleep 100'\n", n))
	d.expect(fmt.Sprintf("STARTED_%d", n))
}

// startTerminalContainer runs `runsc run` of args in a busybox container with
// process.terminal=true, as a user does in a terminal: its stdio the replica of
// a pty made here, which is its controlling terminal, in a session of its own.
// It returns a driver of the pty's master and the runsc process.
func startTerminalContainer(t *testing.T, modify func(*specs.Spec), args ...string) (*ptyDriver, *exec.Cmd) {
	t.Helper()
	master, replica, err := console.NewPty()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	spec := newSpec(busyboxRootfs(t), args...)
	spec.Process.Terminal = true
	spec.Process.Env = append(spec.Process.Env, "PS1="+terminalPrompt, "HOME=/root")
	if modify != nil {
		modify(spec)
	}
	bundle := writeBundle(t, spec, "")
	root := filepath.Join(t.TempDir(), "state")
	id := "e2e-" + strings.ReplaceAll(t.Name(), "/", "-")
	cmd := exec.Command(runscPath(), append(globalFlags(root), "run", "--bundle", bundle, id)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = replica, replica, replica
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	replica.Close()
	t.Cleanup(func() {
		cmd.Process.Kill() // only this runsc; the sandbox dies with it
		cmd.Wait()
	})
	return newPtyDriver(t, master), cmd
}

// waitExit waits for runsc to exit and returns its exit status.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatalf("runsc run: %v", err)
		}
		return 0
	case <-time.After(runTimeout):
		cmd.Process.Kill()
		t.Fatalf("runsc run did not exit within %v", runTimeout)
		return -1
	}
}

// TestTerminalShell drives an interactive busybox shell in a container with a
// terminal, run by `runsc run` on the user's terminal (which relays it to a pty
// of the container's own, as runc does): the shell has its terminal as
// controlling terminal with job control, window size changes reach it, and ^C
// and ^Z act on the foreground job only. (TestTerminalConsoleSocket is the
// shim's way, where the Sentry has the pty itself.)
func TestTerminalShell(t *testing.T) {
	d, cmd := startTerminalContainer(t, func(s *specs.Spec) {
		s.Process.ConsoleSize = &specs.Box{Height: 30, Width: 100}
	}, "/bin/sh")
	d.expect(terminalPrompt)

	// It is a terminal, the session's controlling terminal, and the shell has
	// job control (it says "can't access tty" if it cannot get the terminal's
	// foreground process group).
	d.command(`test -t 0 && test -t 1 && echo "TTY_$((1+1))"`, "TTY_2")
	if strings.Contains(d.shown(), "job control turned off") {
		t.Errorf("the shell has no job control; the terminal showed:\n%s", d.shown())
	}
	// Its name, as ttyname(3) finds it: the node in /dev/pts is the device.
	d.command(`echo "TTYNAME_$((1)) $(tty)"`, `TTYNAME_1 /dev/pts/[0-9]+\r?\n`)
	// /dev/tty is the controlling terminal, even with stdio elsewhere.
	d.command(`echo "DEVTTY_$((1+2))" >/dev/tty </dev/null 2>&1 | cat >/dev/null`, "DEVTTY_3")
	d.command(`sh -c 'exec </dev/null >/dev/null 2>&1; read line </dev/tty; echo "READ_$line" >/dev/tty'`, "")
	d.send("typed\n")
	d.expect("READ_typed")

	// process.consoleSize, then window size changes on the master, as the
	// shim makes them.
	d.command(`echo "SIZE_$((1)) $(stty size)"`, `SIZE_1 30 100\r?\n`)
	if err := console.SetWinsize(d.master, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	d.command(`echo "SIZE_$((2)) $(stty size)"`, `SIZE_2 40 120\r?\n`)

	// SIGWINCH reaches the foreground process group: a shell script's trap
	// fires. ^C then ends it (its group is in the foreground, not the
	// interactive shell's), with status 130.
	d.command(`sh -c 'trap "echo WINCH_\$((3*3))" WINCH; echo "ARMED_$((2+3))"; while :; do sleep 0.1; done'`, "ARMED_5")
	if err := console.SetWinsize(d.master, &unix.Winsize{Row: 41, Col: 121}); err != nil {
		t.Fatal(err)
	}
	d.expect("WINCH_9")
	d.send("\x03")
	d.expect(terminalPrompt)
	d.command(`echo "STATUS_$((0)) $?"`, `STATUS_0 130\r?\n`)

	// ^C kills a foreground sleep but not the shell.
	d.foregroundSleep(1)
	d.send("\x03")
	d.expect(terminalPrompt)
	d.command(`echo "STATUS_$((1)) $?"`, `STATUS_1 130\r?\n`)

	// ^\ (SIGQUIT) likewise: the status says SIGQUIT (128+3). Not to a shell
	// (ash ignores SIGQUIT until it execs a command): to cat, which is
	// running once it copies a line back (after the terminal's echo of it).
	// The line is typed once the job runs, for the interactive shell's line
	// editor reads ahead.
	d.send("sh -c 'echo \"STARTED_$((9))\"; exec cat'\n")
	d.expect("STARTED_9")
	d.send("READY_Q\n")
	d.expect(`READY_Q\r?\nREADY_Q`)
	d.send("\x1c")
	d.expect(terminalPrompt)
	d.command(`echo "STATUS_$((2)) $?"`, `STATUS_2 131\r?\n`)

	// Job control: a background job, brought to the foreground with fg, then
	// ^C; ^Z stops a foreground job, fg continues it.
	d.command(`sleep 100 & echo "BG_$((4+4))"`, "BG_8")
	d.command(`jobs; echo "JOBS_$((1))"`, `(?s)Running.*sleep 100.*JOBS_1`)
	d.send("fg\n")
	d.expect("sleep 100")
	time.Sleep(300 * time.Millisecond) // fg names the job, then continues it in the foreground
	d.send("\x03")
	d.expect(terminalPrompt)
	d.command(`jobs; echo "JOBS_$((2))"`, `JOBS_2`)
	if got := d.shown(); strings.Count(got, "Running") > 1 {
		t.Errorf("the background job still runs after fg and ^C:\n%s", got)
	}

	d.foregroundSleep(3)
	d.send("\x1a") // ^Z
	d.expect(`Stopped.*sleep 100`)
	d.expect(terminalPrompt)
	d.command(`echo "STATUS_$((3)) $?"`, `STATUS_3 14[68]\r?\n`) // 128+SIGTSTP (20); ash says 148
	d.send("fg\n")
	d.expect("sleep 100")
	time.Sleep(300 * time.Millisecond) // fg names the job, then continues it in the foreground
	d.send("\x03")
	d.expect(terminalPrompt)

	// A background job that reads the terminal is stopped by SIGTTIN.
	d.command(`cat & sleep 0.5; jobs; echo "TTIN_$((6+1))"`, `(?s)Stopped.*cat.*TTIN_7`)
	d.command(`kill -9 %1; wait; echo "KILLED_$((1))"`, "KILLED_1")

	// A background job writing with TOSTOP set is stopped by SIGTTOU; without
	// TOSTOP it just writes.
	d.command(`(echo "BGOUT_$((5*5))") & wait; echo "WAITED_$((1))"`, `(?s)BGOUT_25.*WAITED_1`)
	d.command(`stty tostop; (echo "HIDDEN_$((6*6))") & sleep 0.5; jobs; echo "TTOU_$((1))"`, `(?s)Stopped.*TTOU_1`)
	if strings.Contains(d.shown(), "HIDDEN_36") {
		t.Errorf("a background job wrote to the terminal with tostop set")
	}
	d.command(`stty -tostop; fg >/dev/null; echo "FG_$((7))"`, `(?s)HIDDEN_36.*FG_7`)

	d.send("exit 3\n")
	if got := waitExit(t, cmd); got != 3 {
		t.Errorf("runsc run exited %d, want 3 (the shell's exit status)", got)
	}
}

// receiveMaster listens on a console socket at path and returns a channel that
// gets the pty master sent to it (nil on error, reported to t).
func receiveMaster(t *testing.T, path string) <-chan *os.File {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *os.File, 1)
	go func() {
		defer l.Close()
		f, err := recvtty.ReceiveMaster(l)
		if err != nil {
			t.Errorf("console socket %s: %v", path, err)
		}
		ch <- f
	}()
	return ch
}

// masterFrom waits for the master a console socket received.
func masterFrom(t *testing.T, ch <-chan *os.File) *os.File {
	t.Helper()
	select {
	case f := <-ch:
		if f == nil {
			t.Fatal("no pty master received")
		}
		t.Cleanup(func() { f.Close() })
		return f
	case <-time.After(runTimeout):
		t.Fatalf("no pty master on the console socket within %v", runTimeout)
		return nil
	}
}

// TestTerminalConsoleSocket is containerd's shim's way (docker run -it, docker
// exec -it): runsc create --console-socket sends the pty master, runsc start
// runs the shell on it; runsc exec --console-socket with a terminal process
// gets a pty of its own, with job control and ^C too.
func TestTerminalConsoleSocket(t *testing.T) {
	r := newOCIRoot(t)
	const id = "e2e-console"
	spec := newSpec(busyboxRootfs(t), "/bin/sh")
	spec.Process.Terminal = true
	spec.Process.Env = append(spec.Process.Env, "PS1="+terminalPrompt)
	bundle := writeBundle(t, spec, "")
	sock := filepath.Join(r.dir, "console.sock")
	got := receiveMaster(t, sock)
	if res := r.runsc("create", "--bundle", bundle, "--console-socket", sock, id); res.status != 0 {
		t.Fatalf("runsc create: status %d, stderr %q", res.status, res.stderr)
	}
	d := newPtyDriver(t, masterFrom(t, got))
	r.must("start", id)
	d.expect(terminalPrompt)
	d.command(`test -t 0 && echo "TTY_$((1+1))"`, "TTY_2")
	if err := console.SetWinsize(d.master, &unix.Winsize{Row: 25, Col: 90}); err != nil {
		t.Fatal(err)
	}
	d.command(`echo "SIZE_$((1)) $(stty size)"`, `SIZE_1 25 90\r?\n`)
	d.foregroundSleep(4)
	d.send("\x03")
	d.expect(terminalPrompt)
	d.command(`echo "STATUS_$((1)) $?"`, `STATUS_1 130\r?\n`)
	// Here the Sentry has the pty as its controlling terminal: the host sends
	// it SIGWINCH and SIGTSTP, for the sandbox's foreground group.
	d.command(`sh -c 'trap "echo WINCH_\$((3*3))" WINCH; echo "ARMED_$((2+3))"; while :; do sleep 0.1; done'`, "ARMED_5")
	if err := console.SetWinsize(d.master, &unix.Winsize{Row: 26, Col: 91}); err != nil {
		t.Fatal(err)
	}
	d.expect("WINCH_9")
	d.send("\x1a")
	d.expect(`Stopped`)
	d.expect(terminalPrompt)
	d.command(`kill -9 %1; wait; echo "KILLED_$((1))"`, "KILLED_1")

	// An exec'd shell with a terminal of its own, as the shim asks for it.
	p := specs.Process{
		Terminal:    true,
		ConsoleSize: &specs.Box{Height: 21, Width: 71},
		Args:        []string{"/bin/sh"},
		Env:         []string{"PATH=/bin:/usr/bin:/sbin:/usr/sbin", "PS1=EXEC-PROMPT> "},
		Cwd:         "/",
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	pfile := filepath.Join(r.dir, "process.json")
	if err := os.WriteFile(pfile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sock2 := filepath.Join(r.dir, "exec-console.sock")
	got2 := receiveMaster(t, sock2)
	execCmd := exec.Command(runscPath(), append(globalFlags(r.root), "exec", "--console-socket", sock2, "--process", pfile, id)...)
	// A session of its own, as the detached exec's child has: the pty becomes
	// its controlling terminal, and it passes ^C on.
	execCmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var execErr bytes.Buffer
	execCmd.Stderr = &execErr
	if err := execCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		execCmd.Process.Kill()
		execCmd.Wait()
	})
	d2 := newPtyDriver(t, masterFrom(t, got2))
	d2.expect("EXEC-PROMPT> ")
	d2.command(`test -t 0 && echo "EXECTTY_$((2+2))"`, "EXECTTY_4")
	d2.command(`echo "TTYNAME_$((2)) $(tty)"`, `TTYNAME_2 /dev/pts/[0-9]+\r?\n`)
	d2.command(`echo "SIZE_$((4)) $(stty size)"`, `SIZE_4 21 71\r?\n`)
	if strings.Contains(d2.shown(), "job control turned off") {
		t.Errorf("the exec'd shell has no job control; the terminal showed:\n%s", d2.shown())
	}
	if err := console.SetWinsize(d2.master, &unix.Winsize{Row: 20, Col: 70}); err != nil {
		t.Fatal(err)
	}
	d2.command(`echo "SIZE_$((3)) $(stty size)"`, `SIZE_3 20 70\r?\n`)
	d2.foregroundSleep(5)
	d2.send("\x03")
	d2.expect("EXEC-PROMPT> ")
	d2.command(`echo "STATUS_$((2)) $?"`, `STATUS_2 130\r?\n`)
	d2.send("exit 5\n")
	if got := waitExit(t, execCmd); got != 5 {
		t.Errorf("runsc exec exited %d, want 5 (the exec'd shell's status); stderr %q", got, execErr.String())
	}

	// The container's own shell is untouched by all that.
	d.command(`echo "ALIVE_$((3+4))"`, "ALIVE_7")
	d.send("exit 0\n")
	r.waitStatus(id, specs.StateStopped, runTimeout)
	r.must("delete", id)
}

// TestSignalsDuringFork signals a process group again and again while its shell
// forks, as a terminal does with ^C and window size changes: a signal can reach
// a child before it first runs. The sandbox must keep running and exit.
func TestSignalsDuringFork(t *testing.T) {
	res := runBusybox(t, "", nil, "sh", "-c", `setsid sh -c 'trap "echo W" USR1; (trap "" USR1; while :; do kill -USR1 0; sleep 0.01; done) & while :; do sleep 0.01; echo L; done' 2>/dev/null & sleep 5; kill -9 -1; echo done`)
	if res.status != 0 || !strings.HasSuffix(res.stdout, "done\n") {
		t.Errorf("status %d, stdout ending %q, stderr %q; want 0 and done", res.status, res.stdout[max(0, len(res.stdout)-40):], res.stderr)
	}
	if n := strings.Count(res.stdout, "L\n"); n < 20 {
		t.Errorf("the forking loop went round %d times in 5 s; want it to keep going", n)
	}
}
