// Package docker is the Docker end-to-end test of runsc: it starts a real dockerd
// (Debian's docker.io) of its own — data root, exec root, unix socket and
// containerd namespace in a temporary directory, no bridge, no iptables, the vfs
// storage driver — registers the runtimes with `runsc install --config_file`,
// imports the busybox rootfs of images/busybox with `docker import`, and drives
// /usr/bin/docker: run (output, exit codes, -e, -v, -it through a pty), run -d with
// exec, logs, stop and kill, and rm -f, after which nothing of the container may be
// left on the host.
//
// The image is the busybox rootfs rather than the Debian one: with the vfs storage
// driver (which works on any filesystem) Docker copies the whole image for each
// container, a few MB here against 180 MB. dockerd starts a containerd of its own
// under the exec root, unless a system one is listening on
// /run/containerd/containerd.sock, which it then uses (Docker's rule), the test's
// containers kept apart in their own containerd namespace.
//
// Every case runs against runc too (test/engine: $VISOR_TEST_RUNTIMES), which
// proves the harness. It needs root and docker.io; without them it skips.
package docker
