package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The Debian rootfs (images/debian/build.sh): built once per machine into a cache
// outside the repository and reused, read-only, by every test; what a container
// writes goes to the tmpfs upper layer of its root overlay, what the native
// reference writes to a tmpfs mounted over /tmp in a mount namespace of its own.
var (
	debianOnce sync.Once
	debianDir  string
	debianErr  error
	debianSkip string
)

// imageCacheDir is where images/ recipes cache their root filesystems:
// $VISOR_IMAGE_CACHE, else $XDG_CACHE_HOME/visor/images, else ~/.cache/visor/images
// with ~ from the password database (under Bazel, $HOME is the test's scratch
// directory, and the cache would be rebuilt every run).
func imageCacheDir() (string, error) {
	if d := os.Getenv("VISOR_IMAGE_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "visor", "images"), nil
	}
	u, err := user.Current()
	if err != nil {
		return "", err
	}
	return filepath.Join(u.HomeDir, ".cache", "visor", "images"), nil
}

// debianRootfs returns the Debian bookworm rootfs, building it on first use (about a
// minute; then cached). The test is skipped when it cannot be built here: not root
// (debootstrap and the chroot reference need it) or no debootstrap.
func debianRootfs(t *testing.T) string {
	t.Helper()
	debianOnce.Do(func() {
		if os.Getuid() != 0 {
			debianSkip = "the Debian rootfs and the native reference need root (debootstrap, chroot, unshare)"
			return
		}
		for _, tool := range []string{"debootstrap", "unshare"} {
			if _, err := exec.LookPath(tool); err != nil {
				debianSkip = tool + " not found: run tools/setup.sh"
				return
			}
		}
		script, err := filepath.Abs("../../images/debian/build.sh")
		if err != nil {
			debianErr = err
			return
		}
		cache, err := imageCacheDir()
		if err != nil {
			debianErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, filepath.Join(cache, "debian-bookworm"))
		cmd.Env = append(os.Environ(), "CI=true")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			debianErr = fmt.Errorf("%s: %v\n%s", script, err, stderr.Bytes())
			return
		}
		debianDir = strings.TrimSpace(stdout.String())
	})
	if debianSkip != "" {
		t.Skip(debianSkip)
	}
	if debianErr != nil {
		t.Fatal(debianErr)
	}
	return debianDir
}

// containerEnv is the environment of every container (newSpec's) and of the
// native reference.
var containerEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}

// nativeScript runs "$@" as the container would run it, but on the host kernel, in
// fresh mount, UTS, IPC, network and PID namespaces: the root an overlay of the
// rootfs ($1) under a tmpfs upper layer (in scratch directory $2), as runsc's is, so
// the cached rootfs is never written; hostname e2e; loopback up; a tmpfs over /tmp,
// the host's /dev over /dev, proc at /proc; chrooted there, cwd /, the container's
// environment, the command PID 1 and, as runc makes it, a session leader (setsid).
// Every mount is in the private mount namespace and goes with it.
const nativeScript = `lower=$1 s=$2; shift 2
hostname e2e
ip link set lo up 2>/dev/null || true
mount -t tmpfs tmpfs "$s"
mkdir "$s/upper" "$s/work" "$s/root"
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$s/upper,workdir=$s/work" "$s/root"
r=$s/root
mount -t tmpfs -o nosuid,nodev tmpfs "$r/tmp"
mount --rbind /dev "$r/dev"
exec unshare --pid --fork --mount-proc=/proc --root="$r" --wd=/ /usr/bin/setsid /usr/bin/env -i "$@"`

// native runs args natively in rootfs (see nativeScript): the reference a
// container's behaviour is compared with.
func native(t *testing.T, rootfs, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	// The scratch directory's path goes into overlayfs's comma-separated options:
	// not t.TempDir(), which has the test's name in it.
	scratch, err := os.MkdirTemp("", "visor-e2e-native-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(scratch) // empty again: everything was in the namespace's tmpfs
	argv := append([]string{"--mount", "--uts", "--ipc", "--net", "sh", "-ec", nativeScript, "sh", rootfs, scratch}, containerEnv...)
	cmd := exec.CommandContext(ctx, "unshare", append(argv, args...)...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err = cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		res.status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("native %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("native %q did not finish within %v; stderr: %s", args, runTimeout, res.stderr)
	}
	return res
}

// runDebian runs args in a container over the Debian rootfs, after modify (if not
// nil) changes its spec; runDebianFlags adds runsc run flags. With
// VISOR_E2E_DEBUG_DIR set, each container writes a debug log with strace there.
func runDebian(t *testing.T, stdin string, modify func(*specs.Spec), args ...string) result {
	t.Helper()
	return runDebianFlags(t, stdin, modify, nil, args...)
}

func runDebianFlags(t *testing.T, stdin string, modify func(*specs.Spec), flags []string, args ...string) result {
	t.Helper()
	spec := newSpec(debianRootfs(t), args...)
	if modify != nil {
		modify(spec)
	}
	bundle := writeBundle(t, spec, "")
	id := containerID(t)
	runArgs := append(append([]string{"run", "--bundle", bundle}, flags...), id)
	if dir := os.Getenv("VISOR_E2E_DEBUG_DIR"); dir != "" {
		// Debugging a failure or a hang: each container's debug log and strace
		// (global flags, so before "run") in DIR/ID.log.
		log := filepath.Join(dir, id+".log")
		os.Remove(log)
		runArgs = append([]string{"--debug", "--strace", "--debug-log=" + log}, runArgs...)
	}
	var in io.Reader = strings.NewReader(stdin)
	return runsc(t, in, runArgs...)
}

// containerID is a container ID made of the test's name: letters, digits and
// "_+.-" (what runsc accepts), anything else becoming "-".
func containerID(t *testing.T) string {
	id := []byte("e2e-" + t.Name())
	for i, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_+.-", c) >= 0) {
			id[i] = '-'
		}
	}
	if len(id) > 100 {
		id = id[:100]
	}
	return string(id)
}
